"""Configuration as data: one dataclass per concern, one docstring per field.

The same names are used everywhere: the YAML config file, the CLI flag
(``latent_dim`` <-> ``--latent-dim``), the Python keyword and the saved
``config.json``. Unknown keys and invalid values raise :class:`ConfigError`
naming the key. This module does not import torch.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import inspect
import json
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaekit.errors import ConfigError

#: Bumped when config.json or the weight names change incompatibly.
FORMAT_VERSION = 1
#: Largest integer a setting may take (sizes, counts); torch sizes are int64 and
#: anything near this bound would not fit in memory anyway.
MAX_INT = 2**31 - 1
#: Seeds are non-negative and below 2**32 (the trainer derives per-epoch seeds from them).
MAX_SEED = 2**32 - 1

ARCHS = ("auto", "mlp", "conv", "resnet", "conv1d", "gru")
#: Architectures for sequences (C, T) and for images (C, H, W).
SEQUENCE_ARCHS = ("conv1d", "gru")
IMAGE_ARCHS = ("conv", "resnet")
ACTIVATIONS = ("relu", "silu", "tanh", "elu", "leaky_relu", "glu")
#: Activations that only the MLP layers have (a gated layer doubles its Linear; the conv nets do not).
MLP_ONLY_ACTIVATIONS = ("glu",)
SPLITS = ("train", "test")
ON_NAN = ("stop", "skip")
LR_SCHEDULES = ("constant", "cosine", "step", "plateau")
#: When the rate moves: after every epoch, or (cosine only) after every optimiser step.
LR_INTERVALS = ("epoch", "step")
PRECISIONS = ("fp32", "bf16")
LOADINGS = ("auto", "memory", "stream")
IMAGE_FITS = ("resize", "pad", "crop")
#: Estimators of log q(z) from a batch (Chen et al. 2018): minibatch-weighted and minibatch-stratified sampling.
TC_ESTIMATORS = ("mws", "mss")
#: auto, cpu, cuda or cuda:N (checked against the machine when training starts).
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


@dataclass
class ModelConfig:
    """What the network is: enough to rebuild the model from its weights."""

    model: str = "vae"
    """Model family from the registry ``vaekit.models.MODELS``: vae, iwae (k-sample bound), cvae (conditioned on labels), m2 (semi-supervised), hvae (two latent levels)."""
    options: dict[str, Any] = field(default_factory=dict)
    """The model family's own settings, checked by its ``Options`` dataclass: iwae {iw_samples}, m2 {classifier_weight}, hvae {top_latent_dim, x_branch}; on the CLI: --option KEY=VALUE."""
    arch: str = "auto"
    """``mlp``, ``conv``, ``resnet`` (residual conv) for images, ``conv1d`` or ``gru`` for sequences (C, T), or ``auto``: conv for images, conv1d for sequences, mlp for vectors."""
    latent_dim: int = 16
    """Number of latent dimensions; small enough to compress, large enough to reconstruct."""
    prior: str = "normal"
    """p(z): ``normal`` N(0, I); ``mog``, a mixture of prior_components Gaussians with learned weights, means and variances; ``vamp``, the VampPrior (Tomczak & Welling 2018): the mixture of the posteriors of pseudo_inputs learned inputs."""
    prior_components: int = 10
    """mog prior: number of Gaussian components."""
    pseudo_inputs: int = 500
    """vamp prior: number of learned pseudo-inputs (Tomczak & Welling used 500 on MNIST)."""
    posterior: str = "gaussian"
    """q(z|x): ``gaussian`` (diagonal), or ``iaf``: the Gaussian pushed through flow_steps inverse autoregressive flow steps (Kingma et al. 2016)."""
    flow_steps: int = 2
    """iaf posterior: number of IAF steps (each a MADE; the order of the latents is reversed between steps)."""
    hidden_dims: tuple[int, ...] = (512, 256)
    """MLP hidden layer sizes, encoder order (the decoder mirrors them)."""
    conv_channels: tuple[int, ...] = (32, 64, 128)
    """Conv channels per level; a level halves H and W while both are >= 4."""
    activation: str = "relu"
    """Hidden-layer non-linearity: relu, silu, tanh, elu, leaky_relu, or glu: gated layers (W x) * sigmoid(V x) (Dauphin et al. 2017; the gated dense layers of Tomczak & Welling 2018), twice the weights a layer, arch mlp only."""
    dropout: float = 0.0
    """Dropout rate after every hidden layer of the MLP networks (encoder, decoder, M2's classifier, the HVAE's level networks), in training only: a regulariser where the data is small or fixed (statically binarized MNIST overfits); 0 = off, arch mlp only."""
    likelihood: str = "bernoulli"
    """p(x|z): ``bernoulli`` (data in [0, 1]), ``gaussian`` (fixed std), ``gaussian-learned``, ``logistic-mixture`` (8-bit images in [0, 1]: mixture_components discretized logistics per pixel, Salimans et al. 2017)."""
    obs_std: float = 1.0
    """Standard deviation of the fixed-variance ``gaussian`` likelihood (unit variance by default)."""
    mixture_components: int = 10
    """``logistic-mixture`` likelihood: logistics per pixel; PixelCNN++ used 10 (Salimans et al. 2017)."""
    beta: float = 1.0
    """Weight of KL(q(z|x) || p(z)); 1 is the ELBO (Kingma & Welling 2014), > 1 is beta-VAE; objective tcvae: the weight of the total correlation only (Chen et al. 2018). KL warm-up and cycles schedule it."""
    free_bits: float = 0.0
    """Nats per latent dimension below which the KL is not pushed down (Kingma et al. 2016); 0 = off."""
    capacity_max: float = 0.0
    """Capacity objective (Burgess et al. 2018): beta * |KL - C|, C rising from 0 to this many nats; beta is their gamma (they used 1000 and 25 nats); 0 = off."""
    capacity_steps: int = 10_000
    """Optimiser steps over which the capacity C rises linearly from 0 to capacity_max."""
    objective: str = "elbo"
    """How the loss is built from the posterior, the draw and the reconstruction (``vaekit.objectives.OBJECTIVES``): ``elbo`` (-log p(x|z) + beta * KL); ``tcvae``, beta-TCVAE (Chen et al. 2018): the KL split into index-code mutual information, total correlation and dimension-wise KL, weighted tc_alpha, beta, tc_gamma; ``factorvae`` (Kim & Mnih 2018): the ELBO + factor_gamma * total correlation, estimated by a discriminator trained beside the VAE; ``dipvae``, DIP-VAE-II (Kumar et al. 2018): the ELBO + a penalty on the covariance of q(z) away from I."""
    tc_alpha: float = 1.0
    """tcvae: weight of the index-code mutual information I(x; z) (Chen et al. 2018 keep it at 1)."""
    tc_gamma: float = 1.0
    """tcvae: weight of the dimension-wise KL sum_j KL(q(z_j) || p(z_j)) (Chen et al. 2018 keep it at 1); beta weights the total correlation."""
    tc_estimator: str = "mws"
    """tcvae: the batch estimate of log q(z): ``mws`` (minibatch-weighted, Chen et al.'s default) or ``mss`` (minibatch-stratified: the row's own x weighted 1/dataset_size)."""
    dataset_size: int = 0
    """tcvae: rows of the training data, which the mss estimator weights by; 0 = filled in from the data when training starts (and saved)."""
    factor_gamma: float = 10.0
    """factorvae: weight of the discriminator's total correlation estimate (Kim & Mnih 2018 sweep it from 10 to 100)."""
    discriminator_dims: tuple[int, ...] = (512, 512, 512)
    """factorvae: hidden layer sizes of the discriminator on z (Kim & Mnih 2018 use 6 x 1000; 3 x 512 trains on a CPU, where 2 x 256 stayed near chance on sprites)."""
    dip_lambda_od: float = 10.0
    """dipvae: weight of the squared off-diagonal entries of Cov_q(z)[z] (Kumar et al. 2018's lambda_od)."""
    dip_lambda_d: float = 10.0
    """dipvae: weight of the squared distance of its diagonal from 1 (lambda_d; DIP-VAE-II takes lambda_d = lambda_od)."""
    num_classes: int = 0
    """Conditional models (cvae, m2): classes of the one-hot label they are conditioned on; 0 = filled in from the data's labels."""
    condition_dim: int = 0
    """Conditional models (cvae): length of a covariate vector y (N, condition_dim) to condition on instead of a class label; 0 = class labels."""
    user_modules: dict[str, str] = field(default_factory=dict)
    """Parts the user supplied instead of vaekit's (encoder, decoder, prior -> class name); loading needs them passed again."""
    input_shape: tuple[int, ...] | None = None
    """Shape of one sample, (D,), a sequence window (C, T), or an image (C, H, W); filled in from the data."""

    def validate(self) -> None:
        """Check what this dataclass can check without torch; the model family checks the rest
        (``vaekit.models.check_model_config``: the family, likelihood and options)."""
        _check_numbers(self)
        _check_choice("arch", self.arch, ARCHS)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_positive("latent_dim", self.latent_dim)
        _check_positive("obs_std", self.obs_std)
        _check_positive("capacity_steps", self.capacity_steps)
        _check_positive("prior_components", self.prior_components)
        _check_positive("pseudo_inputs", self.pseudo_inputs)
        _check_positive("flow_steps", self.flow_steps)
        _check_positive("mixture_components", self.mixture_components)
        _check_choice("tc_estimator", self.tc_estimator, TC_ESTIMATORS)
        for name in ("beta", "free_bits", "capacity_max", "num_classes", "condition_dim", "tc_alpha", "tc_gamma",
                     "dataset_size", "factor_gamma", "dip_lambda_od", "dip_lambda_d"):
            if (getattr(self, name) or 0) < 0:
                raise ConfigError(f"invalid value for '{name}': {getattr(self, name)!r} (must be >= 0)")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"invalid value for 'dropout': {show(self.dropout)} (must be in [0, 1))")
        for name in ("hidden_dims", "conv_channels", "discriminator_dims"):
            sizes = getattr(self, name)
            if not sizes or any(s <= 0 for s in sizes):
                raise ConfigError(f"{name} must be a non-empty list of positive sizes, got {list(sizes)}")
        if self.num_classes and self.condition_dim:
            raise ConfigError("num_classes and condition_dim are two kinds of condition; set only one of them")
        if self.input_shape is not None:
            if len(self.input_shape) not in (1, 2, 3) or any(s <= 0 for s in self.input_shape):
                raise ConfigError(f"input_shape must be (D,), (C, T) or (C, H, W), got {self.input_shape}")
            if self.arch in IMAGE_ARCHS and len(self.input_shape) != 3:
                raise ConfigError(
                    f"arch '{self.arch}' needs images (C, H, W) but the data has shape {self.input_shape}; "
                    "use --arch mlp"
                )
            if self.arch in SEQUENCE_ARCHS and len(self.input_shape) != 2:
                raise ConfigError(
                    f"arch '{self.arch}' needs sequence windows (C, T) but the data has shape {self.input_shape}; "
                    "use --arch mlp"
                )

    def resolved_arch(self) -> str:
        """``auto`` resolved against ``input_shape``."""
        if self.arch != "auto":
            return self.arch
        if self.input_shape is None:
            raise ConfigError("arch 'auto' needs input_shape; it is set from the data")
        return {3: "conv", 2: "conv1d"}.get(len(self.input_shape), "mlp")


