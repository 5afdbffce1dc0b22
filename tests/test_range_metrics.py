import subprocess
import sys
import time

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from vaekit.errors import ConfigError, DataError
from vaekit.range_metrics import point_metrics, range_auc, range_precision_recall, series_metrics, vus


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Five ranges (one at the very end) and a detector firing ``2 * seed`` readings early, over tied noise.

    Integer arithmetic only, no random stream: the hard-coded ``vus`` package numbers below stay valid.
    """
    i = np.arange(n)
    noise = (i * i * 7919 + i * 31 + seed * 104729) % 1009  # (N,) 0..1008
    labels = np.zeros(n, int)
    for start, length in ((3 + seed, 5), (40, 12), (58 + seed, 2), (n // 2, 1), (n - 4, 4)):
        labels[start : start + length] = 1
    return labels, (noise // 10 + 50 * np.roll(labels, -2 * seed)).astype(float)


def _soft_labels(labels: np.ndarray, buffer: int) -> np.ndarray:
    """Paparrizos et al. 2022, as the ``vus`` package builds them: ramps of buffer // 2 readings, summed, capped."""
    soft, n = labels.astype(float), len(labels)
    for s, e in zip(*_runs(labels)):
        for d in range(1, buffer // 2 + 1):
            for i in (s - d, e + d):
                if 0 <= i < n:
                    soft[i] += np.sqrt(1 - d / buffer)
    return np.minimum(soft, 1.0)


def _runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    edges = np.diff(np.r_[0, labels, 0])
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1


def _slow_range_auc(labels: np.ndarray, scores: np.ndarray, buffer: int, fpr: str = "negatives") -> tuple:
    """Range-AUC by a loop over every distinct threshold, from the definitions in the module doc.

    ``fpr="vus"`` divides false positives by the ``vus`` package's ``N - (P + B / 2)`` instead of ``sum(1 - y)``.
    """
    n, half, p = len(labels), buffer // 2, labels.sum()
    soft = _soft_labels(labels, buffer)
    groups = []  # the widened ranges, merged where they overlap (the package's new_sequence)
    for s, e in zip(*_runs(labels)):
        if groups and groups[-1][1] >= s - half:
            groups[-1][1] = e + half
        else:
            groups.append([max(s - half, 0), e + half])
    fprs, tprs, precisions = [0.0], [0.0], []
    for t in sorted(set(scores.tolist()), reverse=True):
        pred = scores >= t
        tp = soft[pred].sum()
        buffer_hits = tp - labels[pred].sum()
        found = sum(pred[a : b + 1].any() for a, b in groups)
        tprs.append(min(tp / (p + buffer_hits / 2), 1.0) * found / len(groups))
        negatives = n - soft.sum() if fpr == "negatives" else n - (p + buffer_hits / 2)
        fprs.append((pred.sum() - tp) / negatives)
        precisions.append(tp / pred.sum())
    fprs.append(1.0)
    tprs.append(1.0)
    roc = sum((fprs[k] - fprs[k - 1]) * (tprs[k] + tprs[k - 1]) / 2 for k in range(1, len(fprs)))
    pr = sum((tprs[k] - tprs[k - 1]) * precisions[k - 1] for k in range(1, len(precisions) + 1))
    return roc, pr


def _edge_cases() -> tuple[np.ndarray, np.ndarray]:
    """Ranges at both ends, gaps of 1, 2 and 3 readings (they merge at small buffers), single readings, ties."""
    labels = np.zeros(90, int)
    for start, length in ((0, 3), (10, 1), (12, 2), (16, 1), (20, 1), (50, 6), (87, 3)):
        labels[start : start + length] = 1
    scores = np.random.default_rng(3).integers(0, 4, 90) + 2.0 * labels  # few distinct values: many ties
    return labels, scores.astype(float)


SERIES = {
    "aligned": _synthetic(200, 0),
    "early by 2": _synthetic(200, 1),
    "early by 4": _synthetic(200, 2),
    "edge cases": _edge_cases(),
    "gaussian": (_synthetic(150, 0)[0], np.random.default_rng(0).normal(size=150) + _synthetic(150, 0)[0]),
}


@pytest.mark.parametrize("name", SERIES)
def test_matches_a_loop_over_thresholds_at_every_buffer(name):
    labels, scores = SERIES[name]
    for buffer in range(14):
        assert range_auc(labels, scores, buffer) == pytest.approx(_slow_range_auc(labels, scores, buffer), abs=1e-12)


# (VUS-ROC, VUS-PR) from the `vus` package 0.0.6: `pip download vus==0.0.6 --no-deps`, vus/utils/metrics.py imported
# by path (its dependencies not installed), metricor().RangeAUC_volume_opt(labels, scores, W, thre=250)[4:] on
# _synthetic(200, seed). With N <= 250 its 250 sampled thresholds are all the distinct scores.
VUS_PACKAGE = {
    0: {1: (0.920217803030303, 0.735761018705196), 16: (0.9532565092576926, 0.8094392342348088)},
    1: {1: (0.6302320075757576, 0.2613704482270189), 16: (0.8587556892716799, 0.594011592919785)},
    2: {1: (0.46496212121212116, 0.19510776354304113), 16: (0.7525767543351609, 0.43225570850798833)},
}


@pytest.mark.parametrize("seed", VUS_PACKAGE)
def test_agrees_with_the_vus_package_where_the_definitions_coincide(seed):
    labels, scores = _synthetic(200, seed)
    # Buffers 0 and 1 have no ramp: both areas coincide.
    assert tuple(vus(labels, scores, 1).values()) == pytest.approx(VUS_PACKAGE[seed][1], abs=1e-9)
    # With ramps, TPR and precision coincide, so VUS-PR does ...
    ours = vus(labels, scores, 16)
    assert ours["vus_pr"] == pytest.approx(VUS_PACKAGE[seed][16][1], abs=1e-9)
    # ... and VUS-ROC differs only by the FPR denominator: the package's one reproduces its number.
    package_roc = np.mean([_slow_range_auc(labels, scores, b, fpr="vus")[0] for b in range(17)])
    assert package_roc == pytest.approx(VUS_PACKAGE[seed][16][0], abs=1e-9)
    assert ours["vus_roc"] < package_roc


def test_a_perfect_score_gets_one_at_every_buffer():
    labels, _ = _edge_cases()
    for buffer in range(30):
        assert range_auc(labels, labels * 1.0, buffer) == (1.0, 1.0)
    assert vus(labels, labels, 40) == {"vus_roc": 1.0, "vus_pr": 1.0}


@pytest.mark.parametrize("name", ["aligned", "edge cases"])
def test_a_constant_score_gets_one_half_and_the_anomaly_share(name):
    labels, _ = SERIES[name]
    constant = np.full(len(labels), 7.0)
    shares = [_soft_labels(labels, b).mean() for b in range(21)]  # the anomaly share of the buffered labels
    assert shares[0] == shares[1] == labels.mean()
    for buffer in range(21):
        assert range_auc(labels, constant, buffer) == pytest.approx((0.5, shares[buffer]), abs=1e-12)
    assert vus(labels, constant, 20) == pytest.approx({"vus_roc": 0.5, "vus_pr": np.mean(shares)}, abs=1e-12)


def test_a_random_score_sits_at_the_share():
    rng = np.random.default_rng(1)
    labels = np.zeros(20_000, int)
    for start in rng.choice(19_900, 30, replace=False):
        labels[start : start + rng.integers(5, 60)] = 1
    baseline = vus(labels, np.zeros(len(labels)), 50)["vus_pr"]
    assert baseline > 1.3 * labels.mean()  # the buffers add anomaly mass
    assert vus(labels, rng.random(len(labels)), 50)["vus_pr"] == pytest.approx(baseline, rel=0.1)
    roc, pr = range_auc(labels, rng.random(len(labels)), 0)
    assert roc == pytest.approx(0.5, abs=0.03)
    assert pr == pytest.approx(labels.mean(), rel=0.1)


def test_buffer_zero_is_the_point_auc_times_the_existence_reward():
    rng = np.random.default_rng(2)
    labels = np.zeros(300, int)
    for start, length in ((20, 10), (100, 3), (250, 25)):
        labels[start : start + length] = 1
    scores = rng.normal(size=300) + labels
    scores[[25, 101, 260]] = 10.0  # the top threshold hits every range: existence is 1 throughout
    point = point_metrics(labels, scores)
    assert point == {"roc_auc": roc_auc_score(labels, scores), "pr_auc": average_precision_score(labels, scores)}
    for buffer in (0, 1):
        assert range_auc(labels, scores, buffer) == pytest.approx((point["roc_auc"], point["pr_auc"]), abs=1e-12)
    scores[100:103] = scores.min() - 1  # one range found only at the last threshold: its readings count 1/3 less
    roc, _ = range_auc(labels, scores, 0)
    assert roc < point_metrics(labels, scores)["roc_auc"] - 0.01
    assert roc == pytest.approx(_slow_range_auc(labels, scores, 0)[0], abs=1e-12)


def test_hits_at_the_edge_of_a_range_earn_more_with_a_larger_buffer():
    rng = np.random.default_rng(4)
    labels = np.zeros(1000, int)
    scores = rng.random(1000)
    for start in (100, 400, 700):
        labels[start : start + 20] = 1
        scores[start - 3 : start] += 2  # a detector that fires just before each anomaly
    areas = np.array([range_auc(labels, scores, b) for b in (0, 4, 8, 16)])  # (4, 2)
    assert (np.diff(areas, axis=0) > 0).all()
    assert vus(labels, scores, 16)["vus_pr"] > vus(labels, scores, 4)["vus_pr"] > vus(labels, scores, 0)["vus_pr"]


def test_a_monotone_transform_of_the_scores_changes_nothing():
    labels, scores = SERIES["edge cases"]
    expected = vus(labels, scores, 12)
    ranks = np.unique(scores, return_inverse=True)[1]  # ties stay tied
    for transformed in (np.exp(3 * scores), 5 * scores - 2, ranks, scores.astype(np.float32)):
        assert vus(labels, transformed, 12) == pytest.approx(expected, abs=1e-12)


def test_buffers_covering_the_whole_series_leave_no_false_positive():
    labels = np.array([1, 0, 1, 0, 0, 1])
    assert range_auc(labels, np.array([0.1, 0.9, 0.2, 0.5, 0.4, 0.3]), 6) == (1.0, 1.0)


#    labels                  predicted               alpha  (precision, recall)
HAND_COMPUTED = {
    "one range fully detected": ("001111000000", "001111000000", 0.0, (1.0, 1.0)),
    "half detected": ("001111000000", "001100000000", 0.0, (1.0, 0.5)),
    "half detected, existence weighs half": ("001111000000", "001100000000", 0.5, (1.0, 0.75)),
    "two predictions inside one range": ("001111110000", "001100100000", 0.0, (1.0, 0.5)),
    "a prediction outside all ranges": ("001111000000", "001111001100", 0.0, (0.5, 1.0)),
    "a prediction half inside": ("001111000000", "000011110000", 0.0, (0.5, 0.5)),
    "one of two ranges found": ("011000111100", "000000110000", 0.0, (1.0, 0.25)),
    "one of two ranges found, existence only": ("011000111100", "000000110000", 1.0, (1.0, 0.5)),
    "nothing predicted": ("001111000000", "000000000000", 0.0, (0.0, 0.0)),
}


@pytest.mark.parametrize("case", HAND_COMPUTED)
def test_range_precision_recall_on_hand_computed_cases(case):
    labels, predicted, alpha, expected = HAND_COMPUTED[case]
    as_array = lambda text: np.array([int(c) for c in text])  # noqa: E731
    assert range_precision_recall(as_array(labels), as_array(predicted), alpha=alpha) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("bias", "first_half", "middle_two"),
    [("flat", 2 / 4, 2 / 4), ("front", 7 / 10, 5 / 10), ("back", 3 / 10, 5 / 10), ("middle", 3 / 6, 4 / 6)],
)
def test_positional_bias_weighs_the_recall(bias, first_half, middle_two):
    labels = np.array([0, 0, 1, 1, 1, 1, 0, 0])  # Tatbul et al. 2018: delta over i = 1..4 of the range
    _, recall = range_precision_recall(labels, np.array([0, 0, 1, 1, 0, 0, 0, 0]), bias=bias)
    assert recall == pytest.approx(first_half)
    precision, recall = range_precision_recall(labels, np.array([0, 0, 0, 1, 1, 0, 0, 0]), bias=bias)
    assert (precision, recall) == pytest.approx((1.0, middle_two))


