"""Anomaly detection on twelve ADBench datasets: vaekit vs PyOD's VAE, IForest and ECOD.

The standard unsupervised protocol (ADBench, PyOD's benchmark): each
detector is fit on all rows without their labels, scores all rows, and is
rated by ROC-AUC and average precision against ``y`` (1 = anomaly), over
several seeds. Every detector runs with its defaults, the same on every
dataset; vaekit's is ``VAEAnomalyDetector()``. Fit+score wall time is
reported per dataset. Run it in an environment with PyOD (docs/benchmarks.md):

    .venv-bench/bin/python benchmarks/adbench.py --data ../shared/data/adbench

``--lodo`` also runs vaekit's candidate settings (``CANDIDATES``) and rates
the choice of a setting honestly: for each dataset, the candidate with the
best mean ROC-AUC on the other eleven is scored on it (leave one dataset
out), so no dataset helps choose the setting it is rated with. ``--json``
is rewritten after every detector of every dataset; ``--resume`` keeps what
it already holds and runs only the rest.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, roc_auc_score

DATASETS = (
    "2_annthyroid", "4_breastw", "6_cardio", "18_Ionosphere", "23_mammography", "24_mnist",
    "28_pendigits", "29_Pima", "30_satellite", "32_shuttle", "38_thyroid", "40_vowels",
)

Scorer = Callable[[np.ndarray, int], np.ndarray]  # (X, seed) -> one score per row, higher = more anomalous


# ---------------------------------------------------------------------- vaekit's candidate settings


@dataclass
class _Fitted:
    detector: object  # a fitted vaekit.VAEAnomalyDetector
    seconds: float  # fit + the default -ELBO scoring, as the default detector is timed
    scores: dict[str, tuple[np.ndarray, float]]  # kind -> (scores, seconds to compute them)


class SharedFits:
    """The vaekit models of one dataset, each fit once and shared by every candidate that uses it.

    The latent-size ensemble is the rank average of the d/2, d/4 and d/8
    models, which are also candidates on their own; sharing the fits keeps
    the run's cost to one fit per distinct (seed, latent size, trimming).
    Each candidate is still charged the seconds of every fit and score it
    reuses (``charged``), so its time is what it would cost alone.
    """

    def __init__(self) -> None:
        self.models: dict[tuple, _Fitted] = {}
        self.charged = 0.0  # seconds of reused fits and scores since ``start_charging``
        self._used: set[tuple] = set()

    def clear(self) -> None:
        self.models.clear()

    def start_charging(self) -> None:
        self.charged, self._used = 0.0, set()

    def _charge(self, item: tuple, seconds: float) -> None:
        if item not in self._used:  # a model used twice by one candidate costs it one fit
            self._used.add(item)
            self.charged += seconds

    def scores(
        self, X: np.ndarray, seed: int, kind: str = "elbo", latent_divisor: int = 4, trim_fraction: float = 0.3,
        **model: str,
    ) -> np.ndarray:
        """Scores of the model ``(seed, latent = features / latent_divisor in [2, 16], trim_fraction, model)``.

        ``kind``: ``elbo`` or ``reconstruction`` (the detector's ``score_type``), or
        ``density``: -log p(z) of the posterior mean under the prior, how far
        from the bulk of the latent space the encoder puts the row.
        ``model``: the detector's ``prior`` and ``posterior`` when not its defaults.
        """
        from vaekit import VAEAnomalyDetector  # noqa: PLC0415 - each scorer imports only its own package

        latent = latent_size(X, latent_divisor)
        latent_dim = None if latent == latent_size(X, 4) else latent  # the default's own model where they coincide
        key = (seed, latent_dim, trim_fraction, *sorted(model.items()))
        if key not in self.models:
            started = time.perf_counter()
            detector = VAEAnomalyDetector(latent_dim=latent_dim, trim_fraction=trim_fraction, random_state=seed,
                                          **model).fit(X)
            elbo = detector.anomaly_score(X)  # timed with the fit, as the default detector is
            self.models[key] = _Fitted(detector, time.perf_counter() - started, {"elbo": (elbo, 0.0)})
            self._used.add(key)
        fitted = self.models[key]
        self._charge(key, fitted.seconds)
        if kind not in fitted.scores:
            started = time.perf_counter()
            scores = _score(fitted.detector, X, kind)
            fitted.scores[kind] = (scores, time.perf_counter() - started)
            self._used.add((key, kind))
        self._charge((key, kind), fitted.scores[kind][1])
        return fitted.scores[kind][0]


def latent_size(X: np.ndarray, divisor: int) -> int:
    """The latent size ``VAEAnomalyDetector`` gives a table at this divisor: features // divisor in [2, 16]."""
    return int(np.clip(X.shape[1] // divisor, 2, 16))


def _score(detector, X: np.ndarray, kind: str) -> np.ndarray:
    if kind == "density":
        x = torch.from_numpy(detector.preprocessor_.transform(X))  # (N, D) float32, the fit's scaling
        with torch.no_grad():
            mu = detector.model_.embed(x)  # (N, Z): posterior means
            return -detector.model_.prior.log_prob(mu).double().numpy()  # (N,)
    try:
        return detector.set_params(score_type=kind).anomaly_score(X)
    finally:
        detector.set_params(score_type="elbo")


FITS = SharedFits()


def rank_mean(*scores: np.ndarray) -> np.ndarray:
    """Mean of the scores' ranks in [0, 1]: combines scores on different scales, each with equal weight."""
    return np.mean([rankdata(s) / len(s) for s in scores], axis=0)


def latent_divisors(X: np.ndarray) -> list[int]:
    """Of the divisors 2, 4, 8, one per distinct latent size (on 6 features d/4 and d/8 both give 2)."""
    return list({latent_size(X, k): k for k in (8, 4, 2)}.values())


def vaekit_scores(X: np.ndarray, seed: int) -> np.ndarray:
    """``VAEAnomalyDetector(random_state=seed).fit(X).anomaly_score(X)``: vaekit's defaults."""
    return FITS.scores(X, seed)


CANDIDATES: dict[str, Scorer] = {
    "vaekit": vaekit_scores,  # latent d/4, 30% trimmed, -ELBO over 10 draws
    "trim 0.2": lambda X, seed: FITS.scores(X, seed, trim_fraction=0.2),
    "trim 0.4": lambda X, seed: FITS.scores(X, seed, trim_fraction=0.4),
    "latent d/2": lambda X, seed: FITS.scores(X, seed, latent_divisor=2),
    "latent d/8": lambda X, seed: FITS.scores(X, seed, latent_divisor=8),
    "reconstruction": lambda X, seed: FITS.scores(X, seed, "reconstruction"),
    # Members seeded seed, seed + 3, seed + 6: with 3 benchmark seeds, no two ensembles share a model.
    "3 seeds": lambda X, seed: rank_mean(*(FITS.scores(X, s) for s in (seed, seed + 3, seed + 6))),
    "3 latents": lambda X, seed: rank_mean(*(FITS.scores(X, seed, latent_divisor=k) for k in latent_divisors(X))),
    "recon+density": lambda X, seed: rank_mean(FITS.scores(X, seed, "reconstruction"), FITS.scores(X, seed, "density")),
    "elbo+density": lambda X, seed: rank_mean(FITS.scores(X, seed), FITS.scores(X, seed, "density")),
    # issue 14's parts in the detector: a learned prior (the VampPrior's pseudo-inputs: 500, or one per row if fewer)
    "vamp prior": lambda X, seed: FITS.scores(X, seed, prior="vamp"),
    "mog prior": lambda X, seed: FITS.scores(X, seed, prior="mog"),
    "iaf posterior": lambda X, seed: FITS.scores(X, seed, posterior="iaf"),
    "3 latents recon+density": lambda X, seed: rank_mean(*(
        FITS.scores(X, seed, kind, latent_divisor=k) for k in latent_divisors(X) for kind in ("reconstruction", "density")
    )),
}


# ---------------------------------------------------------------------- the competitors


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


DETECTORS: dict[str, Scorer] = {
    "vaekit": vaekit_scores, "PyOD VAE": pyod_vae_scores, "IForest": iforest_scores, "ECOD": ecod_scores,
}


# ---------------------------------------------------------------------- running and reporting


def rate(scorer: Scorer, X: np.ndarray, y: np.ndarray, seeds: int) -> dict:
    """ROC-AUC and AP (mean over seeds, and each seed's) and fit+score seconds (median) of one detector."""
    aucs, aps, secs = [], [], []
    for seed in range(seeds):
        FITS.start_charging()
        started = time.perf_counter()
        scores = scorer(X, seed)
        secs.append(time.perf_counter() - started + FITS.charged)
        aucs.append(roc_auc_score(y, scores))
        aps.append(average_precision_score(y, scores))
    return {
        "roc_auc": statistics.mean(aucs), "ap": statistics.mean(aps), "seconds": statistics.median(secs),
        "roc_auc_per_seed": aucs, "ap_per_seed": aps,
    }


def leave_one_dataset_out(results: dict, names: list[str], candidates: list[str]) -> dict[str, dict]:
    """Per dataset: the candidate with the best mean ROC-AUC on the other datasets, and its numbers there."""
    chosen = {}
    for name in names:
        others = [n for n in names if n != name]
        # max keeps the first of equals: the default wins ties, being listed first
        best = max(candidates, key=lambda c: statistics.mean(results[n][c]["roc_auc"] for n in others))
        chosen[name] = {
            "candidate": best,
            "others_mean_roc_auc": statistics.mean(results[n][best]["roc_auc"] for n in others),
            "roc_auc": results[name][best]["roc_auc"], "ap": results[name][best]["ap"],
        }
    return chosen


def print_detector_tables(results: dict, names: list[str], detectors: list[str], seeds: int) -> None:
    for metric, title in (("roc_auc", "ROC-AUC"), ("ap", "average precision"), ("seconds", "fit+score seconds")):
        print(f"\n{title} (mean of {seeds} seeds; seconds: median)\n")
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


def print_lodo_tables(results: dict, names: list[str], competitors: list[str], candidates: list[str],
                      chosen: dict[str, dict]) -> dict:
    """The leave-one-dataset-out table beside the competitors, and every candidate's in-sample means."""
    print(f"\nLeave one dataset out: vaekit's setting for each dataset is the candidate with the best mean "
          f"ROC-AUC on the other {len(names) - 1}\n")
    cell = lambda values: "".join(f" {v} |" for v in values)  # noqa: E731 - a row's competitor cells, none without any
    print("| dataset | chosen on the others (their mean) | ROC-AUC | AP |" + cell(competitors))
    print("|---|---|---|---|" + "---|" * len(competitors))
    for name in names:
        c = chosen[name]
        print(f"| {name} | {c['candidate']} ({c['others_mean_roc_auc']:.3f}) | {c['roc_auc']:.3f} | {c['ap']:.3f} |"
              + cell(f"{results[name][d]['roc_auc']:.3f}" for d in competitors))
    lodo = {m: statistics.mean(chosen[n][m] for n in names) for m in ("roc_auc", "ap")}
    theirs = {d: {m: statistics.mean(results[n][d][m] for n in names) for m in ("roc_auc", "ap")} for d in competitors}
    print(f"| **mean** | | **{lodo['roc_auc']:.3f}** | **{lodo['ap']:.3f}** |"
          + cell(f"**{theirs[d]['roc_auc']:.3f}**" for d in competitors))
    print()
    for metric, title in (("roc_auc", "ROC-AUC"), ("ap", "average precision")):
        diffs = ", ".join(f"{lodo[metric] - theirs[d][metric]:+.3f} vs {d} ({theirs[d][metric]:.3f})"
                          for d in competitors)
        print(f"leave-one-out mean {title} {lodo[metric]:.3f}" + (f": {diffs}" if diffs else ""))
    # How much of the gap is seed noise: the same choices, rated seed by seed.
    by_seed = []
    for seed in range(len(results[names[0]][candidates[0]]["roc_auc_per_seed"])):
        ours = statistics.mean(results[n][chosen[n]["candidate"]]["roc_auc_per_seed"][seed] for n in names)
        others = {d: statistics.mean(results[n][d]["roc_auc_per_seed"][seed] for n in names) for d in competitors}
        by_seed.append({"leave_one_out": ours, **others})
        print(f"seed {seed}: leave-one-out mean ROC-AUC {ours:.3f}"
              + "".join(f", {d} {m:.3f} ({ours - m:+.3f})" for d, m in others.items()))

    print(f"\nEvery candidate's mean over all {len(names)} datasets (in-sample: the same datasets choose and rate)\n")
    print("| candidate | mean ROC-AUC (in-sample) | mean AP (in-sample) | mean fit+score s | chosen for |")
    print("|---|---|---|---|---|")
    for c in candidates:
        n_chosen = sum(chosen[n]["candidate"] == c for n in names)
        means = [statistics.mean(results[n][c][m] for n in names) for m in ("roc_auc", "ap", "seconds")]
        print(f"| {c} | {means[0]:.3f} | {means[1]:.3f} | {means[2]:.1f} | {n_chosen} |")

    print("\nROC-AUC of every candidate per dataset (mean of the seeds)\n")
    short = [n.split("_", 1)[1][:8] for n in names]
    print("| candidate | " + " | ".join(short) + " |")
    print("|---|" + "---|" * len(names))
    for c in candidates:
        print(f"| {c} | " + " | ".join(f"{results[n][c]['roc_auc']:.3f}" for n in names) + " |")
    return {"per_dataset": chosen, "mean": lodo, "competitor_means": theirs, "roc_auc_by_seed": by_seed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/adbench", help="folder of the ADBench .npz files")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated names")
    parser.add_argument("--detectors", default=",".join(DETECTORS), help="comma-separated names")
    parser.add_argument("--lodo", action="store_true",
                        help="also run vaekit's candidate settings and report the leave-one-dataset-out choice")
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help="with --lodo: comma-separated names")
    parser.add_argument("--json", default=None, help="write every number to this file (after every detector)")
    parser.add_argument("--resume", action="store_true", help="keep the results already in --json, run the rest")
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch threads for both VAEs (default 1: their layers are at most 128 wide, where more threads only add overhead)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    names = [n for n in args.datasets.split(",") if n]
    detectors = [d for d in args.detectors.split(",") if d]
    candidates = [c for c in args.candidates.split(",") if c] if args.lodo else []
    unknown = [c for c in candidates if c not in CANDIDATES] + [d for d in detectors if d not in DETECTORS]
    if unknown:
        parser.error(f"unknown detector or candidate: {', '.join(unknown)}")
    if args.resume and not args.json:
        parser.error("--resume needs --json, the file to resume from")
    # The candidates first: the default is one of them, and they share their fits.
    runs = list(dict.fromkeys(candidates + detectors))
    meta = {
        "seeds": args.seeds, "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
        "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d"), "argv": sys.argv[1:],
    }
    print(f"# ADBench, unsupervised protocol: fit on all rows, score all rows; mean over {args.seeds} seeds")
    print(f"# {meta['machine']}, torch {meta['torch']}, {meta['threads']} threads, {meta['date']}\n")

    results: dict[str, dict[str, dict]] = {}
    if args.resume and Path(args.json).is_file():
        saved = json.loads(Path(args.json).read_text())
        if saved["meta"]["seeds"] != args.seeds:
            parser.error(f"{args.json} holds {saved['meta']['seeds']} seeds, not {args.seeds}; drop --resume")
        results = saved["results"]
        meta = {**saved["meta"], "resumed": [*saved["meta"].get("resumed", []), {"date": meta["date"], "argv": meta["argv"]}]}
    report = {"meta": meta, "results": results}

    def save() -> None:
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=1) + "\n")

    started_run = time.perf_counter()
    for name in names:
        with np.load(Path(args.data) / f"{name}.npz", allow_pickle=False) as f:
            X, y = f["X"].astype(np.float64), f["y"].astype(int)
        results.setdefault(name, {})
        FITS.clear()
        for run in runs:
            if run in results[name]:
                continue
            results[name][run] = rate(CANDIDATES.get(run) or DETECTORS[run], X, y, args.seeds)
            save()
            if args.lodo:
                r = results[name][run]
                print(f"  {name} {run}: ROC-AUC {r['roc_auc']:.3f}, AP {r['ap']:.3f} ({r['seconds']:.1f}s; "
                      f"run {(time.perf_counter() - started_run) / 60:.1f} min)", flush=True)
        row = "  ".join(f"{d} {results[name][d]['roc_auc']:.3f} ({results[name][d]['seconds']:.1f}s)" for d in detectors)
        print(f"{name:15s} {X.shape[0]:>6d}x{X.shape[1]:<3d} {row}", flush=True)

    print()
    print_detector_tables(results, names, detectors, args.seeds)
    if args.lodo:
        competitors = [d for d in detectors if d not in CANDIDATES]
        chosen = leave_one_dataset_out(results, names, candidates)
        report["lodo"] = print_lodo_tables(results, names, competitors, candidates, chosen)
    print(f"\nrun time {(time.perf_counter() - started_run) / 60:.1f} min (without what --resume kept)")
    save()


if __name__ == "__main__":
    main()
