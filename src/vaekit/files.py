"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Bytes go to a temporary file in the target's folder (so the rename stays on
one filesystem), are flushed and fsynced, then ``os.replace`` moves them over
the target (atomic on POSIX and Windows) and the folder is fsynced so the
rename itself survives a power cut. A failure removes the temporary file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

TMP_PREFIX = ".tmp-"


def atomic_write(path: str | Path, write: Callable[[IO[Any]], object], mode: str = "wb") -> Path:
    """Write ``path`` through ``write(fileobj)`` atomically: all of it or none of it."""

    def write_to(tmp: str) -> None:
        with open(tmp, mode) as f:
            write(f)

    return atomic_write_via_path(path, write_to)


def atomic_write_via_path(path: str | Path, write_to: Callable[[str], object]) -> Path:
    """Like :func:`atomic_write` for writers that want a file name (pandas, numpy)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=path.suffix, dir=path.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); give it the permissions open() would.
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        write_to(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())  # the rename must not land before the bytes do
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def fsync_dir(folder: str | Path) -> None:
    """Make a rename in ``folder`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
