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

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@dataclass
class LossTerms:
    """Per-sample terms of the negative ELBO, each of shape (B,)."""

    reconstruction: Tensor
    """-log p(x|z) for one posterior sample z."""
    kl: Tensor
    """KL(q(z|x) || p(z)) in closed form."""
    kl_per_dim: Tensor | None = None
    """The KL split over latent dimensions, (B, Z); needed for free bits."""
    extra: Tensor | None = None
    """What a variant adds to the loss, (B,): M2's alpha * cross-entropy."""
    log_px_z: Tensor | None = None
    """IWAE: log p(x|z_k) for k posterior draws per row, (K, B); the loss is then the k-sample bound."""
    log_prior_ratio: Tensor | None = None
    """IWAE: log p(z_k) - log q(z_k|x), (K, B)."""

    def loss(self, beta: float | Tensor, free_bits: float = 0.0, capacity: float | None = None) -> Tensor:
        """The per-sample training loss -log p(x|z) + beta * KL (+ extra), shape (B,).

        With ``free_bits`` = lambda > 0 the KL term is sum_j max(lambda, KL_j)
        with KL_j averaged over the batch (Kingma et al. 2016, eq. 15): a
        dimension whose batch KL is below lambda contributes the constant
        lambda, so nothing pushes it further towards the prior. With a
        ``capacity`` C (nats) the KL term is |KL - C| (Burgess et al. 2018).
        With importance samples (IWAE) the loss is minus the k-sample bound,
        beta weighting log p(z)/q(z|x) inside each weight, so beta = 1 is
        Burda et al. 2015's bound and a KL warm-up anneals it as it does the ELBO.
        """
        if self.log_px_z is not None:
            loss = -iw_bound(self.log_px_z + beta * self.log_prior_ratio)  # Burda et al. 2015, eq. 8
            return loss if self.extra is None else loss + self.extra
        kl = self.kl
        if free_bits > 0 and self.kl_per_dim is not None:
            kl = free_bits_kl(self.kl_per_dim, free_bits)
        if capacity is not None:
            kl = capacity_kl(kl, capacity)
        loss = self.reconstruction + beta * kl
        return loss if self.extra is None else loss + self.extra


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


def capacity_kl(kl: Tensor, capacity: float) -> Tensor:
    """Per-sample KL term whose batch mean is |mean_i KL_i - C| (Burgess et al. 2018, eq. 8).

    The sign of (batch KL - C) is taken without gradient, so each row is
    pushed towards C in the direction the batch needs and the term stays per sample.
    """
    sign = torch.sign(kl.detach().mean() - capacity)
    return sign * (kl - capacity)


def capacity_at(step: int, capacity_max: float, capacity_steps: int) -> float | None:
    """C at optimiser ``step``: linear from 0 to ``capacity_max`` over ``capacity_steps``; None when off.

    A pure function of the step, like :func:`kl_weight`, so resuming is exact.
    """
    if capacity_max <= 0:
        return None
    return capacity_max * min(1.0, step / capacity_steps)


def log_importance_weights(log_px_z: Tensor, z: Tensor, eps: Tensor, logvar: Tensor) -> Tensor:
    """log p(x|z) + log p(z) - log q(z|x) for z = mu + sigma * eps, shape of ``log_px_z`` (K, B).

    Both Gaussian log-densities in closed form: (z - mu) / sigma is eps itself,
    so log q needs no division and its gradient is the reparameterized one.
    """
    z_dim = z.shape[-1]
    log_q = -0.5 * eps.square().sum(-1) - 0.5 * logvar.sum(-1) - z_dim * _HALF_LOG_2PI  # (K, B)
    log_pz = -0.5 * z.square().sum(-1) - z_dim * _HALF_LOG_2PI  # (K, B)
    return log_px_z + log_pz - log_q


def iw_bound(log_w: Tensor) -> Tensor:
    """The k-sample importance-weighted bound per row, log (1/K) sum_k w_k (Burda et al. 2015, eq. 8): (K, B) -> (B,)."""
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


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
