"""Optimisation: the training loop and crash-safe checkpoints."""

from vaekit.training.checkpoint import load_latest_checkpoint, save_checkpoint
from vaekit.training.trainer import Trainer, TrainingError

__all__ = ["Trainer", "TrainingError", "load_latest_checkpoint", "save_checkpoint"]
