"""Tables to model inputs: scaling, one-hot categories, missing values.

A :class:`TablePreprocessor` is fit on the training table and saved with the
model (as JSON, via :meth:`TablePreprocessor.to_dict`), so that scoring a new
table applies exactly the same transformation. Every check a user can fail
(missing columns, text in a numeric column, NaN, a different column count)
raises :class:`~vaekit.errors.DataError` with one line naming the columns.
This module does not import torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sklearn.utils._param_validation import InvalidParameterError, StrOptions, validate_parameter_constraints

from vaekit.errors import ConfigError, DataError

SCALINGS = ("standard", "robust", "none")
MISSING = ("error", "impute")
#: A text column with more distinct values than this is an identifier, not a category.
MAX_CATEGORIES = 200
# Gaussian IQR = 1.349 sigma: robust scales are comparable with standard ones.
_IQR_PER_STD = 1.349


@dataclass
class Column:
    """How one input column becomes one (numeric) or several (one-hot) model inputs."""

    name: str
    kind: str  # "numeric" or "categorical"
    center: float = 0.0
    scale: float = 1.0
    categories: list[str] = field(default_factory=list)
    fill: Any = None  # the imputed value (median or most frequent category)

    @property
    def width(self) -> int:
        return len(self.categories) if self.kind == "categorical" else 1

    def output_names(self) -> list[str]:
        if self.kind == "numeric":
            return [self.name]
        return [f"{self.name}={c}" for c in self.categories]


class TablePreprocessor:
    """Turns a DataFrame or 2-D array into standardized float32 model inputs.

    Parameters
    ----------
    scaling:
        ``standard`` (mean and standard deviation), ``robust`` (median and
        interquartile range, not pulled by outliers in the training data), or
        ``none``. Constant columns get scale 1, so a value that differs at
        scoring time still counts.
    categorical:
        ``"auto"``: text, category and boolean columns of a DataFrame are
        one-hot encoded; a list of names also encodes those (numeric) columns;
        ``None``: text columns are an error. A category unseen during fit
        encodes as all zeros, which the model explains badly.
    missing:
        ``error`` (a :class:`DataError` naming the columns with missing
        values) or ``impute`` (median for numbers, most frequent category).
    """

    #: The settings' allowed values, in scikit-learn's form; the estimators that pass them on reuse it.
    _parameter_constraints: dict = {
        "scaling": [StrOptions(set(SCALINGS))],
        "categorical": [StrOptions({"auto"}), list, tuple, None],
        "missing": [StrOptions(set(MISSING))],
    }

    def __init__(self, scaling: str = "standard", categorical: str | list[str] | None = "auto",
                 missing: str = "error") -> None:
        params = {"scaling": scaling, "categorical": categorical, "missing": missing}
        try:
            validate_parameter_constraints(self._parameter_constraints, params, caller_name=type(self).__name__)
        except InvalidParameterError as e:
            raise ConfigError(str(e)) from e  # vaekit's API promises ConfigError for bad settings
        self.scaling = scaling
        self.categorical = categorical
        self.missing = missing
        self.columns: list[Column] = []

    # ------------------------------------------------------------------ fit / transform

    def fit(self, X: Any) -> TablePreprocessor:
        """Learn each column's kind (numeric or categorical), scale and categories from ``X``."""
        frame = as_frame(X, "the training data")
        forced = set(self.categorical) if isinstance(self.categorical, (list, tuple)) else set()
        unknown = forced - set(frame.columns)
        if unknown:
            raise DataError(f"categorical column(s) {_names(unknown)} are not in the data; "
                            f"available: {_names(frame.columns)}")
        self._check_missing(frame)
        self.columns = []
        for name in frame.columns:
            values = frame[name]
            if name in forced or (self.categorical == "auto" and _is_categorical(values)):
                self.columns.append(_fit_categorical(name, values))
            elif _is_categorical(values):
                raise DataError(f"column {name!r} holds text; encode it as numbers or pass categorical='auto'")
            else:
                self.columns.append(self._fit_numeric(name, values))
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Model inputs ``(N, n_outputs)`` as float32, in the column order of the fit."""
        if not self.columns:
            raise DataError("the preprocessor is not fitted; call fit first")
        frame = as_frame(X, "the data", names=[c.name for c in self.columns])
        missing_cols = [c.name for c in self.columns if c.name not in frame.columns]
        if missing_cols:
            raise DataError(f"the data lacks column(s) {_names(missing_cols)} that the model was fit on")
        extra = [c for c in frame.columns if c not in {col.name for col in self.columns}]
        if extra:
            raise DataError(
                f"the data has column(s) {_names(extra)} that the model was not fit on; drop them, or name them "
                "as the id or label column (CLI: --id-column NAME, --label-column NAME)"
            )
        self._check_missing(frame)
        blocks = []
        for col in self.columns:
            values = frame[col.name]
            if col.kind == "categorical":
                blocks.append(_one_hot(values, col))
            else:
                blocks.append(_numeric(values, col)[:, None])
        out = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(frame), 0), np.float32)
        with np.errstate(over="ignore"):
            out32 = out.astype(np.float32)
        if not np.isfinite(out32).all():
            bad = sorted({self.output_names[j] for j in np.nonzero(~np.isfinite(out32).all(axis=0))[0]})
            raise DataError(f"column(s) {_names(bad)} hold infinite or out-of-range values; fix or drop those rows")
        return out32

    def fit_transform(self, X: Any) -> np.ndarray:
        """``fit(X).transform(X)``: the model inputs of ``X``, float32 (rows, outputs)."""
        return self.fit(X).transform(X)

    def inverse_transform(self, out: Any) -> np.ndarray:
        """Model inputs (or decoder means) ``(N, n_outputs)`` back in the table's units.

        Numeric columns are unscaled; each one-hot block becomes its most
        likely category (as text). The result has one column per input column:
        float64 when all are numeric, else an object array.
        """
        if not self.columns:
            raise DataError("the preprocessor is not fitted; call fit first")
        out = np.asarray(out, dtype=np.float64)
        if out.ndim != 2 or out.shape[1] != self.n_outputs:
            raise DataError(f"expected model inputs of shape (N, {self.n_outputs}), got {out.shape}")
        blocks, start = [], 0
        for col in self.columns:
            block = out[:, start : start + col.width]  # (N, width)
            start += col.width
            if col.kind == "numeric":
                blocks.append(block[:, 0] * col.scale + col.center)
            else:
                blocks.append(np.asarray(col.categories, dtype=object)[block.argmax(axis=1)])
        if all(col.kind == "numeric" for col in self.columns):
            return np.column_stack(blocks)
        return np.column_stack([b.astype(object) for b in blocks])

    # ------------------------------------------------------------------ description

    @property
    def feature_names_in(self) -> list[str]:
        """The input columns, as fitted."""
        return [c.name for c in self.columns]

    @property
    def output_names(self) -> list[str]:
        """One name per model input: a numeric column's name, ``column=category`` for one-hot columns."""
        return [name for c in self.columns for name in c.output_names()]

    @property
    def n_outputs(self) -> int:
        """The number of model inputs (``len(output_names)``)."""
        return sum(c.width for c in self.columns)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able state; :meth:`from_dict` rebuilds the same transformation."""
        return {
            "scaling": self.scaling,
            "categorical": self.categorical if not isinstance(self.categorical, tuple) else list(self.categorical),
            "missing": self.missing,
            "columns": [asdict(c) for c in self.columns],
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> TablePreprocessor:
        """A fitted preprocessor from ``to_dict()``'s JSON-able state."""
        try:
            pre = cls(state["scaling"], state["categorical"], state["missing"])
            pre.columns = [Column(**c) for c in state["columns"]]
        except (KeyError, TypeError) as e:
            raise DataError(f"the saved preprocessing state is damaged ({e}); fit the model again") from e
        return pre

    # ------------------------------------------------------------------ helpers

    def _fit_numeric(self, name: str, values) -> Column:
        x = _numeric_values(values, name)
        finite = x[np.isfinite(x)]
        if len(finite) == 0:
            raise DataError(f"column {name!r} has no values; drop it")
        fill = float(np.median(finite))
        if self.scaling == "none":
            return Column(name, "numeric", 0.0, 1.0, fill=fill)
        if self.scaling == "robust":
            q25, q75 = np.percentile(finite, [25, 75])
            center, scale = fill, float(q75 - q25) / _IQR_PER_STD
            if scale <= 0:  # over half the rows tie: fall back to the standard deviation
                scale = float(finite.std())
        else:
            center, scale = float(finite.mean()), float(finite.std())
        if not np.isfinite(scale) or scale <= 1e-12 * max(1.0, abs(center)):
            scale = 1.0  # constant column
        return Column(name, "numeric", center, scale, fill=fill)

    def _check_missing(self, frame) -> None:
        if self.missing == "impute":
            return
        counts = frame.isna().sum()
        bad = [str(c) for c in frame.columns if counts[c] > 0]
        if bad:
            rows = int(frame.isna().any(axis=1).sum())
            raise DataError(
                f"column(s) {_names(bad)} have missing values ({rows} row(s)); "
                "fill or drop those NaN cells, or fit with missing='impute' (CLI: vaekit detect fit --impute)"
            )


