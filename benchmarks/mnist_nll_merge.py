"""One table, one plot and one JSON from the per-model records of benchmarks/mnist_nll.py.

Each run of ``mnist_nll.py`` writes one JSON per trained model (two runs side
by side on two cores write two sets); this reads them all and prints one
markdown table (test NLL, difference to the plain VAE, epochs, training
minutes, seconds per epoch and time to Burda et al.'s 86.76 nats, both beside
the plain VAE's), the published figures, and each target of the MNIST NLL
issue with its measured value and whether it is met. The plain VAE is the
``mnist-mlp`` row (model ``vae``) of the same binarization; differences and
ratios are against it.

    .venv/bin/python benchmarks/mnist_nll_merge.py docs/nll_lane_a docs/nll_lane_b

Arguments are JSON files or folders (every ``mnist_nll_*.json`` in them).
No torch here: merging takes a second.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

PLAIN_VAE = "mnist-mlp"
BURDA_VAE = 86.76  # Burda et al. 2015, VAE with one stochastic layer, dynamic binarization

# (label, binarization, test NLL in nats)
PUBLISHED = [
    ("VAE, 1 stochastic layer (Burda et al. 2015), 3,280 epochs", "dynamic", 86.76),
    ("IWAE k=50 (Burda et al. 2015)", "dynamic", 84.78),
    ("IWAE 2 stochastic layers (Burda et al. 2015)", "dynamic", 82.90),
    ("Gaussian-prior VAE (Norouzi et al. 2020)", "dynamic", 84.45),
    ("VampPrior (Norouzi et al. 2020, table)", "dynamic", 82.43),
    ("Exemplar VAE (Norouzi et al. 2020)", "dynamic", 82.09),
    ("HVAE + VampPrior (Tomczak & Welling 2018)", "dynamic", 81.24),
    ("Ladder VAE (Sønderby et al. 2016)", "dynamic", 81.74),
    ("NVAE (Vahdat & Kautz 2020)", "dynamic", 78.01),
    ("VampPrior (Tomczak & Welling 2018)", "static", 85.57),
    ("pythae VampPrior reproduction", "static", 85.79),
    ("pythae VAE reproduction, 500 epochs", "static", 89.78),
]

# (description, preset, binarization, kind, threshold): "gap" = at least threshold nats below the
# plain VAE of the same run and budget, "at_most" = final NLL <= threshold, "below" = final NLL < threshold.
# A target's preset names a family: the preset and its variants ("mnist-hvae-vamp-gated"); the best row counts.
TARGETS = [
    ("VampPrior at least 1.5 nats below the plain VAE", "mnist-vamp", "dynamic", "gap", 1.5),
    ("HVAE + VampPrior at least 2.5 nats below the plain VAE", "mnist-hvae-vamp", "dynamic", "gap", 2.5),
    ("VampPrior <= 84.45", "mnist-vamp", "dynamic", "at_most", 84.45),
    ("stretch: VampPrior <= 82.43", "mnist-vamp", "dynamic", "at_most", 82.43),
    ("stretch: HVAE + VampPrior <= 81.24", "mnist-hvae-vamp", "dynamic", "at_most", 81.24),
    ("static binarization: VampPrior below pythae's 85.79", "mnist-vamp", "static", "below", 85.79),
]
LEVELS = (BURDA_VAE, 84.45, 82.43, 81.24)
#: The reference lines' names on the plot.
LEVEL_NAMES = {BURDA_VAE: "Burda's VAE", 84.45: "Gaussian VAE, GPU", 82.43: "VampPrior, published",
               81.24: "HVAE + VampPrior, published"}
#: Nats shown above the best probe: the first epochs, tens of nats higher, would flatten where the models differ.
PLOT_SPAN = 14.0
FULL_K, FULL_IMAGES = 5000, 10_000


def read_records(paths: list[str]) -> list[dict]:
    """Every per-model record under ``paths`` (files, or folders of ``mnist_nll_*.json``), in argument order."""
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(p.glob("mnist_nll_*.json")) if p.is_dir() else [p]
    records = []
    for f in files:
        record = json.loads(f.read_text())
        if "final" not in record:  # a combined file, or one from the older single-run format
            print(f"skipping {f}: not a per-model record of mnist_nll.py", file=sys.stderr)
            continue
        record["source"] = str(f)
        records.append(record)
    return records


def plain_vae(records: list[dict], binarization: str) -> dict | None:
    """The plain VAE row of ``binarization``: preset mnist-mlp, model vae."""
    return next((r for r in records if r["preset"] == PLAIN_VAE and r["model"] == "vae"
                 and r["binarization"] == binarization), None)


def _ratio(value: float | None, reference: float | None) -> str:
    return "-" if value is None or not reference else f"{value / reference:.2f}x"


def _fmt(value: float | None, spec: str = ".0f", suffix: str = "") -> str:
    return "not reached" if value is None else f"{value:{spec}}{suffix}"


def table(records: list[dict]) -> list[str]:
    """The markdown table of measured rows, then the published ones."""
    lines = [
        "| model | binarization | test NLL (nats) | vs plain VAE (nats, minus = lower) | epochs | training min | s/epoch "
        f"| s/epoch vs plain VAE | time to {BURDA_VAE} (probe, training s) | vs plain VAE | curve still falling |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        base = plain_vae(records, r["binarization"])
        final = r["final"]
        gap = "-" if base is None or base is r else f"{final['nll'] - base['final']['nll']:+.2f}"
        hit, hit_epoch = r["reached_86_76"]["seconds"], r["reached_86_76"]["epoch"]
        base_hit = None if base is None else base["reached_86_76"]["seconds"]
        falling = {True: "yes", False: "no", None: "unknown"}[r["still_falling"]]
        lines.append(
            f"| vaekit {r['name']} | {r['binarization']} | {final['nll']:.2f} (K={final['k']}, {final['images']:,} images) "
            f"| {gap} | {r['epochs']} | {r['train_seconds'] / 60:.1f} | {r['seconds_per_epoch']:.1f} "
            f"| {'-' if base is r else _ratio(r['seconds_per_epoch'], base and base['seconds_per_epoch'])} "
            f"| {_fmt(hit)}{'' if hit is None else f' (epoch {hit_epoch})'} "
            f"| {'-' if base is r else _ratio(hit, base_hit)} | {falling} |"
        )
    for label, binarization, value in PUBLISHED:
        lines.append(f"| {label} (published) | {binarization} | {value:.2f} | | | | | | | | |")
    return lines


def in_family(preset: str, family: str) -> bool:
    """Whether ``preset`` is ``family`` or one of its variants (``family-...``)."""
    return preset == family or preset.startswith(family + "-")


def targets(records: list[dict]) -> list[dict]:
    """Each target of the issue with its measured value and whether it is met (None: not measured)."""
    results = []
    for description, preset, binarization, kind, threshold in TARGETS:
        rows = [r for r in records if in_family(r["preset"], preset) and r["model"] == "vae"
                and r["binarization"] == binarization]
        row = min(rows, key=lambda r: r["final"]["nll"], default=None)
        base = plain_vae(records, binarization)
        result = {"target": description, "preset": row["preset"] if row else preset, "binarization": binarization,
                  "measured": None, "met": None}
        if row is not None and kind == "gap" and base is not None:
            result["measured"] = base["final"]["nll"] - row["final"]["nll"]  # nats below the plain VAE
            result["met"] = result["measured"] >= threshold
            result["minutes"] = (row["budget_minutes"], base["budget_minutes"])
            result["trained_minutes"] = (row["train_seconds"] / 60, base["train_seconds"] / 60)
        elif row is not None and kind != "gap":
            result["measured"] = row["final"]["nll"]
            result["met"] = row["final"]["nll"] <= threshold if kind == "at_most" else row["final"]["nll"] < threshold
        if row is not None:
            result["full_protocol"] = row["final"]["k"] >= FULL_K and row["final"]["images"] >= FULL_IMAGES
        results.append(result)
    return results


def target_lines(results: list[dict]) -> list[str]:
    lines = []
    for t in results:
        if t["measured"] is None:
            lines.append(f"- {t['target']}: not measured")
            continue
        value = f"{t['measured']:.3f} nats below" if "minutes" in t else f"{t['measured']:.2f}"  # 3 places: 1.496 is not 1.5
        note = ""
        if "minutes" in t and t["minutes"][0] != t["minutes"][1]:
            note += f" (budgets differ: {t['minutes'][0]} vs {t['minutes'][1]} min)"
        elif "minutes" in t:
            note += f" (both {t['minutes'][0]} training min"
            trained = t["trained_minutes"]  # a schedule that ends first leaves budget unused
            if max(abs(m - t["minutes"][0]) for m in trained) >= 0.5:
                note += f" of budget; trained {trained[0]:.1f} and {trained[1]:.1f}: the schedules ended first"
            note += ")"
        if not t["full_protocol"]:
            note += f" (not K={FULL_K} on all {FULL_IMAGES:,} test images)"
        lines.append(f"- {t['target']}: {value} ({t['preset']}): {'met' if t['met'] else 'NOT met'}{note}")
    return lines


def plot(records: list[dict], path: Path) -> Path:
    from _plots import plot_series  # noqa: PLC0415 - matplotlib only when drawing; benchmarks/ is the script's path

    probes = {(r["probe"]["k"], r["probe"]["images"]) for r in records}
    probe = "K={}, first {} test images".format(*probes.pop()) if len(probes) == 1 else "probe subsets differ per row"
    low = min(v for r in records for *_, v in r["curve"])
    threads = sorted({r["threads"] for r in records})
    levels = {level: LEVEL_NAMES[level] for level in LEVELS if level >= low - 2}
    return plot_series(
        {f"{r['name']} ({r['binarization']})": ([t / 60 for t, _, _ in r["curve"]], [v for *_, v in r["curve"]])
         for r in records if r["curve"]},
        path,
        xlabel=f"training wall time (min, {'/'.join(map(str, threads))} CPU thread(s) per model)",
        ylabel=f"test NLL, {probe} (nats)",
        title=f"MNIST: test NLL against training time (axis cut {PLOT_SPAN:g} nats above the best)",
        levels=levels,
        ylim=(min([low, *levels]) - 1, low + PLOT_SPAN),  # no level near a short run's curve: none shown
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="+", help="per-model JSON files of mnist_nll.py, or folders of them")
    parser.add_argument("--png", default="docs/mnist_nll_models.png", help="the plot of every curve")
    parser.add_argument("--json", default="docs/mnist_nll_models.json", help="the combined record")
    args = parser.parse_args()
    print("$ " + shlex.join([Path(sys.executable).name, *sys.argv]))

    records = read_records(args.records)
    if not records:
        parser.error("no per-model records found")
    # The plain VAE first, then the rest in the order given; static rows after dynamic ones.
    records.sort(key=lambda r: (r["binarization"] != "dynamic", r["preset"] != PLAIN_VAE))
    print()
    print("MNIST test NLL, one row per model; " + "; ".join(sorted(
        {f"{r['machine']['cpu']}, {r['threads']} thread(s), torch {r['torch']}" for r in records})))
    print()
    print("\n".join(table(records)))
    results = targets(records)
    print()
    print("Targets (the plain VAE is the mnist-mlp row of the same binarization):")
    print()
    print("\n".join(target_lines(results)))

    Path(args.png).parent.mkdir(parents=True, exist_ok=True)
    plot(records, Path(args.png))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    combined = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rows": records,
        "published": [{"label": lab, "binarization": b, "nll": v} for lab, b, v in PUBLISHED],
        "targets": results,
    }
    Path(args.json).write_text(json.dumps(combined, indent=1))
    print(f"\nwrote {args.png} and {args.json}")


if __name__ == "__main__":
    main()
