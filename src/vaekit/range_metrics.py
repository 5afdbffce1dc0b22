"""Range-aware accuracy of anomaly scores on a time series: point AUCs, range-AUC, VUS, range precision/recall.

``labels`` is ``(N,)`` 0/1 (1 = anomalous reading); ``scores`` is ``(N,)`` float, higher = more anomalous. An
anomaly *range* is a maximal run of 1s. Every function checks its inputs and raises
:class:`~vaekit.errors.DataError` (bad arrays) or :class:`~vaekit.errors.ConfigError` (bad settings) with one line.
NumPy only at import; scikit-learn (which loads pandas) when :func:`point_metrics` runs. No torch.

Range-AUC and VUS (Paparrizos et al. 2022, "Volume Under the Surface", PVLDB 15(11); the TSB-UAD measure). At
buffer length ``l``, each range is widened by ``l // 2`` readings on each side with soft labels
``sqrt(1 - d / l)`` at distance ``d``, overlapping ramps summed and capped at 1 (so ``l`` = 0 and 1 add nothing).
At each threshold ``t`` (predicted: ``scores >= t``), with ``y`` the soft labels, ``P`` the anomalous readings,
``TP = sum(y * pred)`` and ``B`` the part of ``TP`` earned in the buffers:

- ``TPR = min(1, TP / (P + B / 2)) * existence``, existence = share of the widened ranges (ranges whose widened
  spans overlap are merged) that hold a predicted reading;
- ``FPR = sum((1 - y) * pred) / sum(1 - y)``;  ``precision = TP / sum(pred)``.

The range-AUC-ROC is the trapezoid area under (0, 0), (FPR, TPR)..., (1, 1); the range-AUC-PR is the step-wise
(average-precision) sum of ``dTPR * precision``; VUS averages both over ``l`` = 0..max_buffer. Everything is exact
at every distinct score: one sort, cumulative sums, and the existence term from the top score inside each range.
25,000 readings with ``max_buffer=300`` take about 0.2 s on one core (0.4-0.7 s on a busy one).

How this differs from the ``vus`` package (0.0.6, ``RangeAUC_volume_opt``, which TSB-UAD calls):

- the package evaluates 250 sampled thresholds; here every distinct score is a threshold (identical when N <= 250);
- the FPR denominator is the negative mass ``sum(1 - y)``, where the package uses ``N - (P + B / 2)``: with it a
  constant score lands on (1, 1) and gets range-AUC-ROC 0.5 at every buffer (the package gives it more);
- ``range_auc`` is one slice of that surface; the package's single-buffer ``RangeAUC`` differs (recall over the
  whole soft-label mass, PR by trapezoid from precision 1, which pays a constant score 0.5 or more).

TPR, precision and existence are the package's, so a perfect score gets 1 and 1 at every buffer, and a constant
score gets range-AUC-PR = ``mean(y)``, the anomaly share of the buffered labels (``P / N`` at buffer 0 and 1):
the PR baseline, as a random score's average precision is the positive share. Read VUS-PR against that baseline,
``vus(labels, np.zeros(N), max_buffer)["vus_pr"]``, not against ``P / N``. Prefer VUS-PR to VUS-ROC: a buffer hit
raises the TPR while a buffer miss costs nothing, so a *random* score's range-AUC-ROC grows with the buffer (0.5
at buffer 0; about 0.7 at buffer 50 on 30 ranges of 5-60 readings in 20,000, about 0.95 on 100 ranges of 1-4
readings); this is the paper's TPR, kept for comparability.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from vaekit.errors import ConfigError, DataError

#: Positional biases of Tatbul et al. 2018 (delta): which part of an anomaly range a detection is worth most in.
BIASES = ("flat", "front", "back", "middle")


def point_metrics(labels, scores) -> dict[str, float]:
    """Point-wise ROC-AUC and PR-AUC (scikit-learn's ``roc_auc_score``, ``average_precision_score``)."""
    from sklearn.metrics import average_precision_score, roc_auc_score  # noqa: PLC0415 - it imports pandas: on use

    y, s = _check_scored(labels, scores)
    return {"roc_auc": float(roc_auc_score(y, s)), "pr_auc": float(average_precision_score(y, s))}


def range_auc(labels, scores, buffer: int) -> tuple[float, float]:
    """Range-AUC-ROC and range-AUC-PR at one buffer length (Paparrizos et al. 2022; definitions in the module doc).

    Parameters
    ----------
    labels, scores:
        ``(N,)`` 0/1 labels with at least one of each, and finite anomaly scores (higher = more anomalous).
    buffer:
        The buffer length ``l``: ranges widen by ``l // 2`` readings on each side.
    """
    return _RangeCurves(*_check_scored(labels, scores)).areas(_check_count(buffer, "buffer"))


def vus(labels, scores, max_buffer: int) -> dict[str, float]:
    """Volume under the range-ROC and range-PR surfaces: the mean of :func:`range_auc` over buffer 0..max_buffer."""
    curves = _RangeCurves(*_check_scored(labels, scores))
    areas = np.array([curves.areas(b) for b in range(_check_count(max_buffer, "max_buffer") + 1)])  # (L + 1, 2)
    return {"vus_roc": float(areas[:, 0].mean()), "vus_pr": float(areas[:, 1].mean())}


def range_precision_recall(labels, predicted, alpha: float = 0.0, bias: str = "flat") -> tuple[float, float]:
    """Range precision and recall of 0/1 predictions (Tatbul et al. 2018, "Precision and Recall for Time Series").

    Recall averages over the anomaly ranges ``alpha * existence + (1 - alpha) * overlap``, overlap being the
    ``bias``-weighted share of the range that is predicted; precision averages over the predicted ranges the share
    that lies inside anomalies. The cardinality factor is 1 (a range split over several predictions is not
    penalised) and precision uses the flat bias: a predicted range has no position worth more than another.
    Predicting nothing gives precision 0.

    Parameters
    ----------
    labels, predicted:
        ``(N,)`` 0/1 arrays; ``labels`` needs at least one anomalous reading.
    alpha:
        Weight in [0, 1] of the existence reward (a range counts as found once any reading of it is predicted).
    bias:
        Positional weight inside an anomaly range for the recall: one of ``BIASES``.
    """
    y = _check_binary(labels, "labels")
    pred = _check_binary(predicted, "predicted")
    _check_same_length(y, pred, "predicted")
    if not y.any():
        raise DataError("labels hold no anomalous reading (1); range recall needs at least one anomaly range")
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not 0 <= alpha <= 1:
        raise ConfigError(f"alpha must be a number in [0, 1], got {alpha!r}")
    if bias not in BIASES:
        raise ConfigError(f"bias must be one of {', '.join(BIASES)}; got {bias!r}")
    hit_share, found = _range_overlap(*_ranges(y), pred, bias)
    recall = float(np.mean(alpha * found + (1 - alpha) * hit_share))  # Tatbul et al. 2018, Recall_T with gamma = 1
    if not pred.any():
        return 0.0, recall
    precision = float(np.mean(_range_overlap(*_ranges(pred), y, "flat")[0]))  # Tatbul et al. 2018, Precision_T
    return precision, recall


def series_metrics(labels, scores, *, window: int, threshold: float | None = None) -> dict[str, float]:
    """All of the above for one scored series.

    Returns ``roc_auc``, ``pr_auc`` (point-wise) and ``vus_roc``, ``vus_pr`` with ``max_buffer = window``, the
    TSB-UAD convention (its ``slidingWindow`` is the VUS ``windowSize``): buffers 0..window, so the widest ramp
    reaches ``window // 2`` readings on each side of a range. With ``threshold``, the readings with
    ``scores > threshold`` are flagged and ``range_precision``, ``range_recall``, ``range_f1`` (Tatbul et al.
    2018, alpha 0, flat bias), point ``precision``, ``recall`` and ``n_flagged`` are added.
    """
    y, s = _check_scored(labels, scores)
    out = {**point_metrics(y, s), **vus(y, s, _check_count(window, "window"))}
    if threshold is None:
        return out
    if isinstance(threshold, bool) or not isinstance(threshold, Real) or not np.isfinite(threshold):
        raise ConfigError(f"threshold must be a finite number, got {threshold!r}")
    flagged = s > threshold
    range_precision, range_recall = range_precision_recall(y, flagged)
    hits = int((flagged & y).sum())
    return {
        **out,
        "range_precision": range_precision,
        "range_recall": range_recall,
        "range_f1": _f1(range_precision, range_recall),
        "precision": hits / int(flagged.sum()) if flagged.any() else 0.0,
        "recall": hits / int(y.sum()),
        "n_flagged": int(flagged.sum()),
    }


class _RangeCurves:
    """What every buffer shares: the scores sorted once, the distinct thresholds, each reading's ramp distances."""

    def __init__(self, y: np.ndarray, s: np.ndarray) -> None:
        n = len(y)
        order = np.argsort(-s, kind="stable")
        s_sorted = s[order]  # (N,) descending
        self.cut = np.r_[np.flatnonzero(s_sorted[1:] != s_sorted[:-1]), n - 1]  # (T,) last reading of each threshold
        self.thresholds = s_sorted[self.cut]  # (T,) distinct scores, descending
        self.n_pred = self.cut + 1.0  # (T,) readings with score >= threshold
        self.core_hits = np.cumsum(y[order])[self.cut]  # (T,) anomalous readings predicted
        self.n, self.p = n, float(y.sum())
        self.starts, self.ends = _ranges(y)  # (R,), (R,) inclusive
        self.s_pad = np.r_[s, -np.inf]  # (N + 1,) for the reduceat below
        # A ramp at distance d <= l // 2 weighs >= sqrt(1/2), so two overlapping ramps cap at 1: a reading's soft
        # label needs only the distance to the nearest range (d1) and the distance at which a second ramp reaches it.
        pos = np.arange(n)
        ends = np.r_[-np.inf, -np.inf, self.ends]
        starts = np.r_[self.starts, np.inf, np.inf]
        left = np.searchsorted(self.ends, pos, side="left")  # ranges ending before each reading
        right = np.searchsorted(self.starts, pos, side="right")  # ranges starting at or before it
        d_left, d_left2 = pos - ends[left + 1], pos - ends[left]
        d_right, d_right2 = starts[right] - pos, starts[right + 1] - pos
        d1 = np.where(y, 0.0, np.minimum(d_left, d_right))
        d2 = np.where(y, 0.0, np.minimum.reduce([np.maximum(d_left, d_right), d_left2, d_right2]))
        self.d1, self.d2 = d1[order], d2[order]  # (N,) in score order

    def areas(self, buffer: int) -> tuple[float, float]:
        half = buffer // 2  # Paparrizos et al. 2022: the buffer l spans l // 2 readings on each side
        ramp = np.sqrt(np.clip(1.0 - self.d1 / max(buffer, 1), 0.0, None)) * (self.d1 <= half)
        soft = np.where(self.d2 <= half, 1.0, ramp)  # (N,) soft labels in score order, anomalies = 1
        tp = np.cumsum(soft)[self.cut]  # (T,)
        buffer_hits = tp - self.core_hits  # (T,) TP earned in the ramps
        recall = np.minimum(tp / (self.p + buffer_hits / 2), 1.0)  # Paparrizos et al. 2022: P_l = (P + N_labels) / 2
        tpr = recall * self._existence(half)  # Paparrizos et al. 2022: TPR_l = R_l * Existence
        negatives = self.n - soft.sum()
        fpr = (self.n_pred - tp) / negatives if negatives > 0 else np.zeros_like(tp)  # buffers cover all: no FP
        precision = tp / self.n_pred
        x, h = np.r_[0.0, fpr, 1.0], np.r_[0.0, tpr, 1.0]
        roc = float(np.sum(np.diff(x) * (h[1:] + h[:-1]) / 2))
        pr = float(np.sum(np.diff(np.r_[0.0, tpr]) * precision))  # step-wise, as average precision
        return roc, pr

    def _existence(self, half: int) -> np.ndarray:
        """``(T,)`` share of the widened ranges holding a reading at or above each threshold."""
        apart = self.starts[1:] - self.ends[:-1] > 2 * half  # (R - 1,) widened neighbours do not overlap
        first = np.r_[0, np.flatnonzero(apart) + 1]  # (G,) first range of each merged group
        last = np.r_[np.flatnonzero(apart), len(self.starts) - 1]  # (G,)
        lo = np.maximum(self.starts[first] - half, 0)
        hi = np.minimum(self.ends[last] + half, self.n - 1)
        top = np.sort(np.maximum.reduceat(self.s_pad, np.c_[lo, hi + 1].ravel())[::2])  # (G,) top score per group
        return (len(top) - np.searchsorted(top, self.thresholds, side="left")) / len(top)


def _range_overlap(starts: np.ndarray, ends: np.ndarray, hit: np.ndarray, bias: str) -> tuple[np.ndarray, np.ndarray]:
    """Per range: the ``bias``-weighted share of its readings that ``hit`` marks, and whether any is (both ``(R,)``)."""
    lengths = ends - starts + 1
    rid = np.repeat(np.arange(len(starts)), lengths)  # (M,) range of each reading inside a range
    i = np.arange(len(rid)) - np.repeat(np.cumsum(lengths) - lengths, lengths) + 1  # (M,) 1-based place in it
    size = lengths[rid]
    delta = {  # Tatbul et al. 2018, positional bias delta(i, AnomalyLength)
        "flat": np.ones(len(rid)),
        "front": size - i + 1.0,
        "back": i * 1.0,
        "middle": np.where(i <= size / 2, i, size - i + 1.0),
    }[bias]
    inside = hit[starts[rid] + i - 1]  # (M,)
    weight = np.bincount(rid, delta * inside, len(starts)) / np.bincount(rid, delta, len(starts))  # omega()
    return weight, np.bincount(rid, inside, len(starts)) > 0


def _ranges(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and inclusive ends of the runs of True, ``(R,)`` each."""
    edges = np.diff(np.r_[0, y.astype(np.int8), 0])
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _check_scored(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """Labels as bool and scores as float64, both ``(N,)``, with at least one anomalous and one normal reading."""
    y = _check_binary(labels, "labels")
    s = _check_1d(scores, "scores")
    if s.dtype.kind not in "biuf":
        raise DataError(f"scores must be real numbers, got dtype {s.dtype}; pass the detector's numeric scores")
    _check_same_length(y, s, "scores")
    s = s.astype(np.float64)
    bad = int((~np.isfinite(s)).sum())
    if bad:
        raise DataError(f"scores hold {bad} NaN or infinite value(s); fill or drop those readings before scoring")
    if y.all() or not y.any():
        kind = "normal (0)" if y.all() else "anomalous (1)"
        raise DataError(f"labels hold no {kind} reading; the AUCs need at least one anomalous and one normal reading")
    return y, s


def _check_binary(values, name: str) -> np.ndarray:
    v = _check_1d(values, name)
    if v.dtype.kind not in "biuf":
        raise DataError(f"{name} must be 0/1 numbers, got dtype {v.dtype}; mark anomalous readings 1, normal ones 0")
    odd = v[~np.isin(v, (0, 1))]  # (K,)
    if len(odd):
        raise DataError(f"{name} must hold only 0 and 1, found {odd[0].item()!r}; mark anomalies 1, normal readings 0")
    return v.astype(bool)


def _check_1d(values, name: str) -> np.ndarray:
    v = np.asarray(values)
    if v.ndim != 1:
        raise DataError(f"{name} must be 1-D (one value per reading), got shape {v.shape}; pass one series at a time")
    return v


def _check_same_length(a: np.ndarray, b: np.ndarray, name: str) -> None:
    if len(a) != len(b):
        raise DataError(f"labels and {name} differ in length ({len(a)} vs {len(b)}); pass one value per reading")


def _check_count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise ConfigError(f"{name} must be a whole number >= 0, got {value!r}")
    return int(value)
