"""Array files (.npy, .npz) and tables (.csv, .parquet) as samples and labels.

pandas and pyarrow are imported inside the functions that need them so that
importing vaekit stays fast.
"""

from __future__ import annotations

import re
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from vaekit.errors import DataError

ACCEPTED_SHAPES = "(N, D), (N, H, W), (N, C, H, W) or (N, H, W, C) with C in 1, 3, 4"
_CHANNELS = (1, 3, 4)
# What np.load raises on a damaged file: a bad header (ValueError, TokenError),
# a cut-off file (EOFError), a broken zip (BadZipFile, zlib.error, RuntimeError
# for "encrypted" or NotImplementedError for unknown compression), or a header
# whose shape needs more memory than there is (MemoryError).
UNREADABLE = (
    OSError, ValueError, EOFError, RuntimeError, MemoryError, zipfile.BadZipFile, zlib.error, tokenize.TokenError,
)


def as_samples(array: np.ndarray, source: str) -> np.ndarray:
    """Bring an array to vaekit's layout: ``(N, D)`` vectors or ``(N, C, H, W)`` images.

    Rank 3 is a stack of grayscale images; rank 4 is channels-first when dim 1
    is a channel count, else channels-last when dim 3 is. Integer image arrays
    holding pixel values (0..255) are scaled to [0, 1]; floats are kept as they
    are, because their scale is the user's choice.
    """
    array = np.asarray(array)
    # bool, int, uint, float: not complex, datetime/timedelta, text, objects or records.
    if array.dtype.kind not in "biuf":
        raise DataError(f"{source} holds {array.dtype} values; save a real numeric array")
    if array.ndim == 3:
        array = array[:, None]  # (N, 1, H, W)
    elif array.ndim == 4 and array.shape[1] not in _CHANNELS:
        if array.shape[3] not in _CHANNELS:
            raise DataError(
                f"{source} has shape {array.shape}: neither dim 1 nor dim 3 is a channel count "
                f"(1, 3 or 4); accepted shapes are {ACCEPTED_SHAPES}"
            )
        array = array.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    elif array.ndim != 2 and array.ndim != 4:
        raise DataError(f"{source} has shape {array.shape}; accepted shapes are {ACCEPTED_SHAPES}")

    scale = 1.0
    if array.ndim == 4 and np.issubdtype(array.dtype, np.integer) and array.size:
        # uint8 is the common case; wider ints holding 0..255 (np.array of Python
        # ints) are pixels too. Other integer ranges are not pixels: keep them.
        if array.dtype == np.uint8 or (array.min() >= 0 and array.max() <= 255):
            scale = 255.0
    with np.errstate(over="ignore"):  # reported below as one error, not as a RuntimeWarning line
        x = np.ascontiguousarray(array, dtype=np.float32)
    if array.dtype.itemsize > 4 and array.dtype.kind == "f" and np.isinf(x).any() and np.isfinite(array).all():
        raise DataError(f"{source} has values beyond the float32 range (about 3.4e38); rescale the data")
    return x / np.float32(scale) if scale != 1.0 else x


