"""The saved-model format: ``config.json`` + ``model.safetensors``; nothing is unpickled.

A model folder is self-describing: the JSON config rebuilds the network and
safetensors holds the weights. This module reads and writes the two files
and checks weights against a built model; it knows no model class
(``vaekit.io.load`` picks the class from the registry). Every failure is
one :class:`ModelFileError` or :class:`RunDirError` line; a model is loaded
complete or not at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from vaekit.config import RunConfig
from vaekit.errors import ConfigError, ModelFileError, RunDirError
from vaekit.files import atomic_write

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def save_config(run_dir: str | Path, config: RunConfig) -> Path:
    return atomic_write(Path(run_dir) / CONFIG_FILE, lambda f: f.write(config.to_json()), mode="w")


def save_model(run_dir: str | Path, model: nn.Module, config: RunConfig) -> None:
    """Write ``config.json`` and ``model.safetensors`` into ``run_dir`` atomically.

    ``config.model`` is taken from the model itself when it has one, so the
    parts a user supplied (``user_modules``) are always recorded.
    """
    from vaekit import __version__  # noqa: PLC0415 - the package root imports nothing back at import time

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    own = getattr(model, "config", None)
    if own is not None and own is not config.model:
        config = RunConfig(model=own, train=config.train, data=config.data)
    save_config(run_dir, config)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    blob = save(tensors, metadata={"format": "vaekit", "vaekit_version": __version__})
    atomic_write(run_dir / WEIGHTS_FILE, lambda f: f.write(blob))


def load_run_config(run_dir: str | Path) -> RunConfig:
    """The resolved config of a run folder (read as data: the model family checks its options on load)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"no such run folder: {run_dir}")
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise RunDirError(
            f"{run_dir} holds no model ({CONFIG_FILE} is missing); train one with: vaekit train --out {run_dir}"
        )
    try:
        raw = json.loads(path.read_text())
    except (ValueError, RecursionError) as exc:  # bad JSON or encoding, absurd numbers or nesting
        reason = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{path} is not valid JSON ({reason}); the run folder is damaged") from None
    try:
        config = RunConfig.from_dict(raw, source=str(path))
        config.validate()
    except ConfigError as exc:
        raise ModelFileError(str(exc)) from None
    if config.model.input_shape is None:
        raise ModelFileError(f"{path} has no model.input_shape; it was not written by vaekit train")
    return config


def check_user_parts(run_dir: str | Path, config: RunConfig, parts: dict[str, nn.Module | None]) -> None:
    """Refuse to load a model saved with networks of the user's own without them (and the reverse).

    Only class names are stored; a module path read from a file is never imported.
    """
    saved = config.model.user_modules
    for name, class_name in saved.items():
        if parts.get(name) is None:
            raise ModelFileError(
                f"{run_dir} was saved with a {name} of your own ({class_name}); pass the same network to load it: "
                f"vaekit.load({str(run_dir)!r}, {name}={class_name}(...))"
            )
    extra = sorted(name for name, part in parts.items() if part is not None and name not in saved)
    if extra:
        raise ModelFileError(f"{run_dir} was saved with vaekit's own {extra[0]}; pass no {extra[0]}= to load it")


def read_weights(run_dir: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of ``model.safetensors`` (no pickle involved)."""
    path = Path(run_dir) / WEIGHTS_FILE
    if not path.is_file():
        raise RunDirError(
            f"{run_dir} holds no model ({WEIGHTS_FILE} is missing); "
            f"if training was interrupted, continue it with: vaekit train --out {run_dir} --resume auto"
        )
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path} is corrupt or truncated ({str(exc)[:120]}); retrain or restore it") from None


def load_weights(model: nn.Module, tensors: dict[str, torch.Tensor], path: str | Path) -> None:
    """Put ``tensors`` into ``model`` after checking names, shapes, dtypes and finiteness."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ModelFileError(
            f"{path} does not match its config: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape or tensor.dtype != expected[name].dtype:
            raise ModelFileError(
                f"{path} does not match its config: {name} is {tensor.dtype} {tuple(tensor.shape)}, "
                f"the config needs {expected[name].dtype} {tuple(expected[name].shape)}"
            )
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ModelFileError(f"{path} holds NaN or infinite weights in {name}; the model is unusable, retrain it")
    model.load_state_dict(tensors)


def build_checked(build, run_dir: str | Path, config: RunConfig, parts: dict[str, nn.Module | None]) -> nn.Module:
    """``build(config.model, **parts)`` with a config error reported as a damaged file."""
    check_user_parts(run_dir, config, parts)
    try:
        return build(config.model, **{name: part for name, part in parts.items() if part is not None})
    except ConfigError as exc:
        raise ModelFileError(f"{Path(run_dir) / CONFIG_FILE}: {exc}") from None
