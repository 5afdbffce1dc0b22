"""Atomic checkpoints: a killed save never replaces a good checkpoint with a bad one.

A checkpoint is written to a temporary file in the same folder, flushed and
fsynced, then moved over its final name with ``os.replace`` (atomic on POSIX),
and the folder itself is fsynced so the rename survives a power cut. Loading
uses ``torch.load(weights_only=True)``: no pickled code ever runs.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from vaekit.errors import ModelFileError
from vaekit.files import TMP_PREFIX, atomic_write

_NAME = re.compile(r"^step-(\d{9})\.pt$")


def sweep_temp_files(folder: str | Path) -> int:
    """Delete temporary files left by a save that was killed; returns how many."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    stale = list(folder.glob(f"{TMP_PREFIX}*"))
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def checkpoint_paths(folder: str | Path) -> list[Path]:
    """Checkpoints in ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(folder: str | Path, state: dict[str, Any], step: int, keep: int = 2) -> Path:
    """Write ``state`` as ``step-<step>.pt`` atomically and keep the ``keep`` newest."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # Serialise in memory first: torch's zip writer reports a failed write as a
    # RuntimeError, a plain file write reports it as the OSError it is.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path = atomic_write(folder / f"step-{step:09d}.pt", lambda f: f.write(buffer.getbuffer()))
    for old in checkpoint_paths(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load one checkpoint safely (tensors and plain containers only)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means the file is unusable
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"cannot read checkpoint {path}: {reason[:200]}") from None
    if not isinstance(state, dict) or "model" not in state:
        raise ModelFileError(f"{path} is not a vaekit checkpoint")
    return state


def load_latest_checkpoint(folder: str | Path) -> tuple[dict[str, Any], Path] | None:
    """The newest readable checkpoint in ``folder``, skipping (with a warning) unreadable ones."""
    sweep_temp_files(folder)
    for path in reversed(checkpoint_paths(folder)):
        try:
            return read_checkpoint(path), path
        except ModelFileError as exc:
            warnings.warn(f"skipping unreadable checkpoint: {exc}", stacklevel=2)
    return None
