"""``photo-patches``: the two bundled photographs cut into 32x32 patches, split by region."""

import numpy as np
import pytest

from vaekit.data import Dataset, load_data, source_kind, validate_for_likelihood
from vaekit.data.photos import PATCH, TRAIN_STRIDE, cut_patches, patch_corners, train_columns
from vaekit.errors import DataError

HEIGHT, WIDTH = 427, 640  # both photographs


@pytest.fixture(scope="module")
def splits():
    return {split: load_data("photo-patches", split=split) for split in ("train", "test")}


def test_patches_are_8bit_rgb_in_the_unit_interval(splits):
    assert source_kind("photo-patches") == "photo-patches"
    counts = {"train": 2 * 50 * 61, "test": 2 * 13 * 4}
    for split, data in splits.items():
        assert data.x.shape == (counts[split], 3, PATCH, PATCH) and data.x.dtype == np.float32
        assert 0.0 <= data.x.min() and data.x.max() <= 1.0
        levels = data.x * 255
        np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)  # exactly the 256 levels k / 255
        assert np.array_equal(np.unique(data.y), [0, 1]) and (data.y == 0).sum() == counts[split] // 2
        validate_for_likelihood(data, "logistic-mixture")


def test_patches_are_the_photographs_pixels():
    from sklearn.datasets import load_sample_images

    image = load_sample_images().images[1]  # flower
    for split in ("train", "test"):
        corners = patch_corners(HEIGHT, WIDTH, split)
        patches = cut_patches(image, split)
        for i in (0, len(corners) // 2, -1):
            r, c = corners[i]
            np.testing.assert_array_equal(patches[i], image[r : r + PATCH, c : c + PATCH].transpose(2, 0, 1))


def test_no_test_patch_shares_a_pixel_with_a_train_patch():
    border = train_columns(WIDTH)
    assert border == 512
    train, test = patch_corners(HEIGHT, WIDTH, "train"), patch_corners(HEIGHT, WIDTH, "test")
    assert max(c for _, c in train) + PATCH <= border <= min(c for _, c in test)
    assert max(c for _, c in test) + PATCH <= WIDTH and max(r for r, _ in train + test) + PATCH <= HEIGHT
    # Train windows overlap (stride 8); test tiles do not.
    assert {c for _, c in train} == set(range(0, border - PATCH + 1, TRAIN_STRIDE))
    covered = np.zeros((HEIGHT, WIDTH), dtype=int)
    for r, c in test:
        covered[r : r + PATCH, c : c + PATCH] += 1
    assert covered.max() == 1 and covered[:, :border].sum() == 0


def test_patches_are_the_same_on_every_load(splits):
    again = load_data("photo-patches", split="test")
    assert np.array_equal(again.x, splits["test"].x) and np.array_equal(again.y, splits["test"].y)


def test_only_the_plain_spec_is_photo_patches():
    with pytest.raises(DataError, match="unknown data"):
        load_data("photo-patches:64")
    with pytest.raises(DataError, match="has no test split"):
        load_data("digits", split="test")


def test_the_logistic_mixture_refuses_data_outside_the_unit_interval():
    data = Dataset(x=np.array([[0.0, 1.5]], np.float32), name="wide")
    with pytest.raises(DataError, match="logistic-mixture likelihood needs \\[0, 1\\]"):
        validate_for_likelihood(data, "logistic-mixture")
    validate_for_likelihood(data, "gaussian-learned")
