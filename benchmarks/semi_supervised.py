"""M2 (Kingma et al. 2014) on MNIST with 10 and 100 labels per class: test error over label draws.

Each run trains vaekit's ``mnist-m2`` preset (what ``vaekit train --preset
mnist-m2`` runs): it draws its labelled rows with a different seed (N per
class from the 50,000 training rows; the other 10,000 are held out, as in the
paper), trains for the preset's epochs or a wall-time budget, whichever ends
first, and measures the classifier's error on the 10,000 test images after
every epoch. Published, M2 alone: 11.97% (+- 1.71) with 100 labels and 3.60%
(+- 0.56) with 1,000.

``--methods m1m2`` stacks the two models of the paper: M1, the ``mnist-mlp``
VAE, trains once on the training images without labels, and M2 (the
``mnist-m1m2`` preset, a learned-variance Gaussian) models its posterior
means instead of the pixels, as ``vaekit encode`` writes them. Published:
3.33% (+- 0.14) with 100 labels, 2.40% (+- 0.02) with 1,000.

    .venv/bin/python benchmarks/semi_supervised.py --data ../shared/data/mnist --budget-minutes 60

Prints one line per epoch and a mean +- std table; ``--merge`` joins runs made side by side.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from vaekit.data import load_data, split_indices
from vaekit.data.labels import UNLABELLED, kingma_classifier_weight, semi_supervised_rows
from vaekit.evaluation import accuracy
from vaekit.models import build_model
from vaekit.runs import resolve_config
from vaekit.training import Trainer

# (method, labels per class) -> test error (%), Kingma et al. 2014, table 1.
PUBLISHED = {("m2", 10): (11.97, 1.71), ("m2", 100): (3.60, 0.56), ("m1m2", 10): (3.33, 0.14), ("m1m2", 100): (2.40, 0.02)}
#: method -> the preset its M2 trains: on pixels, or on the codes of a VAE trained without labels (M1+M2).
PRESETS = {"m2": "mnist-m2", "m1m2": "mnist-m1m2"}


def run(method: str, per_class: int, draw: int, args, train, x, test) -> dict:
    """Train one M2 (on pixels, or on M1's codes ``x``) with ``per_class`` labels of draw ``draw``."""
    overrides = {**dict(kv.split("=", 1) for kv in args.set), "seed": draw, "labels_per_class": per_class}
    cfg = resolve_config(None, overrides, PRESETS[method])
    cfg.model.input_shape = tuple(x.shape[1:])
    cfg.model.num_classes = 10
    train_idx, _ = split_indices(len(train), cfg.train.val_fraction, cfg.train.seed)
    rows = semi_supervised_rows(train.y, train_idx, per_class, cfg.train.labelled_share, draw)
    if cfg.model.options.get("classifier_weight") is None:
        cfg.model.options["classifier_weight"] = kingma_classifier_weight(len(train_idx), len(rows.labelled))
    cfg.validate()
    seen = np.full(len(train.y), UNLABELLED, dtype=np.int64)
    seen[rows.labelled] = train.y[rows.labelled]
    y = torch.from_numpy(seen)
    torch.manual_seed(draw)
    model = build_model(cfg.model)
    trainer = Trainer(model, cfg.train)
    test_x, test_y = test
    trained, budget, curve = 0.0, args.budget_minutes * 60, []
    while trained < budget and trainer.epoch < cfg.train.epochs:
        started = time.perf_counter()
        trainer.fit(x[rows.fit_rows], until_epoch=trainer.epoch + 1, train_y=y[rows.fit_rows])
        trained += time.perf_counter() - started
        error = 100 * (1 - accuracy(model, test_x, test_y))
        curve.append((trained, trainer.epoch, error))
        print(f"{method}, {per_class * 10} labels, draw {draw}: epoch {trainer.epoch:3d}  {trained:6.0f} s  "
              f"train loss {trainer.history[-1]['train_loss']:.2f}  test error {error:.2f}%", flush=True)
    return {"method": method, "labels": per_class * 10, "draw": draw, "epochs": trainer.epoch,
            "train_seconds": trained, "test_error": curve[-1][2], "curve": curve,
            "classifier_weight": cfg.model.options["classifier_weight"]}


def train_m1(train, test_x: torch.Tensor, epochs: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """M1: the mnist-mlp VAE trained on the training images without their labels; codes of train and test."""
    cfg = resolve_config(None, {"epochs": epochs, "seed": 0}, "mnist-mlp")
    cfg.model.input_shape = train.sample_shape
    cfg.validate()
    train_idx, val_idx = split_indices(len(train), cfg.train.val_fraction, cfg.train.seed)
    x = torch.from_numpy(train.x)
    torch.manual_seed(0)
    m1 = build_model(cfg.model)
    started = time.perf_counter()
    Trainer(m1, cfg.train).fit(x[train_idx], x[val_idx])
    seconds = time.perf_counter() - started
    m1.eval()
    print(f"M1 (mnist-mlp, {epochs} epochs, no labels): {seconds:.0f} s", flush=True)
    return m1.embed(x), m1.embed(test_x), seconds  # posterior means, as `vaekit encode` writes them


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/mnist", help="folder of the MNIST IDX files")
    parser.add_argument("--labels-per-class", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--draws", type=int, default=3, help="label draws (seeds 0, 1, ...) per setting")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="these label draws instead of --draws")
    parser.add_argument("--budget-minutes", type=float, default=60.0, help="training wall time per run")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override settings")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--methods", nargs="+", default=["m2"], choices=sorted(PRESETS),
                        help="m2: M2 on pixels; m1m2: M2 on the codes of a VAE trained without labels")
    parser.add_argument("--m1-epochs", type=int, default=30, help="epochs of M1 (mnist-mlp) for m1m2")
    parser.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                        help="print the table of runs saved with --out (e.g. draws run side by side) and exit")
    args = parser.parse_args()
    if args.merge:
        # Runs saved before --methods existed are M2 runs.
        results = [{"method": "m2", **r} for path in args.merge for r in json.loads(Path(path).read_text())]
        print_table(results, sorted({r["labels"] // 10 for r in results}), "merged runs")
        return
    torch.set_num_threads(args.threads)
    spec = args.data if args.data.startswith("mnist") else f"mnist:{args.data}"
    train = load_data(spec, split="train")
    test_data = load_data(spec, split="test")
    test_x, test_y = torch.from_numpy(test_data.x), torch.from_numpy(test_data.y)
    seeds = args.seeds if args.seeds is not None else range(args.draws)
    results = []
    for method in args.methods:
        x, codes_of_test, m1_seconds = torch.from_numpy(train.x), test_x, 0.0
        if method == "m1m2":
            x, codes_of_test, m1_seconds = train_m1(train, test_x, args.m1_epochs)
        for n in args.labels_per_class:
            for d in seeds:
                result = run(method, n, d, args, train, x, (codes_of_test, test_y))
                results.append({**result, "m1_seconds": m1_seconds})
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    print_table(results, args.labels_per_class, f"{args.budget_minutes:g} min of training at most per run, "
                f"{platform.machine()}, {args.threads} threads, torch {torch.__version__}")


def print_table(results: list[dict], per_class: list[int], where: str) -> None:
    print()
    print(f"Semi-supervised MNIST, {where}")
    print()
    print("| method | labels | test error (%), mean +- std over draws | draws | epochs | training min | "
          "published (Kingma et al. 2014) |")
    print("|---|---|---|---|---|---|---|")
    for method in dict.fromkeys(r["method"] for r in results):
        for n in per_class:
            rows = [r for r in results if r["method"] == method and r["labels"] == n * 10]
            if not rows:
                continue
            errors = [r["test_error"] for r in rows]
            epochs = [r["epochs"] for r in rows]
            minutes = [r["train_seconds"] / 60 for r in rows]
            m1 = max(r.get("m1_seconds", 0.0) for r in rows) / 60
            published = PUBLISHED.get((method, n))
            shown = f"{published[0]:.2f} +- {published[1]:.2f}" if published else "-"
            name = "M2" if method == "m2" else f"M1+M2 (M1: {m1:.0f} min once)"
            print(f"| {name} | {n * 10} | {np.mean(errors):.2f} +- {np.std(errors):.2f} | {len(errors)} | "
                  f"{min(epochs)}-{max(epochs)} | {min(minutes):.0f}-{max(minutes):.0f} | {shown} |")


if __name__ == "__main__":
    main()
