"""Train into a run folder and write everything a person looks at afterwards.

A run folder holds ``config.json``, ``model.safetensors``, ``metrics.csv``,
``summary.json``, the pictures (``curves.png``, ``samples.png``,
``reconstructions.png``, ``latent.png``, ``traversals.png``, and
``manifold.png`` for a 2-D latent space), ``report.html`` (all of it on one
page), ``checkpoints/`` for resuming and, if asked for, ``tensorboard/``.
Everything that can be wrong with the inputs is checked before the first
byte is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vaekit import explore, images
from vaekit.config import RunConfig, load_config_file
from vaekit.data import (
    Dataset,
    dataset_from_array,
    load_data,
    source_kind,
    split_indices,
    split_rows,
    take_rows,
    validate_for_likelihood,
)
from vaekit.data import labels as label_rules
from vaekit.data.streaming import STREAMED_SAMPLE_ROWS, StreamedDataset
from vaekit.errors import ConfigError, DataError, RunDirError
from vaekit.evaluation import binarize_once
from vaekit.files import atomic_write
from vaekit.io import CONFIG_FILE, load, load_run_config, save_config, save_model
from vaekit.models import build_model, check_model_config, model_class
from vaekit.presets import data_preset
from vaekit.presets import preset as preset_settings
from vaekit.report import REPORT_FILE, write_report
from vaekit.run_dir import (
    CHECKPOINT_DIR,
    LABELLED_FILE,
    METRICS_FILE,
    check_run_dir,
    clear_run_dir,
    read_metrics,
    read_summary,
    run_lock,
    write_metrics,
    write_summary,
)
from vaekit.samplers import MIN_ROWS_PER_COMPONENT, GaussianMixtureSampler, fit_sampler, save_samplers
from vaekit.summary import LATENT_KEYS, summarize
from vaekit.tensorboard_log import TENSORBOARD_DIR, TensorBoardLogger, summary_writer_class
from vaekit.training import Trainer, budget, distributed
from vaekit.training.checkpoint import sweep_temp_files

#: Keys that may differ when a run is resumed (to train it for longer).
RESUMABLE_CHANGES = {"epochs", "patience", "num_threads", "checkpoint_every", "keep_checkpoints", "device", "compile"}
EVAL_SAMPLES = 10  # posterior draws per row in summary.json: steadier than one
LATENT_ROWS = 5000  # rows for the active units in summary.json: enough for a steady variance
N_PICTURE_SAMPLES = 64
GMM_ROWS = 20_000  # training codes the end-of-run Gaussian mixture is fitted to, at most
N_RECONSTRUCTIONS = 32
TRAVERSAL_STEPS = 9  # odd, so the middle column is z_i = 0


class PosteriorCollapseWarning(UserWarning):
    """No latent dimension carries information: the decoder ignores z."""


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained model and where its files are."""

    model: nn.Module
    config: RunConfig
    history: list[dict[str, float]]
    summary: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None


def resolve_config(
    config: RunConfig | dict | str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    preset_name: str | None = None,
    *,
    source: str = "config",
    spec_data: bool = True,
) -> RunConfig:
    """Defaults, then a preset, then a config object / mapping / YAML file, then ``overrides``.

    Without a named preset, a built-in dataset's own (``presets.DATA_PRESETS``:
    ``digits`` trains what ``vaekit demo`` trains) takes the preset's place,
    unless ``spec_data`` is False (the data is an array, not the config's spec).
    """
    resolved = _resolve(config, overrides, preset_name, source)
    if preset_name is None and spec_data and (own := data_preset(resolved.data.data)) is not None:
        resolved = _resolve(config, overrides, own, source)
    return resolved


def _resolve(config, overrides, preset_name: str | None, source: str) -> RunConfig:
    base = RunConfig()
    if preset_name is not None:
        base = base.updated(preset_settings(preset_name), source=f"preset {preset_name}")
    if isinstance(config, RunConfig):
        resolved = config
    elif isinstance(config, dict):
        resolved = base.updated(config, source=source)
    elif config is not None:
        resolved = base.updated(load_config_file(config), source=str(config))
    else:
        resolved = base
    return resolved.updated({k: v for k, v in (overrides or {}).items() if v is not None}, source="arguments")


