"""Time series to model inputs: reading, windowing, scores back per reading, scaling.

A series is read once (:func:`read_series`) into time order, with every quirk of
real files settled by an explicit setting: duplicated timestamps, gaps, missing
values, labels given as a column or as anomaly windows (NAB's format). The
readings are then cut into overlapping windows (:func:`sliding_windows`), a model
scores each window (or each step of it), and :func:`per_reading` or
:func:`last_step` bring the scores back to one per reading;
:meth:`Series.in_input_order` puts them in the rows of the input file.

Windowing treats consecutive readings as equally spaced: a gap in the
timestamps is counted (``Series.n_gaps``) but not filled. Every problem a user
can fix raises :class:`~vaekit.errors.DataError` (bad data) or
:class:`~vaekit.errors.ConfigError` (bad setting) with one line naming the fix.
This module does not import torch; pandas loads only when a table is read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vaekit.data.tables import _read_frame, first_line, printable
from vaekit.errors import ConfigError, DataError

__all__ = [
    "Series",
    "read_series",
    "sliding_windows",
    "per_reading",
    "last_step",
    "estimate_period",
    "auto_window",
    "SeriesScaler",
]

DUPLICATES = ("error", "keep", "mean")
GAPS = ("ignore", "error")
MISSING = ("error", "interpolate")
SCALINGS = ("robust", "standard", "none")
#: A step longer than this many median steps is a gap (readings are missing).
GAP_FACTOR = 1.5
# An ACF peak below this is noise, not a period (white noise of 1,000 readings stays under 0.1).
_MIN_PERIOD_ACF = 0.2
_MIN_WINDOW, _MAX_WINDOW, _DEFAULT_WINDOW = 16, 256, 64
# Gaussian IQR = 1.349 sigma: robust scales are comparable with standard ones (as in vaekit.tabular).
_IQR_PER_STD = 1.349


@dataclass
class Series:
    """Readings in time order, and how to put per-reading results back in the input's row order.

    Attributes
    ----------
    values:
        ``(N, C)`` float64 readings in time order, finite.
    times:
        ``(N,)`` datetime64[ns] (or the numbers of a numeric time column), or None
        without a time column (the rows were in order).
    columns:
        The ``C`` value column names.
    order:
        ``(N,)`` input row index of each reading; the sort is stable, so readings
        sharing a timestamp keep their file order. With ``duplicates="mean"`` a
        reading stands for several input rows and ``order`` holds the first of
        them: results then have one row per distinct timestamp.
    labels:
        ``(N,)`` int64, 1 = anomaly, in time order; None without labels.
    n_gaps:
        Readings missing from the time grid: each step longer than 1.5 median
        steps counts ``round(step / median) - 1`` missing readings (at least 1).
    """

    values: np.ndarray
    times: np.ndarray | None
    columns: list[str]
    order: np.ndarray
    labels: np.ndarray | None = None
    n_gaps: int = 0

    def in_input_order(self, per_reading: np.ndarray) -> np.ndarray:
        """``(N, ...)`` results in time order -> the same rows in the input's row order.

        With ``duplicates="mean"`` there is one row per distinct timestamp, in
        the order of each timestamp's first input row.
        """
        per_reading = np.asarray(per_reading)
        if per_reading.ndim == 0 or len(per_reading) != len(self.order):
            raise DataError(
                f"expected one result per reading ({len(self.order)}), got shape {per_reading.shape}; "
                "pass the output of per_reading or last_step for this series"
            )
        return per_reading[np.argsort(self.order, kind="stable")]


# ---------------------------------------------------------------- reading


def read_series(
    source: Any,
    *,
    time_column: str | None = None,
    value_columns: list[str] | None = None,
    label_column: str | None = None,
    label_windows: Any = None,
    duplicates: str = "error",
    gaps: str = "ignore",
    missing: str = "error",
) -> Series:
    """Read a time series from a file, a DataFrame or an array, in time order.

    Parameters
    ----------
    source:
        A ``.csv`` or ``.parquet`` path, a pandas DataFrame, or an array ``(N,)``
        (column ``value``) or ``(N, C)`` (columns ``x0, x1, ...``); an array has
        no time column and its rows are in order.
    time_column:
        The column of timestamps (parsed by pandas; a numeric column stays
        numbers). None: no time column, the rows are in order. No column is
        guessed from its name.
    value_columns:
        The columns to model; default all numeric columns except the time and
        label columns.
    label_column:
        A column of 0/1 (or booleans), 1 = anomaly.
    label_windows:
        Anomaly windows instead of a label column: a list of inclusive
        ``[start, end]`` pairs (timestamps or numbers), a dict in NAB's format
        ``{"folder/name.csv": [[start, end], ...]}`` whose key ends the source
        path, or the path of a JSON file holding either. Needs a time column.
    duplicates:
        Readings sharing a timestamp: ``error``, ``keep`` (in file order) or
        ``mean`` (averaged into one reading; labels take the maximum).
    gaps:
        ``ignore`` (count them in ``n_gaps``, window as if equally spaced) or
        ``error``.
    missing:
        NaN in a value column: ``error`` or ``interpolate`` (linear in reading
        order, the edges take the nearest value).
    """
    import pandas as pd  # noqa: PLC0415 - pandas loads only when a series is read (the CLI starts without it)

    _check_option("duplicates", duplicates, DUPLICATES)
    _check_option("gaps", gaps, GAPS)
    _check_option("missing", missing, MISSING)
    if label_column is not None and label_windows is not None:
        raise ConfigError("pass label_column or label_windows, not both (CLI: --label-column or --label-windows)")
    path = Path(source) if isinstance(source, (str, os.PathLike)) else None
    frame = _as_frame(source, path, pd)
    where = f" of {path}" if path is not None else ""
    line_offset = 2 if path is not None and path.suffix.lower() == ".csv" else None  # header line, then 1-based

    available = [str(c) for c in frame.columns]
    for role, name in (("time", time_column), ("label", label_column)):
        if name is not None and name not in available:
            raise DataError(f"{role} column {name!r} is not in the data{where}; available columns: {_names(available)}")
    if time_column is not None and time_column == label_column:
        raise ConfigError(f"column {time_column!r} cannot be both the time and the label column; pick one for each")
    value_columns = _value_columns(frame, value_columns, {time_column, label_column} - {None}, available, where,
                                   line_offset)
    values = np.column_stack([_numeric(frame[c], c, available, line_offset) for c in value_columns])  # (N, C)
    n_rows = len(values)

    times = None if time_column is None else _parse_times(frame[time_column], time_column, line_offset, pd)
    labels = None if label_column is None else _column_labels(frame[label_column], label_column, line_offset)
    order = np.arange(n_rows)
    if times is not None:
        order = np.argsort(times, kind="stable")  # (N,) readings sharing a time keep their file order
        times, values = times[order], values[order]
        labels = None if labels is None else labels[order]
        dup = times[1:] == times[:-1]
        if dup.any() and duplicates == "error":
            raise DataError(
                f"{int(dup.sum())} duplicated timestamps, first at {_show_time(times[1:][dup][0])}; "
                "pass duplicates='keep' (CLI: --duplicates keep) to keep them in file order, or 'mean' to average them"
            )
        if dup.any() and duplicates == "mean":
            times, values, labels, order = _average_duplicates(times, values, labels, order)

    infinite = np.isinf(values)
    if infinite.any():
        cols = [value_columns[j] for j in np.nonzero(infinite.any(axis=0))[0]]
        raise DataError(
            f"column(s) {_names(cols)} hold infinite values ({int(infinite.any(axis=1).sum())} reading(s)); "
            "fix or drop those rows"
        )
    values = _fill_missing(values, value_columns, missing)
    if len(values) < 2:
        raise DataError(f"the series has {len(values)} reading(s); it needs at least 2, pass a longer series")
    if label_windows is not None:
        if times is None:
            raise DataError(
                "label windows are times, but the series has no time column; pass time_column (CLI: --time-column), "
                "or labels as a label_column"
            )
        labels = _window_labels(times, _load_windows(label_windows, path))
    n_gaps, first_gap = _count_gaps(times)
    if n_gaps and gaps == "error":
        a, b = first_gap
        raise DataError(
            f"{n_gaps} readings missing (steps over {GAP_FACTOR}x the median step), first between "
            f"{_show_time(times[a])} and {_show_time(times[b])}; fill them, or pass gaps='ignore' (CLI: --gaps ignore) "
            "to window across them as if equally spaced"
        )
    return Series(values, times, list(value_columns), order.astype(np.int64), labels, n_gaps)


def _check_option(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(map(repr, allowed))}; pick one of those")


def _as_frame(source: Any, path: Path | None, pd):
    if path is not None:
        if path.suffix.lower() not in (".csv", ".parquet"):
            raise DataError(f"{path} is not a .csv or .parquet file; save the series as one of those")
        frame = _read_frame(path, pd)
    elif isinstance(source, pd.DataFrame):
        frame = source
    elif isinstance(source, pd.Series):
        frame = source.to_frame(name=str(source.name) if source.name is not None else "value")
    else:
        try:
            array = np.asarray(source)
        except (ValueError, TypeError) as e:
            raise DataError(f"the series is not an array ({first_line(e)}); pass (N,) or (N, C) numbers") from e
        if array.ndim not in (1, 2) or array.dtype.kind not in "biuf":
            raise DataError(
                f"the series is a {array.dtype} array of shape {array.shape}; pass real numbers of shape (N,) or (N, C)"
            )
        names = ["value"] if array.ndim == 1 else [f"x{j}" for j in range(array.shape[1])]
        frame = pd.DataFrame(array.reshape(len(array), -1), columns=names)
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    if len(set(frame.columns)) != len(frame.columns):
        raise DataError("the series has duplicate column names; make them unique")
    return frame


def _value_columns(frame, value_columns, others: set, available: list[str], where: str,
                   line_offset: int | None) -> list[str]:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype  # noqa: PLC0415 - pandas only when reading

    if value_columns is not None:
        value_columns = [value_columns] if isinstance(value_columns, str) else [str(c) for c in value_columns]
        absent = [c for c in value_columns if c not in available]
        if absent:
            raise DataError(f"value column(s) {_names(absent)} are not in the data{where}; available: {_names(available)}")
        clash = [c for c in value_columns if c in others]
        if clash:
            raise ConfigError(f"column(s) {_names(clash)} are the time or label column; leave them out of value_columns")
        if not value_columns:
            raise ConfigError("value_columns is empty; name at least one column, or pass None for all numeric columns")
        return value_columns
    candidates = [c for c in available if c not in others]
    chosen = []
    for c in candidates:
        if is_bool_dtype(frame[c]):
            continue
        # A text column of numbers counts; one of mostly numbers with a stray word is an error, not skipped.
        if is_numeric_dtype(frame[c]) or len(_numeric(frame[c], c, available, line_offset, mostly_numbers_only=True)):
            chosen.append(c)
    if not chosen:
        raise DataError(
            f"the data{where} has no numeric value columns besides the time and label columns; "
            f"available columns: {_names(available)}; name the time column (time_column) or the value columns"
        )
    return chosen


def _numeric(column, name: str, available: list[str], line_offset: int | None,
             mostly_numbers_only: bool = False) -> np.ndarray:
    """A column as float64; text in it is an error (for ``mostly_numbers_only``: only if most of it is numbers)."""
    import pandas as pd  # noqa: PLC0415 - pandas only when reading
    from pandas.api.types import is_bool_dtype, is_numeric_dtype  # noqa: PLC0415 - as above

    if is_numeric_dtype(column) or is_bool_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    converted = pd.to_numeric(column, errors="coerce")
    present = column.notna()
    bad = np.nonzero((converted.isna() & present).to_numpy())[0]
    if mostly_numbers_only and len(bad) * 2 >= int(present.sum()):
        return np.empty(0)  # a text column (ids, categories): not a value column, not an error
    if len(bad):
        raise DataError(
            f"value column {name!r} holds text such as {str(column.iloc[bad[0]])[:40]!r} at {_row(bad[0], line_offset)}; "
            f"fix those values, or pick numeric value columns among: {_names(available)}"
        )
    return converted.to_numpy(dtype=np.float64, na_value=np.nan)


def _parse_times(column, name: str, line_offset: int | None, pd) -> np.ndarray:
    """``(N,)`` datetime64[ns] (UTC for offset-aware stamps), or float64/int64 for a numeric column."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype  # noqa: PLC0415 - pandas only when reading

    if is_numeric_dtype(column) and not is_bool_dtype(column):
        times = column.to_numpy(dtype=np.float64 if column.isna().any() else None, na_value=np.nan)
        bad = np.nonzero(~np.isfinite(times))[0] if times.dtype.kind == "f" else []
    else:
        parsed = pd.to_datetime(column, errors="coerce", utc=True)
        if parsed.isna().any() and column.notna().any():
            # pandas infers one format from the first value; a file may mix precisions or forms.
            mixed = pd.to_datetime(column, errors="coerce", utc=True, format="mixed")
            parsed = mixed if mixed.isna().sum() < parsed.isna().sum() else parsed
        bad = np.nonzero(parsed.isna().to_numpy())[0]
        times = parsed.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")
    if len(bad):
        raise DataError(
            f"time column {name!r} has {len(bad)} value(s) that are not times, first {_plain(column.iloc[bad[0]])!r} at "
            f"{_row(bad[0], line_offset)}; fix them, or pass the right time column"
        )
    return times


