"""Turn a data spec (a dataset name or a path) into a validated :class:`Dataset`.

Specs: ``digits``; ``sprites`` / ``sprites:N`` (made by code, with known
factors); ``photo-patches`` (32x32 RGB patches of scikit-learn's two bundled
photographs, split by region); ``mnist`` and ``fashion-mnist`` (downloaded once, checksummed);
``mnist:PATH`` / ``fashion-mnist:PATH`` (a local folder of IDX files); a
``.npy``/``.npz``/``.csv``/``.parquet`` file; a folder of images. Every source
goes through the same checks (rows present, values finite), so a model never
sees data that would turn its loss into NaN three epochs later.

No torch here: the CLI imports this module to build its ``--help``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from vaekit.config import IMAGE_FITS
from vaekit.data import idx, photos, streaming, tables
from vaekit.data.dataset import Dataset
from vaekit.data.idx import write_idx
from vaekit.data.image_folder import ImageSizeWarning, load_image_folder
from vaekit.data.streaming import StreamedDataset
from vaekit.errors import ConfigError, DataError

__all__ = ["ImageSizeWarning", "load_data", "split_indices", "validate_for_likelihood", "write_idx"]

SPLITS = ("train", "test")
TABLE_SUFFIXES = (".csv", ".parquet")
#: Likelihoods defined on [0, 1] only (by name: this layer does not import torch).
UNIT_INTERVAL_LIKELIHOODS = ("bernoulli", "logistic-mixture")
ARRAY_SUFFIXES = (".npy", ".npz")
_EXPECTED = (
    "expected digits, mnist, fashion-mnist, mnist:PATH, sprites, sprites:N, photo-patches, "
    "or a path to .npy/.npz/.csv/.parquet or an image folder"
)


def load_data(
    spec: str,
    *,
    split: str = "train",
    label_column: str | None = None,
    image_size: tuple[int, int] | None = None,
    image_fit: str = "resize",
    cache_dir: str | os.PathLike | None = None,
    loading: str = "memory",
    block_mb: float = 4.0,
    shuffle_window_mb: float = 256.0,
    progress: bool = True,
) -> Dataset | StreamedDataset:
    """Load the data named by ``spec``, or open it for streaming.

    Parameters
    ----------
    spec:
        ``"digits"``, ``"sprites"``, ``"photo-patches"``, ``"mnist"``, ``"fashion-mnist"``,
        ``"mnist:PATH"``, ``"fashion-mnist:PATH"``, or a path to a ``.npy``/``.npz``/``.csv``/
        ``.parquet`` file or to a folder of images.
    split:
        ``"train"`` or ``"test"``. Only ``mnist``, ``fashion-mnist`` (named or
        ``:PATH``) and ``photo-patches`` have a test split; for files, pass the test file itself.
    label_column:
        For ``.csv``/``.parquet``: the column taken out of ``x`` as labels ``y``.
    image_size:
        For image folders: ``(H, W)`` every image is brought to; default the
        size of the first image (read it back as ``x.shape[2:]``). Images of other sizes
        are reported with an :class:`ImageSizeWarning`.
    image_fit:
        For image folders, how an image of another aspect ratio reaches
        ``image_size``: ``"resize"`` (stretched), ``"pad"`` (scaled to fit,
        black borders) or ``"crop"`` (scaled to cover, centre kept).
    cache_dir:
        Root of the download cache; datasets go to ``<root>/<name>``. Default
        ``$VAEKIT_CACHE``, else ``~/.cache/vaekit``.
    loading:
        ``"memory"``, ``"stream"`` (``.npy``/``.parquet`` read block by block,
        see :mod:`vaekit.data.streaming`) or ``"auto"`` (stream files over
        ``AUTO_STREAM_BYTES``).
    block_mb, shuffle_window_mb:
        Block and shuffle-window sizes of streamed data.
    progress:
        Show a bar with the time left on stderr while sprites are drawn, a
        download runs or an image folder is read, if that takes more than a
        second and stderr is a terminal.

    Returns
    -------
    Dataset or StreamedDataset
        ``x`` float32 ``(N, D)`` or ``(N, C, H, W)``, images scaled to [0, 1].

    Raises
    ------
    DataError
        With a one-line message naming the problem and its fix.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}'; use one of {', '.join(SPLITS)}")
    kind = _source_kind(spec)
    path = Path(spec).expanduser()
    _check_options(spec, kind, split, label_column, image_size, image_fit)
    if kind in ("array", "table") and streaming.should_stream(path, loading):
        return streaming.open_streamed(
            path, label_column=label_column, block_mb=block_mb, shuffle_window_mb=shuffle_window_mb
        )
    if loading == "stream":
        raise DataError(f"--loading stream reads .npy and .parquet files, not {spec}; use --loading memory")
    if kind == "digits":
        data = _load_digits()
    elif kind == "sprites":
        data = _load_sprites(spec, progress)
    elif kind == "photo-patches":
        data = photos.load_photo_patches(split)
    elif kind == "idx-download":
        x, y = idx.load_idx_folder(idx.download_idx(spec, split, cache_dir, progress=progress), split)
        data = Dataset(x=x, y=y, name=spec)
    elif kind == "idx-folder":
        prefix, _, rest = spec.partition(":")
        folder = Path(rest).expanduser()
        if not folder.is_dir():
            raise DataError(
                f"no such folder: {rest}; {prefix}:PATH needs a folder holding the IDX files"
            )
        x, y = idx.load_idx_folder(folder, split)
        data = Dataset(x=x, y=y, name=spec)
    elif kind == "image-folder":
        data = load_image_folder(path, image_size, image_fit, spec, progress)
    elif kind == "table":
        x, y, names = tables.load_table(path, label_column)
        data = Dataset(x=x, y=y, name=spec, feature_names=names)
    else:
        data = _load_array_file(path, spec)
    _check_values(data)
    return data


