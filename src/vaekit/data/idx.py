"""MNIST-style IDX files: read, write, download with checksum verification.

The IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/) is a big-endian
header ``0x00 0x00 <dtype code> <ndim>`` followed by ``ndim`` int32 sizes and the
raw values. MNIST images carry magic 2051 (uint8, 3 dims), labels 2049 (uint8, 1 dim).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaekit.data.progress import progress_bar
from vaekit.errors import DataError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049

# IDX dtype codes; the on-disk values are big-endian.
_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES: dict[str, int] = {dt.newbyteorder("=").str: code for code, dt in _DTYPES.items()}

# File stems of the two IDX files per split, images first.
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class IdxSource:
    """Where a named IDX dataset is published and what its files must hash to.

    Attributes
    ----------
    mirror:
        Base URL ending in ``/``; a file's URL is ``mirror + filename``.
    md5:
        MD5 hex digest of each published ``.gz`` file, keyed by file name.
    """

    mirror: str
    md5: dict[str, str]


IDX_SOURCES: dict[str, IdxSource] = {
    "mnist": IdxSource(
        mirror="https://ossci-datasets.s3.amazonaws.com/mnist/",
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion-mnist": IdxSource(
        mirror="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
}


def md5_file(path: str | os.PathLike) -> str:
    """MD5 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzipped when ``path`` ends in ``.gz``.

    A uint8 array of shape ``(N, H, W)`` gets magic 2051 and one of shape ``(N,)``
    magic 2049, as in MNIST.
    """
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("=").str)
    if code is None or not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX cannot store a {array.dtype} array of rank {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">i4").tobytes()
    payload = header + array.astype(_DTYPES[code], copy=False).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Read an IDX file (gzipped when it ends in ``.gz``) into a native-endian array.

    Raises
    ------
    DataError
        If the file cannot be decompressed, the magic number is not
        ``expected_magic`` or not an IDX one, or its length disagrees with the
        sizes its header declares (a truncated download, usually).
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(
            f"cannot read {path} ({e}); the file is damaged or truncated, replace it"
        ) from e

    if len(raw) < 4:
        raise DataError(f"{path} is too short to be an IDX file ({len(raw)} bytes); replace it")
    magic = int.from_bytes(raw[:4], "big")
    code, ndim = raw[2], raw[3]
    if expected_magic is not None and magic != expected_magic:
        kind = "images" if expected_magic == IMAGES_MAGIC else "labels"
        raise DataError(
            f"{path} has magic number {magic}, expected {expected_magic} (IDX {kind}); "
            "check that the file names match their contents"
        )
    if raw[:2] != b"\x00\x00" or code not in _DTYPES or ndim == 0:
        raise DataError(f"{path} is not an IDX file (magic number {magic}); replace it")

    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DataError(f"{path} is truncated inside its header; re-download or replace it")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    dtype = _DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header_len
    if actual != expected:
        problem = "is truncated" if actual < expected else "has trailing bytes"
        raise DataError(
            f"{path} {problem}: its header declares shape {shape} ({expected} bytes of data) "
            f"but it holds {actual}; re-download or replace it"
        )
    values = np.frombuffer(raw, dtype, offset=header_len).reshape(shape)
    return values.astype(dtype.newbyteorder("="), copy=False)


def _find(folder: Path, stem: str) -> Path | None:
    """The gzipped file if present, else the raw one, else None."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def load_idx_folder(folder: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one split from a folder of MNIST-style IDX files.

    Returns
    -------
    x:
        float32 images of shape ``(N, 1, H, W)`` scaled to [0, 1].
    y:
        int64 labels of shape ``(N,)``.
    """
    folder = Path(folder)
    stems = SPLIT_FILES[split]
    paths = [_find(folder, stem) for stem in stems]
    if None in paths:
        missing = [stem for stem, p in zip(stems, paths) if p is None]
        raise DataError(
            f"{folder} has no {' or '.join(missing)} (.gz or raw); split '{split}' needs "
            f"{stems[0]} and {stems[1]} in that folder"
        )
    images = read_idx(paths[0], IMAGES_MAGIC)
    labels = read_idx(paths[1], LABELS_MAGIC)
    if images.ndim != 3 or labels.ndim != 1:
        raise DataError(
            f"{folder}: expected images of shape (N, H, W) and labels of shape (N,), "
            f"got {images.shape} and {labels.shape}; replace the files"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{folder}: image and label counts differ ({len(images)} vs {len(labels)}); "
            f"use {stems[0]} and {stems[1]} from the same release"
        )
    x = images[:, None].astype(np.float32) / 255.0  # (N, 1, H, W)
    return x, labels.astype(np.int64)


def cache_folder(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder where dataset ``name`` is downloaded: ``<root>/<name>``.

    The root is ``cache_dir``, else ``$VAEKIT_CACHE``, else ``~/.cache/vaekit``.
    Each dataset gets its own subfolder because MNIST and Fashion-MNIST use the
    same file names.
    """
    root = cache_dir or os.environ.get("VAEKIT_CACHE") or Path.home() / ".cache" / "vaekit"
    return Path(root).expanduser() / name


def download_idx(
    name: str, split: str, cache_dir: str | os.PathLike | None = None, *, progress: bool = True
) -> Path:
    """Make sure the two ``.gz`` files of ``split`` are cached; return their folder.

    A file already in the cache is kept only if its MD5 matches; otherwise it
    is fetched from the mirror into a temporary file, checked, and then moved
    into place with ``os.replace``, so the cache never holds a partial or
    corrupt file. ``progress``: a bar of the bytes fetched on stderr, when it
    is a terminal.
    """
    source = IDX_SOURCES[name]
    folder = cache_folder(name, cache_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(
            f"cannot create cache folder {folder} ({e}); set VAEKIT_CACHE to a writable folder"
        ) from e
    for stem in SPLIT_FILES[split]:
        filename = f"{stem}.gz"
        dest = folder / filename
        if dest.is_file() and md5_file(dest) == source.md5[filename]:
            continue
        _fetch(source.mirror + filename, dest, source.md5[filename], name, progress)
    return folder


def _fetch(url: str, dest: Path, md5: str, name: str, progress: bool = True) -> None:
    """Download ``url`` to ``dest`` if its MD5 is ``md5``; leave nothing behind otherwise."""
    # Imported here: urllib.request pulls in http, email and ssl, which the CLI's
    # startup should not pay for.
    import http.client  # noqa: PLC0415 - the network stack: loaded only for a download
    import urllib.error  # noqa: PLC0415 - as above
    import urllib.request  # noqa: PLC0415 - as above

    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            size = response.headers.get("Content-Length")
            with progress_bar(
                int(size) if size and size.isdigit() else None, f"downloading {dest.name}", "B",
                enabled=progress, unit_scale=True, unit_divisor=1024,
            ) as bar:
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        actual = md5_file(tmp)
        if actual != md5:
            raise DataError(
                f"checksum mismatch for {url}: md5 {actual}, expected {md5}; retry later, "
                f"or download the files yourself and pass {name}:PATH with their folder"
            )
        os.replace(tmp, dest)
    except (OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", None) or e
        raise DataError(
            f"cannot download {url} ({reason}); download the four IDX files yourself "
            f"and pass {name}:PATH with their folder"
        ) from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
