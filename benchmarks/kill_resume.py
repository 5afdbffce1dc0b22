"""Crash safety, the long version: kill -9 a training run again and again, resume, compare.

The claim (README, "Resuming"): after a crash or ``kill -9``, ``vaekit train
... --resume auto`` continues from the newest checkpoint and ends with bitwise
the same weights as an uninterrupted run on CPU. The test suite kills once;
this script kills ``--kills`` times (20 by default) at random moments, a third
of them exactly while a checkpoint is being written, and checks after every
kill that each checkpoint on disk still loads and equals the uninterrupted
run's checkpoint of the same step.

Targets: every planned kill lands, every resume continues from the newest
checkpoint and reproduces the reference bit for bit, no checkpoint is ever
corrupt, and the final ``model.safetensors`` and ``metrics.csv`` equal the
uninterrupted run's.

    python benchmarks/kill_resume.py --kills 20 --seed 0

Exit status 0 only when every target is met.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

# A run small enough to take ~30 s on two cores, with a checkpoint every 3
# steps (~60 saves a second) so that kills often land inside a save.
CHECKPOINT_EVERY = 3
TRAIN_ARGS = [
    "--arch", "mlp", "--hidden-dims", "64", "--latent-dim", "4", "--batch-size", "32",
    "--checkpoint-every", str(CHECKPOINT_EVERY), "--keep-checkpoints", "2", "--num-threads", "1", "--seed", "0",
]  # fmt: skip
ROWS_SEEN = 150_000  # epochs = ROWS_SEEN / rows: 250 epochs (~4,250 steps) on the synthetic set
SYNTHETIC_SHAPE = (600, 1, 8, 8)
POLL_S = 0.001  # how often the checkpoint folder is scanned while waiting for a save
CKPT = re.compile(r"^step-(\d{9})\.pt$")
RESUMED = re.compile(r"resumed from .*\(epoch (\d+), step (\d+)\)")
IGNORED_KEYS = {"seconds", "train_seconds"}  # wall-clock times: allowed to differ
# The NumPy and Python global RNGs start from OS entropy in every process and
# vaekit never seeds them; a checkpoint saves them so that a resume continues
# the killed process's streams, which an independent reference cannot match.
# The torch global RNG is seeded and is compared.
PROCESS_RNGS = {"numpy", "numpy_pos", "numpy_gauss", "python", "python_version", "python_gauss"}


# --------------------------------------------------------------------------- set-up


def synthetic_images(path: Path, seed: int) -> Path:
    """One Gaussian blob per 8x8 image (position, width, brightness) plus faint noise, in [0, 1].

    Four factors of variation keep the latent space in use, so the sampling
    noise of every step matters and an inexact resume would show.
    """
    rng = np.random.default_rng(seed)
    n, _, h, w = SYNTHETIC_SHAPE
    rows, cols = np.mgrid[0:h, 0:w]  # (H, W)
    cy, cx = rng.uniform(1.5, h - 2.5, (2, n, 1, 1))  # (N, 1, 1)
    width = rng.uniform(0.8, 2.0, (n, 1, 1))
    bright = rng.uniform(0.6, 1.0, (n, 1, 1))
    blob = bright * np.exp(-((rows - cy) ** 2 + (cols - cx) ** 2) / (2 * width**2))  # (N, H, W)
    x = np.clip(blob + rng.uniform(0.0, 0.05, blob.shape), 0.0, 1.0).astype(np.float32)
    np.savez(path, x=x[:, None])  # (N, 1, H, W)
    return path


def freeze_vaekit(workdir: Path) -> tuple[dict[str, str], str]:
    """Copy the vaekit package into ``workdir`` and run every process from the copy.

    The reference and all resumed processes then run the same code even if
    someone edits ``src/`` while the benchmark runs. Returns the environment
    and a short hash of the copied sources.
    """
    import vaekit  # noqa: PLC0415 - the installed package, only to find its folder

    frozen = workdir / "frozen"
    shutil.copytree(Path(vaekit.__file__).parent, frozen / "vaekit", ignore=shutil.ignore_patterns("__pycache__"))
    digest = hashlib.sha256()
    for path in sorted((frozen / "vaekit").rglob("*.py")):
        digest.update(path.relative_to(frozen).as_posix().encode() + b"\0" + path.read_bytes())
    # One thread everywhere: results are bitwise reproducible across processes.
    env = {**os.environ, "PYTHONPATH": str(frozen), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return env, digest.hexdigest()[:12]


def count_rows(spec: str) -> int:
    if spec.endswith(".npz"):
        with np.load(spec) as f:
            return len(f["x"])
    import vaekit  # noqa: PLC0415 - only to count a data spec's rows; the measured runs import a frozen copy

    return len(vaekit.load_data(spec).x)


def train_command(data: str, out: Path, epochs: int, *extra: str) -> list[str]:
    # Not --quiet: the "resumed from ... step S" line is how a resume is confirmed.
    return [sys.executable, "-m", "vaekit.cli", "train", "--data", data, "--out", str(out),
            "--epochs", str(epochs), *TRAIN_ARGS, *extra]  # fmt: skip


# --------------------------------------------------------------------------- checkpoints


def checkpoints(folder: Path) -> dict[int, Path]:
    """``step-*.pt`` files by step."""
    if not folder.is_dir():
        return {}
    return {int(m.group(1)): folder / e.name for e in os.scandir(folder) if (m := CKPT.match(e.name))}


def temp_files(folder: Path) -> set[str]:
    """Names of ``.tmp-*`` files in ``folder`` (a save in progress, or one that was killed)."""
    try:
        return {e.name for e in os.scandir(folder) if e.name.startswith(".tmp-")}
    except FileNotFoundError:
        return set()


def first_difference(a: Any, b: Any, where: str = "state") -> str | None:
    """Where ``a`` and ``b`` differ bit for bit (wall-clock keys skipped); None if nowhere."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        same = a.dtype == b.dtype and a.shape == b.shape and torch.equal(
            a.detach().contiguous().reshape(-1).view(torch.uint8), b.detach().contiguous().reshape(-1).view(torch.uint8)
        )
        return None if same else where
    if type(a) is not type(b):
        return f"{where} ({type(a).__name__} vs {type(b).__name__})"
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return f"{where} keys"
        skipped = IGNORED_KEYS | (PROCESS_RNGS if where.endswith("['global_rng']") else set())
        for key in a:
            if key not in skipped and (d := first_difference(a[key], b[key], f"{where}[{key!r}]")):
                return d
        return None
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{where} length"
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := first_difference(x, y, f"{where}[{i}]"))), None)
    if isinstance(a, float):
        return None if struct.pack("<d", a) == struct.pack("<d", b) else where
    return None if a == b else where


