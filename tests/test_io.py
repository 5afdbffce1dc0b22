"""Saved models: identical after loading, and every damaged file refused whole."""

import json
import pickle

import pytest
import torch

import vaekit
from vaekit.config import ModelConfig, RunConfig
from vaekit.errors import ModelFileError, RunDirError
from vaekit.io import load, save_model
from vaekit.models import build_model


@pytest.fixture(params=["bernoulli", "gaussian-learned"])
def saved(tmp_path, request):
    torch.manual_seed(0)
    cfg = RunConfig()
    cfg.model = ModelConfig(input_shape=(1, 9, 7), arch="conv", latent_dim=3, conv_channels=(4, 8), likelihood=request.param)
    model = build_model(cfg.model)
    with torch.no_grad():  # weights that differ from a fresh init with the same seed
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    save_model(tmp_path, model, cfg)
    return tmp_path, model


def test_load_gives_an_identical_model(saved):
    run_dir, model = saved
    loaded = vaekit.load(run_dir)
    assert not loaded.training
    model.eval()
    x = torch.rand(5, 1, 9, 7)
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    torch.testing.assert_close(loaded.reconstruct(x), model.reconstruct(x), rtol=0, atol=0)
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    assert torch.equal(loaded.loss_terms(x, g1).kl, model.loss_terms(x, g2).kl)
    assert torch.equal(loaded.sample(3, generator=torch.Generator().manual_seed(1)),
                       model.sample(3, generator=torch.Generator().manual_seed(1)))


def test_weights_file_is_safetensors_with_metadata(saved):
    from safetensors import safe_open

    run_dir, _ = saved
    with safe_open(str(run_dir / "model.safetensors"), "pt") as f:
        assert f.metadata()["format"] == "vaekit"


@pytest.mark.parametrize(
    "damage, error, phrase",
    [
        (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:-50]), ModelFileError, "corrupt or truncated"),
        (lambda d: (d / "model.safetensors").write_bytes(b"\x00" * 64), ModelFileError, "corrupt or truncated"),
        (lambda d: (d / "model.safetensors").write_bytes(pickle.dumps({"a": 1})), ModelFileError, "corrupt or truncated"),
        (lambda d: (d / "model.safetensors").unlink(), RunDirError, "holds no model"),
        (lambda d: (d / "config.json").unlink(), RunDirError, "holds no model"),
        (lambda d: (d / "config.json").write_text("{not json"), ModelFileError, "not valid JSON"),
        (lambda d: _edit_config(d, lambda c: c.update(format_version=99)), ModelFileError, "upgrade vaekit"),
        (lambda d: _edit_config(d, lambda c: c["model"].update(latent_dim=5)), ModelFileError, "does not match its config"),
        (lambda d: _edit_config(d, lambda c: c["model"].update(likelihood="bernoulli" if c["model"]["likelihood"] != "bernoulli" else "gaussian-learned")), ModelFileError, "does not match its config"),
        (lambda d: _edit_config(d, lambda c: c["model"].update(wings=2)), ModelFileError, "unknown key 'wings'"),
        (lambda d: _rewrite_weights(d, lambda t: {k: v.double() for k, v in t.items()}), ModelFileError, "torch.float64"),
        (lambda d: _rewrite_weights(d, lambda t: {k: v.fill_(float("nan")) for k, v in t.items()}), ModelFileError, "NaN"),
    ],
)
def test_damaged_run_folders_are_refused_with_one_clear_error(saved, damage, error, phrase):
    run_dir, _ = saved
    damage(run_dir)
    with pytest.raises(error, match=phrase) as info:
        load(run_dir)
    assert "\n" not in str(info.value)


def _rewrite_weights(run_dir, change):
    from safetensors.torch import load_file, save_file

    save_file(change(load_file(run_dir / "model.safetensors")), run_dir / "model.safetensors")


def _edit_config(run_dir, change):
    config = json.loads((run_dir / "config.json").read_text())
    change(config)
    (run_dir / "config.json").write_text(json.dumps(config))


def test_a_pickle_payload_in_place_of_the_weights_never_runs(saved):
    run_dir, _ = saved
    marker = run_dir / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (run_dir / "model.safetensors").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ModelFileError):
        load(run_dir)
    assert not marker.exists()


def test_missing_run_folder(tmp_path):
    with pytest.raises(RunDirError, match="no such run folder"):
        load(tmp_path / "nope")
