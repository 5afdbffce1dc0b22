"""Model families, by name (``--model NAME``): a class per file, registered when it is defined.

Each family overrides only what differs from the VAE: ``iwae`` its
objective, ``cvae`` its conditioning, ``m2`` its objective and an extra
classifier head. beta and the capacity objective are settings of them all.
A family of your own: subclass :class:`VAE`, set ``name``, override what
differs; it is then trained, saved and loaded like these.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from vaekit.config import ModelConfig
from vaekit.errors import ConfigError
from vaekit.models.cvae import CVAE
from vaekit.models.hvae import HVAE
from vaekit.models.iwae import IWAE
from vaekit.models.m2 import M2
from vaekit.models.vae import MODELS, VAE


def model_class(config: ModelConfig) -> type[VAE]:
    """The registered family of ``config.model`` (raises :class:`ConfigError` for an unknown name)."""
    try:
        return MODELS[config.model]
    except KeyError:
        raise ConfigError(f"invalid value for 'model': {config.model!r} (choose from {', '.join(MODELS)})") from None


def check_model_config(config: ModelConfig) -> Any:
    """Validate ``config`` against its family (name, likelihood, options) without building anything."""
    return model_class(config).check_config(config)


def build_model(config: ModelConfig, **parts: nn.Module) -> VAE:
    """The registered model for ``config.model``, built from ``config`` (and any parts of your own)."""
    return model_class(config)(config, **parts)


__all__ = ["CVAE", "HVAE", "IWAE", "M2", "MODELS", "VAE", "build_model", "check_model_config", "model_class"]
