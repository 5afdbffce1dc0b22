"""Device placement, bf16 autocast and torch.compile (with its eager fallback)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import vaekit
from vaekit.config import ModelConfig, TrainConfig
from vaekit.errors import ConfigError
from vaekit.models import build_model
from vaekit.objectives import LossTerms
from vaekit.training import Trainer
from vaekit.training import device as devices
from vaekit.training.distributed import resolve_device

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def make(arch="mlp", tmp_path=None, **train):
    torch.manual_seed(0)
    model = build_model(
        ModelConfig(input_shape=(1, 8, 8), arch=arch, latent_dim=2, hidden_dims=(16,), conv_channels=(4, 8))
    )
    cfg = TrainConfig(**{"epochs": 2, "batch_size": 16, "device": "cpu", **train})
    return Trainer(model, cfg, checkpoint_dir=None if tmp_path is None else tmp_path / "ckpt")


@pytest.fixture
def xs(tiny_images):
    x = torch.from_numpy(tiny_images)
    return x[:40].contiguous(), x[40:].contiguous()


@pytest.mark.parametrize("value", ["gpu", "cuda:", "cuda:x", "CPU", ""])
def test_device_settings_are_checked_without_torch(value):
    with pytest.raises(ConfigError, match="'device'"):
        TrainConfig(device=value).validate()
    with pytest.raises(ConfigError, match="'precision'"):
        TrainConfig(precision="fp16").validate()


def test_auto_is_cuda_only_when_there_is_one():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_asking_for_cuda_without_a_gpu_is_a_config_error(name, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # runs on GPU machines too
    with pytest.raises(ConfigError, match="needs a CUDA GPU and this machine has none.*--device cpu"):
        resolve_device(name)
    from vaekit.cli import main

    code = main(["train", "--data", "digits", "--out", str(tmp_path / "run"), "--device", name, "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: device") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_bf16_autocast_trains_on_the_cpu_with_fp32_weights(xs):
    fp32, bf16 = make(), make(precision="bf16")
    fp32.fit(*xs)
    seen = []
    real = bf16.model.decoder.forward
    bf16.model.decoder.forward = lambda z: seen.append(real(z).dtype) or real(z)
    bf16.fit(*xs)
    assert torch.bfloat16 in seen  # the products ran in bf16
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())
    a, b = fp32.history[-1]["train_loss"], bf16.history[-1]["train_loss"]
    assert math.isfinite(b) and abs(a - b) < 0.05 * abs(a)


@pytest.mark.parametrize(
    "settings",
    [{"objective": "tcvae", "beta": 6.0}, {"objective": "factorvae"}, {"objective": "dipvae"},
     {"model": "iwae", "options": {"iw_samples": 3}}],
    ids=["tcvae", "factorvae", "dipvae", "iwae"],
)
def test_bf16_keeps_each_objectives_own_terms_and_loss(xs, settings):
    # The autocast wrapper once rebuilt a plain LossTerms: beta-TCVAE's float weights crashed it, and the
    # IWAE's k-sample bound silently became the ELBO. The terms must keep their class, so their own loss().
    def build(**train):
        torch.manual_seed(0)
        model = build_model(ModelConfig(input_shape=(1, 8, 8), arch="mlp", latent_dim=2, hidden_dims=(16,), **settings))
        return Trainer(model, TrainConfig(**{"epochs": 2, "batch_size": 16, "device": "cpu", **train}))

    fp32, bf16 = build(), build(precision="bf16")
    x = xs[0][:16]
    plain = fp32.model.loss_terms(x, torch.Generator().manual_seed(0))
    cast = devices.with_autocast(bf16.model.loss_terms, torch.device("cpu"))(x, torch.Generator().manual_seed(0))
    assert type(cast) is type(plain) and type(plain).loss is not LossTerms.loss  # each of these has its own loss()
    assert all(t.dtype == torch.float32 for t in vars(cast).values() if isinstance(t, torch.Tensor))
    assert torch.allclose(cast.loss(1.0), plain.loss(1.0), rtol=0.05, atol=0.5)
    fp32.fit(*xs)
    bf16.fit(*xs)
    a, b = fp32.history[-1]["train_loss"], bf16.history[-1]["train_loss"]
    assert math.isfinite(b) and abs(a - b) < 0.05 * abs(a)


@pytest.mark.slow
def test_compile_trains_with_losses_close_to_eager(xs):
    # Tiny on purpose: compiling takes tens of seconds on two cores.
    eager, compiled = make(epochs=1), make(epochs=1, compile=True)
    eager.fit(xs[0])
    compiled.fit(xs[0])
    assert compiled.compile_seconds is not None and compiled.compile_seconds > 0
    assert eager.compile_seconds is None
    a, b = eager.history[-1]["train_loss"], compiled.history[-1]["train_loss"]
    assert math.isfinite(b) and abs(a - b) < 1e-3 * abs(a)
    for key, value in eager.model.state_dict().items():
        torch.testing.assert_close(compiled.model.state_dict()[key], value, rtol=1e-4, atol=1e-5)


def test_a_failed_compile_warns_once_and_trains_eagerly_with_the_same_result(xs, monkeypatch):
    def broken_compile(fn, **kwargs):
        def run(*args, **kw):
            raise RuntimeError("Compiler: cc not found\nmore detail")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    eager = make()
    eager.fit(*xs)
    with pytest.warns(devices.CompileWarning, match=r"torch.compile failed \(RuntimeError: Compiler: cc not found\); training eagerly"):
        fallen = make(compile=True)
        fallen.fit(*xs)
    assert fallen._compiled.failed and fallen.compile_seconds is None
    for key, value in eager.model.state_dict().items():  # the failed attempt left no trace
        assert torch.equal(fallen.model.state_dict()[key], value), key


def test_compile_that_cannot_even_start_falls_back(xs, monkeypatch):
    def refuse(fn, **kwargs):
        raise RuntimeError("Dynamo is not supported on this Python")

    monkeypatch.setattr(torch, "compile", refuse)
    with pytest.warns(devices.CompileWarning, match="not supported"):
        trainer = make(epochs=1, compile=True)
    trainer.fit(xs[0])
    assert math.isfinite(trainer.history[-1]["train_loss"])


@pytest.mark.filterwarnings("ignore::vaekit.runs.PosteriorCollapseWarning")
def test_compile_seconds_reach_the_summary(tmp_path, tiny_npz, monkeypatch):
    # The compiler is replaced by the identity: this tests the reporting, not inductor.
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: fn)
    vaekit.train(str(tiny_npz), out=tmp_path / "run", compile=True, epochs=1, batch_size=16, latent_dim=2,
                 hidden_dims=(8,), arch="mlp", device="cpu", quiet=True)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["compile_seconds"] >= 0


# --------------------------------------------------------------------------- CUDA


@needs_cuda
@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_cuda_bf16_trains_resumes_and_loads_back_on_the_cpu(tmp_path, tiny_images, arch):
    x = torch.from_numpy(tiny_images)
    cuda = make(arch, tmp_path, device="cuda", precision="bf16", dynamic_binarization=True, epochs=3,
                checkpoint_every=2)
    assert next(cuda.model.parameters()).is_cuda and cuda.generator.device.type == "cuda"
    if arch == "conv":
        conv = next(m for m in cuda.model.modules() if isinstance(m, torch.nn.Conv2d))
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    cuda.fit(x[:40], x[40:], until_epoch=2)
    resumed = make(arch, tmp_path, device="cuda", precision="bf16", dynamic_binarization=True, epochs=3,
                   checkpoint_every=2)
    assert resumed.resume_from(tmp_path / "ckpt") and resumed.epoch == 2
    resumed.fit(x[:40], x[40:])
    cuda.fit(x[:40], x[40:])
    for key, value in cuda.model.state_dict().items():  # the same noise; GPU kernels may round differently
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=1e-3, atol=1e-4)
    assert all(math.isfinite(r["val_loss"]) for r in resumed.history)


@needs_cuda
@pytest.mark.filterwarnings("ignore::vaekit.runs.PosteriorCollapseWarning")
def test_a_cuda_run_folder_loads_on_the_cpu(tmp_path, tiny_npz):
    vaekit.train(str(tiny_npz), out=tmp_path / "run", device="cuda", precision="bf16", arch="conv",
                 conv_channels=(4, 8), latent_dim=2, epochs=2, batch_size=16, quiet=True)
    model = vaekit.load(tmp_path / "run")
    assert next(model.parameters()).device.type == "cpu"
    assert np.isfinite(model.sample(4).numpy()).all()


@needs_cuda
def test_in_memory_data_goes_to_the_gpu_whole_and_streamed_batches_through_pinned_memory():
    x = torch.rand(64, 4)
    placed = devices.place_data(x, torch.device("cuda"))
    assert placed.is_cuda
    batch = devices.to_device(torch.rand(8, 4), torch.device("cuda"))
    assert batch.is_cuda