def train(
    data: str | Dataset | np.ndarray | None = None,
    out: str | Path | None = None,
    *,
    config: RunConfig | dict | str | Path | None = None,
    preset: str | None = None,
    resume: str | None = None,
    overwrite: bool = False,
    quiet: bool = False,
    tensorboard: bool = False,
    encoder: nn.Module | None = None,
    decoder: nn.Module | None = None,
    prior: nn.Module | None = None,
    **overrides: Any,
) -> TrainResult:
    """Train a model and, when ``out`` is given, write its run folder.

    Parameters
    ----------
    data:
        A data spec (``"digits"``, ``"mnist"``, a file path, ...), a
        :class:`Dataset`, or an array (N, D) / (N, C, H, W). Defaults to the
        spec in ``config`` (``digits`` if none).
    out:
        Run folder to write; ``None`` trains in memory only.
    config:
        A :class:`RunConfig`, a mapping, or a YAML/JSON file with the same keys.
    preset:
        Named settings from ``vaekit.presets.PRESETS`` (e.g. ``"mnist-mlp"``),
        applied under ``config`` and ``overrides``.
    resume:
        ``"auto"``: continue from the newest checkpoint in ``out`` if there is one.
    overwrite:
        Replace an existing run folder.
    quiet:
        No progress bar and no per-epoch lines.
    tensorboard:
        Also log metrics and sample grids to ``out/tensorboard`` (needs
        ``out`` and ``pip install 'vaekit[tensorboard]'``).
    encoder, decoder, prior:
        Parts of your own instead of vaekit's (see :class:`~vaekit.models.VAE`);
        resuming and loading the run need the same ones passed again. A
        string ``prior`` is the config setting (``"normal"``, ``"mog"``, ``"vamp"``).
    **overrides:
        Any config key, e.g. ``latent_dim=8, epochs=20``.

    Examples
    --------
    >>> result = vaekit.train("digits", epochs=2, quiet=True)   # doctest: +SKIP
    >>> result.summary["val"]["elbo"]                            # doctest: +SKIP
    """
    if resume not in (None, "auto"):
        raise ConfigError(f"invalid value for 'resume': {resume!r} (use 'auto')")
    if isinstance(data, str):
        overrides["data"] = data
    run_dir = None if out is None else Path(out)
    if isinstance(prior, str):  # the config setting of the same name, not a module of your own
        overrides["prior"], prior = prior, None
    source = "config"
    if isinstance(config, (str, Path)):  # read the file once: for the settings and, on resume, its keys
        source, config = str(config), load_config_file(config)
    cfg = resolve_config(config, overrides, preset, source=source, spec_data=data is None or isinstance(data, str))
    cfg.validate()  # settings first: no data is read (or downloaded) for a bad config
    # The family's options, typed and complete ("2" from a flag is 2), as the saved config will hold them.
    cfg.model.options = dataclasses.asdict(check_model_config(cfg.model))
    if tensorboard:
        if run_dir is None:
            raise ConfigError("tensorboard=True needs a run folder to log into: pass out=RUN_DIR")
        summary_writer_class()  # a missing package is reported before anything is written
    # Under torchrun: join the process group; rank 0 alone reads and writes the run folder.
    distributed.init_process_group(distributed.resolve_device(cfg.train.device))
    resuming = False
    if run_dir is not None:
        resuming = distributed.on_main(lambda: check_run_dir(run_dir, resume, overwrite))
        if resuming:
            given = set(overrides) | _keys_of(config) | set(preset_settings(preset) if preset else {})
            cfg = _resume_config(run_dir, cfg, given)

    dataset = _as_dataset(data, cfg, progress=not quiet and distributed.is_main())
    validate_for_likelihood(dataset, cfg.model.likelihood)
    if cfg.model.input_shape is not None and tuple(cfg.model.input_shape) != dataset.sample_shape:
        raise ConfigError(
            f"the data's sample shape {dataset.sample_shape} differs from the run's input_shape "
            f"{tuple(cfg.model.input_shape)}"
        )
    cfg.model.input_shape = dataset.sample_shape
    cfg.validate()
    train_idx, val_idx = split_rows(dataset, cfg.train.val_fraction, cfg.train.seed)
    labels = _training_labels(cfg, dataset, train_idx)  # sets num_classes, condition_dim, classifier_weight
    cfg.validate()
    parts = {"encoder": encoder, "decoder": decoder, "prior": prior}
    # Refuse what cannot fit before the first step (and before the folder is touched), not after minutes.
    needs = budget.estimate(
        lambda: _build(cfg, parts), (cfg.train.batch_size, *dataset.sample_shape), cfg.train.keep_checkpoints
    )
    budget.check_fits(needs, run_dir, on_cpu=distributed.resolve_device(cfg.train.device).type == "cpu")

    if preset is None and not quiet and isinstance(data, str | None) and (own := data_preset(cfg.data.data)):
        print(f"--data {cfg.data.data}: the {own} preset's settings (--preset or flags change them)", file=sys.stderr)
    # Inputs are valid: from here on the run folder may be written.
    with contextlib.ExitStack() as stack:
        if run_dir is not None and distributed.is_main():
            run_dir.mkdir(parents=True, exist_ok=True)
            stack.enter_context(run_lock(run_dir))
            # Decided again under the lock: another run may have finished in between.
            if check_run_dir(run_dir, resume, overwrite) != resuming:
                raise RunDirError(f"run folder {run_dir} changed while this run was starting; start it again")
            sweep_temp_files(run_dir)  # half-written pictures or summaries of a killed run
            if not resuming:
                clear_run_dir(run_dir)  # --overwrite, or the remains of a run killed at start-up
            save_config(run_dir, cfg)
            if labels is not None and labels.labelled is not None:
                _write_labelled_rows(run_dir, cfg, labels)
        callbacks = [stack.enter_context(TensorBoardLogger(run_dir / TENSORBOARD_DIR))] if tensorboard and distributed.is_main() else []
        result = _train_into(run_dir, cfg, dataset, train_idx, val_idx, resuming, quiet, callbacks, labels, parts)
    return result


