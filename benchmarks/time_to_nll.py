"""Time to 95 nats: training wall time until the MNIST test NLL first reaches a level, vaekit vs pythae.

Trains, in one run and one epoch at a time (alternating, so that machine
drift hits both alike), vaekit's ``mnist-mlp`` preset (dynamically binarized
MNIST) and pythae 0.1.2's VAE with the pytorch/examples network 784-400-20
(Bernoulli decoder) and pythae's documented defaults: Adam, learning rate
1e-4, batch 64, MNIST binarized once. After every epoch both are scored on
the same fixed subset of the test images, binarized once, with the
importance-weighted NLL of Burda et al. 2015 (``vaekit.evaluation.
iw_log_likelihood``, K = 1000). Evaluation time is measured apart and
excluded from the training time; the table shows both, and the ratio of
the times to the level. Both train on the same 55,000 images (the preset's
split). Needs the environment with pythae (see docs/benchmarks.md):

    .venv-bench/bin/python benchmarks/time_to_nll.py --data /work/shared/data/mnist
    .venv-bench/bin/python benchmarks/time_to_nll.py --max-seconds 30 --eval-images 50   # a smoke test
"""

from __future__ import annotations

import argparse
import logging
import math
import platform
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor, nn

from vaekit.data import load_data, split_indices
from vaekit.evaluation import iw_log_likelihood
from vaekit.likelihoods import build_likelihood
from vaekit.models import build_model
from vaekit.runs import resolve_config
from vaekit.training import Trainer

HIDDEN, LATENT = 400, 20  # pytorch/examples' VAE
PYTHAE_LR, PYTHAE_BATCH = 1e-4, 64  # pythae's BaseTrainerConfig defaults


@dataclass
class Race:
    """One method's progress: an epoch function, its test-NLL probe and what it has reached."""

    name: str
    network: str
    train_epoch: Callable[[], None]
    nll: Callable[[], float]
    epochs: int = 0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    reached_at: float | None = None
    reached_epoch: int | None = None
    curve: list[tuple[float, float]] = field(default_factory=list)

    def run_epoch(self, level: float) -> None:
        started = time.perf_counter()
        self.train_epoch()
        self.train_seconds += time.perf_counter() - started
        self.epochs += 1
        started = time.perf_counter()
        value = self.nll()
        self.eval_seconds += time.perf_counter() - started
        self.curve.append((self.train_seconds, value))
        if self.reached_at is None and value <= level:
            self.reached_at, self.reached_epoch = self.train_seconds, self.epochs
        print(f"{self.name:<8} epoch {self.epochs:4d}  train {self.train_seconds:7.1f} s  "
              f"test NLL {value:7.2f}  (evaluation {self.eval_seconds:6.1f} s)", flush=True)


def vaekit_race(args, train_x: Tensor, val_x: Tensor, probe: Tensor) -> Race:
    overrides = dict(kv.split("=", 1) for kv in args.set)
    cfg = resolve_config(None, {**overrides, "device": "cpu", "num_threads": args.threads}, args.preset)
    cfg.model.input_shape = tuple(train_x.shape[1:])
    cfg.validate()
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model)
    trainer = Trainer(model, cfg.train)
    network = "-".join(map(str, (784, *cfg.model.hidden_dims, cfg.model.latent_dim)))
    return Race(
        name="vaekit",
        network=f"{network} ({args.preset}, dynamic binarization)",
        train_epoch=lambda: trainer.fit(train_x, val_x, until_epoch=trainer.epoch + 1),
        nll=lambda: -iw_log_likelihood(model, probe, args.eval_k)[0].mean().item(),
    )


class PythaeScorer(nn.Module):
    """A trained pythae VAE seen through the interface ``iw_log_likelihood`` scores."""

    def __init__(self, vae) -> None:
        super().__init__()
        self.vae = vae
        self.decoder = vae.decoder.logits  # logits, not pythae's sigmoid output: exact log-probabilities
        self.likelihood = build_likelihood("bernoulli", (784,))

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        out = self.vae.encoder(x)
        return out.embedding, out.log_covariance


