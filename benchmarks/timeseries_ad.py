"""Time-series anomaly detection on NAB: vaekit's sequence detector vs the matrix profile, IForest and PyOD's VAE.

The unsupervised protocol of the time-series benchmarks (TSB-UAD, Paparrizos et al. 2022): each detector
is fit on a whole series without its labels and scores every reading. Readings are rated against NAB's
labelled windows by VUS-PR (the headline; Paparrizos et al. 2022, "Volume under the surface"), PR-AUC and
ROC-AUC from ``vaekit.range_metrics``, with the same buffer for every method: the series' auto window.

The competitors see the series scaled by its median and IQR and cut into the windows vaekit would use
(stride 1, length ``auto_window``): IForest and PyOD's VAE (their defaults) score the flattened windows, the
matrix profile (stumpy) scores each window by its distance to its nearest non-trivial match, its discord
score. A window's score reaches the readings it covers as their mean (``per_reading``).

vaekit runs as a grid of candidates, fit configs x aggregations (each fitted model is rescored with every
aggregation). The headline row is leave-one-series-out: for each series, the candidate with the best mean
VUS-PR on the other series, rated on this one -- what a user gets on a series nobody tuned on.

Two processes side by side, one thread each, in the environment of docs/benchmarks.md with the matrix
profile added (``.venv-bench/bin/pip install stumpy==1.14.1``, which brings numba 0.68.1):

    export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1
    .venv-bench/bin/python benchmarks/timeseries_ad.py --methods vaekit --json nab-vaekit.json &
    .venv-bench/bin/python benchmarks/timeseries_ad.py --methods matrix-profile,IForest,PyOD-VAE \\
        --json nab-others.json &
    wait
    .venv-bench/bin/python benchmarks/timeseries_ad.py --report nab-vaekit.json nab-others.json --markdown nab.md

Each run rewrites its JSON after every (series, method, seed); ``--resume`` skips what it already holds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from _machine import cpu_name  # benchmarks/ is the script's path
from threadpoolctl import threadpool_limits

from vaekit.files import atomic_write
from vaekit.range_metrics import series_metrics
from vaekit.timeseries import SeriesScaler, auto_window, per_reading, read_series, sliding_windows

METRICS = ("vus_pr", "roc_auc", "pr_auc", "vus_roc")
COMPETITORS = ("matrix-profile", "IForest", "PyOD-VAE")
METHODS = ("vaekit", *COMPETITORS)
DETERMINISTIC = {"matrix-profile"}  # run once, whatever --seeds says
VERSIONS = ("vaekit", "torch", "pyod", "stumpy", "numba", "numpy", "scikit-learn")


def one_period(auto: int, n: int) -> int:
    return auto


def half_window(auto: int, n: int) -> int:
    return auto // 2


def double_window(auto: int, n: int) -> int:
    return min(2 * auto, n // 4)


# vaekit's candidates: fit configs (constructor arguments; a callable is resolved per series from its auto
# window and length) x the aggregations each fitted model is rescored with. A candidate is "fit:aggregation".
# All use the default networks (an MLP over the window): conv1d and GRU cost 10x to 300x more per step on a
# CPU thread, too much for a 19-series x 3-seed grid in a session (docs/benchmarks.md).
FIT_CONFIGS: dict[str, dict[str, Any]] = {
    # The names are those of the run in docs/: "auto" was then one period; two periods ("mlp-2w") won every
    # leave-one-series-out fold and became window="auto" (vaekit.estimators.AUTO_WINDOW_PERIODS).
    # "passes" caps the epochs that ``steps`` asks for on short series (the detector's
    # ``_max_auto_series_epochs``). The first five ran when that cap was 100; "mlp-2w-p50" won 17 of the 19
    # leave-one-series-out folds and its 50 became the default.
    "mlp": {"window": one_period, "passes": 100},
    "mlp-w/2": {"window": half_window, "passes": 100},
    "mlp-2w": {"window": double_window, "passes": 100},
    "mlp-z2": {"window": one_period, "latent_dim": 2, "passes": 100},
    "mlp-trim0": {"window": one_period, "trim_fraction": 0.0, "passes": 100},
    "mlp-2w-p50": {"window": double_window, "passes": 50},
    "mlp-2w-p30": {"window": double_window, "passes": 30},
}
AGGREGATIONS = ("mean", "window", "last")
DEFAULT = "mlp-2w-p50:window"  # VAEAnomalyDetector(window="auto")'s defaults since this benchmark chose them


# ---------------------------------------------------------------- the detectors: values (N, C) -> scores (N,)

def robust_scale(values: np.ndarray) -> np.ndarray:
    """Each channel less its median, over its IQR / 1.349 (its std where the IQR is 0): vaekit's series scaling."""
    return SeriesScaler("robust").fit(values).transform(values)  # (N, C) float32


