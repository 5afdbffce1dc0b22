"""``vaekit sample``, ``reconstruct``, ``interpolate`` and ``traverse``: decode pictures or arrays from a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaekit.cli.common import SAMPLERS, AddCommand, add_data_flags, add_output_flags, done, output_path, write_npy
from vaekit.errors import DataError

# torch, the model and the pictures are imported inside the commands: `vaekit --help` must not load them.


def cmd_sample(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415 - loaded when the command runs, so --help stays fast

    from vaekit.io import load  # noqa: PLC0415 - imports torch: loaded when the command runs

    out = output_path(args.out, (".png", ".npy"), args.overwrite)
    if args.n <= 0:
        raise DataError(f"-n must be a positive number of samples, got {args.n}")
    if not 0 <= args.temperature < float("inf"):  # NaN fails too
        raise DataError(f"--temperature must be a finite number >= 0, got {args.temperature}")
    model = load(args.run_dir)
    g = torch.Generator().manual_seed(args.seed)
    if args.sampler != "prior" and (args.label is not None or args.by_class):
        raise DataError("--sampler draws the codes of unconditional models; drop it with --label or --by-class")
    if args.label is None and not args.by_class:
        samples = model.sample(args.n, temperature=args.temperature, generator=g, sampler=args.sampler).numpy()
        _write_images_or_array(out, samples, model)
        done(out, args)
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
        z = model.prior.sample(args.n, generator=g, temperature=args.temperature)  # (n, Z), from the model's prior
        with torch.no_grad():
            samples = model.decode(z.repeat(classes, 1), labels).mean.numpy()  # (K * n, *shape)
    else:
        samples = model.sample(n, temperature=args.temperature, generator=g, y=labels).numpy()
    if out.suffix == ".png" and len(model.input_shape) == 3:
        from vaekit import images  # noqa: PLC0415 - PIL: loaded when a picture is written

        out.parent.mkdir(parents=True, exist_ok=True)
        images.save_image_grid(samples, out, nrow=args.n if args.by_class else None)
    else:
        _write_images_or_array(out, samples, model)
    done(out, args)
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415 - loaded when the command runs, so --help stays fast

    from vaekit.io import load  # noqa: PLC0415 - imports torch: loaded when the command runs
    from vaekit.runs import labels_for_model, load_data_for  # noqa: PLC0415 - imports torch, as above

    out = output_path(args.out, (".png", ".npy"), args.overwrite)
    model = load(args.run_dir)
    data = load_data_for(args.run_dir, args.data, split=args.split, label_column=args.label_column)
    x = torch.from_numpy(data.x[: args.n] if args.n else data.x)
    y = labels_for_model(model, data)
    recon = model.reconstruct(x, y=None if y is None else y[: len(x)]).numpy()
    if out.suffix == ".npy":
        write_npy(out, recon)
    elif data.is_image:
        from vaekit import images  # noqa: PLC0415 - PIL: loaded when a picture is written

        images.save_reconstruction_grid(x.numpy(), recon, out)
    else:
        from vaekit import plots  # noqa: PLC0415 - matplotlib: loaded only when plotting

        plots.plot_vectors(x.numpy(), out, "inputs | reconstructions", data.feature_names, compare=recon)
    done(out, args)
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415 - loaded when the command runs, so --help stays fast

    from vaekit.explore import interpolate  # noqa: PLC0415 - imports torch: loaded when the command runs
    from vaekit.io import load  # noqa: PLC0415 - imports torch, as above
    from vaekit.runs import load_data_for  # noqa: PLC0415 - imports torch, as above

    out = output_path(args.out, (".png", ".npy"), args.overwrite)
    _check_steps(args.steps)
    model = load(args.run_dir)
    data = load_data_for(args.run_dir, args.data, split=args.split, label_column=args.label_column)
    for flag, i in (("--from", args.from_index), ("--to", args.to_index)):
        _check_row(flag, i, len(data.x), args.data)
    x = torch.from_numpy(data.x)
    path = interpolate(model, x[args.from_index], x[args.to_index], args.steps, args.method).numpy()  # (steps, *shape)
    title = f"{args.method} interpolation, row {args.from_index} to row {args.to_index}"
    _write_walk(out, path, path[None], title, data.feature_names)
    done(out, args)
    return 0


def cmd_traverse(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415 - loaded when the command runs, so --help stays fast

    from vaekit.explore import manifold, most_informative, traverse  # noqa: PLC0415 - imports torch: loaded when the command runs
    from vaekit.io import load  # noqa: PLC0415 - imports torch, as above
    from vaekit.run_dir import read_summary  # noqa: PLC0415 - imports torch, as above
    from vaekit.runs import load_data_for  # noqa: PLC0415 - imports torch, as above

    out = output_path(args.out, (".png", ".npy"), args.overwrite)
    steps = args.steps if args.steps is not None else (15 if args.manifold else 9)
    _check_steps(steps)
    if args.manifold and args.data is not None:
        raise DataError("--manifold decodes a grid over the whole 2-D prior; drop --data and --index")
    if args.index is not None and args.data is None:
        raise DataError("--index needs --data SPEC: the data set whose row fixes the other dimensions")
    if args.manifold and args.dims is not None:
        raise DataError("--manifold decodes both dimensions of a 2-D latent space; drop --dims")
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
        # More dimensions than a picture can show: the run's most informative ones (summary.json's KL).
        dims = args.dims or most_informative(read_summary(Path(args.run_dir)).get("kl_per_dim"), model.latent_dim)
        grid = traverse(model, steps, args.range, base, dims).numpy()  # (R, steps, *shape)
        rows = "row i sweeps z_i" if dims == list(range(model.latent_dim)) else f"rows sweep z_{{{','.join(map(str, dims))}}}"
        title = f"traversals: {rows} from -{args.range:g} to +{args.range:g}"
    _write_walk(out, grid, grid, title, names)
    done(out, args)
    return 0


# --------------------------------------------------------------------------- helpers


def _dims(text: str) -> list[int]:
    try:
        dims = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected latent dimensions like 0,3,5, got {text!r}") from None
    if any(d < 0 for d in dims):
        raise argparse.ArgumentTypeError(f"latent dimensions are counted from 0, got {text!r}")
    return dims


def _write_images_or_array(path: Path, array, model) -> None:
    if path.suffix == ".npy":
        write_npy(path, array)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(model.input_shape) == 3:
        from vaekit import images  # noqa: PLC0415 - PIL: loaded when a picture is written

        images.save_image_grid(array, path)
    else:
        from vaekit import plots  # noqa: PLC0415 - matplotlib: loaded only when plotting

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
        write_npy(out, array)
        return
    from vaekit import plots  # noqa: PLC0415 - matplotlib: loaded only when plotting

    out.parent.mkdir(parents=True, exist_ok=True)
    plots.save_latent_grid(grid, out, title, feature_names)


# --------------------------------------------------------------------------- flags


def add_sample(command: AddCommand) -> None:
    p = command("sample", cmd_sample, "decode draws from the prior (or a fitted sampler) into a PNG grid or a .npy array")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("-n", type=int, default=64, help="number of samples (default: 64)")
    p.add_argument("--temperature", type=float, default=1.0, help="scale of the prior's (or sampler's) std (default: 1)")
    p.add_argument(
        "--sampler", choices=SAMPLERS, default="prior",
        help="where the codes come from: the prior, or a density fitted to the training codes "
        "(gmm: fitted at the end of training when the data has enough rows; else vaekit fit-sampler) (default: prior)",
    )
    p.add_argument("--label", type=int, default=None, metavar="K", help="cvae, m2: sample class K")
    p.add_argument(
        "--by-class", action="store_true", help="cvae, m2: a grid with one row of N samples per class, same latents per column"
    )
    add_output_flags(p, ".png or .npy")


def add_reconstruct(command: AddCommand) -> None:
    p = command("reconstruct", cmd_reconstruct, "reconstruct data: PNG grid (inputs above outputs) or .npy")
    p.add_argument("run_dir", metavar="RUN_DIR")
    add_data_flags(p)
    p.add_argument("-n", type=int, default=32, help="reconstruct the first N rows (0 = all; default: 32)")
    add_output_flags(p, ".png or .npy")


def add_interpolate(command: AddCommand) -> None:
    p = command("interpolate", cmd_interpolate, "decode a path in latent space between the codes of two data rows")
    p.add_argument("run_dir", metavar="RUN_DIR")
    add_data_flags(p)
    p.add_argument("--from", dest="from_index", type=int, required=True, metavar="I", help="row where the path starts")
    p.add_argument("--to", dest="to_index", type=int, required=True, metavar="J", help="row where the path ends")
    p.add_argument("--steps", type=int, default=8, help="points on the path, both ends included (default: 8)")
    p.add_argument(
        "--method", choices=("linear", "slerp"), default="linear",
        help="straight line, or slerp: along the sphere, where a Gaussian prior keeps its mass (default: linear)",
    )
    add_output_flags(p, ".png or .npy")


def add_traverse(command: AddCommand) -> None:
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
    add_data_flags(p, required=False, extra_help="; with --index, the other dimensions stay at that row's code")
    p.add_argument("--index", type=int, default=None, help="row of --data to start from (default: 0)")
    p.add_argument(
        "--dims", type=_dims, default=None, metavar="I,J,...",
        help="latent dimensions to sweep, one row each (default: all, or the 32 with the most KL in the run's summary)",
    )
    add_output_flags(p, ".png or .npy")