def _source_kind(spec: str) -> str:
    """Which loader reads ``spec``; dataset names win over same-named paths."""
    prefix, colon, _ = spec.partition(":")
    if spec == "digits":
        return "digits"
    if spec == "sprites" or spec.startswith("sprites:"):
        return "sprites"
    if spec == photos.SPEC:
        return "photo-patches"
    if spec in idx.IDX_SOURCES:
        return "idx-download"
    if colon and prefix in idx.IDX_SOURCES:
        return "idx-folder"
    path = Path(spec).expanduser()
    if path.is_dir():
        return "image-folder"
    if path.is_file():
        return "table" if path.suffix.lower() in TABLE_SUFFIXES else "array"
    looks_like_path = os.sep in spec or "/" in spec or path.suffix != ""
    if looks_like_path:
        raise DataError(f"no such file: {tables.printable(spec)}")
    raise DataError(f"unknown data {spec!r}: {_EXPECTED}")


def _check_options(
    spec: str,
    kind: str,
    split: str,
    label_column: str | None,
    image_size: tuple[int, int] | None,
    image_fit: str,
) -> None:
    """Refuse options that do not apply to this source rather than ignore them."""
    if split != "train" and kind not in ("idx-download", "idx-folder", "photo-patches"):
        if kind in ("digits", "sprites"):
            raise DataError(f"{kind} has no test split; hold out rows with --val-fraction")
        raise DataError(
            f"{spec} has no '{split}' split; pass the {split} file or folder itself as the data"
        )
    if label_column is not None and kind != "table":
        raise DataError(f"--label-column applies to .csv and .parquet files, not to {spec}; remove it")
    if image_size is not None:
        if kind != "image-folder":
            raise DataError(f"--image-size applies to image folders, not to {spec}; remove it")
        sizes_ok = all(isinstance(s, (int, np.integer)) and s > 0 for s in image_size)
        if len(image_size) != 2 or not sizes_ok:
            raise DataError(f"image size {image_size} is invalid; give two positive integers (H, W)")
    if image_fit not in IMAGE_FITS:
        raise DataError(f"image fit {image_fit!r} is invalid; use one of {', '.join(IMAGE_FITS)}")
    if image_fit != "resize" and kind != "image-folder":
        raise DataError(f"--image-fit applies to image folders, not to {spec}; remove it")


def _load_digits() -> Dataset:
    """scikit-learn's bundled 8x8 digits: no download, small enough for smoke tests."""
    from sklearn.datasets import load_digits  # noqa: PLC0415 - scikit-learn loads only when the digits are asked for

    bunch = load_digits()
    # Pixel values are counts 0..16 of a 4x4 block of the original 32x32 bitmap.
    x = (bunch.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8)
    return Dataset(x=x, y=bunch.target.astype(np.int64), name="digits")


def _load_sprites(spec: str, progress: bool) -> Dataset:
    """``sprites`` (the default number of rows) or ``sprites:N``: dSprites-style images drawn by code."""
    from vaekit.data import sprites  # noqa: PLC0415 - the drawing code loads only when sprites are asked for

    _, colon, count = spec.partition(":")
    n = sprites.DEFAULT_ROWS
    if colon:
        if not count.isdigit() or int(count) < 1:
            raise DataError(f"sprites:N needs a positive number of images, got {count!r}")
        n = int(count)
    return sprites.make_sprites(n, progress=progress)


def _load_array_file(path: Path, spec: str) -> Dataset:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        x, y = tables.load_npy(path)
    elif suffix == ".npz":
        x, y = tables.load_npz(path)
    else:
        supported = ", ".join(ARRAY_SUFFIXES + TABLE_SUFFIXES)
        raise DataError(
            f"cannot read {path}: unsupported extension '{path.suffix}'; "
            f"use {supported} or a folder of images"
        )
    return Dataset(x=x, y=y, name=spec)


