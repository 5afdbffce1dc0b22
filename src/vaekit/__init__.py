"""vaekit: variational autoencoders that train, resume, evaluate and explain themselves.

The public API is imported lazily, so ``import vaekit`` (and ``vaekit --help``)
does not pay for importing torch until a model is actually used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "VAE": "vaekit.models",
    "MODELS": "vaekit.models",
    "build_model": "vaekit.models",
    "ModelConfig": "vaekit.config",
    "TrainConfig": "vaekit.config",
    "DataConfig": "vaekit.config",
    "RunConfig": "vaekit.config",
    "Trainer": "vaekit.training",
    "TrainingError": "vaekit.training",
    "train": "vaekit.runs",
    "TrainResult": "vaekit.runs",
    "load": "vaekit.io",
    "save_model": "vaekit.io",
    "load_run_config": "vaekit.io",
    "evaluate": "vaekit.evaluation",
    "VAEAnomalyDetector": "vaekit.estimators",
    "VAETransformer": "vaekit.estimators",
    "TablePreprocessor": "vaekit.tabular",
    "Dataset": "vaekit.data",
    "load_data": "vaekit.data",
    "VaekitError": "vaekit.errors",
    "DataError": "vaekit.errors",
    "ConfigError": "vaekit.errors",
    "RunDirError": "vaekit.errors",
    "ModelFileError": "vaekit.errors",
    "MissingExtraError": "vaekit.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vaekit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from vaekit.data import Dataset, load_data
    from vaekit.errors import ConfigError, DataError, MissingExtraError, ModelFileError, RunDirError, VaekitError
    from vaekit.estimators import VAEAnomalyDetector, VAETransformer
    from vaekit.evaluation import evaluate
    from vaekit.io import load, load_run_config, save_model
    from vaekit.models import MODELS, VAE, build_model
    from vaekit.runs import TrainResult, train
    from vaekit.tabular import TablePreprocessor
    from vaekit.training import Trainer, TrainingError
