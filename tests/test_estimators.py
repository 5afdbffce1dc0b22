"""VAETransformer: scikit-learn's estimator checks, pipelines, saving, bad input.

The anomaly detector's behaviour is tested in ``test_anomaly.py``; here it only
runs scikit-learn's checks beside the transformer.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import vaekit
from vaekit.errors import ConfigError, DataError, ModelFileError
from vaekit.estimators import VAEAnomalyDetector, VAETransformer

#: Small enough that each scikit-learn check fits in well under a second.
TINY = {"steps": 10, "hidden_dims": (8,), "latent_dim": 2, "random_state": 0}

EXPECTED_FAILURES = {
    "VAEAnomalyDetector": {
        "check_methods_subset_invariance": (
            "scores come from float32 forward passes, whose last bits change with the batch size "
            "(BLAS blocking): rows agree to ~1e-6 relative, the check asks for 1e-7"
        ),
    },
}


def _expected_failures(estimator) -> dict[str, str]:
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


@pytest.mark.slow
@parametrize_with_checks(
    [VAETransformer(**TINY), VAEAnomalyDetector(n_samples=2, **TINY)],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------- behaviour


@pytest.fixture(scope="module")
def digits():
    """sklearn's 8x8 digits as a 64-column table, split 70/30 with every class in both parts."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def fitted(digits):
    X_train = digits[0]
    return VAETransformer(latent_dim=8, steps=300, random_state=0).fit(X_train)


def test_latents_feed_a_classifier_in_a_pipeline(digits):
    X_train, X_test, y_train, y_test = digits
    pipe = make_pipeline(VAETransformer(latent_dim=8, steps=300, random_state=0), LogisticRegression(max_iter=1000))
    pipe.fit(X_train, y_train)
    assert pipe.score(X_test, y_test) > 0.6  # chance is 0.1
    assert pipe[0].transform(X_test).shape == (len(X_test), 8)


def test_grid_search_picks_latent_dim_by_mean_elbo(digits):
    X_train = digits[0]
    search = GridSearchCV(VAETransformer(steps=100, random_state=0), {"latent_dim": [1, 8]}, cv=2).fit(X_train)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all()
    # One latent dimension cannot hold 64 pixels as well as eight: the ELBO says so.
    assert search.best_params_ == {"latent_dim": 8} and scores[1] > scores[0]
    best = search.best_estimator_
    assert best.score(X_train) == pytest.approx(np.mean(best.score_samples(X_train)))


def test_clone_gives_an_unfitted_copy_with_the_same_params(fitted, digits):
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "model_")
    with pytest.raises(NotFittedError, match="not fitted"):
        copy.transform(digits[1])


def test_same_seed_same_latents(digits):
    X_train = digits[0][:300]
    a = VAETransformer(latent_dim=2, steps=30, random_state=3).fit_transform(X_train)
    b = VAETransformer(latent_dim=2, steps=30, random_state=3).fit_transform(X_train)
    c = VAETransformer(latent_dim=2, steps=30, random_state=4).fit_transform(X_train)
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_pickle_round_trip_gives_identical_outputs(fitted, digits):
    X_test = digits[1]
    back = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(back.transform(X_test), fitted.transform(X_test))
    assert np.array_equal(back.score_samples(X_test), fitted.score_samples(X_test))


def test_save_load_round_trip_without_pickle(fitted, digits, tmp_path):
    X_test = digits[1]
    fitted.save(tmp_path / "vt")
    back = VAETransformer.load(tmp_path / "vt")
    assert back.get_params() == fitted.get_params()
    assert back.n_features_in_ == fitted.n_features_in_ == 64
    assert np.array_equal(back.transform(X_test), fitted.transform(X_test))
    assert np.array_equal(back.transform(X_test, sample=True), fitted.transform(X_test, sample=True))
    z = fitted.transform(X_test[:5])
    assert np.array_equal(back.inverse_transform(z), fitted.inverse_transform(z))
    assert isinstance(vaekit.load(tmp_path / "vt"), vaekit.VAE)  # the folder is a plain model folder too
    with pytest.raises(ModelFileError, match="not a VAEAnomalyDetector"):
        VAEAnomalyDetector.load(tmp_path / "vt")


def test_sampled_latents_are_seeded_draws_around_the_mean(fitted, digits):
    X_test = digits[1]
    mean = fitted.transform(X_test)
    draw = fitted.transform(X_test, sample=True)
    assert np.array_equal(draw, fitted.transform(X_test, sample=True))
    assert not np.allclose(draw, mean)
    # Draws scatter around the posterior mean, so they average out close to it.
    assert np.abs((draw - mean).mean(axis=0)).max() < 0.2


