"""Priors and flow posteriors: densities, sampling, the IW log-likelihood, and every model x prior x posterior."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, MultivariateNormal, Normal

import vaekit
from vaekit.config import ModelConfig
from vaekit.errors import ConfigError
from vaekit.evaluation import evaluate, iw_log_likelihood
from vaekit.explore import traverse
from vaekit.flows import IAF, FlowPosterior
from vaekit.models import VAE, build_model
from vaekit.posteriors import DiagonalGaussian
from vaekit.priors import DiagonalGaussianMixture, MixtureOfGaussiansPrior, VampPrior


def test_mixture_density_matches_torch_distributions_and_its_draws_follow_it():
    torch.manual_seed(0)
    logits, mu, logvar = torch.randn(4), torch.randn(4, 3), torch.randn(4, 3) * 0.3
    mixture = DiagonalGaussianMixture(logits, mu, logvar)
    reference = MixtureSameFamily(Categorical(logits=logits), Independent(Normal(mu, torch.exp(0.5 * logvar)), 1))
    z = torch.randn(5, 7, 3)
    torch.testing.assert_close(mixture.log_prob(z), reference.log_prob(z), atol=1e-5, rtol=1e-5)
    draws = mixture.sample((40000,), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(draws.mean(0), reference.mean, atol=0.03, rtol=0)
    torch.testing.assert_close(draws, mixture.sample((40000,), generator=torch.Generator().manual_seed(1)))


def test_iaf_log_det_is_the_jacobian_and_the_flow_is_autoregressive():
    torch.manual_seed(0)
    flow = IAF(4, steps=1)
    z, h = torch.randn(4), torch.randn(8)
    jacobian = torch.autograd.functional.jacobian(lambda v: flow(v, h)[0], z)  # (4, 4)
    assert torch.allclose(jacobian.triu(1), torch.zeros(4, 4), atol=1e-7)  # output i depends on inputs <= i
    torch.testing.assert_close(flow(z, h)[1], torch.logdet(jacobian), atol=1e-5, rtol=0)
    two = IAF(4, steps=3)
    torch.testing.assert_close(two(z, h)[1], torch.logdet(torch.autograd.functional.jacobian(lambda v: two(v, h)[0], z)),
                               atol=1e-5, rtol=0)


def test_a_flow_posterior_scores_its_own_draws_by_the_change_of_variables():
    torch.manual_seed(0)
    base = DiagonalGaussian(torch.randn(3, 2), torch.randn(3, 2) * 0.2)
    flow = IAF(2, steps=2)
    q = FlowPosterior(base, flow, torch.randn(3, 4))
    z = q.rsample((5,), generator=torch.Generator().manual_seed(0))  # (5, 3, 2)
    z0 = base.rsample((5,), generator=torch.Generator().manual_seed(0))
    expected = base.log_prob(z0) - flow(z0, q.context.expand(5, 3, 4))[1]
    torch.testing.assert_close(q.log_prob(z), expected)
    with pytest.raises(NotImplementedError, match="scores only the codes it drew"):
        q.log_prob(z.clone())


class LinearGaussianMixtureVAE(VAE):
    """x = W z + b + N(0, s^2 I) under a learned mixture prior: p(x) is a Gaussian mixture, known exactly."""

    name = "test-linear-mixture"

    def build_networks(self, config):
        d = math.prod(config.input_shape)
        return nn.Sequential(nn.Linear(d, 32), nn.Tanh(), nn.Linear(32, 2 * config.latent_dim)), nn.Linear(config.latent_dim, d)

    def exact_log_marginal(self, x):
        w, b, s2 = self.decoder.weight.double(), self.decoder.bias.double(), self.config.obs_std**2
        logits, mu, logvar = (t.double() for t in self.prior.components())
        means = mu @ w.T + b  # (K, D)
        covs = w @ torch.diag_embed(logvar.exp()) @ w.T + s2 * torch.eye(len(b), dtype=torch.float64)  # (K, D, D)
        per_component = MultivariateNormal(means, covs).log_prob(x.double()[:, None, :])  # (N, K)
        return torch.logsumexp(per_component + torch.log_softmax(logits, -1), dim=-1)


def test_iw_nll_under_a_mixture_prior_converges_to_the_exact_marginal():
    torch.manual_seed(0)
    config = ModelConfig(model=LinearGaussianMixtureVAE.name, input_shape=(4,), latent_dim=2, likelihood="gaussian",
                         obs_std=0.3, prior="mog", prior_components=3)
    model = build_model(config)
    x = torch.randn(300, 4) @ torch.randn(4, 4) * 0.5
    trainer = vaekit.Trainer(model, vaekit.TrainConfig(epochs=15, batch_size=50, lr=3e-3, device="cpu"))
    trainer.fit(x)
    model.eval()
    exact = model.exact_log_marginal(x[:100])
    estimates = {k: iw_log_likelihood(model, x[:100], k=k, seed=0)[0].double() for k in (1, 20, 5000)}
    assert estimates[1].mean() < estimates[20].mean() < estimates[5000].mean()
    assert (estimates[5000] - exact).abs().mean() < 0.05
    # The mean log-weight is the ELBO (the K = 1 estimate in expectation): it agrees with evaluate()'s Monte Carlo KL.
    iw_elbo = iw_log_likelihood(model, x[:100], k=2000, seed=1)[1].double().mean().item()
    assert iw_elbo == pytest.approx(evaluate(model, x[:100], n_samples=200)["elbo"], abs=0.05)
    assert estimates[1].mean().item() == pytest.approx(iw_elbo, abs=0.5)


def test_the_vamp_prior_is_the_mixture_of_the_posteriors_of_its_pseudo_inputs():
    model = build_model(ModelConfig(input_shape=(1, 6, 6), latent_dim=3, arch="mlp", hidden_dims=(16,), prior="vamp",
                                    pseudo_inputs=7))
    assert isinstance(model.prior, VampPrior) and model.prior.pseudo_inputs.shape == (7, 1, 6, 6)
    u = model.prior.inputs()
    assert u.min() >= 0 and u.max() <= 1  # bounded like Bernoulli data
    q = model.posterior(u)
    z = torch.randn(5, 3)
    expected = torch.logsumexp(q.log_prob(z[:, None, :]), dim=1) - math.log(7)  # (5,)
    torch.testing.assert_close(model.prior.log_prob(z), expected, atol=1e-5, rtol=1e-5)
    # The encoder is saved once, under the model; the prior holds only the pseudo-inputs.
    assert [k for k in model.state_dict() if k.startswith("prior.")] == ["prior.pseudo_inputs"]
    model.loss_terms(torch.rand(4, 1, 6, 6).bernoulli()).loss(1.0).mean().backward()
    assert model.prior.pseudo_inputs.grad.abs().sum() > 0


def test_settings_that_cannot_apply_are_refused():
    with pytest.raises(ConfigError, match="invalid value for 'prior'"):
        build_model(ModelConfig(input_shape=(4,), prior="laplace"))
    with pytest.raises(ConfigError, match="invalid value for 'posterior'"):
        build_model(ModelConfig(input_shape=(4,), posterior="nf"))
    with pytest.raises(ConfigError, match="free_bits needs a KL that splits by dimension"):
        build_model(ModelConfig(input_shape=(4,), prior="mog", free_bits=0.5))
    with pytest.raises(ConfigError, match="prior 'vamp' is for unconditional models"):
        build_model(ModelConfig(model="cvae", input_shape=(4,), prior="vamp", num_classes=2))
    with pytest.raises(ConfigError, match="pseudo_inputs"):
        ModelConfig(input_shape=(4,), pseudo_inputs=0).validate()


CASES = [
    (model, prior, posterior)
    for model in ("vae", "iwae", "cvae", "m2")
    for prior in ("normal", "mog", "vamp")
    for posterior in ("gaussian", "iaf")
    if not (prior == "vamp" and model in ("cvae", "m2"))
]


@pytest.mark.parametrize("model, prior, posterior", CASES)
def test_every_model_prior_and_posterior_trains_samples_saves_and_loads(tmp_path, model, prior, posterior):
    torch.manual_seed(0)
    conditional = model in ("cvae", "m2")
    config = ModelConfig(model=model, input_shape=(1, 6, 6), latent_dim=3, arch="mlp", hidden_dims=(16,), prior=prior,
                         prior_components=4, pseudo_inputs=5, posterior=posterior, num_classes=3 if conditional else 0)
    m = build_model(config)
    x = torch.rand(12, 1, 6, 6).bernoulli()
    y = (torch.arange(12) % 3) if conditional else None
    if model == "m2":
        y[::2] = -1
    before = [p.detach().clone() for p in m.parameters()]
    trainer = vaekit.Trainer(m, vaekit.TrainConfig(epochs=2, batch_size=6, device="cpu", val_fraction=0.0))
    trainer.fit(x) if y is None else trainer.fit(x, train_y=y)
    assert all(not torch.equal(a, b) for a, b in zip(before, m.parameters()) if a.numel() > 1)
    m.eval()
    m.save_pretrained(tmp_path / "m")
    back = vaekit.load(tmp_path / "m")
    labels = None if y is None else y.clamp(min=0)
    torch.testing.assert_close(back.embed(x, y=labels), m.embed(x, y=labels), rtol=0, atol=0)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    torch.testing.assert_close(back.sample(4, generator=g1), m.sample(4, generator=g2), rtol=0, atol=0)
    assert traverse(back, steps=3).shape == (3, 3, 1, 6, 6)
    if not conditional:
        log_px, elbo = iw_log_likelihood(back, x, k=30)
        assert torch.isfinite(log_px).all() and (log_px >= elbo - 1e-4).all()


def test_a_mog_prior_learns_where_the_codes_are():
    torch.manual_seed(0)
    prior = MixtureOfGaussiansPrior(2, components=2)
    codes = torch.cat([torch.randn(200, 2) * 0.3 + 3, torch.randn(200, 2) * 0.3 - 3])
    optimizer = torch.optim.Adam(prior.parameters(), lr=0.05)
    for _ in range(300):
        optimizer.zero_grad()
        (-prior.log_prob(codes).mean()).backward()
        optimizer.step()
    means = prior.components()[1].detach()
    assert sorted(means[:, 0].tolist())[0] == pytest.approx(-3, abs=0.2)
    assert sorted(means[:, 0].tolist())[1] == pytest.approx(3, abs=0.2)


# --------------------------------------------------------------------------- from the command line


@pytest.mark.parametrize(
    "flags",
    [
        ["--prior", "vamp", "--pseudo-inputs", "6", "--posterior", "iaf"],
        ["--prior", "mog", "--prior-components", "3"],
        ["--model", "hvae", "--prior", "vamp", "--pseudo-inputs", "6", "--option", "top_latent_dim=2",
         "--option", "x_branch=layer"],
        ["--model", "hvae", "--prior", "vamp", "--pseudo-inputs", "6", "--option", "top_latent_dim=2", "--dropout", "0.3"],
    ],
    ids=["vamp-iaf", "mog", "hvae-vamp-layer", "hvae-vamp-dropout"],
)
def test_the_cli_trains_resumes_bitwise_samples_evaluates_and_traverses_every_part(tmp_path, capsys, flags):
    from safetensors.torch import load_file

    from vaekit.cli import main

    data = tmp_path / "tiny.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=(rng.uniform(size=(48, 1, 6, 6)) > 0.5).astype(np.float32))
    common = ["train", "--data", data, "--latent-dim", "3", "--hidden-dims", "16", "--arch", "mlp", "--batch-size", "16",
              "--quiet", "--checkpoint-every", "2", *flags]
    assert main([str(a) for a in [*common, "--out", tmp_path / "straight", "--epochs", "2"]]) == 0
    # A run stopped after its first epoch, then resumed from its checkpoint, ends bitwise where the straight one did.
    assert main([str(a) for a in [*common, "--out", tmp_path / "resumed", "--epochs", "1"]]) == 0
    assert main([str(a) for a in [*common, "--out", tmp_path / "resumed", "--epochs", "2", "--resume", "auto"]]) == 0
    straight, resumed = load_file(tmp_path / "straight" / "model.safetensors"), load_file(tmp_path / "resumed" / "model.safetensors")
    assert straight.keys() == resumed.keys() and all(torch.equal(straight[k], resumed[k]) for k in straight)
    run = tmp_path / "straight"
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(data), "--iw-samples", "20", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["iw_nll"] <= -report["elbo"] + 1e-3 and report["active_units"] >= 0
    for argv in (["sample", run, "-n", "8", "--out", tmp_path / "s.png"], ["traverse", run, "--out", tmp_path / "t.png"],
                 ["encode", run, "--data", data, "--out", tmp_path / "z.npy"]):
        assert main([str(a) for a in argv]) == 0
    assert np.load(tmp_path / "z.npy").shape[0] == 48
    assert (tmp_path / "s.png").stat().st_size > 0 and (tmp_path / "t.png").stat().st_size > 0


def test_a_frozen_prior_is_computed_once_and_gives_the_same_iw_estimate():
    torch.manual_seed(0)
    model = build_model(ModelConfig(input_shape=(1, 6, 6), latent_dim=3, arch="mlp", hidden_dims=(16,), prior="vamp",
                                    pseudo_inputs=5)).eval()
    x = torch.rand(6, 1, 6, 6).bernoulli()
    calls = []
    model.prior.register_forward_hook(lambda *_: calls.append(1))
    with model.prior.frozen() as p:
        assert model.prior() is p and model.prior() is p and len(calls) == 1
    assert model.prior() is not p  # thawed: computed again from the current weights
    with torch.no_grad():
        direct = torch.stack([model.log_weights(x, 4, torch.Generator().manual_seed(s)) for s in range(3)])
        with model.prior.frozen():
            frozen = torch.stack([model.log_weights(x, 4, torch.Generator().manual_seed(s)) for s in range(3)])
    torch.testing.assert_close(frozen, direct)


@pytest.mark.parametrize("arch", ["conv", "resnet"])
def test_the_new_parts_run_on_the_conv_networks(arch):
    torch.manual_seed(0)
    model = build_model(ModelConfig(input_shape=(1, 8, 8), latent_dim=3, arch=arch, conv_channels=(4, 8), prior="vamp",
                                    pseudo_inputs=4, posterior="iaf"))
    assert model.prior.pseudo_inputs.shape == (4, 1, 8, 8)  # pseudo-inputs are images the conv encoder takes
    x = torch.rand(5, 1, 8, 8).bernoulli()
    model.loss_terms(x, torch.Generator().manual_seed(0)).loss(1.0).mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    log_px, elbo = iw_log_likelihood(model.eval(), x, k=16)
    assert torch.isfinite(log_px).all() and (log_px >= elbo - 1e-4).all()
