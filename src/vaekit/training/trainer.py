"""The one training loop: Adam on the mean per-sample loss, with exact resume.

One loop reads any :class:`~vaekit.training.batches.BatchSource`: in-memory
tensors batched by indexing with a permutation (no per-sample DataLoader),
or data larger than memory streamed from a
:class:`~vaekit.data.StreamedDataset` a window of blocks at a time.
Running sums stay on the device and are read once per epoch, so a step
costs one host read (the NaN guard). Everything random comes from
generators whose state is in the checkpoint: the batch order of epoch e is
a pure function of (seed, e), the sampling noise comes from one saved
generator per process, and so a resumed run ends with bitwise the same
weights. Under torchrun each process trains on its shard of the epoch's
order and DistributedDataParallel averages the gradients
(:mod:`vaekit.training.distributed`). An objective that trains a network
beside the VAE (FactorVAE's discriminator) gets an Adam of its own, stepped
after the VAE's on the same batch; its state is in the checkpoint too.
"""

from __future__ import annotations

import copy
import math
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from vaekit.config import TrainConfig
from vaekit.data.streaming import StreamedDataset
from vaekit.errors import ConfigError, VaekitError
from vaekit.evaluation import mean_loss_terms
from vaekit.objectives import capacity_at, kl_weight, trimmed_mean
from vaekit.training import device as devices
from vaekit.training import distributed
from vaekit.training.batches import BatchSource, batch_source
from vaekit.training.checkpoint import load_latest_checkpoint, save_checkpoint

TERMS = ("loss", "reconstruction", "kl")
#: Seconds between the in-epoch lines of a log without a progress bar (a CI log, a file): an epoch
#: that takes minutes still shows that it is moving and how far it has got.
HEARTBEAT_S = 60.0


class TrainingError(VaekitError):
    """Training cannot go on (e.g. the loss became NaN or infinite)."""


class CheckpointError(TrainingError):
    """A checkpoint could not be written (disk full, file too large, permissions)."""


