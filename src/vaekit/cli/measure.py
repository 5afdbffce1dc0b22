"""``vaekit encode``, ``classify`` and ``evaluate``: codes, predictions and numbers from a run."""

from __future__ import annotations

import argparse
import json

import numpy as np

from vaekit.cli.common import AddCommand, add_data_flags, add_output_flags, done, output_path, seed, write_npy
from vaekit.data.labels import class_labels
from vaekit.errors import DataError
from vaekit.files import atomic_write_via_path

# torch, the model and pandas are imported inside the commands: `vaekit --help` must not load them.


def cmd_encode(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415 - loaded when the command runs, so --help stays fast

    from vaekit.io import load  # noqa: PLC0415 - imports torch: loaded when the command runs
    from vaekit.runs import labels_for_model, load_data_for  # noqa: PLC0415 - imports torch, as above

    out = output_path(args.out, (".npy", ".csv", ".parquet"), args.overwrite)
    model = load(args.run_dir)
    data = load_data_for(args.run_dir, args.data, split=args.split, label_column=args.label_column)
    g = torch.Generator().manual_seed(args.seed)
    y = labels_for_model(model, data)
    z = model.embed(torch.from_numpy(data.x), sample=args.sample, generator=g, y=y).numpy()  # (N, Z)
    if out.suffix == ".npy":
        write_npy(out, z)
    else:
        import pandas as pd  # noqa: PLC0415 - slow to import: loaded only for a table

        frame = pd.DataFrame(z, columns=[f"z{i}" for i in range(z.shape[1])])
        if data.y is not None:
            frame["label"] = data.y
        if out.suffix == ".parquet":
            try:
                import pyarrow  # noqa: F401, PLC0415 - optional extra: vaekit[parquet]
            except ImportError:
                raise DataError("writing .parquet needs pyarrow: pip install 'vaekit[parquet]'") from None
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_via_path(out, lambda tmp: frame.to_csv(tmp, index=False) if out.suffix == ".csv" else frame.to_parquet(tmp))
    done(out, args)
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415 - loaded when the command runs, so --help stays fast

    from vaekit.io import load  # noqa: PLC0415 - imports torch: loaded when the command runs
    from vaekit.runs import load_data_for  # noqa: PLC0415 - imports torch, as above

    out = output_path(args.out, (".csv", ".npy"), args.overwrite)
    model = load(args.run_dir)
    if not hasattr(model, "predict_proba"):
        raise DataError(f"classify needs a model with a classifier (m2); {args.run_dir} holds a {model.config.model}")
    data = load_data_for(args.run_dir, args.data, split=args.split, label_column=args.label_column)
    x = torch.from_numpy(data.x)
    proba = torch.cat([model.predict_proba(x[s : s + 1024]) for s in range(0, len(x), 1024)]).numpy()  # (N, K)
    predicted = proba.argmax(axis=1)
    if out.suffix == ".npy":
        write_npy(out, predicted.astype(np.int64))
    else:
        import pandas as pd  # noqa: PLC0415 - slow to import: loaded only for a table

        frame = pd.DataFrame({"predicted": predicted, **{f"p{k}": proba[:, k] for k in range(proba.shape[1])}})
        if data.y is not None:
            frame.insert(1, "label", data.y)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_via_path(out, lambda tmp: frame.to_csv(tmp, index=False))
    done(out, args)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from vaekit.io import load  # noqa: PLC0415 - imports torch: loaded when the command runs
    from vaekit.runs import labels_for_model, load_data_for  # noqa: PLC0415 - imports torch, as above
    from vaekit.summary import summarize  # noqa: PLC0415 - imports torch, as above

    if args.samples <= 0:
        raise DataError(f"--samples must be positive, got {args.samples}")
    if args.iw_samples < 0:
        raise DataError(f"--iw-samples must be >= 0, got {args.iw_samples}")
    model = load(args.run_dir)
    data = load_data_for(args.run_dir, args.data, split=args.split, label_column=args.label_column)
    y = labels_for_model(model, data)  # a cvae is scored given its labels; m2 on the unlabelled bound
    if args.iw_samples and getattr(model, "conditional", False):
        raise DataError(f"--iw-samples estimates log p(x) of unconditional models (vae, iwae), not {model.config.model}")
    known = None
    if hasattr(model, "predict") and data.y is not None:
        known = class_labels(data.y, data.name, allow_missing=True)
    scores = summarize(
        model, data.x, y=y, labels=known, factors=data.factors, factor_names=data.factor_names,
        n_samples=args.samples, seed=args.seed, iw_samples=args.iw_samples,
    )
    report = {"data": args.data, "split": args.split, **scores}
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{args.data} ({report['n']} samples, {args.samples} posterior draws each)")
    for key in ("elbo", "reconstruction", "kl", "loss", "iw_nll"):
        if key in report:
            label = f"iw_nll (K={args.iw_samples})" if key == "iw_nll" else key
            print(f"  {label:<18} {report[key]:.4f} nats/sample")
    if "bits_per_dim" in report:
        print(f"  {'bits_per_dim':<18} {report['bits_per_dim']:.4f}")
    for key in ("accuracy", "mig"):
        if key in report:
            print(f"  {key:<18} {report[key]:.4f}")
    print(f"  {'active_units':<18} {report['active_units']} of {model.latent_dim}")
    print(f"  {'kl_per_dim':<18} {' '.join(f'{v:.3f}' for v in report['kl_per_dim'])}")
    return 0


# --------------------------------------------------------------------------- flags


def add_encode(command: AddCommand) -> None:
    p = command("encode", cmd_encode, "write latent codes (posterior means, or samples with --sample)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    add_data_flags(p)
    p.add_argument("--sample", action="store_true", help="draw z ~ q(z|x) instead of the posterior mean")
    add_output_flags(p, ".npy, .csv or .parquet")


def add_classify(command: AddCommand) -> None:
    p = command("classify", cmd_classify, "m2: predict the class of each row (CSV with probabilities, or .npy)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    add_data_flags(p)
    add_output_flags(p, ".csv or .npy")


def add_evaluate(command: AddCommand) -> None:
    p = command(
        "evaluate", cmd_evaluate,
        "ELBO, reconstruction and KL per sample, averaged over the data (m2: accuracy; sprites: MIG)",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    add_data_flags(p)
    p.add_argument("--samples", type=int, default=1, help="posterior draws per row for the ELBO (default: 1)")
    p.add_argument(
        "--iw-samples", type=int, default=0, metavar="K",
        help="also estimate log p(x) with K importance samples (Burda et al. 2015; 1000 is usual; default: off)",
    )
    p.add_argument("--seed", type=seed, default=0, help="seed of the posterior draws (default: 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
