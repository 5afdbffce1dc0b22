"""The importance-weighted autoencoder (Burda et al. 2015): the VAE trained on the k-sample bound.

Only the objective differs: the networks, sampling, saving and every use
are the VAE's. Its one option is k, the importance samples per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from vaekit.config import ModelConfig
from vaekit.errors import ConfigError
from vaekit.models.vae import VAE
from vaekit.objectives import LossTerms, iw_bound, kl_divergence


@dataclass
class IWLossTerms(LossTerms):
    """The VAE's terms plus the k log-weights the IWAE's loss is made of."""

    log_px_z: Tensor | None = None
    """log p(x|z_k) for k posterior draws per row, (K, B)."""
    log_prior_ratio: Tensor | None = None
    """log p(z_k) - log q(z_k|x), (K, B)."""

    def loss(self, beta: float | Tensor, free_bits: float = 0.0, capacity: float | None = None) -> Tensor:
        """Minus the k-sample bound per row, beta weighting log p(z)/q(z|x) inside each weight.

        beta = 1 is Burda et al. 2015's bound (eq. 8); a KL warm-up anneals it as it does the ELBO.
        """
        loss = -iw_bound(self.log_px_z + beta * self.log_prior_ratio)
        return loss if self.extra is None else loss + self.extra


class IWAE(VAE):
    """A VAE whose training loss is minus the k-sample importance-weighted bound.

    ``options.iw_samples`` = k posterior draws per row; k = 1 is the ELBO
    (with a sampled KL) and the bound tightens towards log p(x) as k grows.
    """

    name = "iwae"

    @dataclass
    class Options:
        iw_samples: int = 5
        """Importance samples k per row of the training bound (Burda et al. 2015); k = 1 is the ELBO."""

        def validate(self) -> None:
            if self.iw_samples < 1:
                raise ConfigError(f"invalid value for 'iw_samples': {self.iw_samples} (must be >= 1)")

    @classmethod
    def check_config(cls, config: ModelConfig):
        if config.free_bits or config.capacity_max:
            raise ConfigError("model 'iwae' trains on the importance-weighted bound; free_bits and capacity_max apply to vae")
        return super().check_config(config)

    def loss_terms(
        self, x: Tensor, generator: torch.Generator | None = None, eps: Tensor | None = None,
        y: Tensor | None = None,
    ) -> IWLossTerms:
        """Per-sample terms whose loss at beta = 1 is -log (1/k) sum_k p(x, z_k) / q(z_k|x).

        ``reconstruction`` is -log p(x|z) averaged over the k draws and ``kl``
        the VAE's KL, so ``elbo`` reports stay comparable with the VAE's; the
        loss itself comes from the k log-weights.
        ``eps`` (k, Z): the same k noise vectors for every row.
        """
        c = self.condition(y)
        q, z, log_px_z = self._draw_and_score(x, c, self.options.iw_samples, generator, eps)  # (K, B, Z), (K, B)
        log_prior_ratio = self.prior.log_prob(z) - q.log_prob(z)  # (K, B)
        kl, kl_per_dim = kl_divergence(q, self.prior(), z)
        return IWLossTerms(
            reconstruction=-log_px_z.mean(dim=0),  # (B,)
            kl=kl if kl.dim() == 1 else kl.mean(dim=0),  # a Monte Carlo KL comes per draw: (K, B) -> (B,)
            kl_per_dim=kl_per_dim,
            log_px_z=log_px_z,
            log_prior_ratio=log_prior_ratio,
        )
