"""Importance-weighted NLL speed: vaekit vs pythae's get_nll vs a plain loop, one run.

All three score the same images with the same weights (an MNIST MLP
784-400-20, Bernoulli decoder, briefly trained so the numbers mean something)
at K importance samples. pythae wraps vaekit's networks, so the arithmetic is
identical and only the evaluation code differs. Run it in an environment with
pythae (see docs/benchmarks.md):

    .venv-bench/bin/python benchmarks/iw_nll.py --data ../shared/data/mnist

Prints images per second (median of --repeats), the ratio to pythae, each
method's mean NLL (they must agree up to Monte Carlo noise), and the share of
the machine's measured matmul throughput that vaekit reaches. The last row is
what ``vaekit evaluate --iw-samples K`` runs once the model and data are read
(the model saved and loaded, :func:`vaekit.summary.summarize`): its IW part
must be as fast as the function's.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

from vaekit.config import ModelConfig, RunConfig, TrainConfig
from vaekit.data import load_data
from vaekit.evaluation import binarize_once, iw_log_likelihood
from vaekit.io import load, save_model
from vaekit.models import build_model
from vaekit.summary import summarize
from vaekit.training import Trainer

LATENT, HIDDEN, PIXELS = 20, 400, 784


def trained_model(data: str, epochs: int, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(
        ModelConfig(input_shape=(1, 28, 28), arch="mlp", hidden_dims=(HIDDEN,), latent_dim=LATENT)
    )
    train = load_data(data, split="train")
    x = torch.from_numpy(train.x[:20000])
    Trainer(model, TrainConfig(epochs=epochs, batch_size=128, dynamic_binarization=True)).fit(x)
    return model.eval()


def plain_loop(model, x: torch.Tensor, k: int) -> np.ndarray:
    """The textbook loop: per image, encode once and decode its K samples as one batch."""
    out = []
    with torch.no_grad():
        for xi in x:
            mu, logvar = model.encode(xi[None])  # (1, Z)
            std = torch.exp(0.5 * logvar)
            eps = torch.randn(k, LATENT)
            z = mu + std * eps  # (K, Z)
            log_q = (-0.5 * eps.square() - 0.5 * logvar).sum(-1)
            log_pz = (-0.5 * z.square()).sum(-1)
            logits = model.decoder(z).flatten(1)  # (K, 784)
            log_px = -F.binary_cross_entropy_with_logits(logits, xi.flatten().expand_as(logits), reduction="none").sum(-1)
            out.append((torch.logsumexp(log_px + log_pz - log_q, 0) - math.log(k)).item())
    return np.array(out)


def pythae_model(model):
    """pythae's VAE around vaekit's networks (same weights, pythae's evaluation code)."""
    from pythae.models import VAE, VAEConfig  # noqa: PLC0415 - pythae: the competitor, installed only for this comparison
    from pythae.models.base.base_utils import ModelOutput  # noqa: PLC0415 - pythae, as above
    from pythae.models.nn import BaseDecoder, BaseEncoder  # noqa: PLC0415 - pythae, as above

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.inner = model.encoder

        def forward(self, x):
            mu, logvar = model.encode(x)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.inner = model.decoder

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(model.decoder(z)))

    config = VAEConfig(input_dim=(1, 28, 28), latent_dim=LATENT, reconstruction_loss="bce")
    return VAE(config, encoder=Encoder(), decoder=Decoder()).eval()


def matmul_gflops(rows: int = 8000, repeats: int = 20) -> float:
    """Measured float32 GEMM throughput for the decoder's dominant shape."""
    a, b = torch.randn(rows, HIDDEN), torch.randn(HIDDEN, PIXELS)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * rows * HIDDEN * PIXELS / statistics.median(times) / 1e9


def timed(fn, repeats: int) -> tuple[float, np.ndarray]:
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), np.asarray(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist", help="MNIST spec, e.g. mnist:../shared/data/mnist")
    parser.add_argument("--images", type=int, default=100, help="test images scored per repetition")
    parser.add_argument("--k", type=int, default=1000, help="importance samples per image")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-epochs", type=int, default=2)
    parser.add_argument("--skip-pythae", action="store_true")
    args = parser.parse_args()
    if ":" not in args.data and args.data != "mnist":
        args.data = f"mnist:{args.data}"
    torch.set_num_threads(args.threads)

    model = trained_model(args.data, args.train_epochs)
    test = torch.from_numpy(load_data(args.data, split="test").x[: args.images])
    test = binarize_once(test, seed=0)  # one fixed binarization, as `vaekit evaluate` draws it

    flop_per_image = args.k * 2 * (LATENT * HIDDEN + HIDDEN * PIXELS) + 2 * (PIXELS * HIDDEN + HIDDEN * 2 * LATENT)
    rows = []
    if not args.skip_pythae:
        pmodel = pythae_model(model)
        torch.manual_seed(0)
        seconds, _ = timed(lambda: [pmodel.get_nll(test[i : i + 1], n_samples=args.k) for i in range(len(test))], args.repeats)
        # get_nll returns the mean log-likelihood of what it is given; per image for the mean NLL:
        nll = -float(np.mean([pmodel.get_nll(test[i : i + 1], n_samples=args.k) for i in range(min(20, len(test)))]))
        rows.append(("pythae 0.1.2 get_nll", seconds, nll))
    torch.manual_seed(0)
    seconds, values = timed(lambda: plain_loop(model, test, args.k), args.repeats)
    rows.append(("plain loop (K batched per image)", seconds, -values[:20].mean()))
    seconds, values = timed(lambda: iw_log_likelihood(model, test, args.k)[0].numpy(), args.repeats)
    rows.append(("vaekit iw_log_likelihood", seconds, -values[:20].mean()))
    with tempfile.TemporaryDirectory() as run:  # what `vaekit evaluate --iw-samples K` does once the data is read
        save_model(run, model, RunConfig(model=model.config, train=TrainConfig(dynamic_binarization=True)))
        loaded = load(run)
        seconds, _ = timed(lambda: summarize(loaded, test.numpy(), iw_samples=args.k, binarize=True), args.repeats)
        nll = -iw_log_likelihood(loaded, test[:20], args.k)[0].double().mean().item()  # the same draws as the run's
        rows.append(("vaekit evaluate's path (ELBO, active units, then IW)", seconds, nll))

    gemm = matmul_gflops()
    base = rows[0][1]
    print(f"IW-NLL speed, MNIST MLP 784-{HIDDEN}-{LATENT}, K={args.k}, {len(test)} test images, "
          f"{args.threads} threads, median of {args.repeats}")
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}; "
          f"measured matmul {gemm:.0f} GFLOP/s; {flop_per_image / 1e9:.2f} GFLOP per image")
    print()
    print(f"| method | images/s | speed-up vs {rows[0][0].split()[0]} | GFLOP/s | share of matmul | NLL, first 20 images (nats) |")
    print("|---|---|---|---|---|---|")
    for name, seconds, nll in rows:
        ips = len(test) / seconds
        achieved = ips * flop_per_image / 1e9
        print(f"| {name} | {ips:.1f} | {base / seconds:.2f}x | {achieved:.0f} | {achieved / gemm:.0%} | {nll:.2f} |")


if __name__ == "__main__":
    main()
