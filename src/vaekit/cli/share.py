"""``vaekit report`` and ``vaekit export``: a run as a page to read, or as graphs to deploy."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaekit.cli.common import AddCommand, add_data_flags, done
from vaekit.errors import DataError


def cmd_report(args: argparse.Namespace) -> int:
    from vaekit.runs import regenerate_report  # noqa: PLC0415 - imports torch: loaded when the command runs

    if args.out is not None and not args.out.endswith((".html", ".htm")):
        raise DataError(f"--out {args.out}: unsupported file type; use .html")
    out = regenerate_report(
        args.run_dir, data=args.data, split=args.split, label_column=args.label_column,
        latent_method=args.latent_method, out=args.out, overwrite=args.overwrite,
    )
    done(out, args)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from vaekit.export import export_onnx  # noqa: PLC0415 - imports torch: loaded when the command runs
    from vaekit.io import load  # noqa: PLC0415 - imports torch, as above

    model = load(args.run_dir)
    export_onnx(model, args.out, overwrite=args.overwrite)
    done(Path(args.out), args)
    return 0


# --------------------------------------------------------------------------- flags


def add_report(command: AddCommand) -> None:
    p = command("report", cmd_report, "write report.html: numbers, curves, samples, latent space, config on one page")
    p.add_argument("run_dir", metavar="RUN_DIR")
    add_data_flags(p, required=False, extra_help=" (default: the run's own, showing its validation rows)")
    p.add_argument(
        "--latent-method", choices=("tsne", "pca"), default="tsne",
        help="projection of latent spaces with more than 2 dimensions (default: tsne)",
    )
    p.add_argument("--out", default=None, help="HTML file to write (default: RUN_DIR/report.html)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists (RUN_DIR/report.html is always regenerated)")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")


def add_export(command: AddCommand) -> None:
    p = command("export", cmd_export, "export the encoder and decoder as ONNX graphs (sampling stays outside)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="export format (default: onnx)")
    p.add_argument("--out", required=True, help="folder for encoder.onnx, decoder.onnx and model.json")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export in --out")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