def _column_labels(column, name: str, line_offset: int | None) -> np.ndarray:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype  # noqa: PLC0415 - pandas only when reading

    if is_bool_dtype(column) and not column.isna().any():
        return column.to_numpy(dtype=np.int64)
    values = column.to_numpy(dtype=np.float64, na_value=np.nan) if is_numeric_dtype(column) else None
    ok = np.isin(values, (0.0, 1.0)) if values is not None else np.zeros(len(column), bool)
    if not ok.all():
        i = int(np.argmin(ok))
        raise DataError(
            f"label column {name!r} holds {_plain(column.iloc[i])!r} at {_row(i, line_offset)}; labels must be 0 (normal) "
            "or 1 (anomaly), fix them"
        )
    return values.astype(np.int64)


def _average_duplicates(times, values, labels, order):
    """One reading per distinct time: the mean of its values (NaN ignored), the max label, the first input row."""
    distinct, first, group = np.unique(times, return_index=True, return_inverse=True)
    present = ~np.isnan(values)  # (N, C)
    sums = np.zeros((len(distinct), values.shape[1]))
    counts = np.zeros((len(distinct), values.shape[1]))
    np.add.at(sums, group, np.where(present, values, 0.0))
    np.add.at(counts, group, present)
    with np.errstate(invalid="ignore"):
        means = sums / counts  # a group with no value stays NaN, for `missing` to handle
    if labels is not None:
        merged = np.zeros(len(distinct), np.int64)
        np.maximum.at(merged, group, labels)
        labels = merged
    return distinct, means, labels, order[first]  # np.unique's first index: the stable sort's first input row