class Trainer:
    """Optimises a model's per-sample loss terms with Adam.

    Parameters
    ----------
    model:
        Any module with ``loss_terms(x, generator) -> LossTerms`` and a
        ``config.beta``; with labels, ``loss_terms(x, generator, y=y)``.
    config:
        Optimisation settings; ``config.device`` decides where the model and
        the batches go (the model is moved there).
    checkpoint_dir:
        Where checkpoints go; ``None`` disables them. Under torchrun only
        rank 0 writes them.
    progress:
        Show a progress bar (only when stderr is a terminal).
    log:
        Called with one line per epoch, e.g. ``print``; ``None`` is silent.
    on_epoch_end:
        Called as ``f(trainer, row)`` after each epoch with that epoch's
        metrics row (e.g. to log to TensorBoard).
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig,
        *,
        checkpoint_dir: str | Path | None = None,
        progress: bool = False,
        log: Callable[[str], None] | None = None,
        on_epoch_end: Sequence[Callable[[Trainer, dict[str, float]], None]] = (),
    ) -> None:
        config.validate()
        self.device = distributed.resolve_device(config.device)
        self.world = distributed.init_process_group(self.device)
        self.model = devices.prepare_model(model, self.device)
        self.config = config
        self.beta = float(model.config.beta)
        self.free_bits = float(getattr(model.config, "free_bits", 0.0))
        self.capacity_max = float(getattr(model.config, "capacity_max", 0.0))
        self.capacity_steps = int(getattr(model.config, "capacity_steps", 1))
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.progress = progress and sys.stderr.isatty() and self.world.is_main
        self.log = log if self.world.is_main else None
        self.on_epoch_end = list(on_epoch_end)
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        # Walked once here, not twice per step (parameters() traverses every module).
        # An objective's discriminator is trained by its own optimizer, never by the VAE's.
        self.objective = getattr(model, "objective", None)
        discriminator = list(getattr(self.objective, "discriminator_parameters", list)())
        if discriminator and self.world.size > 1:
            raise ConfigError(
                f"objective '{self.objective.name}' trains a discriminator in one process; run it without torchrun"
            )
        own = {id(p) for p in discriminator}
        self.params = [p for p in model.parameters() if p.requires_grad and id(p) not in own]
        self.optimizer = _adam(self.params, config)
        self.discriminator_optimizer = _discriminator_adam(discriminator, config) if discriminator else None
        self.scheduler = _lr_scheduler(self.optimizer, config)
        self._cosine_by_step = config.lr_interval == "step" and config.lr_schedule == "cosine"  # set in _train_step
        # One noise stream per process; rank 0's is the single-process one.
        self.generator = torch.Generator(self.device).manual_seed(config.seed + self.world.rank * 7_919)
        self._loss = self._loss_function(model)
        # Progress counters, all saved in the checkpoint.
        self.epoch = 0  # completed epochs
        self.step = 0  # optimiser steps taken
        self.batch_in_epoch = 0
        # This epoch's per-sample sums of TERMS, and the rows they cover (skipped batches excluded).
        self.epoch_sums = torch.zeros(len(TERMS), dtype=torch.float64, device=self.device)
        self.epoch_rows = 0
        # The discriminator's cross-entropy this epoch, summed per row like epoch_sums (log 2 = 0.693: it cannot tell).
        self.discriminator_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self.history: list[dict[str, float]] = []
        self.best_val = math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self.best_state: dict[str, Tensor] | None = None
        self.stopped_early = False
        self.nan_skips = 0
        self.last_checkpoint: Path | None = None
        self._bar = None

    def _loss_function(self, model: nn.Module) -> Any:
        """What a step calls ``.loss_terms`` on: the model itself for fp32 eager on one process."""
        self._compiled: devices.CompiledLoss | None = None
        if self.world.size == 1 and not self.config.compile and self.config.precision == "fp32":
            return model
        fn = model.loss_terms
        if self.world.size > 1:
            fn = distributed.data_parallel(model, self.device)
        if self.config.compile:
            self._compiled = devices.CompiledLoss(fn, self.log)
            fn = self._compiled.fn
            # The first step is timed, and re-run eagerly if compilation fails.
            self._train_step = self._first_compiled_step  # type: ignore[method-assign]
        if self.config.precision == "bf16":
            fn = devices.with_autocast(fn, self.device)
        return devices.LossCall(fn)

    @property
    def compile_seconds(self) -> float | None:
        """Wall time of the first compiled step (compilation included); None without --compile."""
        return None if self._compiled is None else self._compiled.seconds

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit-for-bit (tensors and plain values only).

        Under torchrun every rank calls it (the per-rank noise generators and
        running sums are gathered), and rank 0's copy is the one saved.
        """
        sums = self._sums_and_rows()
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "discriminator_optimizer": (
                None if self.discriminator_optimizer is None else self.discriminator_optimizer.state_dict()
            ),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "generator_device": self.device.type,
            "world_size": self.world.size,
            "rank_generators": distributed.all_gather(self.generator.get_state(), self.device),
            "rank_epoch_sums": distributed.all_gather(sums, self.device),
            "epoch": self.epoch,
            "step": self.step,
            "batch_in_epoch": self.batch_in_epoch,
            "epoch_sums": sums.to("cpu"),
            "discriminator_sum": self.discriminator_sum.to("cpu", copy=True),
            "history": copy.deepcopy(self.history),
            "best_val": self.best_val,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "best_state": self.best_state,
            "stopped_early": self.stopped_early,
            "nan_skips": self.nan_skips,
            "global_rng": _global_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict()``: weights, optimizers, schedule, sampling RNG and position.

        Training then continues bitwise as if it had never stopped.
        """
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.discriminator_optimizer is not None and state.get("discriminator_optimizer") is not None:
            self.discriminator_optimizer.load_state_dict(state["discriminator_optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        world = int(state.get("world_size", 1))
        if world != self.world.size:
            raise TrainingError(
                f"the checkpoint was written by {world} process(es) and this run has {self.world.size}; "
                f"resume it with the same number (torchrun --nproc_per_node {world} ...)"
            )
        rank = self.world.rank
        # A row of the stacked states is a view; set_state needs a tensor of its own (a view crashes torch 2.13).
        generator = state["rank_generators"][rank].clone() if "rank_generators" in state else state["generator"]
        if state.get("generator_device", "cpu") == self.device.type:
            self.generator.set_state(generator)
        else:  # a CPU and a CUDA generator hold different states: continue from a fresh, seeded one
            self.generator.manual_seed(self.config.seed + rank * 7_919 + int(state["step"]))
        self.epoch = int(state["epoch"])
        self.step = int(state["step"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        sums = state["rank_epoch_sums"][rank] if "rank_epoch_sums" in state else state["epoch_sums"]
        self.epoch_sums = sums[: len(TERMS)].to(self.device, copy=True)
        self.epoch_rows = int(sums[len(TERMS)])
        if "discriminator_sum" in state:  # absent from checkpoints written before it was kept
            self.discriminator_sum = state["discriminator_sum"].to(self.device, copy=True)
        self.history = list(state["history"])
        self.best_val = float(state["best_val"])
        self.best_epoch = int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
        self.best_state = state["best_state"]
        self.stopped_early = bool(state["stopped_early"])
        self.nan_skips = int(state.get("nan_skips", 0))
        if "global_rng" in state:
            _set_global_rng_state(state["global_rng"])

    def resume_from(self, folder: str | Path) -> bool:
        """Load the newest readable checkpoint in ``folder``; False if there is none."""
        found = load_latest_checkpoint(folder)
        if found is None:
            return False
        state, self.last_checkpoint = found
        self.load_state_dict(state)
        return True

    def save(self) -> Path | None:
        """Checkpoint now; a failed write leaves the previous checkpoint as it was.

        Under torchrun every rank calls it together; rank 0 writes, and a
        failed write stops every rank.
        """
        if self.checkpoint_dir is None:
            return None
        state = self.state_dict()  # every rank: it gathers the per-rank states
        error: OSError | None = None
        if self.world.is_main:
            try:
                self.last_checkpoint = save_checkpoint(
                    self.checkpoint_dir, state, self.step, keep=self.config.keep_checkpoints
                )
            except OSError as exc:
                error = exc
        if distributed.agree(error is not None):
            kept = f"the previous checkpoint {self.last_checkpoint} is intact" if self.last_checkpoint else "no earlier checkpoint"
            reason = "failed on rank 0" if error is None else (error.strerror or error)
            raise CheckpointError(
                f"cannot write a checkpoint at step {self.step} in {self.checkpoint_dir} "
                f"({reason}); {kept}; free space and continue with --resume auto"
            ) from error
        return self.last_checkpoint

    # ------------------------------------------------------------------ loop

    def fit(
        self,
        train_x: Tensor | StreamedDataset | BatchSource,
        val_x: Tensor | StreamedDataset | None = None,
        *,
        until_epoch: int | None = None,
        train_y: Tensor | None = None,
        val_y: Tensor | None = None,
    ) -> list[dict[str, float]]:
        """Train until ``config.epochs`` (or early stopping); returns the per-epoch history.

        ``train_x`` and ``val_x`` are in-memory tensors or streamed parts of a
        file (``train_x`` may also be any :class:`BatchSource`). At the end
        the model holds the weights of the best validation epoch (the last
        epoch when there is no validation data). ``until_epoch`` stops
        earlier, with the current weights, so that training can go on in
        slices (e.g. to evaluate between them); schedules still span
        ``config.epochs``. ``train_y`` and ``val_y`` are labels (or
        covariates) row for row of in-memory data, for models that take
        them; streamed data brings its own (:meth:`StreamedDataset.with_labels`).
        """
        cfg = self.config
        last = cfg.epochs if until_epoch is None else min(until_epoch, cfg.epochs)
        if isinstance(val_x, StreamedDataset) and val_y is not None:
            raise ConfigError("streamed validation data carries its own labels: pass val_x.with_labels(rule), not val_y")
        source = batch_source(
            train_x, train_y, batch_size=cfg.batch_size, seed=cfg.seed, world=self.world, device=self.device
        )
        steps_per_epoch = source.steps_per_epoch
        set_dataset_size = getattr(self.model, "set_dataset_size", None)
        if set_dataset_size is not None:
            set_dataset_size(len(source))  # beta-TCVAE's stratified estimator weights by it
        has_val = val_x is not None and len(val_x) > 0
        if has_val and isinstance(val_x, Tensor):
            val_x = devices.place_data(val_x, self.device)
        bar = self._bar = self._progress_bar(steps_per_epoch)
        with devices.subnormals_flushed(self.device, cfg.flush_denormal):  # see TrainConfig.flush_denormal
            try:
                while self.epoch < last and not self.stopped_early:
                    started = heartbeat = time.perf_counter()
                    resumed_at = self.batch_in_epoch  # > 0 when a run resumes mid-epoch
                    self.model.train()
                    for xb, yb in source.epoch(self.epoch, self.batch_in_epoch):
                        self._train_step(xb, steps_per_epoch, yb)
                        self.batch_in_epoch += 1
                        if bar is not None:
                            bar.update(1)
                        elif self.log is not None and time.perf_counter() - heartbeat >= HEARTBEAT_S:
                            heartbeat = time.perf_counter()
                            rate = (heartbeat - started) / (self.batch_in_epoch - resumed_at)  # s/step
                            self.log(_in_epoch(self.epoch, cfg.epochs, self.batch_in_epoch, steps_per_epoch, rate))
                        every = cfg.checkpoint_every
                        if every and self.step % every == 0 and self.batch_in_epoch < steps_per_epoch:
                            self.save()  # mid-epoch only: _end_epoch saves at the end
                    self._end_epoch(val_x if has_val else None, steps_per_epoch, time.perf_counter() - started, val_y)
                    if bar is not None:
                        bar.set_postfix_str(self._summary(self.history[-1]), refresh=False)
            finally:
                if bar is not None:
                    bar.close()
        finished = self.epoch >= cfg.epochs or self.stopped_early
        if finished and has_val:
            self.keep_best()
        return self.history

    def keep_best(self) -> int:
        """Put the weights of the best validation epoch back in the model; that epoch.

        ``fit`` does this when training ends; call it after a run that you end
        yourself between ``until_epoch`` slices (e.g. on a time budget). Without
        validation data there is nothing to choose from: the last epoch stays.
        """
        if self.best_state is None:
            return self.epoch
        self.model.load_state_dict(self.best_state)
        return self.best_epoch

    def _first_compiled_step(self, xb: Tensor, steps_per_epoch: int, yb: Tensor | None = None) -> None:
        """The first step with --compile: timed (compilation happens in it), eager if compiling fails."""
        del self._train_step  # every later step is the plain method
        generator = self.generator.get_state()
        rng = _global_rng_state()

        def step(fn: devices.LossFn) -> None:
            self._loss.loss_terms = fn if self.config.precision == "fp32" else devices.with_autocast(fn, self.device)
            self._train_step(xb, steps_per_epoch, yb)

        def rewind() -> None:
            self.optimizer.zero_grad(set_to_none=True)
            self.generator.set_state(generator)
            _set_global_rng_state(rng)

        self._compiled.first_step(step, rewind)

    def _train_step(self, xb: Tensor, steps_per_epoch: int, yb: Tensor | None = None) -> None:
        cfg = self.config
        if cfg.dynamic_binarization:
            xb = torch.bernoulli(xb, generator=self.generator)
        if yb is None:
            terms = self._loss.loss_terms(xb, self.generator)
        else:
            terms = self._loss.loss_terms(xb, self.generator, y=yb)
        capacity = capacity_at(self.step, self.capacity_max, self.capacity_steps)
        per_sample = terms.loss(self._beta_at(steps_per_epoch), self.free_bits, capacity)  # (B,)
        loss = trimmed_mean(per_sample, cfg.trim_fraction)  # the one reduction
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip is not None:
            total = nn.utils.clip_grad_norm_(self.params, cfg.grad_clip, foreach=True)
        else:
            # A sum keeps any inf or NaN of its terms, so it is finite iff every gradient is
            # (short of overflowing 3e38). One sum per tensor: on CPU torch._foreach_norm
            # costs ~10% of a step of the MNIST MLP, these sums under 1%.
            total = torch.stack([p.grad.sum() for p in self.params if p.grad is not None]).sum()
        # One host read per step covers both the loss and the gradients. The
        # gradients are already averaged over the ranks; the losses are summed
        # over them here, so every rank takes the same decision.
        checked = loss if self.world.size == 1 else distributed.all_reduce_sum(loss.detach().clone())
        if not torch.isfinite(checked + total):
            what, value = ("loss", loss) if not torch.isfinite(loss) else ("a gradient", total)
            return self._non_finite(what, value, terms)
        if self._cosine_by_step:
            self._set_lr(cosine_lr(self.step / (cfg.epochs * steps_per_epoch), cfg.lr, cfg.lr_min))
        self.optimizer.step()
        if self.discriminator_optimizer is not None:
            self._discriminator_step(terms)
        self.step += 1
        with torch.no_grad():
            self.epoch_sums += torch.stack([per_sample, terms.reconstruction, terms.kl]).sum(dim=1)  # (3,)
        self.epoch_rows += len(xb)  # on the host: no device op per step

    def _set_lr(self, lr: float) -> None:
        """The VAE's rate for the next step, and the discriminator's at the same share of its own."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self._discriminator_follows()

    def _discriminator_follows(self) -> None:
        """FactorVAE's discriminator on the VAE's schedule: ``discriminator_lr`` x (VAE rate / ``lr``).

        A discriminator left at its full rate while the encoder's decays keeps
        moving the total-correlation estimate the encoder is trained against.
        """
        if self.discriminator_optimizer is None:
            return
        share = self.optimizer.param_groups[0]["lr"] / self.config.lr
        for group in self.discriminator_optimizer.param_groups:
            group["lr"] = self.config.discriminator_lr * share

    def _discriminator_step(self, terms) -> None:
        """One Adam step of the objective's discriminator on the batch's (detached) codes."""
        loss = self.objective.discriminator_loss(terms, self.generator)
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.discriminator_optimizer.step()
        self.discriminator_sum += loss.detach() * len(terms.codes)  # over the rows epoch_rows counts

    def _sums_and_rows(self) -> Tensor:
        """The epoch's sums with the row count appended, (len(TERMS) + 1,): what checkpoints and ranks share."""
        rows = torch.full((1,), float(self.epoch_rows), dtype=self.epoch_sums.dtype, device=self.device)
        return torch.cat([self.epoch_sums, rows])

    def _beta_at(self, steps_per_epoch: int) -> float:
        cfg = self.config
        return kl_weight(
            self.step, steps_per_epoch, self.beta, cfg.kl_warmup_epochs,
            cycles=cfg.kl_cycles, cycle_ratio=cfg.kl_cycle_ratio, total_epochs=cfg.epochs,
        )

    def _non_finite(self, what: str, value: Tensor, terms) -> None:
        """Stop with the step, the loss terms and the last good checkpoint, or skip the batch."""
        detail = (
            f"{what} became {value.item()} at step {self.step} (epoch {self.epoch + 1}): "
            f"reconstruction {terms.reconstruction.mean().item():.4g}, kl {terms.kl.mean().item():.4g}"
        )
        self.optimizer.zero_grad(set_to_none=True)
        if self.config.on_nan == "skip" and self.nan_skips < self.config.max_nan_skips:
            self.nan_skips += 1
            if self.log is not None:
                self.log(f"skipped batch {self.nan_skips}/{self.config.max_nan_skips}: {detail}")
            return
        where = f"last good checkpoint: {self.last_checkpoint}" if self.last_checkpoint else "no checkpoint yet"
        if self.config.on_nan == "skip":
            detail = f"more than {self.config.max_nan_skips} non-finite batches; last: {detail}"
        raise TrainingError(
            f"{detail}; {where}; try a lower --lr, --grad-clip, or --on-nan skip"
        )

    def _end_epoch(
        self, val_x: Tensor | StreamedDataset | None, steps_per_epoch: int, seconds: float, val_y: Tensor | None = None
    ) -> None:
        sums = distributed.all_reduce_sum(self._sums_and_rows()).tolist()  # this epoch's rows on every rank
        means = [total / max(sums[-1], 1.0) for total in sums[:-1]]  # skipped batches excluded
        row: dict[str, float] = {
            "epoch": self.epoch + 1,
            "step": self.step,
            "beta": self._beta_at(steps_per_epoch),
            **({} if not self.capacity_max else {"capacity": capacity_at(self.step, self.capacity_max, self.capacity_steps)}),
            "lr": self.optimizer.param_groups[0]["lr"],
            **{f"train_{k}": v for k, v in zip(TERMS, means)},
        }
        if self.discriminator_optimizer is not None:
            row["train_discriminator_loss"] = float(self.discriminator_sum) / max(sums[-1], 1.0)
            self.discriminator_sum.zero_()
        if val_x is not None:
            val = self.evaluate(val_x, val_y)
            row.update({f"val_{k}": v for k, v in val.items()})
            if val["loss"] < self.best_val:
                self.best_val, self.best_epoch, self.bad_epochs = val["loss"], self.epoch + 1, 0
                self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            else:
                self.bad_epochs += 1
                if self.config.patience is not None and self.bad_epochs >= self.config.patience:
                    self.stopped_early = True
        row["seconds"] = seconds
        if self.scheduler is not None:
            if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                self.scheduler.step(row.get("val_loss", row["train_loss"]))
            else:
                self.scheduler.step()
            self._discriminator_follows()
        self.history.append(row)
        self.epoch += 1
        self.batch_in_epoch = 0
        self.epoch_sums.zero_()
        self.epoch_rows = 0
        if self.log is not None:
            line = f"epoch {self.epoch}/{self.config.epochs}  {self._summary(row)}"
            if self._bar is not None:
                self._bar.write(line, file=sys.stderr)  # above the bar, not through it (the bar has the ETA)
            else:
                self.log(line + _time_left(seconds, self.config.epochs - self.epoch))
        for callback in self.on_epoch_end:
            callback(self, row)
        self.save()

    def evaluate(self, x: Tensor | StreamedDataset, y: Tensor | None = None) -> dict[str, float]:
        """Mean loss terms on ``x`` at the full beta (and capacity), with noise fixed by the seed.

        The noise generator is separate from the training one, so evaluating
        never changes the course of training. Streamed data is evaluated a
        block at a time, with its file's labels when it has a label rule
        (``y`` is for in-memory data); under torchrun each rank scores its
        share of the rows and the sums are added up, so every rank sees the
        same numbers.
        """
        seed = self.config.seed + 1
        rank, world = self.world.rank, self.world.size
        capacity = self.capacity_max or None
        if world == 1 and isinstance(x, Tensor):
            y = None if y is None else y.to(self.device)
            return mean_loss_terms(self.model, x.to(self.device), beta=self.beta, seed=seed, y=y, capacity=capacity)
        if isinstance(x, StreamedDataset):
            pairs = x.chunk_pairs(rank, world)  # with the file's labels when x has a label rule
        else:
            pairs = [(x[rank::world], None if y is None else y[rank::world])]
        sums = torch.zeros(len(TERMS) + 1, dtype=torch.float64, device=self.device)
        for chunk, y_chunk in pairs:
            chunk = devices.to_device(torch.as_tensor(chunk), self.device)
            y_chunk = None if y_chunk is None else devices.to_device(torch.as_tensor(y_chunk), self.device)
            if len(chunk):
                means = mean_loss_terms(self.model, chunk, beta=self.beta, seed=seed, y=y_chunk, capacity=capacity)
                rows = len(chunk)
                sums += torch.tensor([means[k] * rows for k in TERMS] + [rows], dtype=torch.float64, device=self.device)
        total = distributed.all_reduce_sum(sums).tolist()
        return {k: v / max(total[-1], 1.0) for k, v in zip(TERMS, total)}

    def _progress_bar(self, steps_per_epoch: int):
        if not self.progress:
            return None
        from tqdm.auto import tqdm  # noqa: PLC0415 - only on a terminal

        total = self.config.epochs * steps_per_epoch
        done = self.epoch * steps_per_epoch + self.batch_in_epoch
        return tqdm(total=total, initial=done, unit="step", dynamic_ncols=True, leave=False)

    @staticmethod
    def _summary(row: dict[str, float]) -> str:
        parts = [f"train loss {row['train_loss']:.4f}"]
        if "train_discriminator_loss" in row:  # near log 2 = 0.693: the discriminator cannot tell
            parts.append(f"discriminator loss {row['train_discriminator_loss']:.3f}")
        if "val_loss" in row:
            parts.append(f"val loss {row['val_loss']:.4f} (rec {row['val_reconstruction']:.4f}, kl {row['val_kl']:.4f})")
        return "  ".join(parts)


