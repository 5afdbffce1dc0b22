"""Test NLL on MNIST against training wall time, beside the published figures.

Trains a vaekit preset on MNIST (dynamically binarized from the IDX files,
or the statically binarized Larochelle & Murray files with --static), and at
regular points of *training* time (evaluation excluded) measures the
importance-weighted test NLL (Burda et al. 2015) on a fixed subset. At the end
it evaluates the whole test set at K = 1000 and a subset at K = 5000, prints a
table beside the literature, the time at which each level was first reached,
and writes the NLL-vs-time curve as a PNG.

    .venv/bin/python benchmarks/mnist_nll.py --data ../shared/data/mnist --budget-minutes 30

``--models vae iwae:5 iwae:50`` trains each model on the same budget (the
IWAE rows of Burda et al. 2015: the same networks trained on the k-sample
bound) and prints one row per model.

The test images are binarized once with a fixed seed (the usual protocol
for dynamically binarized MNIST).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from vaekit.data import Dataset, load_data, split_indices
from vaekit.evaluation import iw_log_likelihood
from vaekit.models import build_model
from vaekit.runs import resolve_config
from vaekit.training import Trainer

PUBLISHED = [
    ("VAE, 1 stochastic layer (Burda et al. 2015), dynamic, 3,280 epochs", 86.76),
    ("IWAE k=50 (Burda et al. 2015), dynamic", 84.78),
    ("IWAE 2 stochastic layers (Burda et al. 2015), dynamic", 82.90),
    ("Gaussian-prior VAE (Norouzi et al. 2020), dynamic", 84.45),
    ("pythae VAE reproduction, static, 500 epochs", 89.78),
]
LEVELS = (95.0, 90.0, 86.76)


def load_mnist(args) -> tuple[Dataset, torch.Tensor]:
    if args.static:
        from scipy.io import loadmat

        root = Path(args.static)
        part = lambda name: loadmat(root / f"binarized_mnist_{name}.mat")["X"].astype(np.float32)  # noqa: E731
        train = Dataset(x=np.concatenate([part("train"), part("valid")]).reshape(-1, 1, 28, 28), name="static")
        test = torch.from_numpy(part("test").reshape(-1, 1, 28, 28))
        return train, test
    spec = args.data if args.data.startswith("mnist") else f"mnist:{args.data}"
    train = load_data(spec, split="train")
    test = torch.from_numpy(load_data(spec, split="test").x)
    return train, torch.bernoulli(test, generator=torch.Generator().manual_seed(0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/mnist", help="folder of the MNIST IDX files")
    parser.add_argument("--static", default=None, help="folder of binarized_mnist_*.mat: train on static binarization")
    parser.add_argument("--preset", default="mnist-mlp")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override preset keys")
    parser.add_argument("--budget-minutes", type=float, default=30.0, help="training wall time")
    parser.add_argument("--eval-every", type=int, default=10, help="epochs between NLL checks (every epoch for the first 10)")
    parser.add_argument("--eval-images", type=int, default=500)
    parser.add_argument("--eval-k", type=int, default=1000)
    parser.add_argument("--final-k5000-images", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="docs", help="where the curve PNG and the JSON record go")
    parser.add_argument(
        "--models", nargs="+", default=["vae"], metavar="MODEL[:K]",
        help="models trained on the same budget: vae, iwae:K (K importance samples in training)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    train, test = load_mnist(args)
    probe = test[: args.eval_images]
    results = [run_model(spec, args, train, test, probe) for spec in args.models]

    binarization = "static" if args.static else "dynamic"
    print()
    print(f"MNIST test NLL, vaekit preset {args.preset} ({binarization} binarization), "
          f"{platform.machine()}, {args.threads} threads, torch {torch.__version__}")
    print()
    print("| model | test NLL (nats) | training budget |")
    print("|---|---|---|")
    for r in results:
        print(f"| vaekit {r['name']}, K=1000, all {len(test)} test images | {r['nll_k1000']:.2f} | "
              f"{r['epochs']} epochs, {r['train_seconds'] / 60:.1f} min, {args.threads} CPU thread(s) |")
        print(f"| vaekit {r['name']}, K=5000, first {args.final_k5000_images} test images | {r['nll_k5000_subset']:.2f} | same model |")
    for name, value in PUBLISHED:
        print(f"| {name} | {value:.2f} | published |")
    for r in results:
        print()
        print(f"{r['name']}: first reached on the probe (the first {len(probe)} test images, K={args.eval_k}):")
        print()
        print("| level (nats) | first reached at (training s) | epoch |")
        print("|---|---|---|")
        for level in LEVELS:
            hit = next(((t, e) for t, e, v in r["curve"] if v <= level), None)
            print(f"| {level} | {'not reached' if hit is None else f'{hit[0]:.0f}'} | {'-' if hit is None else hit[1]} |")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.models == ["vae"] else "_" + "_".join(m.replace(":", "") for m in args.models)
    tag = f"mnist_nll_{args.preset}_{binarization}{suffix}"
    record = results[0] if len(results) == 1 else {"models": results}
    (out / f"{tag}.json").write_text(json.dumps(record, indent=1))
    from vaekit.plots import plot_series  # noqa: PLC0415 - matplotlib only here

    low = min(v for r in results for *_, v in r["curve"])
    plot_series(
        {f"vaekit {r['name']}": ([t / 60 for t, _, _ in r["curve"]], [v for *_, v in r["curve"]]) for r in results},
        out / f"{tag}.png",
        xlabel=f"training wall time (min, {args.threads} CPU thread(s))",
        ylabel=f"test NLL, K={args.eval_k}, first {len(probe)} test images (nats)",
        title=f"MNIST ({binarization} binarization): test NLL against training time",
        levels=[level for level in LEVELS if level >= low - 2],
    )
    print(f"\nwrote {out / tag}.png and .json")


def run_model(spec: str, args, train: Dataset, test: torch.Tensor, probe: torch.Tensor) -> dict:
    """Train one model (``vae`` or ``iwae:K``) for the budget; its curve and final test NLLs."""
    model_name, _, k = spec.partition(":")
    overrides = dict(kv.split("=", 1) for kv in args.set)
    overrides["model"] = model_name
    if k:
        overrides["iw_samples"] = int(k)
    cfg = resolve_config(None, overrides, args.preset)
    if args.static:
        cfg.train.dynamic_binarization = False
    cfg.model.input_shape = train.sample_shape
    cfg.validate()
    train_idx, val_idx = split_indices(len(train), cfg.train.val_fraction, cfg.train.seed)
    x = torch.from_numpy(train.x)
    if not cfg.train.dynamic_binarization and not args.static:
        x = torch.bernoulli(x, generator=torch.Generator().manual_seed(1))  # binarized once
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model)
    trainer = Trainer(model, cfg.train)
    name = f"{args.preset}" if spec == "vae" else f"{args.preset} {model_name} k={k or cfg.model.iw_samples}"

    curve: list[tuple[float, int, float]] = []  # (train seconds, epoch, NLL)
    trained = 0.0
    budget = args.budget_minutes * 60
    while trainer.epoch < cfg.train.epochs and trained < budget and not trainer.stopped_early:
        started = time.perf_counter()
        trainer.fit(x[train_idx], x[val_idx], until_epoch=trainer.epoch + 1)
        trained += time.perf_counter() - started
        if trainer.epoch % args.eval_every == 0 or trainer.epoch <= 10 or trained >= budget:
            nll = -iw_log_likelihood(model, probe, args.eval_k)[0].mean().item()
            curve.append((trained, trainer.epoch, nll))
            print(f"{name}: epoch {trainer.epoch:4d}  train {trained:7.1f} s  test NLL (K={args.eval_k}, "
                  f"{len(probe)} images) {nll:.2f}", flush=True)

    started = time.perf_counter()
    final = -iw_log_likelihood(model, test, 1000)[0].mean().item()
    k5000 = -iw_log_likelihood(model, test[: args.final_k5000_images], 5000)[0].mean().item()
    print(f"{name}: {trainer.epoch} epochs in {trained:.0f} s; final evaluation {time.perf_counter() - started:.0f} s")
    return {"name": name, "preset": args.preset, "binarization": "static" if args.static else "dynamic",
            "epochs": trainer.epoch, "train_seconds": trained, "nll_k1000": final, "nll_k5000_subset": k5000,
            "curve": curve, "config": cfg.to_dict()}


if __name__ == "__main__":
    main()