@dataclass
class RunLabels:
    """The labels a conditional model trains on, decided before the first step."""

    y: np.ndarray
    """Per data row, what the model sees: classes (-1 where m2 hides or lacks the label) or covariates."""
    fit_rows: np.ndarray
    """The training rows of an epoch (m2: labelled rows repeated)."""
    true: np.ndarray | None = None
    """m2: every label the data has, for measuring accuracy (never trained on)."""
    labelled: np.ndarray | None = None
    """m2: the rows whose labels are kept."""


def _training_labels(cfg: RunConfig, dataset, train_idx) -> RunLabels | None:
    """Labels for a model that takes them (cvae, m2), checked; None for the others."""
    family = model_class(cfg.model)
    name = cfg.model.model
    if cfg.data.labels_per_class is not None and not family.semi_supervised:
        raise ConfigError(f"labels_per_class chooses the labelled rows of m2; model '{name}' does not use it")
    if not family.conditional:
        return None
    if isinstance(dataset, StreamedDataset):
        raise ConfigError(f"model '{name}' trains on labels, which streamed data does not carry; use --loading memory")
    if dataset.y is None:
        raise DataError(
            f"model '{name}' needs labels but {dataset.name} has none; use data with labels "
            "(digits, mnist, sprites, a .npz with y, or a table with --label-column)"
        )
    if cfg.model.condition_dim or (np.asarray(dataset.y).ndim == 2 and not family.semi_supervised):
        y = label_rules.covariates(dataset.y, dataset.name)
        if cfg.model.condition_dim not in (0, y.shape[1]):
            raise DataError(f"{dataset.name} has {y.shape[1]} covariates but condition_dim is {cfg.model.condition_dim}")
        cfg.model.condition_dim = y.shape[1]
        return RunLabels(y=y, fit_rows=train_idx)
    y = label_rules.class_labels(dataset.y, dataset.name, allow_missing=family.semi_supervised)
    classes = int(y.max()) + 1 if (y >= 0).any() else 0
    if cfg.model.num_classes == 0:
        cfg.model.num_classes = max(classes, 2)
    elif classes > cfg.model.num_classes:
        raise DataError(f"{dataset.name} has labels up to {classes - 1} but num_classes is {cfg.model.num_classes}")
    if not family.semi_supervised:
        return RunLabels(y=y, fit_rows=train_idx)
    rows = label_rules.semi_supervised_rows(
        y, train_idx, cfg.data.labels_per_class, cfg.train.labelled_share, cfg.train.seed
    )
    seen = np.full_like(y, label_rules.UNLABELLED)
    seen[rows.labelled] = y[rows.labelled]
    if cfg.model.options.get("classifier_weight") is None:
        cfg.model.options["classifier_weight"] = label_rules.kingma_classifier_weight(len(train_idx), len(rows.labelled))
    return RunLabels(y=seen, fit_rows=rows.fit_rows, true=y, labelled=rows.labelled)


