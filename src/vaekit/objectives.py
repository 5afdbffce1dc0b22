"""Per-sample objective terms and the schedules that weight them.

Model code returns per-sample terms; the trainer reduces them once. The KL
weight schedule is a pure function of the step, so it needs no saved state
to resume exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class LossTerms:
    """Per-sample terms of the negative ELBO, each of shape (B,)."""

    reconstruction: Tensor
    """-log p(x|z) for one posterior sample z."""
    kl: Tensor
    """KL(q(z|x) || p(z)) in closed form."""

    def loss(self, beta: float | Tensor) -> Tensor:
        """The per-sample training loss -log p(x|z) + beta * KL (shape (B,))."""
        return self.reconstruction + beta * self.kl


def kl_per_dim(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per sample and latent dimension, shape (B, Z).

    Kingma & Welling 2014, appendix B: -1/2 * (1 + log sigma^2 - mu^2 - sigma^2).
    """
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar)


def kl_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per sample, shape (B,)."""
    return kl_per_dim(mu, logvar).sum(dim=1)


def kl_weight(step: int, steps_per_epoch: int, beta: float, warmup_epochs: float) -> float:
    """Linear KL warm-up (Bowman et al. 2016): the weight rises from 0 to ``beta``.

    The weight is computed per optimiser step, so it rises smoothly inside an
    epoch rather than in epoch-sized jumps.
    """
    if warmup_epochs <= 0:
        return beta
    progress = step / (warmup_epochs * steps_per_epoch)
    return beta * min(1.0, progress)


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I): sampling that gradients flow through.

    Kingma & Welling 2014, eq. 10. ``generator`` makes the noise reproducible.
    """
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)  # (B, Z)
    return mu + torch.exp(0.5 * logvar) * eps
