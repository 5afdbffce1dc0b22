"""benchmarks/disentangle.py's --lr-min: the trainer's cosine by step over a run's one epoch of steps."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import disentangle  # noqa: E402 - benchmarks/ is not a package: found through sys.path

from tests.conftest import record_rates  # noqa: E402
from vaekit.data.sprites import SpriteGrid  # noqa: E402
from vaekit.training import Trainer  # noqa: E402


def _rates(name: str, lr_min: float | None, steps: int) -> tuple[list[float], list[float]]:
    """The VAE's and the discriminator's rate at each of ``steps`` optimiser steps of a tiny run."""
    model, cfg = disentangle.build(name, seed=0, threads=1, lr_min=lr_min)
    cfg.train.batch_size = 8
    source = disentangle.GridBatches(SpriteGrid(grid=(3, 1, 2, 4, 4)), steps, batch_size=8, seed=0)
    trainer = Trainer(model, cfg.train)
    vae, disc = record_rates(trainer)
    torch.manual_seed(0)
    trainer.fit(source)
    return vae, disc


def test_cosine_runs_from_the_rate_to_the_floor_over_the_steps_across_grid_passes():
    rates, _ = _rates("vae", 1e-4, steps=30)  # 96 rows in batches of 8: 2.5 passes, one schedule over the steps
    assert len(rates) == 30
    assert rates[0] == pytest.approx(1e-3)
    assert rates[15] == pytest.approx(5.5e-4)
    assert rates[-1] == pytest.approx(1e-4 + 0.45e-3 * (1 + math.cos(math.pi * 29 / 30)))
    assert all(a > b for a, b in zip(rates, rates[1:]))


def test_factorvae_discriminator_decays_at_the_vae_rate_share():
    vae, disc = _rates("factorvae", 1e-4, steps=6)
    own = disentangle.MODELS["factorvae"]["discriminator_lr"]
    assert disc == pytest.approx([own * r / disentangle.OPTIMISER["lr"] for r in vae])
    assert disc[-1] < disc[0]


def test_without_lr_min_the_rate_is_left_alone():
    assert _rates("vae", None, steps=5)[0] == [1e-3] * 5