# --------------------------------------------------------------------------- the runs


@dataclass
class Timing:
    """The reference run's timeline: start-up, then ``steps`` steps of ``step_s``, then ``tail_s``."""

    total_s: float
    startup_s: float
    ref_step_s: float  # as measured in the reference run: places the kill moments
    tail_s: float
    steps: int
    step_s: float = 0.0  # the running estimate, updated after every attempt

    def __post_init__(self) -> None:
        self.step_s = self.step_s or self.ref_step_s


def reference_run(data: str, out: Path, epochs: int, env: dict[str, str], log: Path) -> Timing:
    """One uninterrupted run that keeps all its checkpoints, timed from their modification times."""
    started = time.time()
    with open(log, "w") as err:
        done = subprocess.run(
            train_command(data, out, epochs, "--keep-checkpoints", "1000000"), env=env, stderr=err, stdout=err
        )
    total = time.time() - started
    if done.returncode != 0:
        sys.exit(f"error: the reference run failed (exit {done.returncode}); see {log}")
    found = checkpoints(out / "checkpoints")
    (s0, p0), (s1, p1) = min(found.items()), max(found.items())
    m0, m1 = p0.stat().st_mtime_ns / 1e9, p1.stat().st_mtime_ns / 1e9
    step_s = (m1 - m0) / max(s1 - s0, 1)
    return Timing(total, max(m0 - started - s0 * step_s, 0.1), step_s, max(started + total - m1, 0.1), s1)


