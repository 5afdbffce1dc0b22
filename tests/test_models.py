"""Model math, parametrized over the registry x likelihoods x architectures."""

import pytest
import torch
from torch.distributions import Independent, Normal

from vaekit.config import ModelConfig
from vaekit.models import MODELS, build_model
from vaekit.objectives import kl_divergence, kl_weight
from vaekit.posteriors import LOGVAR_MAX, LOGVAR_MIN, DiagonalGaussian, StandardNormal

BUILT_IN = ("cvae", "iwae", "m2", "vae")  # not sorted(MODELS): a test may register a family of its own
CASES = [
    (model, likelihood, arch)
    for model in BUILT_IN
    for likelihood in ("bernoulli", "gaussian", "gaussian-learned", "logistic-mixture")
    for arch in ("mlp", "conv", "resnet")
]


N_CLASSES = 3


def tiny(model="vae", likelihood="bernoulli", arch="mlp", shape=(1, 6, 6), **extra) -> torch.nn.Module:
    torch.manual_seed(0)
    options = {key: extra.pop(key) for key in ("iw_samples", "classifier_weight") if key in extra}
    cfg = ModelConfig(
        model=model, likelihood=likelihood, arch=arch, input_shape=shape, latent_dim=3,
        hidden_dims=(16,), conv_channels=(4, 8), options=options,
        **{"num_classes": N_CLASSES if MODELS[model].conditional else 0, **extra},
    )
    return build_model(cfg)


def labels(m, n=4):
    """Labels for the models that take them (m2: some rows unlabelled), None for the others."""
    if not m.conditional:
        return None
    y = torch.arange(n) % N_CLASSES
    if m.semi_supervised:
        y[::2] = -1
    return y


def terms_of(m, x, generator=None):
    y = labels(m, len(x))
    return m.loss_terms(x, generator) if y is None else m.loss_terms(x, generator, y=y)


def test_closed_form_kl_matches_torch_distributions():
    torch.manual_seed(0)
    mu, logvar = torch.randn(7, 5), torch.randn(7, 5)
    reference_q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    # Against N(0, I) (the short form) and against another Gaussian (the general form).
    for p_mu, p_logvar in ((torch.zeros(5), torch.zeros(5)), (torch.randn(5), torch.randn(5))):
        reference_p = Independent(Normal(p_mu, torch.exp(0.5 * p_logvar)), 1)
        p = StandardNormal(p_mu, p_logvar) if not p_mu.any() else DiagonalGaussian(p_mu, p_logvar)
        total, per_dim = kl_divergence(DiagonalGaussian(mu, logvar), p)
        expected = torch.distributions.kl_divergence(reference_q, reference_p)
        torch.testing.assert_close(total, expected)
        torch.testing.assert_close(per_dim.sum(-1), expected)
        # Registered with torch too, so torch.distributions.kl_divergence takes the same closed form.
        torch.testing.assert_close(torch.distributions.kl_divergence(DiagonalGaussian(mu, logvar), p), expected)


def test_kl_without_a_closed_form_is_the_single_sample_estimate_at_the_drawn_z():
    from torch.distributions import Categorical, MixtureSameFamily

    q = DiagonalGaussian(torch.zeros(4, 2), torch.zeros(4, 2))
    mixture = MixtureSameFamily(Categorical(logits=torch.zeros(3)), Independent(Normal(torch.randn(3, 2), torch.ones(3, 2)), 1))
    z = q.rsample(generator=torch.Generator().manual_seed(0))
    total, per_dim = kl_divergence(q, mixture, z)
    assert per_dim is None
    torch.testing.assert_close(total, q.log_prob(z) - mixture.log_prob(z))
    with pytest.raises(ValueError, match="no closed form"):
        kl_divergence(q, mixture)


