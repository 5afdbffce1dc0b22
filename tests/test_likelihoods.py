import math

import pytest
import torch
import torch.nn.functional as F

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
    params = torch.randn(5, *lik.params_shape)
    x = torch.rand(5, *shape)
    dist = lik.distribution(params)
    expected = dist.log_prob(x)
    assert expected.shape == (5,)
    torch.testing.assert_close(lik.log_prob(params, x), expected, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(lik.mean(params), dist.mean)


@pytest.mark.parametrize("name", sorted(LIKELIHOODS))
def test_log_prob_broadcasts_over_leading_sample_dimensions(name):
    lik = build_likelihood(name, (2, 3), obs_std=0.5)
    params = torch.randn(4, 5, *lik.params_shape)  # (K, B, *params_shape)
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


# --------------------------------------------------------------------------- the discretized logistic mixture

LEVELS = torch.arange(256, dtype=torch.float64) / 255  # the 256 values of 8-bit data in [0, 1]


def mixture_params(logits, loc, log_scale, coeffs=()):
    """The decoder output (1, P, 1, 1) of a one-pixel image from per-component values, in the likelihood's layout.

    logits (K,); loc, log_scale (K, C); coeffs (K, C(C-1)/2), the raw values the likelihood squashes with tanh.
    """
    parts = [torch.as_tensor(p, dtype=torch.float32).flatten() for p in (logits, loc, log_scale, coeffs)]
    return torch.cat(parts).reshape(1, -1, 1, 1)


def logistic_bin_log_probs(mu, scale, x):
    """log P(x) of one discretized logistic in float64, the tails in the form that keeps their digits."""
    x, mu = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(mu, dtype=torch.float64)
    lower, upper = (x - 1 / 510 - mu) / scale, (x + 1 / 510 - mu) / scale
    left = torch.sigmoid(upper) - torch.sigmoid(lower)
    right = torch.sigmoid(-lower) - torch.sigmoid(-upper)  # the same mass, measured from the right tail
    p = torch.where(x - mu > 0, right, left)
    p = torch.where(x < 0.5 / 255, torch.sigmoid(upper), torch.where(x > 1 - 0.5 / 255, torch.sigmoid(-lower), p))
    return p.log()


def test_discrete_likelihoods_say_so():
    kinds = {name: cls.discrete for name, cls in LIKELIHOODS.items()}
    assert kinds == {"bernoulli": True, "gaussian": False, "gaussian-learned": False, "logistic-mixture": True}


@pytest.mark.parametrize(
    "shape, components, expected",
    [((3, 32, 32), 10, (100, 32, 32)), ((1, 28, 28), 5, (15, 28, 28)), ((2, 3, 4), 1, (6, 3, 4)), ((6,), 2, (6, 6))],
)
def test_logistic_mixture_reads_several_numbers_per_position(shape, components, expected):
    # PixelCNN++'s 10 per component for RGB: a weight, 3 means, 3 log-scales, 3 channel coefficients.
    assert build_likelihood("logistic-mixture", shape, mixture_components=components).params_shape == expected
    for name in ("bernoulli", "gaussian", "gaussian-learned"):
        assert build_likelihood(name, shape).params_shape == shape


@pytest.mark.parametrize("channels", [1, 2])
def test_logistic_mixture_probabilities_over_every_8bit_value_sum_to_one(channels):
    torch.manual_seed(0)
    lik = build_likelihood("logistic-mixture", (channels, 1, 1), mixture_components=3)
    params = 3 * torch.randn(1, *lik.params_shape)  # log-scales from about e^-9 (clamped) to e^9
    values = torch.cartesian_prod(*[LEVELS.float()] * channels).reshape(-1, channels, 1, 1)  # (256^C, C, 1, 1)
    total = lik.log_prob(params, values).double().exp().sum()
    assert total.item() == pytest.approx(1.0, abs=1e-4)


def test_one_logistic_matches_its_cdf_over_the_bins():
    mu, scale = 0.3, 0.05
    lik = build_likelihood("logistic-mixture", (1, 1, 1), mixture_components=1)
    params = mixture_params([0.0], [[mu]], [[math.log(scale)]]).expand(256, -1, -1, -1)
    got = lik.log_prob(params, LEVELS.float().reshape(256, 1, 1, 1))
    torch.testing.assert_close(got.double(), logistic_bin_log_probs(mu, scale, LEVELS), rtol=1e-5, atol=1e-5)
    # The edge bins take the whole tails: P(0) = F(1/510), P(255) = 1 - F(1 - 1/510).
    assert got[0].exp().item() == pytest.approx(torch.sigmoid(torch.tensor((1 / 510 - mu) / scale)).item(), rel=1e-5)


@pytest.mark.parametrize("mu, x", [(0.02, 0.9), (0.98, 0.05), (0.5, 0.5 + 4 / 255), (0.4, 0.0), (0.6, 1.0)])
def test_logistic_mixture_keeps_its_digits_far_in_the_tails(mu, x):
    scale = 0.002  # x is up to 440 scales from the mean: both sigmoids round to 0 or 1 in float32
    lik = build_likelihood("logistic-mixture", (1, 1, 1), mixture_components=1)
    params = mixture_params([0.0], [[mu]], [[math.log(scale)]]).requires_grad_()
    got = lik.log_prob(params, torch.tensor(x).reshape(1, 1, 1, 1))
    expected = logistic_bin_log_probs(mu, scale, x)
    assert torch.isfinite(got).all() and got.item() == pytest.approx(expected.item(), rel=1e-5)
    got.sum().backward()
    assert torch.isfinite(params.grad).all()


def test_rgb_means_depend_linearly_on_the_lower_channels():
    # Salimans et al. 2017, eq. 3: mu_G + a R, mu_B + b R + c G, with a, b, c = tanh of the decoder's numbers.
    mu, scale, raw = torch.tensor([0.2, 0.5, 0.7]), torch.tensor([0.03, 0.05, 0.08]), torch.tensor([0.4, -0.9, 1.3])
    a, b, c = torch.tanh(raw).double()
    lik = build_likelihood("logistic-mixture", (3, 1, 1), mixture_components=1)
    params = mixture_params([0.0], mu[None], scale.log()[None], raw[None])
    for rgb in ([0.25, 0.5, 0.8], [0.0, 1.0, 0.4], [120 / 255, 3 / 255, 1.0]):
        r, g, blue = torch.tensor(rgb, dtype=torch.float64)
        means = (mu[0], mu[1] + a * r, mu[2] + b * r + c * g)
        expected = sum(logistic_bin_log_probs(m, s.item(), v) for m, s, v in zip(means, scale, (r, g, blue)))
        got = lik.log_prob(params, torch.tensor(rgb).reshape(1, 3, 1, 1))
        assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_logistic_mixture_weights_its_components():
    lik = build_likelihood("logistic-mixture", (1, 1, 1), mixture_components=2)
    weights = torch.tensor([0.3, 0.7])
    params = mixture_params(weights.log(), [[0.2], [0.7]], [[math.log(0.02)], [math.log(0.1)]])
    expected = torch.logsumexp(
        weights.double().log()[:, None]
        + torch.stack([logistic_bin_log_probs(0.2, 0.02, LEVELS), logistic_bin_log_probs(0.7, 0.1, LEVELS)]),
        dim=0,
    )
    got = lik.log_prob(params.expand(256, -1, -1, -1), LEVELS.float().reshape(256, 1, 1, 1))
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-5)


