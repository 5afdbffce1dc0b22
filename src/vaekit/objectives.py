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
from torch.distributions import Distribution

from vaekit.posteriors import DiagonalGaussian, gaussian_kl_per_dim


@dataclass
class LossTerms:
    """Per-sample terms of the negative ELBO, each of shape (B,): what every model returns.

    A model whose objective is not reconstruction + beta * KL (the IWAE's
    k-sample bound) returns a subclass that overrides :meth:`loss`.
    """

    reconstruction: Tensor
    """-log p(x|z) for one posterior sample z."""
    kl: Tensor
    """KL(q(z|x) || p(z)): in closed form where one exists, else log q(z|x) - log p(z) at the drawn z."""
    kl_per_dim: Tensor | None = None
    """The KL split over latent dimensions, (B, Z), where it splits (factorised q and p); needed for free bits."""
    extra: Tensor | None = None
    """What a model adds to the loss, (B,): e.g. M2's alpha * cross-entropy."""

    def loss(self, beta: float | Tensor, free_bits: float = 0.0, capacity: float | None = None) -> Tensor:
        """The per-sample training loss -log p(x|z) + beta * KL (+ extra), shape (B,).

        With ``free_bits`` = lambda > 0 the KL term is sum_j max(lambda, KL_j)
        with KL_j averaged over the batch (Kingma et al. 2016, eq. 15): a
        dimension whose batch KL is below lambda contributes the constant
        lambda, so nothing pushes it further towards the prior. With a
        ``capacity`` C (nats) the KL term is |KL - C| (Burgess et al. 2018).
        """
        kl = self.kl
        if free_bits > 0 and self.kl_per_dim is not None:
            kl = free_bits_kl(self.kl_per_dim, free_bits)
        if capacity is not None:
            kl = capacity_kl(kl, capacity)
        loss = self.reconstruction + beta * kl
        return loss if self.extra is None else loss + self.extra


def kl_divergence(q: Distribution, p: Distribution, z: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """KL(q || p) per row, and per latent dimension where it splits: ((...), (..., Z) or None).

    The one KL of vaekit: training, ``evaluate``, active units and anomaly
    scores all take it from here. Two diagonal Gaussians use their closed
    form per dimension (today's arithmetic and speed); other pairs use the
    closed form ``torch.distributions.kl_divergence`` has registered, and
    failing that the single-sample Monte Carlo estimate log q(z) - log p(z)
    at ``z``, the draw the reconstruction term used.
    """
    if isinstance(q, DiagonalGaussian) and isinstance(p, DiagonalGaussian):
        per_dim = gaussian_kl_per_dim(q, p)  # (..., Z)
        return per_dim.sum(-1), per_dim
    try:
        return torch.distributions.kl_divergence(q, p), None
    except NotImplementedError:
        if z is None:
            raise ValueError(
                f"KL({type(q).__name__} || {type(p).__name__}) has no closed form; pass the drawn z for the estimate"
            ) from None
        return q.log_prob(z) - p.log_prob(z), None


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


