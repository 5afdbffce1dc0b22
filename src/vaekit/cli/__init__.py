"""The ``vaekit`` command line: thin subcommands over the Python API.

Each subcommand is a plain function of parsed arguments, in the module of its
group: :mod:`~vaekit.cli.train` (demo, train), :mod:`~vaekit.cli.generate`
(sample, reconstruct, interpolate, traverse), :mod:`~vaekit.cli.measure`
(encode, classify, evaluate), :mod:`~vaekit.cli.share` (report, export) and
:mod:`~vaekit.cli.detect` (detect fit, score, evaluate). Torch is imported
only inside them, so ``vaekit --help`` answers at once. Problems a user can
fix are one ``error: ...`` line on stderr and exit code 2, and leave every
existing file untouched.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from typing import Sequence

from vaekit import __version__
from vaekit.cli import detect, generate, measure, quality, share, train
from vaekit.cli.common import EXIT_USAGE, Parser
from vaekit.errors import VaekitError

__all__ = ["EXIT_USAGE", "build_parser", "main"]

#: Every subcommand, in the order ``vaekit --help`` lists them.
_COMMANDS = (
    train.add_demo,
    train.add_train,
    generate.add_sample,
    quality.add_fit_sampler,
    generate.add_reconstruct,
    measure.add_encode,
    measure.add_classify,
    measure.add_evaluate,
    quality.add_train_classifier,
    generate.add_interpolate,
    generate.add_traverse,
    share.add_report,
    share.add_export,
    detect.add_detect,
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="vaekit",
        description="Train, sample, reconstruct, encode, evaluate, explore and export variational autoencoders.",
        epilog="Start with: vaekit demo   (trains on the built-in 8x8 digits and writes runs/demo)",
    )
    parser.add_argument("--version", action="version", version=f"vaekit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    def command(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    for add in _COMMANDS:
        add(command)
    return parser


@contextlib.contextmanager
def _one_line_warnings():
    """Show warnings as ``warning: ...`` lines, without source paths, for one command."""

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
