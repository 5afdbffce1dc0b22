"""Labels as the conditional and semi-supervised models take them.

A class label is an int64 in [0, K); ``UNLABELLED`` (-1) marks a row whose
label is unknown (M2). Covariates are float32 vectors (N, C). For M2 a
seeded draw keeps N labels per class, and the labelled rows are repeated so
that nearly every batch holds some. Everything is a pure function of the
data and the seed, so a resumed run sees the same rows.

No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vaekit.errors import DataError

UNLABELLED = -1


def class_labels(y: np.ndarray, name: str, allow_missing: bool) -> np.ndarray:
    """``y`` as int64 classes, -1 for missing (NaN, "" or negative) when ``allow_missing``."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"{name} has labels of shape {y.shape}; class labels are one integer per row")
    if y.dtype.kind in "US":
        missing = y == ""
        if not missing.all() and not _integers(y[~missing]):
            raise DataError(f"{name} has text labels; conditional models need integer classes 0..K-1")
        out = np.full(len(y), UNLABELLED, dtype=np.int64)
        out[~missing] = y[~missing].astype(np.int64)
    elif y.dtype.kind == "f":
        missing = ~np.isfinite(y)
        if not np.all(y[~missing] == np.round(y[~missing])):
            raise DataError(f"{name} has non-integer labels; conditional models need integer classes 0..K-1")
        out = np.where(missing, UNLABELLED, np.nan_to_num(y)).astype(np.int64)
    elif y.dtype.kind in "iub":
        out = y.astype(np.int64)
    else:
        raise DataError(f"{name} has labels of type {y.dtype}; conditional models need integer classes 0..K-1")
    out[out < 0] = UNLABELLED
    if not allow_missing and (out == UNLABELLED).any():
        count = int((out == UNLABELLED).sum())
        raise DataError(f"{name} has {count} row(s) without a label; this model needs a label on every row (m2 does not)")
    return out


def _integers(text: np.ndarray) -> bool:
    try:
        values = text.astype(np.float64)
    except ValueError:
        return False
    return bool(np.all(values == np.round(values)))


def draw_per_class(y: np.ndarray, rows: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """A seeded draw of ``per_class`` labelled rows of each class among ``rows`` (sorted indices into y)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for k in np.unique(y[rows][y[rows] >= 0]):
        members = rows[y[rows] == k]
        if len(members) < per_class:
            raise DataError(f"class {k} has {len(members)} labelled training rows, fewer than labels_per_class={per_class}")
        chosen.append(rng.choice(members, size=per_class, replace=False))
    if not chosen:
        raise DataError("the training rows have no labels to draw from")
    return np.sort(np.concatenate(chosen))


@dataclass
class SemiSupervisedRows:
    """Which training rows M2 sees with labels, and the epoch's rows with the labelled ones repeated."""

    labelled: np.ndarray
    """Indices (into the data) of the rows whose labels are kept."""
    fit_rows: np.ndarray
    """The training rows of an epoch: every training row once, the labelled ones ``repeats`` times."""
    repeats: int
    """How often each labelled row appears per epoch."""


def semi_supervised_rows(
    y: np.ndarray, train_rows: np.ndarray, per_class: int | None, labelled_share: float, seed: int
) -> SemiSupervisedRows:
    """The labelled rows (``per_class`` of each class, or all that have a label) and an epoch's rows.

    Labelled rows are repeated so that they make about ``labelled_share`` of
    the epoch; with 100 labels among 50,000 rows and a share of 0.1 each
    appears about 55 times, so a batch of 100 holds about 10 of them.
    """
    if per_class is None:
        labelled = train_rows[y[train_rows] >= 0]
        if len(labelled) == 0:
            raise DataError("none of the training rows has a label; m2 needs some")
    else:
        labelled = draw_per_class(y, train_rows, per_class, seed)
    unlabelled = len(train_rows) - len(labelled)
    repeats = max(1, round(labelled_share / (1.0 - labelled_share) * unlabelled / len(labelled)))
    fit_rows = np.concatenate([train_rows, np.repeat(labelled, repeats - 1)])
    return SemiSupervisedRows(labelled=labelled, fit_rows=fit_rows, repeats=repeats)


def kingma_classifier_weight(rows: int, labelled: int) -> float:
    """alpha = 0.1 * N / N_labelled: Kingma et al. 2014's 0.1 * N (eq. 9), per labelled row.

    The cross-entropy is weighted per labelled row of a batch, so their
    alpha over the labelled rows' sum is 0.1 * N / N_labelled each (50 for
    100 labels among 50,000 rows). A much weaker weight (the same alpha
    spread over every repetition of a labelled row) left the classifier at
    34% test error after 5 epochs where this one reached 20% in 2
    (benchmarks/semi_supervised.py, 100 labels).
    """
    return 0.1 * rows / max(labelled, 1)


def covariates(y: np.ndarray, name: str) -> np.ndarray:
    """``y`` (N, C) as float32 covariates."""
    y = np.asarray(y)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.dtype.kind not in "fiub":
        raise DataError(f"{name} has labels of shape {y.shape}, type {y.dtype}; covariates are numbers (N, C)")
    out = y.astype(np.float32)
    if not np.isfinite(out).all():
        raise DataError(f"{name} has NaN or infinite covariates; fill them first")
    return out
