"""A folder of images as one array: one size, one colour mode, labels from subfolders.

Every image is brought to the size ``(H, W)`` (``image_size``; by default the
first image's) as ``image_fit`` says: ``resize`` stretches it to ``H x W``;
``pad`` scales it to fit inside, keeping its aspect ratio, and fills the rest
with black (0, as torchvision's ``Pad``: a constant border the decoder learns
at once); ``crop`` scales it to cover ``H x W`` and keeps the centre (as
torchvision's ``Resize`` then ``CenterCrop``). Nothing is changed silently:
when images are not all of that size, an :class:`ImageSizeWarning` says how
many were changed, from which sizes, and how.

No PIL at import: the CLI imports the data layer to build its ``--help``.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from vaekit.data.dataset import Dataset
from vaekit.data.progress import progress_bar
from vaekit.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
# PIL modes that hold one intensity per pixel; anything else is read as RGB.
_GRAY_MODES = ("1", "L", "LA")
#: An image whose aspect ratio is within this share of the target's is not counted as stretched.
_SAME_ASPECT = 0.01
_FIT_DONE = {
    "resize": "resized {changed} to {size}",
    "pad": "padded {changed} with black after scaling them to fit in {size}",
    "crop": "cut out the centres of {changed} after scaling them to cover {size}",
}


class ImageSizeWarning(UserWarning):
    """Images of a folder were not all of the size they are brought to: how many, from which sizes, and how."""


def load_image_folder(
    root: Path,
    image_size: tuple[int, int] | None = None,
    image_fit: str = "resize",
    name: str | None = None,
    progress: bool = True,
) -> Dataset:
    """Every image under ``root`` (recursively, sorted) at one size, scaled to [0, 1].

    Images in subfolders are labelled by the index of their top-level
    subfolder in sorted order, as torchvision's ImageFolder does. The images
    are grayscale ``(N, 1, H, W)`` if all of them are, else RGB ``(N, 3, H, W)``.
    ``progress``: bars on stderr while a large folder is read, when it is a terminal.
    """
    name = name or str(root)
    files = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
        and p.is_file()
        # Skip hidden files and folders (.DS_Store-like leftovers, checkpoints).
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise DataError(f"{root} has no rows: no {'/'.join(IMAGE_SUFFIXES)} images found in it")

    # First pass reads headers only: PIL opens lazily, so this is cheap.
    modes, sizes = [], []
    with progress_bar(len(files), "scanning images", "image", enabled=progress) as bar:
        for f in files:
            with _open_image(f) as im:
                modes.append(im.mode)
                sizes.append((im.height, im.width))
            bar.update()
    mode = "L" if all(m in _GRAY_MODES for m in modes) else "RGB"
    size = tuple(image_size) if image_size is not None else sizes[0]
    _warn_if_changed(sizes, size, image_fit, name, chosen=image_size is not None)

    height, width = size
    pixels = np.empty((len(files), height, width, len(mode)), dtype=np.uint8)  # (N, H, W, C)
    with progress_bar(len(files), "reading images", "image", enabled=progress) as bar:
        for i, f in enumerate(files):
            with _open_image(f) as im:
                try:
                    fitted = fit_image(im.convert(mode), size, image_fit)
                    pixels[i] = np.asarray(fitted).reshape(height, width, len(mode))
                except (OSError, ValueError, SyntaxError) as e:
                    raise DataError(f"cannot read image {f} ({e}); remove or replace the file") from e
            bar.update()
    x = pixels.transpose(0, 3, 1, 2).astype(np.float32) / 255.0  # (N, C, H, W)

    parts = [f.relative_to(root).parts for f in files]
    y = None
    if all(len(p) > 1 for p in parts):
        classes = sorted({p[0] for p in parts})
        y = np.array([classes.index(p[0]) for p in parts], dtype=np.int64)
    return Dataset(x=x, y=y, name=name)


def fit_image(im, size: tuple[int, int], image_fit: str = "resize"):
    """The PIL image ``im`` brought to ``size`` (H, W) as ``image_fit`` says (see the module's docstring)."""
    from PIL import Image, ImageOps  # noqa: PLC0415 - Pillow loads only for image folders

    height, width = size
    if im.size == (width, height):
        return im
    method = Image.Resampling.BILINEAR
    if image_fit == "pad":
        return ImageOps.pad(im, (width, height), method=method, color=0)
    if image_fit == "crop":
        return ImageOps.fit(im, (width, height), method=method)
    return im.resize((width, height), method)


def _warn_if_changed(
    sizes: list[tuple[int, int]], size: tuple[int, int], image_fit: str, name: str, chosen: bool
) -> None:
    """An :class:`ImageSizeWarning` when images are not all of ``size``.

    Not when the size was ``chosen`` and no image is stretched to another
    aspect ratio: asking for 32x32 thumbnails of 64x64 images needs no word.
    """
    other = Counter(s for s in sizes if s != size)
    changed = sum(other.values())
    height, width = size
    stretched = 0
    if image_fit == "resize":  # pad and crop keep every aspect ratio
        stretched = sum(n for (h, w), n in other.items() if abs(h * width - w * height) > _SAME_ASPECT * w * height)
    if not changed or (chosen and not stretched):
        return
    listed = ", ".join(f"{h}x{w}" for (h, w), _ in other.most_common(3)) + (", ..." if len(other) > 3 else "")
    kinds = f"{len(other)} other size{'s' if len(other) > 1 else ''}: {listed}"
    target = f"{height}x{width} (HxW){'' if chosen else ', the size of the first image'}"
    message = _FIT_DONE[image_fit].format(changed=f"{changed} of {len(sizes)} images ({kinds})", size=target)
    if stretched:
        message += f", stretching {stretched} of them to another aspect ratio"
    fixes = [] if chosen else ["choose the size with --image-size H,W"]
    if stretched:
        fixes.append("--image-fit pad or crop keeps aspect ratios")
    warnings.warn(f"{name}: {message}; {'; '.join(fixes)}", ImageSizeWarning, stacklevel=4)


def _open_image(path: Path):
    """``PIL.Image.open`` with a one-line DataError naming the file."""
    from PIL import Image  # noqa: PLC0415 - Pillow loads only for image folders

    try:
        return Image.open(path)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise DataError(f"cannot read image {path} ({e}); remove or replace the file") from e