@dataclass
class TrainConfig:
    """How the model is optimised."""

    epochs: int = 30
    """Passes over the training split."""
    batch_size: int = 128
    """Samples per Adam step in each process; under torchrun the global batch is batch_size x the number of processes."""
    lr: float = 1e-3
    """Adam learning rate (the usual 1e-3 of Kingma & Ba for VAEs)."""
    weight_decay: float = 0.0
    """Adam L2 weight decay."""
    discriminator_lr: float = 1e-3
    """factorvae: learning rate of the discriminator's own Adam, betas (0.5, 0.9) (Kim & Mnih 2018: 1e-4 beside a VAE at 1e-4; here the VAE's default lr, so that it keeps up with the encoder)."""
    val_fraction: float = 0.1
    """Share of the rows held out for validation (0 disables validation and early stopping)."""
    kl_warmup_epochs: float = 0.0
    """Epochs over which the KL weight rises linearly from 0 to beta (Bowman et al. 2016); 0 = off."""
    kl_cycles: int = 0
    """Cyclical KL annealing (Fu et al. 2019): this many cycles over training, each rising 0 -> beta; 0 = off."""
    kl_cycle_ratio: float = 0.5
    """Share of each KL cycle spent rising; the rest holds beta."""
    lr_schedule: str = "constant"
    """Learning-rate schedule, moved once an epoch (cosine: or every step, see lr_interval): constant, cosine (to lr_min), step (x lr_gamma every lr_step_epochs), plateau."""
    lr_min: float = 0.0
    """Final learning rate of the cosine schedule, and the floor of plateau."""
    lr_interval: str = "epoch"
    """When the schedule moves the rate: after each ``epoch``, or after each optimiser ``step`` (cosine only: for runs of a few long epochs, e.g. one pass over a large streamed dataset)."""
    lr_gamma: float = 0.5
    """Factor of the step and plateau schedules."""
    lr_step_epochs: int = 30
    """Epochs between decays of the step schedule."""
    lr_patience: int = 5
    """Epochs without a better validation loss before plateau decays the rate."""
    grad_clip: float | None = None
    """Clip the global gradient norm to this value; None = no clipping."""
    trim_fraction: float = 0.0
    """Leave each batch's highest-loss fraction of rows out of the gradient (trimmed likelihood), so outliers in the data are not learned; 0 = off."""
    patience: int | None = None
    """Stop after this many epochs without a better validation loss; None = never stop early."""
    labelled_share: float = 0.1
    """m2: labelled rows are repeated so that they make about this share of every epoch, so nearly every batch has some."""
    dynamic_binarization: bool = False
    """Resample binary x ~ Bernoulli(x) each time a batch is drawn (Bernoulli likelihood only)."""
    seed: int = 0
    """Seeds weights, the validation split, batch order and sampling noise."""
    checkpoint_every: int = 0
    """Also checkpoint every N optimiser steps (0 = only at the end of each epoch)."""
    keep_checkpoints: int = 2
    """How many of the newest checkpoints to keep in ``checkpoints/``."""
    num_threads: int | None = None
    """torch intra-op threads; None leaves torch's default."""
    flush_denormal: bool = True
    """On the CPU, flush subnormal floats to zero while training (then restore the process's setting): Adam's running squares of weights with ~no gradient (pixels never on) decay into subnormals, which x86 computes on a slow path (sprites: 1.7x slower steps)."""
    on_nan: str = "stop"
    """A NaN or infinite loss or gradient: ``stop`` with an error, or ``skip`` the batch (logged)."""
    max_nan_skips: int = 10
    """With ``on_nan: skip``, stop anyway after this many skipped batches."""
    device: str = "auto"
    """Where to train: auto (cuda when a GPU is available), cpu, cuda or cuda:N; under torchrun, cuda is cuda:LOCAL_RANK."""
    precision: str = "fp32"
    """fp32, or bf16: matrix products autocast to bfloat16 (weights, optimiser and loss stay fp32); for GPUs."""
    compile: bool = False
    """torch.compile the loss computation: a slower start (timed in summary.json) for faster steps; eager if it fails."""

    def validate(self) -> None:
        """Check every field's type, range and named choice; raises ``ConfigError`` naming the first bad one."""
        _check_numbers(self)
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"invalid value for 'seed': {show(self.seed)} (must be in [0, {MAX_SEED}])")
        _check_choice("on_nan", self.on_nan, ON_NAN)
        _check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _check_choice("lr_interval", self.lr_interval, LR_INTERVALS)
        if self.lr_interval == "step" and self.lr_schedule not in ("constant", "cosine"):
            raise ConfigError(
                f"lr_interval 'step' moves the cosine schedule only, not '{self.lr_schedule}'; "
                "use lr_schedule cosine or lr_interval epoch"
            )
        _check_choice("precision", self.precision, PRECISIONS)
        if not isinstance(self.device, str) or not _DEVICE.match(self.device):
            raise ConfigError(f"invalid value for 'device': {show(self.device)} (use auto, cpu, cuda or cuda:N)")
        for name in ("lr_step_epochs", "lr_patience"):
            _check_positive(name, getattr(self, name))
        if not 0.0 < self.lr_gamma <= 1.0:
            raise ConfigError(f"invalid value for 'lr_gamma': {self.lr_gamma!r} (must be in (0, 1])")
        if not 0.0 < self.kl_cycle_ratio <= 1.0:
            raise ConfigError(f"invalid value for 'kl_cycle_ratio': {self.kl_cycle_ratio!r} (must be in (0, 1])")
        if self.kl_cycles and self.kl_warmup_epochs:
            raise ConfigError("kl_cycles and kl_warmup_epochs are two KL schedules; set only one of them")
        for name in ("epochs", "batch_size", "keep_checkpoints", "max_nan_skips"):
            _check_positive(name, getattr(self, name))
        _check_positive("lr", self.lr)
        _check_positive("discriminator_lr", self.discriminator_lr)
        if not 0.0 <= self.trim_fraction < 1.0:
            raise ConfigError(f"trim_fraction must be in [0, 1), got {self.trim_fraction}")
        if not 0.0 < self.labelled_share < 1.0:
            raise ConfigError(f"labelled_share must be in (0, 1), got {self.labelled_share}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        for name in ("weight_decay", "kl_warmup_epochs", "checkpoint_every", "kl_cycles", "lr_min"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("grad_clip", "patience", "num_threads"):
            value = getattr(self, name)
            if value is not None:
                _check_positive(name, value)


@dataclass
class DataConfig:
    """Where the training data comes from (so a run can be resumed and re-read)."""

    data: str = "digits"
    """Data spec: digits, sprites[:N], mnist, fashion-mnist, mnist:PATH, or a .npy/.npz/.csv/.parquet file or image folder."""
    split: str = "train"
    """Which split of a dataset that has one (mnist: train or test)."""
    label_column: str | None = None
    """Column of a table holding labels (kept out of the features)."""
    image_size: tuple[int, ...] | None = None
    """Size (H, W) every image of a folder is brought to; default: the first image's size, recorded in the run's config.json."""
    image_fit: str = "resize"
    """How an image folder's images of another aspect ratio reach image_size: resize (stretch), pad (scale to fit, black borders) or crop (scale to cover, cut out the centre)."""
    labels_per_class: int | None = None
    """m2: keep the labels of this many training rows per class (a seeded draw) and hide the rest; None = every label the data has."""
    loading: str = "auto"
    """memory: load the whole file; stream: read .npy (memory-mapped) and .parquet in blocks; auto: stream files over 512 MB."""
    block_mb: float = 4.0
    """Streamed .npy files are read in blocks of about this many MB (a Parquet block is one row group)."""
    shuffle_window_mb: float = 256.0
    """Streamed data is shuffled by block, then row by row within windows of blocks of about this many MB."""

    def validate(self) -> None:
        """Check every field's type, range and named choice; raises ``ConfigError`` naming the first bad one."""
        _check_numbers(self)
        _check_choice("split", self.split, SPLITS)
        _check_choice("loading", self.loading, LOADINGS)
        _check_choice("image_fit", self.image_fit, IMAGE_FITS)
        _check_positive("block_mb", self.block_mb)
        if self.labels_per_class is not None:
            _check_positive("labels_per_class", self.labels_per_class)
        _check_positive("shuffle_window_mb", self.shuffle_window_mb)
        if self.image_size is not None and (
            len(self.image_size) != 2 or any(s <= 0 for s in self.image_size)
        ):
            raise ConfigError(f"image_size must be two positive sizes H,W, got {self.image_size}")


SECTIONS: dict[str, type] = {"model": ModelConfig, "train": TrainConfig, "data": DataConfig}
#: Model options that were flat ModelConfig keys before each model owned its options (config.json
#: written by vaekit <= 0.1.0, YAML files, Python keywords); read into ``model.options``.
#: A legacy key at its old default is dropped: every family then takes its own default.
LEGACY_OPTION_KEYS = {"iw_samples": 5, "classifier_weight": None}


@dataclass
class RunConfig:
    """Everything a run needs, as written to ``config.json``."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def validate(self) -> None:
        """Validate the model, training and data sections in turn."""
        self.model.validate()
        self.train.validate()
        self.data.validate()

    def to_dict(self) -> dict[str, Any]:
        """The config as plain JSON-able values, one key per section, with the format version."""
        out: dict[str, Any] = {"format_version": FORMAT_VERSION}
        for name in SECTIONS:
            out[name] = _jsonable(dataclasses.asdict(getattr(self, name)))
        return out

    def to_json(self) -> str:
        """``to_dict()`` as indented JSON: what a run saves as config.json."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, source: str = "config") -> "RunConfig":
        """Build from nested sections (as in config.json) or flat keys (as in a YAML file)."""
        return cls().updated(raw, source=source)

    def updated(self, raw: dict[str, Any], *, source: str = "config") -> "RunConfig":
        """A copy with ``raw`` applied on top; keys may be flat or grouped by section."""
        if not isinstance(raw, dict):
            raise ConfigError(f"{source} must be a mapping of keys to values, got {type(raw).__name__}")
        version = raw.get("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ConfigError(
                f"{source} has format_version {show(version)}, newer than this vaekit reads "
                f"({FORMAT_VERSION}); upgrade vaekit"
            )
        sections = {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}
        for key, value in raw.items():
            if key == "format_version":
                continue
            # "data" is both a section and the data spec's key: a mapping means the section.
            if key in SECTIONS and isinstance(value, dict):
                for sub_key, sub_value in value.items():
                    _assign(sections, key, sub_key, sub_value, source)
            elif key in LEGACY_OPTION_KEYS:
                _assign(sections, "model", key, value, source)
            else:
                _assign(sections, section_of(key, source), key, value, source)
        return RunConfig(**{name: SECTIONS[name](**values) for name, values in sections.items()})


def section_of(key: str, source: str = "config") -> str:
    """Which section owns a flat key (field names are unique across sections)."""
    for name, klass in SECTIONS.items():
        if isinstance(key, str) and key in _fields(klass):
            return name
    known = sorted(k for klass in SECTIONS.values() for k in _fields(klass))
    raise ConfigError(f"{source}: unknown key {show(key)}{_did_you_mean(key, known)}; known keys: {', '.join(known)}")


def all_keys() -> list[str]:
    return [k for klass in SECTIONS.values() for k in _fields(klass)]


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON config file safely (``yaml.safe_load``: no code runs)."""
    import yaml  # noqa: PLC0415 - only needed when a file is given

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, ValueError, RecursionError, OverflowError) as exc:  # ValueError covers decode errors
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"cannot parse config file {path}{where}: {first}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values")
    return raw


# --------------------------------------------------------------------------- helpers


def _fields(klass: type) -> dict[str, Any]:
    hints = typing.get_type_hints(klass)
    return {f.name: hints[f.name] for f in dataclasses.fields(klass)}


def _assign(sections: dict[str, dict], section: str, key: str, value: Any, source: str) -> None:
    if section == "model" and key in LEGACY_OPTION_KEYS:
        if value != LEGACY_OPTION_KEYS[key]:
            sections["model"]["options"][key] = value  # the family's Options dataclass checks it
        return
    if section == "model" and key == "options":
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{source}: 'options' must be a mapping of option names to values, got {show(value)}")
        sections["model"]["options"].update(value)  # merged: a later source sets one option, keeps the rest
        return
    fields = _fields(SECTIONS[section])
    if key not in fields:
        raise ConfigError(
            f"{source}: unknown key {show(key)} in section '{section}'{_did_you_mean(key, list(fields))}; "
            f"known keys: {', '.join(fields)}"
        )
    sections[section][key] = coerce(key, value, fields[key])


def coerce(key: str, value: Any, annotation: Any) -> Any:
    """Convert ``value`` (from YAML, JSON or a CLI string) to the field's type."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        return coerce(key, value, inner[0])
    try:
        if annotation is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
                return value.lower() in ("true", "yes", "1", "on")
            raise ValueError
        if annotation is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            number = int(value)
            if abs(number) > MAX_INT:
                raise ValueError
            return number
        if annotation is float:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if not math.isfinite(number):
                raise ValueError
            return number
        if annotation is str:
            if not isinstance(value, str):
                raise ValueError
            return value
        if origin is dict:
            if not isinstance(value, dict):
                raise ValueError
            return {str(k): coerce(key, v, args[1]) for k, v in value.items()}
        if origin is tuple:
            items = _list_items(value) if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)):
                raise ValueError
            return tuple(coerce(key, v.strip() if isinstance(v, str) else v, int) for v in items)
    except (TypeError, ValueError, OverflowError, ConfigError):
        pass
    else:
        raise ConfigError(f"no rule to read key '{key}' of type {annotation}")  # pragma: no cover
    kind = {bool: "true or false", int: f"an integer of at most {MAX_INT}", float: "a finite number",
            str: "a string"}.get(annotation, "a comma-separated list of integers")
    raise ConfigError(f"invalid value for {show(key)}: {show(value)} (expected {kind})")


