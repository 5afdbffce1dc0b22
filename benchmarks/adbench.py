"""Anomaly detection on twelve ADBench datasets: vaekit vs PyOD's VAE, IForest and ECOD.

The standard unsupervised protocol (ADBench, PyOD's benchmark): each
detector is fit on all rows without their labels, scores all rows, and is
rated by ROC-AUC and average precision against ``y`` (1 = anomaly), over
several seeds. Every detector runs with its defaults, the same on every
dataset; vaekit's is ``VAEAnomalyDetector()``. Fit+score wall time is
reported per dataset. Run it in an environment with PyOD (docs/benchmarks.md):

    .venv-bench/bin/python benchmarks/adbench.py --data ../shared/data/adbench
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

DATASETS = (
    "2_annthyroid", "4_breastw", "6_cardio", "18_Ionosphere", "23_mammography", "24_mnist",
    "28_pendigits", "29_Pima", "30_satellite", "32_shuttle", "38_thyroid", "40_vowels",
)


def vaekit_scores(X: np.ndarray, seed: int) -> np.ndarray:
    from vaekit import VAEAnomalyDetector  # noqa: PLC0415 - each scorer imports only its own package

    detector = VAEAnomalyDetector(random_state=seed).fit(X)
    return detector.anomaly_score(X)


def pyod_vae_scores(X: np.ndarray, seed: int) -> np.ndarray:
    from pyod.models.vae import VAE  # noqa: PLC0415 - pyod: a competitor, installed only for this comparison

    detector = VAE(random_state=seed, verbose=0).fit(X)
    return detector.decision_function(X)


def iforest_scores(X: np.ndarray, seed: int) -> np.ndarray:
    from pyod.models.iforest import IForest  # noqa: PLC0415 - pyod, as above

    return IForest(random_state=seed).fit(X).decision_function(X)


def ecod_scores(X: np.ndarray, seed: int) -> np.ndarray:
    from pyod.models.ecod import ECOD  # noqa: PLC0415 - pyod, as above

    return ECOD().fit(X).decision_function(X)


DETECTORS = {"vaekit": vaekit_scores, "PyOD VAE": pyod_vae_scores, "IForest": iforest_scores, "ECOD": ecod_scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/adbench", help="folder of the ADBench .npz files")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated names")
    parser.add_argument("--detectors", default=",".join(DETECTORS), help="comma-separated names")
    parser.add_argument("--json", default=None, help="also write every number to this file")
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch threads for both VAEs (default 1: their layers are at most 128 wide, where more threads only add overhead)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    names = [n for n in args.datasets.split(",") if n]
    detectors = [d for d in args.detectors.split(",") if d]
    print(f"# ADBench, unsupervised protocol: fit on all rows, score all rows; mean over {args.seeds} seeds")
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d')}\n")

    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in names:
        with np.load(Path(args.data) / f"{name}.npz", allow_pickle=False) as f:
            X, y = f["X"].astype(np.float64), f["y"].astype(int)
        results[name] = {}
        for det in detectors:
            aucs, aps, secs = [], [], []
            for seed in range(args.seeds):
                started = time.perf_counter()
                scores = DETECTORS[det](X, seed)
                secs.append(time.perf_counter() - started)
                aucs.append(roc_auc_score(y, scores))
                aps.append(average_precision_score(y, scores))
            results[name][det] = {
                "roc_auc": statistics.mean(aucs), "ap": statistics.mean(aps), "seconds": statistics.median(secs),
            }
        row = "  ".join(f"{d} {results[name][d]['roc_auc']:.3f} ({results[name][d]['seconds']:.1f}s)" for d in detectors)
        print(f"{name:15s} {X.shape[0]:>6d}x{X.shape[1]:<3d} {row}", flush=True)

    print()
    for metric, title in (("roc_auc", "ROC-AUC"), ("ap", "average precision"), ("seconds", "fit+score seconds")):
        print(f"\n{title} (mean of {args.seeds} seeds; seconds: median)\n")
        print("| dataset | " + " | ".join(detectors) + " |")
        print("|---|" + "---|" * len(detectors))
        for name in names:
            cells = [f"{results[name][d][metric]:.3f}" if metric != "seconds" else f"{results[name][d][metric]:.1f}"
                     for d in detectors]
            print(f"| {name} | " + " | ".join(cells) + " |")
        means = [statistics.mean(results[n][d][metric] for n in names) for d in detectors]
        fmt = "{:.3f}" if metric != "seconds" else "{:.1f}"
        print("| **mean** | " + " | ".join(f"**{fmt.format(m)}**" for m in means) + " |")
    if "vaekit" in detectors and "PyOD VAE" in detectors:
        ratios = [results[n]["PyOD VAE"]["seconds"] / results[n]["vaekit"]["seconds"] for n in names]
        print(f"\nvaekit fit+score is {min(ratios):.1f}x to {max(ratios):.1f}x faster than PyOD's VAE "
              f"(median {statistics.median(ratios):.1f}x)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
