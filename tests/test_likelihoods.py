import math

import pytest
import torch

from vaekit.errors import ConfigError
from vaekit.likelihoods import LIKELIHOODS, build_likelihood

SHAPES = [(6,), (2, 3, 4)]


@pytest.mark.parametrize("name", sorted(LIKELIHOODS))
@pytest.mark.parametrize("shape", SHAPES)
def test_fused_log_prob_equals_the_distribution(name, shape):
    torch.manual_seed(0)
    lik = build_likelihood(name, shape, obs_std=0.3)
    if name == "gaussian-learned":
        with torch.no_grad():
            lik.log_std.uniform_(-1, 1)
    params = torch.randn(5, *shape)
    x = torch.rand(5, *shape)
    dist = lik.distribution(params)
    expected = dist.log_prob(x)
    assert expected.shape == (5,)
    torch.testing.assert_close(lik.log_prob(params, x), expected, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(lik.mean(params), dist.mean)


@pytest.mark.parametrize("name", sorted(LIKELIHOODS))
def test_log_prob_broadcasts_over_leading_sample_dimensions(name):
    lik = build_likelihood(name, (2, 3), obs_std=0.5)
    params = torch.randn(4, 5, 2, 3)  # (K, B, *event)
    x = torch.rand(5, 2, 3)  # (B, *event)
    got = lik.log_prob(params, x)
    assert got.shape == (4, 5)
    for k in range(4):
        torch.testing.assert_close(got[k], lik.log_prob(params[k], x))


def test_gaussian_matches_the_textbook_density():
    lik = build_likelihood("gaussian", (1,), obs_std=2.0)
    value = lik.log_prob(torch.tensor([[1.0]]), torch.tensor([[3.0]]))
    assert value.item() == pytest.approx(-0.5 * (2 / 2) ** 2 - math.log(2.0) - 0.5 * math.log(2 * math.pi))


def test_learned_variance_is_a_trained_parameter():
    lik = build_likelihood("gaussian-learned", (4,))
    x = torch.randn(64, 4) * 3.0
    opt = torch.optim.Adam(lik.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        (-lik.log_prob(torch.zeros_like(x), x).mean()).backward()
        opt.step()
    # The maximum-likelihood std of zero-mean data is its RMS (about 3).
    std = lik.log_std.exp()
    torch.testing.assert_close(std, x.square().mean(0).sqrt(), rtol=0.05, atol=0.05)


def test_unknown_likelihood_is_a_config_error():
    with pytest.raises(ConfigError, match="choose from"):
        build_likelihood("poisson", (3,))
