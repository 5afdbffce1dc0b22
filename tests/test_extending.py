"""The model interface is open: a prior, a model family and networks defined here, outside the package.

Everything below is user code. It is trained by vaekit's trainer, measured by
vaekit's IW log-likelihood (checked against the exact marginal of a
linear-Gaussian model), sampled, traversed, saved and loaded, with no change
to vaekit. Models saved by vaekit 0.1.0 (tests/data/saved-0.1.0) still load
and give the numbers they gave then.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, MultivariateNormal, Normal

import vaekit
from vaekit.config import ModelConfig
from vaekit.errors import ConfigError, ModelFileError
from vaekit.evaluation import active_units, evaluate, iw_log_likelihood
from vaekit.explore import traverse
from vaekit.models import MODELS, VAE
from vaekit.posteriors import DiagonalGaussian
from vaekit.priors import Prior

D, Z, OBS_STD = 5, 2, 0.5
SAVED = Path(__file__).parent / "data" / "saved-0.1.0"


class LearnedGaussianPrior(Prior):
    """p(z) = N(m, diag(s^2)) with m and log s^2 learned."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__(latent_dim)
        self.mu = nn.Parameter(torch.zeros(latent_dim))
        self.logvar = nn.Parameter(torch.zeros(latent_dim))

    def forward(self) -> DiagonalGaussian:
        return DiagonalGaussian(self.mu, self.logvar)


class MixturePrior(Prior):
    """A learned two-component Gaussian mixture: its KL to q has no closed form."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__(latent_dim)
        self.means = nn.Parameter(torch.tensor([[-1.5] * latent_dim, [1.5] * latent_dim]))
        self.logits = nn.Parameter(torch.zeros(2))

    def forward(self) -> MixtureSameFamily:
        components = Independent(Normal(self.means, torch.ones_like(self.means)), 1)
        return MixtureSameFamily(Categorical(logits=self.logits), components)


class LinearGaussianVAE(VAE):
    """x = W z + b + noise, z from a learned Gaussian: a family whose marginal p(x) is known exactly."""

    name = "toy-linear-gaussian"

    @dataclass
    class Options:
        encoder_bias: bool = True
        """Give the linear encoder a bias."""

    def build_networks(self, config):
        d = math.prod(config.input_shape)
        return nn.Linear(d, 2 * config.latent_dim, bias=self.options.encoder_bias), nn.Linear(config.latent_dim, d)

    def build_prior(self, config):
        return LearnedGaussianPrior(config.latent_dim)

    def exact_log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) = log N(x; W m + b, W S W^T + sigma^2 I), per row."""
        w, b = self.decoder.weight.double(), self.decoder.bias.double()  # (D, Z), (D,)
        p = self.prior()
        covariance = w @ torch.diag(p.logvar.double().exp()) @ w.T + OBS_STD**2 * torch.eye(len(b), dtype=torch.float64)
        return MultivariateNormal(w @ p.mu.double() + b, covariance).log_prob(x.double())


@pytest.fixture(scope="module")
def toy_data():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(D, Z, generator=g)
    z = 1.0 + 0.7 * torch.randn(3000, Z, generator=g)
    return (z @ w.T + OBS_STD * torch.randn(3000, D, generator=g)).numpy().astype(np.float32)


