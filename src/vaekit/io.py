"""Saved models: ``config.json`` + ``model.safetensors``; nothing is unpickled.

A run folder is self-describing: the JSON config rebuilds the network and
safetensors holds the weights. Every failure to load is one
:class:`ModelFileError` or :class:`RunDirError` line; a model is returned
complete or not at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from vaekit.config import RunConfig
from vaekit.errors import ConfigError, ModelFileError, RunDirError
from vaekit.files import atomic_write

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def save_config(run_dir: str | Path, config: RunConfig) -> Path:
    return atomic_write(Path(run_dir) / CONFIG_FILE, lambda f: f.write(config.to_json()), mode="w")


def save_model(run_dir: str | Path, model: nn.Module, config: RunConfig) -> None:
    """Write ``config.json`` and ``model.safetensors`` into ``run_dir`` atomically."""
    from safetensors.torch import save  # noqa: PLC0415

    from vaekit import __version__  # noqa: PLC0415

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(run_dir, config)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    blob = save(tensors, metadata={"format": "vaekit", "vaekit_version": __version__})
    atomic_write(run_dir / WEIGHTS_FILE, lambda f: f.write(blob))


def load_run_config(run_dir: str | Path) -> RunConfig:
    """The resolved config of a run folder."""
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


def load(run_dir: str | Path, device: str = "cpu") -> nn.Module:
    """The trained model of ``run_dir``, in eval mode, identical to the one saved.

    Raises
    ------
    RunDirError
        The folder does not exist or holds no model.
    ModelFileError
        The weights are truncated, corrupt, foreign, or do not match the config.
    """
    from safetensors import SafetensorError  # noqa: PLC0415
    from safetensors.torch import load_file  # noqa: PLC0415

    from vaekit.models import build_model  # noqa: PLC0415

    config = load_run_config(run_dir)
    path = Path(run_dir) / WEIGHTS_FILE
    if not path.is_file():
        raise RunDirError(
            f"{run_dir} holds no model ({WEIGHTS_FILE} is missing); "
            f"if training was interrupted, continue it with: vaekit train --out {run_dir} --resume auto"
        )
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path} is corrupt or truncated ({str(exc)[:120]}); retrain or restore it") from None
    model = build_model(config.model)
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
    return model.to(device).eval()
