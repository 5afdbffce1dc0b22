"""The run folder: its file names, its lock, and the files that hold a run's numbers.

Training writes a run folder (:mod:`vaekit.runs`), the report reads it back
(:mod:`vaekit.report`); both go through this module, so a file name or the
format of ``metrics.csv`` is decided in one place.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from vaekit.errors import ModelFileError, RunDirError
from vaekit.files import TMP_PREFIX, atomic_write
from vaekit.io import CONFIG_FILE
from vaekit.training.checkpoint import checkpoint_paths

CHECKPOINT_DIR = "checkpoints"
LOCK_FILE = ".lock"
LABELLED_FILE = "labelled_rows.json"
METRICS_FILE = "metrics.csv"
SUMMARY_FILE = "summary.json"

#: What a run writes before its first checkpoint: a folder holding only these
#: was killed at start-up and --resume auto starts it afresh.
_START_UP_FILES = {LOCK_FILE, CONFIG_FILE}


# --------------------------------------------------------------------------- the folder


@contextlib.contextmanager
def run_lock(run_dir: Path):
    """Hold an exclusive lock on ``run_dir`` so two runs never write into it at once.

    ``flock`` locks die with their process, so a run killed with -9 leaves no
    stale lock behind.
    """
    try:
        import fcntl  # noqa: PLC0415 - POSIX only
    except ImportError:  # pragma: no cover - Windows: no locking
        yield
        return
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunDirError(
                f"run folder {run_dir} is in use by another vaekit process (pid {owner}); "
                "wait for it to finish or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def clear_run_dir(run_dir: Path) -> None:
    """Remove a previous run's files (for --overwrite), keeping the lock we hold."""
    for path in run_dir.iterdir():
        if path.name == LOCK_FILE:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def check_run_dir(run_dir: Path, resume: str | None, overwrite: bool) -> bool:
    """True when the run should resume from checkpoints in ``run_dir``; an error when it may not be written."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"{run_dir} is a file, not a run folder; choose another --out")
    if not run_dir.is_dir():
        return False
    has_checkpoints = bool(checkpoint_paths(run_dir / CHECKPOINT_DIR))
    if resume == "auto" and has_checkpoints:
        return True
    # Temp files are a killed writer's leftovers (swept once the lock is held).
    leftovers = {p.name for p in run_dir.iterdir() if not p.name.startswith(TMP_PREFIX)} - {CHECKPOINT_DIR}
    killed_at_start = resume == "auto" and leftovers <= _START_UP_FILES
    if leftovers - {LOCK_FILE} and not overwrite and not killed_at_start:
        raise RunDirError(
            f"run folder {run_dir} already exists; pass --overwrite to replace it"
            + (" or --resume auto to continue it" if has_checkpoints else "")
        )
    return False


# --------------------------------------------------------------------------- metrics.csv


def write_metrics(path: str | Path, history: list[dict[str, float]]) -> Path:
    """One row per epoch; columns are the union of the history's keys."""
    columns: list[str] = []
    for row in history:
        columns += [k for k in row if k not in columns]

    def write(f) -> None:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in history:
            writer.writerow({k: _fmt(row.get(k)) for k in columns})

    return atomic_write(path, write, mode="w")


def _fmt(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
        return f"{value:.6g}"
    return value


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """``metrics.csv`` back as one dict per epoch, numbers as floats (empty cells left out)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            row: dict[str, Any] = {}
            for key, text in raw.items():
                if text in ("", None):
                    continue
                try:
                    row[key] = float(text)
                except ValueError:
                    row[key] = text  # e.g. True/False flags
            rows.append(row)
    return rows


# --------------------------------------------------------------------------- summary.json


def write_summary(run_dir: Path, summary: dict[str, Any]) -> Path:
    """``summary.json``, indented for people to read."""
    return atomic_write(run_dir / SUMMARY_FILE, lambda f: json.dump(summary, f, indent=2), mode="w")


def read_summary(run_dir: Path) -> dict[str, Any]:
    """``summary.json`` of ``run_dir``; empty when the run has none."""
    path = run_dir / SUMMARY_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ModelFileError(f"{path} is not valid JSON ({str(exc)[:80]}); the run folder is damaged") from None
