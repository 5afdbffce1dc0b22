"""MIG against known factors: high when each factor has its own latent, ~0 for noise."""

import numpy as np
import pytest

from vaekit.disentanglement import discretize, entropy, mig


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
