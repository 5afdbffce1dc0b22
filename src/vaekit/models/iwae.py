"""The importance-weighted autoencoder (Burda et al. 2015): the VAE trained on the k-sample bound.

Only the objective differs: the networks, sampling, saving and every use
are the VAE's.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vaekit.config import ModelConfig
from vaekit.errors import ConfigError
from vaekit.models.vae import VAE
from vaekit.objectives import LossTerms, kl_per_dim, log_importance_weights


class IWAE(VAE):
    """A VAE whose training loss is minus the k-sample importance-weighted bound.

    ``config.iw_samples`` = k posterior draws per row; k = 1 is the ELBO
    (with a sampled KL) and the bound tightens towards log p(x) as k grows.
    """

    @classmethod
    def check_config(cls, config: ModelConfig) -> None:
        if config.free_bits or config.capacity_max:
            raise ConfigError("model 'iwae' trains on the importance-weighted bound; free_bits and capacity_max apply to vae")

    def loss_terms(
        self, x: Tensor, generator: torch.Generator | None = None, eps: Tensor | None = None,
        y: Tensor | None = None,
    ) -> LossTerms:
        """Per-sample terms whose loss at beta = 1 is -log (1/k) sum_k p(x, z_k) / q(z_k|x).

        ``reconstruction`` is -log p(x|z) averaged over the k draws and ``kl``
        the closed-form KL, so ``elbo`` reports stay comparable with the
        VAE's; the loss itself comes from the k log-weights.
        ``eps`` (k, Z): the same k noise vectors for every row.
        """
        c = self.condition(y)
        k = self.config.iw_samples
        mu, logvar = self._encode(x, c)  # (B, Z)
        if eps is None:
            eps = torch.randn((k, *mu.shape), generator=generator, dtype=mu.dtype, device=mu.device)  # (K, B, Z)
        else:
            eps = eps.reshape(k, 1, -1).expand(k, *mu.shape)  # (K, B, Z)
        z = mu + torch.exp(0.5 * logvar) * eps  # (K, B, Z)
        params = self._decode(z.reshape(-1, self.latent_dim), c if c is None else c.repeat(k, 1))
        log_px_z = self.likelihood.log_prob(params.reshape(k, *x.shape), x)  # (K, B)
        log_w = log_importance_weights(log_px_z, z, eps, logvar)  # (K, B)
        kl = kl_per_dim(mu, logvar)  # (B, Z)
        return LossTerms(
            reconstruction=-log_px_z.mean(dim=0),  # (B,)
            kl=kl.sum(dim=1),  # (B,)
            kl_per_dim=kl,
            log_px_z=log_px_z,
            log_prior_ratio=log_w - log_px_z,  # log p(z_k) - log q(z_k|x), (K, B)
        )
