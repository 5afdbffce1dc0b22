"""Time-series anomaly detection: sequence networks, per-reading scores, streaming, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from vaekit import VAEAnomalyDetector
from vaekit.cli import main
from vaekit.config import ModelConfig
from vaekit.errors import ConfigError, DataError
from vaekit.models import build_model

PERIOD = 25


def _series(n: int = 1200, seed: int = 0) -> np.ndarray:
    """A noisy sine of period PERIOD, (n,)."""
    t = np.arange(n)
    return np.sin(2 * np.pi * t / PERIOD) + 0.05 * np.random.default_rng(seed).normal(size=n)


def _detector(**kwargs) -> VAEAnomalyDetector:
    return VAEAnomalyDetector(**{"window": PERIOD, "steps": 300, "random_state": 0, **kwargs})


# --------------------------------------------------------------------------- networks


@pytest.mark.parametrize("arch", ["conv1d", "gru", "mlp"])
@pytest.mark.parametrize("length", [7, 50, 129])
def test_sequence_networks_round_trip_any_window_length(arch, length):
    config = ModelConfig(arch=arch, input_shape=(2, length), likelihood="gaussian", latent_dim=3,
                         hidden_dims=(16,), conv_channels=(8, 16))
    model = build_model(config)
    x = torch.randn(4, 2, length)
    assert model.decode(torch.randn(4, 3)).mean.shape == (4, 2, length)
    nll, kl = model.reconstruction_elements(x, eps=torch.zeros(3))
    assert nll.shape == (4, 2, length) and kl.shape == (4,)
    # The elements sum to the per-sample reconstruction term, with the same draw.
    terms = model.loss_terms(x, eps=torch.zeros(3))
    torch.testing.assert_close(nll.sum((1, 2)), terms.reconstruction)


@pytest.mark.parametrize("arch", ["conv1d", "gru"])
def test_sequence_models_take_the_other_parts_and_save(tmp_path, arch):
    from vaekit.io import load

    config = ModelConfig(arch=arch, input_shape=(1, 30), likelihood="gaussian", latent_dim=2, prior="vamp",
                         pseudo_inputs=4, hidden_dims=(8,), conv_channels=(4, 8))
    model = build_model(config).eval()
    x = torch.randn(5, 1, 30)
    assert model.log_weights(x, 3).shape == (3, 5)
    model.save_pretrained(tmp_path / "m")
    again = load(tmp_path / "m").eval()
    torch.testing.assert_close(again.loss_terms(x, eps=torch.zeros(2)).reconstruction,
                               model.loss_terms(x, eps=torch.zeros(2)).reconstruction)


def test_sequence_archs_refuse_other_shapes():
    with pytest.raises(ConfigError, match="needs sequence windows"):
        ModelConfig(arch="gru", input_shape=(1, 8, 8)).validate()
    assert ModelConfig(input_shape=(3, 40)).resolved_arch() == "conv1d"


# --------------------------------------------------------------------------- the detector


@pytest.fixture(scope="module")
def planted():
    """A series with a spike at 700-703 and a level shift at 1100-1159, and a detector fit on it."""
    x = _series(1500)
    x[700:704] += 4.0  # spike
    x[1100:1160] += 1.5  # level shift
    return x, _detector().fit(x)


@pytest.mark.parametrize("aggregation", ["window", "mean"])
def test_a_planted_spike_and_a_level_shift_are_found(planted, aggregation):
    x, detector = planted
    # The aggregation acts at scoring time only: one fitted model serves both.
    scores = clone_fitted(detector, aggregation=aggregation).anomaly_score(x)
    assert scores.shape == (1500,)
    if aggregation == "window":  # the default: the fit's own scores
        np.testing.assert_allclose(scores, detector.decision_scores_)
    if aggregation == "mean":  # each reading's own term: the spike's readings themselves stand out
        top = set(np.argsort(scores)[-40:])
        assert top & set(range(700, 704)) == set(range(700, 704))
        assert len(top & set(range(1100, 1160))) >= 10
        assert np.median(scores) < scores[700:704].min() / 3
    else:  # the windows' -ELBO: the readings whose windows hold the spike or the shift
        rest = np.delete(scores, np.r_[700 - PERIOD : 704 + PERIOD, 1100 - PERIOD : 1160 + PERIOD])
        assert scores[700:704].min() > np.quantile(rest, 0.99)
        assert scores[1100:1160].mean() > np.quantile(rest, 0.99)
        top = int(np.argmax(scores))
        assert 700 - PERIOD <= top < 704 + PERIOD or 1100 - PERIOD <= top < 1160 + PERIOD


def clone_fitted(detector: VAEAnomalyDetector, **params) -> VAEAnomalyDetector:
    """A copy of a fitted detector (the same model) with other scoring parameters and its own stream context."""
    import copy

    twin = copy.copy(detector)
    twin.context_ = detector.context_.copy()
    return twin.set_params(**params)


def test_scores_come_back_in_the_input_rows():
    """A table given out of time order gets each reading's score on its own row, whatever the aggregation."""
    x = _series(600)
    x[300] += 5.0
    times = pd.date_range("2024-01-01", periods=600, freq="5min")
    frame = pd.DataFrame({"t": times, "v": x})
    fitted = _detector(time_column="t", steps=150).fit(frame)
    shuffled = frame.sample(frac=1.0, random_state=1)
    for aggregation in ("window", "mean", "last"):
        detector = clone_fitted(fitted, aggregation=aggregation)
        in_order = detector.anomaly_score(frame)
        scores = detector.anomaly_score(shuffled)
        np.testing.assert_allclose(scores, in_order[shuffled.index.to_numpy()])
        assert shuffled.index[np.argmax(scores)] in range(300 - PERIOD, 301 + PERIOD), aggregation
    np.testing.assert_allclose(fitted.decision_scores_, clone_fitted(fitted).anomaly_score(frame))


