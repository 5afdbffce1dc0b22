"""Approximate posteriors q(z|x): ``torch.distributions`` objects that draw with explicit randomness.

``torch.distributions`` draws from the global RNG; vaekit's bitwise resume
and the anomaly detector's fixed per-row noise need draws from a given
``torch.Generator`` or from noise passed in. :class:`DiagonalGaussian` is an
ordinary ``Independent(Normal)`` (so ``kl_divergence``, ``log_prob``,
``mean`` work as usual) whose ``rsample`` also takes ``generator=`` and
``eps=``. This module is the one place that writes z = mu + sigma * eps.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Independent, Normal, register_kl

#: log sqrt(2 pi), the Gaussian normaliser per dimension.
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)

# log sigma^2 is clamped so exp() can neither overflow nor underflow to an
# exactly-zero variance (which would make the KL infinite).
LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0


def standard_normal_noise(
    shape: tuple[int, ...] | torch.Size, like: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """eps ~ N(0, I) of ``shape`` with ``like``'s dtype and device, from ``generator`` when given."""
    return torch.randn(shape, generator=generator, dtype=like.dtype, device=like.device)


def reparameterize(mu: Tensor, std: Tensor, eps: Tensor) -> Tensor:
    """z = mu + sigma * eps: a draw that gradients flow through (Kingma & Welling 2014, eq. 10)."""
    return mu + std * eps


class DiagonalGaussian(Independent):
    """N(mu, diag(exp(logvar))) over the last dimension: the VAE's q(z|x) and its N(0, I) prior.

    Parameters
    ----------
    mu, logvar
        (..., Z) each; ``logvar`` is used as given (the encoder clamps it).
    """

    def __init__(self, mu: Tensor, logvar: Tensor) -> None:
        self.mu, self.logvar = mu, logvar
        self.std = torch.exp(0.5 * logvar)
        super().__init__(Normal(mu, self.std, validate_args=False), 1, validate_args=False)
        self._drawn: tuple[Tensor, Tensor] | None = None  # (z, eps) of the last rsample

    def rsample(
        self, sample_shape: torch.Size | tuple[int, ...] = torch.Size(),
        generator: torch.Generator | None = None, eps: Tensor | None = None,
    ) -> Tensor:
        """z = mu + sigma * eps, (*sample_shape, ..., Z).

        ``eps`` is drawn from ``generator`` (or the global RNG) unless given;
        a given ``eps`` broadcasts against ``mu`` (e.g. (Z,): the same noise
        for every row, so a row's draw does not depend on the others).
        """
        if eps is None:
            eps = standard_normal_noise(torch.Size(sample_shape) + self.mu.shape, self.mu, generator)
        z = reparameterize(self.mu, self.std, eps)
        self._drawn = (z, eps)
        return z

    def sample(self, sample_shape=torch.Size(), generator: torch.Generator | None = None) -> Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape, generator)

    def log_prob(self, z: Tensor) -> Tensor:
        """log q(z) summed over Z.

        For the z this object last drew, (z - mu) / sigma is the noise itself:
        no division, and the same numbers the closed form gave before.
        """
        if self._drawn is not None and z is self._drawn[0]:
            eps = self._drawn[1]
            return -0.5 * eps.square().sum(-1) - 0.5 * self.logvar.sum(-1) - z.shape[-1] * HALF_LOG_2PI
        return super().log_prob(z)


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I) summed over the last dimension: (..., Z) -> (...)."""
    return -0.5 * z.square().sum(-1) - z.shape[-1] * HALF_LOG_2PI


class StandardNormal(DiagonalGaussian):
    """N(0, I): a :class:`DiagonalGaussian` whose KL and log-density take their short closed forms."""

    def log_prob(self, z: Tensor) -> Tensor:
        return standard_normal_log_prob(z)


def gaussian_kl_per_dim(q: DiagonalGaussian, p: DiagonalGaussian) -> Tensor:
    """KL(q || p) per latent dimension, (..., Z), for two diagonal Gaussians.

    Against N(0, I): Kingma & Welling 2014, appendix B, -1/2 (1 + log s^2 - mu^2 - s^2);
    otherwise the general form 1/2 (log s_p^2 - log s_q^2 + (s_q^2 + (mu_q - mu_p)^2) / s_p^2 - 1).
    """
    if isinstance(p, StandardNormal):
        return 0.5 * (q.mu.square() + q.logvar.exp() - 1.0 - q.logvar)
    return 0.5 * (p.logvar - q.logvar + (q.logvar.exp() + (q.mu - p.mu).square()) / p.logvar.exp() - 1.0)


@register_kl(DiagonalGaussian, DiagonalGaussian)
def _kl_diagonal_gaussians(q: DiagonalGaussian, p: DiagonalGaussian) -> Tensor:
    return gaussian_kl_per_dim(q, p).sum(-1)
