"""VAEAnomalyDetector and ``vaekit detect``: detection quality, conventions, saving, bad input."""

import json
import pickle
import re

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from tests.conftest import SHARED_DATA
from vaekit.cli import main
from vaekit.errors import ConfigError, DataError, ModelFileError, RunDirError
from vaekit.estimators import VAEAnomalyDetector

FAST = {"steps": 150, "random_state": 0}


@pytest.fixture(scope="module")
def blobs():
    """Rows on a noisy 2-D plane in 6-D, plus 5% rows off the plane (label 1)."""
    rng = np.random.default_rng(0)
    n, m = 380, 20
    basis = rng.normal(size=(2, 6))
    normal = rng.normal(size=(n, 2)) @ basis + 0.05 * rng.normal(size=(n, 6))
    odd = rng.normal(size=(m, 6)) * 2.0
    X = np.vstack([normal, odd])
    y = np.r_[np.zeros(n, int), np.ones(m, int)]
    return X, y


@pytest.fixture(scope="module")
def fitted(blobs):
    return VAEAnomalyDetector(**FAST).fit(blobs[0])


def test_finds_rows_off_the_data_manifold(blobs, fitted):
    X, y = blobs
    assert roc_auc_score(y, fitted.anomaly_score(X)) > 0.95
    assert roc_auc_score(y, fitted.decision_scores_) > 0.95


def test_sklearn_and_pyod_conventions_agree(blobs, fitted):
    X, _ = blobs
    anomaly = fitted.anomaly_score(X)
    assert np.array_equal(fitted.score_samples(X), -anomaly)
    assert np.allclose(fitted.decision_function(X), fitted.score_samples(X) - fitted.offset_)
    assert np.array_equal(fitted.decision_scores_, anomaly)  # training rows: same seeded scores
    pred = fitted.predict(X)
    assert set(np.unique(pred)) == {-1, 1}
    assert np.array_equal(pred == -1, anomaly > fitted.threshold_)
    assert np.array_equal(fitted.labels_, (pred == -1).astype(int))
    assert fitted.labels_.mean() == pytest.approx(fitted.contamination, abs=0.01)