def as_frame(X: Any, what: str, names: list[str] | None = None):
    """``X`` as a pandas DataFrame with string column names; arrays get ``x0, x1, ...``.

    ``names`` (from a fitted preprocessor) names the columns of an array, whose
    column count must then match.
    """
    import pandas as pd  # noqa: PLC0415 - pandas loads only when a table is transformed, not with the estimators

    if type(X).__module__.startswith("scipy.sparse"):  # checked by name: no scipy import for dense data
        raise DataError(f"{what} is a sparse matrix; sparse input is not supported, pass a dense array (X.toarray())")
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if isinstance(X, pd.DataFrame):
        frame = X.copy()
        frame.columns = [str(c) for c in frame.columns]
        if len(set(frame.columns)) != len(frame.columns):
            raise DataError(f"{what} has duplicate column names; make them unique")
        if names is not None and names == _default_names(len(names)):
            # Fit on an unnamed array: columns are matched by position, as scikit-learn does.
            if frame.shape[1] != len(names):
                raise DataError(
                    f"{what} has {frame.shape[1]} column(s) but the model was fit on {len(names)}; "
                    "pass the same columns in the same order"
                )
            frame.columns = names
    else:
        try:
            array = np.asarray(X)
        except (ValueError, TypeError) as e:
            raise DataError(f"{what} is not a table: {e}; pass a 2-D array or a DataFrame") from e
        if array.ndim == 1:
            raise DataError(
                f"{what} is 1-D (shape {array.shape}). Reshape your data to one row per sample: "
                "X.reshape(-1, 1) for a single feature, X.reshape(1, -1) for a single sample"
            )
        if array.ndim != 2:
            raise DataError(f"{what} has shape {array.shape}; a table needs 2 dimensions (rows, columns)")
        if array.dtype.kind == "c":
            raise DataError(f"{what} holds {array.dtype} values. Complex data not supported; pass real numbers")
        if array.dtype.kind not in "biufOSU":
            raise DataError(f"{what} holds {array.dtype} values; pass numbers or text")
        if names is not None and array.shape[1] != len(names):
            raise DataError(
                f"{what} has {array.shape[1]} column(s) but the model was fit on {len(names)}; "
                "pass the same columns in the same order"
            )
        columns = names if names is not None else _default_names(array.shape[1])
        frame = pd.DataFrame(array, columns=columns)
        if array.dtype.kind == "O":
            frame = frame.infer_objects()
    if len(frame) == 0:
        raise DataError(f"{what} has no rows")
    if frame.shape[1] == 0:
        raise DataError(f"{what} has 0 feature(s) (shape={frame.shape}) while a minimum of 1 is required. Pass at least one column")
    return frame