def _adam(params: list[nn.Parameter], cfg: TrainConfig) -> torch.optim.Adam:
    """Adam with the fused kernel (one pass over all parameters; ~30% faster per step than
    ``foreach`` for the MNIST MLP on 2 CPU cores), or the multi-tensor path where fused
    is not supported."""
    try:
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, ValueError):  # pragma: no cover - old torch or unsupported device
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)


def _discriminator_adam(params: list[nn.Parameter], cfg: TrainConfig) -> torch.optim.Adam:
    """The discriminator's Adam: lr ``discriminator_lr``, betas (0.5, 0.9) as in Kim & Mnih 2018."""
    return torch.optim.Adam(params, lr=cfg.discriminator_lr, betas=(0.5, 0.9))


def cosine_lr(fraction: float, lr: float, lr_min: float) -> float:
    """The cosine schedule's rate after ``fraction`` (0 to 1, clipped) of training: ``lr`` down to ``lr_min``."""
    fraction = min(max(fraction, 0.0), 1.0)
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * fraction))


def _lr_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig):
    """The per-epoch learning-rate schedule named by ``cfg.lr_schedule`` (None for constant, and for a
    cosine by step, which ``Trainer._train_step`` sets from the step count: nothing to save)."""
    schedules = torch.optim.lr_scheduler
    if cfg.lr_interval == "step":
        return None
    if cfg.lr_schedule == "cosine":
        return schedules.CosineAnnealingLR(optimizer, T_max=cfg.epochs, eta_min=cfg.lr_min)
    if cfg.lr_schedule == "step":
        return schedules.StepLR(optimizer, step_size=cfg.lr_step_epochs, gamma=cfg.lr_gamma)
    if cfg.lr_schedule == "plateau":
        return schedules.ReduceLROnPlateau(optimizer, factor=cfg.lr_gamma, patience=cfg.lr_patience, min_lr=cfg.lr_min)
    return None


