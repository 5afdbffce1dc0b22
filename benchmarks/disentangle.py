"""Disentanglement on sprites: MIG of the VAE, beta-VAE (beta = 4) and the capacity-annealed VAE.

The data is made by code (``vaekit.data.sprites``, the dSprites recipe), so
every image's factors (shape, scale, rotation, x, y) are known and the
mutual information gap (Chen et al. 2018) can be computed from them. Each
model trains for the same number of epochs; the capacity model's C rises
from 0 to C_max over all its steps (Burgess et al. 2018). Latent traversals
of each model go to ``--out``.

    .venv/bin/python benchmarks/disentangle.py --rows 20000 --epochs 30

Prints one row per model: MIG, the per-factor gaps, the ELBO and active units.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch

from vaekit.data import split_indices
from vaekit.data.sprites import FULL_GRID, SMALL_GRID, make_sprites
from vaekit.disentanglement import mig
from vaekit.evaluation import active_units, evaluate
from vaekit.models import build_model
from vaekit.runs import resolve_config
from vaekit.training import Trainer

BASE = {"arch": "mlp", "hidden_dims": "1200,1200", "latent_dim": 10, "batch_size": 64, "lr": 5e-4, "val_fraction": 0.1}


def models(args, steps: int) -> dict[str, dict]:
    return {
        "vae": {"beta": 1.0},
        "beta-vae (beta=4)": {"beta": 4.0},
        f"capacity (gamma={args.gamma:g}, C_max={args.capacity:g})": {
            "beta": args.gamma, "capacity_max": args.capacity, "capacity_steps": steps,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="sprites drawn from the factor grid")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (64 as in dSprites)")
    parser.add_argument("--small-grid", action="store_true", help=f"the coarse factor grid {SMALL_GRID}, not {FULL_GRID}")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--gamma", type=float, default=1000.0, help="weight of |KL - C| (Burgess et al. used 1000)")
    parser.add_argument("--capacity", type=float, default=25.0, help="C_max in nats (Burgess et al. used 25)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override settings of every model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="docs", help="where the traversal pictures and the JSON go")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = make_sprites(args.rows, seed=args.seed, size=args.size, grid=SMALL_GRID if args.small_grid else FULL_GRID)
    x = torch.from_numpy(data.x)
    train_idx, val_idx = split_indices(len(data), BASE["val_fraction"], args.seed)
    overrides = {**BASE, **dict(kv.split("=", 1) for kv in args.set), "epochs": args.epochs, "seed": args.seed}
    steps = args.epochs * math.ceil(len(train_idx) / int(overrides["batch_size"]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for name, settings in models(args, steps).items():
        cfg = resolve_config(None, {**overrides, **settings})
        cfg.model.input_shape = data.sample_shape
        cfg.validate()
        torch.manual_seed(args.seed)
        model = build_model(cfg.model)
        started = time.perf_counter()
        Trainer(model, cfg.train).fit(x[train_idx], x[val_idx])
        seconds = time.perf_counter() - started
        model.eval()
        codes = torch.cat([model.embed(x[s : s + 2048]) for s in range(0, len(x), 2048)]).numpy()
        score = mig(codes, data.factors, factor_names=data.factor_names)
        report = evaluate(model, x[val_idx])
        units = active_units(model, x[val_idx])["count"]
        results.append({"model": name, "mig": score["mig"], "per_factor": score["per_factor"], "elbo": report["elbo"],
                        "kl": report["kl"], "active_units": units, "train_seconds": seconds})
        print(f"{name}: MIG {score['mig']:.3f}  ELBO {report['elbo']:.1f}  KL {report['kl']:.1f}  "
              f"active {units}  ({seconds:.0f} s)", flush=True)
        _traversals(model, x[val_idx[0]], out / f"disentangle_{name.split(' ')[0]}.png", name, score["mig"])

    print()
    print(f"sprites: {len(data)} images of {args.size}x{args.size}, {args.epochs} epochs per model, "
          f"{platform.machine()}, {args.threads} threads, torch {torch.__version__}")
    print()
    print("| model | MIG | " + " | ".join(data.factor_names) + " | val ELBO (nats) | active units |")
    print("|---|---|" + "---|" * len(data.factor_names) + "---|---|")
    for r in results:
        gaps = " | ".join(f"{r['per_factor'].get(f, float('nan')):.3f}" for f in data.factor_names)
        print(f"| {r['model']} | {r['mig']:.3f} | {gaps} | {r['elbo']:.1f} | {r['active_units']} |")
    (out / "disentangle.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1))


def _traversals(model, row: torch.Tensor, path: Path, name: str, score: float) -> None:
    from vaekit import explore, plots  # noqa: PLC0415 - matplotlib only here

    base = model.embed(row[None])[0]
    grid = explore.traverse(model, steps=9, span=2.5, base=base).numpy()  # (Z, 9, 1, H, W)
    plots.save_latent_grid(grid, path, f"{name}: MIG {score:.2f}; row i sweeps z_i over ±2.5")


if __name__ == "__main__":
    main()