@dataclass
class Tally:
    kills: int = 0
    kills_in_save: int = 0
    starts: int = 0
    resumes: int = 0  # starts that found a checkpoint to continue from
    resumes_confirmed: int = 0  # ... whose log says they loaded exactly the newest one
    resumes_wrong: list[str] = field(default_factory=list)  # got past loading without doing so
    resumes_verified: set[int] = field(default_factory=set)  # attempts whose new checkpoints were compared
    resumes_inexact: set[int] = field(default_factory=set)
    resume_failures: list[str] = field(default_factory=list)  # exits that were neither 0 nor our SIGKILL
    checkpoints_checked: int = 0
    corrupt: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    stale_ckpt_tmp: int = 0
    stale_run_tmp: set[str] = field(default_factory=set)
    verified_steps: set[int] = field(default_factory=set)


def inspect(tally: Tally, out: Path, ref: Path, attempt: int, resumed_from: int | None) -> tuple[int, int]:
    """Load every checkpoint in ``out``; compare the ones not yet seen with the reference's."""
    ok = 0
    for step, path in sorted(checkpoints(out / "checkpoints").items()):
        tally.checkpoints_checked += 1
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any failure is a corrupt checkpoint
            tally.corrupt.append(f"{path.name} after attempt {attempt}: {type(exc).__name__}: {str(exc)[:120]}")
            continue
        ok += 1
        if step in tally.verified_steps:
            continue
        tally.verified_steps.add(step)
        if resumed_from is not None and step > resumed_from:
            tally.resumes_verified.add(attempt)
        expected = ref / "checkpoints" / path.name
        if not expected.exists():
            tally.mismatched.append(f"{path.name}: the reference has no checkpoint at step {step}")
        elif diff := first_difference(state, torch.load(expected, map_location="cpu", weights_only=True)):
            tally.mismatched.append(f"{path.name} (attempt {attempt}): {diff} differs from the reference")
            tally.resumes_inexact.add(attempt)
    return ok, len(checkpoints(out / "checkpoints"))


@dataclass
class Plan:
    """When to kill one process: each condition in turn, then SIGKILL."""

    how: str  # a label for the log
    at_config: bool = False  # wait until the run folder has its config.json
    after_step: int | None = None  # wait until a checkpoint at this step or later exists
    sleep_s: float = 0.0  # then sleep this long
    at_save: bool = False  # then wait until a new temp file appears in checkpoints/


def plan_kill(args, rng: random.Random, k: int, moment: float, in_save: bool, retry: bool, s: int, timing: Timing) -> Plan:
    """Where kill ``k`` lands, for a process that resumes from step ``s``.

    ``moment`` is a point of the reference run after start-up (seconds). A
    point inside training becomes a step: the process is watched until it has
    saved that step, then killed after a random part of one checkpoint
    interval (during a step, or in the save that follows), or, for the save
    kills, as soon as its next temp file appears. Progress is watched rather
    than timed because the machine is shared and a step's duration varies.
    """
    every, train_s = CHECKPOINT_EVERY, timing.steps * timing.ref_step_s
    left_s = timing.startup_s + max(timing.steps - s, 0) * timing.step_s + timing.tail_s
    if args.kill_before_first_checkpoint and k == 0:
        return Plan("config", at_config=True)
    if retry:  # the last process finished first: anywhere in what is left, start-up included
        return Plan("retry", sleep_s=rng.uniform(0.0, 0.9 * left_s))
    if moment < train_s and s < timing.steps:
        step = max(math.ceil(moment / timing.ref_step_s), s + 1)  # past the resume point: a new save
        if in_save and step <= timing.steps - 2 * every:
            return Plan("save", after_step=step, at_save=True)
        return Plan("step", after_step=step, sleep_s=rng.uniform(0.0, every * timing.step_s))
    # In the final writes (evaluation, model, metrics, pictures), after the last checkpoint.
    offset = moment - train_s if moment >= train_s else rng.uniform(0.0, timing.tail_s)
    if s < timing.steps:
        return Plan("tail", after_step=timing.steps, sleep_s=offset)
    return Plan("tail", sleep_s=timing.startup_s + offset)


