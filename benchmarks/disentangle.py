"""Disentanglement on the full sprites grid: VAE, beta-VAE, beta-TCVAE, FactorVAE (and DIP-VAE-II), seeds side by side.

Issue #17. Every model has 10 latents, the same network (MLP 4096-512-512-10,
Bernoulli likelihood), batch 128, Adam 1e-3 and the same number of optimiser
steps (``--steps``); only the objective differs (``MODELS``). The data is all
737,280 images of dSprites' factor grid (:class:`vaekit.data.sprites.SpriteGrid`),
rendered on demand and streamed in random order. After training, each
(model, seed) is scored on the same fixed rows: reconstruction, active units
and every metric of :func:`vaekit.disentanglement.factor_metrics` (MIG, SAP,
DCI, and with the grid as generator the beta-VAE and FactorVAE scores).

Three modes:

    # how many steps fit: times 50 steps of each model (and the metrics at the counts given)
    .venv/bin/python benchmarks/disentangle.py --calibrate --budget-minutes 10
    # two lanes side by side, one thread each; incremental JSON, --resume skips finished runs
    .venv/bin/python benchmarks/disentangle.py --lane a --steps S --json runs/dis_a.json --out runs/disentangle --resume
    .venv/bin/python benchmarks/disentangle.py --lane b --steps S --json runs/dis_b.json --out runs/disentangle --resume
    # merge the lanes: the table, one line per target, traversal grids of each model's best seed
    .venv/bin/python benchmarks/disentangle.py --report runs/dis_a.json runs/dis_b.json --out docs \
        --markdown docs/disentangle.md

Choices, and why:

- The MLP, not vaekit's conv net (channels 32, 64, 128): on one thread a step of
  batch 64 took 478 ms with the conv net and 87 ms with the MLP of 1200-1200
  units (2026-12-01, beside other benchmarks; ``--calibrate`` measures both).
- 512-512 units, batch 128, Adam 1e-3, not Chen et al.'s 1200-1200 at 5e-4
  with batch 64 (the 2026-12-01 table): in the same minutes a model sees about
  2.5 times the images, and the total correlation is estimated from batches
  twice as large. In a probe on seed 1 (2026-12-02), beta-TCVAE reached MIG
  0.183 after 4,000 such steps (267 s) against 0.110 after 5,000 of the old
  ones (472 s); 256-256 units at batch 256 reached 0.123 (336 s).
- beta-TCVAE: beta = 6 on the total correlation, alpha = gamma = 1, the
  minibatch-stratified estimator with N = 737,280 (Chen et al. 2018's dSprites
  runs: ``vae_quant.py --dataset shapes --beta 6 --tcvae --mss``).
- FactorVAE: gamma = 35, the best-scoring FactorVAE on 2D Shapes in Kim & Mnih
  2018 (their traversal figure; beta-VAE's best there was beta = 4). Their
  discriminator is 6 x 1000 units with Adam at 1e-4, betas (0.5, 0.9); here
  3 x 512 with Adam at 1e-3, the same betas. With the 2 x 256 default at 1e-4
  (the 2026-12-01 table) it stayed near chance and FactorVAE trained like the
  plain VAE (MIG 0.014, every latent active); in 4,000-step probes on seed 0
  (2026-12-02) 2 x 256 at 1e-3 reached MIG 0.032 and 3 x 512 at 1e-3 0.069, at
  25% more time per step.
- One learning rate for all, 1e-3 (Chen et al.'s dSprites runs); Kim & Mnih
  used 1e-4 for FactorVAE, too slow for a budget of minutes. ``--lr-min``
  decays it on a cosine over the steps, the same for every model (the
  trainer's ``lr_interval: step``: here a run is one epoch), and FactorVAE's
  discriminator decays with it at the same share of its own rate (in the
  tables up to the one begun 2026-12-03 14:55 UTC it stayed at 1e-3).
- Subnormal floats are flushed to zero while training (vaekit's
  ``TrainConfig.flush_denormal``, on by default since 2026-12-03): without it
  Adam's running squares of the weights of pixels that are rarely on decay
  into subnormals, and on an Intel Xeon VM beta-TCVAE's steps slowed from 83
  to 140 ms by step 1,500 at the same losses. The 2026-12-02 table was
  trained without (its seconds carry that cost, not its metrics);
  ``--keep-subnormals`` trains so again, to time it.
- Streaming: ``SpriteGrid().streamed()``, whose blocks hold rows of a fixed
  random permutation of the grid (in grid order, consecutive rows differ in x
  and y only, and a shuffle window would hold a few shapes, scales and
  rotations); here blocks of 32 rows and 256 MB windows, so each batch of 128
  comes from a window of 16,384 random rows.
- Metrics on the same rows for every model and seed (metric seed 0):
  ``--metric-points`` grid rows drawn without replacement for MIG / SAP / DCI
  (with 10,000: 6,667 fit and 3,333 test rows; disentanglement_lib fits on
  10,000 and tests on 5,000), DCI with 10 trees (``DCI_TREES``);
  ``--score-points`` training points / votes and half as many evaluation ones
  for the beta-VAE and FactorVAE scores (the lib: 10,000 / 5,000), batches of 64,
  FactorVAE variances from 10,000 codes. Reconstruction: -log p(x|z), one
  posterior draw, mean per image over ``--recon-rows`` fixed grid rows; the
  grid is the training set (as in dSprites' protocol), so these rows are not
  held out, though with fewer than 11,520 steps (one pass) most were never seen.
- Targets are judged on the means over seeds. "Above beta-VAE at comparable
  reconstruction" is judged against beta-VAE's curve (``BETA_CURVE``: beta 1,
  2, 4 and 6, each its own row), read at the TC objective's own
  reconstruction, linearly between the two rows around it: one beta would
  favour whichever objective lands nearer its reconstruction (a larger beta
  buys disentanglement with reconstruction), and Kim & Mnih 2018 and Chen et
  al. 2018 compare the objectives along that trade-off too. Beside it, each is
  set against beta = 4 alone, the literature's dSprites beta-VAE, with its
  reconstruction at most ``COMPARABLE`` (10 %) worse.

This replaces the 2026-12-01 table (MIG of the VAE, beta-VAE and the
capacity-annealed VAE on 12,000 sprites, 20 epochs); that script is
``git show 8501f1b:benchmarks/disentangle.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from _machine import cpu_name  # benchmarks/ is the script's path

from vaekit.data.sprites import FULL_GRID, SpriteGrid
from vaekit.disentanglement import (
    DCI_TREES,
    betavae_score,
    dci,
    factor_metrics,
    factorvae_score,
    mig,
    sap,
)
from vaekit.errors import ConfigError
from vaekit.evaluation import active_units, evaluate
from vaekit.files import atomic_write
from vaekit.models import VAE, build_model
from vaekit.presets import PRESETS
from vaekit.runs import resolve_config
from vaekit.training import Trainer
from vaekit.training.batches import Batch, BatchSource

#: The one network and optimiser of every model: the ``sprites`` preset's network, batch size and rate (what
#: ``--data sprites:N`` trains); the preset's cosine is ``--lr-min 1e-4`` here, a constant rate without it.
NETWORK = {"arch": PRESETS["sprites"]["arch"], "hidden_dims": ",".join(map(str, PRESETS["sprites"]["hidden_dims"])),
           "latent_dim": PRESETS["sprites"]["latent_dim"], "likelihood": PRESETS["sprites"]["likelihood"]}
OPTIMISER = {"batch_size": PRESETS["sprites"]["batch_size"], "lr": PRESETS["sprites"]["lr"]}
#: beta-TCVAE as Chen et al. 2018 ran it on dSprites (``vae_quant.py --dataset shapes --beta 6 --tcvae --mss``).
_TCVAE = {"objective": "tcvae", "beta": 6.0, "tc_alpha": 1.0, "tc_gamma": 1.0, "tc_estimator": "mss",
          "dataset_size": math.prod(FULL_GRID)}
#: Objectives by name; each entry is all that differs from ``NETWORK`` and ``OPTIMISER``.
MODELS: dict[str, dict] = {
    "vae": {"beta": 1.0},
    "beta-vae-2": {"beta": 2.0},  # with vae and beta-vae: beta-VAE's reconstruction / disentanglement curve
    "beta-vae": {"beta": 4.0},  # Higgins et al. 2017 on dSprites
    "beta-vae-6": {"beta": 6.0},  # beta-TCVAE's beta, on the whole KL (Chen et al. 2018 compare at equal beta)
    "beta-tcvae": _TCVAE,  # Chen et al. 2018's dSprites runs
    # a heavier total-correlation weight: Chen et al. 2018's MIG on dSprites rises with beta up to about 10
    "beta-tcvae-10": {**_TCVAE, "beta": 10.0},
    # probes of the other two weights: no push of each q(z_j) towards N(0, 1) (a Gaussian aggregate is
    # rotation-invariant, so only a non-Gaussian one lets the TC pick axes), and no mutual-information penalty
    "beta-tcvae-gamma0": {**_TCVAE, "tc_gamma": 0.0},
    "beta-tcvae-alpha0": {**_TCVAE, "tc_alpha": 0.0},
    # log q(z) by minibatch-weighted sampling, Chen et al.'s default (the table's row uses the stratified one)
    "beta-tcvae-mws": {**_TCVAE, "tc_estimator": "mws"},
    "factorvae": {"objective": "factorvae", "factor_gamma": 35.0, "discriminator_lr": 1e-3,
                  "discriminator_dims": "512,512,512"},  # gamma: Kim & Mnih 2018; D: the probes above
    "dipvae": {"objective": "dipvae", "dip_lambda_od": 10.0, "dip_lambda_d": 10.0},  # DIP-VAE-II, vaekit's defaults
}
#: The network of lanes whose JSON predates its "network" key (fixed here, whatever the preset becomes).
LANES_BEFORE_NETWORK_KEY = {"arch": "mlp", "hidden_dims": "512,512", "latent_dim": 10, "likelihood": "bernoulli"}
DEFAULT_MODELS = "vae,beta-vae-2,beta-vae,beta-vae-6,beta-tcvae,factorvae,dipvae"
#: Rows per streamed block and bytes per shuffle window (16,384 float32 images).
BLOCK_ROWS, WINDOW_BYTES = 32, 256 * 2**20
#: Objectives that penalise the total correlation: each is judged against ``BETA_CURVE``.
TC_OBJECTIVES = ("tcvae", "factorvae")
#: beta-VAE at beta 1 (the VAE), 2, 4 and 6: the reconstruction / disentanglement curve each TC objective must beat.
BETA_CURVE = ("vae", "beta-vae-2", "beta-vae", "beta-vae-6")
#: Beside the curve, each TC objective is set against beta = 4 alone, its reconstruction at most this much worse.
COMPARABLE = 0.10
#: Seeds of the fixed evaluation rows (the same for every model and seed) and of the metrics' own sampling.
RECON_SEED, CODES_SEED, METRIC_SEED = 12_345, 54_321, 0
#: The image every traversal starts from: a heart (2), scale index 3, rotated 45 degrees (5 of 40), centred.
TRAVERSAL_BASE = (2, 3, 5, 16, 16)
TRAVERSAL_STEPS, TRAVERSAL_SPAN = 9, 2.5
METRICS = ("mig", "sap", "dci_disentanglement", "dci_completeness", "dci_informativeness", "betavae", "factorvae")
HEADERS = ("MIG", "SAP", "DCI D", "DCI C", "DCI I", "beta-VAE score", "FactorVAE score")

_STARTED = time.perf_counter()


def log(message: str) -> None:
    print(f"[{clock(time.perf_counter() - _STARTED)}] {message}", flush=True)


def clock(seconds: float) -> str:
    """``seconds`` as minutes:seconds to a tenth, rounded once (59.96 s is 1:00.0, not 0:60.0)."""
    tenths = round(seconds * 10)
    return f"{tenths // 600:3d}:{tenths % 600 / 10:04.1f}"


# --------------------------------------------------------------------------- training


class GridBatches(BatchSource):
    """Exactly ``steps`` batches of the sprites grid, streamed in random order, as one trainer epoch.

    The trainer counts in epochs; one epoch of ``steps`` batches makes every
    model take the same number of optimiser steps whatever the grid's size
    (a pass over the grid is 5,760 batches of 128; more steps go on into the
    grid's next shuffled pass).
    """

    def __init__(self, grid: SpriteGrid, steps: int, batch_size: int, seed: int, every: int = 0,
                 images: np.ndarray | None = None) -> None:
        self.data = grid.streamed(block_rows=BLOCK_ROWS, window_bytes=WINDOW_BYTES, images=images)
        self.steps_per_epoch = steps
        self.batch_size, self.seed, self.every = batch_size, seed, every
        self.trainer: Trainer | None = None  # set to print the running loss with the progress
        self.step_times: list[float] = []  # perf_counter when each batch was handed over, and at the end

    def __len__(self) -> int:
        return len(self.data)  # beta-TCVAE's stratified estimator weights by it

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        if start_batch:
            raise ValueError("GridBatches runs start from step 0 (the benchmark does not resume mid-run)")
        done, grid_pass, last = 0, 0, (0, 0.0, 0.0, 0.0)
        while True:
            for xb, _ in self.data.batch_pairs(self.batch_size, self.seed, grid_pass):
                if done == self.steps_per_epoch:
                    self.step_times.append(time.perf_counter())
                    return
                self.step_times.append(time.perf_counter())
                if self.every and done and done % self.every == 0:
                    last = self._progress(done, last)
                yield torch.from_numpy(xb), None  # (B, 1, 64, 64) float32 in {0, 1}
                done += 1
            grid_pass += 1

    def _progress(self, done: int, last: tuple[int, float, float, float]) -> tuple[int, float, float, float]:
        step0, time0, sum0, disc0 = last
        now = time.perf_counter()
        line = f"  step {done}/{self.steps_per_epoch}"
        if len(self.step_times) > step0 + 1:
            line += f", {(now - self.step_times[step0]) / (done - step0) * 1e3:.0f} ms/step"
        if self.trainer is not None:
            total = float(self.trainer.epoch_sums[0])  # the summed per-sample loss so far
            recent = (total - sum0) / max(1, (done - step0) * self.batch_size)
            line += f", loss {recent:.1f} (last {done - step0} steps)"
            sum0 = total
            if self.trainer.discriminator_optimizer is not None:  # log 2 = 0.693: D cannot tell q(z) from its permutation
                disc = float(self.trainer.discriminator_sum)
                line += f", discriminator loss {(disc - disc0) / max(1, (done - step0) * self.batch_size):.3f}"
                disc0 = disc
        log(line)
        return done, now, sum0, disc0


def build(name: str, seed: int, threads: int, *, flush: bool = True, lr_min: float | None = None,
          optimiser: dict = OPTIMISER, network: dict = NETWORK, precision: str = "fp32") -> tuple[VAE, object]:
    """The model ``name`` and its resolved config, seeded; ``flush=False`` keeps subnormal floats.

    With ``lr_min`` the trainer decays the rate on a cosine over the run's steps (its one epoch)
    down to it, FactorVAE's discriminator at the same share of its own rate. ``optimiser`` and
    ``network``: the batch size and rate, and the network, in place of the table's. ``precision``:
    the trainer's (``bf16`` autocasts the matrix products; weights, optimiser and loss stay fp32).
    """
    settings = dict(MODELS[name])
    schedule = {} if lr_min is None else {"lr_schedule": "cosine", "lr_interval": "step", "lr_min": lr_min}
    overrides = {**network, **optimiser, **settings, **schedule, "epochs": 1, "seed": seed,
                 "num_threads": threads, "flush_denormal": flush, "precision": precision}
    cfg = resolve_config(None, overrides, spec_data=False)
    cfg.model.input_shape = (1, 64, 64)
    cfg.validate()
    torch.manual_seed(seed)
    return build_model(cfg.model), cfg


def train(name: str, seed: int, steps: int, threads: int, grid: SpriteGrid, every: int,
          images: np.ndarray | None = None, **settings) -> tuple[VAE, GridBatches, float]:
    """``steps`` steps of the model ``name`` on the grid; ``images``: the grid drawn (read, not rendered);
    ``settings``: :func:`build`'s keywords."""
    model, cfg = build(name, seed, threads, **settings)
    source = GridBatches(grid, steps, cfg.train.batch_size, seed, every, images)
    trainer = Trainer(model, cfg.train)
    source.trainer = trainer
    started = time.perf_counter()
    trainer.fit(source)
    seconds = time.perf_counter() - started
    model.eval()
    return model, source, seconds


# --------------------------------------------------------------------------- evaluation


def encoder(model: VAE):
    """Observations (B, 1, 64, 64) uint8 -> posterior means (B, Z) as numpy: what the metrics call."""

    def encode(x: np.ndarray) -> np.ndarray:
        return model.embed(torch.from_numpy(np.asarray(x, dtype=np.float32))).numpy()

    return encode


def fixed_rows(grid: SpriteGrid, n: int, seed: int) -> np.ndarray:
    """``n`` grid rows drawn without replacement, the same for every model and seed."""
    return np.sort(np.random.default_rng(seed).choice(len(grid), size=min(n, len(grid)), replace=False))


def evaluate_run(model: VAE, grid: SpriteGrid, args: argparse.Namespace, recon_x: torch.Tensor) -> dict:
    """Reconstruction, active units and every factor metric of a trained model, each timed."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    report = evaluate(model, recon_x, seed=RECON_SEED)
    units = active_units(model, recon_x)
    timings["reconstruction"] = time.perf_counter() - started

    started = time.perf_counter()
    factors = grid.factors(fixed_rows(grid, args.metric_points, CODES_SEED))  # (N, 5)
    encode = encoder(model)
    codes = np.concatenate([encode(grid.observations(factors[s : s + 4096])) for s in range(0, len(factors), 4096)])
    gaps = mig(codes, factors, factor_names=grid.factor_names)  # per-factor gaps and the MI matrix, for the labels
    entropies = [_entropy(factors[:, k]) for k in range(factors.shape[1])]
    timings["codes"] = time.perf_counter() - started

    started = time.perf_counter()
    scores = factor_metrics(codes, factors, factor_names=grid.factor_names, encode=encode, source=grid,
                            n_train=args.score_points, n_eval=max(1, args.score_points // 2), seed=METRIC_SEED)
    timings["factor_metrics"] = time.perf_counter() - started
    return {
        **{key: scores[key] for key in METRICS if key in scores},
        "sap_continuous": scores.get("sap_continuous"),
        "reconstruction": report["reconstruction"], "kl": report["kl"], "elbo": report["elbo"],
        "active_units": units["count"], "kl_per_dim": units["kl_per_dim"], "variance": units["variance"],
        "mig_per_factor": gaps["per_factor"], "mutual_information": gaps["mutual_information"],
        "factor_entropy": entropies, "protocol": scores["protocol"], "skipped": scores["skipped"],
        "eval_seconds": timings,
    }


def _entropy(a: np.ndarray) -> float:
    _, counts = np.unique(a, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


# --------------------------------------------------------------------------- lanes


def plan(models: list[str], seeds: list[int], lane: str | None) -> list[tuple[str, int]]:
    """The (model, seed) runs of a lane: every other run of the seed-major list, so each lane mixes models."""
    runs = [(model, seed) for seed in seeds for model in models]
    if lane is None:
        return runs
    return runs[0::2] if lane == "a" else runs[1::2]


def run_lane(args: argparse.Namespace) -> None:
    grid = SpriteGrid()
    out = Path(args.out)
    json_path = Path(args.json) if args.json else out / f"disentangle_{args.lane or 'all'}.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    state = json.loads(json_path.read_text()) if args.resume and json_path.exists() else {"runs": {}}
    started = state.get("meta", {}).get("date")  # a resumed lane keeps the date its first run began
    state["meta"] = {**_meta(args), **({"date": started} if started else {})}
    runs = plan(args.models, args.seeds, args.lane)
    images = _drawn(grid, args)
    log(f"lane {args.lane or 'all'}: {len(runs)} runs of {args.steps} steps: "
        + ", ".join(f"{m}/s{s}" for m, s in runs) + f"; JSON {json_path}")
    recon_x = torch.from_numpy(grid.observations(grid.factors(fixed_rows(grid, args.recon_rows, RECON_SEED)),
                                                 dtype=np.float32))
    for i, (name, seed) in enumerate(runs, 1):
        key = f"{name}/{seed}"
        if key in state["runs"]:
            log(f"{key}: done already, skipped (--resume)")
            continue
        log(f"run {i}/{len(runs)}: {key}, {args.steps} steps")
        model, _, seconds = train(name, seed, args.steps, args.threads, grid, args.progress_every, images,
                                  lr_min=args.lr_min,
                                  optimiser=args.optimiser, network=args.network, flush=not args.keep_subnormals,
                                  precision=args.precision)
        folder = out / "models" / f"{name}_s{seed}"
        model.save_pretrained(folder, overwrite=True)
        log(f"{key}: trained in {seconds:.0f} s ({seconds / args.steps * 1e3:.0f} ms/step), saved to {folder}; scoring")
        result = evaluate_run(model, grid, args, recon_x)
        result.update({"model": name, "seed": seed, "steps": args.steps, "train_seconds": seconds,
                       "model_dir": str(folder), "settings": MODELS[name]})
        state["runs"][key] = result
        atomic_write(json_path, lambda f: f.write(json.dumps(state, indent=1)), mode="w")
        t = result["eval_seconds"]
        log(f"{key}: MIG {result['mig']:.3f}  SAP {result['sap']:.3f}  DCI {result['dci_disentanglement']:.3f}/"
            f"{result['dci_completeness']:.3f}/{result['dci_informativeness']:.3f}  beta-VAE {result['betavae']:.3f}  "
            f"FactorVAE {result['factorvae']:.3f}  recon {result['reconstruction']:.1f}  KL {result['kl']:.1f}  "
            f"active {result['active_units']}  (scoring {sum(t.values()):.0f} s: "
            + ", ".join(f"{k} {v:.0f} s" for k, v in t.items()) + ")")
    log(f"lane {args.lane or 'all'} finished")


def _drawn(grid: SpriteGrid, args: argparse.Namespace) -> np.ndarray | None:
    """The grid's images from ``--sprites-cache`` (drawn there first if missing), or None to render them as read."""
    if not args.sprites_cache:
        return None
    log(f"sprites: the grid's images from {args.sprites_cache}")
    return grid.drawn(args.sprites_cache)


def _meta(args: argparse.Namespace) -> dict:
    return {
        "network": args.network, "optimiser": args.optimiser, "steps": args.steps, "lr_min": args.lr_min, "threads": args.threads,
        "flush_denormal": not args.keep_subnormals, "precision": args.precision,
        "sprites": "read from the drawn grid" if args.sprites_cache else "rendered as read",
        # FactorVAE's discriminator on the VAE's schedule (the trainer since 2026-12-03 17:45 UTC; before, at 1e-3
        # throughout): lanes of before lack the key, so --report will not merge them with later ones
        "discriminator_lr": "the VAE's schedule, at its share",
        "metric_points": args.metric_points, "score_points": args.score_points, "recon_rows": args.recon_rows,
        "dci_trees": DCI_TREES, "cpu": cpu_name(), "machine": platform.machine(), "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


# --------------------------------------------------------------------------- calibration


def calibrate(args: argparse.Namespace) -> None:
    """Time 50 steps of each model (after 5 warm-up steps), the MLP against the conv net, and the metrics."""
    grid = SpriteGrid()
    warm, timed = 5, 50
    per_step: dict[str, float] = {}
    # The timed steps fall inside one shuffle window; reading (rendering) a window is paid every
    # WINDOW_BYTES / row bytes / batch_size steps, timed apart and spread over them.
    images = _drawn(grid, args)
    data = grid.streamed(block_rows=BLOCK_ROWS, window_bytes=WINDOW_BYTES, images=images)
    started = time.perf_counter()
    batch = args.optimiser["batch_size"]
    first = next(iter(data.batch_pairs(batch, 0, 0)))[0]
    window_rows = WINDOW_BYTES // first[0].nbytes
    data_step = (time.perf_counter() - started) / (window_rows / batch)
    log(f"data: one window of {window_rows} images {'read' if images is not None else 'rendered'} in {data_step * window_rows / batch:.1f} s, "
        f"{data_step * 1e3:.1f} ms per step")
    for name in args.models:
        _, source, _ = train(name, 0, warm + timed, args.threads, grid, every=0, images=images,
                             flush=not args.keep_subnormals,
                             optimiser=args.optimiser, network=args.network, precision=args.precision)
        per_step[name] = (source.step_times[-1] - source.step_times[warm]) / timed + data_step
        log(f"{name}: {per_step[name] * 1e3:.0f} ms/step with the data ({network_name(args.network)}, batch {batch}, {args.threads} thread)")
    # The other network family beside it: vaekit's default conv net (channels 32, 64, 128) beside the MLP, the MLP
    # beside a conv net; the rest the same.
    other = {**args.network, "arch": "mlp" if args.network["arch"] == "conv" else "conv"}
    _, source, _ = train("vae", 0, warm + timed, args.threads, grid, every=0, images=images,
                         flush=not args.keep_subnormals, optimiser=args.optimiser, precision=args.precision, network=other)
    seconds = (source.step_times[-1] - source.step_times[warm]) / timed + data_step
    log(f"vae on the {network_name(other)}: {seconds * 1e3:.0f} ms/step")

    metric_seconds = _time_metrics(grid, args) if args.metric_points else 0.0
    budget = args.budget_minutes * 60
    slowest = max(per_step, key=per_step.get)
    print()
    print("| model | ms / step (with the data) | steps in the budget |")
    print("|---|---|---|")
    for name, seconds in per_step.items():
        print(f"| {name} | {seconds * 1e3:.0f} | {int(budget // seconds)} |")
    print()
    print(f"{args.budget_minutes:g} min of training fits {int(budget // per_step[slowest])} steps of the slowest "
          f"model ({slowest}); scoring one run takes {metric_seconds:.0f} s more at --metric-points "
          f"{args.metric_points} --score-points {args.score_points}.")


def _time_metrics(grid: SpriteGrid, args: argparse.Namespace) -> float:
    """Each metric on an untrained VAE's codes at the counts given, timed one by one.

    An untrained encoder's codes barely vary, so the FactorVAE score would prune
    every dimension and stop early; here it prunes none, to cost what a trained model's does.
    """
    model, _ = build("vae", 0, args.threads)
    model.eval()
    encode = encoder(model)
    n_eval = max(1, args.score_points // 2)
    timings = {}
    started = time.perf_counter()
    recon_x = torch.from_numpy(grid.observations(grid.factors(fixed_rows(grid, args.recon_rows, RECON_SEED)),
                                                 dtype=np.float32))
    evaluate(model, recon_x)
    active_units(model, recon_x)
    timings[f"reconstruction + active units ({args.recon_rows} rows)"] = time.perf_counter() - started
    started = time.perf_counter()
    factors = grid.factors(fixed_rows(grid, args.metric_points, CODES_SEED))
    codes = np.concatenate([encode(grid.observations(factors[s : s + 4096])) for s in range(0, len(factors), 4096)])
    timings[f"render + encode {len(factors)} codes"] = time.perf_counter() - started
    steps = [
        ("MIG", lambda: mig(codes, factors)),
        ("SAP (SVM)", lambda: sap(codes, factors)),
        ("SAP (continuous)", lambda: sap(codes, factors, continuous=True)),
        (f"DCI ({DCI_TREES} trees)", lambda: dci(codes, factors)),
        (f"beta-VAE score ({args.score_points}/{n_eval} points)",
         lambda: betavae_score(encode, grid.sample_factors, grid.observations, n_train=args.score_points,
                               n_eval=n_eval)),
        (f"FactorVAE score ({args.score_points}/{n_eval} votes)",
         lambda: factorvae_score(encode, grid.sample_factors, grid.observations, n_train=args.score_points,
                                 n_eval=n_eval, prune=0.0)),
    ]
    for label, step in steps:
        started = time.perf_counter()
        step()
        timings[label] = time.perf_counter() - started
        log(f"{label}: {timings[label]:.1f} s")
    print()
    print("| scoring step | seconds |")
    print("|---|---|")
    for label, seconds in timings.items():
        print(f"| {label} | {seconds:.1f} |")
    print(f"| total | {sum(timings.values()):.1f} |")
    return sum(timings.values())


# --------------------------------------------------------------------------- report


def report(args: argparse.Namespace) -> None:
    runs: dict[str, dict] = {}
    metas = []
    for path in args.report:
        state = json.loads(Path(path).read_text())
        runs.update(state["runs"])
        metas.append(state.get("meta", {}))
    order = [m for m in MODELS if any(r["model"] == m for r in runs.values())]
    by_model = {m: sorted((r for r in runs.values() if r["model"] == m), key=lambda r: r["seed"]) for m in order}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = _table(by_model, metas)
    lines += [""] + _factor_table(by_model)
    lines += [""] + _targets(by_model)
    pictures = []
    for name, group in by_model.items():
        best = max(group, key=lambda r: r["mig"])
        path = out / f"disentangle_{name}.png"
        _traversal_picture(best, path)
        pictures.append(f"[{name}]({path.name}) (seed {best['seed']}, MIG {best['mig']:.3f})")
        log(f"traversals of {name} seed {best['seed']} -> {path}")
    lines += ["", "Traversals of each model's best seed by MIG (row i sweeps z_i over +-"
              f"{TRAVERSAL_SPAN:g} around a centred heart; labelled with the factor z_i shares most information "
              "with, normalised by the factor's entropy, and the MIG gap when z_i is that factor's top latent): "
              + ", ".join(pictures) + "."]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        atomic_write(args.markdown, lambda f: f.write(text + "\n"), mode="w")
    merged = {"meta": metas, "runs": runs}
    atomic_write(out / "disentangle.json", lambda f: f.write(json.dumps(merged, indent=1)), mode="w")


def network_name(network: dict) -> str:
    """A lane's network in words: ``MLP 4096-512-512-10``, or ``conv net 16-32-64-64 (kernel 3, stride 2), 10 latents``."""
    if network.get("arch") == "conv":
        channels = str(network["conv_channels"]).replace(",", "-")
        return f"conv net {channels} (kernel 3, stride 2), {network['latent_dim']} latents"
    return f"MLP 4096-{str(network['hidden_dims']).replace(',', '-')}-{network['latent_dim']}"


def _mean_std(values: list[float]) -> tuple[float, float]:
    a = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if a.size == 0:
        return math.nan, math.nan
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def _cell(values: list[float], digits: int = 3) -> str:
    mean, std = _mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def label(name: str) -> str:
    """A model's name in the tables: beta-VAE's rows with their beta."""
    return f"{name} (beta {MODELS[name]['beta']:g})" if name in BETA_CURVE and name in MODELS else name


def _table(by_model: dict[str, list[dict]], metas: list[dict]) -> list[str]:
    lines = []
    if metas:
        meta = metas[0]
        differ = sorted({k for m in metas for k in set(m) | set(meta) if k != "date" and m.get(k) != meta.get(k)})
        if differ:  # one table is one protocol: lanes may differ in their start only
            raise SystemExit(f"the lanes' JSON files differ in {', '.join(differ)}: report them apart")
        dates = sorted({m.get("date", "?") for m in metas})
        lines += [
            f"Lanes started {', '.join(dates)}; {meta.get('cpu', '?')}, {meta.get('threads', 1)} torch thread per run, "
            f"torch {meta.get('torch', '?')}" + (", matrix products in bf16" if meta.get("precision") == "bf16" else "")
            + f"; {network_name(meta.get('network', LANES_BEFORE_NETWORK_KEY))}; "
            f"{meta.get('steps', '?')} steps of batch "
            f"{meta.get('optimiser', {}).get('batch_size', '?')} per model and seed, Adam at "
            f"{meta.get('optimiser', {}).get('lr', '?')}"
            + (f" on a cosine down to {meta['lr_min']:g}; " if meta.get("lr_min") is not None else "; ")
            + f"metrics on {meta.get('metric_points', '?')} codes (DCI with {meta.get('dci_trees', '?')} trees), "
            f"beta-VAE / FactorVAE scores from {meta.get('score_points', '?')} training and "
            f"{meta.get('score_points', 0) // 2} evaluation points / votes; reconstruction over "
            f"{meta.get('recon_rows', '?')} grid rows. Mean ± std (ddof 1) over seeds.",
            "",
        ]
    lines.append("| model | seeds | " + " | ".join(HEADERS) + " | recon (nats) | KL (nats) | active | train s | score s |")
    lines.append("|---|---|" + "---|" * (len(HEADERS) + 5))
    for name, group in by_model.items():
        cells = [_cell([r.get(key) for r in group]) for key in METRICS]
        recon = _cell([r["reconstruction"] for r in group], 1)
        kl = _cell([r["kl"] for r in group], 1)
        active = _cell([r["active_units"] for r in group], 1)
        train_s = f"{_mean_std([r['train_seconds'] for r in group])[0]:.0f}"
        score_s = f"{_mean_std([sum(r['eval_seconds'].values()) for r in group])[0]:.0f}"
        seeds = ",".join(str(r["seed"]) for r in group)
        lines.append(f"| {label(name)} | {seeds} | " + " | ".join(cells) + f" | {recon} | {kl} | {active} | {train_s} | "
                     f"{score_s} |")
    return lines


def _factor_table(by_model: dict[str, list[dict]]) -> list[str]:
    """MIG factor by factor (the gap of each factor's top two latents over its entropy): which factors a model found."""
    names = list(next(iter(by_model.values()))[0]["mig_per_factor"])
    lines = ["MIG per factor (mean ± std over seeds):", "", "| model | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    for name, group in by_model.items():
        lines.append(f"| {label(name)} | " + " | ".join(_cell([r["mig_per_factor"][k] for r in group], 2) for k in names)
                     + " |")
    return lines


def _targets(by_model: dict[str, list[dict]]) -> list[str]:
    def mean(name: str, key: str) -> float:
        return _mean_std([r.get(key) for r in by_model.get(name, [])])[0]

    lines = ["Targets (means over seeds):", ""]
    curve = [name for name in BETA_CURVE if name in by_model]
    for name in by_model:
        if MODELS.get(name, {}).get("objective") not in TC_OBJECTIVES:
            continue
        recon = mean(name, "reconstruction")
        if len(curve) >= 2:  # the target: above beta-VAE's curve at the objective's own reconstruction
            for key, label in (("mig", "MIG"), ("factorvae", "FactorVAE score")):
                ours = mean(name, key)
                points = [(mean(n, "reconstruction"), mean(n, key), n) for n in curve]
                theirs, where = curve_at(points, recon)
                recons = [p[0] for p in points]
                inside = min(recons) / (1 + COMPARABLE) <= recon <= max(recons) * (1 + COMPARABLE)
                verdict = ("met" if ours > theirs else "not met") if inside else "not judged, outside the curve"
                lines.append(f"- {name} above beta-VAE on {label} at its reconstruction ({recon:.1f} nats): "
                             f"{verdict} ({ours:.3f} vs {theirs:.3f}, {where})")
        else:
            lines.append(f"- {name} against beta-VAE's curve: not judged, fewer than two of {', '.join(BETA_CURVE)} ran")
        if "beta-vae" in by_model:  # and against the one beta-VAE of the literature's tables, beta = 4
            for key, label in (("mig", "MIG"), ("factorvae", "FactorVAE score")):
                ours, theirs = mean(name, key), mean("beta-vae", key)
                lines.append(f"  - against beta-VAE at beta 4 alone, on {label}: {'above' if ours > theirs else 'not above'} "
                             f"({ours:.3f} vs {theirs:.3f})")
            theirs = mean("beta-vae", "reconstruction")
            within = recon <= (1 + COMPARABLE) * theirs  # a better reconstruction is no fault
            lines.append(f"  - its reconstruction at most {COMPARABLE:.0%} worse than beta 4's: "
                         f"{'yes' if within else 'no'} ({recon:.1f} vs {theirs:.1f} nats, {recon / theirs - 1:+.1%})")
    for name in by_model:  # every beta-TCVAE row: Chen et al.'s weights, and any other alpha, beta, gamma
        if MODELS.get(name, {}).get("objective") != "tcvae":
            continue
        value = mean(name, "mig")
        which = "" if name == "beta-tcvae" else f" ({name})"
        lines.append(f"- beta-TCVAE{which} MIG >= 0.20: {'met' if value >= 0.20 else 'not met'} ({value:.3f})")
        lines.append(f"- stretch, beta-TCVAE{which} MIG >= 0.38: {'met' if value >= 0.38 else 'not met'} ({value:.3f})")
    return lines


def curve_at(points: list[tuple[float, float, str]], recon: float) -> tuple[float, str]:
    """A metric of beta-VAE at reconstruction ``recon``, from its rows' (reconstruction, metric, name) means.

    Linear between the two rows whose reconstructions bracket ``recon``; outside
    their range, the nearest row's value (the curve is not extrapolated, and
    :func:`_targets` judges only within ``COMPARABLE`` of its ends).
    Returns the value and which rows it came from.
    """
    points = sorted(points)
    if recon <= points[0][0]:
        return points[0][1], f"{points[0][2]}'s, which reconstructs best ({points[0][0]:.1f})"
    if recon >= points[-1][0]:
        return points[-1][1], f"{points[-1][2]}'s, which reconstructs worst ({points[-1][0]:.1f})"
    for (r0, v0, n0), (r1, v1, n1) in zip(points, points[1:]):
        if r0 <= recon <= r1:
            t = (recon - r0) / (r1 - r0) if r1 > r0 else 0.0
            return v0 + t * (v1 - v0), f"between {n0} ({r0:.1f} nats, {v0:.3f}) and {n1} ({r1:.1f} nats, {v1:.3f})"
    raise AssertionError("unreachable: recon lies inside the sorted points' range")


def latent_labels(run: dict, threshold: float = 0.01) -> list[str]:
    """One label per latent: the factor it shares most (normalised) information with, and its MIG gap if it leads."""
    names = list(run["mig_per_factor"]) if len(run["mig_per_factor"]) == len(run["factor_entropy"]) else None
    names = names or ["shape", "scale", "rotation", "x", "y"]
    info = np.asarray(run["mutual_information"])  # (F, Z) nats
    entropy = np.asarray(run["factor_entropy"])[:, None]  # (F, 1)
    normalised = np.where(entropy > 0, info / np.where(entropy > 0, entropy, 1.0), 0.0)  # (F, Z)
    labels = []
    for j in range(info.shape[1]):
        kl = (run.get("kl_per_dim") or [math.inf] * info.shape[1])[j]
        if run["variance"][j] <= threshold or kl <= threshold:
            labels.append(f"z{j}: inactive (KL {kl:.2f})")
            continue
        k = int(normalised[:, j].argmax())
        leads = int(normalised[k].argmax()) == j
        gap = f", gap {run['mig_per_factor'].get(names[k], 0.0):.2f}" if leads else ", not top"
        labels.append(f"z{j}: {names[k]} (NMI {normalised[k, j]:.2f}{gap})")
    return labels


def _traversal_picture(run: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - matplotlib only when drawing
    from matplotlib.figure import Figure  # noqa: PLC0415

    from vaekit import explore  # noqa: PLC0415
    from vaekit.images import image_grid  # noqa: PLC0415

    model = VAE.from_pretrained(run["model_dir"])
    grid = SpriteGrid()
    x = torch.from_numpy(grid.observations(np.array([TRAVERSAL_BASE]), dtype=np.float32))  # (1, 1, 64, 64)
    base = model.embed(x)[0]
    walks = explore.traverse(model, steps=TRAVERSAL_STEPS, span=TRAVERSAL_SPAN, base=base).numpy()  # (Z, S, 1, H, W)
    rows, cols = walks.shape[:2]
    pixels = image_grid(walks.reshape(rows * cols, *walks.shape[2:]), nrow=cols, padding=2)  # (H', W')
    labels = latent_labels(run)
    fig = Figure(figsize=(3.0 + 0.7 * cols, 0.7 * rows + 0.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.imshow(pixels, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    side = walks.shape[-1] + 2
    ax.set_yticks([2 + side * i + walks.shape[-1] / 2 for i in range(rows)], labels, fontsize=9)
    ax.set_xticks([2 + side * j + walks.shape[-1] / 2 for j in range(cols)],
                  [f"{v:+.1f}" for v in np.linspace(-TRAVERSAL_SPAN, TRAVERSAL_SPAN, cols)], fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(f"{run['model']} (seed {run['seed']}): MIG {run['mig']:.3f}, FactorVAE score {run['factorvae']:.3f}",
                 fontsize=10)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))


# --------------------------------------------------------------------------- command line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=DEFAULT_MODELS, help=f"comma-separated, of {', '.join(MODELS)}")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    parser.add_argument("--steps", type=int, default=8_000, help="optimiser steps of every model (see --calibrate)")
    parser.add_argument("--batch-size", type=int, default=OPTIMISER["batch_size"], help="rows per step, every model")
    parser.add_argument("--lr", type=float, default=OPTIMISER["lr"], help="Adam's rate of every model (its start with --lr-min)")
    parser.add_argument("--lr-min", type=float,
                        help="decay every model's rate on a cosine over the steps down to this (default: constant)")
    parser.add_argument("--hidden-dims", default=NETWORK["hidden_dims"],
                        help="the MLP's hidden widths, every model (narrower: more steps in the same minutes)")
    parser.add_argument("--conv-channels", metavar="C1,C2,...",
                        help="vaekit's conv net with these channels per stride-2 level instead of the MLP, every "
                             "model (a decoder that shifts by construction; 8-15x the MLP's seconds a step)")
    parser.add_argument("--sprites-cache", metavar="NPY",
                        help="read the grid's images from this .npy (3 GB; drawn there first if missing) instead of "
                        "rendering each batch: the same batches, the drawing's time (about 14 ms a step) saved")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="the trainer's precision: bf16 autocasts the matrix products (faster on CPUs with AMX)")
    parser.add_argument("--keep-subnormals", action="store_true",
                        help="train without TrainConfig.flush_denormal (the trainer before 2026-12-03), to time its cost")
    parser.add_argument("--lane", choices=("a", "b"), help="run every other (model, seed): a the 1st, 3rd, ...")
    parser.add_argument("--json", help="results of this lane, written after each run (default OUT/disentangle_LANE.json)")
    parser.add_argument("--resume", action="store_true", help="skip the runs already in --json")
    parser.add_argument("--out", default="runs/disentangle", help="lanes: models go to OUT/models; --report: pictures")
    parser.add_argument("--metric-points", type=int, default=10_000, help="grid rows coded for MIG, SAP and DCI")
    parser.add_argument("--score-points", type=int, default=1_000,
                        help="training points / votes of the beta-VAE and FactorVAE scores (evaluation: half)")
    parser.add_argument("--recon-rows", type=int, default=5_000, help="fixed grid rows for reconstruction and active units")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--progress-every", type=int, default=500, help="print progress every this many steps")
    parser.add_argument("--calibrate", action="store_true", help="time 50 steps of each model and the metrics, then stop")
    parser.add_argument("--budget-minutes", type=float, default=10.0, help="--calibrate: training minutes per run")
    parser.add_argument("--report", nargs="+", metavar="JSON", help="merge lanes' JSON: table, targets, traversals")
    parser.add_argument("--markdown", help="--report: also write the table and targets here")
    args = parser.parse_args()
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.optimiser = {"batch_size": args.batch_size, "lr": args.lr}  # in the lanes' JSON; --report reads them there
    args.network = {**NETWORK, "hidden_dims": args.hidden_dims}
    if args.conv_channels is not None:  # read by vaekit's own config rules, as `vaekit train --conv-channels` is
        try:
            conv = resolve_config(None, {**args.network, "arch": "conv", "conv_channels": args.conv_channels},
                                  spec_data=False)
            conv.validate()
        except ConfigError as error:
            parser.error(f"--conv-channels: {error}")
        args.network.update(arch="conv", conv_channels=",".join(map(str, conv.model.conv_channels)))
    torch.set_num_threads(args.threads)
    if args.report:
        report(args)
    elif args.calibrate:
        calibrate(args)
    else:
        run_lane(args)


if __name__ == "__main__":
    main()
