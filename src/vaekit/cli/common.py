"""What every ``vaekit`` subcommand shares: the parser, common flags, output checks, writers.

Problems a user can fix are one ``error: ...`` line on stderr and exit code
2, and leave every existing file untouched: output paths are checked with
:func:`output_path` before anything is computed.
"""

from __future__ import annotations

import argparse
import sys
import typing
from pathlib import Path

import numpy as np

from vaekit.config import MAX_SEED
from vaekit.errors import DataError, RunDirError
from vaekit.files import atomic_write

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake as one line, like every other error."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see: {self.prog} --help)\n")


#: ``command(name, func, help_text)``: registers a subcommand and returns its parser.
AddCommand = typing.Callable[[str, typing.Any, str], argparse.ArgumentParser]


# --------------------------------------------------------------------------- flags


def seed(text: str) -> int:
    """argparse type for --seed: an integer in [0, 2**32)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: expected an integer") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"invalid seed {text[:30]!r}: must be in [0, {MAX_SEED}]")
    return value


def add_seed_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=seed, default=0, help="random seed (default: 0)")


#: Where sampled codes come from (vaekit.samplers.SAMPLER_NAMES, which a test holds equal): written
#: out here because importing vaekit.samplers loads torch, and `vaekit --help` must not.
SAMPLERS = ("prior", "gmm", "two-stage")
FITTED_SAMPLERS = SAMPLERS[1:]


def add_data_flags(parser: argparse.ArgumentParser, required: bool = True, extra_help: str = "") -> None:
    parser.add_argument(
        "--data", required=required, help=f"data spec: digits, sprites, photo-patches, mnist, mnist:PATH, or a file or image folder{extra_help}"
    )
    parser.add_argument("--split", default="train", choices=("train", "test"), help="split of datasets that have one")
    parser.add_argument("--label-column", default=None, help="table column holding labels (default: the run's)")


def add_output_flags(p: argparse.ArgumentParser, kinds: str) -> None:
    p.add_argument("--out", required=True, help=f"output file: {kinds}")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    if not any(a.dest == "seed" for a in p._actions):
        add_seed_flag(p)


# --------------------------------------------------------------------------- outputs


def output_path(out: str, suffixes: tuple[str, ...], overwrite: bool) -> Path:
    """``--out`` as a path, checked before any work: a known file type, not a folder, new unless ``overwrite``."""
    path = Path(out)
    if path.suffix.lower() not in suffixes:
        raise DataError(f"--out {out}: unsupported file type; use one of {', '.join(suffixes)}")
    if path.exists() and not overwrite:
        raise RunDirError(f"{out} already exists; pass --overwrite to replace it")
    if path.is_dir():
        raise RunDirError(f"{out} is a folder; give a file name")
    return path


def write_npy(path: Path, array) -> None:
    """``array`` as a .npy file, atomically, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: np.save(f, array))


def done(out: Path, args: argparse.Namespace) -> None:
    """The one success line, on stderr, unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(f"wrote {out}", file=sys.stderr)
