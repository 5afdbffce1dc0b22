"""Per-sample objective terms and the schedules that weight them.

Model code returns per-sample terms; the trainer reduces them once. The KL
weight schedule is a pure function of the step, so it needs no saved state
to resume exactly.
"""

from __future__ import annotations

import math
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
    kl_per_dim: Tensor | None = None
    """The KL split over latent dimensions, (B, Z); needed for free bits."""

    def loss(self, beta: float | Tensor, free_bits: float = 0.0) -> Tensor:
        """The per-sample training loss -log p(x|z) + beta * KL (shape (B,)).

        With ``free_bits`` = lambda > 0 the KL term is sum_j max(lambda, KL_j)
        with KL_j averaged over the batch (Kingma et al. 2016, eq. 15): a
        dimension whose batch KL is below lambda contributes the constant
        lambda, so nothing pushes it further towards the prior.
        """
        kl = self.kl
        if free_bits > 0 and self.kl_per_dim is not None:
            kl = free_bits_kl(self.kl_per_dim, free_bits)
        return self.reconstruction + beta * kl


def trimmed_mean(per_sample: Tensor, fraction: float) -> Tensor:
    """Mean of the per-sample losses without the highest ``fraction`` of them.

    The trimmed likelihood estimator (Neykov et al. 2007): rows the model
    explains worst in a batch give no gradient, so a minority of outliers in
    unlabelled training data is not learned. ``fraction = 0`` is the mean.
    """
    if fraction <= 0:
        return per_sample.mean()
    keep = max(1, math.ceil(per_sample.shape[0] * (1.0 - fraction)))
    return per_sample.topk(keep, largest=False, sorted=False).values.mean()  # (B,) -> ()


def kl_per_dim(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per sample and latent dimension, shape (B, Z).

    Kingma & Welling 2014, appendix B: -1/2 * (1 + log sigma^2 - mu^2 - sigma^2).
    """
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar)


def kl_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per sample, shape (B,)."""
    return kl_per_dim(mu, logvar).sum(dim=1)


def free_bits_kl(kl_per_dim: Tensor, free_bits: float) -> Tensor:
    """Per-sample KL with free bits, shape (B,); its batch mean is sum_j max(lambda, mean_i KL_ij)."""
    active = kl_per_dim.detach().mean(dim=0) >= free_bits  # (Z,) dimensions above the floor
    return torch.where(active, kl_per_dim, torch.full_like(kl_per_dim, free_bits)).sum(dim=1)


def kl_weight(
    step: int,
    steps_per_epoch: int,
    beta: float,
    warmup_epochs: float = 0.0,
    *,
    cycles: int = 0,
    cycle_ratio: float = 0.5,
    total_epochs: int = 1,
) -> float:
    """The KL weight at optimiser ``step``: constant, linear warm-up, or cyclical.

    Linear warm-up (Bowman et al. 2016) rises from 0 to ``beta`` over
    ``warmup_epochs``. Cyclical annealing (Fu et al. 2019, eq. 5) repeats that
    rise ``cycles`` times over ``total_epochs``: in each cycle the weight rises
    over the first ``cycle_ratio`` of it, then holds ``beta``. The weight is a
    pure function of the step, computed per step, so it needs no saved state.
    """
    if cycles > 0:
        period = total_epochs * steps_per_epoch / cycles
        position = (step % period) / period  # in [0, 1)
        return beta * min(1.0, position / cycle_ratio)
    if warmup_epochs <= 0:
        return beta
    progress = step / (warmup_epochs * steps_per_epoch)
    return beta * min(1.0, progress)


def reparameterize(
    mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None, eps: Tensor | None = None
) -> Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I): sampling that gradients flow through.

    Kingma & Welling 2014, eq. 10. ``generator`` makes the noise reproducible;
    ``eps`` (Z,) gives every row the same noise instead (common random
    numbers: a row's draw then does not depend on the other rows of the batch).
    """
    if eps is None:
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)  # (B, Z)
    return mu + torch.exp(0.5 * logvar) * eps
