"""The two-level hierarchical VAE (HVAE) of Tomczak & Welling 2018 ("VAE with a VampPrior").

Generative model: z2 ~ p(z2), z1 ~ p(z1|z2), x ~ p(x|z1, z2).
Inference model:  q(z2|x) q(z1|x, z2).

- p(z2) is ``self.prior``: ``--prior normal|mog|vamp`` applies to the top
  level; under ``vamp`` its components are q(z2|u_k), Tomczak & Welling's
  hierarchical VampPrior;
- p(z1|z2) and q(z1|x, z2) are diagonal Gaussians from small networks, so
  the bottom level's KL is in closed form;
- p(x|z1, z2) is the usual decoder (mlp, conv or resnet from
  :func:`~vaekit.networks.build_networks`) on the two levels side by side.

Sizes: z1 has ``config.latent_dim`` dimensions, z2 ``options.top_latent_dim``
(0 = the same). The top level is the model's face: ``posterior(x)`` is
q(z2|x), ``latent_dim`` is z2's size, ``decode(z2)``, ``sample`` and the
traversals go through p(z1|z2) to x, so every use of the VAE interface
(embeddings, traversals, samples, the IW log-likelihood) works unchanged.
Wherever both levels appear together (the decoder's input, ``eps``,
``kl_per_dim``, ``embed(level="both")``) the order is (z1, z2).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from vaekit.config import ModelConfig
from vaekit.errors import ConfigError, DataError
from vaekit.models.vae import VAE, by_batch
from vaekit.networks import MLPEncoder, build_networks, mlp
from vaekit.objectives import LossTerms, kl_divergence
from vaekit.posteriors import LOGVAR_MAX, LOGVAR_MIN, DiagonalGaussian, reparameterize, standard_normal_noise
from vaekit.priors import Prior

#: What ``embed(level=...)`` returns: z2, z1, or both side by side (z1, z2).
LEVELS = ("top", "bottom", "both")
#: What q(z1|x, z2) reads of x (``--option x_branch=...``): a full encoder, or one hidden layer.
X_BRANCHES = ("encoder", "layer")


def _gaussian(params: Tensor) -> DiagonalGaussian:
    """The diagonal Gaussian whose mean and log-variance are ``params`` (..., 2Z) side by side."""
    mu, logvar = params.chunk(2, dim=-1)  # (..., Z) each
    return DiagonalGaussian(mu, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX))


class HVAE(VAE):
    """A VAE with two stochastic levels: z2 ~ p(z2), z1 ~ p(z1|z2), x ~ p(x|z1, z2).

    ``encoder`` (optional, your own): x -> (B, 2 * Z2), the parameters of
    q(z2|x); ``decoder``: (z1, z2) concatenated (B, Z1 + Z2) -> the
    likelihood's parameters; ``prior``: a :class:`~vaekit.priors.Prior` over
    z2. The networks of the bottom level are always vaekit's.
    """

    name = "hvae"
    # The decoder takes (z1, z2): a graph of z alone would leave p(z1|z2) out of the exported model.
    exportable = False

    @dataclass
    class Options:
        top_latent_dim: int = 0
        """Dimensions of the top latent z2 (what p(z2), embeddings, traversals and samples use); 0 = latent_dim, the size of z1."""
        x_branch: str = "encoder"
        """What q(z1|x, z2) reads of x: "encoder", a second encoder of the configured arch; "layer", one
        hidden layer on the flattened input, as in Tomczak & Welling's q(z1|x, z2) (a cheaper step)."""

        def validate(self) -> None:
            if self.top_latent_dim < 0:
                raise ConfigError(
                    f"invalid value for 'top_latent_dim': {self.top_latent_dim} (must be >= 0; 0 = latent_dim)"
                )
            if self.x_branch not in X_BRANCHES:
                raise ConfigError(
                    f"invalid value for 'x_branch': {self.x_branch!r} (choose from {', '.join(X_BRANCHES)})"
                )

    @classmethod
    def check_config(cls, config: ModelConfig):
        options = super().check_config(config)
        if config.posterior != "gaussian":
            raise ConfigError(
                f"model 'hvae' has diagonal Gaussian posteriors at both levels; posterior '{config.posterior}' "
                "applies to vae and iwae: use --posterior gaussian"
            )
        return options

    def __init__(
        self, config: ModelConfig, *, encoder: nn.Module | None = None, decoder: nn.Module | None = None,
        prior: Prior | None = None,
    ) -> None:
        super().__init__(config, encoder=encoder, decoder=decoder, prior=prior)
        self.bottom_dim = config.latent_dim  # Z1
        self.latent_dim = self._top_dim(config)  # Z2: traversals, samples and embeddings sweep the top level
        z1, z2 = self.bottom_dim, self.latent_dim
        width = config.hidden_dims[-1]  # the innermost MLP width: these networks sit next to a latent code
        # q(z1|x, z2): x has its own branch whose output h(x) (B, 2 * Z1) is merged with z2 by a small MLP.
        # Not the top encoder's features: that network may be the user's own, whose inside vaekit cannot
        # see; Tomczak & Welling's q(z1|x, z2) too has an x branch and a z2 branch.
        if self.options.x_branch == "layer":  # their x branch: one hidden layer on x
            self.encoder_z1: nn.Module = MLPEncoder(
                config.input_shape, z1, (width,), config.activation, dropout=config.dropout
            )
        else:  # a second encoder of the configured arch (mlp, conv, resnet, ...)
            self.encoder_z1, _ = build_networks(dataclasses.replace(config, latent_dim=z1))
        self.posterior_z1 = nn.Sequential(*mlp([2 * z1 + z2, width, 2 * z1], config.activation, config.dropout))
        # p(z1|z2): an MLP on z2 to the mean and log-variance of z1.
        self.prior_z1 = nn.Sequential(*mlp([z2, width, 2 * z1], config.activation, config.dropout))

    # ------------------------------------------------------------------ parts


    @property
    def noise_dim(self) -> int:
        """Standard-normal values per draw of (z1, z2): the size of ``eps``."""
        return self.bottom_dim + self.latent_dim

    def _top_dim(self, config: ModelConfig) -> int:
        return self.options.top_latent_dim or config.latent_dim

    def build_networks(self, config: ModelConfig) -> tuple[nn.Module, nn.Module]:
        """q(z2|x)'s encoder x -> (B, 2 * Z2) and the decoder (z1, z2) (B, Z1 + Z2) -> likelihood parameters."""
        top = dataclasses.replace(config, latent_dim=self._top_dim(config))
        encoder, _ = build_networks(top)
        both = dataclasses.replace(config, latent_dim=config.latent_dim + top.latent_dim)
        _, decoder = build_networks(both, output_shape=self.build_likelihood(config).params_shape)
        return encoder, decoder

    def build_prior(self, config: ModelConfig) -> Prior:
        """p(z2) as ``config.prior`` names it; the VampPrior's components are q(z2|u_k) (the top encoder)."""
        return super().build_prior(dataclasses.replace(config, latent_dim=self._top_dim(config)))

    def _posterior_z1(self, h: Tensor, z2: Tensor) -> DiagonalGaussian:
        """q(z1|x, z2) from x's features h (B, 2 * Z1) and z2 (..., B, Z2): over (..., B, Z1)."""
        h = h.expand(*z2.shape[:-1], h.shape[-1])  # (..., B, 2 * Z1): the same x for every draw of z2
        return _gaussian(self.posterior_z1(torch.cat([h, z2], dim=-1)))  # Tomczak & Welling 2018: q(z1|x, z2)

    def _prior_z1(self, z2: Tensor) -> DiagonalGaussian:
        """p(z1|z2) for z2 (..., Z2): over (..., Z1)."""
        return _gaussian(self.prior_z1(z2))  # Tomczak & Welling 2018: p(z1|z2), a diagonal Gaussian

    def _decode_levels(self, z1: Tensor, z2: Tensor) -> Tensor:
        """Likelihood parameters (N, *shape) of p(x|z1, z2) for z1 (N, Z1) and z2 (N, Z2)."""
        return self._decode(torch.cat([z1, z2], dim=-1), None)  # Tomczak & Welling 2018: p(x|z1, z2)

    def _split_noise(self, eps: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
        """``eps`` (..., Z1 + Z2) as the noise of z1 and of z2; None stays None."""
        if eps is None:
            return None, None
        if eps.shape[-1] != self.noise_dim:
            raise DataError(
                f"model 'hvae' draws z1 and z2: eps needs {self.noise_dim} = {self.bottom_dim} + {self.latent_dim} "
                f"values per draw (z1's noise, then z2's), got shape {tuple(eps.shape)}"
            )
        return eps[..., : self.bottom_dim], eps[..., self.bottom_dim :]

    # ------------------------------------------------------------------ generative

    def decode(self, z: Tensor, y: Tensor | int | None = None) -> Distribution:
        """p(x | z1 = E[z1|z2], z2) for top-level codes z2 (B, Z2): what traversals and interpolations show."""
        self.condition(y)  # refuses labels
        return self.likelihood.distribution(self._decode_levels(self._prior_z1(z).mean, z))

    # ------------------------------------------------------------------ objective

    def loss_terms(
        self, x: Tensor, generator: torch.Generator | None = None, eps: Tensor | None = None,
        y: Tensor | None = None,
    ) -> LossTerms:
        """Per-sample -log p(x|z1, z2) and KL(q(z2|x) || p(z2)) + KL(q(z1|x, z2) || p(z1|z2)), one draw of each.

        The ELBO of Tomczak & Welling 2018's HVAE with its expectation over
        z2 taken at one draw. The top KL is in closed form under the normal
        prior and the Monte Carlo estimate at z2 under mog and vamp; the
        bottom KL is in closed form (two diagonal Gaussians).
        ``eps`` (Z1 + Z2,) or (B, Z1 + Z2): standard-normal noise, z1's then
        z2's, the same for every row when 1-D (so a row's terms depend on that row only).
        """
        self.condition(y)  # refuses labels: the HVAE is unconditional
        eps_z1, eps_z2 = self._split_noise(eps)
        q2 = self._posterior(x)
        z2 = q2.rsample(generator=generator, eps=eps_z2)  # (B, Z2)
        kl_top, kl_top_dims = kl_divergence(q2, self.prior(), z2)  # (B,), (B, Z2) or None
        q1 = self._posterior_z1(self.encoder_z1(x), z2)
        z1 = q1.rsample(generator=generator, eps=eps_z1)  # (B, Z1)
        kl_bottom, kl_bottom_dims = kl_divergence(q1, self._prior_z1(z2))  # (B,), (B, Z1)
        return LossTerms(
            reconstruction=-self.likelihood.log_prob(self._decode_levels(z1, z2), x),  # (B,)
            kl=kl_top + kl_bottom,
            kl_per_dim=None if kl_top_dims is None else torch.cat([kl_bottom_dims, kl_top_dims], dim=-1),  # (B, Z1 + Z2)
        )

    def log_weights(
        self, x: Tensor, k: int, generator: torch.Generator | None = None, y: Tensor | None = None,
        eps: Tensor | None = None,
    ) -> Tensor:
        """log p(x|z1, z2) + log p(z2) + log p(z1|z2) - log q(z2|x) - log q(z1|x, z2) for k draws per row, (K, B).

        The importance weights of Burda et al. 2015 (eq. 8) for the joint
        latent (z1, z2); the K x B draws are decoded as one batch. ``eps``
        (K, Z1 + Z2): the same k noise vectors for every row, z1's then z2's.
        """
        self.condition(y)
        eps_z1, eps_z2 = self._split_noise(None if eps is None else eps.reshape(k, 1, -1))  # (K, 1, Z1), (K, 1, Z2)
        q2 = self._posterior(x)
        z2 = q2.rsample((k,), generator=generator, eps=eps_z2)  # (K, B, Z2)
        q1 = self._posterior_z1(self.encoder_z1(x), z2)  # over (K, B, Z1)
        z1 = q1.rsample(generator=generator, eps=eps_z1)  # (K, B, Z1)
        params = self._decode_levels(z1.reshape(-1, self.bottom_dim), z2.reshape(-1, self.latent_dim))  # (K * B, *shape)
        log_px = self.likelihood.log_prob(params.reshape(k, len(x), *params.shape[1:]), x)  # (K, B): x broadcast
        log_p_z = self.prior.log_prob(z2) + self._prior_z1(z2).log_prob(z1)  # (K, B)
        return log_px + log_p_z - q2.log_prob(z2) - q1.log_prob(z1)

    # ------------------------------------------------------------------ uses

    @torch.no_grad()
    def embed(
        self, x: Tensor, sample: bool = False, generator: torch.Generator | None = None, y: Tensor | None = None,
        level: str = "top",
    ) -> Tensor:
        """Latent codes: posterior means (or draws with ``sample=True``) of one level or both.

        ``level``: ``"top"`` z2 (B, Z2); ``"bottom"`` z1 (B, Z1), from
        q(z1|x, z2) at q(z2|x)'s mean (at a draw of it with ``sample=True``);
        ``"both"`` (z1, z2) side by side, (B, Z1 + Z2).
        """
        if level not in LEVELS:
            raise DataError(f"unknown latent level {level!r}; use one of {', '.join(LEVELS)}")

        def codes(xb: Tensor, yb: Tensor | None) -> Tensor:
            q2 = self.posterior(xb, yb)
            z2 = q2.rsample(generator=generator) if sample else q2.mean  # (B, Z2)
            if level == "top":
                return z2
            q1 = self._posterior_z1(self.encoder_z1(xb), z2)
            z1 = q1.rsample(generator=generator) if sample else q1.mean  # (B, Z1)
            return z1 if level == "bottom" else torch.cat([z1, z2], dim=-1)

        return by_batch(codes, self._as_input(x), y)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """E[x | z1, z2 = the posterior means of both levels], same shape as x."""
        return by_batch(
            lambda xb, yb: self.likelihood.mean(self._decode(self.embed(xb, y=yb, level="both"), None)),  # (B, *shape)
            self._as_input(x), y,
        )

    @torch.no_grad()
    def sample(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
        y: Tensor | int | None = None, sampler: Any = None,
    ) -> Tensor:
        """Decoder means of ``n`` draws z2 ~ p(z2), z1 ~ p(z1|z2), both spreads scaled by ``temperature``.

        ``sampler`` draws z2 instead of the prior (see :meth:`VAE.sample`).
        """
        self.condition(y)
        z2 = self.draw_latents(n, generator, temperature, sampler)  # (n, Z2)
        p1 = self._prior_z1(z2)
        eps = standard_normal_noise(p1.mu.shape, p1.mu, generator)  # (n, Z1)
        z1 = reparameterize(p1.mu, temperature * p1.std, eps)  # (n, Z1)
        return self.likelihood.mean(self._decode_levels(z1, z2))  # (n, *shape)
