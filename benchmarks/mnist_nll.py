"""Test NLL on MNIST against training wall time, one JSON record per model.

Trains each vaekit preset of ``--presets`` in turn (and each model of
``--models`` on it) on MNIST, dynamically binarized from the IDX files or
statically binarized from the Larochelle & Murray files with ``--static``.
Every model gets ``--budget-minutes`` of *training* time: the trainer's epochs,
its validation pass included; the importance-weighted test NLL probes
(Burda et al. 2015) and the final evaluation are not counted. The probe runs
on the first ``--eval-images`` test images at K = ``--eval-k`` after each of
the first 10 epochs, then every ``--eval-every`` epochs, and once more when
the budget ends. The final NLL is at K = ``--final-k`` (5000) on the first
``--final-images`` (all 10,000) test images, with progress every ~30 s.

Each model's record is written to ``--out``/mnist_nll_<preset>_<binarization>[_<model>].json
as soon as it is evaluated, so a run that is killed keeps the models it
finished. Two runs side by side (one thread each) are merged into one table,
one plot and one JSON by benchmarks/mnist_nll_merge.py.

The final NLL costs 15 to 50 minutes a model on one thread. ``--final-later``
saves each trained model (safetensors, under ``--out``/models/) and leaves
the record's ``final`` empty, so the lane can train its next model at once;
``--finish RECORD --final-part I/N`` scores the I-th of N parts of the test
images later, in any process (the N parts side by side on the two cores),
and the last part to finish fills in the record. The parts draw the noise
one pass would, so the NLL is the same to rounding.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mnist_nll.py --data ../shared/data/mnist \
        --presets mnist-mlp mnist-vamp --budget-minutes 25 --threads 1 --out docs/nll_lane_a

Rules the record states:

- ``still_falling``: the last probe is more than 0.1 nat below the best probe
  taken before the last fifth of the training time (before 80% of it; all
  earlier probes when none is that early). ``None`` with a single probe.
- ``reached_86_76``: training seconds and epoch of the first probe at or below
  86.76 nats (Burda et al.'s VAE); on the probe subset and K, not the final ones.
- ``seconds_per_epoch``: the median training seconds of one epoch.
- ``selected_epoch``: the epoch whose weights the final NLL scores, the best
  on the validation loss (as a finished ``Trainer.fit`` keeps), also when the
  budget ends training before the schedule does.

``--lr-over-budget`` runs the preset's cosine learning-rate schedule over
the training seconds of the budget instead of over ``epochs``: each epoch
takes the rate the cosine gives at the time trained so far, so the rate
reaches its floor as the budget ends however fast the machine runs
(``epochs`` becomes a cap). Without it, epochs sized from the first
minutes are cut by the budget when the VM slows down mid-run, with the rate
still well above its floor.

``--models vae iwae:5`` trains each model on each preset on the same budget
(the IWAE rows of Burda et al. 2015: the same networks trained on the
k-sample bound). The test images are binarized once with a fixed seed (the
usual protocol for dynamically binarized MNIST).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from _machine import cpu_name  # benchmarks/ is the script's path

from vaekit.data import Dataset, load_data, split_indices
from vaekit.evaluation import binarize_once, iw_log_likelihood
from vaekit.files import atomic_write
from vaekit.model_files import save_model
from vaekit.models import build_model
from vaekit.runs import resolve_config
from vaekit.training import Trainer
from vaekit.training.trainer import cosine_lr

BURDA_VAE = 86.76
FALLING_NATS = 0.1  # the drop over the last fifth of training that counts as "still falling"
PROGRESS_SECONDS = 30.0


def load_mnist(args) -> tuple[Dataset, torch.Tensor]:
    if args.static:
        from scipy.io import loadmat  # noqa: PLC0415 - scipy: only for the static binarization files (--static)

        root = Path(args.static)
        part = lambda name: loadmat(root / f"binarized_mnist_{name}.mat")["X"].astype(np.float32)  # noqa: E731
        train = Dataset(x=np.concatenate([part("train"), part("valid")]).reshape(-1, 1, 28, 28), name="static")
        test = torch.from_numpy(part("test").reshape(-1, 1, 28, 28))
        return train, test
    spec = args.data if args.data.startswith("mnist") else f"mnist:{args.data}"
    train = load_data(spec, split="train")
    test = torch.from_numpy(load_data(spec, split="test").x)
    return train, binarize_once(test, seed=0)  # the binarization `vaekit evaluate` uses at --seed 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/mnist", help="folder of the MNIST IDX files")
    parser.add_argument("--static", default=None, help="folder of binarized_mnist_*.mat: train on static binarization")
    parser.add_argument("--presets", "--preset", nargs="+", default=["mnist-mlp"], help="presets trained in turn")
    parser.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
                        help="override preset keys (every preset); repeats add up")
    parser.add_argument("--option", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
                        help="set a model family's option (every preset), as vaekit train --option; repeats add up")
    parser.add_argument("--budget-minutes", type=float, default=30.0, help="training wall time per model")
    parser.add_argument(
        "--lr-over-budget",
        action="store_true",
        help="run the cosine learning-rate schedule over the budget's training seconds, not over epochs "
        "(epochs becomes a cap)",
    )
    parser.add_argument("--eval-every", type=int, default=10, help="epochs between NLL probes (every epoch for the first 10)")
    parser.add_argument("--eval-images", type=int, default=500, help="test images of the probe")
    parser.add_argument("--eval-k", type=int, default=1000, help="importance samples of the probe")
    parser.add_argument("--final-k", type=int, default=5000, help="importance samples of the final NLL")
    parser.add_argument("--final-images", "--final-k5000-images", type=int, default=10_000,
                        help="test images of the final NLL (the first N)")
    parser.add_argument("--final-later", action="store_true",
                        help="save each trained model under OUT/models/ and leave its final NLL to --finish, so a "
                             "second training can take the core while another process evaluates")
    parser.add_argument("--finish", nargs="+", default=[], metavar="RECORD",
                        help="compute the final NLL of records written with --final-later (their saved models) and "
                             "fill it in; trains nothing")
    parser.add_argument("--final-part", default="1/1", metavar="I/N",
                        help="with --finish: score the I-th of N equal parts of the test images (run the N parts "
                             "side by side; the last one to finish fills in the record)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (one per run when two run side by side)")
    parser.add_argument("--out", default="docs", help="folder of the per-model JSON records")
    parser.add_argument(
        "--models", nargs="+", default=["vae"], metavar="MODEL[:K]",
        help="models trained on each preset on the same budget: vae, iwae:K (K importance samples in training)",
    )
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    command = shlex.join([f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')}",
                          Path(sys.executable).name, *sys.argv])
    print(f"$ {command}", flush=True)
    torch.set_num_threads(args.threads)

    train, test = load_mnist(args)
    if args.finish:
        for path in args.finish:
            finish(Path(path), test, args)
        return
    probe = test[: args.eval_images]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for preset in args.presets:
        for spec in args.models:
            record = run_model(preset, spec, args, train, test, probe)
            record["command"] = command
            path = out / f"{record_tag(record)}.json"
            atomic_write(path, lambda f, r=record: f.write(json.dumps(r, indent=1)), mode="w")
            print(f"wrote {path}", flush=True)
            written.append(str(path))

    if args.final_later:
        print(f"final NLLs pending: run this script with --finish {shlex.join(written)}", flush=True)
        return
    from mnist_nll_merge import read_records, table  # noqa: PLC0415 - benchmarks/ is the script's path

    print()
    print("\n".join(table(read_records(written))))


def record_tag(record: dict) -> str:
    """File name of a record: preset, binarization, the model when it is not the plain ``vae``, and the
    settings and options changed on the command line."""
    model = "" if record["model"] == "vae" else "_" + record["model"].replace(":", "")
    changed = {**record.get("settings", {}), **record.get("options", {})}  # --set (but the epochs cap), --option
    return f"mnist_nll_{record['preset']}_{record['binarization']}{model}" + "".join(
        f"_{key}-{value}" for key, value in changed.items())


#: ``--set`` keys that do not name a row: the epochs cap (a budget, as --budget-minutes) and the run's machinery, which
#: leave what is learned alone; ``model`` and ``options`` are named by --models and --option.
RUN_CONDITIONS = frozenset({"epochs", "model", "options", "checkpoint_every", "keep_checkpoints", "num_threads",
                            "device", "compile", "on_nan", "max_nan_skips"})


def changed_settings(overrides: dict) -> dict[str, str]:
    """The settings ``--set`` changed that change what is learned (``dropout=0.1``, ``kl_warmup_epochs=20``): they
    name the row and its record file; the epochs cap and the run's machinery (``RUN_CONDITIONS``) do not."""
    return {key: value for key, value in overrides.items() if key not in RUN_CONDITIONS}


