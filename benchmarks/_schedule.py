"""Learning-rate schedules a benchmark sets by hand, where the trainer's per-epoch schedulers do not fit."""

from __future__ import annotations

import math


def cosine_lr(fraction: float, lr: float, lr_min: float) -> float:
    """The cosine schedule's rate after ``fraction`` (0 to 1, clipped) of training: ``lr`` down to ``lr_min``."""
    fraction = min(max(fraction, 0.0), 1.0)
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * fraction))