@pytest.mark.parametrize("model, likelihood, arch", CASES)
def test_loss_terms_are_per_sample_and_finite(model, likelihood, arch):
    m = tiny(model, likelihood, arch)
    terms = terms_of(m, torch.rand(4, 1, 6, 6))
    assert terms.reconstruction.shape == terms.kl.shape == terms.loss(1.0).shape == (4,)
    assert terms.extra is None or terms.extra.shape == (4,)
    assert torch.isfinite(terms.loss(1.0)).all()
    assert (terms.kl >= 0).all()


@pytest.mark.parametrize("model, likelihood, arch", CASES)
def test_gradients_reach_the_encoder_through_the_sample(model, likelihood, arch):
    m = tiny(model, likelihood, arch)
    x = torch.rand(4, 1, 6, 6)
    # Only the reconstruction term: its gradient reaches the encoder solely through z.
    terms_of(m, x).reconstruction.sum().backward()
    grads = [p.grad for p in m.encoder.parameters()]
    assert all(g is not None for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    m.zero_grad()
    terms_of(m, x).loss(1.0).mean().backward()  # the whole loss reaches every parameter (M2's classifier too)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())


@pytest.mark.parametrize("model, likelihood, arch", CASES)
def test_every_model_saves_loads_and_samples(tmp_path, model, likelihood, arch):
    import vaekit
    from vaekit.config import RunConfig
    from vaekit.io import save_model

    m = tiny(model, likelihood, arch).eval()
    save_model(tmp_path, m, RunConfig(model=m.config))
    back = vaekit.load(tmp_path)
    assert type(back) is type(m)
    x = torch.rand(4, 1, 6, 6)
    y = labels(m)
    y = None if y is None else y.clamp(min=0)
    assert torch.equal(back.embed(x, y=y), m.embed(x, y=y))
    assert torch.equal(back.reconstruct(x, y=y), m.reconstruct(x, y=y))
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    samples = back.sample(5, generator=g1)
    assert samples.shape == (5, 1, 6, 6) and torch.equal(samples, m.sample(5, generator=g2))


@pytest.mark.slow
def test_reparameterization_moments_match_the_posterior():
    mu, logvar = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, 2.0 * torch.log(torch.tensor(3.0))]])
    g = torch.Generator().manual_seed(0)
    z = DiagonalGaussian(mu, logvar).rsample((20000,), generator=g)[:, 0]  # (20000, 2)
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


# --------------------------------------------------------------------------- what each variant changes


def test_capacity_term_has_the_batch_mean_abs_gap_and_anneals_linearly():
    from vaekit.objectives import LossTerms, capacity_at, capacity_kl

    kl = torch.tensor([1.0, 2.0, 6.0])  # batch mean 3
    assert capacity_kl(kl, 5.0).mean().item() == pytest.approx(2.0)  # |3 - 5|
    assert capacity_kl(kl, 1.0).mean().item() == pytest.approx(2.0)  # |3 - 1|
    terms = LossTerms(reconstruction=torch.zeros(3), kl=kl)
    assert terms.loss(10.0, capacity=5.0).mean().item() == pytest.approx(20.0)
    assert capacity_at(0, 25.0, 100) == 0.0 and capacity_at(50, 25.0, 100) == 12.5 and capacity_at(500, 25.0, 100) == 25.0
    assert capacity_at(50, 0.0, 100) is None


def test_iwae_bound_is_above_the_elbo_and_is_the_elbo_at_k_1():
    x = torch.rand(6, 1, 6, 6)
    vae, iwae1, iwae20 = tiny("vae"), tiny("iwae", iw_samples=1), tiny("iwae", iw_samples=20)
    iwae1.load_state_dict(vae.state_dict())
    iwae20.load_state_dict(vae.state_dict())
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        elbo = -torch.stack([vae.loss_terms(x, g).loss(1.0) for _ in range(400)]).mean(0)  # (B,)
        k1 = -torch.stack([iwae1.loss_terms(x, g).loss(1.0) for _ in range(400)]).mean(0)
        k20 = -torch.stack([iwae20.loss_terms(x, g).loss(1.0) for _ in range(100)]).mean(0)
        # The same networks: the reported reconstruction and KL are the VAE's (averaged over k draws).
        terms = iwae20.loss_terms(x, g)
    torch.testing.assert_close(k1, elbo, atol=0.3, rtol=0)  # k = 1: the ELBO, up to Monte Carlo noise
    assert (k20 > elbo + 0.05).all()  # Burda et al. 2015, theorem 1: the bound tightens with k
    torch.testing.assert_close(terms.kl, vae.loss_terms(x).kl)