def _list_items(text: str) -> list[str]:
    """The items of a list written as text, separated by commas or ``x`` ("64,32", "512x256"; one
    trailing comma allowed, "64,"); an empty item ("16,,32", "16,x") raises ValueError."""
    text = text.strip()
    if not text:
        return []
    items = text.removesuffix(",").replace("x", ",").split(",")
    if any(not item.strip() for item in items):
        raise ValueError
    return items


def _did_you_mean(key: Any, known: list[str]) -> str:
    """`` (did you mean 'latent_dim'?)`` for a near miss of a known key, else nothing."""
    if not isinstance(key, str):
        return ""
    close = difflib.get_close_matches(key.replace("-", "_"), known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def show(value: Any, limit: int = 60) -> str:
    """``repr`` for an error line: quoted, escaped (no newlines), shortened, never raising."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        text = f"<{type(value).__name__} too large to print>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"invalid value for '{key}': {show(value)} (choose from {', '.join(choices)})")


def _check_positive(key: str, value: float) -> None:
    if not value > 0:  # NaN fails this too
        raise ConfigError(f"invalid value for '{key}': {show(value)} (must be > 0)")


def _check_numbers(config: Any) -> None:
    """Every number finite and every integer within bounds, whatever built the config."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"invalid value for '{f.name}': {show(v)} (expected a finite number)")
            if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_INT and f.name != "seed":
                raise ConfigError(f"invalid value for '{f.name}': {show(v)} (must be at most {MAX_INT})")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


@functools.lru_cache(maxsize=None)
def field_docs(klass: type) -> dict[str, str]:
    """The docstring under each field of a config dataclass (used as CLI help)."""

    try:
        tree = ast.parse(inspect.getsource(klass))
    except (OSError, TypeError):  # pragma: no cover - source not shipped
        return {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, after in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs
