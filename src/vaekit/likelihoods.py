"""Observation models p(x|z): the decoder's output becomes a ``torch.distributions`` object.

Each likelihood turns the decoder's raw output (``params``, of shape
``params_shape``: x's shape, except for the logistic mixture, which reads
several numbers per pixel) into a distribution over one whole sample
(``Independent`` over the feature dimensions, so ``log_prob`` is per sample).
The Bernoulli's and the Gaussians' ``log_prob`` is also written out in closed
form: it is the training hot path, and the fused expression skips the
distribution object's bookkeeping while giving the same numbers (tested).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Bernoulli, Distribution, Independent, Normal, constraints

from vaekit.errors import ConfigError

# Bounds on a learned log standard deviation: exp() stays finite and the
# density cannot collapse onto a single training point.
LOG_STD_MIN, LOG_STD_MAX = -7.0, 5.0
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def is_binary(x: Tensor | np.ndarray) -> bool:
    """Whether every value of ``x`` is 0 or 1 (then binarizing it changes nothing)."""
    x = torch.as_tensor(x)
    return bool(((x == 0) | (x == 1)).all())


class Likelihood(nn.Module):
    """Base class: maps decoder outputs to p(x|z) for samples of ``event_shape``."""

    name: ClassVar[str]
    discrete: ClassVar[bool] = False
    """True when ``log_prob`` is a log-probability of discrete values (a code length: bits per
    dimension apply), False when it is a log-density (it depends on the scale of x)."""

    def __init__(self, event_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.event_shape = tuple(event_shape)

    def on_support(self, x: Tensor) -> bool:
        """Whether ``log_prob`` of x is a log-probability of values the distribution puts mass on: then,
        for a ``discrete`` likelihood, -log p(x) is a code length and bits per dimension apply."""
        return True

    @property
    def params_shape(self) -> tuple[int, ...]:
        """Shape of the decoder output per sample that this likelihood reads: x's shape by default."""
        return self.event_shape

    def distribution(self, params: Tensor) -> Distribution:
        """p(x|z) as a distribution whose ``log_prob`` has shape (B,)."""
        raise NotImplementedError

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """log p(x|z) per sample: params (..., *event_shape), x broadcastable to it -> (...).

        Broadcasting lets K posterior samples of B rows, params (K, B, ...),
        be scored against x (B, ...) without K copies of x.
        """
        return self.distribution(params).log_prob(x)

    def log_prob_elements(self, params: Tensor, x: Tensor) -> Tensor:
        """log p(x_i|z) of each value of x, (..., *event_shape): the terms ``log_prob`` sums.

        What per-reading anomaly scores of a sequence need. Only likelihoods
        that factorise over the values of x have it.
        """
        dist = self.distribution(params)
        if not isinstance(dist, Independent):
            raise ConfigError(f"the {self.name} likelihood does not factorise over values; pick gaussian or bernoulli")
        return dist.base_dist.log_prob(x.expand_as(params))

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
    discrete = True

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

    def on_support(self, x: Tensor) -> bool:
        """Only 0s and 1s: on grey values the Bernoulli's -log p is a cross-entropy, not a code length."""
        return is_binary(x)


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


#: 8-bit data scaled to [0, 1]: 256 values k / 255, so a bin is 1/255 wide around each.
BIN_WIDTH = 1.0 / 255.0
_HALF_BIN = 0.5 * BIN_WIDTH
#: Bounds on a mixture component's log-scale. PixelCNN++ floors it at -7 on data in [-1, 1];
#: on [0, 1] the same scale relative to a bin is -7 - log 2.
LOG_SCALE_MIN, LOG_SCALE_MAX = -7.0 - math.log(2.0), LOG_STD_MAX
#: The outer edge of bins 0 and 255, as a distance from x: at least 6,700 of the widest scale
#: (exp(LOG_SCALE_MAX)) away, so the logistic's mass beyond it is 0 in float32 and so is its gradient.
_TAIL = 1e6