def test_series_metrics_gathers_everything():
    labels, scores = _synthetic(200, 1)
    out = series_metrics(labels, scores, window=16)
    assert out == {**point_metrics(labels, scores), **vus(labels, scores, 16)}
    flagged = series_metrics(labels, scores, window=16, threshold=60.0)
    predicted = scores > 60.0
    rp, rr = range_precision_recall(labels, predicted)
    hits = (predicted & (labels == 1)).sum()
    assert flagged == pytest.approx({
        **out, "range_precision": rp, "range_recall": rr, "range_f1": 2 * rp * rr / (rp + rr),
        "precision": hits / predicted.sum(), "recall": hits / labels.sum(), "n_flagged": predicted.sum(),
    })
    assert 0 < flagged["n_flagged"] < 200 and isinstance(flagged["n_flagged"], int)
    nothing = series_metrics(labels, scores, window=4, threshold=1e9)
    assert (nothing["n_flagged"], nothing["range_f1"], nothing["precision"], nothing["recall"]) == (0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([[0, 1], [1, 0]], [[0.1, 0.2], [0.3, 0.4]], "must be 1-D"),
        ([0, 1, 0], [0.1, 0.2], r"differ in length \(3 vs 2\)"),
        ([0, 1, 0], [0.1, np.nan, 0.3], "1 NaN or infinite"),
        ([0, 2, 0], [0.1, 0.2, 0.3], "only 0 and 1, found 2"),
        (["a", "b", "a"], [0.1, 0.2, 0.3], "0/1 numbers"),
        ([0, 1, 0], ["x", "y", "z"], "real numbers"),
        ([0, 0, 0], [0.1, 0.2, 0.3], r"no anomalous \(1\) reading"),
        ([1, 1, 1], [0.1, 0.2, 0.3], r"no normal \(0\) reading"),
    ],
)
def test_bad_inputs_raise_a_data_error(labels, scores, message):
    for call in (point_metrics, lambda y, s: range_auc(y, s, 2), lambda y, s: vus(y, s, 2)):
        with pytest.raises(DataError, match=message):
            call(labels, scores)
    with pytest.raises(DataError, match=message):
        series_metrics(labels, scores, window=2)