def _write_labelled_rows(run_dir: Path, cfg: RunConfig, labels: RunLabels) -> None:
    """Record which rows m2 trained with labels (a pure function of data and seed, so resume redraws them)."""
    record = {
        "labels_per_class": cfg.data.labels_per_class, "seed": cfg.train.seed,
        "repeats_per_epoch": int((labels.fit_rows == labels.labelled[0]).sum()),
        "rows": labels.labelled.tolist(),
    }
    atomic_write(run_dir / LABELLED_FILE, lambda f: json.dump(record, f), mode="w")


def labels_for_model(model: nn.Module, data: Dataset) -> torch.Tensor | None:
    """The labels ``model`` takes with ``data``'s rows: None for unconditional models and for
    M2 (which predicts them); classes or covariates for a cvae (an error if the data has none)."""
    if not getattr(model, "conditional", False) or getattr(model, "semi_supervised", False):
        return None
    if data.y is None:
        raise DataError(
            f"model '{model.config.model}' is conditioned on labels but {data.name} has none; "
            "use data with labels (a .npz with y, a table with --label-column)"
        )
    if model.config.condition_dim:
        return torch.from_numpy(label_rules.covariates(data.y, data.name))
    return torch.from_numpy(label_rules.class_labels(data.y, data.name, allow_missing=False))


