"""The two-level hierarchical VAE (models/hvae.py): its terms, weights, uses, priors, saving and resume."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import vaekit
from vaekit.config import ModelConfig, TrainConfig
from vaekit.errors import ConfigError, DataError
from vaekit.evaluation import evaluate, iw_log_likelihood
from vaekit.explore import traverse
from vaekit.models import HVAE, MODELS, build_model
from vaekit.training import Trainer

Z1, Z2 = 3, 2
SHAPE = (1, 8, 8)
PRIORS = ("normal", "mog", "vamp")


def config(arch: str = "mlp", prior: str = "normal", **kw) -> ModelConfig:
    """A tiny hvae: z1 of 3 dimensions, z2 of 2."""
    kw.setdefault("options", {"top_latent_dim": Z2})
    return ModelConfig(
        model="hvae", input_shape=SHAPE, arch=arch, latent_dim=Z1, hidden_dims=(16,), conv_channels=(4, 8),
        prior=prior, prior_components=3, pseudo_inputs=6, **kw,
    )


def build(arch: str = "mlp", prior: str = "normal", seed: int = 0, **kw) -> HVAE:
    torch.manual_seed(seed)
    return build_model(config(arch, prior, **kw))


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def x(tiny_images):
    return torch.from_numpy(tiny_images)  # (48, 1, 8, 8)


@pytest.fixture(scope="module")
def digits():
    from vaekit.data import load_data

    return torch.from_numpy(load_data("digits").x[:600])  # (600, 1, 8, 8)


@pytest.fixture(scope="module")
def trained(digits):
    """An mlp hvae trained for a few epochs on digits: its posterior is no longer the prior."""
    model = build()
    Trainer(model, TrainConfig(epochs=5, batch_size=32, lr=3e-3, seed=0)).fit(digits[:500])
    return model.eval()


# --------------------------------------------------------------------------- the model and its settings


def test_hvae_is_registered_and_sizes_its_levels():
    assert MODELS["hvae"] is HVAE
    model = build()
    assert (model.bottom_dim, model.latent_dim, model.noise_dim) == (Z1, Z2, Z1 + Z2)
    assert model.config.model == "hvae" and model.config.options == {"top_latent_dim": Z2, "x_branch": "encoder"}
    same = build_model(dataclasses.replace(config(), options={}))  # 0 = the same size as z1
    assert same.latent_dim == same.bottom_dim == Z1


def test_bad_settings_and_labels_are_refused(x):
    with pytest.raises(ConfigError, match="top_latent_dim.*must be >= 0"):
        build_model(dataclasses.replace(config(), options={"top_latent_dim": -1}))
    with pytest.raises(ConfigError, match="invalid value for 'x_branch': 'shared' \\(choose from encoder, layer\\)"):
        build_model(dataclasses.replace(config(), options={"x_branch": "shared"}))
    with pytest.raises(ConfigError, match="has no option 'iw_samples'; its options are top_latent_dim, x_branch"):
        build_model(dataclasses.replace(config(), options={"iw_samples": 3}))
    with pytest.raises(ConfigError, match="posterior 'iaf'"):
        build(posterior="iaf")
    model = build()
    y = torch.zeros(len(x), dtype=torch.long)
    for call in (lambda: model.loss_terms(x, y=y), lambda: model.log_weights(x, 2, y=y), lambda: model.embed(x, y=y)):
        with pytest.raises(DataError, match="not conditioned on labels"):
            call()


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_the_layer_x_branch_is_one_hidden_layer_on_the_flat_input_whatever_the_arch(arch):
    full, light = build(arch), build(arch, options={"top_latent_dim": Z2, "x_branch": "layer"})
    linears = [m for m in light.encoder_z1.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 16), (16, 2 * Z1)]  # 8x8 -> 16 -> 2 * Z1
    assert not any(isinstance(m, torch.nn.Conv2d) for m in light.encoder_z1.modules())
    assert type(full.encoder_z1) is type(full.encoder)  # the default: a second encoder of the arch
    # Only q(z1|x, z2)'s x branch differs: the other networks are the same shapes.
    shapes = lambda m: {k: v.shape for k, v in m.state_dict().items() if not k.startswith("encoder_z1.")}  # noqa: E731
    assert shapes(full) == shapes(light)


# --------------------------------------------------------------------------- objective


@pytest.mark.parametrize("arch", ["mlp", "conv", "resnet"])
def test_loss_terms_are_finite_and_per_sample(arch, x):
    model = build(arch)
    terms = model.loss_terms(x, seeded())
    assert terms.reconstruction.shape == terms.kl.shape == (len(x),)
    assert terms.kl_per_dim.shape == (len(x), Z1 + Z2)  # both levels, z1's dimensions first
    torch.testing.assert_close(terms.kl, terms.kl_per_dim.sum(-1))
    for tensor in (terms.reconstruction, terms.kl, terms.loss(1.0)):
        assert torch.isfinite(tensor).all()
    assert (terms.kl_per_dim >= 0).all()  # closed-form Gaussian KLs
    # Per sample: a row's terms do not depend on the rows beside it (fixed noise for both levels).
    eps = torch.randn(Z1 + Z2, generator=seeded(1))
    whole, part = model.loss_terms(x, eps=eps), model.loss_terms(x[5:9], eps=eps)
    torch.testing.assert_close(whole.reconstruction[5:9], part.reconstruction)
    torch.testing.assert_close(whole.kl[5:9], part.kl)
    # The same generator state gives the same draws of z1 and z2.
    torch.testing.assert_close(model.loss_terms(x, seeded(3)).loss(1.0), model.loss_terms(x, seeded(3)).loss(1.0))


def test_eps_of_the_top_level_alone_is_refused_with_the_size_it_needs(x):
    model = build()
    with pytest.raises(DataError, match=r"eps needs 5 = 3 \+ 2 values"):
        model.loss_terms(x, eps=torch.zeros(Z2))


@pytest.mark.parametrize("prior", PRIORS)
@pytest.mark.parametrize("x_branch", ["encoder", "layer"])
def test_gradients_reach_every_parameter(prior, x_branch, x):
    model = build(prior=prior, options={"top_latent_dim": Z2, "x_branch": x_branch})
    terms = model.loss_terms(x, seeded())
    assert (terms.kl_per_dim is None) == (prior != "normal")  # a mixture's KL is the Monte Carlo estimate
    terms.loss(1.0).mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("prior", PRIORS)
def test_log_weights_are_k_by_b_and_finite(prior, x):
    model = build(prior=prior)
    log_w = model.log_weights(x, 7, seeded())
    assert log_w.shape == (7, len(x)) and torch.isfinite(log_w).all()
    torch.testing.assert_close(log_w, model.log_weights(x, 7, seeded()))


def test_the_iw_estimate_rises_with_k_and_its_k1_mean_is_the_elbo(trained, digits):
    x = digits[500:]  # (100, ...) rows the model did not train on
    log_px = {k: iw_log_likelihood(trained, x, k=k, seed=1)[0].double().mean() for k in (1, 10, 200)}
    assert log_px[1] < log_px[10] < log_px[200]  # Burda et al. 2015, theorem 1
    # At K = 1 the estimate is one draw of the ELBO: over 40 seeds its mean is evaluate()'s ELBO.
    draws = torch.stack([iw_log_likelihood(trained, x, k=1, seed=s)[0].double() for s in range(40)])  # (40, 100)
    standard_error = draws.std() / draws.numel() ** 0.5
    elbo = evaluate(trained, x, n_samples=40)["elbo"]
    assert abs(draws.mean().item() - elbo) < 4 * standard_error.item() + 0.05


# --------------------------------------------------------------------------- uses


def test_sampling_is_reproducible_and_cold_samples_decode_the_prior_mean():
    model = build()
    a, b = model.sample(6, generator=seeded(4)), model.sample(6, generator=seeded(4))
    assert a.shape == (6, *SHAPE)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, model.sample(6, generator=seeded(5)))
    cold = model.sample(2, temperature=0.0, generator=seeded(4))  # z2 = 0, z1 = E[z1 | z2 = 0]
    torch.testing.assert_close(cold, model.decode(torch.zeros(2, Z2)).mean)


def test_embed_levels_and_reconstructions_use_both_posterior_means(x):
    model = build()
    top, bottom, both = (model.embed(x, level=level) for level in ("top", "bottom", "both"))
    assert top.shape == (len(x), Z2) and bottom.shape == (len(x), Z1) and both.shape == (len(x), Z1 + Z2)
    torch.testing.assert_close(both, torch.cat([bottom, top], dim=1))
    torch.testing.assert_close(model.embed(x), model.posterior(x).mean)  # the default: q(z2|x)'s mean
    drawn = model.embed(x, sample=True, generator=seeded(), level="both")
    torch.testing.assert_close(drawn, model.embed(x, sample=True, generator=seeded(), level="both"))
    assert not torch.allclose(drawn, both)
    with pytest.raises(DataError, match="unknown latent level 'middle'"):
        model.embed(x, level="middle")
    expected = model.likelihood.mean(model.decoder(both))
    torch.testing.assert_close(model.reconstruct(x), expected)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_traversals_sweep_the_top_level(arch):
    grid = traverse(build(arch), steps=5)
    assert grid.shape == (Z2, 5, *SHAPE) and torch.isfinite(grid).all()


def test_the_vamp_prior_mixes_the_top_level_posterior():
    model = build(prior="vamp")
    logits, means, logvars = model.prior.components()
    assert means.shape == logvars.shape == (6, Z2)
    q2 = model.posterior(model.prior.inputs())
    torch.testing.assert_close(means, q2.mean)


# --------------------------------------------------------------------------- training, saving, resume


@pytest.mark.parametrize("prior", PRIORS)
def test_each_prior_trains_and_saves_and_loads_with_identical_outputs(prior, x, tmp_path):
    model = build(prior=prior)
    before = {name: t.clone() for name, t in model.state_dict().items()}
    Trainer(model, TrainConfig(epochs=2, batch_size=16, seed=0)).fit(x)
    assert any(not torch.equal(before[name], t) for name, t in model.state_dict().items())
    back = vaekit.load(model.save_pretrained(tmp_path / "saved"))
    assert_same_model(model.eval(), back, x)


def test_glu_gates_every_hidden_layer_of_both_levels_and_saves_and_loads(x, tmp_path):
    model = build(prior="vamp", activation="glu", options={"top_latent_dim": Z2, "x_branch": "layer"})
    for part in (model.encoder, model.decoder, model.encoder_z1, model.posterior_z1, model.prior_z1):
        assert any(isinstance(m, torch.nn.GLU) for m in part.modules()), type(part).__name__
    Trainer(model, TrainConfig(epochs=1, batch_size=16, seed=0)).fit(x)
    back = vaekit.load(model.save_pretrained(tmp_path / "saved"))
    assert back.config.activation == "glu"
    assert_same_model(model.eval(), back, x)


def assert_same_model(model: HVAE, back: HVAE, x: torch.Tensor) -> None:
    assert type(back) is HVAE and back.latent_dim == model.latent_dim
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, back.state_dict()[name]), name
    assert torch.equal(back.embed(x, level="both"), model.embed(x, level="both"))
    assert torch.equal(back.log_weights(x, 3, seeded()), model.log_weights(x, 3, seeded()))
    assert torch.equal(back.sample(4, generator=seeded()), model.sample(4, generator=seeded()))


SMALL = dict(model="hvae", arch="mlp", latent_dim=Z1, hidden_dims=(16,), batch_size=16, quiet=True,
             options={"top_latent_dim": Z2})


@pytest.mark.filterwarnings("ignore:posterior collapse")
@pytest.mark.parametrize("prior", ["normal", "mog", "vamp"])
def test_vaekit_train_writes_a_run_folder_that_loads_identically(prior, x, tmp_path):
    result = vaekit.train(
        x.numpy(), out=tmp_path / "run", epochs=1, prior=prior, pseudo_inputs=6, **SMALL
    )
    back = vaekit.load(tmp_path / "run")
    assert back.config.prior == prior and back.config.options == {"top_latent_dim": Z2, "x_branch": "encoder"}
    assert_same_model(result.model, back, x)


@pytest.mark.filterwarnings("ignore:posterior collapse")
def test_the_x_branch_is_saved_and_a_config_written_before_it_loads_as_the_full_encoder(x, tmp_path):
    light = vaekit.train(x.numpy(), out=tmp_path / "light", epochs=1, **{**SMALL, "options": {"top_latent_dim": Z2, "x_branch": "layer"}})
    back = vaekit.load(tmp_path / "light")
    assert back.config.options["x_branch"] == "layer"
    assert_same_model(light.model, back, x)
    # A run folder written before the option existed names top_latent_dim alone: it is the full encoder.
    run = tmp_path / "before"
    vaekit.train(x.numpy(), out=run, epochs=1, **SMALL)
    config = json.loads((run / "config.json").read_text())
    config["model"]["options"] = {"top_latent_dim": Z2}
    (run / "config.json").write_text(json.dumps(config))
    assert vaekit.load(run).config.options == {"top_latent_dim": Z2, "x_branch": "encoder"}


@pytest.mark.filterwarnings("ignore:posterior collapse")
def test_resume_from_a_checkpoint_ends_with_bitwise_identical_weights(x, tmp_path):
    straight = vaekit.train(x.numpy(), out=tmp_path / "a", epochs=2, **SMALL)
    vaekit.train(x.numpy(), out=tmp_path / "b", epochs=1, **SMALL)
    resumed = vaekit.train(x.numpy(), out=tmp_path / "b", epochs=2, resume="auto", **SMALL)
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_the_benchmark_preset_takes_the_layer_branch_and_an_option_on_top_keeps_it():
    from vaekit.runs import resolve_config

    cfg = resolve_config(None, {}, "mnist-hvae-vamp")
    assert cfg.model.model == "hvae" and cfg.model.options == {"x_branch": "layer"}
    cfg = resolve_config(None, {"options": {"top_latent_dim": 16}}, "mnist-hvae-vamp")
    assert cfg.model.options == {"x_branch": "layer", "top_latent_dim": 16}
    cfg.model.input_shape = (1, 28, 28)
    model = build_model(cfg.model)
    assert [type(m).__name__ for m in model.encoder_z1.net] == ["Flatten", "Linear", "ReLU", "Linear"]


def test_the_gated_preset_builds_tomczak_and_wellings_networks():
    from vaekit.runs import resolve_config

    cfg = resolve_config(None, {}, "mnist-hvae-vamp-gated")
    cfg.model.input_shape = (1, 28, 28)
    model = build_model(cfg.model)
    assert model.bottom_dim == model.latent_dim == 40 and model.prior.pseudo_inputs.shape[0] == 100
    assert [type(m).__name__ for m in model.encoder_z1.net] == ["Flatten", "Linear", "GLU", "Linear"]
    assert [m.out_features for m in model.encoder.net if isinstance(m, torch.nn.Linear)] == [600, 600, 80]
