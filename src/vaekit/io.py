"""Loading and saving whole models; the file format itself is :mod:`vaekit.model_files`.

``load`` reads a folder written by ``vaekit train``, ``save_model`` or
``save_pretrained`` and rebuilds the model family its config names.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from vaekit.model_files import CONFIG_FILE, WEIGHTS_FILE, load_run_config, save_config, save_model
from vaekit.models import VAE
from vaekit.samplers import load_samplers

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "load", "load_run_config", "save_config", "save_model"]


def load(
    run_dir: str | Path, device: str = "cpu", *, encoder: nn.Module | None = None, decoder: nn.Module | None = None,
    prior: nn.Module | None = None,
) -> VAE:
    """The trained model of ``run_dir``, in eval mode, identical to the one saved, with the latent
    samplers fitted to it (``model.samplers``: ``samplers/`` in the folder, see :mod:`vaekit.samplers`).

    ``encoder``, ``decoder``, ``prior``: the networks of your own the model was
    built with, if any (only their class names are saved, never code).

    Raises
    ------
    RunDirError
        The folder does not exist or holds no model.
    ModelFileError
        The weights are truncated, corrupt, foreign, do not match the config,
        or the model needs networks of your own that were not passed.
    """
    model = VAE.from_pretrained(run_dir, device, encoder=encoder, decoder=decoder, prior=prior)
    return load_samplers(model, Path(run_dir))
