"""The conditional VAE (Sohn et al. 2015): encoder and decoder both see a condition y.

y is a class label (one-hot, ``num_classes``) or a covariate vector
(``condition_dim``). Only the conditioning differs from the VAE: the
objective, saving and every use are the VAE's, each taking ``y``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from vaekit.config import ModelConfig
from vaekit.errors import ConfigError, DataError
from vaekit.models.vae import VAE


class CVAE(VAE):
    """p(x|z, y) p(z) with q(z|x, y); without ``y`` the decoder uses class 0 (or zero covariates)."""

    name = "cvae"
    conditional = True
    exportable = False  # an ONNX graph of the decoder alone would drop its label

    @classmethod
    def condition_size(cls, config: ModelConfig) -> int:
        size = config.num_classes or config.condition_dim
        if size == 0:
            raise ConfigError(
                f"model '{config.model}' needs num_classes (labels) or condition_dim (covariates); "
                "vaekit.train sets them from the data's labels"
            )
        return size

    @property
    def num_classes(self) -> int:
        """Classes of the label; 0 when conditioned on covariates."""
        return self.config.num_classes

    def condition(self, y: Tensor | None) -> Tensor:
        """One-hot labels (B, K), or the covariates themselves (B, C), as float."""
        if y is None:
            raise DataError(f"model '{self.config.model}' is conditioned on labels: pass y")
        if self.num_classes:
            y = torch.as_tensor(y, device=self._device())
            if y.dtype.is_floating_point or y.dim() != 1:
                raise DataError(f"labels must be integer classes of shape (B,), got {y.dtype} {tuple(y.shape)}")
            if len(y) and (y.min() < 0 or y.max() >= self.num_classes):
                raise DataError(f"labels must be in [0, {self.num_classes}), got {y.min().item()}..{y.max().item()}")
            return F.one_hot(y, self.num_classes).to(self.encoder_dtype())
        y = torch.as_tensor(y, dtype=self.encoder_dtype(), device=self._device())
        if y.dim() != 2 or y.shape[1] != self.config.condition_dim:
            raise DataError(f"covariates must have shape (B, {self.config.condition_dim}), got {tuple(y.shape)}")
        return y

    def labels_or_default(self, n: int, y: Tensor | int | None, cycle: bool = False) -> Tensor:
        """``y``, one label for every row, or by default class 0 (every class in turn with ``cycle``)."""
        device = self._device()
        if y is None:
            if not self.num_classes:
                return torch.zeros(n, self.config.condition_dim, device=device)
            return torch.arange(n, device=device) % self.num_classes if cycle else torch.zeros(n, dtype=torch.long, device=device)
        if isinstance(y, int):
            return torch.full((n,), y, dtype=torch.long, device=device)
        return y

    def encoder_dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype
