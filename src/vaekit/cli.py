"""The ``vaekit`` command line: thin subcommands over the Python API.

Each subcommand is a plain function of parsed arguments. Torch is imported
only inside them, so ``vaekit --help`` answers at once. Problems a user can
fix are one ``error: ...`` line on stderr and exit code 2, and leave every
existing file untouched.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import typing
from pathlib import Path
from typing import Sequence

from vaekit import __version__, cli_detect
from vaekit.config import SECTIONS, field_docs
from vaekit.errors import DataError, RunDirError, VaekitError
from vaekit.presets import PRESETS

EXIT_USAGE = 2


def _seed(text: str) -> int:
    """argparse type for --seed: an integer in [0, 2**32)."""
    from vaekit.config import MAX_SEED  # noqa: PLC0415

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: expected an integer") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"invalid seed {text[:30]!r}: must be in [0, {MAX_SEED}]")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake as one line, like every other error."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see: {self.prog} --help)\n")


# --------------------------------------------------------------------------- commands


def cmd_demo(args: argparse.Namespace) -> int:
    from vaekit.runs import train  # noqa: PLC0415

    extra = {} if args.epochs is None else {"epochs": args.epochs}
    result = train(
        preset="digits", out=args.out, resume=args.resume, overwrite=args.overwrite, quiet=args.quiet, **extra
    )
    _report_run(result, args.quiet)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from vaekit.runs import train  # noqa: PLC0415

    overrides = {key: getattr(args, key) for key in _config_keys() if getattr(args, key, None) is not None}
    result = train(
        out=args.out,
        preset=args.preset,
        config=args.config,
        resume=args.resume,
        overwrite=args.overwrite,
        quiet=args.quiet,
        tensorboard=args.tensorboard,
        **overrides,
    )
    _report_run(result, args.quiet)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415

    from vaekit.io import load  # noqa: PLC0415

    out = _output_path(args.out, (".png", ".npy"), args.overwrite)
    if args.n <= 0:
        raise DataError(f"-n must be a positive number of samples, got {args.n}")
    if not 0 <= args.temperature < float("inf"):  # NaN fails too
        raise DataError(f"--temperature must be a finite number >= 0, got {args.temperature}")
    model = load(args.run_dir)
    g = torch.Generator().manual_seed(args.seed)
    if args.label is None and not args.by_class:
        samples = model.sample(args.n, temperature=args.temperature, generator=g).numpy()
        _write_images_or_array(out, samples, model)
        _done(out, args)
        return 0
    classes = getattr(model.config, "num_classes", 0) if getattr(model, "conditional", False) else 0
    flag = "--label" if args.label is not None else "--by-class"
    if not classes:
        raise DataError(f"{flag} needs a model conditioned on class labels (cvae, m2); {args.run_dir} holds a {model.config.model}")
    if args.label is not None and not 0 <= args.label < classes:
        raise DataError(f"--label {args.label} is out of range: the model has classes 0 to {classes - 1}")
    # --by-class: one row of n samples per class, the same latents in every row.
    labels = torch.arange(classes).repeat_interleave(args.n) if args.by_class else args.label
    n = classes * args.n if args.by_class else args.n
    if args.by_class:
        z = args.temperature * torch.randn(args.n, model.latent_dim, generator=g)  # (n, Z)
        with torch.no_grad():
            samples = model.decode(z.repeat(classes, 1), labels).mean.numpy()  # (K * n, *shape)
    else:
        samples = model.sample(n, temperature=args.temperature, generator=g, y=labels).numpy()
    if out.suffix == ".png" and len(model.input_shape) == 3:
        from vaekit import plots  # noqa: PLC0415

        out.parent.mkdir(parents=True, exist_ok=True)
        plots.save_image_grid(samples, out, nrow=args.n if args.by_class else None)
    else:
        _write_images_or_array(out, samples, model)
    _done(out, args)
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    from vaekit.io import load  # noqa: PLC0415
    from vaekit.runs import load_data_for  # noqa: PLC0415

    out = _output_path(args.out, (".csv", ".npy"), args.overwrite)
    model = load(args.run_dir)
    if not hasattr(model, "predict_proba"):
        raise DataError(f"classify needs a model with a classifier (m2); {args.run_dir} holds a {model.config.model}")
    data = load_data_for(args.run_dir, args.data, split=args.split, label_column=args.label_column)
    x = torch.from_numpy(data.x)
    proba = torch.cat([model.predict_proba(x[s : s + 1024]) for s in range(0, len(x), 1024)]).numpy()  # (N, K)
    predicted = proba.argmax(axis=1)
    if out.suffix == ".npy":
        _write_npy(out, predicted.astype(np.int64))
    else:
        import pandas as pd  # noqa: PLC0415

        from vaekit.files import atomic_write_via_path  # noqa: PLC0415

        frame = pd.DataFrame({"predicted": predicted, **{f"p{k}": proba[:, k] for k in range(proba.shape[1])}})
        if data.y is not None:
            frame.insert(1, "label", data.y)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_via_path(out, lambda tmp: frame.to_csv(tmp, index=False))
    _done(out, args)
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415

    from vaekit.io import load  # noqa: PLC0415
    from vaekit.runs import load_data_for  # noqa: PLC0415

    out = _output_path(args.out, (".png", ".npy"), args.overwrite)
    from vaekit.runs import labels_for_model  # noqa: PLC0415

    model = load(args.run_dir)
    data = load_data_for(args.run_dir, args.data, split=args.split, label_column=args.label_column)
    x = torch.from_numpy(data.x[: args.n] if args.n else data.x)
    y = labels_for_model(model, data)
    recon = model.reconstruct(x, y=None if y is None else y[: len(x)]).numpy()
    if out.suffix == ".npy":
        _write_npy(out, recon)
    elif data.is_image:
        from vaekit import plots  # noqa: PLC0415

        plots.save_reconstruction_grid(x.numpy(), recon, out)
    else:
        from vaekit import plots  # noqa: PLC0415

        plots.plot_vectors(x.numpy(), out, "inputs | reconstructions", data.feature_names, compare=recon)
    _done(out, args)
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415

    from vaekit.io import load  # noqa: PLC0415
    from vaekit.runs import load_data_for  # noqa: PLC0415

    out = _output_path(args.out, (".npy", ".csv", ".parquet"), args.overwrite)
    model = load(args.run_dir)
    data = load_data_for(args.run_dir, args.data, split=args.split, label_column=args.label_column)
    from vaekit.runs import labels_for_model  # noqa: PLC0415

    g = torch.Generator().manual_seed(args.seed)
    y = labels_for_model(model, data)
    z = model.embed(torch.from_numpy(data.x), sample=args.sample, generator=g, y=y).numpy()  # (N, Z)
    if out.suffix == ".npy":
        _write_npy(out, z)
    else:
        import pandas as pd  # noqa: PLC0415

        frame = pd.DataFrame(z, columns=[f"z{i}" for i in range(z.shape[1])])
        if data.y is not None:
            frame["label"] = data.y
        if out.suffix == ".parquet":
            try:
                import pyarrow  # noqa: F401, PLC0415
            except ImportError:
                raise DataError("writing .parquet needs pyarrow: pip install 'vaekit[parquet]'") from None
        from vaekit.files import atomic_write_via_path  # noqa: PLC0415

        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_via_path(out, lambda tmp: frame.to_csv(tmp, index=False) if out.suffix == ".csv" else frame.to_parquet(tmp))
    _done(out, args)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from vaekit.evaluation import active_units, evaluate, evaluate_likelihood  # noqa: PLC0415
    from vaekit.io import load  # noqa: PLC0415
    from vaekit.runs import load_data_for  # noqa: PLC0415

    if args.samples <= 0:
        raise DataError(f"--samples must be positive, got {args.samples}")
    if args.iw_samples < 0:
        raise DataError(f"--iw-samples must be >= 0, got {args.iw_samples}")
    from vaekit.runs import labels_for_model  # noqa: PLC0415

    model = load(args.run_dir)
    data = load_data_for(args.run_dir, args.data, split=args.split, label_column=args.label_column)
    y = labels_for_model(model, data)  # a cvae is scored given its labels; m2 on the unlabelled bound
    if args.iw_samples and getattr(model, "conditional", False):
        raise DataError(f"--iw-samples estimates log p(x) of unconditional models (vae, iwae), not {model.config.model}")
    report = {"data": args.data, "split": args.split, **evaluate(model, data.x, n_samples=args.samples, seed=args.seed, y=y)}
    units = active_units(model, data.x, y=y)
    report["active_units"] = units["count"]
    report["kl_per_dim"] = units["kl_per_dim"]
    if hasattr(model, "predict") and data.y is not None:
        from vaekit.data.labels import class_labels  # noqa: PLC0415
        from vaekit.evaluation import accuracy  # noqa: PLC0415

        report["accuracy"] = accuracy(model, data.x, class_labels(data.y, data.name, allow_missing=True))
    if data.factors is not None and model.latent_dim >= 2:
        import torch  # noqa: PLC0415

        from vaekit.disentanglement import mig  # noqa: PLC0415

        codes = model.embed(torch.from_numpy(data.x), y=y).numpy()
        report["mig"] = mig(codes, data.factors, factor_names=data.factor_names)["mig"]
    if args.iw_samples:
        report.update(evaluate_likelihood(model, data.x, k=args.iw_samples, seed=args.seed))
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


def cmd_interpolate(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415

    from vaekit.explore import interpolate  # noqa: PLC0415
    from vaekit.io import load  # noqa: PLC0415
    from vaekit.runs import load_data_for  # noqa: PLC0415

    out = _output_path(args.out, (".png", ".npy"), args.overwrite)
    _check_steps(args.steps)
    model = load(args.run_dir)
    data = load_data_for(args.run_dir, args.data, split=args.split, label_column=args.label_column)
    for flag, i in (("--from", args.from_index), ("--to", args.to_index)):
        _check_row(flag, i, len(data.x), args.data)
    x = torch.from_numpy(data.x)
    path = interpolate(model, x[args.from_index], x[args.to_index], args.steps, args.method).numpy()  # (steps, *shape)
    title = f"{args.method} interpolation, row {args.from_index} to row {args.to_index}"
    _write_walk(out, path, path[None], title, data.feature_names)
    _done(out, args)
    return 0


def cmd_traverse(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415

    from vaekit.explore import manifold, traverse  # noqa: PLC0415
    from vaekit.io import load  # noqa: PLC0415
    from vaekit.runs import load_data_for  # noqa: PLC0415

    out = _output_path(args.out, (".png", ".npy"), args.overwrite)
    steps = args.steps if args.steps is not None else (15 if args.manifold else 9)
    _check_steps(steps)
    if args.manifold and args.data is not None:
        raise DataError("--manifold decodes a grid over the whole 2-D prior; drop --data and --index")
    if args.index is not None and args.data is None:
        raise DataError("--index needs --data SPEC: the data set whose row fixes the other dimensions")
    model = load(args.run_dir)
    names = None
    if args.manifold:
        grid = manifold(model, steps).numpy()  # (steps, steps, *shape)
        title = "the 2-D latent manifold"
    else:
        base = None
        if args.data is not None:
            data = load_data_for(args.run_dir, args.data, split=args.split, label_column=args.label_column)
            index = args.index or 0
            _check_row("--index", index, len(data.x), args.data)
            base = model.embed(torch.from_numpy(data.x[index : index + 1]))[0]  # (Z,) posterior mean
            names = data.feature_names
        grid = traverse(model, steps, args.range, base).numpy()  # (Z, steps, *shape)
        title = f"traversals: row i sweeps z_i from -{args.range:g} to +{args.range:g}"
    _write_walk(out, grid, grid, title, names)
    _done(out, args)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from vaekit.report import regenerate_report  # noqa: PLC0415

    if args.out is not None and not args.out.endswith((".html", ".htm")):
        raise DataError(f"--out {args.out}: unsupported file type; use .html")
    out = regenerate_report(
        args.run_dir, data=args.data, split=args.split, label_column=args.label_column,
        latent_method=args.latent_method, out=args.out, overwrite=args.overwrite,
    )
    _done(out, args)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from vaekit.export import export_onnx  # noqa: PLC0415
    from vaekit.io import load  # noqa: PLC0415

    model = load(args.run_dir)
    export_onnx(model, args.out, overwrite=args.overwrite)
    _done(Path(args.out), args)
    return 0


# --------------------------------------------------------------------------- helpers


def _report_run(result, quiet: bool) -> None:
    val = result.summary.get("val") or result.summary.get("train")
    split = "validation" if "val" in result.summary else "training"
    if not quiet:
        print(f"{split} ELBO {val['elbo']:.3f} nats/sample (reconstruction {val['reconstruction']:.3f}, KL {val['kl']:.3f})")
        if result.run_dir is not None:
            files = ", ".join(sorted(p.name for p in result.run_dir.iterdir()))
            print(f"run folder {result.run_dir}: {files}")


def _output_path(out: str, suffixes: tuple[str, ...], overwrite: bool) -> Path:
    path = Path(out)
    if path.suffix.lower() not in suffixes:
        raise DataError(f"--out {out}: unsupported file type; use one of {', '.join(suffixes)}")
    if path.exists() and not overwrite:
        raise RunDirError(f"{out} already exists; pass --overwrite to replace it")
    if path.is_dir():
        raise RunDirError(f"{out} is a folder; give a file name")
    return path


def _write_npy(path: Path, array) -> None:
    import numpy as np  # noqa: PLC0415

    from vaekit.files import atomic_write  # noqa: PLC0415

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: np.save(f, array))


def _write_images_or_array(path: Path, array, model) -> None:
    if path.suffix == ".npy":
        _write_npy(path, array)
        return
    from vaekit import plots  # noqa: PLC0415

    path.parent.mkdir(parents=True, exist_ok=True)
    if len(model.input_shape) == 3:
        plots.save_image_grid(array, path)
    else:
        plots.plot_vectors(array, path, "samples from the prior")


def _check_steps(steps: int) -> None:
    if steps < 2:
        raise DataError(f"--steps must be at least 2, got {steps}")


def _check_row(flag: str, index: int, n: int, spec: str) -> None:
    if not 0 <= index < n:
        raise DataError(f"{flag} {index} is out of range: {spec} has {n} rows, numbered 0 to {n - 1}")


def _write_walk(out: Path, array, grid, title: str, feature_names) -> None:
    """``array`` as .npy, or ``grid`` (rows, cols, *shape) as a picture."""
    if out.suffix == ".npy":
        _write_npy(out, array)
        return
    from vaekit import plots  # noqa: PLC0415

    out.parent.mkdir(parents=True, exist_ok=True)
    plots.save_latent_grid(grid, out, title, feature_names)


def _done(out: Path, args: argparse.Namespace) -> None:
    if not getattr(args, "quiet", False):
        print(f"wrote {out}", file=sys.stderr)


def _config_keys() -> list[str]:
    return [f.name for klass in SECTIONS.values() for f in dataclasses.fields(klass) if f.name != "input_shape"]


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per config field, named after it (``latent_dim`` -> ``--latent-dim``)."""
    for section, klass in SECTIONS.items():
        group = parser.add_argument_group(f"{section} settings (also keys of --config)")
        docs = field_docs(klass)
        hints = typing.get_type_hints(klass)
        for f in dataclasses.fields(klass):
            if f.name == "input_shape":
                continue
            flag = "--" + f.name.replace("_", "-")
            default = f.default if f.default is not dataclasses.MISSING else None
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
            help_text = f"{docs.get(f.name, '')} (default: {shown})".replace("%", "%%")
            if hints[f.name] is bool:
                group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
            else:
                # Strings are converted by the config layer, so CLI, YAML and Python share one set of rules.
                group.add_argument(flag, dest=f.name, default=None, metavar=f.name.upper(), help=help_text)


