"""The photo-patches benchmark's 8-bit readings of the Gaussian and Bernoulli likelihoods: true distributions."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from photo_patches import DiscretizedBernoulli, DiscretizedGaussian  # noqa: E402 - benchmarks/ is not a package

from vaekit.likelihoods import BernoulliLikelihood, GaussianLikelihood  # noqa: E402

LEVELS = torch.arange(256, dtype=torch.float64).div(255).view(256, 1)  # every 8-bit value of one subpixel


@pytest.mark.parametrize("logit", [-400.0, -8.0, -1e-9, 0.0, 3e-7, 0.7, 12.0, 900.0])
def test_the_bernoulli_over_the_levels_sums_to_one_and_follows_p_to_the_x(logit):
    likelihood = DiscretizedBernoulli(BernoulliLikelihood((1,)))
    params = torch.full((256, 1), logit, dtype=torch.float64)
    log_p = likelihood.log_prob(params, LEVELS)  # (256,)
    assert torch.isfinite(log_p).all()
    assert torch.logsumexp(log_p, 0).item() == pytest.approx(0.0, abs=1e-9)
    # the levels keep the Bernoulli's odds: log P(x) - log P(y) = l (x - y), whatever the normaliser
    assert (log_p[200] - log_p[50]).item() == pytest.approx(logit * 150 / 255, rel=1e-9, abs=1e-9)


def test_the_bernoulli_over_the_levels_is_uniform_at_logit_zero_and_broadcasts_over_samples():
    likelihood = DiscretizedBernoulli(BernoulliLikelihood((3,)))
    x = torch.tensor([[0.0, 0.5, 1.0]])  # (1, 3), one row
    params = torch.zeros(4, 1, 3)  # (K, B, 3): K posterior draws
    assert likelihood.log_prob(params, x).shape == (4, 1)
    assert torch.allclose(likelihood.log_prob(params, x), torch.tensor(-3 * torch.log(torch.tensor(256.0))))


@pytest.mark.parametrize(("mean", "std"), [(0.3, 0.1), (0.0, 1e-3), (1.2, 0.05), (0.5, 4.0)])
def test_the_gaussian_over_the_levels_sums_to_one(mean, std):
    likelihood = DiscretizedGaussian(GaussianLikelihood((1,), obs_std=std))
    log_p = likelihood.log_prob(torch.full((256, 1), mean, dtype=torch.float64), LEVELS)
    # within 1e-7: torch's float64 log_ndtr is good to about 1e-8 (3072 subpixels: < 1e-6 bits/dim in all)
    assert torch.logsumexp(log_p, 0).item() == pytest.approx(0.0, abs=1e-7)
    assert log_p[0].exp().item() == pytest.approx(float(torch.special.ndtr(torch.tensor((0.5 / 255 - mean) / std, dtype=torch.float64))), rel=1e-6)