def kill_chain(args, data: str, epochs: int, env: dict[str, str], timing: Timing, workdir: Path) -> Tally:
    """Start, kill, resume until ``args.kills`` kills have landed; then let the last resume finish."""
    rng = random.Random(args.seed)
    out, ref, logs = workdir / "killed", workdir / "ref", workdir / "logs"
    # Kill moments, uniform over the reference run after start-up (training and
    # the final writes), sorted so that the chain moves forward between kills.
    moments = sorted(rng.uniform(0.0, timing.steps * timing.ref_step_s + timing.tail_s) for _ in range(args.kills))
    in_save = set(rng.sample(range(args.kills), round(args.kills / 3)))  # these wait for a temp file
    tally, attempt, overwrite, retry = Tally(), 0, False, False
    print(f"{'attempt':>7} {'from step':>9} {'kill':>6} {'how':>6} {'target':>7} {'ran s':>6} {'in save':>7} {'ckpts ok':>8}")
    while True:
        attempt += 1
        if attempt > 4 * args.kills + 20:
            sys.exit("error: too many attempts without a landed kill; the timing estimates are off")
        final = tally.kills >= args.kills
        found = checkpoints(out / "checkpoints")
        resumed_from = max(found) if found else None
        tally.starts += 1
        tally.resumes += resumed_from is not None
        s = resumed_from or 0
        k = tally.kills
        plan = None if final else plan_kill(args, rng, k, moments[k], k in in_save, retry, s, timing)
        stale_before = temp_files(out / "checkpoints")
        extra = ["--resume", "auto"] + (["--overwrite"] if overwrite else [])
        log = logs / f"attempt-{attempt:03d}.log"
        with open(log, "w") as err:
            started = time.time()
            proc = subprocess.Popen(train_command(data, out, epochs, *extra), env=env, stdout=err, stderr=err)
            try:
                _wait_and_kill(proc, plan, out, stale_before, timing)
            finally:
                if proc.poll() is None:  # interrupted (e.g. Ctrl-C): leave nothing running
                    proc.kill()
                    proc.wait()
        elapsed = time.time() - started
        overwrite = False
        landed = proc.returncode == -signal.SIGKILL
        retry = not final and proc.returncode == 0
        text = log.read_text(errors="replace")
        # A resume is confirmed when the process says it loaded the newest checkpoint.
        loaded = [int(m.group(2)) for m in RESUMED.finditer(text)]
        if resumed_from is not None:
            # Past loading (it finished, or wrote a newer checkpoint), it must have said so.
            past_loading = proc.returncode == 0 or max(checkpoints(out / "checkpoints"), default=0) > resumed_from
            if loaded == [resumed_from]:
                tally.resumes_confirmed += 1
            elif loaded or past_loading:
                tally.resumes_wrong.append(f"attempt {attempt}: newest checkpoint step {resumed_from}, log says {loaded}")
        ckpt_tmp = temp_files(out / "checkpoints")
        run_tmp = temp_files(out) - tally.stale_run_tmp  # those of earlier kills are never swept
        if landed:
            tally.kills += 1
            tally.kills_in_save += bool(ckpt_tmp or run_tmp)
            tally.stale_ckpt_tmp += len(ckpt_tmp)
            tally.stale_run_tmp |= run_tmp
        elif proc.returncode != 0:
            last = text.strip().splitlines()[-1] if text.strip() else "(no output)"
            tally.resume_failures.append(f"attempt {attempt} (exit {proc.returncode}): {last}")
            if checkpoints(out / "checkpoints"):
                break  # a failure with checkpoints present: nothing sensible to continue with
            overwrite = True  # no checkpoint to lose: start the run again, as a user would
        ok, n = inspect(tally, out, ref, attempt, resumed_from)
        _update_step_time(timing, out, s, started)
        label = f"{tally.kills}/{args.kills}" if landed else ("done" if proc.returncode == 0 else f"exit {proc.returncode}")
        saving = ("yes" if ckpt_tmp or run_tmp else "no") if landed else ""
        target = "" if plan is None or plan.after_step is None else str(plan.after_step)
        how = "-" if plan is None else plan.how
        print(f"{attempt:>7} {s:>9} {label:>6} {how:>6} {target:>7} {elapsed:>6.2f} {saving:>7} {ok:>6}/{n}", flush=True)
        if final and proc.returncode == 0:
            return tally
    return tally


