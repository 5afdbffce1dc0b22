"""Training throughput: vaekit's Trainer vs pythae 0.1.2 vs a bare eager PyTorch loop.

Same network (the MNIST MLP of pytorch/examples: 784-400-20, Bernoulli
decoder), same batch size (128), same data (60,000 MNIST images in memory),
same threads, in one run; each method trains --epochs epochs per repetition,
and the table reports the median samples per second, the ratios, and the
last epoch's mean training loss (every loop tracks it). ``--bf16`` adds the
bare loop and vaekit under bf16 autocast (matrix products in bfloat16,
weights and loss in fp32). Run it in an environment with pythae (see
docs/benchmarks.md):

    .venv-bench/bin/python benchmarks/throughput.py --data ../shared/data/mnist --bf16
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import platform
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import load_data
from vaekit.models import build_model
from vaekit.training import Trainer

BATCH, HIDDEN, LATENT = 128, 400, 20


class BareVAE(nn.Module):
    """pytorch/examples' VAE with the logits form of the Bernoulli likelihood."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(784, HIDDEN), nn.Linear(HIDDEN, 2 * LATENT)
        self.fc3, self.fc4 = nn.Linear(LATENT, HIDDEN), nn.Linear(HIDDEN, 784)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        mu, logvar = self.fc2(F.relu(self.fc1(x))).chunk(2, dim=1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = self.fc4(F.relu(self.fc3(z)))
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        kl = 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum(1)
        return (rec + kl).mean()


def bare_loop(x: torch.Tensor, epochs: int, precision: str = "fp32") -> float:
    """The best eager loop we could write; returns the last epoch's mean loss."""
    torch.manual_seed(0)
    model = BareVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)  # the fastest eager optimizer here
    for _ in range(epochs):
        order, total = torch.randperm(len(x)), torch.zeros(())
        for start in range(0, len(x), BATCH):
            with torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext():
                loss = model.loss(x.index_select(0, order[start : start + BATCH]))  # a quarter of x[idx]'s time
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach().float() * min(BATCH, len(x) - start)
    return total.item() / len(x)


def vaekit_trainer(x: torch.Tensor, epochs: int, precision: str = "fp32") -> float:
    torch.manual_seed(0)
    model = build_model(ModelConfig(input_shape=(784,), arch="mlp", hidden_dims=(HIDDEN,), latent_dim=LATENT))
    config = TrainConfig(epochs=epochs, batch_size=BATCH, val_fraction=0.0, precision=precision)
    return Trainer(model, config).fit(x)[-1]["train_loss"]


def pythae_trainer(x: torch.Tensor, epochs: int) -> float:
    from pythae.pipelines import TrainingPipeline  # noqa: PLC0415 - pythae: the competitor, installed only for this comparison
    from pythae.trainers import BaseTrainerConfig  # noqa: PLC0415 - pythae, as above
    from pythae_nets import pythae_mlp_vae  # noqa: PLC0415 - imports pythae, as above

    torch.manual_seed(0)
    model = pythae_mlp_vae(HIDDEN, LATENT)
    with tempfile.TemporaryDirectory() as out:
        config = BaseTrainerConfig(
            output_dir=out, num_epochs=epochs, learning_rate=1e-3, per_device_train_batch_size=BATCH,
            steps_saving=None, no_cuda=True,
        )
        TrainingPipeline(model=model, training_config=config)(train_data=x)
    return float("nan")  # pythae logs its losses but does not return them


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/mnist", help="folder of the MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per repetition")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-pythae", action="store_true")
    parser.add_argument("--bf16", action="store_true", help="add bf16-autocast rows (matrix products in bfloat16)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.getLogger("pythae").setLevel(logging.ERROR)
    spec = args.data if args.data.startswith("mnist") else f"mnist:{args.data}"
    x = torch.from_numpy(load_data(spec).x).reshape(-1, 784).contiguous()  # (60000, 784) in [0, 1]

    methods = {"bare eager loop": bare_loop, "vaekit Trainer": vaekit_trainer}
    if args.bf16:
        methods["bare eager loop, bf16 autocast"] = lambda data, n: bare_loop(data, n, "bf16")
        methods["vaekit Trainer, --precision bf16"] = lambda data, n: vaekit_trainer(data, n, "bf16")
    if not args.skip_pythae:
        methods["pythae 0.1.2"] = pythae_trainer
    times: dict[str, list[float]] = {name: [] for name in methods}
    losses: dict[str, float] = {}
    for _ in range(args.repeats):  # interleaved, so drift hits every method alike
        for name, run in methods.items():
            started = time.perf_counter()
            losses[name] = run(x, args.epochs)
            times[name].append(time.perf_counter() - started)

    samples = len(x) * args.epochs
    rate = {name: samples / statistics.median(t) for name, t in times.items()}
    bare = rate["bare eager loop"]
    print(f"Training throughput, MNIST MLP 784-{HIDDEN}-{LATENT}, batch {BATCH}, {len(x)} samples x "
          f"{args.epochs} epochs, {args.threads} threads, median of {args.repeats} interleaved runs")
    print(f"machine: {platform.machine()}, torch {torch.__version__}")
    print()
    print("| method | samples/s | vs bare loop | vs pythae | last epoch's train loss (nats) |")
    print("|---|---|---|---|---|")
    for name, value in rate.items():
        vs_pythae = f"{value / rate['pythae 0.1.2']:.2f}x" if "pythae 0.1.2" in rate else "-"
        loss = "-" if losses[name] != losses[name] else f"{losses[name]:.2f}"
        print(f"| {name} | {value:,.0f} | {value / bare:.2f}x | {vs_pythae} | {loss} |")


if __name__ == "__main__":
    main()
