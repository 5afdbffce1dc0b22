"""``vaekit fit-sampler`` and ``vaekit train-classifier``: what better samples and their measurement need."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vaekit.cli.common import FITTED_SAMPLERS, AddCommand, add_data_flags, add_seed_flag
from vaekit.errors import DataError, RunDirError

# torch, the model and scikit-learn are imported inside the commands: `vaekit --help` must not load them.

def cmd_fit_sampler(args: argparse.Namespace) -> int:
    from vaekit.io import load, load_run_config  # noqa: PLC0415 - imports torch: loaded when the command runs
    from vaekit.runs import load_data_for, sampler_inputs  # noqa: PLC0415 - imports torch, as above
    from vaekit.samplers import SAMPLER_DIR, fit_sampler, save_samplers  # noqa: PLC0415 - imports torch, as above

    if args.components < 1 or (args.epochs is not None and args.epochs < 1):
        raise DataError("--components and --epochs must be positive")
    target = Path(args.run_dir) / SAMPLER_DIR / f"{args.sampler}.json"
    if target.exists() and not args.overwrite:
        raise RunDirError(f"{args.run_dir} already has a {args.sampler} sampler; pass --overwrite to fit it again")
    model = load(args.run_dir)
    data = load_data_for(args.run_dir, args.data, split=args.split, label_column=args.label_column)
    options = {"components": args.components} if args.sampler == "gmm" else {"epochs": args.epochs}
    model.samplers.clear()  # write only the one fitted now; the others stay as they are on disk
    x = sampler_inputs(data.x, load_run_config(args.run_dir).train.dynamic_binarization, args.seed)
    fit_sampler(model, x, args.sampler, seed=args.seed, **options)
    save_samplers(model, Path(args.run_dir))
    if not args.quiet:
        print(f"wrote {target.parent} ({args.sampler}, fitted to the codes of {len(data.x)} rows)", file=sys.stderr)
    return 0


def cmd_train_classifier(args: argparse.Namespace) -> int:
    from vaekit.classifier import INFO_FILE, save_classifier, train_classifier  # noqa: PLC0415 - imports torch, as above
    from vaekit.data import load_data  # noqa: PLC0415 - imports torch, as above
    from vaekit.data.labels import class_labels  # noqa: PLC0415 - imports torch, as above

    out = Path(args.out)
    if (out / INFO_FILE).exists() and not args.overwrite:
        raise RunDirError(f"{out} already holds a classifier; pass --overwrite to replace it")
    if args.epochs is not None and args.epochs < 1:
        raise DataError(f"--epochs must be positive, got {args.epochs}")
    data = load_data(args.data, split=args.split, label_column=args.label_column)
    if data.y is None:
        raise DataError(f"{args.data} has no labels; a feature classifier trains on them (--label-column NAME for a table)")
    model, accuracy = train_classifier(data.x, class_labels(data.y, data.name, allow_missing=False), epochs=args.epochs, seed=args.seed)
    save_classifier(model, out, {"data": args.data, "split": args.split, "epochs": args.epochs, "accuracy": accuracy})
    if not args.quiet:
        print(f"held-out accuracy {accuracy:.4f}; use it as --features classifier:{out}", file=sys.stderr)
        print(f"wrote {out}", file=sys.stderr)
    return 0


def add_fit_sampler(command: AddCommand) -> None:
    p = command(
        "fit-sampler", cmd_fit_sampler,
        "fit a latent sampler to a run's training codes (gmm: a Gaussian mixture; two-stage: a second VAE); "
        "then sample --sampler NAME",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    add_data_flags(p)
    p.add_argument("--sampler", choices=FITTED_SAMPLERS, default="gmm", help="which sampler (default: gmm)")
    p.add_argument("--components", type=int, default=10, help="gmm: mixture components (default: 10)")
    p.add_argument(
        "--epochs", type=int, default=None,
        help="two-stage: epochs of the second VAE (default: 100, more on few codes: at least 3,000 steps)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a sampler of that name fitted before")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    add_seed_flag(p)


def add_train_classifier(command: AddCommand) -> None:
    p = command(
        "train-classifier", cmd_train_classifier,
        "train a small classifier on labelled data: its penultimate layer is a feature space for "
        "evaluate --generation (--features classifier:DIR)",
    )
    add_data_flags(p)
    p.add_argument("--out", required=True, help="folder to write classifier.json and classifier.safetensors into")
    p.add_argument(
        "--epochs", type=int, default=None,
        help="passes over the data (default: 5, more on small data: at least 1,000 steps)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a classifier already in --out")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    add_seed_flag(p)