def _default_names(n: int) -> list[str]:
    return [f"x{i}" for i in range(n)]


def _is_categorical(values) -> bool:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype  # noqa: PLC0415 - as above: pandas on use

    return is_bool_dtype(values) or not is_numeric_dtype(values)


def _numeric_values(values, name: str) -> np.ndarray:
    """A column as float64, with a clear error for text in it."""
    import pandas as pd  # noqa: PLC0415 - pandas loads only when a table is transformed, not with the estimators

    if _is_categorical(values) and not values.isna().all():
        converted = pd.to_numeric(values, errors="coerce")
        bad = values[converted.isna() & values.notna()]
        if len(bad):
            raise DataError(
                f"column {name!r} is numeric in the model but holds text such as {str(bad.iloc[0])[:40]!r}; "
                "fix those values"
            )
        values = converted
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _fit_categorical(name: str, values) -> Column:
    present = values.dropna().astype(str)
    if len(present) == 0:
        raise DataError(f"column {name!r} has no values; drop it")
    counts = present.value_counts()
    # A category repeats; a column of (nearly) unique strings is an identifier or free text.
    limit = min(MAX_CATEGORIES, max(20, len(present) // 2))
    if len(counts) > limit:
        raise DataError(
            f"column {name!r} has {len(counts)} distinct text values in {len(present)} rows, too many for categories; "
            "if it is an identifier pass it as the id column (--id-column), else drop it"
        )
    # Most frequent first breaks ties by name, so the fill is deterministic.
    fill = sorted(counts.index[counts == counts.max()])[0]
    return Column(name, "categorical", categories=sorted(counts.index), fill=fill)


def _one_hot(values, col: Column) -> np.ndarray:
    text = values.astype(object).where(values.notna(), col.fill).astype(str).to_numpy()
    index = {c: i for i, c in enumerate(col.categories)}
    codes = np.array([index.get(v, -1) for v in text])
    out = np.zeros((len(text), col.width), np.float64)
    seen = codes >= 0
    out[np.nonzero(seen)[0], codes[seen]] = 1.0
    return out


def _numeric(values, col: Column) -> np.ndarray:
    x = _numeric_values(values, col.name)
    x = np.where(np.isnan(x), col.fill, x)
    return (x - col.center) / col.scale


def _names(names) -> str:
    names = [str(n) for n in names]
    shown = ", ".join(repr(n) for n in names[:8])
    return shown + (f" and {len(names) - 8} more" if len(names) > 8 else "")
