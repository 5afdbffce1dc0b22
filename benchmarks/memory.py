"""Peak memory that must not grow: with the data file, the images evaluated, the epochs trained.

Every row runs one ``python -m vaekit`` command in a child process and reads
the child's peak resident memory (``ru_maxrss`` from ``wait4``). Three
claims, each a set of rows whose peaks must lie within 20% of each other:

- ``--sizes``: one training epoch of a small MLP VAE on float32 .npy files
  of 1 and 8 GB (rows of 1,024 features, uniform in [0, 1)), written to a
  temporary folder and deleted after. Streamed data (``--loading auto``
  streams files over 512 MB) trains in memory that does not grow with the
  file: also below 2 GB.
- ``--evaluate-images``: ``vaekit evaluate --iw-samples K`` of a saved
  MNIST-shaped MLP VAE (784-128-16, dynamic binarization, untrained weights)
  on 1,000 and 10,000 digit-like 28x28 images (scikit-learn's 8x8 digits,
  scaled up, in a .npy): the IW estimate keeps no per-batch state.
- ``--train-epochs``: ``vaekit train`` of the same MLP on 5,000 of those
  images (batch 128) for 5 and for 50 epochs.

    .venv/bin/python benchmarks/memory.py                       # 1 and 8 GB: ~9 GB of disk
    .venv/bin/python benchmarks/memory.py --sizes 0.25 1 --loading stream   # a quick check
    .venv/bin/python benchmarks/memory.py --evaluate-images 1000 10000 --iw-samples 1000 --train-epochs 5 50

Without ``--sizes``, ``--evaluate-images`` or ``--train-epochs`` it runs the
sizes 1 and 8 GB; given any of them, it runs those only.
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
DEFAULT_SIZES = [1.0, 8.0]
EVAL_HIDDEN, EVAL_LATENT = 128, 16
TRAIN_IMAGES, TRAIN_BATCH = 5000, 128


def write_npy(path: Path, gigabytes: float, seed: int = 0) -> int:
    """A float32 (N, FEATURES) .npy file of about ``gigabytes``, written chunk by chunk; returns N."""
    rows = int(gigabytes * 2**30) // (4 * FEATURES)
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_2_0(f, {"descr": "<f4", "fortran_order": False, "shape": (rows, FEATURES)})
        for start in range(0, rows, CHUNK_ROWS):
            f.write(rng.random((min(CHUNK_ROWS, rows - start), FEATURES), dtype=np.float32).tobytes())
    return rows


def write_digits(path: Path, n: int) -> None:
    """``n`` digit-like float32 images (n, 1, 28, 28) in [0, 1]: scikit-learn's 8x8 digits scaled 3x, padded by 2."""
    from sklearn.datasets import load_digits  # noqa: PLC0415 - only the evaluate and epochs rows need it

    digits = load_digits().images / 16.0  # (1797, 8, 8)
    big = np.kron(digits, np.ones((3, 3)))  # (1797, 24, 24)
    images = np.pad(big, ((0, 0), (2, 2), (2, 2)))[np.arange(n) % len(big), None]  # (n, 1, 28, 28)
    np.save(path, images.astype(np.float32))


def save_mnist_shaped_model(run: Path) -> None:
    """An untrained MLP VAE for 28x28 images, saved as a run that was trained with dynamic binarization."""
    import torch  # noqa: PLC0415 - torch loads only for the evaluate rows: the size rows need numpy alone

    from vaekit.config import ModelConfig, RunConfig, TrainConfig  # noqa: PLC0415 - imports torch, as above
    from vaekit.io import save_model  # noqa: PLC0415 - imports torch, as above
    from vaekit.models import build_model  # noqa: PLC0415 - imports torch, as above

    torch.manual_seed(0)
    config = ModelConfig(input_shape=(1, 28, 28), arch="mlp", hidden_dims=(EVAL_HIDDEN,), latent_dim=EVAL_LATENT)
    save_model(run, build_model(config), RunConfig(model=config, train=TrainConfig(dynamic_binarization=True)))