def clipped_logistic_mean(mu, scale):
    """E[clip(X, 0, 1)] for X ~ Logistic(mu, scale)."""
    return scale * (F.softplus(mu / scale) - F.softplus((mu - 1) / scale))


def test_logistic_mixture_mean_is_the_expected_value_over_the_8bit_levels():
    grey = build_likelihood("logistic-mixture", (1, 1, 1), mixture_components=4)
    # One component near 0, one drifted far above 1 (all its mass on the level 1), two inside.
    weights, locs = torch.tensor([0.2, 0.1, 0.3, 0.4]), [[0.02], [5.0], [0.35], [0.55]]
    params = mixture_params(weights.log(), locs, [[math.log(s)] for s in (0.03, 0.05, 0.03, 0.05)])
    probs = grey.log_prob(params.expand(256, -1, -1, -1), LEVELS.float().reshape(256, 1, 1, 1)).double().exp()
    assert grey.mean(params).item() == pytest.approx((probs * LEVELS).sum().item(), abs=1e-4)
    # Not the mixture's mean clipped: the drifted component pulls the pixel to 1 at most.
    lonely = mixture_params(torch.tensor([0.9, 0.1]).log(), [[0.5], [5.0]], [[math.log(0.05)]] * 2)
    two = build_likelihood("logistic-mixture", (1, 1, 1), mixture_components=2)
    assert two.mean(lonely).item() == pytest.approx(0.55, abs=1e-4)