@pytest.mark.parametrize("aggregation", ["window", "last"])
def test_streaming_scores_equal_the_batch_scores_of_the_window_ending_at_each_reading(aggregation):
    from vaekit.series_detection import reading_scores

    x = _series(900)
    detector = _detector(aggregation=aggregation).fit(x[:600])
    streamed = np.concatenate([detector.stream(x[600:700]), detector.stream(x[700:900])])
    values = detector.scaler_.transform(x[:, None])
    whole = reading_scores(detector.model_, values, PERIOD, detector.n_samples, aggregation)["stream"]
    np.testing.assert_allclose(streamed, whole[600:], rtol=1e-5)  # the same windows, all scored at once
    if aggregation == "last":  # "last" is the stream's own score: the batch scores agree too
        np.testing.assert_allclose(streamed, detector.anomaly_score(x)[600:], rtol=1e-5)
    # A spike in the stream stands out against the streaming threshold.
    spike = x[900:1000].copy() if len(x) > 900 else _series(1000)[900:1000]
    spike[50] += 5.0
    flagged = detector.stream(spike) > detector.stream_threshold_
    assert flagged[50]


def test_a_saved_detector_scores_and_streams_the_same(tmp_path):
    x = _series(700)
    detector = _detector(aggregation="mean").fit(x[:500])
    detector.save(tmp_path / "d")
    again = VAEAnomalyDetector.load(tmp_path / "d")
    assert again.window_ == PERIOD
    np.testing.assert_allclose(again.anomaly_score(x), detector.anomaly_score(x))
    np.testing.assert_allclose(again.stream(x[500:]), detector.stream(x[500:]))


def test_multivariate_series_and_auto_window():
    rng = np.random.default_rng(0)
    t = np.arange(1000)
    x = np.stack([np.sin(2 * np.pi * t / 40), np.cos(2 * np.pi * t / 40)], axis=1) + 0.05 * rng.normal(size=(1000, 2))
    x[500, 1] += 4.0  # only the second channel breaks
    detector = VAEAnomalyDetector(window="auto", steps=300, random_state=0).fit(x)
    assert detector.window_ == 80 and detector.n_features_in_ == 2  # two periods
    assert abs(int(np.argmax(detector.decision_scores_)) - 500) <= 40  # within a window of the break


def test_short_series_stop_after_fewer_passes_than_a_table_of_the_same_windows():
    values = _series(300)  # 276 windows of 25: 3 batches, so steps=300 asks for 100 passes
    series = _detector().fit(values)
    windows = np.lib.stride_tricks.sliding_window_view(values, PERIOD)  # the same windows as table rows
    table = VAEAnomalyDetector(steps=300, random_state=0).fit(windows)
    assert series.train_config_.epochs == VAEAnomalyDetector._max_auto_series_epochs
    assert table.train_config_.epochs == VAEAnomalyDetector._max_auto_epochs
    assert series.train_config_.epochs < table.train_config_.epochs
    assert VAEAnomalyDetector(epochs=80, window=PERIOD, random_state=0).fit(values).train_config_.epochs == 80