@pytest.mark.parametrize("score_type", ["elbo", "reconstruction", "iw"])
def test_scores_are_deterministic_per_model(blobs, score_type):
    X, y = blobs
    det = VAEAnomalyDetector(score_type=score_type, n_samples=5, **FAST).fit(X)
    first = det.anomaly_score(X)
    assert np.array_equal(first, det.anomaly_score(X))
    assert roc_auc_score(y, first) > 0.9
    # A row's score is the row's alone: not moved by its position or by the rows scored beside it.
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(det.anomaly_score(X[order]), first[order], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(det.anomaly_score(X[7:8]), first[7:8], rtol=1e-5, atol=1e-4)


def test_more_posterior_samples_reduce_score_noise(blobs, fitted):
    X, _ = blobs
    one = clone(fitted).set_params(n_samples=1)
    one.model_, one.preprocessor_, one.model_config_ = fitted.model_, fitted.preprocessor_, fitted.model_config_
    many = clone(one).set_params(n_samples=50)
    many.model_, many.preprocessor_, many.model_config_ = one.model_, one.preprocessor_, one.model_config_
    # Scores of one draw move with the draw; the average of 50 hardly does.
    reference = many.anomaly_score(X[:50])
    assert np.abs(one.anomaly_score(X[:50]) - reference).mean() > 2 * np.abs(
        many.set_params(n_samples=40).anomaly_score(X[:50]) - reference
    ).mean()


def test_trimming_keeps_outliers_from_being_learned(blobs):
    X, y = blobs
    trimmed = VAEAnomalyDetector(trim_fraction=0.2, **FAST).fit(X)
    plain = VAEAnomalyDetector(trim_fraction=0.0, **FAST).fit(X)
    gap = lambda det: np.median(det.decision_scores_[y == 1]) - np.median(det.decision_scores_[y == 0])  # noqa: E731
    assert gap(trimmed) > gap(plain)


def test_same_random_state_same_model(blobs):
    X, _ = blobs
    a = VAEAnomalyDetector(**FAST).fit(X).anomaly_score(X)
    b = VAEAnomalyDetector(**FAST).fit(X).anomaly_score(X)
    c = VAEAnomalyDetector(steps=150, random_state=1).fit(X).anomaly_score(X)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_clone_pickle_and_pickle_free_save(tmp_path, blobs, fitted):
    X, _ = blobs
    assert clone(fitted).get_params() == fitted.get_params()
    assert not hasattr(clone(fitted), "model_")
    again = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(again.anomaly_score(X), fitted.anomaly_score(X))
    fitted.save(tmp_path / "det")
    assert sorted(p.name for p in (tmp_path / "det").iterdir()) == ["config.json", "estimator.json", "model.safetensors"]
    loaded = VAEAnomalyDetector.load(tmp_path / "det")
    assert np.array_equal(loaded.anomaly_score(X), fitted.anomaly_score(X))
    assert loaded.threshold_ == fitted.threshold_
    assert np.array_equal(loaded.labels_, fitted.labels_)
    assert loaded.get_params() == fitted.get_params()


def test_load_refuses_missing_and_damaged_folders(tmp_path, fitted):
    with pytest.raises(RunDirError, match="estimator.json is missing"):
        VAEAnomalyDetector.load(tmp_path)
    fitted.save(tmp_path / "det")
    (tmp_path / "det" / "estimator.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="damaged"):
        VAEAnomalyDetector.load(tmp_path / "det")


def test_dataframes_with_categories():
    rng = np.random.default_rng(1)
    n = 300
    frame = pd.DataFrame({"a": rng.normal(size=n), "kind": rng.choice(["x", "y"], n)})
    frame["b"] = np.where(frame["kind"] == "x", 3.0, -3.0) + 0.1 * rng.normal(size=n)
    det = VAEAnomalyDetector(**FAST).fit(frame)
    assert list(det.feature_names_in_) == ["a", "kind", "b"]
    assert det.preprocessor_.output_names == ["a", "kind=x", "kind=y", "b"]
    rows = pd.DataFrame({"a": [0.0, 0.0, 9.0], "kind": ["x", "y", "x"], "b": [3.0, -3.0, 3.0]})
    scores = det.anomaly_score(rows)
    assert scores[0] != scores[1]  # the category reaches the model
    assert det.predict(rows).tolist() == [1, 1, -1]
    with pytest.raises(DataError, match="lacks column\\(s\\) 'kind'"):
        det.anomaly_score(rows.drop(columns="kind"))


def test_images_use_a_conv_model(tiny_images):
    x = tiny_images.copy()
    odd = np.clip(1.0 - x[:4], 0, 1)  # inverted images
    det = VAEAnomalyDetector(steps=60, latent_dim=2, random_state=0).fit(x)
    assert det.model_config_.arch == "conv"
    assert det.model_config_.likelihood == "bernoulli"
    assert det.anomaly_score(odd).min() > det.anomaly_score(x).max()
    with pytest.raises(DataError, match="images of shape"):
        det.anomaly_score(np.zeros((2, 1, 4, 4), np.float32))


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.full((3, 6), np.nan), "missing values"),
        (np.ones((3, 5)), "X has 5 features, but VAEAnomalyDetector is expecting 6"),
        (np.ones((0, 6)), "no rows"),
        (np.array([["a"] * 6]), "holds text"),
    ],
)
def test_bad_input_at_score_time(fitted, bad, match):
    with pytest.raises(DataError, match=match):
        fitted.anomaly_score(bad)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"contamination": 0.7}, "contamination"),
        ({"score_type": "mahalanobis"}, "'score_type' parameter of VAEAnomalyDetector must be a str among"),
        ({"n_samples": 0}, "n_samples"),
        ({"trim_fraction": 1.0}, "trim_fraction"),
        ({"likelihood": "poisson"}, "invalid value for 'likelihood'"),
        ({"scaling": "minmax"}, "'scaling' parameter"),
        ({"prior": "flat"}, "invalid value for 'prior': 'flat' \\(choose from normal, mog, vamp\\)"),
        ({"prior": "vamp", "prior_components": 0}, "'prior_components' parameter"),
        ({"posterior": "maf"}, "invalid value for 'posterior'"),
    ],
)
def test_bad_settings_are_config_errors(blobs, params, match):
    with pytest.raises(ConfigError, match=match):
        VAEAnomalyDetector(**{**FAST, **params}).fit(blobs[0])