def _fill_missing(values: np.ndarray, columns: list[str], missing: str) -> np.ndarray:
    nan = np.isnan(values)  # (N, C)
    if not nan.any():
        return values
    bad = [columns[j] for j in np.nonzero(nan.any(axis=0))[0]]
    if missing == "error":
        raise DataError(
            f"column(s) {_names(bad)} have missing values ({int(nan.any(axis=1).sum())} reading(s)); fill them, or "
            "pass missing='interpolate' (CLI: --missing interpolate)"
        )
    empty = [columns[j] for j in np.nonzero(nan.all(axis=0))[0]]
    if empty:
        raise DataError(f"column(s) {_names(empty)} have no values to interpolate from; drop them")
    filled = values.copy()
    position = np.arange(len(values))
    for j in np.nonzero(nan.any(axis=0))[0]:  # a loop over columns, not readings
        known = ~nan[:, j]
        filled[~known, j] = np.interp(position[~known], position[known], values[known, j])  # ends: nearest value
    return filled


def _load_windows(label_windows: Any, source: Path | None) -> list:
    if isinstance(label_windows, (str, os.PathLike)):
        path = Path(label_windows)
        try:
            label_windows = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DataError(f"cannot read label windows from {path} ({first_line(e)}); pass a JSON file") from e
    if isinstance(label_windows, dict):
        if source is None:
            raise DataError(
                "label_windows is keyed by file name but the series was not read from a file; "
                "pass this series' list of [start, end] windows"
            )
        parts = source.resolve().parts
        matches = [k for k in label_windows if parts[-len(Path(k).parts):] == Path(k).parts]
        if not matches:  # a file copied out of its folder: its name alone, when only one key has it
            matches = [k for k in label_windows if Path(k).name == source.name]
            matches = matches if len(matches) == 1 else []
        if not matches:
            keys = list(label_windows)
            raise DataError(
                f"no key of label_windows ends the path {source} ({len(keys)} keys, such as {_names(keys[:3])}); "
                "pass the matching file, or this series' list of windows"
            )
        label_windows = label_windows[max(matches, key=lambda k: len(Path(k).parts))]
    if not isinstance(label_windows, (list, tuple)):
        raise DataError(f"label windows are a {type(label_windows).__name__}; pass a list of [start, end] pairs")
    return list(label_windows)