def test_rgb_mixture_mean_feeds_each_components_expected_lower_channels_forward():
    lik = build_likelihood("logistic-mixture", (3, 1, 1), mixture_components=2)
    raw = torch.tensor([[0.5, -0.2, 0.3], [1.0, 0.0, 1.0]])  # per component: the raw a, b, c
    loc = torch.tensor([[0.3, 0.2, 0.4], [0.6, 0.1, 1.4]])
    scale = torch.tensor([[0.02, 0.05, 0.1], [0.04, 0.03, 0.2]])
    params = mixture_params(torch.tensor([0.25, 0.75]).log(), loc, scale.log(), raw)
    a, b, c = torch.tanh(raw).T
    r = clipped_logistic_mean(loc[:, 0], scale[:, 0])
    g = clipped_logistic_mean(loc[:, 1] + a * r, scale[:, 1])
    blue = clipped_logistic_mean(loc[:, 2] + b * r + c * g, scale[:, 2])
    expected = (torch.tensor([0.25, 0.75])[:, None] * torch.stack([r, g, blue], dim=1)).sum(0)
    torch.testing.assert_close(lik.mean(params).flatten(), expected)
    assert lik.mean(params).shape == (1, 3, 1, 1)


def test_a_decoder_output_of_the_wrong_shape_is_named():
    lik = build_likelihood("logistic-mixture", (3, 4, 4), mixture_components=2)
    with pytest.raises(ConfigError, match=r"reads decoder outputs of shape \(20, 4, 4\)"):
        lik.log_prob(torch.zeros(2, 3, 4, 4), torch.rand(2, 3, 4, 4))


@pytest.mark.filterwarnings("ignore:posterior collapse")
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("arch", ["mlp", "conv", "resnet"])
def test_a_logistic_mixture_vae_trains_saves_and_loads(tmp_path, arch, channels):
    import numpy as np

    import vaekit

    rng = np.random.default_rng(0)
    x = (rng.integers(0, 4, size=(48, channels, 8, 8)) * 85).astype(np.float32) / 255  # 4 of the 256 levels
    result = vaekit.train(
        x, out=tmp_path / "run", arch=arch, likelihood="logistic-mixture", mixture_components=2, epochs=3,
        batch_size=16, latent_dim=2, hidden_dims=(16,), conv_channels=(4, 8), val_fraction=0, quiet=True,
    )
    losses = [row["train_loss"] for row in result.history]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    model = result.model.eval()
    assert model.decoder(torch.zeros(1, 2)).shape == (1, 2 * (1 + 2 * channels + channels * (channels - 1) // 2), 8, 8)
    back = vaekit.load(tmp_path / "run")
    assert back.config.likelihood == "logistic-mixture" and back.config.mixture_components == 2
    xt = torch.from_numpy(x[:5])
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(back.log_weights(xt, 4, g1), model.log_weights(xt, 4, g2))
    samples = back.sample(3, generator=torch.Generator().manual_seed(1))
    assert samples.shape == (3, channels, 8, 8) and 0 <= samples.min() and samples.max() <= 1
    assert torch.equal(samples, model.sample(3, generator=torch.Generator().manual_seed(1)))
