"""Priors p(z): ``nn.Module``s that return a distribution over one latent vector.

Everything that needs p(z) asks the model's prior: the KL, the
importance weights of the IW log-likelihood, sampling (with a temperature),
and traversals (which sweep the prior's quantiles). A prior may hold learned
parameters (a mixture's means, VampPrior's pseudo-inputs); it is a submodule
of the model, saved and loaded with its weights.

A new prior subclasses :class:`Prior` and implements ``forward`` (and, when
the distribution cannot draw from a ``torch.Generator``, ``sample``).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, ClassVar, Iterator

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from vaekit.errors import ConfigError
from vaekit.posteriors import (
    HALF_LOG_2PI,
    LOGVAR_MAX,
    LOGVAR_MIN,
    DiagonalGaussian,
    StandardNormal,
    standard_normal_log_prob,
    standard_normal_noise,
)

#: Priors by name (the config's ``prior``): a subclass that sets ``name`` is registered by its definition.
PRIORS: dict[str, type[Prior]] = {}


class Prior(nn.Module):
    """p(z) over (Z,): ``prior()`` is the distribution; ``sample`` and ``quantiles`` serve generation."""

    name: ClassVar[str] = ""
    """The prior's name in the config (``prior: NAME``) and on the CLI (``--prior NAME``); empty: not registered."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            PRIORS[cls.name] = cls

    @classmethod
    def from_config(cls, config: Any, model: Any) -> Prior:
        """The prior for a model's ``config`` (``model``: the model being built, for priors that use its parts)."""
        return cls(config.latent_dim)

    def __call__(self, *args: Any, **kwargs: Any) -> Distribution:
        frozen = self.__dict__.get("_frozen")
        return frozen if frozen is not None else super().__call__(*args, **kwargs)

    @contextlib.contextmanager
    def frozen(self) -> Iterator[Distribution]:
        """Within the block, ``prior()`` is one distribution computed once, without gradients.

        For long evaluations with fixed weights: the IW log-likelihood asks
        for p(z) thousands of times, and a VampPrior's components cost an
        encoder pass over every pseudo-input each time.
        """
        with torch.no_grad():
            self.__dict__["_frozen"] = self()
        try:
            yield self.__dict__["_frozen"]
        finally:
            self.__dict__.pop("_frozen", None)

    def forward(self) -> Distribution:  # pragma: no cover - abstract
        """p(z) with event shape (Z,); ``log_prob(z)`` broadcasts over leading dimensions."""
        raise NotImplementedError

    def log_prob(self, z: Tensor) -> Tensor:
        """log p(z) per row: (..., Z) -> (...)."""
        return self().log_prob(z)

    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> Tensor:
        """``n`` codes (n, Z) drawn from p(z), their spread around the prior's mean scaled by ``temperature``.

        A prior whose distribution is a :class:`DiagonalGaussian` draws from
        ``generator``; others draw from the global RNG unless they override this.
        """
        p = self()
        with torch.no_grad():
            z = p.rsample((n,), generator=generator) if isinstance(p, DiagonalGaussian) else p.sample((n,))  # (n, Z)
        return p.mean + temperature * (z - p.mean)

    def quantiles(self, q: Tensor) -> Tensor:
        """The marginal q-quantile of every latent dimension: q (S,) in (0, 1) -> (S, Z).

        Traversals sweep these, so they stay where the prior has mass. Exact
        for a diagonal Gaussian; otherwise the empirical quantiles of 10,000
        seeded draws.
        """
        p = self()
        with torch.no_grad():
            if isinstance(p, DiagonalGaussian):
                marginal = torch.distributions.Normal(p.mu.double(), p.std.double())
                return marginal.icdf(q.double().to(p.mu.device)[:, None])  # (S, Z)
            draws = self.sample(10_000, generator=torch.Generator().manual_seed(0)).cpu()  # (10000, Z)
        return torch.quantile(draws.double(), q.double().cpu(), dim=0)  # (S, Z)


class StandardNormalPrior(Prior):
    """p(z) = N(0, I), the VAE's prior (Kingma & Welling 2014)."""

    name = "normal"

    def __init__(self, latent_dim: int) -> None:
        super().__init__(latent_dim)
        # Non-persistent: follows .to(device), adds nothing to the saved weights.
        self.register_buffer("zeros", torch.zeros(latent_dim), persistent=False)

    def forward(self) -> StandardNormal:
        return StandardNormal(self.zeros, self.zeros)

    def log_prob(self, z: Tensor) -> Tensor:
        return standard_normal_log_prob(z)

    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> Tensor:
        return temperature * standard_normal_noise((n, self.latent_dim), self.zeros, generator)  # (n, Z)

    def quantiles(self, q: Tensor) -> Tensor:
        icdf = torch.special.ndtri(q)  # (S,): the standard normal's inverse CDF, in q's precision
        return icdf[:, None].expand(len(q), self.latent_dim).to(self.zeros.device)  # (S, Z)