@pytest.mark.parametrize("params", [{"prior": "vamp"}, {"prior": "mog", "prior_components": 3}, {"posterior": "iaf"}],
                         ids=["vamp", "mog", "iaf"])
def test_a_learned_prior_or_a_flow_posterior_detects_saves_and_loads(tmp_path, blobs, params):
    X, y = blobs
    det = VAEAnomalyDetector(**FAST, score_type="iw", **params).fit(X)
    prior = det.model_.prior
    if params.get("prior") == "vamp":  # no count given: one pseudo-input per row, the rows being fewer than 500
        assert type(prior).__name__ == "VampPrior" and prior.pseudo_inputs.shape == (len(X), X.shape[1])
    elif params.get("prior") == "mog":
        assert type(prior).__name__ == "MixtureOfGaussiansPrior" and prior.means.shape == (3, det.model_config_.latent_dim)
    else:
        assert det.model_.flow is not None and det.model_config_.posterior == "iaf"
    assert roc_auc_score(y, det.decision_scores_) > 0.95
    det.save(tmp_path / "det")
    loaded = VAEAnomalyDetector.load(tmp_path / "det")
    assert loaded.get_params() == det.get_params()
    assert np.array_equal(loaded.anomaly_score(X), det.anomaly_score(X))


def test_old_score_keyword_still_works_and_warns():
    with pytest.warns(FutureWarning, match="'score' parameter .* deprecated.*score_type='iw'"):
        det = VAEAnomalyDetector(score="iw")
    assert det.score_type == "iw" and not hasattr(det, "score")  # scikit-learn's score() stays free
    assert "score" not in det.get_params() and clone(det).score_type == "iw"
    with pytest.warns(FutureWarning, match="score_type='reconstruction'"):
        det.set_params(score="reconstruction")
    assert det.score_type == "reconstruction"


def test_estimator_saved_before_the_rename_loads(tmp_path, blobs, fitted):
    import json
    import warnings

    fitted.save(tmp_path / "det")
    file = tmp_path / "det" / "estimator.json"
    state = json.loads(file.read_text())
    state["params"]["score"] = state["params"].pop("score_type")
    file.write_text(json.dumps(state))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the user cannot act on a warning about a saved file
        loaded = VAEAnomalyDetector.load(tmp_path / "det")
    assert loaded.get_params() == fitted.get_params()
    assert np.array_equal(loaded.anomaly_score(blobs[0][:20]), fitted.anomaly_score(blobs[0][:20]))


def test_bad_input_at_fit_time():
    with pytest.raises(DataError, match="no rows"):
        VAEAnomalyDetector(**FAST).fit(np.ones((0, 3)))
    with pytest.raises(DataError, match="at least 2"):
        VAEAnomalyDetector(**FAST).fit(np.ones((1, 3)))


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def table(tmp_path, blobs):
    X, y = blobs
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame.insert(0, "id", [f"r{i}" for i in range(len(frame))])
    frame["y"] = y
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False)
    return path