def child_peak(command: list[str], threads: int) -> tuple[float, float, int]:
    """Run ``python -m vaekit COMMAND`` in a child process; returns (peak resident GB, seconds, exit status)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "vaekit", *command], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not the sum of all children
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        print(err, file=sys.stderr)
    return usage.ru_maxrss * 1024 / 2**30, seconds, proc.returncode  # ru_maxrss is in KiB on Linux


def size_rows(tmp: Path, args: argparse.Namespace) -> list[tuple[str, int, float, float, int]]:
    """One training epoch on each file size: (label, rows, peak GB, seconds, exit)."""
    rows = []
    for size in args.sizes:
        data, run = tmp / f"data-{size:g}gb.npy", tmp / f"run-{size:g}"
        started = time.perf_counter()
        n = write_npy(data, size)
        written = time.perf_counter() - started
        peak, seconds, code = child_peak([
            "train", "--data", str(data), "--out", str(run), "--quiet",
            "--epochs", "1", "--arch", "mlp", "--hidden-dims", "64", "--latent-dim", "8",
            "--batch-size", str(args.batch_size), "--val-fraction", "0.01", "--device", "cpu",
            "--loading", args.loading, "--num-threads", str(args.threads),
        ], args.threads)
        rows.append((f"{size:g} GB float32 .npy", n, peak, seconds, code))
        data.unlink()
        shutil.rmtree(run, ignore_errors=True)
        print(f"{size:g} GB: peak {peak:.2f} GB resident, {seconds:.0f} s (written in {written:.0f} s)", flush=True)
    return rows


def evaluate_rows(tmp: Path, args: argparse.Namespace) -> list[tuple[str, int, float, float, int]]:
    """``vaekit evaluate --iw-samples K`` on each image count: (label, images, peak GB, seconds, exit)."""
    run = tmp / "mnist-shaped"
    save_mnist_shaped_model(run)
    rows = []
    for n in args.evaluate_images:
        data = tmp / f"digits-{n}.npy"
        write_digits(data, n)
        peak, seconds, code = child_peak(
            ["evaluate", str(run), "--data", str(data), "--iw-samples", str(args.iw_samples), "--json"], args.threads
        )
        rows.append((f"evaluate --iw-samples {args.iw_samples}", n, peak, seconds, code))
        data.unlink()
        print(f"evaluate, {n:,} images: peak {peak:.2f} GB resident, {seconds:.0f} s", flush=True)
    return rows


def epoch_rows(tmp: Path, args: argparse.Namespace) -> list[tuple[str, int, float, float, int]]:
    """``vaekit train`` for each epoch count on the same images: (label, epochs, peak GB, seconds, exit)."""
    data = tmp / f"digits-{TRAIN_IMAGES}.npy"
    write_digits(data, TRAIN_IMAGES)
    rows = []
    for epochs in args.train_epochs:
        run = tmp / f"train-{epochs}"
        peak, seconds, code = child_peak([
            "train", "--data", str(data), "--out", str(run), "--quiet", "--epochs", str(epochs),
            "--arch", "mlp", "--hidden-dims", str(EVAL_HIDDEN), "--latent-dim", str(EVAL_LATENT),
            "--batch-size", str(TRAIN_BATCH), "--dynamic-binarization", "--device", "cpu",
            "--num-threads", str(args.threads),
        ], args.threads)
        rows.append((f"train, {TRAIN_IMAGES:,} images", epochs, peak, seconds, code))
        shutil.rmtree(run, ignore_errors=True)
        print(f"train, {epochs} epochs: peak {peak:.2f} GB resident, {seconds:.0f} s", flush=True)
    return rows


def verdict(rows: list[tuple[str, int, float, float, int]], limit_gb: float | None = None) -> str:
    """Whether the peaks of ``rows`` lie within TARGET_SPREAD of each other (and below ``limit_gb``)."""
    peaks = [peak for _, _, peak, *_ in rows]
    spread = (max(peaks) - min(peaks)) / min(peaks)
    met = spread <= TARGET_SPREAD and all(r[-1] == 0 for r in rows)
    text = f"spread of the peaks {spread:.0%} (target <= {TARGET_SPREAD:.0%})"
    if limit_gb is not None:
        met = met and max(peaks) < limit_gb
        text += f", largest {max(peaks):.2f} GB (target < {limit_gb:g} GB)"
    return f"{text}: {'met' if met else 'NOT met'}"


def table(title: str, count: str, rows: list[tuple[str, int, float, float, int]], limit_gb: float | None = None) -> None:
    print()
    print(title)
    print()
    print(f"| command | {count} | peak resident memory | seconds (with start-up) | exit |")
    print("|---|---|---|---|---|")
    for label, n, peak, seconds, code in rows:
        print(f"| {label} | {n:,} | {peak:.2f} GB | {seconds:.0f} s | {code} |")
    print()
    print(verdict(rows, limit_gb))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=None, help="file sizes in GB (default: 1 8)")
    parser.add_argument("--loading", default="auto", choices=("auto", "stream", "memory"))
    parser.add_argument("--evaluate-images", type=int, nargs="+", default=[], metavar="N",
                        help="image counts for vaekit evaluate --iw-samples (e.g. 1000 10000)")
    parser.add_argument("--iw-samples", type=int, default=1000, help="K of the evaluate rows")
    parser.add_argument("--train-epochs", type=int, nargs="+", default=[], metavar="E",
                        help="epoch counts for the training rows (e.g. 5 50)")
    parser.add_argument("--batch-size", type=int, default=1024, help="batch of the --sizes rows")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tmp", default=None, help="folder for the temporary files (default: the system's)")
    args = parser.parse_args()
    if args.sizes is None and not args.evaluate_images and not args.train_epochs:
        args.sizes = DEFAULT_SIZES
    machine = f"{platform.machine()}, {args.threads} threads"

    with tempfile.TemporaryDirectory(dir=args.tmp, prefix="vaekit-memory-") as folder:
        tmp = Path(folder)
        if args.sizes:
            table(f"Peak resident memory of one training epoch (MLP {FEATURES}-64-8, batch {args.batch_size}, "
                  f"--loading {args.loading}), {machine}", "rows", size_rows(tmp, args), TARGET_GB)
        if args.evaluate_images:
            table(f"Peak resident memory of vaekit evaluate --iw-samples {args.iw_samples} (MLP 784-{EVAL_HIDDEN}-"
                  f"{EVAL_LATENT}, dynamic binarization), {machine}", "images", evaluate_rows(tmp, args))
        if args.train_epochs:
            table(f"Peak resident memory of vaekit train (MLP 784-{EVAL_HIDDEN}-{EVAL_LATENT}, {TRAIN_IMAGES:,} "
                  f"images, batch {TRAIN_BATCH}), {machine}", "epochs", epoch_rows(tmp, args))


if __name__ == "__main__":
    main()