def _add_data_flags(parser: argparse.ArgumentParser, required: bool = True, extra_help: str = "") -> None:
    parser.add_argument(
        "--data", required=required, help=f"data spec: digits, mnist, mnist:PATH, or a file or image folder{extra_help}"
    )
    parser.add_argument("--split", default="train", choices=("train", "test"), help="split of datasets that have one")
    parser.add_argument("--label-column", default=None, help="table column holding labels (default: the run's)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vaekit",
        description="Train, sample, reconstruct, encode, evaluate, explore and export variational autoencoders.",
        epilog="Start with: vaekit demo   (trains on the built-in 8x8 digits and writes runs/demo)",
    )
    parser.add_argument("--version", action="version", version=f"vaekit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = command("demo", cmd_demo, "train a conv VAE on the built-in 8x8 digits and write samples, plots and metrics")
    p.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo)")
    p.add_argument("--epochs", type=int, default=None, help="override the demo's epochs")
    _add_run_flags(p)

    p = command("train", cmd_train, "train a model and write its run folder")
    p.add_argument("--out", required=True, help="run folder to create")
    p.add_argument("--config", default=None, help="YAML or JSON file with config keys (flags override it)")
    p.add_argument(
        "--preset", default=None,
        help=f"named settings applied under --config and flags: {', '.join(PRESETS)}",
    )
    _add_run_flags(p)
    p.add_argument(
        "--tensorboard", action="store_true",
        help="also log metrics and sample grids to OUT/tensorboard (pip install 'vaekit[tensorboard]')",
    )
    _add_config_flags(p)

    p = command("sample", cmd_sample, "decode draws from the prior into a PNG grid or a .npy array")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("-n", type=int, default=64, help="number of samples (default: 64)")
    p.add_argument("--temperature", type=float, default=1.0, help="scale of the prior's std (default: 1)")
    p.add_argument("--label", type=int, default=None, metavar="K", help="cvae, m2: sample class K")
    p.add_argument(
        "--by-class", action="store_true", help="cvae, m2: a grid with one row of N samples per class, same latents per column"
    )
    _add_output_flags(p, ".png or .npy")

    p = command("reconstruct", cmd_reconstruct, "reconstruct data: PNG grid (inputs above outputs) or .npy")
    p.add_argument("run_dir", metavar="RUN_DIR")
    _add_data_flags(p)
    p.add_argument("-n", type=int, default=32, help="reconstruct the first N rows (0 = all; default: 32)")
    _add_output_flags(p, ".png or .npy")

    p = command("encode", cmd_encode, "write latent codes (posterior means, or samples with --sample)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    _add_data_flags(p)
    p.add_argument("--sample", action="store_true", help="draw z ~ q(z|x) instead of the posterior mean")
    _add_output_flags(p, ".npy, .csv or .parquet")

    p = command("classify", cmd_classify, "m2: predict the class of each row (CSV with probabilities, or .npy)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    _add_data_flags(p)
    _add_output_flags(p, ".csv or .npy")

    p = command(
        "evaluate", cmd_evaluate,
        "ELBO, reconstruction and KL per sample, averaged over the data (m2: accuracy; sprites: MIG)",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    _add_data_flags(p)
    p.add_argument("--samples", type=int, default=1, help="posterior draws per row for the ELBO (default: 1)")
    p.add_argument(
        "--iw-samples", type=int, default=0, metavar="K",
        help="also estimate log p(x) with K importance samples (Burda et al. 2015; 1000 is usual; default: off)",
    )
    p.add_argument("--seed", type=_seed, default=0, help="seed of the posterior draws (default: 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = command("interpolate", cmd_interpolate, "decode a path in latent space between the codes of two data rows")
    p.add_argument("run_dir", metavar="RUN_DIR")
    _add_data_flags(p)
    p.add_argument("--from", dest="from_index", type=int, required=True, metavar="I", help="row where the path starts")
    p.add_argument("--to", dest="to_index", type=int, required=True, metavar="J", help="row where the path ends")
    p.add_argument("--steps", type=int, default=8, help="points on the path, both ends included (default: 8)")
    p.add_argument(
        "--method", choices=("linear", "slerp"), default="linear",
        help="straight line, or slerp: along the sphere, where a Gaussian prior keeps its mass (default: linear)",
    )
    _add_output_flags(p, ".png or .npy")

    p = command("traverse", cmd_traverse, "decode each latent dimension swept across the prior (or the 2-D manifold)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--steps", type=int, default=None, help="values per dimension (default: 9; 15 with --manifold)")
    p.add_argument(
        "--range", type=float, default=3.0, help="sweep from -RANGE to +RANGE prior standard deviations (default: 3)"
    )
    p.add_argument(
        "--manifold", action="store_true",
        help="2-D latent spaces: decode a grid over both dimensions, spaced by the Gaussian inverse CDF",
    )
    _add_data_flags(p, required=False, extra_help="; with --index, the other dimensions stay at that row's code")
    p.add_argument("--index", type=int, default=None, help="row of --data to start from (default: 0)")
    _add_output_flags(p, ".png or .npy")

    p = command("report", cmd_report, "write report.html: numbers, curves, samples, latent space, config on one page")
    p.add_argument("run_dir", metavar="RUN_DIR")
    _add_data_flags(p, required=False, extra_help=" (default: the run's own, showing its validation rows)")
    p.add_argument(
        "--latent-method", choices=("tsne", "pca"), default="tsne",
        help="projection of latent spaces with more than 2 dimensions (default: tsne)",
    )
    p.add_argument("--out", default=None, help="HTML file to write (default: RUN_DIR/report.html)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists (RUN_DIR/report.html is always regenerated)")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")

    p = command("export", cmd_export, "export the encoder and decoder as ONNX graphs (sampling stays outside)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="export format (default: onnx)")
    p.add_argument("--out", required=True, help="folder for encoder.onnx, decoder.onnx and model.json")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export in --out")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")

    cli_detect.add_parser(
        sub, command, lambda q: q.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    )
    return parser


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resume", choices=("auto",), default=None, help="continue from the newest checkpoint in --out")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no per-epoch lines")


def _add_output_flags(p: argparse.ArgumentParser, kinds: str) -> None:
    p.add_argument("--out", required=True, help=f"output file: {kinds}")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    if not any(a.dest == "seed" for a in p._actions):
        p.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")


@contextlib.contextmanager
def _one_line_warnings():
    """Show warnings as ``warning: ...`` lines, without source paths, for one command."""
    import warnings  # noqa: PLC0415

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"warning: {message}", file=file or sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: return, don't exit
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        with _one_line_warnings():
            return args.func(args)
    except VaekitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted; continue a training run with --resume auto", file=sys.stderr)
        return 130
    except OSError as exc:  # disk full, permissions: not a bug in vaekit, so no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