class DiagonalGaussianMixture(Distribution):
    """sum_k w_k N(mu_k, diag(exp(logvar_k))) over (Z,): the mixture priors' distribution.

    ``log_prob`` expands the K Gaussian exponents as matrix products, so
    scoring N codes needs (N, K) memory, not (N, K, Z): the IW log-likelihood
    scores thousands of draws per image against hundreds of components.
    """

    arg_constraints: dict = {}
    has_rsample = False

    def __init__(self, logits: Tensor, mu: Tensor, logvar: Tensor) -> None:
        self.log_weights = torch.log_softmax(logits, dim=-1)  # (K,)
        self.mu, self.logvar = mu, logvar  # (K, Z) each
        super().__init__(batch_shape=torch.Size(), event_shape=mu.shape[-1:], validate_args=False)

    def log_prob(self, z: Tensor) -> Tensor:
        """log sum_k w_k N(z; mu_k, s_k^2): (..., Z) -> (...)."""
        precision = torch.exp(-self.logvar)  # (K, Z)
        flat = z.reshape(-1, z.shape[-1])  # (N, Z)
        # -1/2 sum_j (z_j - mu_kj)^2 / s_kj^2 = -1/2 (z^2 @ P^T - 2 z @ (mu P)^T + sum_j mu_kj^2 P_kj)
        quadratic = flat.square() @ precision.T - 2.0 * flat @ (self.mu * precision).T + (self.mu.square() * precision).sum(-1)
        log_norm = -0.5 * self.logvar.sum(-1) - z.shape[-1] * HALF_LOG_2PI  # (K,)
        log_components = self.log_weights + log_norm - 0.5 * quadratic  # (N, K)
        return torch.logsumexp(log_components, dim=-1).reshape(z.shape[:-1])

    def sample(
        self, sample_shape: torch.Size | tuple[int, ...] = torch.Size(), generator: torch.Generator | None = None,
        temperature: float = 1.0,
    ) -> Tensor:
        """Draws (*sample_shape, Z): a component by its weight, then a point of it (std scaled by ``temperature``)."""
        with torch.no_grad():
            n = math.prod(sample_shape)
            k = torch.multinomial(self.log_weights.exp(), n, replacement=True, generator=generator)  # (n,)
            eps = standard_normal_noise((n, self.mu.shape[-1]), self.mu, generator)  # (n, Z)
            z = self.mu[k] + temperature * torch.exp(0.5 * self.logvar[k]) * eps
        return z.reshape(*sample_shape, -1)

    @property
    def mean(self) -> Tensor:
        return (self.log_weights.exp()[:, None] * self.mu).sum(0)  # (Z,)


class MixturePrior(Prior):
    """A prior whose distribution is a :class:`DiagonalGaussianMixture` of ``components()``."""

    def components(self) -> tuple[Tensor, Tensor, Tensor]:  # pragma: no cover - abstract
        """Mixture logits (K,), means (K, Z) and log-variances (K, Z)."""
        raise NotImplementedError

    def forward(self) -> DiagonalGaussianMixture:
        return DiagonalGaussianMixture(*self.components())

    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> Tensor:
        """``n`` codes: a component, then a draw from it with its spread scaled by ``temperature``."""
        return self().sample((n,), generator=generator, temperature=temperature)


class MixtureOfGaussiansPrior(MixturePrior):
    """p(z) = sum_k w_k N(mu_k, diag(s_k^2)) with weights, means and variances learned (``--prior mog``)."""

    name = "mog"

    @classmethod
    def from_config(cls, config: Any, model: Any) -> MixtureOfGaussiansPrior:
        return cls(config.latent_dim, config.prior_components)

    def __init__(self, latent_dim: int, components: int = 10) -> None:
        super().__init__(latent_dim)
        # Means spread like draws from N(0, I), so the components start apart; unit variances, equal weights.
        self.means = nn.Parameter(torch.randn(components, latent_dim))
        self.logvars = nn.Parameter(torch.zeros(components, latent_dim))
        self.logits = nn.Parameter(torch.zeros(components))

    def components(self) -> tuple[Tensor, Tensor, Tensor]:
        return self.logits, self.means, self.logvars.clamp(LOGVAR_MIN, LOGVAR_MAX)


class VampPrior(MixturePrior):
    """The VampPrior (Tomczak & Welling 2018, eq. 9): p(z) = 1/K sum_k q(z|u_k) with K learned pseudo-inputs.

    The mixture's components are the model's own posterior at the pseudo-inputs
    u_k, so the prior follows the encoder. ``posterior`` is the model's
    q(z|x) function (a reference, not a submodule: the encoder's weights are
    saved once, under the model).
    """

    name = "vamp"

    @classmethod
    def from_config(cls, config: Any, model: Any) -> VampPrior:
        if model.condition_size(config):
            raise ConfigError(f"prior 'vamp' is for unconditional models; model '{model.name}' conditions its encoder")
        bounded = config.likelihood == "bernoulli"  # pseudo-inputs live where the data does: [0, 1]
        # A bound method, not a lambda: deepcopy and pickle then follow the copied model.
        return cls(config.latent_dim, model._base_posterior, tuple(config.input_shape), config.pseudo_inputs, bounded)

    def __init__(
        self, latent_dim: int, posterior: Callable[[Tensor], DiagonalGaussian], input_shape: tuple[int, ...],
        pseudo_inputs: int = 500, bounded: bool = True,
    ) -> None:
        super().__init__(latent_dim)
        # Tomczak & Welling's initialisation: N(0.05, 0.01), clipped to [0, 1] by a hardtanh for data in [0, 1].
        self.pseudo_inputs = nn.Parameter(0.05 + 0.01 * torch.randn(pseudo_inputs, *input_shape))
        self.bounded = bounded
        self.__dict__["_posterior"] = posterior  # a plain attribute: nn.Module would not register a method anyway

    def inputs(self) -> Tensor:
        """The pseudo-inputs as the encoder sees them, (K, *input_shape)."""
        return nn.functional.hardtanh(self.pseudo_inputs, 0.0, 1.0) if self.bounded else self.pseudo_inputs

    def components(self) -> tuple[Tensor, Tensor, Tensor]:
        q = self._posterior(self.inputs())  # (K, Z)
        return torch.zeros(len(q.mu), dtype=q.mu.dtype, device=q.mu.device), q.mu, q.logvar