def pythae_race(args, binary_train: Tensor, probe: Tensor) -> Race:
    from pythae.data.datasets import BaseDataset  # noqa: PLC0415 - pythae: the competitor, installed only for this comparison
    from pythae.trainers import BaseTrainer, BaseTrainerConfig  # noqa: PLC0415 - pythae, as above
    from pythae.trainers.training_callbacks import MetricConsolePrinterCallback, ProgressBarCallback  # noqa: PLC0415 - pythae, as above
    from pythae_nets import pythae_mlp_vae  # noqa: PLC0415 - imports pythae, as above

    torch.manual_seed(0)
    vae = pythae_mlp_vae(HIDDEN, LATENT)
    config = BaseTrainerConfig(
        output_dir=tempfile.mkdtemp(prefix="pythae-"), num_epochs=10**6, learning_rate=PYTHAE_LR,
        per_device_train_batch_size=PYTHAE_BATCH, steps_saving=None, no_cuda=True,
    )
    data = BaseDataset(binary_train, torch.zeros(len(binary_train)))
    trainer = BaseTrainer(vae, train_dataset=data, training_config=config)
    trainer.prepare_training()
    quiet = (ProgressBarCallback, MetricConsolePrinterCallback)  # one line per epoch is ours
    trainer.callback_handler.callbacks = [c for c in trainer.callback_handler.callbacks if not isinstance(c, quiet)]
    scorer = PythaeScorer(vae)
    epoch = [0]

    def train_epoch() -> None:
        epoch[0] += 1
        trainer.train_step(epoch[0])

    return Race(
        name="pythae",
        network=f"784-{HIDDEN}-{LATENT} (lr {PYTHAE_LR:g}, batch {PYTHAE_BATCH}, binarized once)",
        train_epoch=train_epoch,
        nll=lambda: -iw_log_likelihood(scorer, probe.reshape(len(probe), -1), args.eval_k)[0].mean().item(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/work/shared/data/mnist", help="folder of the MNIST IDX files")
    parser.add_argument("--preset", default="mnist-mlp")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override vaekit preset keys")
    parser.add_argument("--level", type=float, default=95.0, help="target test NLL in nats")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="training-time budget per method")
    parser.add_argument("--max-epochs", type=int, default=1000)
    parser.add_argument("--eval-images", type=int, default=1000, help="fixed subset of the test set scored every epoch")
    parser.add_argument("--eval-k", type=int, default=1000, help="importance samples per test image")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-pythae", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.getLogger("pythae").setLevel(logging.ERROR)

    spec = args.data if args.data.startswith("mnist") else f"mnist:{args.data}"
    train = load_data(spec, split="train")
    x = torch.from_numpy(train.x)  # (60000, 1, 28, 28) in [0, 1]
    cfg = resolve_config(None, dict(kv.split("=", 1) for kv in args.set), args.preset)
    train_idx, val_idx = split_indices(len(x), cfg.train.val_fraction, cfg.train.seed)
    test = torch.from_numpy(load_data(spec, split="test").x)
    probe = torch.bernoulli(test[: args.eval_images], generator=torch.Generator().manual_seed(0))  # binarized once

    races = [vaekit_race(args, x[train_idx], x[val_idx], probe)]
    if not args.skip_pythae:
        binary = torch.bernoulli(x[train_idx], generator=torch.Generator().manual_seed(1)).reshape(len(train_idx), -1)
        races.append(pythae_race(args, binary, probe))

    def running(race: Race) -> bool:
        return race.reached_at is None and race.train_seconds < args.max_seconds and race.epochs < args.max_epochs

    while any(running(r) for r in races):
        for race in races:  # one epoch each in turn
            if running(race):
                race.run_epoch(args.level)

    print()
    print(f"MNIST, time until the test NLL first reaches {args.level:g} nats (K={args.eval_k}, first "
          f"{len(probe)} test images, binarized once), {platform.machine()}, {args.threads} threads, "
          f"torch {torch.__version__}; training time excludes evaluation")
    print()
    print("| method | network and settings | reached at (training s) | epochs | best NLL | training s | evaluation s |")
    print("|---|---|---|---|---|---|---|")
    for r in races:
        reached = "not reached" if r.reached_at is None else f"{r.reached_at:.1f}"
        best = min(v for _, v in r.curve)
        print(f"| {r.name} | {r.network} | {reached} | {r.reached_epoch or r.epochs} | {best:.2f} | "
              f"{r.train_seconds:.1f} | {r.eval_seconds:.1f} |")
    if len(races) == 2:
        mine, theirs = races
        if mine.reached_at is not None and theirs.reached_at is not None:
            print(f"\nratio pythae / vaekit time to {args.level:g} nats: {theirs.reached_at / mine.reached_at:.1f}x")
        elif mine.reached_at is not None:
            bound = theirs.train_seconds / mine.reached_at
            print(f"\npythae did not reach {args.level:g} nats within {theirs.train_seconds:.0f} s: ratio > {bound:.1f}x")
        else:
            print(f"\nvaekit did not reach {args.level:g} nats within the budget: no ratio")
    assert all(math.isfinite(v) for r in races for _, v in r.curve)


if __name__ == "__main__":
    main()