def flat_windows(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    windows, starts = sliding_windows(robust_scale(values), window)  # (M, C, W), (M,)
    return windows.reshape(len(windows), -1), starts  # (M, C * W)


def matrix_profile(values: np.ndarray, window: int, seed: int | None) -> np.ndarray:
    import stumpy  # noqa: PLC0415 - a competitor, installed only for this comparison

    profile = stumpy.stump(robust_scale(values)[:, 0].astype(np.float64), m=window)
    distances = np.asarray(profile[:, 0], dtype=np.float64)  # (M,) z-normalised distance to the nearest match
    finite = np.isfinite(distances)
    distances[~finite] = distances[finite].max() if finite.any() else 0.0
    return per_reading(distances, np.arange(len(distances)), len(values), window)


def iforest(values: np.ndarray, window: int, seed: int | None) -> np.ndarray:
    from pyod.models.iforest import IForest  # noqa: PLC0415 - pyod, as above

    X, starts = flat_windows(values, window)
    return per_reading(IForest(random_state=seed).fit(X).decision_scores_, starts, len(values), window)


def pyod_vae(values: np.ndarray, window: int, seed: int | None) -> np.ndarray:
    from pyod.models.vae import VAE  # noqa: PLC0415 - pyod, as above

    X, starts = flat_windows(values, window)
    return per_reading(VAE(random_state=seed, verbose=0).fit(X).decision_scores_, starts, len(values), window)


SCORERS: dict[str, Callable[[np.ndarray, int, int | None], np.ndarray]] = {
    "matrix-profile": matrix_profile, "IForest": iforest, "PyOD-VAE": pyod_vae,
}


def vaekit_fit(values: np.ndarray, kwargs: dict[str, Any], seed: int) -> dict[str, Any]:
    """Fit one config, rescore it with every aggregation; the scores and the seconds of each step."""
    from vaekit import VAEAnomalyDetector  # noqa: PLC0415 - torch loads only in the process that fits vaekit

    kwargs = dict(kwargs)
    passes = kwargs.pop("passes", None)
    started = time.perf_counter()
    detector = VAEAnomalyDetector(random_state=seed, aggregation=AGGREGATIONS[0], **kwargs)
    if passes is not None:
        detector._max_auto_series_epochs = passes  # the class's cap on auto epochs, for this candidate
    detector.fit(values)
    fit_seconds = time.perf_counter() - started  # training + the scoring pass of AGGREGATIONS[0]
    scores, score_seconds = {AGGREGATIONS[0]: detector.decision_scores_}, {}
    for aggregation in AGGREGATIONS:
        started = time.perf_counter()
        rescored = detector.set_params(aggregation=aggregation).anomaly_score(values)
        score_seconds[aggregation] = time.perf_counter() - started
        scores.setdefault(aggregation, rescored)
    return {"scores": scores, "fit_seconds": fit_seconds, "score_seconds": score_seconds,
            "window_used": int(detector.window_)}


def as_json(value: Any) -> Any:
    """``value`` as it reads back from the JSON file (tuples become lists), to compare with what is there."""
    return json.loads(json.dumps(value))


def resolve(kwargs: dict[str, Any], auto: int, n: int) -> dict[str, Any]:
    return {k: int(v(auto, n)) if callable(v) else v for k, v in kwargs.items()}


def warm_up(methods: list[str], threads: int) -> dict[str, float]:
    """One untimed call of each method on a small series: imports, numba's JIT, torch's first kernels.

    The one-off costs of a process are the same whatever the series, so they stay out of every row.
    """
    rng = np.random.default_rng(0)
    values = (np.sin(np.arange(600) / 4.0) + 0.1 * rng.normal(size=600))[:, None]  # (600, 1)
    seconds = {}
    for method in methods:
        started = time.perf_counter()
        if method == "matrix-profile":
            import numba  # noqa: PLC0415 - stumpy's compiler, as above

            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        if method == "vaekit":
            vaekit_fit(values, {"window": 16, "steps": 50}, seed=0)
        else:
            SCORERS[method](values, 16, 0)
        seconds[method] = round(time.perf_counter() - started, 2)
    return seconds


# ---------------------------------------------------------------- running

def load_nab(folder: Path, patterns: list[str]) -> list[tuple[str, Any]]:
    """The series under ``folder`` whose relative path contains one of ``patterns`` (all when none)."""
    windows = json.loads((folder / "windows.json").read_text())
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.csv"))
    names = [n for n in names if not patterns or any(p in n for p in patterns)]
    if not names:
        sys.exit(f"no series under {folder} match {patterns}")
    return [(n, read_series(folder / n, time_column="timestamp", duplicates="keep", label_windows=windows))
            for n in names]


def rate(labels: np.ndarray, scores: np.ndarray, window: int) -> dict[str, float]:
    metrics = series_metrics(labels, scores, window=window)
    return {k: float(metrics[k]) for k in METRICS}


def run_one(s: Any, method: str, kwargs: dict[str, Any] | None, seed: int | None, auto: int) -> tuple[dict, str]:
    """Fit and score one method on one series; its row of results and a line of progress."""
    if method != "vaekit":
        started = time.perf_counter()
        scores = SCORERS[method](s.values, auto, seed)
        seconds = time.perf_counter() - started
        row = {"seconds": seconds} | rate(s.labels, scores, auto)
        return row, f"VUS-PR {row['vus_pr']:.3f} ROC-AUC {row['roc_auc']:.3f} {seconds:.1f}s"
    out = vaekit_fit(s.values, kwargs, seed)
    # fit() scored with AGGREGATIONS[0]; another aggregation costs the training plus its own scoring pass.
    training = out["fit_seconds"] - out["score_seconds"][AGGREGATIONS[0]]
    candidates = {agg: rate(s.labels, scores, auto) | {"seconds": training + out["score_seconds"][agg]}
                  for agg, scores in out["scores"].items()}
    candidates[AGGREGATIONS[0]]["seconds"] = out["fit_seconds"]  # measured, not estimated
    row = {"window_used": out["window_used"], "fit_seconds": out["fit_seconds"], "score_seconds": out["score_seconds"],
           "candidates": candidates}
    best = max(candidates, key=lambda a: candidates[a]["vus_pr"])
    return row, (f"fit {out['fit_seconds']:.1f}s, window {out['window_used']}; VUS-PR "
                 + " ".join(f"{a} {c['vus_pr']:.3f}" for a, c in candidates.items()) + f" (best {best})")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch  # noqa: PLC0415 - the report merges JSON files without torch

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(METHODS)
    if unknown:
        sys.exit(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
    names = args.fit_configs.split(",") if args.fit_configs else list(FIT_CONFIGS)
    if set(names) - set(FIT_CONFIGS):
        sys.exit(f"unknown fit configs {sorted(set(names) - set(FIT_CONFIGS))}; choose from {list(FIT_CONFIGS)}")
    fit_configs = {k: FIT_CONFIGS[k] for k in names}
    path = Path(args.json) if args.json else None
    record: dict[str, Any] = {"meta": {}, "results": {}}
    if path and args.resume and path.exists():
        record = json.loads(path.read_text())
        record.setdefault("earlier_runs", []).append(record["meta"])
    results = record["results"]
    record["meta"] = {
        "command": " ".join([f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
                             if k in os.environ] + [Path(sys.executable).name, *sys.argv]),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "methods": methods,
        "machine": machine(args.threads), "default": DEFAULT,
    }

    def save() -> None:
        if path:
            atomic_write(path, lambda f: f.write(json.dumps(record, indent=1) + "\n"), mode="w")

    clock = time.perf_counter()
    series = load_nab(Path(args.data), args.series)
    autos = {name: auto_window(s.values) for name, s in series}
    jobs = []  # (key, name, series, method, fit config, its kwargs, seed), the ones not in the JSON yet
    for name, s in series:
        for method in methods:
            for fit in fit_configs if method == "vaekit" else [None]:
                for seed in [None] if method in DETERMINISTIC else args.seeds:
                    key = f"{name}|{method if fit is None else f'vaekit:{fit}'}|{'-' if seed is None else seed}"
                    kwargs = resolve(fit_configs[fit], autos[name], len(s.values)) if fit else None
                    previous = results.get(key)
                    # A result of the same settings counts as done; an edited config or a new aggregation runs again.
                    if not (previous and "error" not in previous and previous["kwargs"] == as_json(kwargs)
                            and set(previous.get("candidates", AGGREGATIONS)) >= set(AGGREGATIONS)):
                        jobs.append((key, name, s, method, fit, kwargs, seed))
    print(f"# {len(series)} series, methods {methods}, seeds {args.seeds}, {args.threads} thread(s): "
          f"{len(jobs)} runs to do; loaded in {time.perf_counter() - clock:.1f}s", flush=True)
    record["meta"]["warm_up_seconds"] = warm_up([m for m in methods if any(j[3] == m for j in jobs)], args.threads)
    print(f"# warm-up (untimed imports and JIT): {record['meta']['warm_up_seconds']}", flush=True)
    save()
    for done, (key, name, s, method, fit, kwargs, seed) in enumerate(jobs, start=1):
        base = {"series": name, "method": method, "fit_config": fit, "kwargs": kwargs, "seed": seed,
                "n": len(s.values), "window": autos[name]}
        try:
            row, summary = run_one(s, method, kwargs, seed, autos[name])
        except Exception as e:  # one failed fit is recorded and rerun by --resume; the rest go on
            row, summary = {"error": f"{type(e).__name__}: {e}"}, f"FAILED {type(e).__name__}: {e}"
        results[key] = base | row
        save()
        print(f"[{time.perf_counter() - clock:7.0f}s] {done}/{len(jobs)} {name} (N={len(s.values)}, W={autos[name]}) "
              f"{method if fit is None else f'vaekit:{fit}'} seed {'-' if seed is None else seed}: {summary}", flush=True)
    record["meta"]["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    save()
    return record


def machine(threads: int) -> dict[str, Any]:
    versions = {}
    for package in VERSIONS:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"cpu": cpu_name(), "arch": platform.machine(), "cores": os.cpu_count(), "threads": threads,
            "python": platform.python_version(), **versions}


# ---------------------------------------------------------------- the report

def collect(results: dict[str, Any]) -> tuple[dict, dict, dict]:
    """Per series: each competitor's and each vaekit candidate's list of per-seed rows; series facts."""
    methods: dict[str, dict[str, list]] = {}
    candidates: dict[str, dict[str, list]] = {}
    facts: dict[str, dict[str, int]] = {}
    for row in results.values():
        facts[row["series"]] = {"n": row["n"], "window": row["window"]}
        if "error" in row:
            continue
        if row["method"] == "vaekit":
            for agg, rated in row["candidates"].items():
                candidates.setdefault(f"{row['fit_config']}:{agg}", {}).setdefault(row["series"], []).append(rated)
        else:
            methods.setdefault(row["method"], {}).setdefault(row["series"], []).append(row)
    return methods, candidates, facts


def summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    """Seed means of the metrics, the seeds' median seconds."""
    return {**{k: statistics.mean(r[k] for r in rows) for k in METRICS},
            "seconds": statistics.median(r["seconds"] for r in rows), "seeds": len(rows)}


def loso_picks(candidates: dict[str, dict[str, dict]], series: list[str]) -> dict[str, str]:
    """For each series, the candidate with the best mean VUS-PR on the others (ties: mean ROC-AUC)."""
    picks = {}
    for held_out in series:
        others = [s for s in series if s != held_out]
        picks[held_out] = max(candidates, key=lambda c: (
            statistics.mean(candidates[c][s]["vus_pr"] for s in others),
            statistics.mean(candidates[c][s]["roc_auc"] for s in others)))
    return picks


def report(records: list[dict[str, Any]]) -> list[str]:
    results: dict[str, Any] = {}
    for record in records:
        results |= record["results"]
    raw_methods, raw_candidates, facts = collect(results)
    competitors = [m for m in COMPETITORS if m in raw_methods]
    # The series every competitor and vaekit's default have run; a candidate missing some of them (a config
    # still running, or left out with --fit-configs) drops out of the choice instead of taking series with it.
    anchors = [raw_methods[m] for m in competitors]
    if raw_candidates:
        anchors.append(raw_candidates.get(DEFAULT) or max(raw_candidates.values(), key=len))
    series = sorted(s for s in facts if all(s in a for a in anchors))
    left_out = sorted(set(facts) - set(series))
    incomplete = [c for c in raw_candidates if not all(s in raw_candidates[c] for s in series)]
    table = {m: {s: summarise(raw_methods[m][s]) for s in series} for m in competitors}
    cands = {c: {s: summarise(raw_candidates[c][s]) for s in series} for c in raw_candidates if c not in incomplete}

    columns: list[str] = []
    picks: dict[str, str] = {}
    if cands and len(series) >= 2:
        picks = loso_picks(cands, series)
        table["vaekit (LOSO)"] = {s: cands[picks[s]][s] for s in series}
        columns.append("vaekit (LOSO)")
    if DEFAULT in cands:
        table["vaekit (defaults)"] = cands[DEFAULT]
        columns.append("vaekit (defaults)")
    columns += competitors
    headline = "vaekit (LOSO)" if "vaekit (LOSO)" in table else "vaekit (defaults)"

    lines = ["# NAB, unsupervised protocol: fit on the whole series without labels, score every reading", ""]
    for meta in [meta for record in records for meta in [*record.get("earlier_runs", []), record["meta"]]]:
        m = meta.get("machine", {})
        lines.append(f"- `{meta.get('command', '?')}`: {meta.get('started', '?')} to {meta.get('finished', 'unfinished')}; "
                     f"{m.get('cpu')} ({m.get('cores')} cores, {m.get('arch')}), {m.get('threads')} thread(s), "
                     f"Python {m.get('python')}; " + ", ".join(f"{p} {m.get(p)}" for p in VERSIONS if m.get(p))
                     + f"; untimed warm-up {meta.get('warm_up_seconds')}")
    failed = [f"{k} ({r['error']})" for k, r in results.items() if "error" in r]
    if failed:
        lines.append(f"- FAILED runs (rerun them with --resume): {'; '.join(failed)}")
    if left_out:
        lines.append(f"- series left out (not run by every method yet): {', '.join(left_out)}")
    if incomplete:
        lines.append(f"- vaekit candidates left out (not run on every series): {', '.join(incomplete)}")
    if not series or not columns:
        return [*lines, "- no series has results from every method yet"]
    seeds = {c: sorted({table[c][s]["seeds"] for s in series}) for c in columns}  # seeds run per series, min..max
    lines.append(f"- {len(series)} series; metrics: mean of the seeds, buffer = the series' auto window W; seconds: "
                 "fit + score, median of the seeds, imports and JIT warm-up excluded; seeds per series: "
                 + ", ".join(f"{c} {k[0]}" + (f"-{k[-1]}" if k[-1] != k[0] else "") for c, k in seeds.items()))
    if picks:
        lines.append("- vaekit (LOSO): for each series the candidate with the best mean VUS-PR over the other "
                     f"{len(series) - 1} series; vaekit (defaults): `{DEFAULT}`")
    elif cands:
        lines.append("- vaekit (LOSO) needs results on at least 2 series")
    if headline in table:
        lines.append(f"- **headline, {headline}: mean " + ", ".join(
            f"{t} {statistics.mean(table[headline][s][k] for s in series):.3f}"
            for k, t in (("vus_pr", "VUS-PR"), ("roc_auc", "ROC-AUC"), ("pr_auc", "PR-AUC"))) + "**")

    def cell(value: float, best: bool = False, fmt: str = "{:.3f}") -> str:
        return f"**{fmt.format(value)}**" if best else fmt.format(value)

    for metric, title in (("vus_pr", "VUS-PR"), ("roc_auc", "ROC-AUC"), ("pr_auc", "PR-AUC")):
        pick_column = metric == "vus_pr" and picks
        lines += ["", f"## {title}", "", "| series | N | W | " + ("LOSO pick | " if pick_column else "")
                  + " | ".join(columns) + " |", "|---|---:|---:|" + ("---|" if pick_column else "")
                  + "---:|" * len(columns)]
        for s in series:
            top = max(table[c][s][metric] for c in columns)
            lines.append(f"| {s} | {facts[s]['n']} | {facts[s]['window']} | " + (f"{picks[s]} | " if pick_column else "")
                         + " | ".join(cell(table[c][s][metric], table[c][s][metric] == top) for c in columns) + " |")
        means = {c: statistics.mean(table[c][s][metric] for s in series) for c in columns}
        lines.append("| **mean** | | | " + ("| " if pick_column else "")
                     + " | ".join(cell(means[c], means[c] == max(means.values())) for c in columns) + " |")

    lines += ["", "## fit + score seconds (median of the seeds)", ""]
    vaekits = [c for c in ("vaekit (LOSO)", "vaekit (defaults)") if c in table]
    ratio_columns = [c for c in vaekits if "PyOD-VAE" in table]
    lines += ["| series | N | W | " + " | ".join(columns) + "".join(f" | PyOD-VAE / {c}" for c in ratio_columns) + " |",
              "|---|---:|---:|" + "---:|" * (len(columns) + len(ratio_columns))]
    ratios: dict[str, list[float]] = {c: [] for c in ratio_columns}
    for s in series:
        for c in ratio_columns:
            ratios[c].append(table["PyOD-VAE"][s]["seconds"] / table[c][s]["seconds"])
        lines.append(f"| {s} | {facts[s]['n']} | {facts[s]['window']} | "
                     + " | ".join(f"{table[c][s]['seconds']:.1f}" for c in columns)
                     + "".join(f" | {ratios[c][-1]:.1f}x" for c in ratio_columns) + " |")
    lines.append("| **total** | | | " + " | ".join(f"{sum(table[c][s]['seconds'] for s in series):.0f}" for c in columns)
                 + " |" * (len(ratio_columns) + 1))
    for c in ratio_columns:
        lines.append(f"\nPyOD-VAE / {c}: min {min(ratios[c]):.1f}x, median {statistics.median(ratios[c]):.1f}x, "
                     f"max {max(ratios[c]):.1f}x")

    if cands:
        counts = {c: list(picks.values()).count(c) for c in cands}
        lines += ["", "## vaekit candidates, in-sample (each rated on the same series it would be chosen on)", "",
                  "| candidate | VUS-PR | ROC-AUC | PR-AUC | VUS-ROC | total seconds | LOSO picks |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for c in cands:
            name = f"{c} (default)" if c == DEFAULT else c
            lines.append(f"| {name} | " + " | ".join(f"{statistics.mean(cands[c][s][k] for s in series):.3f}" for k in METRICS)
                         + f" | {sum(cands[c][s]['seconds'] for s in series):.0f} | {counts[c]} |")

    lines += ["", "## targets", ""]
    if headline in table and competitors:
        for metric, title in (("vus_pr", "VUS-PR"), ("roc_auc", "ROC-AUC")):
            means = {c: statistics.mean(table[c][s][metric] for s in series) for c in [headline, *competitors]}
            met = all(means[headline] > means[c] for c in competitors)
            lines.append(f"- {headline} has the best mean {title} of the four: {'met' if met else 'NOT met'} ("
                         + ", ".join(f"{c} {v:.3f}" for c, v in means.items()) + ")")
        for c in ratio_columns:
            slower = [s for s, r in zip(series, ratios[c]) if r <= 1.0]
            lines.append(f"- {c} fits faster than PyOD's VAE on every series: {'met' if not slower else 'NOT met'} "
                         f"(PyOD-VAE / vaekit {min(ratios[c]):.1f}x to {max(ratios[c]):.1f}x"
                         + (f"; not faster on {', '.join(slower)})" if slower else ")"))
    else:
        lines.append("- not rated: needs vaekit and the competitors in the merged results")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/nab", help="folder of the NAB CSVs and windows.json")
    parser.add_argument("--series", nargs="*", default=[], help="run the series whose path contains one of these")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of {', '.join(METHODS)}")
    parser.add_argument("--fit-configs", default=None, help=f"vaekit's, comma-separated (default all: {', '.join(FIT_CONFIGS)})")
    parser.add_argument("--threads", type=int, default=1, help="torch, BLAS and numba threads of this process")
    parser.add_argument("--json", default=None, help="write every result here, after each (series, method, seed)")
    parser.add_argument("--resume", action="store_true", help="keep the results --json already holds, run the rest")
    parser.add_argument("--report", nargs="+", default=None, help="merge these JSON files and print the tables")
    parser.add_argument("--markdown", default=None, help="also write the tables to this file")
    args = parser.parse_args()
    if args.report:
        records = [json.loads(Path(p).read_text()) for p in args.report]
    else:
        records = [run(args)]
    lines = report(records)
    print("\n".join(lines), flush=True)
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
