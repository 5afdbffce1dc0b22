"""``photo-patches``: 32x32 RGB patches of the two photographs bundled with scikit-learn.

Real 8-bit colour photographs with no download: ``china.jpg`` and
``flower.jpg`` (427 x 640 x 3 each, ``sklearn.datasets.load_sample_images``).
The split is by region, so no test pixel is ever seen in training: in each
photo the left 80% of the columns (0..511) give the train patches and the
right 20% (512..639) the test patches; a patch never straddles the border.

- train: every 32x32 window at a stride of 8 pixels inside the left region,
  50 x 61 = 3,050 per photo, 6,100 in all (overlapping, as augmentation);
- test: the non-overlapping 32x32 tiles of the right region, 13 x 4 = 52 per
  photo, 104 in all (the bottom 11 rows of pixels are left out).

Rows are ordered photo by photo, then top to bottom, then left to right; the
labels ``y`` say which photo (0 china, 1 flower). Pixels are uint8 / 255, so
float32 in [0, 1] on the 256 levels k / 255: the data the discretized
logistic mixture likelihood is written for.

No torch here: the CLI imports the data layer to build its ``--help``.
"""

from __future__ import annotations

import numpy as np

from vaekit.data.dataset import Dataset

SPEC = "photo-patches"
PATCH = 32
#: Share of each photo's columns, from the left, that belongs to the train split.
TRAIN_FRACTION = 0.8
TRAIN_STRIDE = 8
PHOTOS = ("china", "flower")


def train_columns(width: int) -> int:
    """Columns [0, this) of a photo ``width`` pixels wide are train pixels; the rest are test pixels."""
    return int(width * TRAIN_FRACTION)


def patch_corners(height: int, width: int, split: str) -> list[tuple[int, int]]:
    """Top-left (row, column) of every patch of ``split`` in a photo of ``height`` x ``width``."""
    border = train_columns(width)
    if split == "train":
        rows = range(0, height - PATCH + 1, TRAIN_STRIDE)
        cols = range(0, border - PATCH + 1, TRAIN_STRIDE)
    else:
        rows = range(0, height - PATCH + 1, PATCH)
        cols = range(border, width - PATCH + 1, PATCH)
    return [(r, c) for r in rows for c in cols]


def cut_patches(image: np.ndarray, split: str) -> np.ndarray:
    """The ``split``'s patches of one (H, W, 3) uint8 photo, as (N, 3, PATCH, PATCH) uint8."""
    height, width, _ = image.shape
    chw = image.transpose(2, 0, 1)  # (3, H, W)
    return np.stack([chw[:, r : r + PATCH, c : c + PATCH] for r, c in patch_corners(height, width, split)])


def load_photo_patches(split: str = "train") -> Dataset:
    """The ``train`` or ``test`` patches of both photographs: x (N, 3, 32, 32) float32 in [0, 1], y the photo."""
    from sklearn.datasets import load_sample_images  # noqa: PLC0415 - scikit-learn loads only for the photos

    images = load_sample_images().images  # two (427, 640, 3) uint8 arrays: china, flower
    patches = [cut_patches(np.asarray(image), split) for image in images]
    x = np.concatenate(patches).astype(np.float32) / np.float32(255.0)  # (N, 3, 32, 32)
    y = np.concatenate([np.full(len(p), label, dtype=np.int64) for label, p in enumerate(patches)])
    return Dataset(x=x, y=y, name=SPEC)
