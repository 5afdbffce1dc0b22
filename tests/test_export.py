"""ONNX export: both graphs run in onnxruntime and match PyTorch, for every architecture x likelihood."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from vaekit.cli import main
from vaekit.config import ModelConfig
from vaekit.errors import MissingExtraError
from vaekit.export import DECODER_FILE, DESCRIPTION_FILE, ENCODER_FILE, export_onnx
from vaekit.models import build_model

ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install -e '.[test]'")
pytest.importorskip("onnxscript", reason="the onnx extra is not installed: pip install -e '.[test]'")


def tiny(arch: str, likelihood: str) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(
        input_shape=(1, 8, 8), latent_dim=3, arch=arch, likelihood=likelihood, hidden_dims=(16,), conv_channels=(4, 8)
    )
    model = build_model(cfg).eval()
    if likelihood == "gaussian-learned":
        with torch.no_grad():  # a learned std that differs per feature, so a wrong export would show
            model.likelihood.log_std.copy_(torch.linspace(-1, 1, 64).reshape(1, 8, 8))
    return model


# Each architecture and each likelihood; the likelihood's head is the same for every architecture,
# so the full product would export the same decoder head twice for no new coverage (exports take seconds).
CASES = [("mlp", "bernoulli"), ("conv", "bernoulli"), ("mlp", "gaussian"), ("conv", "gaussian-learned")]


@pytest.mark.slow
@pytest.mark.parametrize("arch, likelihood", CASES)
def test_both_graphs_match_pytorch_at_any_batch_size(tmp_path, arch, likelihood):
    model = tiny(arch, likelihood)
    export_onnx(model, tmp_path)
    encoder = ort.InferenceSession(str(tmp_path / ENCODER_FILE))
    decoder = ort.InferenceSession(str(tmp_path / DECODER_FILE))
    description = json.loads((tmp_path / DESCRIPTION_FILE).read_text())
    assert [o.name for o in decoder.get_outputs()] == list(description["decoder"]["outputs"])
    assert encoder.get_inputs()[0].shape[0] == "batch"  # dynamic, not the example's 2
    for batch in (1, 5):  # neither is the batch size the graphs were traced with
        x = torch.rand(batch, 1, 8, 8)
        z = torch.randn(batch, 3)
        mu, logvar = encoder.run(["mu", "logvar"], {"x": x.numpy()})
        with torch.no_grad():
            expected_mu, expected_logvar = model.encode(x)
            p = model.decode(z)
        np.testing.assert_allclose(mu, expected_mu.numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(logvar, expected_logvar.numpy(), atol=1e-5, rtol=0)
        outputs = dict(zip(description["decoder"]["outputs"], decoder.run(None, {"z": z.numpy()})))
        if likelihood == "bernoulli":
            np.testing.assert_allclose(outputs["logits"], p.base_dist.logits.numpy(), atol=1e-5, rtol=0)
        else:
            np.testing.assert_allclose(outputs["mean"], p.mean.numpy(), atol=1e-5, rtol=0)
            np.testing.assert_allclose(outputs["std"], p.stddev.numpy(), atol=1e-5, rtol=0)
    assert description["likelihood"] == likelihood and description["latent_dim"] == 3
    assert description["encoder"]["inputs"] == {"x": ["batch", 1, 8, 8]}


@pytest.mark.slow
def test_cli_export_of_a_run_and_its_refusal_to_overwrite(tmp_path, tiny_npz, capsys):
    run = tmp_path / "run"
    argv = ["train", "--data", tiny_npz, "--out", run, "--epochs", "1", "--arch", "resnet", "--conv-channels", "4,8",
            "--latent-dim", "2", "--quiet"]
    assert main([str(a) for a in argv]) == 0
    capsys.readouterr()
    out = tmp_path / "onnx"
    assert main(["export", str(run), "--format", "onnx", "--out", str(out)]) == 0
    assert capsys.readouterr().err.strip() == f"wrote {out}"
    assert sorted(p.name for p in out.iterdir()) == sorted([ENCODER_FILE, DECODER_FILE, DESCRIPTION_FILE])
    from vaekit import load

    model = load(run)
    x = np.load(tiny_npz)["x"][:4]
    mu, _ = ort.InferenceSession(str(out / ENCODER_FILE)).run(None, {"x": x})
    np.testing.assert_allclose(mu, model.embed(torch.from_numpy(x)).numpy(), atol=1e-5, rtol=0)

    before = (out / ENCODER_FILE).read_bytes()
    assert main(["export", str(run), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / ENCODER_FILE).read_bytes() == before


def test_a_missing_onnx_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'vaekit\[onnx\]'"):
        export_onnx(tiny("mlp", "bernoulli"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["cvae", "m2"])
def test_conditional_models_are_refused_not_exported_without_their_label(tmp_path, name):
    from vaekit.errors import ConfigError

    model = build_model(ModelConfig(model=name, input_shape=(6,), arch="mlp", latent_dim=2, hidden_dims=(8,),
                                    num_classes=3))
    with pytest.raises(ConfigError, match=f"this is a {name} model"):
        export_onnx(model, tmp_path / "out")
    assert not (tmp_path / "out").exists()