def load_npy(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Samples from a ``.npy`` file; it holds no labels."""
    try:
        with open(path, "rb") as f:
            array = np.load(f, allow_pickle=False)
    except UNREADABLE as e:
        raise DataError(f"cannot read {path} ({first_line(e)}); save it with numpy.save on a numeric array") from e
    if not isinstance(array, np.ndarray):
        raise DataError(f"{path} holds an .npz archive, not one array; rename it to .npz")
    return as_samples(array, str(path)), None


def load_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Samples from key ``x``/``X`` (or the only array) and labels from ``y``/``Y`` if present."""
    try:
        # Our own handle: np.load does not close the one it opens when the zip is broken.
        with open(path, "rb") as f:
            loaded = np.load(f, allow_pickle=False)
            if isinstance(loaded, np.ndarray):  # an .npy file under an .npz name: it is the samples
                arrays = {"x": loaded}
            else:
                with loaded as archive:
                    arrays = {key: archive[key] for key in archive.files}
    except UNREADABLE as e:
        raise DataError(f"cannot read {path} ({first_line(e)}); save it with numpy.savez on numeric arrays") from e
    x_key = next((k for k in ("x", "X") if k in arrays), None)
    y_key = next((k for k in ("y", "Y") if k in arrays), None)
    if x_key is None and len(arrays) == 1:
        x_key = next(iter(arrays))
    if x_key is None:
        raise DataError(
            f"{path} holds arrays {sorted(arrays)} but none named 'x' or 'X'; "
            "save the samples under the key 'x'"
        )
    x = as_samples(arrays[x_key], f"{path}['{x_key}']")
    y = arrays[y_key] if y_key is not None and y_key != x_key else None
    if y is not None and np.issubdtype(y.dtype, np.integer):
        y = y.astype(np.int64)  # one label dtype for every source
    if y is not None and (y.ndim != 1 or len(y) != len(x)):
        raise DataError(
            f"{path}: labels '{y_key}' have shape {y.shape} but there are {len(x)} samples; "
            "save one label per sample"
        )
    return x, y


def load_table(
    path: Path, label_column: str | None
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Numeric columns of a ``.csv`` or ``.parquet`` file as ``(N, D)`` samples.

    Returns
    -------
    x:
        float32 array ``(N, D)``; missing values become NaN (rejected later).
    y:
        The ``label_column`` values (see :func:`labels_from_column`), or None.
    feature_names:
        Names of the ``D`` columns in ``x``, in file order.
    """
    import pandas as pd  # noqa: PLC0415 - pandas loads only when a table is read (the CLI starts without it)
    from pandas.api.types import is_numeric_dtype  # noqa: PLC0415 - as above

    frame = _read_frame(path, pd)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if len(frame) == 0:
        # Checked first: a header-only CSV has untyped (text) columns.
        raise DataError(f"{path} has no rows; it needs at least one data row below the header")
    y = None
    if label_column is not None:
        if label_column not in columns:
            raise DataError(
                f"label column {label_column!r} is not in {path}; "
                f"available columns: {', '.join(map(printable, columns))}"
            )
        y = labels_from_column(frame.pop(label_column))
    text = [c for c in frame.columns if not is_numeric_dtype(frame[c])]
    if text:
        hint = "pass --label-column NAME if one is the label, and drop the others"
        if label_column is not None:
            hint = "drop them or encode them as numbers"
        raise DataError(f"{path} has non-numeric column(s) {', '.join(map(repr, text))}; {hint}")
    if frame.shape[1] == 0:
        raise DataError(f"{path} has no feature columns besides the label; add numeric columns")
    x = frame.to_numpy(dtype=np.float32, na_value=np.nan)
    return np.ascontiguousarray(x), y, list(frame.columns)


def labels_from_column(column) -> np.ndarray:
    """Labels as the caller can use them without knowing the file.

    Integer-valued numbers (and booleans) become int64; other numbers stay
    float64, with NaN marking an unlabelled row; text becomes a numpy str array,
    with missing entries as ``""``.
    """
    from pandas.api.types import is_bool_dtype, is_numeric_dtype  # noqa: PLC0415 - pandas only for tables

    if is_bool_dtype(column):
        return column.to_numpy(dtype=np.int64)
    if is_numeric_dtype(column):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.all(np.isfinite(values)) and np.all(values == np.round(values)):
            return values.astype(np.int64)
        return values
    return np.asarray(column.astype("string").fillna("").to_numpy(dtype=object), dtype=str)


def _read_frame(path: Path, pd):
    """Read a table with pandas; one-line DataErrors for what can go wrong."""
    parquet = path.suffix.lower() == ".parquet"
    if parquet:
        try:
            import pyarrow  # noqa: F401, PLC0415 - an optional extra: only checks that it is installed
        except ImportError as e:
            raise DataError("reading .parquet needs pyarrow: pip install 'vaekit[parquet]'") from e
    try:
        return pd.read_parquet(path, engine="pyarrow") if parquet else pd.read_csv(path)
    except pd.errors.EmptyDataError as e:
        raise DataError(f"{path} is empty; it needs a header row and at least one data row") from e
    except (OSError, ValueError, pd.errors.ParserError) as e:
        # pyarrow's errors derive from these too; keep the message to one line.
        raise DataError(f"cannot parse {path} ({first_line(e)}); check that it is a valid table") from e


def printable(name: str) -> str:
    """``name`` for a one-line error: as is, or its repr if it holds a newline or another control character."""
    return name if name.isprintable() else repr(name)


def first_line(error: BaseException) -> str:
    """The error's first line, without memory addresses (``<ast.Name object at 0x7f...>``) that change per run."""
    lines = str(error).splitlines()
    return re.sub(r" at 0x[0-9a-fA-F]+", "", lines[0]) if lines and lines[0] else type(error).__name__
