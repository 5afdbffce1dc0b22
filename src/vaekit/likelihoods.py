"""Observation models p(x|z): the decoder's output becomes a ``torch.distributions`` object.

Each likelihood turns the decoder's raw output (``params``, same shape as x)
into a distribution over one whole sample (``Independent`` over the feature
dimensions, so ``log_prob`` is per sample). ``log_prob`` is also written out
in closed form: it is the training hot path, and the fused expression skips
the distribution object's bookkeeping while giving the same numbers (tested).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Bernoulli, Distribution, Independent, Normal

from vaekit.errors import ConfigError

# Bounds on a learned log standard deviation: exp() stays finite and the
# density cannot collapse onto a single training point.
LOG_STD_MIN, LOG_STD_MAX = -7.0, 5.0
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class Likelihood(nn.Module):
    """Base class: maps decoder outputs to p(x|z) for samples of ``event_shape``."""

    name: ClassVar[str]

    def __init__(self, event_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.event_shape = tuple(event_shape)

    def distribution(self, params: Tensor) -> Distribution:
        """p(x|z) as a distribution whose ``log_prob`` has shape (B,)."""
        raise NotImplementedError

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """log p(x|z) per sample: params (..., *event_shape), x broadcastable to it -> (...).

        Broadcasting lets K posterior samples of B rows, params (K, B, ...),
        be scored against x (B, ...) without K copies of x.
        """
        return self.distribution(params).log_prob(x)

    def _sum_event(self, t: Tensor) -> Tensor:
        """Sum over the trailing event dimensions: (..., *event_shape) -> (...)."""
        return t.flatten(t.dim() - len(self.event_shape)).sum(-1)

    def mean(self, params: Tensor) -> Tensor:
        """E[x|z], same shape as x: what reconstructions and samples show."""
        return self.distribution(params).mean

    def _independent(self, base: Distribution) -> Distribution:
        return Independent(base, len(self.event_shape), validate_args=False)


class BernoulliLikelihood(Likelihood):
    """Bernoulli with logits; for binary data or intensities in [0, 1]."""

    name = "bernoulli"

    def distribution(self, params: Tensor) -> Distribution:
        return self._independent(Bernoulli(logits=params, validate_args=False))

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        # The logits form is exact and stable where sigmoid-then-BCE saturates, and
        # one fused kernel forward and backward. expand_as broadcasts x over leading
        # sample dimensions as a stride-0 view: no copy of x per sample.
        nll = F.binary_cross_entropy_with_logits(params, x.expand_as(params), reduction="none")
        return -self._sum_event(nll)

    def mean(self, params: Tensor) -> Tensor:
        return torch.sigmoid(params)


class GaussianLikelihood(Likelihood):
    """Gaussian with the decoder's mean and a fixed standard deviation ``obs_std``."""

    name = "gaussian"

    def __init__(self, event_shape: tuple[int, ...], obs_std: float = 1.0) -> None:
        super().__init__(event_shape)
        self.obs_std = float(obs_std)

    def std(self, params: Tensor) -> Tensor:
        return torch.full_like(params, self.obs_std)

    def distribution(self, params: Tensor) -> Distribution:
        return self._independent(Normal(params, self.std(params), validate_args=False))

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        log_std = math.log(self.obs_std)
        sq = ((x - params) / self.obs_std).square()  # (..., *event_shape)
        n = math.prod(self.event_shape)
        return -0.5 * self._sum_event(sq) - n * (log_std + _HALF_LOG_2PI)

    def mean(self, params: Tensor) -> Tensor:
        return params


class LearnedGaussianLikelihood(GaussianLikelihood):
    """Gaussian whose per-feature standard deviation is a learned parameter."""

    name = "gaussian-learned"

    def __init__(self, event_shape: tuple[int, ...], obs_std: float = 1.0) -> None:
        super().__init__(event_shape, obs_std)
        self.log_std = nn.Parameter(torch.full(self.event_shape, math.log(obs_std)))

    def _log_std(self) -> Tensor:
        return self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)  # (*event_shape)

    def std(self, params: Tensor) -> Tensor:
        return self._log_std().exp().expand_as(params)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        log_std = self._log_std()
        sq = ((x - params) * torch.exp(-log_std)).square()  # (..., *event_shape)
        return -0.5 * self._sum_event(sq) - log_std.sum() - log_std.numel() * _HALF_LOG_2PI


LIKELIHOODS: dict[str, type[Likelihood]] = {
    cls.name: cls for cls in (BernoulliLikelihood, GaussianLikelihood, LearnedGaussianLikelihood)
}


def build_likelihood(name: str, event_shape: tuple[int, ...], obs_std: float = 1.0) -> Likelihood:
    """The likelihood registered under ``name``."""
    try:
        cls = LIKELIHOODS[name]
    except KeyError:
        raise ConfigError(
            f"invalid value for 'likelihood': {name!r} (choose from {', '.join(LIKELIHOODS)})"
        ) from None
    if issubclass(cls, GaussianLikelihood):
        return cls(event_shape, obs_std=obs_std)
    return cls(event_shape)