def test_cli_fit_score_evaluate(tmp_path, table, capsys):
    out = tmp_path / "det"
    args = ["--data", str(table), "--label-column", "y", "--id-column", "id"]
    assert main(["detect", "fit", *args, "--out", str(out), "--steps", "150"]) == 0
    assert {"config.json", "model.safetensors", "estimator.json", "scores.csv", "metrics.json",
            "scores_hist.png", "scores_roc.png", "scores_pr.png"} <= {p.name for p in out.iterdir()}
    assert "ROC-AUC 0.9" in capsys.readouterr().out

    scores = tmp_path / "s" / "scores.csv"
    assert main(["detect", "score", str(out), *args, "--out", str(scores)]) == 0
    table_in = pd.read_csv(table)
    got = pd.read_csv(scores)
    assert list(got.columns) == ["id", "score", "is_anomaly"]
    assert list(got["id"]) == list(table_in["id"])  # same row order
    assert roc_auc_score(table_in["y"], got["score"]) > 0.95
    assert {"scores_hist.png", "scores_roc.png", "scores_pr.png"} <= {p.name for p in scores.parent.iterdir()}
    capsys.readouterr()

    assert main(["detect", "evaluate", str(out), *args, "--json"]) == 0
    import json

    metrics = json.loads(capsys.readouterr().out)
    assert metrics["roc_auc"] > 0.95 and metrics["tp"] + metrics["fn"] == 20