def test_inverse_transform_reconstructs_in_the_units_of_x(fitted, digits):
    X_train, X_test = digits[0], digits[1]
    rebuilt = fitted.inverse_transform(fitted.transform(X_test))
    assert rebuilt.shape == X_test.shape and rebuilt.dtype == np.float64
    assert 0 <= rebuilt.mean() <= 16  # pixel units (0..16), not standardized ones
    assert np.mean((rebuilt - X_test) ** 2) < 0.6 * np.mean((X_train.mean(axis=0) - X_test) ** 2)


def test_feature_names_out_name_the_latents(fitted, digits):
    assert fitted.get_feature_names_out().tolist() == [f"z{i}" for i in range(8)]
    frame = clone(fitted).set_output(transform="pandas").fit(digits[0][:200]).transform(digits[1][:5])
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == [f"z{i}" for i in range(8)]


def test_lists_work_like_arrays():
    rows = np.random.default_rng(0).normal(size=(30, 3))
    vt = VAETransformer(**TINY).fit(rows.tolist())
    assert np.array_equal(vt.transform(rows.tolist()), vt.transform(rows))
    assert not hasattr(vt, "feature_names_in_") and vt.n_features_in_ == 3


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    n = 240
    colour = rng.choice(["red", "green", "blue"], size=n)
    size = rng.normal(size=n) + (colour == "red") * 3
    weight = 2 * size + rng.normal(scale=0.1, size=n)
    return pd.DataFrame({"size": size, "colour": colour, "weight": weight})


def test_dataframe_with_a_text_column_is_one_hot_encoded(table):
    vt = VAETransformer(latent_dim=2, steps=200, random_state=0).fit(table)
    assert vt.feature_names_in_.tolist() == ["size", "colour", "weight"]
    assert vt.n_features_in_ == 3  # input columns, not the five one-hot model inputs
    z = vt.transform(table)
    assert z.shape == (len(table), 2) and np.isfinite(z).all()
    assert np.array_equal(vt.transform(table[["weight", "colour", "size"]]), z)  # columns matched by name
    rebuilt = vt.inverse_transform(z)
    assert rebuilt.shape == (len(table), 3) and rebuilt.dtype == object
    assert set(rebuilt[:, 1]) <= {"red", "green", "blue"}
    assert np.mean(rebuilt[:, 1] == table["colour"].to_numpy()) > 0.6  # chance is 1/3


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (lambda X: X[:, :5], r"X has 5 features, but VAETransformer is expecting 6 features"),
        (lambda X: np.where(np.arange(6) == 2, np.nan, X), r"'x2' have missing values .*NaN"),
        (lambda X: np.where(np.arange(6) == 1, "tall", X.astype(str)).astype(object), r"'x1' .* holds text such as 'tall'"),
        (lambda X: X[:0], "has no rows"),
        (lambda X: X[:, 0], "1-D .* Reshape your data"),
    ],
    ids=["columns", "nan", "text", "empty", "1-d"],
)
def test_bad_input_at_transform_time_is_a_data_error(bad, message):
    X = np.random.default_rng(0).normal(size=(50, 6))
    vt = VAETransformer(**TINY).fit(X)
    with pytest.raises(DataError, match=message):
        vt.transform(bad(X))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.ones((0, 6)), "has no rows"),
        (np.ones((1, 6)), "n_samples=1; fitting needs at least 2"),
        (np.ones((5, 0)), r"0 feature\(s\)"),
        (np.array([[1.0, np.inf], [2.0, 3.0]]), "infinite"),
        (np.array([[1.0, np.nan], [2.0, 3.0]]), "NaN"),
        (np.array([[1 + 1j, 2], [3, 4]]), "Complex data not supported"),
    ],
    ids=["no-rows", "one-row", "no-columns", "inf", "nan", "complex"],
)
def test_bad_input_at_fit_time_is_a_data_error(bad, message):
    with pytest.raises(DataError, match=message):
        VAETransformer(**TINY).fit(bad)


@pytest.mark.parametrize("estimator", [VAETransformer(), VAEAnomalyDetector()], ids=lambda e: type(e).__name__)
def test_every_parameter_has_declared_constraints(estimator):
    assert set(estimator._parameter_constraints) == set(estimator.get_params())


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_samples": 0}, r"'n_samples' parameter of VAETransformer must be an int in the range \[1, inf\)"),
        ({"lr": 0.0}, "'lr' parameter"),
        ({"batch_size": 2.5}, "'batch_size' parameter"),
        ({"random_state": -1}, "'random_state' parameter"),
        ({"categorical": 3}, "'categorical' parameter"),
    ],
)
def test_bad_settings_are_config_errors_before_any_work(params, message):
    with pytest.raises(ConfigError, match=message):
        VAETransformer(**{**TINY, **params}).fit(np.ones((0, 3)))  # the settings fail first, not the empty data


def test_sparse_input_is_refused_with_a_clear_message():
    from scipy import sparse

    with pytest.raises(DataError, match="sparse input is not supported.*toarray"):
        VAETransformer(**TINY).fit(sparse.csr_matrix(np.eye(5)))