def _window_labels(times: np.ndarray, windows: list) -> np.ndarray:
    """1 for each reading inside any inclusive ``[start, end]`` window; ``times`` sorted."""
    import pandas as pd  # noqa: PLC0415 - pandas only when reading

    change = np.zeros(len(times) + 1, np.int64)
    for k, window in enumerate(windows):  # a loop over windows (a few), not readings
        try:
            start, end = window
            if times.dtype.kind == "M":
                start, end = (pd.Timestamp(t) for t in (start, end))
                start, end = (t.tz_convert(None) if t.tzinfo else t for t in (start, end))
                start, end = np.datetime64(start, "ns"), np.datetime64(end, "ns")
            else:
                start, end = float(start), float(end)
        except (TypeError, ValueError) as e:
            raise DataError(
                f"label window {k} ({window!r}) is not a [start, end] pair of times ({first_line(e)}); fix it"
            ) from e
        if end < start:
            raise DataError(f"label window {k} ends ({end}) before it starts ({start}); swap them")
        change[np.searchsorted(times, start, "left")] += 1
        change[np.searchsorted(times, end, "right")] -= 1
    return (np.cumsum(change)[:-1] > 0).astype(np.int64)


def _count_gaps(times: np.ndarray | None) -> tuple[int, tuple[int, int] | None]:
    """Readings missing from the time grid, and the (before, after) indices of the first gap."""
    if times is None:
        return 0, None
    steps = np.diff(times).astype(np.float64)  # (N-1,) ns for datetimes
    positive = steps[steps > 0]  # duplicates kept with duplicates="keep" are no step
    if len(positive) == 0:
        return 0, None
    median = np.median(positive)
    gap = steps > GAP_FACTOR * median
    if not gap.any():
        return 0, None
    missing = np.maximum(np.round(steps[gap] / median) - 1, 1)
    first = int(np.argmax(gap))
    return int(missing.sum()), (first, first + 1)


