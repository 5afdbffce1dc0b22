"""TensorBoard logging for training runs, through the Trainer's ``on_epoch_end`` hook.

``TensorBoardLogger`` is a callable ``f(trainer, row)``: it writes every
number of the epoch's metrics row as a scalar and, every few epochs, a grid
of samples decoded from the same fixed latents, so the pictures of one run
show how the model learns. ``tensorboard --logdir RUN_DIR/tensorboard``
shows them. The ``tensorboard`` package is an optional extra.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from vaekit.errors import MissingExtraError

TENSORBOARD_DIR = "tensorboard"
N_IMAGES = 16  # a 4x4 grid: enough to judge sample quality, small in the event file


def summary_writer_class() -> type:
    """``torch.utils.tensorboard.SummaryWriter``, or a one-line error naming the extra to install."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise MissingExtraError(
            "TensorBoard logging needs the tensorboard package: pip install 'vaekit[tensorboard]'"
        ) from None
    return SummaryWriter


def _tag(key: str) -> str:
    """``train_loss`` -> ``train/loss`` so TensorBoard groups a split's curves together."""
    split, _, name = key.partition("_")
    return f"{split}/{name}" if split in ("train", "val") and name else key


class TensorBoardLogger:
    """Log each epoch's metrics (and sample grids) to ``log_dir`` for TensorBoard.

    Parameters
    ----------
    log_dir
        Folder for the event files, usually ``RUN_DIR/tensorboard``.
    images_every
        Write a sample grid at epoch 1, every ``images_every`` epochs and at
        the last epoch; 0 writes none.

    Examples
    --------
    >>> with TensorBoardLogger("runs/x/tensorboard") as logger:   # doctest: +SKIP
    ...     Trainer(model, cfg, on_epoch_end=[logger]).fit(x)
    """

    def __init__(self, log_dir: str | Path, images_every: int = 5) -> None:
        self.log_dir = Path(log_dir)
        self.images_every = images_every
        self.writer = summary_writer_class()(log_dir=str(self.log_dir))

    def __call__(self, trainer: Any, row: dict[str, float]) -> None:
        epoch = int(row.get("epoch", trainer.epoch))
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(_tag(key), value, global_step=epoch)
        last = epoch >= trainer.config.epochs or trainer.stopped_early
        if self.images_every and (epoch == 1 or epoch % self.images_every == 0 or last):
            self._log_samples(trainer.model, epoch)
        self.writer.flush()  # a run killed later still leaves its curves readable

    @torch.no_grad()
    def _log_samples(self, model: Any, epoch: int) -> None:
        shape = tuple(model.input_shape)
        if len(shape) != 3 or shape[0] not in (1, 3):
            return  # tables have no picture; their curves are the scalars
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()  # the trainer switches back to train mode at the next epoch anyway
        try:
            # The same noise every epoch, from its own generator: the grids compare across
            # epochs (also under a learned prior), and training's random streams are left untouched.
            g = torch.Generator(device=device).manual_seed(0)
            images = model.sample(N_IMAGES, generator=g).clamp(0, 1).cpu()  # (16, C, H, W)
        finally:
            model.train(was_training)
        self.writer.add_images("samples", images, global_step=epoch)

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