class DiscretizedLogisticMixture(Distribution):
    """Per position, a mixture of K logistics over the 256 values k / 255 of 8-bit data in [0, 1].

    Salimans et al. 2017 (PixelCNN++), sec. 2.1-2.2: the probability of a value
    is its logistic mass over the bin [x - 1/510, x + 1/510], the edge bins 0 and
    255 taking the whole tails, so the 256 probabilities sum to exactly 1. The
    channels of one position share the mixture weights; within a component, the
    mean of channel c moves linearly with the values of channels 0..c-1 (their
    eq. 3: G on R, B on R and G), so one component can model correlated colour.

    Parameters hold the component axis K before the channel axis C; ``cshape``
    is the sample as (C, *S): (C, H, W) for images, (1, *shape) for anything else.
    """

    arg_constraints: ClassVar[dict] = {}
    support = constraints.unit_interval  # the 256 values k / 255 within it

    def __init__(
        self, logits: Tensor, loc: Tensor, log_scale: Tensor, coeffs: Tensor,
        event_shape: tuple[int, ...], cshape: tuple[int, ...],
    ) -> None:
        self.logits = logits  # (..., K, *S): mixture weights, shared by the channels of a position
        self.loc = loc  # (..., K, C, *S)
        self.log_scale = log_scale.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX)  # (..., K, C, *S)
        self.coeffs = torch.tanh(coeffs)  # (..., K, C(C-1)/2, *S): PixelCNN++ squashes them to (-1, 1)
        self.cshape = cshape
        self._c_axis = -len(cshape)  # the channel axis of (..., K, C, *S); the component axis is one before
        batch_shape = logits.shape[: logits.dim() - len(cshape)]
        super().__init__(batch_shape, torch.Size(event_shape), validate_args=False)

    def _coupled_loc(self, x: Tensor) -> Tensor:
        """Each component's channel means given the lower channels' values x (..., 1, C, *S): (..., K, C, *S)."""
        axis = self._c_axis
        means, pair = [self.loc.select(axis, 0)], 0
        for c in range(1, self.cshape[0]):
            m = self.loc.select(axis, c)  # (..., K, *S)
            for j in range(c):
                m = m + self.coeffs.select(axis, pair) * x.select(axis, j)  # Salimans et al. 2017, eq. 3
                pair += 1
            means.append(m)
        return torch.stack(torch.broadcast_tensors(*means), dim=axis)  # x may bring batch dims of its own

    def _component_means(self) -> Tensor:
        """Each component's expected value per channel, (..., K, C, *S); lower channels enter at theirs."""
        axis = self._c_axis
        values, pair = [self._clipped_mean(self.loc.select(axis, 0), 0)], 0
        for c in range(1, self.cshape[0]):
            m = self.loc.select(axis, c)  # (..., K, *S)
            for j in range(c):
                m = m + self.coeffs.select(axis, pair) * values[j]
                pair += 1
            values.append(self._clipped_mean(m, c))
        return torch.stack(values, dim=axis)

    def _clipped_mean(self, loc: Tensor, channel: int) -> Tensor:
        """E[clip(X, 0, 1)] of each component's logistic X on ``channel``: the integral of its
        survival function over [0, 1], s (softplus(mu / s) - softplus((mu - 1) / s))."""
        scale = self.log_scale.select(self._c_axis, channel).exp()  # (..., K, *S)
        return scale * (F.softplus(loc / scale) - F.softplus((loc - 1) / scale))

    def log_prob(self, value: Tensor) -> Tensor:
        """log P(x) per sample: x (..., *event_shape), broadcastable against the batch shape -> (...)."""
        n_event = len(self.event_shape)
        x = value.reshape(*value.shape[: value.dim() - n_event], *self.cshape)  # (..., C, *S)
        x = x.unsqueeze(self._c_axis - 1)  # (..., 1, C, *S): the same x for every component
        # The bin's edges as distances from x: half a bin either side, but bins 0 and 255 take the
        # whole tails (PixelCNN++): their outer edge moves out to _TAIL. (..., 1, C, *S), no copy per component.
        below = torch.where(x < _HALF_BIN, _TAIL, _HALF_BIN)
        above = torch.where(x > 1 - _HALF_BIN, _TAIL, _HALF_BIN)
        inv_scale = torch.exp(-self.log_scale)  # (..., K, C, *S)
        centred = x - self._coupled_loc(x)
        # P(bin) = sigmoid(b) - sigmoid(a), a < b the bin's edges in units of the scale. Written as
        # sigmoid(b) * sigmoid(-a) * (1 - exp(a - b)) it subtracts no nearly equal numbers: it stays exact
        # far in the tails, where PixelCNN++ falls back to the density at the bin's centre. The last
        # factor, log(1 - exp(-w)), has w = inv_scale / 255 in [3e-5, 9] (the clamped scales): one
        # expm1 is accurate there to 1e-7 nats. At an edge bin two factors are exactly 1.
        log_p = (
            F.logsigmoid(inv_scale * (centred + above))  # log P(X < b)
            + F.logsigmoid(-inv_scale * (centred - below))  # log P(X > a)
            + torch.log(-torch.expm1(-inv_scale * (above + below)))  # log(1 - exp(a - b))
        )  # (..., K, C, *S)
        log_p = log_p.sum(self._c_axis)  # (..., K, *S): a component's channels, one joint value
        log_p = torch.logsumexp(log_p + F.log_softmax(self.logits, dim=self._c_axis), dim=self._c_axis)  # (..., *S)
        return log_p.flatten(log_p.dim() - len(self.cshape) + 1).sum(-1)  # (...)

    @property
    def mean(self) -> Tensor:
        """E[x], (..., *event_shape): each logistic's mean with its tails folded onto 0 and 1, as the edge bins do.

        Not the mixture's mean clipped: a little-used component whose mean has
        drifted to 5 puts its mass on 1, and should pull the pixel only that far.
        Equal to the mean over the 256 levels up to the rounding to levels
        (under 1e-4 for scales above a few levels); with coupled channels the
        lower channels enter a component's mean at their expected values.
        """
        weights = torch.softmax(self.logits, dim=self._c_axis).unsqueeze(self._c_axis)  # (..., K, 1, *S)
        mean = (weights * self._component_means()).sum(self._c_axis - 1)  # (..., C, *S)
        return mean.clamp(0.0, 1.0).reshape(*self.batch_shape, *self.event_shape)  # clamp: float rounding only


