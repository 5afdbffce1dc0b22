"""benchmarks/disentangle.py's --lr-min: a cosine over the optimiser steps, set by the batch source step by step."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import disentangle  # noqa: E402 - benchmarks/ is not a package: found through sys.path

from vaekit.data.sprites import SpriteGrid  # noqa: E402


def _rates(lr_min: float | None, steps: int = 9) -> list[float]:
    """The rate the optimiser holds as each of ``steps`` batches is handed to the trainer."""
    source = disentangle.GridBatches(SpriteGrid(grid=(3, 1, 2, 4, 4)), steps, batch_size=8, seed=0, lr_min=lr_min)
    groups = [{"lr": 1e-3}, {"lr": 1e-3}]  # e.g. encoder and decoder
    source.trainer = SimpleNamespace(optimizer=SimpleNamespace(param_groups=groups))
    rates = []
    for _ in source.epoch(0):
        assert groups[0]["lr"] == groups[1]["lr"]
        rates.append(groups[0]["lr"])
    return rates


def test_cosine_runs_from_the_rate_to_the_floor_over_the_steps_across_grid_passes():
    rates = _rates(1e-4, steps=9)  # 96 rows in batches of 8: 12 a pass, so 9 steps stay in one; see below for more
    assert len(rates) == 9
    assert rates[0] == pytest.approx(1e-3)
    assert rates[-1] == pytest.approx(1e-4 + 0.45e-3 * (1 + math.cos(math.pi * 8 / 9)))
    assert all(a > b for a, b in zip(rates, rates[1:]))
    long = _rates(1e-4, steps=30)  # 2.5 passes over the small grid: the schedule spans the steps, not a pass
    assert len(long) == 30 and long[15] == pytest.approx(5.5e-4) and long[-1] < 1.1e-4


def test_without_lr_min_the_rate_is_left_alone():
    assert _rates(None) == [1e-3] * 9


def test_a_schedule_without_its_trainer_is_refused():
    source = disentangle.GridBatches(SpriteGrid(grid=(3, 1, 2, 4, 4)), 3, batch_size=8, seed=0, lr_min=1e-4)
    with pytest.raises(ValueError, match="needs its trainer"):
        next(iter(source.epoch(0)))