def _show_time(t) -> str:
    if isinstance(t, np.datetime64):
        import pandas as pd  # noqa: PLC0415 - pandas only when reading

        return str(pd.Timestamp(t))
    return f"{t:g}" if isinstance(t, (float, np.floating)) else str(t)


def _plain(value):
    """A cell as a Python value, so an error shows ``2``, not ``np.int64(2)``."""
    return value.item() if isinstance(value, np.generic) else value


def _row(i: int, line_offset: int | None) -> str:
    return f"row {i}" + (f" (line {i + line_offset} of the file)" if line_offset is not None else "")


def _names(names) -> str:
    names = [printable(str(n)) for n in names]
    shown = ", ".join(repr(n) for n in names[:8])
    return shown + (f" and {len(names) - 8} more" if len(names) > 8 else "")


# ---------------------------------------------------------------- windows and scores back per reading


def sliding_windows(values: np.ndarray, window: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping windows of a series, the last one ending at the last reading.

    Parameters
    ----------
    values:
        ``(N, C)`` readings (``(N,)`` is one channel).
    window, stride:
        Window length ``W`` and the step between window starts. When the stride
        skips the last reading, a final window ending there is added, so every
        reading is in at least one window.

    Returns
    -------
    windows:
        ``(M, C, W)`` float32, a copy: ``M * C * W * 4`` bytes (25,000 readings,
        one channel, W = 256, stride 1: 26 MB).
    starts:
        ``(M,)`` int64, the first reading of each window, increasing.
    """
    values = _as_2d(values)  # (N, C)
    n = len(values)
    if isinstance(window, bool) or int(window) != window or window < 1:
        raise ConfigError(f"window={window!r} is not a positive whole number; pass a window length of 1 or more")
    if isinstance(stride, bool) or int(stride) != stride or stride < 1:
        raise ConfigError(f"stride={stride!r} is not a positive whole number; pass a stride of 1 or more")
    window, stride = int(window), int(stride)
    if window > n:
        raise DataError(f"the series has {n} readings, fewer than the window of {window}; pass a window of at most {n}")
    starts = np.arange(0, n - window + 1, stride, dtype=np.int64)
    if starts[-1] != n - window:
        starts = np.append(starts, n - window)
    view = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)  # (N - W + 1, C, W), no copy
    return view[starts].astype(np.float32), starts


def per_reading(window_scores: np.ndarray, starts: np.ndarray, n: int, window: int) -> np.ndarray:
    """Each reading's mean score over the windows that cover it.

    Parameters
    ----------
    window_scores:
        ``(M, W)``: a score per step of each window; reading ``t`` gets
        ``window_scores[m, t - starts[m]]`` from each window ``m`` covering it.
        Or ``(M,)``: one score per window, shared by its ``W`` readings.
    starts, n, window:
        From :func:`sliding_windows`: window starts, series length, window length.

    Returns
    -------
    ``(N,)`` float64; NaN for a reading no window covers.
    """
    scores, starts = _check_scores(window_scores, starts, n, window)
    count = np.zeros(n + 1)
    np.add.at(count, starts, 1.0)
    np.add.at(count, starts + window, -1.0)
    count = np.cumsum(count)[:n]  # (N,) windows covering each reading
    if scores.ndim == 1:
        total = np.zeros(n + 1)
        np.add.at(total, starts, scores)
        np.add.at(total, starts + window, -scores)
        total = np.cumsum(total)[:n]  # (N,)
    else:
        rows = starts[:, None] + np.arange(window)  # (M, W) the reading at each window step
        total = np.bincount(rows.ravel(), weights=scores.ravel(), minlength=n)  # (N,)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def last_step(window_scores: np.ndarray, starts: np.ndarray, n: int, window: int) -> np.ndarray:
    """Each reading's score from the window that ends at it: what scoring a stream as it arrives can compute.

    Reading ``t`` takes its step's score from the first window ending at or
    after ``t``: for ``t >= window - 1`` and stride 1 that is the window ending
    at ``t`` (its last step); readings before the first full window take their
    step of the first window; with a stride above 1, a reading no window ends
    at takes its step of the next window to end.

    Parameters
    ----------
    window_scores:
        ``(M, W)`` step scores, or ``(M,)`` window scores (the reading takes the
        whole window's score).
    starts, n, window:
        From :func:`sliding_windows`.

    Returns
    -------
    ``(N,)`` float64.
    """
    scores, starts = _check_scores(window_scores, starts, n, window)
    ends = starts + window - 1  # (M,) increasing
    if ends[-1] < n - 1:
        raise DataError(f"no window ends at the last reading ({n - 1}); pass the starts returned by sliding_windows")
    reading = np.arange(n)
    m = np.searchsorted(ends, reading, side="left")  # (N,) first window ending at or after each reading
    if scores.ndim == 1:
        return scores[m]
    return scores[m, reading - starts[m]]


def _check_scores(window_scores, starts, n: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(window_scores, dtype=np.float64)
    starts = np.asarray(starts, dtype=np.int64)
    if starts.ndim != 1 or len(starts) == 0 or scores.shape[:1] != starts.shape:
        raise DataError(
            f"window scores of shape {scores.shape} do not match {starts.shape} window starts; "
            "pass one score (or one row of step scores) per window from sliding_windows"
        )
    if scores.ndim not in (1, 2) or (scores.ndim == 2 and scores.shape[1] != window):
        raise DataError(f"window scores have shape {scores.shape}; pass (M,) or (M, {window}) for windows of {window}")
    if starts.min() < 0 or starts.max() + window > n or np.any(np.diff(starts) < 0):
        raise DataError(
            f"window starts run outside a series of {n} readings with windows of {window}, or decrease; "
            "pass the starts returned by sliding_windows"
        )
    return scores, starts


def _as_2d(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise DataError(f"a series has shape (N, C) or (N,), got {values.shape}; pass one row per reading")
    return values


# ---------------------------------------------------------------- window length


def estimate_period(values: np.ndarray, max_lag: int = 1000) -> int | None:
    """The dominant period, in readings, from the autocorrelation; None when there is none.

    Each channel is detrended (least-squares line removed) and its
    autocorrelation function (ACF, via FFT: fast on 25,000 readings) taken; the
    channels' ACFs are averaged. The period is the lag of the highest local
    maximum after the ACF's first zero crossing, if that value exceeds 0.2.
    Lags run up to ``min(max_lag, N // 2)``, so at least two periods are seen.
    """
    x = _as_2d(values)  # (N, C)
    if not np.isfinite(x).all():
        raise DataError("the series holds NaN or infinite values; fill them before estimating its period")
    n = len(x)
    max_lag = min(int(max_lag), n // 2)
    if max_lag < 3:
        return None
    t = np.arange(n) - (n - 1) / 2
    x = x - x.mean(axis=0)
    x = x - np.outer(t, (t @ x) / (t @ t))  # (N, C) detrended
    size = 1 << int(2 * n - 1).bit_length()  # zero padding to >= 2N: a linear, not circular, correlation
    spectrum = np.fft.rfft(x, size, axis=0)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, size, axis=0)[: max_lag + 1]  # (L + 1, C)
    power = acf[0]
    if not (power > 0).any():
        return None  # constant (or linear) series
    acf = (acf[:, power > 0] / power[power > 0]).mean(axis=1)  # (L + 1,)
    below = np.nonzero(acf <= 0)[0]
    if len(below) == 0:
        return None
    lags = np.arange(below[0] + 1, max_lag)
    peaks = lags[(acf[lags] > acf[lags - 1]) & (acf[lags] >= acf[lags + 1])]
    if len(peaks) == 0:
        return None
    best = peaks[np.argmax(acf[peaks])]
    return int(best) if acf[best] > _MIN_PERIOD_ACF else None


def auto_window(values: np.ndarray, periods: int = 1) -> int:
    """A window length for a series of ``N`` readings: ``periods`` times its period.

    The rule: the estimated period (:func:`estimate_period`) clipped to
    [16, 256], or 64 without a period, times ``periods``; then at most
    ``N // 4`` (so there are enough windows to learn from), at least 4, and at
    most ``N``. The anomaly detector's ``window="auto"`` takes two periods:
    on the 19 NAB series that beat one period and half of one in every
    leave-one-series-out fold (docs/benchmarks.md).
    """
    n = len(_as_2d(values))
    period = estimate_period(values)
    window = periods * (_DEFAULT_WINDOW if period is None else min(max(period, _MIN_WINDOW), _MAX_WINDOW))
    return int(min(max(min(window, n // 4), 4), n))


# ---------------------------------------------------------------- scaling


class SeriesScaler:
    """Per-channel scaling, fit on the training part of a series only.

    Parameters
    ----------
    kind:
        ``robust`` (median, and IQR / 1.349, which outliers in the training
        part do not pull; the standard deviation when the IQR is 0),
        ``standard`` (mean, standard deviation) or ``none``. A constant channel
        gets scale 1, so a change at scoring time still counts.
    """

    def __init__(self, kind: str = "robust") -> None:
        _check_option("kind", kind, SCALINGS)
        self.kind = kind
        self.center_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, values: np.ndarray) -> SeriesScaler:
        x = _as_2d(values)  # (N, C)
        if len(x) == 0 or not np.isfinite(x).all():
            raise DataError("the training part is empty or holds NaN/infinite values; fit on finite readings")
        if self.kind == "none":
            center, scale = np.zeros(x.shape[1]), np.ones(x.shape[1])
        elif self.kind == "robust":
            q25, center, q75 = np.percentile(x, [25, 50, 75], axis=0)  # (C,) each
            scale = (q75 - q25) / _IQR_PER_STD
            scale = np.where(scale > 0, scale, x.std(axis=0))  # over half the readings tie
        else:
            center, scale = x.mean(axis=0), x.std(axis=0)
        constant = ~(scale > 1e-12 * np.maximum(1.0, np.abs(center)))
        self.center_, self.scale_ = center, np.where(constant, 1.0, scale)
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        """``(N, C)`` (or ``(N,)``) readings -> scaled float32 of the same shape."""
        x = self._check(values)
        return ((x - self.center_) / self.scale_).astype(np.float32).reshape(np.shape(values))

    def inverse_transform(self, values: np.ndarray) -> np.ndarray:
        """Scaled readings back in the series' units, float64 of the same shape."""
        x = self._check(values)
        return (x * self.scale_ + self.center_).reshape(np.shape(values))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able state; :meth:`from_dict` rebuilds the same scaling."""
        if self.center_ is None:
            raise DataError("the scaler is not fitted; call fit first")
        return {"kind": self.kind, "center": self.center_.tolist(), "scale": self.scale_.tolist()}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> SeriesScaler:
        try:
            scaler = cls(state["kind"])
            scaler.center_ = np.asarray(state["center"], dtype=np.float64)
            scaler.scale_ = np.asarray(state["scale"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"the saved scaler state is damaged ({first_line(e)}); fit the model again") from e
        if scaler.center_.ndim != 1 or scaler.center_.shape != scaler.scale_.shape:
            raise DataError("the saved scaler state is damaged (center and scale differ in shape); fit the model again")
        return scaler

    def _check(self, values) -> np.ndarray:
        if self.center_ is None:
            raise DataError("the scaler is not fitted; call fit first")
        x = _as_2d(values)
        if x.shape[1] != len(self.center_):
            raise DataError(
                f"the series has {x.shape[1]} channel(s) but the scaler was fit on {len(self.center_)}; "
                "pass the same value columns"
            )
        return x
