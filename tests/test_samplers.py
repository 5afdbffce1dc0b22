"""Latent samplers fitted to the training codes: the Gaussian mixture and the two-stage VAE."""

import numpy as np
import pytest
import torch

import vaekit
from vaekit.config import ModelConfig
from vaekit.errors import DataError
from vaekit.models import build_model
from vaekit.samplers import (
    GaussianMixtureSampler,
    TwoStageSampler,
    fit_sampler,
    load_samplers,
    save_samplers,
    training_codes,
)


def two_clusters(n=600, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    centers = torch.tensor([[-4.0, 0.0], [4.0, 2.0]])
    return centers[torch.arange(n) % 2] + 0.5 * torch.randn(n, 2, generator=g)  # (n, 2)


def test_the_gaussian_mixture_finds_the_clusters_and_temperature_shrinks_them():
    sampler = GaussianMixtureSampler(components=2).fit(two_clusters())
    z = sampler.sample(4000, torch.Generator().manual_seed(1))
    left = z[:, 0] < 0
    assert 0.45 < left.double().mean() < 0.55  # both modes, in their proportions
    assert torch.allclose(z[left].mean(0), torch.tensor([-4.0, 0.0]), atol=0.1)
    assert torch.allclose(z[~left].std(0), torch.tensor([0.5, 0.5]), atol=0.05)
    cold = sampler.sample(50, torch.Generator().manual_seed(1), temperature=0.0)
    assert torch.cdist(cold, sampler.means).min(1).values.max() < 1e-5  # temperature 0: the component means
    with pytest.raises(DataError, match="too few"):
        GaussianMixtureSampler(components=10).fit(two_clusters(50))


def test_the_two_stage_vae_learns_where_the_codes_are():
    codes = two_clusters(1000)
    sampler = TwoStageSampler(epochs=60).fit(codes)
    z = sampler.sample(2000, torch.Generator().manual_seed(0))
    assert torch.allclose(z.mean(0), codes.mean(0), atol=0.5)
    prior_like = torch.randn(2000, 2) * codes.std(0) + codes.mean(0)  # a Gaussian with the codes' moments
    gap = lambda s: torch.cdist(s, codes).min(1).values.median()  # noqa: E731 - distance to the nearest code
    assert gap(z) < gap(prior_like)  # it puts fewer samples in the hole between the clusters


@pytest.mark.parametrize("name, options", [("gmm", {"components": 3}), ("two-stage", {"epochs": 3})])
def test_samplers_round_trip_through_the_run_folder_and_drive_model_sample(tmp_path, name, options):
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="mlp", latent_dim=2, hidden_dims=(8,), input_shape=(6,))).eval()
    x = torch.rand(300, 6)
    fit_sampler(model, x, name, **options)
    save_samplers(model, tmp_path)
    model.save_pretrained(tmp_path)
    again = vaekit.load(tmp_path)
    assert set(again.samplers) == {name}
    first = model.sample(7, generator=torch.Generator().manual_seed(3), sampler=name)
    second = again.sample(7, generator=torch.Generator().manual_seed(3), sampler=name)
    assert torch.equal(first, second)
    assert not torch.equal(first, model.sample(7, generator=torch.Generator().manual_seed(3)))  # not the prior


def test_sampling_with_a_sampler_that_was_not_fitted_says_how_to_fit_it(tmp_path):
    model = build_model(ModelConfig(arch="mlp", latent_dim=2, hidden_dims=(8,), input_shape=(6,)))
    with pytest.raises(DataError, match=r"no 'gmm' sampler \(fitted: none\).*vaekit fit-sampler"):
        model.sample(3, sampler="gmm")
    assert load_samplers(model, tmp_path).samplers == {}  # a folder without samplers is fine
    cvae = build_model(ModelConfig(model="cvae", arch="mlp", latent_dim=2, hidden_dims=(8,), input_shape=(6,), num_classes=3))
    with pytest.raises(DataError, match="unconditional"):
        training_codes(cvae, np.zeros((4, 6), np.float32))


def test_a_run_fits_its_mixture_and_the_cli_fits_and_uses_samplers(tmp_path, capsys):
    from vaekit.cli import main

    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.uniform(0, 1, (300, 1, 6, 6)).astype(np.float32))
    run = tmp_path / "run"
    vaekit.train(str(tmp_path / "x.npy"), out=run, epochs=2, latent_dim=3, hidden_dims=(16,), arch="mlp", quiet=True)
    assert (run / "samplers" / "gmm.json").is_file() and (run / "samples_gmm.png").is_file()  # 270 training rows
    assert main(["sample", str(run), "--sampler", "gmm", "-n", "8", "--out", str(tmp_path / "g.npy")]) == 0
    assert np.load(tmp_path / "g.npy").shape == (8, 1, 6, 6)
    capsys.readouterr()
    code = main(["fit-sampler", str(run), "--data", str(tmp_path / "x.npy")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "--overwrite" in err and len(err.strip().splitlines()) == 1
    code = main(["fit-sampler", str(run), "--data", str(tmp_path / "x.npy"), "--sampler", "two-stage", "--epochs", "2"])
    assert code == 0 and (run / "samplers" / "two-stage.json").is_file()
    assert set(vaekit.load(run).samplers) == {"gmm", "two-stage"}  # the gmm fitted before is kept
    assert main(["sample", str(run), "--sampler", "two-stage", "-n", "4", "--out", str(tmp_path / "t.png")]) == 0


def test_train_classifier_writes_a_feature_space_once(tmp_path, capsys):
    from vaekit.cli import main

    out = tmp_path / "clf"
    assert main(["train-classifier", "--data", "digits", "--out", str(out), "--epochs", "2"]) == 0
    assert "use it as --features classifier:" in capsys.readouterr().err
    assert (out / "classifier.json").is_file() and (out / "classifier.safetensors").is_file()
    assert main(["train-classifier", "--data", "digits", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_the_cli_offers_exactly_the_samplers_there_are():
    from vaekit.cli.common import FITTED_SAMPLERS, SAMPLERS
    from vaekit.samplers import SAMPLER_NAMES
    from vaekit.samplers import SAMPLERS as FITTED

    assert SAMPLERS == SAMPLER_NAMES and set(FITTED_SAMPLERS) == set(FITTED)


@pytest.mark.slow
def test_the_two_stage_default_trains_enough_steps_on_few_codes():
    """On digits' 1,797 codes, 100 epochs (700 steps) left every sample at the mean code."""
    codes = two_clusters(600)  # 3 batches an epoch
    sampler = TwoStageSampler().fit(codes)
    assert sampler.epochs * 3 >= 3000
    z = sampler.sample(2000, torch.Generator().manual_seed(0))
    assert (z.std(0) > 0.6 * codes.std(0)).all()  # spread like the codes, not collapsed onto their mean
