"""Model registry: names (``--model NAME``) to classes; nobody branches on strings."""

from __future__ import annotations

from torch import nn

from vaekit.config import ModelConfig
from vaekit.models.vae import VAE

MODELS: dict[str, type[nn.Module]] = {"vae": VAE}


def build_model(config: ModelConfig) -> nn.Module:
    """The registered model for ``config.model``, built from ``config``."""
    config.validate()
    return MODELS[config.model](config)


__all__ = ["MODELS", "VAE", "build_model"]
