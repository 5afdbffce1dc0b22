"""Image grids: batches of images tiled into one PNG, with PIL and NumPy only.

Inputs are NumPy arrays ``(N, C, H, W)`` in [0, 1]; this module imports
neither torch nor matplotlib, so callers convert tensors first
(``t.detach().cpu().numpy()``). Each ``save_*`` function writes exactly one
PNG to ``path``, atomically (:func:`vaekit.files.atomic_write`: a process
killed mid-write leaves the old file or none, never half a PNG), and returns
it as a :class:`pathlib.Path`. The parent folder must exist; nothing else is
created. Figures with axes and text are :mod:`vaekit.plots`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

from vaekit.errors import DataError
from vaekit.files import atomic_write

__all__ = ["image_grid", "save_image_grid", "save_reconstruction_grid"]

PathLike = str | os.PathLike

_MIN_WIDTH_PX = 400  # image grids narrower than this are hard to see in a browser
_MAX_SCALE = 8  # beyond 8x an 8x8 digit only gets blurrier on screen, and files grow


# ---------------------------------------------------------------- file output


def _save_pixels(pixels: np.ndarray, path: PathLike, scale: int) -> Path:
    """Write a float image in [0, 1], ``(H, W)`` or ``(H, W, 3)``, upscaled ``scale`` times."""
    # Nearest neighbour by repetition: every source pixel becomes a crisp block.
    big = pixels.repeat(scale, axis=0).repeat(scale, axis=1)
    image = Image.fromarray(np.round(big * 255.0).astype(np.uint8))
    return atomic_write(path, lambda f: image.save(f, format="PNG"))


def _default_scale(width: int) -> int:
    """Smallest integer factor that makes ``width`` at least ~400 px, at most 8."""
    if width >= _MIN_WIDTH_PX:
        return 1
    return min(_MAX_SCALE, math.ceil(_MIN_WIDTH_PX / width))



# ---------------------------------------------------------------- image grids


def _check_images(images: np.ndarray, name: str = "images") -> np.ndarray:
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise DataError(
            f"{name} must have shape (N, C, H, W) with C = 1 or 3, got {images.shape}"
        )
    if images.shape[0] == 0:
        raise DataError(f"{name} is empty: there is nothing to draw")
    return images


def image_grid(
    images: np.ndarray,
    nrow: int | None = None,
    padding: int = 1,
    pad_value: float = 1.0,
) -> np.ndarray:
    """Tile a batch of images into one image.

    Parameters
    ----------
    images
        Array of shape ``(N, C, H, W)`` with ``C`` = 1 (grayscale) or 3 (RGB)
        and values in [0, 1]; values outside are clipped, NaN becomes 0.
    nrow
        Images per grid row, as in ``torchvision.utils.make_grid``. Defaults
        to ``ceil(sqrt(N))``, giving a near-square grid.
    padding
        Pixels between tiles and around the border.
    pad_value
        Value of the padding and of unused cells in the last row.

    Returns
    -------
    np.ndarray
        Float array in [0, 1]: ``(H', W')`` for grayscale, ``(H', W', 3)`` for
        RGB, where ``H' = rows * (H + padding) + padding`` and
        ``W' = cols * (W + padding) + padding``.

    Raises
    ------
    DataError
        If ``images`` is not ``(N, C, H, W)`` with ``C`` in {1, 3}, or is empty.
    """
    images = _check_images(images)
    n, c, h, w = images.shape
    if nrow is None:
        nrow = math.ceil(math.sqrt(n))
    if nrow < 1 or padding < 0:
        raise ValueError(f"need nrow >= 1 and padding >= 0, got {nrow=} {padding=}")
    cols = min(nrow, n)
    rows = math.ceil(n / cols)

    images = np.clip(np.nan_to_num(images, nan=0.0), 0.0, 1.0)
    step_y, step_x = h + padding, w + padding
    grid = np.full(
        (c, rows * step_y + padding, cols * step_x + padding),
        np.clip(pad_value, 0.0, 1.0),
    )
    for i, image in enumerate(images):
        top = padding + (i // cols) * step_y
        left = padding + (i % cols) * step_x
        grid[:, top : top + h, left : left + w] = image
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)  # (H', W') or (H', W', 3)


def save_image_grid(
    images: np.ndarray,
    path: PathLike,
    nrow: int | None = None,
    scale: int | None = None,
) -> Path:
    """Write a batch of images as one PNG grid.

    Parameters
    ----------
    images
        ``(N, C, H, W)`` in [0, 1], ``C`` = 1 or 3; see :func:`image_grid`.
    path
        Where to write the PNG.
    nrow
        Images per grid row; defaults to a near-square grid.
    scale
        Integer nearest-neighbour upscaling factor. By default the smallest
        factor making the grid at least ~400 px wide, capped at 8, so tiny
        images (8x8 digits) stay visible; 1 for grids already that wide.

    Returns
    -------
    Path
        ``path``.
    """
    grid = image_grid(images, nrow=nrow)
    if scale is None:
        scale = _default_scale(grid.shape[1])
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    return _save_pixels(grid, path, scale)


def save_reconstruction_grid(
    inputs: np.ndarray,
    outputs: np.ndarray,
    path: PathLike,
    n: int = 8,
    scale: int | None = None,
) -> Path:
    """Write inputs above their reconstructions as one PNG.

    Images are laid out ``n`` per row in row pairs: a row of inputs, directly
    below it the row of their reconstructions, then a grey band before the
    next pair, so each reconstruction sits under its own input.

    Parameters
    ----------
    inputs, outputs
        ``(N, C, H, W)`` in [0, 1], same shape; ``outputs[i]`` reconstructs
        ``inputs[i]``.
    path
        Where to write the PNG.
    n
        Images per row.
    scale
        Upscaling factor, chosen as in :func:`save_image_grid` by default.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    DataError
        If the arrays are not images or their shapes differ.
    """
    inputs = _check_images(inputs, "inputs")
    outputs = _check_images(outputs, "outputs")
    if inputs.shape != outputs.shape:
        raise DataError(
            f"inputs {inputs.shape} and outputs {outputs.shape} must have the same shape"
        )
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    cols = min(n, len(inputs))
    h = inputs.shape[2]
    blank = np.ones((1, *inputs.shape[1:]))  # fills the last pair's short rows

    pairs = []
    for start in range(0, len(inputs), cols):
        chunk_in, chunk_out = inputs[start : start + cols], outputs[start : start + cols]
        fill = np.repeat(blank, cols - len(chunk_in), axis=0)
        pair = np.concatenate([chunk_in, fill, chunk_out, fill])  # 2 * cols images
        pairs.append(image_grid(pair, nrow=cols))

    # The band must stand out from the white padding to show where a pair ends.
    band_shape = (max(2, h // 8), *pairs[0].shape[1:])
    band = np.full(band_shape, 0.5)
    stacked = [pairs[0]]
    for pair in pairs[1:]:
        stacked += [band, pair]
    canvas = np.concatenate(stacked, axis=0)

    if scale is None:
        scale = _default_scale(canvas.shape[1])
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    return _save_pixels(canvas, path, scale)