def test_cvae_conditioning_changes_the_decoder_output():
    m = tiny("cvae", arch="conv")
    with torch.no_grad():
        for p in m.decoder.condition.parameters():
            p.normal_()
    z = torch.randn(4, 3)
    a, b = m.decode(z, torch.zeros(4, dtype=torch.long)).mean, m.decode(z, torch.ones(4, dtype=torch.long)).mean
    assert not torch.allclose(a, b)
    assert torch.equal(m.decode(z).mean, a)  # no label: class 0
    assert torch.equal(m.sample(6, temperature=0.0)[1], m.sample(6, temperature=0.0, y=1)[0])  # rows cycle the classes
    x = torch.rand(4, 1, 6, 6)
    assert not torch.allclose(m.encode(x, torch.zeros(4, dtype=torch.long))[0], m.encode(x, torch.full((4,), 2))[0])


def test_cvae_takes_covariates_and_refuses_missing_labels():
    from vaekit.errors import DataError

    m = tiny("cvae", num_classes=0, condition_dim=2)
    x, c = torch.rand(4, 1, 6, 6), torch.randn(4, 2)
    assert torch.isfinite(m.loss_terms(x, y=c).loss(1.0)).all()
    with pytest.raises(DataError, match="conditioned on labels"):
        m.loss_terms(x)
    with pytest.raises(DataError, match="not conditioned"):
        tiny("vae").loss_terms(x, y=c)


def test_m2_unlabelled_bound_is_the_expectation_over_q_y_of_the_labelled_bounds():
    import math

    m = tiny("m2", classifier_weight=0.7)
    x = torch.rand(5, 1, 6, 6)
    eps = torch.randn(N_CLASSES, 5, 3)  # the same noise for every evaluation
    with torch.no_grad():
        q = m.predict_proba(x)  # (B, K)
        unlabelled = m.loss_terms(x, eps=eps, y=torch.full((5,), -1))
        labelled = [m.loss_terms(x, eps=eps, y=torch.full((5,), k)) for k in range(N_CLASSES)]
    log_k = math.log(N_CLASSES)
    # Labelled rows: the bound on log p(x, y) (KL of the point mass to p(y) = log K) plus alpha * cross-entropy.
    for k, t in enumerate(labelled):
        torch.testing.assert_close(t.extra, -0.7 * q[:, k].log())
    rec = torch.stack([t.reconstruction for t in labelled], dim=1)  # (B, K)
    kl_z = torch.stack([t.kl - log_k for t in labelled], dim=1)  # (B, K)
    entropy = -(q * q.log()).sum(1)
    torch.testing.assert_close(unlabelled.reconstruction, (q * rec).sum(1))
    torch.testing.assert_close(unlabelled.kl, (q * kl_z).sum(1) + log_k - entropy)  # Kingma et al. 2014, eq. 7
    assert torch.equal(unlabelled.extra, torch.zeros(5))
    assert torch.equal(m.predict(x), q.argmax(1))


def test_iwae_beta_weights_the_prior_ratio_inside_the_bound():
    from vaekit.errors import ConfigError
    from vaekit.objectives import iw_bound

    m = tiny("iwae", iw_samples=4)
    terms = m.loss_terms(torch.rand(3, 1, 6, 6), torch.Generator().manual_seed(0))
    assert terms.log_px_z.shape == terms.log_prior_ratio.shape == (4, 3)
    # A KL warm-up (beta = 0) leaves the reconstruction bound, never a reward for a larger KL.
    torch.testing.assert_close(terms.loss(0.0), -iw_bound(terms.log_px_z))
    torch.testing.assert_close(terms.loss(1.0), -iw_bound(terms.log_px_z + terms.log_prior_ratio))
    with pytest.raises(ConfigError, match="iwae"):
        tiny("iwae", free_bits=0.5)


