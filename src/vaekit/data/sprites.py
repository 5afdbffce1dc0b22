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
from vaekit.data.progress import progress_bar

SHAPES = ("square", "ellipse", "heart")
FACTOR_NAMES = ["shape", "scale", "rotation", "x", "y"]
#: Values per factor in the original dSprites grid (737,280 images in all).
FULL_GRID = (3, 6, 40, 32, 32)
#: A coarser grid for quick experiments (7,680 images in all).
SMALL_GRID = (3, 4, 8, 10, 8)
#: Rows of ``sprites`` when no count is given (the full grid would be 12 GB as float32).
DEFAULT_ROWS = 10_000
_RENDER_BATCH = 2048
#: Every shape lies within sqrt(2) half-widths of its centre (the square's corners; the heart reaches 1.09),
#: so each image is drawn in a window of this radius, not the whole frame: the same pixels, and 20,000
#: sprites at 64x64 take 1.5 s instead of 11.6 s on one core.
_REACH = 1.5


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
    n: int | None = DEFAULT_ROWS,
    *,
    seed: int = 0,
    size: int = 64,
    grid: tuple[int, ...] = FULL_GRID,
    progress: bool = True,
) -> Dataset:
    """``n`` sprite images drawn without replacement from the factor grid (all of it with ``n=None``).

    Returns a :class:`Dataset` with ``x`` (n, 1, size, size) in {0, 1},
    ``y`` the shape index (for colouring plots and class-conditional models)
    and ``factors`` (n, 5): the index of each factor's value, in the order
    of ``FACTOR_NAMES``. ``progress``: a bar with the time left on stderr
    while drawing takes more than a second, when stderr is a terminal.
    """
    if len(grid) != 5 or any(int(g) < 1 for g in grid) or grid[0] > len(SHAPES):
        raise ValueError(f"grid must give 5 positive factor sizes with at most {len(SHAPES)} shapes, got {grid}")
    total = math.prod(grid)
    rng = np.random.default_rng(seed)
    flat = np.arange(total) if n is None else np.sort(rng.choice(total, size=min(n, total), replace=False))
    factors = np.stack(np.unravel_index(flat, grid), axis=1).astype(np.int64)  # (n, 5)
    values = factor_values(grid)
    x = np.empty((len(flat), 1, size, size), dtype=np.float32)
    with progress_bar(len(flat), "drawing sprites", "image", enabled=progress) as bar:
        for start in range(0, len(flat), _RENDER_BATCH):
            f = factors[start : start + _RENDER_BATCH]
            x[start : start + len(f), 0] = render([values[i][f[:, i]] for i in range(5)], size)
            bar.update(len(f))
    return Dataset(x=x, y=factors[:, 0].copy(), name="sprites", factors=factors, factor_names=list(FACTOR_NAMES))


def render(values: list[np.ndarray], size: int = 64) -> np.ndarray:
    """Binary images (B, size, size) of the shapes with the given factor values (one array per factor)."""
    shape, scale, rotation, px, py = (np.asarray(v, dtype=np.float64) for v in values)  # (B,) each
    images = np.zeros((len(shape), size, size), dtype=np.float32)
    if len(shape) == 0:
        return images
    half = 0.16 * size * scale  # half-width of the shape's box, in pixels
    margin = 0.2 * size  # centres stay inside the frame, as in dSprites
    cx = margin + px * (size - 1 - 2 * margin)
    cy = margin + py * (size - 1 - 2 * margin)
    reach = int(np.ceil(_REACH * np.abs(half).max())) + 1  # window radius in pixels; + 1 for the rounded centre
    offsets = np.arange(-reach, reach + 1, dtype=np.float64)
    cols = np.rint(cx)[:, None] + offsets  # (B, K) pixel columns of each image's window
    rows = np.rint(cy)[:, None] + offsets  # (B, K) pixel rows
    du = (cols - cx[:, None]) / half[:, None]  # (B, K) in units of the half-width
    dv = (rows - cy[:, None]) / half[:, None]
    inside = np.zeros((len(shape), len(offsets), len(offsets)), dtype=bool)  # (B, K, K) rows, columns
    kinds = np.where(shape == 0, 0, np.where(shape == 1, 1, 2))  # anything but 0 and 1 is a heart
    for kind, draw in enumerate((_square, _ellipse, _heart)):  # each image tests its own shape only
        i = np.flatnonzero(kinds == kind)
        if len(i):
            cos, sin = np.cos(rotation[i])[:, None, None], np.sin(rotation[i])[:, None, None]  # (b, 1, 1)
            u, v = du[i][:, None, :], dv[i][:, :, None]  # (b, 1, K), (b, K, 1)
            inside[i] = draw(cos * u + sin * v, -sin * u + cos * v)  # rotated coordinates, (b, K, K)
    b, r, c = np.nonzero(inside)
    r, c = rows[b, r].astype(np.intp), cols[b, c].astype(np.intp)
    keep = (r >= 0) & (r < size) & (c >= 0) & (c < size)  # windows may reach past the frame's edge
    images[b[keep], r[keep], c[keep]] = 1.0
    return images


def _square(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(a), np.abs(b)) <= 1.0


def _ellipse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a**2 + (b / 0.5) ** 2 <= 1.0


def _heart(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    hx, hy = 1.15 * a, -1.15 * b + 0.25  # the heart curve (x^2 + y^2 - 1)^3 <= x^2 y^3, centred in the box
    return (hx**2 + hy**2 - 1.0) ** 3 - hx**2 * hy**3 <= 0.0
