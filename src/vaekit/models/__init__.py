"""Model registry: names (``--model NAME``) to classes; nobody branches on strings.

Each variant overrides only what differs from the VAE: ``iwae`` its
objective, ``cvae`` its conditioning, ``m2`` its objective and an extra
classifier head. beta and the capacity objective are settings of them all.
"""

from __future__ import annotations

from torch import nn

from vaekit.config import ModelConfig
from vaekit.models.cvae import CVAE
from vaekit.models.iwae import IWAE
from vaekit.models.m2 import M2
from vaekit.models.vae import VAE

MODELS: dict[str, type[nn.Module]] = {"vae": VAE, "iwae": IWAE, "cvae": CVAE, "m2": M2}


def build_model(config: ModelConfig) -> nn.Module:
    """The registered model for ``config.model``, built from ``config``."""
    config.validate()
    return MODELS[config.model](config)


__all__ = ["CVAE", "IWAE", "M2", "MODELS", "VAE", "build_model"]