def test_cli_refuses_to_overwrite_and_keeps_files(tmp_path, table, capsys):
    out = tmp_path / "det"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["detect", "fit", "--data", str(table), "--label-column", "y", "--id-column", "id",
                 "--out", str(out), "--steps", "20"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda f: f.drop(columns="f3"), "lacks column"),
        (lambda f: f.assign(f2="text"), "'f2' is numeric in the model but holds text"),
        (lambda f: f.assign(f1=np.nan), "missing values"),
        (lambda f: f.iloc[:0], "no rows"),
    ],
)
def test_cli_bad_score_input_is_one_line_and_writes_nothing(tmp_path, table, capsys, change, match):
    out = tmp_path / "det"
    base = ["--data", str(table), "--label-column", "y", "--id-column", "id"]
    assert main(["detect", "fit", *base, "--out", str(out), "--steps", "20", "--quiet"]) == 0
    bad = tmp_path / "bad.csv"
    change(pd.read_csv(table)).to_csv(bad, index=False)
    scores = tmp_path / "scores.csv"
    assert main(["detect", "score", str(out), "--data", str(bad), "--id-column", "id", "--label-column", "y",
                 "--out", str(scores)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert re.search(match, err)
    assert not scores.exists()


def test_cli_fits_a_detector_with_a_learned_prior_and_refuses_a_bad_one(tmp_path, table, capsys):
    out = tmp_path / "det"
    base = ["detect", "fit", "--data", str(table), "--label-column", "y", "--id-column", "id", "--steps", "150"]
    assert main([*base, "--out", str(out), "--prior", "vamp", "--prior-components", "20", "--posterior", "iaf"]) == 0
    assert "ROC-AUC 0.9" in capsys.readouterr().out
    params = json.loads((out / "estimator.json").read_text())["params"]
    assert (params["prior"], params["prior_components"], params["posterior"]) == ("vamp", 20, "iaf")
    assert VAEAnomalyDetector.load(out).model_.prior.pseudo_inputs.shape[0] == 20
    for flags, match in [(["--prior", "flat"], "invalid value for 'prior'"),
                         (["--prior", "mog", "--prior-components", "0"], "prior_components")]:
        assert main([*base, "--out", str(tmp_path / "bad"), *flags]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and match in err
        assert not (tmp_path / "bad").exists()


def test_cli_label_errors(tmp_path, table, capsys):
    frame = pd.read_csv(table)
    frame["y"] = np.where(frame["y"] == 1, "bad", "good")
    path = tmp_path / "text_labels.csv"
    frame.to_csv(path, index=False)
    assert main(["detect", "fit", "--data", str(path), "--label-column", "y", "--out", str(tmp_path / "d")]) == 2
    assert "must hold 0 (normal) and 1 (anomaly)" in capsys.readouterr().err
    assert main(["detect", "fit", "--data", str(table), "--label-column", "nope", "--out", str(tmp_path / "d")]) == 2
    assert "--label-column 'nope' is not in" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


@pytest.mark.skipif(not (SHARED_DATA / "adbench").is_dir(), reason="../shared/data/adbench is not present")
def test_adbench_thyroid_beats_chance_by_far(tmp_path, capsys):
    data = str(SHARED_DATA / "adbench" / "38_thyroid.npz")
    assert main(["detect", "fit", "--data", data, "--out", str(tmp_path / "d"), "--steps", "400"]) == 0
    capsys.readouterr()
    assert main(["detect", "evaluate", str(tmp_path / "d"), "--data", data, "--json"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["roc_auc"] > 0.9


def test_a_fitted_detector_remembers_its_id_and_label_columns(tmp_path, capsys):
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(120, 3)), columns=["a", "b", "c"])
    table["y"] = (np.arange(120) < 12).astype(int)
    table.loc[:11, ["a", "b", "c"]] += 6.0  # the labelled anomalies are far away
    table.insert(0, "id", [f"r{i}" for i in range(120)])
    data = tmp_path / "t.csv"
    table.to_csv(data, index=False)
    fit = ["detect", "fit", "--data", data, "--id-column", "id", "--label-column", "y", "--out", tmp_path / "det",
           "--steps", "50", "--quiet"]
    assert main([str(a) for a in fit]) == 0
    # The same file scores and evaluates without naming the columns again (issue 18: it failed on 'id', 'y').
    assert main(["detect", "score", str(tmp_path / "det"), "--data", str(data), "--out", str(tmp_path / "s.csv"),
                 "--quiet"]) == 0
    scores = pd.read_csv(tmp_path / "s.csv")
    assert scores.iloc[:, 0].tolist() == table["id"].tolist()  # the ids come back as the first column
    assert (tmp_path / "s_roc.png").exists()  # the remembered labels give the ROC and PR curves too
    capsys.readouterr()
    assert main(["detect", "evaluate", str(tmp_path / "det"), "--data", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["anomalies"] == 12
    # A table without them is scored too: a remembered column is used only when the data has it.
    table.drop(columns=["id", "y"]).to_csv(tmp_path / "plain.csv", index=False)
    assert main(["detect", "score", str(tmp_path / "det"), "--data", str(tmp_path / "plain.csv"),
                 "--out", str(tmp_path / "p.csv"), "--quiet"]) == 0
    # An extra column the detector never saw points at the flags that would name it.
    table.assign(note=1.0).to_csv(tmp_path / "extra.csv", index=False)
    capsys.readouterr()
    assert main(["detect", "score", str(tmp_path / "det"), "--data", str(tmp_path / "extra.csv"),
                 "--out", str(tmp_path / "e.csv")]) == 2
    assert "'note' that the model was not fit on; drop them, or name them" in capsys.readouterr().err
    assert not (tmp_path / "e.csv").exists()


def test_an_ensemble_scores_by_mean_rank_and_saves_its_members(blobs, tmp_path):
    """n_models=3: three seeds, each row's score the mean of its ranks among each model's training scores."""
    X, y = blobs
    detector = VAEAnomalyDetector(steps=150, random_state=0, n_models=3).fit(X)
    assert len(detector.members_) == 2
    first, second = (next(m.parameters()) for m in (detector.model_, detector.members_[0]))
    assert not torch.equal(first, second)  # another seed, another model
    scores = detector.decision_scores_
    assert scores.min() > 0 and scores.max() <= 1
    np.testing.assert_allclose(detector.anomaly_score(X), scores)  # new rows ranked against the training scores
    assert roc_auc_score(y, scores) > 0.9
    # The mean of three models' ranks, by hand; the first model is the one random_state=0 fits alone.
    raw = detector._raw_scores(detector.preprocessor_.transform(X))
    np.testing.assert_allclose(raw[0], VAEAnomalyDetector(steps=150, random_state=0).fit(X).decision_scores_)
    by_hand = np.mean([(np.argsort(np.argsort(r)) + 1) / len(r) for r in raw], axis=0)
    np.testing.assert_allclose(scores, by_hand, atol=1e-9)
    detector.save(tmp_path / "d")
    again = VAEAnomalyDetector.load(tmp_path / "d")
    assert len(again.members_) == 2
    np.testing.assert_allclose(again.anomaly_score(X[:20]), detector.anomaly_score(X[:20]))
    with pytest.raises(ConfigError, match="n_models"):
        VAEAnomalyDetector(window=10, n_models=2).fit(np.sin(np.arange(200.0)))
