"""Shared fixtures: tiny data and tiny configs so the suite stays fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _few_threads():
    # Two cores on CI: one torch thread per test keeps timings and ordering stable.
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def tiny_images() -> np.ndarray:
    """48 binary-ish 1x8x8 images with two obvious classes (a bar at top or at bottom)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 0.1, size=(48, 1, 8, 8)).astype(np.float32)
    x[:24, :, :3, :] = 0.9
    x[24:, :, 5:, :] = 0.9
    return x


@pytest.fixture
def tiny_npz(tmp_path, tiny_images) -> Path:
    path = tmp_path / "tiny.npz"
    np.savez(path, x=tiny_images, y=np.repeat([0, 1], 24))
    return path


def weights(trainer) -> dict:
    """A trainer's model weights, cloned: what bitwise-resume tests compare."""
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def dies_after(step, n: int):
    """``step`` wrapped to raise KeyboardInterrupt on its ``n``-th call: a run killed mid-training."""
    calls = {"n": 0}

    def wrapped(*args):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return step(*args)

    return wrapped


def record_rates(trainer) -> tuple[list[float], list[float]]:
    """Lists that fill with the VAE's and the discriminator's learning rate at each later optimiser step."""
    vae: list[float] = []
    disc: list[float] = []
    step = trainer.optimizer.step

    def recording_step(*args, **kwargs):
        vae.append(trainer.optimizer.param_groups[0]["lr"])
        if trainer.discriminator_optimizer is not None:
            disc.append(trainer.discriminator_optimizer.param_groups[0]["lr"])
        return step(*args, **kwargs)

    trainer.optimizer.step = recording_step
    return vae, disc