def test_uses_take_numpy_arrays_and_refuse_what_does_not_fit_in_one_line():
    import numpy as np

    from vaekit.errors import DataError

    m = tiny(arch="conv")
    x = np.random.default_rng(0).uniform(size=(3, 1, 6, 6))  # float64, as NumPy makes it
    torch.testing.assert_close(m.embed(x), m.embed(torch.as_tensor(x, dtype=torch.float32)))
    assert m.reconstruct(x).shape == (3, 1, 6, 6)
    with pytest.raises(DataError, match=r"float rows of shape \(N, 1, 6, 6\), got .*\(3, 36\)"):
        m.embed(x.reshape(3, 36))
    with pytest.raises(DataError, match="cannot use str as model input"):
        m.embed("images")


def test_embed_and_reconstruct_run_in_batches_into_one_output():
    """A conv encoder on 60,000 images at once holds gigabytes of activations (issue 18): batches do not."""
    from vaekit.models.vae import INFERENCE_BATCH

    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="mlp", latent_dim=3, hidden_dims=(8,), input_shape=(5,))).eval()
    seen = []
    model.encoder.register_forward_hook(lambda module, inputs, output: seen.append(len(inputs[0])))
    x = torch.rand(2 * INFERENCE_BATCH + 7, 5)
    codes, recon = model.embed(x), model.reconstruct(x)
    assert max(seen) == INFERENCE_BATCH and sum(seen) == 2 * len(x)
    assert codes.shape == (len(x), 3) and recon.shape == x.shape
    assert torch.allclose(codes[-7:], model.embed(x[-7:]), atol=1e-6)
    assert torch.allclose(recon[:5], model.reconstruct(x[:5]), atol=1e-6)


def test_mean_over_draws_gives_each_row_the_same_draws_whatever_the_chunk():
    import numpy as np

    from vaekit.models.vae import mean_over_draws

    model = tiny(shape=(1, 6, 6))
    x = (torch.rand(10, 1, 6, 6, generator=torch.Generator().manual_seed(1)) > 0.5).float().numpy()

    def neg_elbo(xb, eps):
        terms = model.loss_terms(xb, eps=eps)
        return terms.reconstruction + terms.kl  # (B,)

    whole = mean_over_draws(model, x, 4, 64, neg_elbo)
    assert whole.shape == (10,) and whole.dtype == np.float64
    # Common random numbers: rows scored 3 at a time, or alone, get the same scores (to float32 rounding:
    # another batch size may sum in another order; another draw would move a score by nats).
    np.testing.assert_allclose(mean_over_draws(model, x, 4, 3, neg_elbo), whole, rtol=1e-6)
    np.testing.assert_allclose(mean_over_draws(model, x[7:8], 4, 64, neg_elbo), whole[7:8], rtol=1e-6)
    # The mean of the draws: the draws are the seeded standard normals, one per draw.
    eps = torch.randn(4, model.noise_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        by_hand = torch.stack([neg_elbo(torch.from_numpy(x), e).double() for e in eps]).mean(0)
    np.testing.assert_allclose(whole, by_hand.numpy(), rtol=1e-6)
    assert not np.allclose(mean_over_draws(model, x, 1, 64, neg_elbo), whole)  # more draws, another mean
    # A score per element keeps its shape; no rows give an empty output of that shape.
    per_pixel = lambda xb, e: model.reconstruction_elements(xb, eps=e)[0]  # noqa: E731 - (B, 1, 6, 6)
    assert mean_over_draws(model, x, 2, 4, per_pixel).shape == (10, 1, 6, 6)
    assert mean_over_draws(model, x[:0], 2, 4, per_pixel).shape == (0, 1, 6, 6)