def still_falling(curve: list[tuple[float, int, float]]) -> tuple[bool | None, float | None]:
    """(falling, drop): the last probe against the best one before the last fifth of training (see module doc)."""
    if len(curve) < 2:
        return None, None
    end = curve[-1][0]
    earlier = [v for t, _, v in curve[:-1] if t <= 0.8 * end] or [v for *_, v in curve[:-1]]
    drop = min(earlier) - curve[-1][2]
    return drop > FALLING_NATS, drop


def chunk_size(k: int) -> int:
    """Images scored per call at K = ``k``: ~10 images take a few seconds at K = 5000 on one thread."""
    return 10 if k >= 1000 else 500


def part_bounds(images: int, parts: int, chunk: int) -> list[int]:
    """Where ``parts`` near-equal parts of ``images`` test images start, and the end: each start is a
    multiple of ``chunk``, so the parts' chunks (and the seeds of their noise) are one pass's."""
    return [min(images, -(-images * i // parts // chunk) * chunk) for i in range(parts)] + [images]


def final_log_px(model: torch.nn.Module, x: torch.Tensor, k: int, name: str, offset: int = 0) -> tuple[torch.Tensor, float]:
    """IW log p(x) per image at K = ``k`` (float64) and the wall seconds, printing progress every ~30 s.

    ``x`` holds test images ``offset`` onwards; each chunk's noise is seeded by
    its first image's index in the whole test set, so scoring the set in parts
    draws what one pass over it would.
    """
    started = last = time.perf_counter()
    chunk = chunk_size(k)
    log_px = []
    for start in range(0, len(x), chunk):
        log_px.append(iw_log_likelihood(model, x[start : start + chunk], k, seed=offset + start)[0].double())  # (chunk,)
        now = time.perf_counter()
        if now - last >= PROGRESS_SECONDS:
            done = start + len(log_px[-1])
            eta = (now - started) / done * (len(x) - done)
            nll = -torch.cat(log_px).mean().item()
            print(f"{name}: final K={k}: {done:,}/{len(x):,} images, {now - started:.0f} s, "
                  f"~{eta:.0f} s to go, NLL so far {nll:.2f}", flush=True)
            last = now
    return torch.cat(log_px), time.perf_counter() - started


def final_nll(model: torch.nn.Module, x: torch.Tensor, k: int, name: str) -> tuple[float, float]:
    """Mean IW NLL of ``x`` at K = ``k`` and its wall seconds."""
    log_px, seconds = final_log_px(model, x, k, name)
    return -log_px.mean().item(), seconds


def finish(path: Path, test: torch.Tensor, args) -> None:
    """Score part ``--final-part I/N`` of the test images with a ``--final-later`` record's saved model.

    Each part's per-image log-likelihoods go to a JSON file beside the saved
    model; when every part is there, the record gets its final NLL (their
    mean) and its seconds (their sum). Two processes can score the halves of
    one model's test set side by side.
    """
    from vaekit.io import load  # noqa: PLC0415 - only this mode reads a saved model

    record = json.loads(path.read_text())
    part, _, parts = args.final_part.partition("/")
    part, parts = int(part), int(parts)
    if not 1 <= part <= parts:
        raise SystemExit(f"--final-part {args.final_part}: want I/N with 1 <= I <= N")
    images = min(len(test), args.final_images)
    bounds = part_bounds(images, parts, chunk_size(args.final_k))
    saved = Path(record["saved_model"])
    model = load(saved)
    log_px, seconds = final_log_px(model, test[bounds[part - 1] : bounds[part]], args.final_k, record["name"],
                                   offset=bounds[part - 1])
    tag = f"final_k{args.final_k}_n{images}"
    atomic_write(saved / f"{tag}_part{part}of{parts}.json",
                 lambda f: f.write(json.dumps({"log_px": log_px.tolist(), "seconds": seconds})), mode="w")
    print(f"{record['name']}: part {part}/{parts} ({len(log_px):,} images) NLL {-log_px.mean().item():.2f} "
          f"in {seconds:.0f} s", flush=True)
    done = [saved / f"{tag}_part{i}of{parts}.json" for i in range(1, parts + 1)]
    if not all(f.is_file() for f in done):
        print(f"{record['name']}: waiting for the other parts of {tag}", flush=True)
        return
    scored = [json.loads(f.read_text()) for f in done]
    every = torch.tensor([v for s in scored for v in s["log_px"]], dtype=torch.float64)
    record["final"] = {"nll": -every.mean().item(), "k": args.final_k, "images": len(every),
                       "seconds": sum(s["seconds"] for s in scored), "parts": parts,
                       "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    atomic_write(path, lambda f: f.write(json.dumps(record, indent=1)), mode="w")
    print(f"{record['name']}: final test NLL {record['final']['nll']:.2f} (K={args.final_k}, {len(every):,} images); "
          f"wrote {path}", flush=True)


def run_model(preset: str, spec: str, args, train: Dataset, test: torch.Tensor, probe: torch.Tensor) -> dict:
    """Train one model (``vae`` or ``iwae:K``) of ``preset`` for the budget; its record."""
    model_name, _, k = spec.partition(":")
    assigned = dict(kv.split("=", 1) for kv in args.set)
    overrides: dict = dict(assigned)
    if args.option:
        overrides["options"] = dict(kv.split("=", 1) for kv in args.option)
    if model_name != "vae":  # "vae" keeps the preset's own model (e.g. mnist-hvae-vamp's hvae)
        overrides["model"] = model_name
    if k:
        overrides["iw_samples"] = int(k)
    cfg = resolve_config(None, overrides, preset)
    lr_over_budget = args.lr_over_budget
    if lr_over_budget:
        if cfg.train.lr_schedule != "cosine":
            raise SystemExit(f"--lr-over-budget runs a cosine schedule; {preset} has lr_schedule={cfg.train.lr_schedule}")
        cfg.train.lr_schedule = "constant"  # the trainer leaves the rate alone: set below, epoch by epoch
    if args.static:
        cfg.train.dynamic_binarization = False
    cfg.model.input_shape = train.sample_shape
    cfg.validate()
    train_idx, val_idx = split_indices(len(train), cfg.train.val_fraction, cfg.train.seed)
    x = torch.from_numpy(train.x)
    if not cfg.train.dynamic_binarization and not args.static:
        x = binarize_once(x, seed=1)  # binarized once
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model)
    trainer = Trainer(model, cfg.train)
    name = preset if spec == "vae" else f"{preset} {model_name} k={k or cfg.model.options.get('iw_samples', 5)}"
    options = overrides.get("options", {})  # --option: in the name, the record and its file name
    settings = changed_settings(assigned)  # so are the settings --set changed
    name += "".join(f" {key}={value}" for key, value in {**settings, **options}.items())
    binarization = "static" if args.static else "dynamic"
    date = datetime.now(timezone.utc).isoformat(timespec="seconds")

    curve: list[tuple[float, int, float]] = []  # (train seconds, epoch, NLL)
    epoch_seconds: list[float] = []
    trained = 0.0
    budget = args.budget_minutes * 60
    while trainer.epoch < cfg.train.epochs and trained < budget and not trainer.stopped_early:
        if lr_over_budget:
            for group in trainer.optimizer.param_groups:
                group["lr"] = cosine_lr(trained / budget, cfg.train.lr, cfg.train.lr_min)
        started = time.perf_counter()
        trainer.fit(x[train_idx], x[val_idx], until_epoch=trainer.epoch + 1)
        epoch_seconds.append(time.perf_counter() - started)
        trained += epoch_seconds[-1]
        done = trained >= budget or trainer.epoch >= cfg.train.epochs or trainer.stopped_early
        if trainer.epoch % args.eval_every == 0 or trainer.epoch <= 10 or done:
            nll = -iw_log_likelihood(model, probe, args.eval_k)[0].double().mean().item()
            curve.append((trained, trainer.epoch, nll))
            print(f"{name}: epoch {trainer.epoch:4d}  train {trained:7.1f} s  test NLL (K={args.eval_k}, "
                  f"{len(probe)} images) {nll:.2f}", flush=True)

    if lr_over_budget and trained < budget:
        print(f"{name}: the epochs cap ({cfg.train.epochs}) came before the budget, the rate still at "
              f"{trainer.optimizer.param_groups[0]['lr']:.2e}: raise --set epochs", flush=True)
    selected_epoch = trainer.keep_best()  # a budget that cut the schedule left the last epoch's weights in
    epochs_cap = cfg.train.epochs
    if lr_over_budget:  # the saved config and the record say what ran: the preset's cosine, over the epochs trained
        cfg.train.lr_schedule = "cosine"
        if trained >= budget:  # the cap ending it first (warned above) leaves the cosine short of its floor: keep the cap
            cfg.train.epochs = trainer.epoch
    falling, drop = still_falling(curve)
    hit = next(((t, e) for t, e, v in curve if v <= BURDA_VAE), (None, None))
    saved = None
    if args.final_later:
        saved = Path(args.out) / "models" / record_tag(
            {"preset": preset, "binarization": binarization, "model": spec, "options": options, "settings": settings})
        save_model(saved, model, cfg)
        print(f"{name}: {trainer.epoch} epochs in {trained:.0f} s; model saved to {saved} for --finish", flush=True)
        final = None
    else:
        print(f"{name}: {trainer.epoch} epochs in {trained:.0f} s; final evaluation on "
              f"{min(len(test), args.final_images):,} test images at K={args.final_k}", flush=True)
        nll, final_seconds = final_nll(model, test[: args.final_images], args.final_k, name)
        print(f"{name}: final test NLL {nll:.2f} (K={args.final_k}) in {final_seconds:.0f} s", flush=True)
        final = {"nll": nll, "k": args.final_k, "images": min(len(test), args.final_images), "seconds": final_seconds}
    config = cfg.to_dict()
    return {
        "name": name, "preset": preset, "model": spec, "binarization": binarization, "options": options,
        "settings": settings,
        "budget_minutes": args.budget_minutes, "epochs": trainer.epoch, "selected_epoch": selected_epoch,
        "lr_over_budget": lr_over_budget, "epochs_cap": epochs_cap,
        "last_lr": trainer.optimizer.param_groups[0]["lr"],
        "train_seconds": trained,
        "seconds_per_epoch": statistics.median(epoch_seconds), "epoch_seconds": epoch_seconds,
        "probe": {"k": args.eval_k, "images": len(probe)}, "curve": curve,
        "still_falling": falling, "drop_last_fifth": drop,
        "still_falling_rule": f"last probe more than {FALLING_NATS} nat below the best probe before 80% of training time",
        "reached_86_76": {"seconds": hit[0], "epoch": hit[1]},
        "final": final, "saved_model": None if saved is None else str(saved),
        "threads": args.threads, "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "machine": {"cpu": cpu_name(), "arch": platform.machine(), "cores": os.cpu_count(), "host": platform.node()},
        "torch": torch.__version__, "python": platform.python_version(),
        "date": date, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config,
    }


if __name__ == "__main__":
    main()