def _update_step_time(timing: Timing, out: Path, resumed_step: int, started: float) -> None:
    """Re-estimate the time per step from the attempt that just ended: the machine is shared."""
    found = checkpoints(out / "checkpoints")
    newest = max(found, default=0)
    if newest - resumed_step >= 30:
        seconds = found[newest].stat().st_mtime_ns / 1e9 - started - timing.startup_s
        if seconds > 0:
            timing.step_s = 0.5 * timing.step_s + 0.5 * seconds / (newest - resumed_step)


def _wait_and_kill(proc: subprocess.Popen, plan: Plan | None, out: Path, stale: set[str], timing: Timing) -> None:
    deadline = time.time() + 10 * timing.total_s + 60  # a hung process is an error, not a wait
    if plan is not None:
        folder = out / "checkpoints"
        while plan.at_config and proc.poll() is None and not (out / "config.json").exists():
            time.sleep(POLL_S)
        while plan.after_step is not None and proc.poll() is None and max(checkpoints(folder), default=-1) < plan.after_step:
            time.sleep(2 * POLL_S)
        if plan.sleep_s > 0:
            try:
                proc.wait(timeout=plan.sleep_s)
            except subprocess.TimeoutExpired:
                pass
        while plan.at_save and proc.poll() is None and not temp_files(folder) - stale:
            time.sleep(POLL_S)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=max(deadline - time.time(), 1))


# --------------------------------------------------------------------------- the verdict


def same_weights(a: Path, b: Path) -> tuple[bool, str]:
    from safetensors.numpy import load_file  # noqa: PLC0415 - only for the final comparison of weights

    wa, wb = load_file(a), load_file(b)
    if wa.keys() != wb.keys():
        return False, "different tensor names"
    diff = [k for k in wa if wa[k].dtype != wb[k].dtype or wa[k].shape != wb[k].shape or wa[k].tobytes() != wb[k].tobytes()]
    return not diff, f"{len(wa)} tensors" + (f", differ: {', '.join(diff)}" if diff else "")


def same_metrics(a: Path, b: Path) -> bool:
    def rows(path: Path) -> list[dict[str, str]]:
        with open(path, newline="") as f:
            return [{k: v for k, v in row.items() if k not in IGNORED_KEYS} for row in csv.DictReader(f)]

    return rows(a) == rows(b)


