"""Peak memory of training on data larger than memory: a 1 GB and an 8 GB .npy file.

Writes each float32 array (rows of 1,024 features, uniform in [0, 1)) into a
temporary folder, trains one epoch of a small MLP VAE on it with
``python -m vaekit train`` in a child process, reads the child's peak
resident memory (``ru_maxrss`` from ``wait4``) and deletes the file. The
claim: streamed data (``--loading auto`` streams files over 512 MB) trains
in memory that does not grow with the file: both peaks within 20% of each
other and below 2 GB.

    .venv/bin/python benchmarks/memory.py                       # 1 and 8 GB: ~9 GB of disk
    .venv/bin/python benchmarks/memory.py --sizes 0.25 1 --loading stream   # a quick check
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FEATURES = 1024
CHUNK_ROWS = 16_384  # 64 MB written at a time: the generator itself stays small
TARGET_GB, TARGET_SPREAD = 2.0, 0.20


def write_npy(path: Path, gigabytes: float, seed: int = 0) -> int:
    """A float32 (N, FEATURES) .npy file of about ``gigabytes``, written chunk by chunk; returns N."""
    rows = int(gigabytes * 2**30) // (4 * FEATURES)
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_2_0(f, {"descr": "<f4", "fortran_order": False, "shape": (rows, FEATURES)})
        for start in range(0, rows, CHUNK_ROWS):
            f.write(rng.random((min(CHUNK_ROWS, rows - start), FEATURES), dtype=np.float32).tobytes())
    return rows


def train_child(data: Path, out: Path, args: argparse.Namespace) -> tuple[float, float, int]:
    """Train one epoch in a child process; returns (peak resident GB, seconds, exit status)."""
    command = [
        sys.executable, "-m", "vaekit", "train", "--data", str(data), "--out", str(out), "--quiet",
        "--epochs", "1", "--arch", "mlp", "--hidden-dims", "64", "--latent-dim", "8",
        "--batch-size", str(args.batch_size), "--val-fraction", "0.01", "--device", "cpu",
        "--loading", args.loading, "--num-threads", str(args.threads),
    ]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not the sum of all children
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        print(err, file=sys.stderr)
    return usage.ru_maxrss * 1024 / 2**30, seconds, proc.returncode  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1.0, 8.0], help="file sizes in GB")
    parser.add_argument("--loading", default="auto", choices=("auto", "stream", "memory"))
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tmp", default=None, help="folder for the temporary files (default: the system's)")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp, prefix="vaekit-memory-") as tmp:
        for size in args.sizes:
            data = Path(tmp) / f"data-{size:g}gb.npy"
            started = time.perf_counter()
            n = write_npy(data, size)
            written = time.perf_counter() - started
            peak, seconds, code = train_child(data, Path(tmp) / f"run-{size:g}", args)
            rows.append((size, n, peak, seconds, written, code))
            data.unlink()
            shutil.rmtree(Path(tmp) / f"run-{size:g}", ignore_errors=True)
            print(f"{size:g} GB: peak {peak:.2f} GB resident, {seconds:.0f} s (written in {written:.0f} s)", flush=True)

    print()
    print(f"Peak resident memory of one training epoch (MLP {FEATURES}-64-8, batch {args.batch_size}, "
          f"--loading {args.loading}), {platform.machine()}, {args.threads} threads")
    print()
    print("| file | rows | peak resident memory | epoch + start-up | exit |")
    print("|---|---|---|---|---|")
    for size, n, peak, seconds, _, code in rows:
        print(f"| {size:g} GB float32 .npy | {n:,} | {peak:.2f} GB | {seconds:.0f} s | {code} |")
    peaks = [peak for _, _, peak, *_ in rows]
    spread = (max(peaks) - min(peaks)) / min(peaks)
    met = spread <= TARGET_SPREAD and max(peaks) < TARGET_GB and all(r[-1] == 0 for r in rows)
    print()
    print(f"spread of the peaks {spread:.0%} (target <= {TARGET_SPREAD:.0%}), largest {max(peaks):.2f} GB "
          f"(target < {TARGET_GB:g} GB): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