def test_bad_series_input_is_one_clear_error():
    with pytest.raises(DataError, match="smaller window"):
        _detector(window=500).fit(_series(100))
    detector = _detector(steps=50).fit(_series(200))
    with pytest.raises(DataError, match="fit on 1"):
        detector.anomaly_score(np.zeros((300, 2)))
    with pytest.raises(DataError, match="stream"):
        detector.anomaly_score(np.zeros(10))
    frame = pd.DataFrame({"t": [1, 2, 2, 3], "v": [0.0, 1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match="duplicate"):
        _detector(window=2, time_column="t", steps=5).fit(frame)
    with pytest.raises(ConfigError):
        _detector(aggregation="median").fit(_series(100))


# --------------------------------------------------------------------------- the CLI


def _write_series_csv(path, n=800):
    x = _series(n)
    x[495:506] += 3.0  # a burst: readings 495 to 505
    times = pd.date_range("2024-01-01", periods=n, freq="h")
    frame = pd.DataFrame({"timestamp": times.strftime("%Y-%m-%d %H:%M:%S"), "value": x})
    frame.iloc[::-1].to_csv(path, index=False)  # newest first, as some exports are
    return times


def test_cli_fits_scores_and_evaluates_a_series(tmp_path, capsys):
    (tmp_path / "sensors").mkdir()
    data = tmp_path / "sensors" / "series.csv"
    times = _write_series_csv(data)
    windows = tmp_path / "windows.json"
    windows.write_text(json.dumps({"sensors/series.csv": [[str(times[495]), str(times[505])]]}))
    out = tmp_path / "det"
    code = main(["detect", "fit", "--data", str(data), "--time-column", "timestamp", "--window", str(PERIOD),
                 "--steps", "300", "--label-windows", str(windows), "--out", str(out), "--seed", "0"])
    assert code == 0
    line = capsys.readouterr().out
    assert "windows of 25" in line and "VUS-PR" in line
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["vus_pr"] > 0.1 and metrics["roc_auc"] > 0.8  # a constant score gets about 0.02 (the share)
    scores = pd.read_csv(out / "scores.csv")
    assert list(scores.columns) == ["timestamp", "score", "is_anomaly"]
    # One row per reading in the file's (reversed) order: the burst is on its own rows.
    assert scores.loc[scores["score"].idxmax(), "timestamp"] in {str(t) for t in times[495:506]}
    assert scores["timestamp"].iloc[0] == str(times[-1])
    assert (out / "scores_series.png").stat().st_size > 10_000

    code = main(["detect", "score", str(out), "--data", str(data), "--out", str(tmp_path / "s.csv")])
    assert code == 0
    again = pd.read_csv(tmp_path / "s.csv")
    np.testing.assert_allclose(again["score"], scores["score"])
    assert (tmp_path / "s_series.png").exists()
    capsys.readouterr()
    code = main(["detect", "evaluate", str(out), "--data", str(data), "--label-windows", str(windows), "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["vus_pr"] == pytest.approx(metrics["vus_pr"])


def test_cli_refuses_bad_series_and_writes_nothing(tmp_path, capsys):
    data = tmp_path / "dup.csv"
    pd.DataFrame({"timestamp": ["2024-01-01 00:00", "2024-01-01 00:00", "2024-01-01 01:00"] * 10,
                  "value": np.arange(30.0)}).to_csv(data, index=False)
    out = tmp_path / "det"
    code = main(["detect", "fit", "--data", str(data), "--time-column", "timestamp", "--window", "4",
                 "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "duplicates" in err
    assert not out.exists()
    code = main(["detect", "fit", "--data", str(data), "--value-columns", "value", "--out", str(out)])
    assert code == 2 and "--time-column" in capsys.readouterr().err
    assert not out.exists()


def test_the_cli_offers_the_aggregations_the_detector_has():
    """cli/detect.py keeps its own copy (importing series_detection loads torch); held equal here."""
    from vaekit.cli import detect
    from vaekit.series_detection import AGGREGATIONS

    assert detect.AGGREGATIONS == AGGREGATIONS
