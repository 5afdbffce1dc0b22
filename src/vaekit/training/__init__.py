"""Optimisation: the training loop and crash-safe checkpoints."""

from vaekit.training.checkpoint import load_latest_checkpoint, save_checkpoint
from vaekit.training.trainer import CheckpointError, Trainer, TrainingError

__all__ = ["CheckpointError", "Trainer", "TrainingError", "load_latest_checkpoint", "save_checkpoint"]
