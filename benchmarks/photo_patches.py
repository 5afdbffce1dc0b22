"""Which likelihood for real photographs: test bits per dimension on ``photo-patches``, equal training time.

Trains the same conv VAE (``arch: conv``, default channels 32-64-128) on the
train split of ``photo-patches`` (6,100 32x32 RGB patches from the left 80%
of scikit-learn's two bundled photographs) once per likelihood, each for
``--minutes`` of training wall time on ``--threads`` threads, then scores the
104 test patches (the photos' right 20%, never seen in training):

- ``logistic-mixture`` (Salimans et al. 2017): a distribution over the 256
  levels of each subpixel, so its importance-weighted NLL (Burda et al. 2015,
  ``vaekit.evaluation.iw_log_likelihood``, K = ``--iw-samples``) is a code
  length: bits/dim = NLL / (3072 ln 2);
- ``gaussian-learned``: a density on the real line, so its own NLL is no code
  length. It is scored as the distribution it implies over the 256 levels:
  each level gets the Gaussian's mass over its bin [x - 1/510, x + 1/510], the
  levels 0 and 255 the whole tails (as the mixture does), and the same IW
  estimate gives its bits/dim;
- ``bernoulli``: its log p(x|z) at grey levels, x log p + (1 - x) log(1 - p),
  is not the log-probability of anything over the 256 levels (the values it
  gives do not sum to 1 over them). It is scored as the distribution it
  implies over them: p^x (1 - p)^(1 - x) at each level x = k / 255,
  renormalised over the 256 levels (a discrete continuous Bernoulli,
  Loaiza-Ganem & Cunningham 2019), which is exp(l x) / sum_j exp(l j / 255)
  for the decoder's logit l; the same IW estimate gives its bits/dim. It is
  the library's default for images.

Every model also gets the RMS error of its test reconstructions (in 8-bit
levels), comparable across the three, and a grid of samples (decoder means
of z ~ p(z)) and of test reconstructions, written next to the JSON.

    python benchmarks/photo_patches.py                        # the real run: 3 x 8 min + evaluation
    python benchmarks/photo_patches.py --minutes 0.2 --iw-samples 5 --train-patches 512 --out /tmp/pp   # a smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import torch
from torch import Tensor
from torch.special import log_ndtr

from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import load_data
from vaekit.evaluation import iw_log_likelihood
from vaekit.images import save_image_grid, save_reconstruction_grid
from vaekit.likelihoods import GaussianLikelihood, Likelihood
from vaekit.models import build_model
from vaekit.training import Trainer

LIKELIHOODS = ("logistic-mixture", "gaussian-learned", "bernoulli")
HALF_BIN = 0.5 / 255
#: The outer edge of the levels 0 and 255 (a distance from x): the whole tail lies inside it.
TAIL = 1e6
#: Enough epochs that the time budget, not the epoch count, ends training (the schedule is constant).
MANY_EPOCHS = 1_000_000


class DiscretizedGaussian(Likelihood):
    """A trained Gaussian likelihood read as a distribution over the 256 levels k / 255 (for scoring only).

    P(x) = Phi(b) - Phi(a) over the bin [a, b] = [x - 1/510, x + 1/510] in the
    Gaussian's units, the levels 0 and 255 taking the tails. In float64, and
    measured from the nearer tail, so far-out bins keep their digits.
    """

    name = "gaussian-discretized"
    discrete = True

    def __init__(self, gaussian: GaussianLikelihood) -> None:
        super().__init__(gaussian.event_shape)
        self.gaussian = gaussian

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        mean, std = params.double(), self.gaussian.std(params).double()  # (..., *event_shape)
        x = x.double()
        below = torch.where(x < HALF_BIN, TAIL, HALF_BIN)
        above = torch.where(x > 1 - HALF_BIN, TAIL, HALF_BIN)
        lo, hi = (x - below - mean) / std, (x + above - mean) / std
        upper = lo + hi > 0  # the bin lies above the mean: Phi(b) - Phi(a) = Phi(-a) - Phi(-b)
        lo, hi = torch.where(upper, -hi, lo), torch.where(upper, -lo, hi)
        log_hi = log_ndtr(hi)
        log_p = log_hi + torch.log(-torch.expm1(log_ndtr(lo) - log_hi))  # log(Phi(hi) - Phi(lo))
        return self._sum_event(log_p).to(params.dtype)


class DiscretizedBernoulli(Likelihood):
    """A trained Bernoulli likelihood read as a distribution over the 256 levels k / 255 (for scoring only).

    P(x) = p^x (1 - p)^(1 - x) / Z over the levels, = exp(l x) / sum_j exp(l j / 255)
    with l the logit (the factor (1 - p) cancels). The normaliser is a geometric
    sum, taken in closed form in float64 from the side that cannot overflow.
    """

    name = "bernoulli-discretized"
    discrete = True
    LEVELS = 256

    def __init__(self, bernoulli: Likelihood) -> None:
        super().__init__(bernoulli.event_shape)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        logits, x = params.double(), x.double()
        n, a = self.LEVELS, logits / (self.LEVELS - 1)  # sum_{j < n} exp(a j)
        small = a.abs() < 1e-6  # near 0: n exp((n - 1) a / 2), off by a^2 (n^2 - 1) / 24 < 3e-9
        b = torch.where(small, torch.ones_like(a), a).abs()
        log_sum = (n - 1) * torch.where(small, 0.0, a).clamp(min=0) + torch.log(-torch.expm1(-n * b)) \
            - torch.log(-torch.expm1(-b))
        log_sum = torch.where(small, math.log(n) + (n - 1) * a / 2, log_sum)
        return self._sum_event(logits * x - log_sum).to(params.dtype)


def train_for(model, x: Tensor, seconds: float, args) -> dict:
    """Train ``model`` on ``x`` in whole epochs while the next one is expected to end within ``seconds``."""
    config = TrainConfig(
        epochs=MANY_EPOCHS, batch_size=args.batch_size, lr=args.lr, val_fraction=0.0, seed=args.seed,
        num_threads=args.threads,
    )
    trainer = Trainer(model, config)
    started, last_epoch = time.perf_counter(), 0.0
    while True:
        elapsed = time.perf_counter() - started
        if trainer.epoch and elapsed + last_epoch > seconds:
            break
        trainer.fit(x, until_epoch=trainer.epoch + 1)
        last_epoch = time.perf_counter() - started - elapsed
        row = trainer.history[-1]
        print(f"  epoch {trainer.epoch:3d}  {time.perf_counter() - started:7.1f} s  "
              f"train loss {row['train_loss']:9.1f} nats/patch", flush=True)
    return {
        "epochs": trainer.epoch,
        "steps": trainer.step,
        "train_seconds": time.perf_counter() - started,
        "train_loss_nats": trainer.history[-1]["train_loss"],
    }


def score(model, likelihood: str, test: Tensor, args) -> dict:
    """Test bits/dim where the model is a distribution over 8-bit values, and the reconstruction RMS error."""
    dims = math.prod(test.shape[1:])
    model.eval()
    recon = model.reconstruct(test)  # (N, 3, 32, 32), the likelihood's mean at the posterior mean
    result: dict = {"reconstruction_rms_levels": 255 * float((recon - test).square().mean().sqrt())}
    own = model.likelihood
    if likelihood == "gaussian-learned":
        model.likelihood = DiscretizedGaussian(own)  # the same decoder, its Gaussian's mass over each bin
    elif likelihood == "bernoulli":
        model.likelihood = DiscretizedBernoulli(own)  # the same decoder, renormalised over the 256 levels
    started = time.perf_counter()
    log_px, elbo = iw_log_likelihood(model, test, args.iw_samples, seed=args.seed)
    model.likelihood = own
    to_bits = 1.0 / (dims * math.log(2))
    result.update(
        test_bits_per_dim=-float(log_px.double().mean()) * to_bits,
        test_elbo_bits_per_dim=-float(elbo.double().mean()) * to_bits,
        iw_samples=args.iw_samples,
        eval_seconds=time.perf_counter() - started,
    )
    if likelihood == "gaussian-learned":
        result["note"] = "the Gaussian's mass over each 8-bit bin, the edge levels taking the tails"
    elif likelihood == "bernoulli":
        result["note"] = "p^x (1 - p)^(1 - x) renormalised over the 256 levels (a discrete continuous Bernoulli)"
    return result


def run(likelihood: str, train: Tensor, test: Tensor, out: Path, args) -> dict:
    print(f"{likelihood}: training for {args.minutes:g} min on {len(train)} patches", flush=True)
    torch.manual_seed(args.seed)
    model = build_model(ModelConfig(
        input_shape=tuple(train.shape[1:]), arch="conv", latent_dim=args.latent_dim, likelihood=likelihood,
        mixture_components=args.mixture_components,
    ))
    result = {"likelihood": likelihood, **train_for(model, train, 60 * args.minutes, args)}
    result.update(score(model, likelihood, test, args))
    samples = model.sample(64, generator=torch.Generator().manual_seed(args.seed))  # (64, 3, 32, 32) means
    result["samples_png"] = save_image_grid(samples.numpy(), out / f"photo_patches_samples_{likelihood}.png").name
    recon = model.reconstruct(test[:32])
    result["reconstructions_png"] = save_reconstruction_grid(
        test[:32].numpy(), recon.numpy(), out / f"photo_patches_reconstructions_{likelihood}.png"
    ).name
    print(f"  {_row(result)}", flush=True)
    return result


def _row(r: dict) -> str:
    bits = "n/a" if r["test_bits_per_dim"] is None else f"{r['test_bits_per_dim']:.3f}"
    elbo = "n/a" if r["test_bits_per_dim"] is None else f"{r['test_elbo_bits_per_dim']:.3f}"
    return (f"| {r['likelihood']} | {bits} | {elbo} | {r['reconstruction_rms_levels']:.1f} | "
            f"{r['epochs']} | {r['steps']} | {r['train_seconds']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=8.0, help="training wall time per likelihood")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--iw-samples", type=int, default=1000, help="importance samples per test patch")
    parser.add_argument("--likelihoods", nargs="+", default=list(LIKELIHOODS), choices=LIKELIHOODS)
    parser.add_argument("--latent-dim", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--mixture-components", type=int, default=10, help="logistics per pixel (PixelCNN++: 10)")
    parser.add_argument("--train-patches", type=int, default=None, help="train on N random patches (smoke tests)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("docs"), help="folder for photo_patches.json and the grids")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    train = torch.from_numpy(load_data("photo-patches", split="train").x)  # (6100, 3, 32, 32)
    if args.train_patches:
        train = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[: args.train_patches]]
    test = torch.from_numpy(load_data("photo-patches", split="test").x)  # (104, 3, 32, 32)
    results = [run(name, train, test, args.out, args) for name in args.likelihoods]
    report = {
        "benchmark": "photo_patches",
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "data": {"train_patches": len(train), "test_patches": len(test), "dims": math.prod(test.shape[1:])},
        "machine": {"arch": platform.machine(), "cores": os.cpu_count(), "host": platform.node()},
        "torch": torch.__version__,
        "python": platform.python_version(),
        "results": results,
    }
    path = args.out / "photo_patches.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nphoto-patches, conv VAE (latent {args.latent_dim}), {args.minutes:g} min of training each "
          f"on {args.threads} thread(s), test bits/dim by IW with K = {args.iw_samples}:\n")
    print("| likelihood | test bits/dim (IW) | test ELBO bits/dim | recon. RMS (levels) | epochs | steps | train s |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(_row(r))
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
