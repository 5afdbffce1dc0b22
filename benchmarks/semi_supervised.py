"""M2 (Kingma et al. 2014) on MNIST with 10 and 100 labels per class: test error over label draws.

Each run trains vaekit's ``mnist-m2`` preset (what ``vaekit train --preset
mnist-m2`` runs): it draws its labelled rows with a different seed (N per
class from the 50,000 training rows; the other 10,000 are held out, as in the
paper), trains for the preset's epochs or a wall-time budget, whichever ends
first, and measures the classifier's error on the 10,000 test images after
every epoch. Published, M2 alone: 11.97% (+- 1.71) with 100 labels and 3.60%
(+- 0.56) with 1,000.

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

PUBLISHED = {10: (11.97, 1.71), 100: (3.60, 0.56)}  # labels per class -> M2 test error (%), Kingma et al. 2014
PRESET = "mnist-m2"  # the paper's M2 with two hidden layers of 500 (see vaekit/presets.py)


def run(per_class: int, draw: int, args, train, test) -> dict:
    overrides = {**dict(kv.split("=", 1) for kv in args.set), "seed": draw, "labels_per_class": per_class}
    cfg = resolve_config(None, overrides, PRESET)
    cfg.model.input_shape = train.sample_shape
    cfg.model.num_classes = 10
    train_idx, _ = split_indices(len(train), cfg.train.val_fraction, cfg.train.seed)
    rows = semi_supervised_rows(train.y, train_idx, per_class, cfg.train.labelled_share, draw)
    if cfg.model.classifier_weight is None:
        cfg.model.classifier_weight = kingma_classifier_weight(len(train_idx), len(rows.labelled))
    cfg.validate()
    seen = np.full(len(train.y), UNLABELLED, dtype=np.int64)
    seen[rows.labelled] = train.y[rows.labelled]
    x, y = torch.from_numpy(train.x), torch.from_numpy(seen)
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
        print(f"{per_class * 10} labels, draw {draw}: epoch {trainer.epoch:3d}  {trained:6.0f} s  "
              f"train loss {trainer.history[-1]['train_loss']:.2f}  test error {error:.2f}%", flush=True)
    return {"labels": per_class * 10, "draw": draw, "epochs": trainer.epoch, "train_seconds": trained,
            "test_error": curve[-1][2], "curve": curve, "classifier_weight": cfg.model.classifier_weight}


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
    parser.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                        help="print the table of runs saved with --out (e.g. draws run side by side) and exit")
    args = parser.parse_args()
    if args.merge:
        results = [r for path in args.merge for r in json.loads(Path(path).read_text())]
        print_table(results, sorted({r["labels"] // 10 for r in results}), "merged runs")
        return
    torch.set_num_threads(args.threads)
    spec = args.data if args.data.startswith("mnist") else f"mnist:{args.data}"
    train = load_data(spec, split="train")
    test_data = load_data(spec, split="test")
    test = (torch.from_numpy(test_data.x), torch.from_numpy(test_data.y))
    seeds = args.seeds if args.seeds is not None else range(args.draws)
    results = [run(n, d, args, train, test) for n in args.labels_per_class for d in seeds]
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    print_table(results, args.labels_per_class, f"{args.budget_minutes:g} min of training at most per run, "
                f"{platform.machine()}, {args.threads} threads, torch {torch.__version__}")


def print_table(results: list[dict], per_class: list[int], where: str) -> None:
    print()
    print(f"M2 on MNIST, {where}")
    print()
    print("| labels | test error (%), mean +- std over draws | draws | epochs | training min | "
          "published M2 (Kingma et al. 2014) |")
    print("|---|---|---|---|---|---|")
    for n in per_class:
        rows = [r for r in results if r["labels"] == n * 10]
        errors = [r["test_error"] for r in rows]
        epochs = [r["epochs"] for r in rows]
        minutes = [r["train_seconds"] / 60 for r in rows]
        published = PUBLISHED.get(n)
        shown = f"{published[0]:.2f} +- {published[1]:.2f}" if published else "-"
        print(f"| {n * 10} | {np.mean(errors):.2f} +- {np.std(errors):.2f} | {len(errors)} | "
              f"{min(epochs)}-{max(epochs)} | {min(minutes):.0f}-{max(minutes):.0f} | {shown} |")


if __name__ == "__main__":
    main()