def same_summary(a: Path, b: Path) -> bool:
    return first_difference(json.loads(a.read_text()), json.loads(b.read_text())) is None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--kills", type=int, default=20, help="kill -9 this many times before the final resume")
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill moments and the synthetic data")
    parser.add_argument("--workdir", type=Path, default=None, help="where to run (default: a temp dir, removed on success)")
    parser.add_argument("--data", default="synthetic", help="'synthetic' (600 8x8 images), 'digits', or any vaekit data spec")
    parser.add_argument("--kill-before-first-checkpoint", action="store_true",
                        help="land the first kill as soon as config.json exists, before any checkpoint")  # fmt: skip
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vaekit-kill-resume-"))
    if (workdir / "ref").exists() or (workdir / "killed").exists():
        parser.error(f"{workdir} already holds ref/ or killed/; choose an empty --workdir")
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    began = time.time()
    env, code = freeze_vaekit(workdir)
    data = str(synthetic_images(workdir / "synthetic.npz", args.seed)) if args.data == "synthetic" else args.data
    epochs = max(1, round(ROWS_SEEN / count_rows(data)))
    print(f"workdir {workdir}\nvaekit sources {code}, torch {torch.__version__}, data {args.data}, {epochs} epochs")

    timing = reference_run(data, workdir / "ref", epochs, env, workdir / "logs" / "ref.log")
    print(f"reference: {timing.total_s:.1f} s ({timing.startup_s:.1f} s start-up, {timing.steps} steps of "
          f"{1000 * timing.ref_step_s:.1f} ms, {timing.tail_s:.1f} s of final writes)")  # fmt: skip
    tally = kill_chain(args, data, epochs, env, timing, workdir)

    ref, out = workdir / "ref", workdir / "killed"
    finished = (out / "model.safetensors").exists()
    weights_ok, weights_note = same_weights(ref / "model.safetensors", out / "model.safetensors") if finished else (False, "no model")
    metrics_ok = finished and same_metrics(ref / "metrics.csv", out / "metrics.csv")
    summary_ok = finished and same_summary(ref / "summary.json", out / "summary.json")
    resumes_exact = len(tally.resumes_verified - tally.resumes_inexact)
    yes = {True: "yes", False: "no"}
    rows = [
        ("kills landed", tally.kills, f">= {args.kills}", tally.kills >= args.kills),
        ("kills during a save (temp file present at the kill)", tally.kills_in_save, "", True),
        ("processes started", tally.starts, "", True),
        ("resumes (started with a checkpoint present)", tally.resumes, "", True),
        ("resumes confirmed by the log (loaded the newest checkpoint)", tally.resumes_confirmed, "", True),
        ("resumes that loaded something else", len(tally.resumes_wrong), "0", not tally.resumes_wrong),
        ("resumes verified against the reference's checkpoints", len(tally.resumes_verified), "", True),
        ("... of which bitwise exact", resumes_exact, "all", resumes_exact == len(tally.resumes_verified)),
        ("resume failures (exit neither 0 nor SIGKILL)", len(tally.resume_failures), "0", not tally.resume_failures),
        ("checkpoint loads checked", tally.checkpoints_checked, "", True),
        ("corrupt checkpoints found", len(tally.corrupt), "0", not tally.corrupt),
        ("checkpoints differing from the reference", len(tally.mismatched), "0", not tally.mismatched),
        ("stale checkpoint temp files (swept by the next start)", tally.stale_ckpt_tmp, "", True),
        ("checkpoint temp files left at the end", len(temp_files(out / "checkpoints")), "0", not temp_files(out / "checkpoints")),
        ("stale temp files left in the run folder", len(temp_files(out)), "", True),
        ("final weights bitwise identical", f"{yes[weights_ok]} ({weights_note})", "yes", weights_ok),
        ("metrics.csv identical (all columns but seconds)", yes[metrics_ok], "yes", metrics_ok),
        ("summary.json identical (but train_seconds)", yes[summary_ok], "yes", summary_ok),
        ("total wall time", f"{time.time() - began:.0f} s", "", True),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n| {'measure':<{width}} | value | target | met |\n|{'-' * (width + 2)}|---|---|---|")
    for name, value, target, met in rows:
        print(f"| {name:<{width}} | {value} | {target} | {'' if not target else yes[met]} |")
    for title, items in [("resume failures", tally.resume_failures), ("wrong resumes", tally.resumes_wrong),
                         ("corrupt", tally.corrupt), ("differing", tally.mismatched)]:  # fmt: skip
        for item in items[:10]:
            print(f"{title}: {item}")
    passed = all(met for *_, met in rows)
    if passed and args.workdir is None:
        shutil.rmtree(workdir)
    elif not passed:
        print(f"kept {workdir} for inspection (logs/ has each attempt's output)")
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