class LogisticMixtureLikelihood(Likelihood):
    """Discretized mixture of ``components`` logistics for 8-bit data scaled to [0, 1] (PixelCNN++).

    A log-probability over the 256 values k / 255 of each feature (``discrete``),
    so test NLLs are code lengths in bits per dimension, comparable with the
    literature's on CIFAR-10 and ImageNet. Images (C, H, W) couple their
    channels (see :class:`DiscretizedLogisticMixture`); any other shape is
    one channel per feature. The decoder gives K * (1 + 2C + C(C-1)/2)
    numbers per position (10K for RGB): mixture logits, then the K x C means,
    log-scales and channel coefficients. Values between the 256 levels get the
    mass of the 1/255-wide bin around them: on coarser data (the 17 levels of
    ``digits``) that is still a probability, but not a distribution summing to 1.
    """

    name = "logistic-mixture"
    discrete = True

    def __init__(self, event_shape: tuple[int, ...], components: int = 10) -> None:
        super().__init__(event_shape)
        if components < 1:
            raise ConfigError(f"invalid value for 'mixture_components': {components!r} (must be > 0)")
        self.components = int(components)
        # Images couple their channels; a vector is one channel of D positions.
        self.cshape = self.event_shape if len(self.event_shape) == 3 else (1, *self.event_shape)
        channels = self.cshape[0]
        self._sizes = (1, channels, channels, channels * (channels - 1) // 2)  # per component
        self._params_shape = (self.components * sum(self._sizes), *self.cshape[1:])

    @property
    def params_shape(self) -> tuple[int, ...]:
        return self._params_shape

    def distribution(self, params: Tensor) -> Distribution:
        if tuple(params.shape[params.dim() - len(self._params_shape) :]) != self._params_shape:
            raise ConfigError(
                f"the {self.name} likelihood reads decoder outputs of shape {self._params_shape} per sample "
                f"(likelihood.params_shape), got {tuple(params.shape)}"
            )
        axis = params.dim() - len(self._params_shape)  # the parameter axis
        lead, spatial, k = params.shape[:axis], self.cshape[1:], self.components
        parts = params.split([k * n for n in self._sizes], dim=axis)
        logits, loc, log_scale, coeffs = (part.reshape(*lead, k, n, *spatial) for part, n in zip(parts, self._sizes))
        return DiscretizedLogisticMixture(
            logits.squeeze(axis + 1),  # (..., K, *S)
            loc, log_scale,  # (..., K, C, *S) each
            coeffs,  # (..., K, C(C-1)/2, *S)
            self.event_shape, self.cshape,
        )


LIKELIHOODS: dict[str, type[Likelihood]] = {
    cls.name: cls
    for cls in (BernoulliLikelihood, GaussianLikelihood, LearnedGaussianLikelihood, LogisticMixtureLikelihood)
}


def build_likelihood(
    name: str, event_shape: tuple[int, ...], obs_std: float = 1.0, mixture_components: int = 10
) -> Likelihood:
    """The likelihood registered under ``name``."""
    try:
        cls = LIKELIHOODS[name]
    except KeyError:
        raise ConfigError(
            f"invalid value for 'likelihood': {name!r} (choose from {', '.join(LIKELIHOODS)})"
        ) from None
    if issubclass(cls, GaussianLikelihood):
        return cls(event_shape, obs_std=obs_std)
    if issubclass(cls, LogisticMixtureLikelihood):
        return cls(event_shape, components=mixture_components)
    return cls(event_shape)
