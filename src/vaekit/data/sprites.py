"""Sprite images with known generative factors, made by code (the dSprites recipe).

Matthey et al. 2017 (dSprites): a white shape on black, 64x64 binary, from
five independent factors: shape (square, ellipse, heart), scale (6 values in
[0.5, 1]), rotation (40 values in [0, 2 pi)), x and y position (32 values
each). Nothing is downloaded: the images are drawn here, deterministically
from a seed, so disentanglement metrics (:mod:`vaekit.disentanglement`) can
be computed against the factors that made each image.

Two ways in: :func:`make_sprites` draws ``n`` images into memory (float32, the
``sprites`` data spec), and :class:`SpriteGrid` is the whole grid on demand:
737,280 images at dSprites' size that are never held at once, rendered from
factor indices in batches (uint8, 4 KB an image), streamed for training
(:meth:`SpriteGrid.streamed`), written to a memory-mapped ``.npy``
(:meth:`SpriteGrid.save_npy`, 3 GB), and sampled with factors held fixed for
the beta-VAE and FactorVAE scores (:meth:`SpriteGrid.sample_factors`,
:meth:`SpriteGrid.observations`).

No torch here: the CLI imports the data layer to build its ``--help``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from vaekit.data.dataset import Dataset
from vaekit.data.progress import progress_bar
from vaekit.data.streaming import BlockSource, StreamedDataset
from vaekit.errors import DataError

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
    _check_grid(grid)
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


def _check_grid(grid: tuple[int, ...]) -> None:
    if len(grid) != 5 or any(int(g) < 1 for g in grid) or grid[0] > len(SHAPES):
        raise DataError(f"grid must give 5 positive factor sizes with at most {len(SHAPES)} shapes, got {grid}")


@dataclass(frozen=True)
class SpriteGrid:
    """Every image of a factor grid, rendered on demand: dSprites' 737,280 by default, none held in memory.

    Row ``i`` is the image of the factor indices ``np.unravel_index(i, grid)``
    (shape, scale, rotation, x, y; the order of :func:`make_sprites`), drawn
    by :func:`render` and so the same pixels as ``make_sprites`` gives for those
    factors. Images come as uint8 in {0, 1}, (N, 1, size, size): 3 GB for the
    full grid, where float32 would take 12 GB.
    """

    grid: tuple[int, ...] = FULL_GRID
    size: int = 64

    def __post_init__(self) -> None:
        _check_grid(self.grid)
        if self.size < 4:
            raise DataError(f"sprite size must be at least 4 pixels, got {self.size}")

    def __len__(self) -> int:
        return math.prod(self.grid)

    @property
    def factor_names(self) -> list[str]:
        return list(FACTOR_NAMES)

    def factors(self, index: np.ndarray) -> np.ndarray:
        """Factor indices (N, 5) of the rows ``index`` (N,)."""
        index = np.asarray(index, dtype=np.int64)
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            raise DataError(f"sprite rows run from 0 to {len(self) - 1}; got {index.min()} to {index.max()}")
        return np.stack(np.unravel_index(index, self.grid), axis=1).astype(np.int64)  # (N, 5)

    def index(self, factors: np.ndarray) -> np.ndarray:
        """Rows (N,) of factor indices (N, 5): the inverse of :meth:`factors`."""
        return np.ravel_multi_index(tuple(np.asarray(factors, dtype=np.int64).T), self.grid).astype(np.int64)

    def observations(self, factors: np.ndarray, dtype: type = np.uint8) -> np.ndarray:
        """Images (N, 1, size, size) of factor indices (N, 5), in {0, 1} as ``dtype``."""
        factors = np.asarray(factors, dtype=np.int64).reshape(-1, 5)  # (N, 5)
        if len(factors) and ((factors < 0).any() or (factors >= np.array(self.grid)).any()):
            raise DataError(f"factor indices must lie in the grid {self.grid}; got rows outside it")
        values = factor_values(self.grid)
        images = np.empty((len(factors), 1, self.size, self.size), dtype=dtype)
        for start in range(0, len(factors), _RENDER_BATCH):
            f = factors[start : start + _RENDER_BATCH]
            images[start : start + len(f), 0] = render([values[i][f[:, i]] for i in range(5)], self.size)
        return images

    def __getitem__(self, index: np.ndarray | slice) -> np.ndarray:
        """Images (N, 1, size, size) uint8 of the rows ``index`` (an array of rows or a slice)."""
        if isinstance(index, slice):
            index = np.arange(len(self))[index]
        return self.observations(self.factors(index))

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` factor settings (n, 5), each factor drawn uniformly and independently (with replacement)."""
        return np.stack([rng.integers(0, g, size=n) for g in self.grid], axis=1).astype(np.int64)  # (n, 5)

    def batches(self, batch_size: int = _RENDER_BATCH, start: int = 0, stop: int | None = None
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(factors (B, 5), images (B, 1, size, size) uint8) of rows ``start`` to ``stop``, in order, a batch at a time."""
        if batch_size < 1:
            raise DataError(f"batch_size must be positive, got {batch_size}")
        stop = len(self) if stop is None else min(stop, len(self))
        for first in range(start, stop, batch_size):
            factors = self.factors(np.arange(first, min(first + batch_size, stop)))
            yield factors, self.observations(factors)

    def save_npy(self, path: str | Path, *, progress: bool = True) -> np.memmap:
        """Render every image into a uint8 ``.npy`` at ``path`` through a memory map; returns the map (read-only).

        Memory stays at one render batch; the file holds ``len(self)`` x
        size^2 bytes (3 GB for dSprites' grid). The factors of row ``i`` are
        :meth:`factors` ``(i)``: nothing else needs saving.
        """
        path = Path(path)
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(len(self), 1, self.size, self.size))
        with progress_bar(len(self), "drawing sprites", "image", enabled=progress) as bar:
            row = 0
            for _, images in self.batches():
                out[row : row + len(images)] = images
                row += len(images)
                bar.update(len(images))
        out.flush()
        del out
        return np.load(path, mmap_mode="r")

    def drawn(self, path: str | Path, *, progress: bool = True) -> np.memmap:
        """Every image from the ``.npy`` at ``path`` (read-only memory map), drawn there first if it is missing.

        The file is written under a temporary name and renamed when complete,
        so a run killed while drawing leaves no partial file, and two processes
        that start together each end with a whole one. A file of another grid
        or size is refused.
        """
        path = Path(path)
        if not path.exists():
            partial = path.with_name(f"{path.name}.{os.getpid()}.partial.npy")
            try:
                self.save_npy(partial, progress=progress)
                os.replace(partial, path)
            finally:
                partial.unlink(missing_ok=True)
        images = np.load(path, mmap_mode="r")
        self.check_drawn(images, str(path), ": remove it to draw the grid anew")
        return images

    def check_drawn(self, images: np.ndarray, name: str = "images", fix: str = "") -> None:
        """Raise :class:`DataError` unless ``images`` are this grid's, as :meth:`drawn` returns them."""
        if images.shape != (len(self), 1, self.size, self.size) or images.dtype != np.uint8:
            raise DataError(
                f"{name} holds {images.dtype} images of shape {images.shape}, not the {len(self):,} uint8 images "
                f"(1, {self.size}, {self.size}) of the grid {self.grid}{fix}"
            )

    def streamed(
        self, block_rows: int = _RENDER_BATCH, window_bytes: int = 64 * 2**20, shuffled: bool = True, seed: int = 0,
        images: np.ndarray | None = None,
    ) -> StreamedDataset:
        """The grid as a :class:`~vaekit.data.streaming.StreamedDataset`: float32 blocks rendered when read.

        Its labels are the shape index, as ``make_sprites``'s ``y``; training
        shuffles within windows of ``window_bytes`` as for a streamed file.
        ``shuffled``: each block holds rows of one fixed random permutation of
        the grid (``seed``), so a window mixes every factor; in grid order a
        window of consecutive rows holds only a few shapes, scales and
        rotations, and each batch would too. ``images``: the grid already
        drawn (:meth:`drawn`), read instead of rendered: the same batches,
        without the drawing's time.
        """
        order = np.random.default_rng(seed).permutation(len(self)) if shuffled else None
        source = _SpriteBlocks(self, block_rows, order, images)
        return StreamedDataset(source, np.arange(len(source.starts) - 1), window_bytes, value_range=(0.0, 1.0))


class _SpriteBlocks(BlockSource):
    """A :class:`SpriteGrid` as blocks of consecutive rows for :mod:`vaekit.data.streaming`, drawn when read."""

    def __init__(
        self, grid: SpriteGrid, block_rows: int, order: np.ndarray | None = None, images: np.ndarray | None = None
    ) -> None:
        if block_rows < 1:
            raise DataError(f"block_rows must be positive, got {block_rows}")
        if images is not None:
            grid.check_drawn(images, fix=": pass SpriteGrid.drawn's for this grid")
        self.grid = grid
        self.images = images  # (len(grid), 1, size, size) uint8, e.g. a memory map of SpriteGrid.drawn; None: render
        self.order = order  # (len(grid),) the grid rows in stream order; None: grid order
        self.name = f"sprites grid {'x'.join(map(str, grid.grid))} at {grid.size}px"
        self.sample_shape = (1, grid.size, grid.size)
        self.starts = np.append(np.arange(0, len(grid), block_rows), len(grid)).astype(np.int64)

    def rows(self, block: int) -> np.ndarray:
        """The grid rows of ``block``."""
        positions = np.arange(self.starts[block], self.starts[block + 1])
        return positions if self.order is None else self.order[positions]

    def read(self, block: int) -> np.ndarray:
        rows = self.rows(block)
        if self.images is not None:
            return self.images[rows].astype(np.float32)  # (rows, 1, size, size): the rendered pixels, read back
        return self.grid.observations(self.grid.factors(rows), dtype=np.float32)  # (rows, 1, size, size)

    def labels(self, block: int) -> np.ndarray | None:
        return self.grid.factors(self.rows(block))[:, 0]


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