def _check_values(data: Dataset) -> None:
    """Rows present and every value finite; one-line errors that name the columns."""
    if len(data) == 0:
        raise DataError(f"{data.name} has no rows; check the file or the filter that produced it")
    if data.x.size == 0:  # e.g. (N, 0): nothing to learn, and min()/max() of it would raise
        raise DataError(
            f"{data.name} has samples of shape {data.sample_shape} with no values; each needs at least one"
        )
    bad = ~np.isfinite(data.x)
    count = int(bad.sum())
    if count == 0:
        return
    where = ""
    if data.feature_names is not None:
        per_column = bad.sum(axis=0)
        listed = [f"{tables.printable(name)} ({n})" for name, n in zip(data.feature_names, per_column) if n]
        more = f" and {len(listed) - 5} more" if len(listed) > 5 else ""
        where = f" in column(s) {', '.join(listed[:5])}{more}"
    raise DataError(
        f"{data.name} has {count} NaN or infinite value(s){where}; drop or fill those rows first"
    )


def validate_for_likelihood(data: Dataset | StreamedDataset, likelihood: str) -> None:
    """Check that ``data`` fits the support of the observation ``likelihood``.

    The Bernoulli and the logistic mixture (over the 8-bit levels of [0, 1])
    need values in [0, 1]; outside that range their log-probability is
    meaningless. Other likelihoods have no constraint here.

    Raises
    ------
    DataError
        If ``likelihood`` is one of ``UNIT_INTERVAL_LIKELIHOODS`` and a value lies outside [0, 1].
    """
    if likelihood not in UNIT_INTERVAL_LIKELIHOODS or len(data) == 0:
        return
    if isinstance(data, StreamedDataset):  # scanned once when it was opened
        low, high = data.value_range
    else:
        low, high = float(data.x.min()), float(data.x.max())
    if low < 0.0 or high > 1.0:
        raise DataError(
            f"{data.name} has values in [{low:.4g}, {high:.4g}] but the {likelihood} likelihood "
            "needs [0, 1]; use --likelihood gaussian or scale the data to [0, 1]"
        )


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of ``range(n)`` into train and validation indices.

    The validation set holds ``round(n * val_fraction)`` rows (at least 1 when
    ``val_fraction > 0``). Both index arrays are sorted, so subsets keep the
    order of the source.

    Raises
    ------
    ConfigError
        If ``val_fraction`` is outside [0, 1).
    DataError
        If ``val_fraction > 0`` and fewer than 2 rows would be left for
        training or for validation.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = _val_size(n, val_fraction)
    if val_fraction > 0 and (n_val < 2 or n - n_val < 2):
        raise DataError(
            f"{n} rows are too few for a validation split of {val_fraction:g}: need at least "
            f"{_min_rows(val_fraction)}; add data or set --val-fraction 0"
        )
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def split_rows(
    data: Dataset | StreamedDataset, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray] | tuple[StreamedDataset, StreamedDataset]:
    """Train and validation rows: index arrays (:func:`split_indices`), or streamed parts of whole blocks."""
    if isinstance(data, StreamedDataset):
        return data.split(val_fraction, seed)
    return split_indices(len(data), val_fraction, seed)


def take_rows(
    data: Dataset | StreamedDataset, rows: np.ndarray | StreamedDataset, limit: int | None = None
) -> Dataset:
    """``rows`` of ``data`` (from :func:`split_rows`) in memory, the first ``limit`` of them.

    A streamed part is never read whole: it gives a seeded sample of whole
    blocks, at most ``limit`` or ``STREAMED_SAMPLE_ROWS`` rows.
    """
    if isinstance(rows, StreamedDataset):
        return rows.sample(limit or streaming.STREAMED_SAMPLE_ROWS)
    return data.subset(np.asarray(rows)[:limit])


def _val_size(n: int, val_fraction: float) -> int:
    return max(1, round(n * val_fraction)) if val_fraction > 0 else 0


def _min_rows(val_fraction: float) -> int:
    """Smallest n leaving at least 2 rows on each side of the split."""
    # round(n * f) >= 2 needs n * f >= 1.5, and n - round(n * f) >= 2 needs
    # n * (1 - f) >= 1.5: start just below that bound and walk up past rounding.
    n = max(4, math.floor(1.5 / min(val_fraction, 1.0 - val_fraction)) - 1)
    while _val_size(n, val_fraction) < 2 or n - _val_size(n, val_fraction) < 2:
        n += 1
    return n


def dataset_from_array(array: np.ndarray, labels: np.ndarray | None = None, name: str = "array") -> Dataset:
    """An in-memory array as a Dataset, with the same shape rules and checks as files."""
    data = Dataset(x=tables.as_samples(array, name), y=None if labels is None else np.asarray(labels), name=name)
    _check_values(data)
    return data


def source_kind(spec: str) -> str:
    """``digits``, ``sprites``, ``photo-patches``, ``idx-download``, ``idx-folder``, ``image-folder``, ``table``
    or ``array``."""
    return _source_kind(spec)