def _train_into(
    run_dir, cfg, dataset, train_idx, val_idx, resuming, quiet, on_epoch_end=(), labels=None, parts=None
) -> TrainResult:
    torch.manual_seed(cfg.train.seed)  # weight initialisation
    model = _build(cfg, parts)
    log = None if quiet or not distributed.is_main() else (lambda line: print(line, file=sys.stderr, flush=True))
    trainer = Trainer(
        model,
        cfg.train,
        checkpoint_dir=None if run_dir is None else run_dir / CHECKPOINT_DIR,
        progress=not quiet,
        log=log,
        on_epoch_end=on_epoch_end,
    )
    if resuming and trainer.resume_from(run_dir / CHECKPOINT_DIR) and log:
        log(f"resumed from {trainer.last_checkpoint} (epoch {trainer.epoch}, step {trainer.step})")
    started = time.perf_counter()
    if labels is None:
        history = trainer.fit(*_fit_inputs(dataset, train_idx, val_idx))
    else:
        y = torch.from_numpy(labels.y)
        # M2 is validated on the unlabelled bound: the held-out labels are never used for training.
        val_y = None if model.semi_supervised or not len(val_idx) else y[val_idx]
        history = trainer.fit(*_fit_inputs(dataset, labels.fit_rows, val_idx), train_y=y[labels.fit_rows], val_y=val_y)
    seconds = time.perf_counter() - started
    model.to("cpu", memory_format=torch.contiguous_format)  # summaries, pictures and files are made on the CPU
    distributed.barrier()  # every rank has finished training: rank 0 alone writes the files
    if not distributed.is_main():
        return TrainResult(model=model.eval(), config=cfg, history=history, run_dir=run_dir)

    if log:  # the end of a run takes a while on large data: say what it is doing
        log(f"measuring the model ({EVAL_SAMPLES} posterior draws per row) and drawing its pictures")
    if run_dir is None:
        summary = _summary(model, dataset, train_idx, val_idx, trainer, seconds, labels)
        _warn_if_collapsed(summary, model.latent_dim)
        return TrainResult(model=model.eval(), config=cfg, history=history, summary=summary)
    try:  # the end of a run: training is done and checkpointed, what fails here can be written again
        summary = _summary(model, dataset, train_idx, val_idx, trainer, seconds, labels)
        _warn_if_collapsed(summary, model.latent_dim)
        _fit_gmm_sampler(model, dataset, train_idx, cfg.train)
        save_model(run_dir, model, cfg)
        save_samplers(model, run_dir)
        write_metrics(run_dir / METRICS_FILE, history)
        write_summary(run_dir, summary)
        write_pictures(
            run_dir, model, dataset, val_idx if len(val_idx) else train_idx, history, kl_per_dim=summary.get("kl_per_dim")
        )
        write_report(
            run_dir / REPORT_FILE, title=run_dir.resolve().name, config=cfg.to_dict(), summary=summary,
            history=history, picture_dir=run_dir,
        )
    except (RuntimeError, MemoryError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunDirError(
            f"training finished and is saved in {run_dir / CHECKPOINT_DIR}, but writing the run's files failed "
            f"({reason[:200]}); free memory or disk, then run the same command with --resume auto to write them"
        ) from exc
    if log:
        log(f"wrote {run_dir}")
    return TrainResult(model=model.eval(), config=cfg, history=history, summary=summary, run_dir=run_dir)


def _fit_gmm_sampler(model: nn.Module, dataset: Dataset, train_idx, train_cfg) -> None:
    """The Gaussian mixture sampler on the training codes, where there are enough of them (vaekit.samplers)."""
    components = GaussianMixtureSampler().components
    if getattr(model, "conditional", False) or len(train_idx) < MIN_ROWS_PER_COMPONENT * components:
        return
    x = take_rows(dataset, train_idx, GMM_ROWS).x
    fit_sampler(model, sampler_inputs(x, train_cfg.dynamic_binarization, train_cfg.seed), "gmm", seed=train_cfg.seed)


def sampler_inputs(x: np.ndarray, dynamic_binarization: bool, seed: int) -> np.ndarray | torch.Tensor:
    """The rows whose codes a latent sampler is fitted to: as the model saw them in training
    (a model trained on binary draws encodes grey images differently: FID 10.1 against 8.1)."""
    return binarize_once(x, seed) if dynamic_binarization else x


#: Below this KL per input (nats) the code tells the decoder less than how to tell three inputs
#: apart (ln 3 = 1.1 nats): samples and reconstructions come out close to the average input.
WEAK_CODE_KL = 1.0


def _warn_if_collapsed(summary: dict[str, Any], latent_dim: int) -> None:
    """Warn when the latent code carries (next to) nothing: the same measure summary.json prints."""
    kl = (summary.get("val") or summary["train"])["kl"]
    remedies = "remedies: KL warm-up (--kl-warmup-epochs 10), a lower --beta, free bits (--free-bits 0.1)"
    if summary["active_units"] == 0:
        message = (
            f"posterior collapse: none of the {latent_dim} latent dimensions is active (variance of the posterior "
            f"mean across the data <= 0.01 or KL <= 0.01 nats), so the decoder ignores z; {remedies}"
        )
    elif kl < WEAK_CODE_KL:
        message = (
            f"partial posterior collapse: the latent code carries only {kl:.2f} nats per input (KL), so samples and "
            f"reconstructions will look like the average input; {remedies}, or a likelihood that fits "
            "the data (grey-level images: --likelihood gaussian-learned; 8-bit photos: --likelihood logistic-mixture)"
        )
    else:
        return
    warnings.warn(message, PosteriorCollapseWarning, stacklevel=4)


def _build(cfg: RunConfig, parts: dict[str, nn.Module | None] | None) -> nn.Module:
    return build_model(cfg.model, **{name: part for name, part in (parts or {}).items() if part is not None})


# --------------------------------------------------------------------------- resuming


def _keys_of(config: Any) -> set[str]:
    return set(config) if isinstance(config, dict) else set()


def _resume_config(run_dir: Path, requested: RunConfig, given: set[str]) -> RunConfig:
    """The saved config, with only the keys that may change on resume taken from ``requested``."""
    saved = load_run_config(run_dir) if (run_dir / CONFIG_FILE).exists() else requested
    saved_flat = _flat(saved)
    requested_flat = _flat(requested)
    changes = {}
    for key in sorted(given):
        if key not in requested_flat or requested_flat[key] == saved_flat[key]:
            continue
        if key not in RESUMABLE_CHANGES:
            raise ConfigError(
                f"cannot resume with {key}={requested_flat[key]!r}: the run was trained with "
                f"{key}={saved_flat[key]!r}; drop the option or start a new run with --out"
            )
        changes[key] = requested_flat[key]
    return saved.updated(changes)


def _flat(config: RunConfig) -> dict[str, Any]:
    d = config.to_dict()
    return {k: v for section in ("model", "train", "data") for k, v in d[section].items()}


def _as_dataset(data: Any, cfg: RunConfig, progress: bool = True) -> Dataset:
    if isinstance(data, Dataset):
        return data
    if data is not None and not isinstance(data, str):
        # Arrays, tensors and nested lists are data too: never silently ignored.
        try:
            array = np.asarray(data)
        except (ValueError, TypeError) as exc:
            raise DataError(f"cannot use {type(data).__name__} as data ({exc}); pass an array of shape (N, ...)") from None
        return dataset_from_array(array, name=type(data).__name__)
    d = cfg.data
    dataset = load_data(
        d.data, split=d.split, label_column=d.label_column, image_size=d.image_size, image_fit=d.image_fit,
        loading=d.loading, block_mb=d.block_mb, shuffle_window_mb=d.shuffle_window_mb, progress=progress,
    )
    if d.image_size is None and source_kind(d.data) == "image-folder":
        d.image_size = dataset.sample_shape[1:]  # the first image's size, saved so later commands use it
    return dataset


def _fit_inputs(dataset, train_idx, val_idx) -> tuple[Any, Any]:
    """What ``Trainer.fit`` takes: tensors of the split rows, or the streamed parts themselves."""
    if not isinstance(train_idx, np.ndarray):  # streamed: never loaded whole
        return train_idx, val_idx if len(val_idx) else None
    x = torch.from_numpy(dataset.x)
    return x[train_idx], x[val_idx] if len(val_idx) else None


def _row_sample(rows: np.ndarray, limit: int) -> np.ndarray:
    """``rows`` if there are at most ``limit``, else a seeded sample of ``limit`` of them, in order."""
    return rows if len(rows) <= limit else np.sort(np.random.default_rng(0).choice(rows, limit, replace=False))


def _summary(model, dataset, train_idx, val_idx, trainer: Trainer, seconds: float, labels=None) -> dict[str, Any]:
    """summary.json: the run's facts, :func:`vaekit.summary.summarize` of each split, the latent space's
    measures (of the validation rows, else the training rows) at the top level."""
    # Each split is scored on at most STREAMED_SAMPLE_ROWS rows ("n" says how many): a seeded sample of
    # its rows in memory, of whole blocks when streamed. Over 10,000 rows the draw noise of a mean is
    # already a few hundredths of a nat, and all 18,000 training sprites took 13 minutes on a CPU.
    if isinstance(train_idx, np.ndarray):
        train_idx, val_idx = (_row_sample(rows, STREAMED_SAMPLE_ROWS) for rows in (train_idx, val_idx))
    train_rows = take_rows(dataset, train_idx)
    val_rows = take_rows(dataset, val_idx) if len(val_idx) else None
    # A cvae is scored given its labels; m2 on its unlabelled bound, plus the accuracy of its classifier.
    given = None if labels is None or model.semi_supervised else labels.y
    true = None if labels is None else labels.true

    def split(rows: Dataset, index, latent: bool) -> dict[str, Any]:
        known = None if true is None or not (true[index] >= 0).any() else true[index]
        return summarize(
            model, rows.x, y=None if given is None else given[index], labels=known,
            factors=rows.factors, factor_names=rows.factor_names, n_samples=EVAL_SAMPLES,
            latent=latent, latent_rows=LATENT_ROWS,
            binarize=trainer.config.dynamic_binarization,  # scored as `vaekit evaluate` scores it: bits drawn once
        )

    summary: dict[str, Any] = {
        "epochs_trained": trainer.epoch,
        "steps": trainer.step,
        "stopped_early": trainer.stopped_early,
        "best_epoch": trainer.best_epoch or trainer.epoch,
        "train_seconds": round(seconds, 3),
        "train": split(train_rows, train_idx, latent=val_rows is None),
    }
    if trainer.compile_seconds is not None:
        summary["compile_seconds"] = round(trainer.compile_seconds, 3)
    if val_rows is not None:
        summary["val"] = split(val_rows, val_idx, latent=True)
    if labels is not None and labels.true is not None:
        summary["labelled_rows"] = int(len(labels.labelled))
    scored = summary["train" if val_rows is None else "val"]
    summary.update({key: scored.pop(key) for key in LATENT_KEYS if key in scored})
    if summary.get("kl_per_dim") is not None:  # None: the KL does not split by dimension (mixture priors, flows)
        summary["kl_per_dim"] = [round(v, 5) for v in summary["kl_per_dim"]]
    return summary


def write_pictures(
    run_dir: Path,
    model: nn.Module,
    dataset: Dataset,
    index: np.ndarray,
    history: list[dict[str, float]],
    latent_method: str = "pca",
    kl_per_dim: list[float] | None = None,
) -> list[Path]:
    """Training curves, prior samples, reconstructions, the latent scatter and traversals.

    ``latent_method`` projects latent spaces of more than two dimensions for
    the scatter: ``"pca"`` (fast, the default at the end of training) or
    ``"tsne"``. ``kl_per_dim`` picks the dimensions a traversal shows when
    there are more than ``explore.MAX_TRAVERSAL_ROWS`` (those with the most KL).
    """
    from vaekit import plots  # noqa: PLC0415 - matplotlib loads only when pictures are drawn

    model.eval()
    g = torch.Generator().manual_seed(0)
    shown = take_rows(dataset, index, 5000)
    x = torch.from_numpy(shown.x)
    samples = model.sample(N_PICTURE_SAMPLES, generator=g).numpy()  # conditional models: every class in turn
    y = labels_for_model(model, shown)
    recon = model.reconstruct(x[:N_RECONSTRUCTIONS], y=None if y is None else y[:N_RECONSTRUCTIONS]).numpy()
    written = [plots.plot_training_curves(history, run_dir / "curves.png")] if history else []
    if dataset.is_image:
        written.append(images.save_image_grid(samples, run_dir / "samples.png"))
        if "gmm" in model.samplers:  # the same number of codes from the mixture fitted to the training codes
            gmm_samples = model.sample(N_PICTURE_SAMPLES, generator=torch.Generator().manual_seed(0), sampler="gmm")
            written.append(images.save_image_grid(gmm_samples.numpy(), run_dir / "samples_gmm.png"))
        written.append(images.save_reconstruction_grid(shown.x[:N_RECONSTRUCTIONS], recon, run_dir / "reconstructions.png"))
    else:
        names = dataset.feature_names
        written.append(plots.plot_vectors(samples[:32], run_dir / "samples.png", "samples from the prior", names))
        written.append(
            plots.plot_vectors(shown.x[:N_RECONSTRUCTIONS], run_dir / "reconstructions.png", "inputs | reconstructions", names, compare=recon)
        )
    z = model.embed(x, y=y).numpy()
    written.append(
        plots.plot_latent(z, run_dir / "latent.png", labels=shown.y, title=f"latent space ({dataset.name})", method=latent_method)
    )
    names = None if dataset.is_image else dataset.feature_names
    dims = explore.most_informative(kl_per_dim, model.latent_dim)
    traversals = explore.traverse(model, steps=TRAVERSAL_STEPS, dims=dims).numpy()  # (R, steps, *shape)
    title = "traversals: row i sweeps z_i over ±3 std" if len(dims) == model.latent_dim else (
        f"traversals of the {len(dims)} of {model.latent_dim} dimensions with the most KL, most first"
    )
    written.append(plots.save_latent_grid(traversals, run_dir / "traversals.png", title, names))
    if model.latent_dim == 2:
        grid = explore.manifold(model).numpy()  # (steps, steps, *shape)
        written.append(plots.save_latent_grid(grid, run_dir / "manifold.png", "the 2-D latent manifold", names))
    return written


def load_data_for(
    run_dir: str | Path, spec: str, *, split: str = "train", label_column: str | None = None
) -> Dataset:
    """Load ``spec`` the way the run in ``run_dir`` saw its data, checked against its model.

    The run's label column and image size are the defaults, so a table with a
    label column or a folder of differently sized images just works.
    """
    cfg = load_run_config(run_dir)
    shape = tuple(cfg.model.input_shape)
    kind = source_kind(spec)
    image_size = (cfg.data.image_size or shape[1:]) if kind == "image-folder" and len(shape) == 3 else None
    image_fit = cfg.data.image_fit if image_size is not None else "resize"
    if label_column is None and kind == "table":
        label_column = cfg.data.label_column
    dataset = load_data(spec, split=split, label_column=label_column, image_size=image_size, image_fit=image_fit)
    if dataset.sample_shape != shape:
        raise DataError(
            f"{spec} has samples of shape {dataset.sample_shape} but the model in {run_dir} expects {shape}"
        )
    validate_for_likelihood(dataset, cfg.model.likelihood)
    return dataset


def regenerate_report(
    run_dir: str | Path,
    *,
    data: str | None = None,
    split: str = "train",
    label_column: str | None = None,
    latent_method: str = "tsne",
    out: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Draw a run's pictures again from its saved model and data, and write its report.

    Parameters
    ----------
    run_dir
        A trained run folder.
    data
        Data spec for reconstructions and the latent scatter; defaults to the
        run's own (``config.json``), whose validation rows are then shown.
    split, label_column
        As for the other commands.
    latent_method
        ``"tsne"`` or ``"pca"`` for latent spaces of more than two dimensions.
    out
        Where to write; ``RUN_DIR/report.html`` by default (always regenerated).
    overwrite
        Replace an existing file at ``out``.

    Returns
    -------
    Path
        The report written.
    """
    run_dir = Path(run_dir)
    # The run's own report is derived from the folder: regenerating it is the point.
    # Any other file is the user's and needs ``overwrite``.
    own = out is None
    out = run_dir / REPORT_FILE if out is None else Path(out)
    if out.exists() and not overwrite and not own:
        raise RunDirError(f"{out} already exists; pass --overwrite to replace it")
    if out.is_dir():
        raise RunDirError(f"{out} is a folder; give a file name ending in .html")
    cfg = load_run_config(run_dir)
    model = load(run_dir)
    spec = data or cfg.data.data
    try:
        dataset = load_data_for(run_dir, spec, split=split, label_column=label_column)
    except DataError as exc:
        if data is not None:
            raise
        # A run trained on an in-memory array keeps no spec of its data.
        raise DataError(f"{exc}; pass the run's data with --data SPEC") from None
    if data is None and split == "train":
        # The run's own data: show its validation rows, as training did.
        _, index = split_indices(len(dataset), cfg.train.val_fraction, cfg.train.seed)
        if not len(index):
            index = np.arange(len(dataset))
    else:
        index = np.arange(len(dataset))
    history = read_metrics(run_dir / METRICS_FILE)
    summary = read_summary(run_dir)
    with tempfile.TemporaryDirectory(prefix="vaekit-report-") as tmp:
        write_pictures(
            Path(tmp), model, dataset, index, history, latent_method=latent_method, kl_per_dim=summary.get("kl_per_dim")
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        return write_report(
            out, title=run_dir.resolve().name, config=cfg.to_dict(), summary=summary,
            history=history, picture_dir=tmp,
        )