@pytest.fixture(scope="module")
def trained(toy_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("toy") / "run"
    result = vaekit.train(
        toy_data, out=out, model=LinearGaussianVAE.name, likelihood="gaussian", obs_std=OBS_STD, latent_dim=Z,
        epochs=25, batch_size=100, lr=1e-2, val_fraction=0.1, quiet=True,
    )
    return result, out


def test_a_family_defined_outside_the_package_is_registered_and_owns_its_options():
    assert MODELS[LinearGaussianVAE.name] is LinearGaussianVAE
    with pytest.raises(ConfigError, match="has no option 'iw_samples'; its options are encoder_bias"):
        LinearGaussianVAE(ModelConfig(input_shape=(D,), latent_dim=Z, options={"iw_samples": 2}))
    model = LinearGaussianVAE(ModelConfig(input_shape=(D,), latent_dim=Z, options={"encoder_bias": "false"}))
    assert model.encoder.bias is None and model.config.options == {"encoder_bias": False}
    assert model.config.model == LinearGaussianVAE.name  # the model knows its family


def test_the_trainer_learns_the_new_prior_and_the_iw_nll_converges_to_the_exact_marginal(trained, toy_data):
    result, _ = trained
    model = result.model
    # The learned prior moved from N(0, I): its parameters had gradients through the KL.
    assert not torch.allclose(model.prior.mu, torch.zeros(Z))
    x = torch.from_numpy(toy_data[:300])
    exact = model.exact_log_marginal(x)  # (300,)
    log_px = {k: iw_log_likelihood(model, x, k=k, seed=1)[0].double() for k in (1, 10, 2000)}
    # The bound rises with K (Burda et al. 2015, theorem 1) and reaches the exact log p(x).
    assert log_px[1].mean() < log_px[10].mean() < log_px[2000].mean() <= exact.mean() + 0.01
    assert (log_px[2000] - exact).abs().mean() < 0.02
    # At K = 1 the estimate is the ELBO: its expectation matches evaluate()'s ELBO.
    elbo = evaluate(model, x, n_samples=50)["elbo"]
    assert log_px[1].mean().item() == pytest.approx(elbo, abs=0.05)
    # The KL reported everywhere is KL(q || the learned prior), from one function: it is the ELBO's gap.
    units = active_units(model, x)
    assert units["kl_per_dim"] is not None and sum(units["kl_per_dim"]) == pytest.approx(units["kl"])
    assert units["count"] == Z


def test_sampling_and_traversals_ask_the_new_prior(trained):
    model = trained[0].model
    samples = model.sample(20000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(samples, model.sample(20000, generator=torch.Generator().manual_seed(0)))
    implied_mean = model.decoder.weight @ model.prior.mu + model.decoder.bias
    torch.testing.assert_close(samples.mean(0), implied_mean.detach(), atol=0.05, rtol=0)
    cold = model.sample(3, temperature=0.0)
    torch.testing.assert_close(cold, implied_mean.detach().expand(3, D))  # temperature 0: the prior's mean
    # A traversal sweeps the prior's quantiles: its middle column is the prior's median, not z = 0.
    grid = traverse(model, steps=3, span=2.0)  # (Z, 3, D)
    torch.testing.assert_close(grid[0, 1], implied_mean.detach())
    spread = model.prior().std * 2.0
    torch.testing.assert_close(grid[0, 2] - grid[0, 0], model.decoder.weight[:, 0].detach() * 2 * spread[0], atol=0.05, rtol=0)


def test_the_new_family_saves_and_loads_pickle_free(trained, toy_data):
    result, out = trained
    assert json.loads((out / "config.json").read_text())["model"]["model"] == LinearGaussianVAE.name
    back = vaekit.load(out)
    assert type(back) is LinearGaussianVAE
    x = torch.from_numpy(toy_data[:50])
    for name, tensor in result.model.state_dict().items():
        assert torch.equal(tensor, back.state_dict()[name]), name
    torch.testing.assert_close(
        back.log_weights(x, 4, torch.Generator().manual_seed(0)),
        result.model.log_weights(x, 4, torch.Generator().manual_seed(0)),
    )


def test_a_prior_without_a_closed_form_kl_trains_on_the_monte_carlo_kl(toy_data):
    config = ModelConfig(input_shape=(D,), latent_dim=Z, likelihood="gaussian", obs_std=OBS_STD, hidden_dims=(16,))
    model = VAE(config, prior=MixturePrior(Z))
    x = torch.from_numpy(toy_data[:64])
    terms = model.loss_terms(x, torch.Generator().manual_seed(0))
    assert terms.kl_per_dim is None  # a mixture's KL does not split by dimension
    terms.loss(1.0).mean().backward()
    assert model.prior.means.grad.abs().sum() > 0  # the prior learns through log p(z)
    # The IW estimate weights with the mixture's density: the mean IW log-weight is the (sampled) ELBO.
    model.zero_grad()
    log_px, iw_elbo = iw_log_likelihood(model, x, k=200)
    assert (log_px >= iw_elbo).all()
    assert evaluate(model, x, n_samples=200)["elbo"] == pytest.approx(iw_elbo.mean().item(), abs=0.3)


# --------------------------------------------------------------------------- networks of your own


class TwoLayerEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(D, 32), nn.Tanh(), nn.Linear(32, 2 * Z))

    def forward(self, x):
        return self.net(x)


class TwoLayerDecoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(Z, 32), nn.Tanh(), nn.Linear(32, D))

    def forward(self, z):
        return self.net(z)


def test_user_networks_train_save_and_load_only_with_the_same_classes(toy_data, tmp_path):
    result = vaekit.train(
        toy_data, out=tmp_path / "own", likelihood="gaussian", latent_dim=Z, epochs=3, quiet=True,
        encoder=TwoLayerEncoder(), decoder=TwoLayerDecoder(),
    )
    saved = json.loads((tmp_path / "own" / "config.json").read_text())["model"]["user_modules"]
    assert saved == {"encoder": "TwoLayerEncoder", "decoder": "TwoLayerDecoder"}
    with pytest.raises(ModelFileError, match=r"encoder of your own \(TwoLayerEncoder\); pass the same network"):
        vaekit.load(tmp_path / "own")
    back = vaekit.load(tmp_path / "own", encoder=TwoLayerEncoder(), decoder=TwoLayerDecoder())
    x = torch.from_numpy(toy_data[:10])
    torch.testing.assert_close(back.embed(x), result.model.embed(x))
    with pytest.raises(ModelFileError, match="vaekit's own prior; pass no prior="):
        vaekit.load(tmp_path / "own", encoder=TwoLayerEncoder(), decoder=TwoLayerDecoder(), prior=MixturePrior(Z))


# --------------------------------------------------------------------------- models saved before this interface

# What vaekit 0.1.0 computed for these folders (tests/data/saved-0.1.0, written by it): the ELBO of the
# first 200 digits, the sum of 4 seeded samples and of the posterior means.
BEFORE = {
    "vae": (-43.28038819074631, 125.20741945505142, 8.401942357420921),
    "iwae": (-43.18501050710678, 125.24416789412498, 8.51316910982132),
    "m2": (-43.45841524600983, 127.23966979980469, -38.76536029204726),
}


@pytest.mark.parametrize("family", sorted(BEFORE))
def test_models_saved_by_vaekit_0_1_load_and_give_the_same_numbers(family):
    from vaekit.data import load_data

    model = vaekit.load(SAVED / family)
    assert model.name == family
    x = torch.as_tensor(load_data("digits").x[:200], dtype=torch.float32)
    elbo, sample_sum, embed_sum = BEFORE[family]
    assert evaluate(model, x)["elbo"] == pytest.approx(elbo, abs=1e-4)
    assert float(model.sample(4, generator=torch.Generator().manual_seed(3)).double().sum()) == pytest.approx(sample_sum, abs=1e-3)
    assert float(model.embed(x).double().sum()) == pytest.approx(embed_sum, abs=1e-3)
    # Their flat options were read into the family's options.
    if family == "iwae":
        assert model.options.iw_samples == 3
    if family == "m2":
        assert model.options.classifier_weight == pytest.approx(3.234)
