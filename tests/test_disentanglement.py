"""Disentanglement metrics on codes whose answer is known: a perfect code scores near 1, noise near 0 (or chance)."""

import numpy as np
import pytest

from vaekit.disentanglement import (
    N_FIT,
    N_TEST,
    NO_GENERATOR,
    _fit_test_split,
    betavae_score,
    dci,
    discretize,
    entropy,
    factor_metrics,
    factorvae_score,
    mig,
    sap,
)
from vaekit.errors import DataError


def test_mig_is_high_for_latents_equal_to_the_factors_and_near_zero_for_noise():
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 8, size=(4000, 3))
    codes = np.concatenate([factors + rng.normal(0, 0.05, factors.shape), rng.normal(size=(4000, 2))], axis=1)
    assert mig(codes, factors)["mig"] > 0.9
    assert mig(rng.normal(size=(4000, 5)), factors)["mig"] < 0.02


def test_a_factor_split_over_two_latents_has_no_gap():
    rng = np.random.default_rng(1)
    factors = rng.integers(0, 6, size=(3000, 1))
    both = np.concatenate([factors, factors], axis=1) + rng.normal(0, 0.01, (3000, 2))
    assert mig(both, factors, factor_names=["shape"])["per_factor"]["shape"] < 0.05


def test_information_measures_match_closed_forms():
    a = np.repeat(np.arange(4), 24)
    assert entropy(a) == pytest.approx(np.log(4))
    # A latent equal to the factor holds all of its log(4) nats, an unrelated one none.
    result = mig(np.stack([a, np.tile([0, 1], 48)], axis=1), a[:, None])
    assert result["mutual_information"][0] == pytest.approx([np.log(4), 0.0], abs=1e-12)
    assert result["mig"] == pytest.approx(1.0)
    assert discretize(np.array([[0.0], [0.5], [1.0]]), bins=2).ravel().tolist() == [0, 1, 1]


# --------------------------------------------------------------------------- SAP and DCI, from (codes, factors)

SIZES = (3, 6, 8)


def known_codes(n=1500, seed=0):
    """Factors (n, 3), and codes where the answer is known: perfect (one latent a factor), noise, two factors mixed."""
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, k, n) for k in SIZES], axis=1)
    jitter = rng.normal(0, 0.05, factors.shape)
    perfect = factors + jitter
    mixed = np.stack([factors[:, 0] + factors[:, 1], factors[:, 0] - factors[:, 1], factors[:, 2]], axis=1) + jitter
    return factors, {"perfect": perfect, "noise": rng.normal(size=(n, 3)), "mixed": mixed}


def test_sap_is_near_one_for_a_perfect_code_and_near_zero_for_noise():
    factors, codes = known_codes()
    continuous = {name: sap(c, factors, continuous=True)["sap"] for name, c in codes.items()}
    assert continuous["perfect"] > 0.95 and continuous["noise"] < 0.02
    assert continuous["noise"] < continuous["mixed"] < 0.6  # two factors share two latents: smaller gaps
    # The classifiers' form: the second-best latent guesses at chance, so a perfect binary factor scores 1 - 1/2.
    rng = np.random.default_rng(3)
    binary = rng.integers(0, 2, size=(900, 2))
    result = sap(binary + rng.normal(0, 0.05, binary.shape), binary, factor_names=["a", "b"])
    assert result["per_factor"]["a"] == pytest.approx(0.5, abs=0.06) and result["sap"] == pytest.approx(0.5, abs=0.06)
    assert sap(rng.normal(size=(900, 2)), binary)["sap"] < 0.08
    assert np.array(result["scores"]).shape == (2, 2)


def test_dci_is_near_one_for_a_perfect_code_near_zero_for_noise_and_lower_when_factors_mix():
    factors, codes = known_codes()
    perfect, noise, mixed = (dci(codes[name], factors) for name in ("perfect", "noise", "mixed"))
    for key in ("disentanglement", "completeness", "informativeness"):
        assert perfect[key] > 0.95, key
    assert noise["disentanglement"] < 0.1 and noise["completeness"] < 0.1
    assert noise["informativeness"] < 0.45  # chance: the largest class of each factor, 1/3 .. 1/8
    assert noise["disentanglement"] < mixed["disentanglement"] < 0.8
    assert mixed["informativeness"] > 0.9  # the information is all there, only not one factor per latent
    assert np.array(perfect["importance"]).argmax(axis=0).tolist() == [0, 1, 2]


