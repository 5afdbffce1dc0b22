"""Model math, parametrized over the registry x likelihoods x architectures."""

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from vaekit.config import ModelConfig
from vaekit.models import MODELS, build_model
from vaekit.models.vae import LOGVAR_MAX, LOGVAR_MIN
from vaekit.objectives import kl_standard_normal, kl_weight

CASES = [
    (model, likelihood, arch)
    for model in sorted(MODELS)
    for likelihood in ("bernoulli", "gaussian", "gaussian-learned")
    for arch in ("mlp", "conv", "resnet")
]


def tiny(model="vae", likelihood="bernoulli", arch="mlp", shape=(1, 6, 6)) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(
        model=model, likelihood=likelihood, arch=arch, input_shape=shape, latent_dim=3,
        hidden_dims=(16,), conv_channels=(4, 8),
    )
    return build_model(cfg)


def test_closed_form_kl_matches_torch_distributions():
    torch.manual_seed(0)
    mu, logvar = torch.randn(7, 5), torch.randn(7, 5)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = Independent(Normal(torch.zeros(5), torch.ones(5)), 1)
    torch.testing.assert_close(kl_standard_normal(mu, logvar), kl_divergence(q, p))


@pytest.mark.parametrize("model, likelihood, arch", CASES)
def test_loss_terms_are_per_sample_and_finite(model, likelihood, arch):
    m = tiny(model, likelihood, arch)
    terms = m.loss_terms(torch.rand(4, 1, 6, 6))
    assert terms.reconstruction.shape == terms.kl.shape == (4,)
    assert torch.isfinite(terms.loss(1.0)).all()
    assert (terms.kl >= 0).all()


@pytest.mark.parametrize("model, likelihood, arch", CASES)
def test_gradients_reach_the_encoder_through_the_sample(model, likelihood, arch):
    m = tiny(model, likelihood, arch)
    x = torch.rand(4, 1, 6, 6)
    # Only the reconstruction term: its gradient reaches the encoder solely through z.
    m.loss_terms(x).reconstruction.sum().backward()
    grads = [p.grad for p in m.encoder.parameters()]
    assert all(g is not None for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0


def test_reparameterization_moments_match_the_posterior():
    mu, logvar = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, 2.0 * torch.log(torch.tensor(3.0))]])
    g = torch.Generator().manual_seed(0)
    z = torch.cat([tiny().reparameterize(mu, logvar, g) for _ in range(20000)])
    torch.testing.assert_close(z.mean(0), mu[0], atol=0.06, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 3.0]), atol=0.06, rtol=0)


def test_logvar_is_clamped_so_exp_cannot_overflow():
    m = tiny()
    with torch.no_grad():
        for p in m.encoder.parameters():
            p.fill_(1e3)
    mu, logvar = m.encode(torch.ones(2, 1, 6, 6))
    assert logvar.max() <= LOGVAR_MAX and logvar.min() >= LOGVAR_MIN
    assert torch.isfinite(m.loss_terms(torch.ones(2, 1, 6, 6)).kl).all()


def test_decode_returns_a_distribution_over_whole_samples():
    m = tiny(likelihood="gaussian")
    p = m.decode(torch.randn(5, 3))
    assert p.event_shape == (1, 6, 6) and p.batch_shape == (5,)
    assert p.log_prob(torch.rand(5, 1, 6, 6)).shape == (5,)


def test_sample_reconstruct_embed_shapes_and_seeding():
    m = tiny(arch="conv")
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a, b = m.sample(5, generator=g1), m.sample(5, generator=g2)
    assert a.shape == (5, 1, 6, 6) and torch.equal(a, b)
    assert 0 <= a.min() and a.max() <= 1  # Bernoulli means are probabilities
    x = torch.rand(4, 1, 6, 6)
    assert m.reconstruct(x).shape == x.shape
    mean = m.embed(x)
    torch.testing.assert_close(mean, m.encode(x)[0])
    assert not torch.equal(m.embed(x, sample=True), mean)
    cold = m.sample(5, temperature=0.0)
    assert torch.allclose(cold, cold[0].expand_as(cold))  # every z = 0


def test_kl_warmup_is_linear_per_step():
    assert kl_weight(0, 10, beta=2.0, warmup_epochs=2) == 0.0
    assert kl_weight(10, 10, beta=2.0, warmup_epochs=2) == pytest.approx(1.0)
    assert kl_weight(25, 10, beta=2.0, warmup_epochs=2) == 2.0
    assert kl_weight(0, 10, beta=2.0, warmup_epochs=0) == 2.0


def test_cyclical_kl_rises_in_each_cycle():
    kw = dict(steps_per_epoch=10, beta=1.0, cycles=2, cycle_ratio=0.5, total_epochs=4)  # cycles of 20 steps
    weights = [kl_weight(s, kw["steps_per_epoch"], kw["beta"], cycles=2, cycle_ratio=0.5, total_epochs=4) for s in range(40)]
    assert weights[0] == 0.0 and weights[5] == pytest.approx(0.5) and weights[10] == 1.0 and weights[19] == 1.0
    assert weights[20] == 0.0 and weights[25] == pytest.approx(0.5)


def test_free_bits_match_the_batch_formula_and_stop_gradients_below_the_floor():
    from vaekit.objectives import LossTerms

    kl = torch.tensor([[0.1, 2.0], [0.3, 4.0]], requires_grad=True)  # dim 0 batch mean 0.2, dim 1 3.0
    terms = LossTerms(reconstruction=torch.zeros(2), kl=kl.sum(1), kl_per_dim=kl)
    loss = terms.loss(beta=1.0, free_bits=0.5)
    assert loss.mean().item() == pytest.approx(max(0.5, 0.2) + max(0.5, 3.0))
    loss.mean().backward()
    assert kl.grad[:, 0].abs().sum() == 0 and (kl.grad[:, 1] > 0).all()
    assert terms.loss(beta=1.0).mean().item() == pytest.approx(kl.sum(1).mean().item())


def test_save_pretrained_round_trips_through_the_run_folder_format(tmp_path):
    import vaekit
    from vaekit.errors import ModelFileError, RunDirError
    from vaekit.models.vae import VAE

    m = tiny(likelihood="gaussian-learned", arch="conv")
    with torch.no_grad():
        m.likelihood.log_std.fill_(-0.5)  # a non-default parameter must survive too
    assert m.save_pretrained(tmp_path / "m") == tmp_path / "m"
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    back = VAE.from_pretrained(tmp_path / "m")
    assert type(back) is VAE and not back.training
    for (name, a), (_, b) in zip(m.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), name
    x = torch.rand(3, 1, 6, 6)
    torch.testing.assert_close(back.reconstruct(x), m.reconstruct(x), rtol=0, atol=0)
    # One format: vaekit.load reads it, and from_pretrained reads what vaekit writes.
    assert torch.equal(vaekit.load(tmp_path / "m").embed(x), back.embed(x))
    with pytest.raises(RunDirError, match="overwrite=True"):
        m.save_pretrained(tmp_path / "m")
    m.save_pretrained(tmp_path / "m", overwrite=True)
    with pytest.raises(RunDirError):
        VAE.from_pretrained(tmp_path / "missing")

    class OtherVAE(VAE):
        pass

    with pytest.raises(ModelFileError, match="not a OtherVAE"):
        OtherVAE.from_pretrained(tmp_path / "m")