def _global_rng_state() -> dict[str, Any]:
    """Global RNGs (torch, NumPy, Python) as tensors and ints, loadable with weights_only=True.

    vaekit's own randomness uses explicit generators; these are saved so that
    user code relying on the global RNGs also continues exactly.
    """
    _, keys, pos, has_gauss, cached = np.random.get_state()
    version, py_state, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": torch.from_numpy(keys.astype(np.int64)),
        "numpy_pos": int(pos),
        "numpy_gauss": [int(has_gauss), float(cached)],
        "python": torch.tensor(py_state, dtype=torch.int64),
        "python_version": int(version),
        "python_gauss": gauss,
    }


def _set_global_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    has_gauss, cached = state["numpy_gauss"]
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], has_gauss, cached))
    random.setstate((state["python_version"], tuple(state["python"].tolist()), state["python_gauss"]))


def _in_epoch(epoch: int, epochs: int, step: int, steps: int, seconds_per_step: float) -> str:
    """``epoch 3/20: step 1200/4000 (30%), about 2 min left in this epoch``: a log line inside a long epoch."""
    left = seconds_per_step * (steps - step)
    eta = f"{left:.0f} s" if left < 90 else f"{left / 60:.0f} min"
    return f"epoch {epoch + 1}/{epochs}: step {step}/{steps} ({100 * step // steps}%), about {eta} left in this epoch"


def _time_left(seconds_per_epoch: float, epochs_left: int) -> str:
    """``  (12.3 s/epoch, about 5 min left)`` for a log without a progress bar; empty at the end."""
    if epochs_left <= 0:
        return ""
    left = seconds_per_epoch * epochs_left
    eta = f"{left:.0f} s" if left < 90 else f"{left / 60:.0f} min" if left < 5400 else f"{left / 3600:.1f} h"
    return f"  ({seconds_per_epoch:.1f} s/epoch, about {eta} left)"
