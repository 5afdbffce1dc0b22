"""Sprite images with known generative factors, made by code (the dSprites recipe).

Matthey et al. 2017 (dSprites): a white shape on black, 64x64 binary, from
five independent factors: shape (square, ellipse, heart), scale (6 values in
[0.5, 1]), rotation (40 values in [0, 2 pi)), x and y position (32 values
each). Nothing is downloaded: the images are drawn here, deterministically
from a seed, so disentanglement metrics (:mod:`vaekit.disentanglement`) can
be computed against the factors that made each image.

No torch here: the CLI imports the data layer to build its ``--help``.
"""

from __future__ import annotations

import math

import numpy as np

from vaekit.data.dataset import Dataset

SHAPES = ("square", "ellipse", "heart")
FACTOR_NAMES = ["shape", "scale", "rotation", "x", "y"]
#: Values per factor in the original dSprites grid (737,280 images in all).
FULL_GRID = (3, 6, 40, 32, 32)
#: A coarser grid for quick experiments (3,840 images in all).
SMALL_GRID = (3, 4, 8, 10, 8)
#: Rows of ``sprites`` when no count is given (the full grid would be 12 GB as float32).
DEFAULT_ROWS = 10_000
_RENDER_BATCH = 2048


def factor_values(grid: tuple[int, ...] = FULL_GRID) -> list[np.ndarray]:
    """The values each factor takes: shape index, scale, rotation (radians), x, y (in [0, 1])."""
    shapes, scales, rotations, xs, ys = grid
    return [
        np.arange(shapes, dtype=np.float64),
        np.linspace(0.5, 1.0, scales),
        np.arange(rotations) * (2 * math.pi / rotations),
        np.linspace(0.0, 1.0, xs),
        np.linspace(0.0, 1.0, ys),
    ]


def make_sprites(
    n: int | None = DEFAULT_ROWS, *, seed: int = 0, size: int = 64, grid: tuple[int, ...] = FULL_GRID
) -> Dataset:
    """``n`` sprite images drawn without replacement from the factor grid (all of it with ``n=None``).

    Returns a :class:`Dataset` with ``x`` (n, 1, size, size) in {0, 1},
    ``y`` the shape index (for colouring plots and class-conditional models)
    and ``factors`` (n, 5): the index of each factor's value, in the order
    of ``FACTOR_NAMES``.
    """
    if len(grid) != 5 or any(int(g) < 1 for g in grid) or grid[0] > len(SHAPES):
        raise ValueError(f"grid must give 5 positive factor sizes with at most {len(SHAPES)} shapes, got {grid}")
    total = math.prod(grid)
    rng = np.random.default_rng(seed)
    flat = np.arange(total) if n is None else np.sort(rng.choice(total, size=min(n, total), replace=False))
    factors = np.stack(np.unravel_index(flat, grid), axis=1).astype(np.int64)  # (n, 5)
    values = factor_values(grid)
    x = np.empty((len(flat), 1, size, size), dtype=np.float32)
    for start in range(0, len(flat), _RENDER_BATCH):
        f = factors[start : start + _RENDER_BATCH]
        x[start : start + len(f), 0] = render([values[i][f[:, i]] for i in range(5)], size)
    return Dataset(x=x, y=factors[:, 0].copy(), name="sprites", factors=factors, factor_names=list(FACTOR_NAMES))


def render(values: list[np.ndarray], size: int = 64) -> np.ndarray:
    """Binary images (B, size, size) of the shapes with the given factor values (one array per factor)."""
    shape, scale, rotation, px, py = (np.asarray(v, dtype=np.float64)[:, None, None] for v in values)
    half = 0.16 * size * scale  # half-width of the shape's box, in pixels
    margin = 0.2 * size  # centres stay inside the frame, as in dSprites
    cx = margin + px * (size - 1 - 2 * margin)
    cy = margin + py * (size - 1 - 2 * margin)
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)  # (size, size) pixel rows, columns
    du, dv = (u - cx) / half, (v - cy) / half  # (B, size, size), in units of the half-width
    cos, sin = np.cos(rotation), np.sin(rotation)
    a, b = cos * du + sin * dv, -sin * du + cos * dv  # rotated coordinates
    square = np.maximum(np.abs(a), np.abs(b)) <= 1.0
    ellipse = a**2 + (b / 0.5) ** 2 <= 1.0
    hx, hy = 1.15 * a, -1.15 * b + 0.25  # the heart curve (x^2 + y^2 - 1)^3 <= x^2 y^3, centred in the box
    heart = (hx**2 + hy**2 - 1.0) ** 3 - hx**2 * hy**3 <= 0.0
    images = np.where(shape == 0, square, np.where(shape == 1, ellipse, heart))
    return images.astype(np.float32)