def test_the_split_follows_the_protocol_and_bad_input_is_a_data_error():
    fit, test = _fit_test_split(20_000, N_FIT, N_TEST, seed=0)
    assert (len(fit), len(test)) == (10_000, 5_000) and not set(fit) & set(test)
    fit, test = _fit_test_split(90, N_FIT, N_TEST, seed=0)  # fewer rows than the protocol: 2/3 fit, 1/3 test
    assert (len(fit), len(test)) == (60, 30)
    with pytest.raises(DataError, match="same rows"):
        dci(np.zeros((10, 2)), np.zeros((9, 1)))
    with pytest.raises(DataError, match="latent_dim >= 2"):
        sap(np.zeros((10, 1)), np.zeros((10, 1)))


# --------------------------------------------------------------------------- beta-VAE and FactorVAE, from a generator


def sample_factors(n, rng):
    return np.stack([rng.integers(0, k, n) for k in SIZES], axis=1)  # (n, 3)


def observe(factors):
    return factors.astype(np.float64)  # (n, 3) the toy generator: an observation is its factors


def identity(x):
    return x  # the perfect encoder: one latent per factor


def ignores_input(x, rng=np.random.default_rng(0)):
    return rng.normal(size=(len(x), 4))  # codes unrelated to the observation


PROTOCOL = {"n_train": 300, "n_eval": 300, "batch_size": 16}


def test_betavae_score_is_one_for_a_perfect_encoder_and_chance_for_one_that_ignores_the_data():
    perfect = betavae_score(identity, sample_factors, observe, **PROTOCOL)
    assert perfect["score"] == 1.0 and perfect["n_train"] == 300 and perfect["batch_size"] == 16
    chance = betavae_score(ignores_input, sample_factors, observe, **PROTOCOL)["score"]
    assert abs(chance - 1 / len(SIZES)) < 0.1


def test_factorvae_score_is_one_for_a_perfect_encoder_chance_for_noise_and_zero_when_collapsed():
    perfect = factorvae_score(identity, sample_factors, observe, n_variance=1000, **PROTOCOL)
    assert perfect["score"] == 1.0 and perfect["active_dims"] == 3
    chance = factorvae_score(ignores_input, sample_factors, observe, n_variance=1000, **PROTOCOL)["score"]
    assert abs(chance - 1 / len(SIZES)) < 0.12
    # A latent stuck near 0 (variance < 0.05) is pruned: it cannot win the vote by never moving.
    stuck = factorvae_score(lambda x: np.c_[x, 0.01 * x[:, :1]], sample_factors, observe, n_variance=1000, **PROTOCOL)
    assert stuck["score"] == 1.0 and stuck["active_dims"] == 3
    collapsed = factorvae_score(lambda x: 0.01 * x, sample_factors, observe, n_variance=1000, **PROTOCOL)
    assert collapsed["score"] == 0.0 and collapsed["active_dims"] == 0


def test_generative_scores_check_their_protocol_and_their_encoder():
    with pytest.raises(DataError, match="batch_size"):
        factorvae_score(identity, sample_factors, observe, n_train=5, n_eval=5, batch_size=1)
    with pytest.raises(DataError, match="encode must return codes"):
        betavae_score(lambda x: x[:1], sample_factors, observe, n_train=5, n_eval=5, batch_size=4)


def test_factor_metrics_skips_the_generative_scores_without_a_generator():
    factors, codes = known_codes(600)

    class Toy:
        sample_factors = staticmethod(sample_factors)
        observations = staticmethod(observe)

    labels_only = factor_metrics(codes["perfect"], factors)
    assert labels_only["skipped"] == [NO_GENERATOR] and "betavae" not in labels_only
    assert labels_only["mig"] > 0.5 and labels_only["sap_continuous"] > 0.95 and labels_only["dci_completeness"] > 0.9
    full = factor_metrics(codes["perfect"], factors, encode=identity, source=Toy(), n_train=50, n_eval=50)
    assert full["skipped"] == [] and full["betavae"] == 1.0 and full["factorvae"] == 1.0
    assert "50 training" in full["protocol"]["betavae"] and full["protocol"]["rows_fit"] == 400