def test_bad_predictions_and_settings():
    labels, scores = np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.8, 0.3])
    with pytest.raises(DataError, match="no anomalous reading"):
        range_precision_recall(np.zeros(4), labels)
    with pytest.raises(DataError, match="predicted must hold only 0 and 1"):
        range_precision_recall(labels, scores)
    for bad in (-1, 2.5, True):
        with pytest.raises(ConfigError, match="buffer must be a whole number"):
            range_auc(labels, scores, bad)
    with pytest.raises(ConfigError, match="max_buffer must be"):
        vus(labels, scores, -3)
    with pytest.raises(ConfigError, match=r"alpha must be a number in \[0, 1\]"):
        range_precision_recall(labels, labels, alpha=1.5)
    with pytest.raises(ConfigError, match="bias must be one of flat, front, back, middle"):
        range_precision_recall(labels, labels, bias="end")
    with pytest.raises(ConfigError, match="window must be a whole number"):
        series_metrics(labels, scores, window=-3)
    with pytest.raises(ConfigError, match="threshold must be a finite number"):
        series_metrics(labels, scores, window=2, threshold=float("nan"))


def test_importing_loads_neither_torch_nor_pandas():
    code = "import sys, vaekit.range_metrics; print(sorted({'torch', 'pandas', 'sklearn'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_25k_readings_and_300_buffers_take_well_under_seconds():
    rng = np.random.default_rng(5)
    labels = np.zeros(25_000, int)
    for start in rng.choice(24_800, 40, replace=False):
        labels[start : start + rng.integers(1, 200)] = 1
    scores = rng.normal(size=25_000) + labels
    start = time.perf_counter()
    vus(labels, scores, 300)
    assert time.perf_counter() - start < 5  # about 0.2 s on an idle core; a loop over thresholds takes minutes
