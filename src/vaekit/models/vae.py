"""The variational autoencoder (Kingma & Welling 2014).

Math only: ``encode`` gives q(z|x), ``decode`` gives p(x|z) as a
``torch.distributions`` object, ``loss_terms`` gives the per-sample terms of
the negative ELBO. Optimisation lives in ``vaekit.training``; saving and
loading (``save_pretrained``, ``from_pretrained``) are thin doors into
``vaekit.io``, so there is one file format.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from vaekit.config import ModelConfig
from vaekit.errors import DataError
from vaekit.likelihoods import build_likelihood
from vaekit.networks import build_networks
from vaekit.objectives import LossTerms, kl_per_dim, reparameterize

# log sigma^2 is clamped so exp() can neither overflow nor underflow to an
# exactly-zero variance (which would make the KL infinite).
LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0


class VAE(nn.Module):
    """A VAE with a diagonal Gaussian posterior and a standard normal prior.

    Parameters
    ----------
    config:
        The model's settings; ``config.input_shape`` must be set (the
        high-level ``vaekit.train`` fills it in from the data).

    Examples
    --------
    >>> from vaekit import VAE, ModelConfig
    >>> model = VAE(ModelConfig(input_shape=(1, 8, 8), latent_dim=4))
    >>> model.sample(3).shape
    torch.Size([3, 1, 8, 8])
    """

    conditional: ClassVar[bool] = False
    """Whether the networks take a condition y (a class label or covariates) beside x and z."""
    semi_supervised: ClassVar[bool] = False
    """Whether the model also classifies, and trains on rows with and without labels."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        config.validate()
        if config.input_shape is None:
            raise ValueError("ModelConfig.input_shape must be set, e.g. (1, 28, 28) or (784,)")
        self.config = config
        self.input_shape = tuple(config.input_shape)
        self.latent_dim = config.latent_dim
        self.encoder, self.decoder = build_networks(config, self.condition_size(config))
        self.likelihood = build_likelihood(config.likelihood, self.input_shape, config.obs_std)

    # ------------------------------------------------------------------ conditioning (none here)

    @classmethod
    def check_config(cls, config: ModelConfig) -> None:
        """Refuse settings this model does not use (called by ``ModelConfig.validate``)."""

    @classmethod
    def condition_size(cls, config: ModelConfig) -> int:
        """Features of the condition vector the networks take; 0 = unconditional."""
        return 0

    def condition(self, y: Tensor | None) -> Tensor | None:
        """The networks' condition (B, C) for labels ``y``; the VAE takes none."""
        if y is not None:
            raise DataError(f"model '{self.config.model}' is not conditioned on labels; pass no y")
        return None

    def labels_for(self, x: Tensor, y: Tensor | None) -> Tensor | None:
        """The labels used to encode ``x`` when ``y`` may be missing (M2 predicts them)."""
        return y

    def labels_or_default(self, n: int, y: Tensor | int | None, cycle: bool = False) -> Tensor | None:
        """Labels for ``n`` decoded rows: ``y`` as given, or the model's default (none here)."""
        return y

    # ------------------------------------------------------------------ inference q(z|x)

    def encode(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Mean and clamped log-variance of q(z|x) (q(z|x, y) for conditional models), each (B, Z)."""
        return self._encode(x, self.condition(self.labels_for(x, y)))

    def _encode(self, x: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        # A condition only when there is one: user-supplied networks may take x alone.
        mu, logvar = (self.encoder(x) if c is None else self.encoder(x, c)).chunk(2, dim=-1)  # (B, Z), (B, Z)
        return mu, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)

    def posterior(self, x: Tensor, y: Tensor | None = None) -> Distribution:
        """q(z|x) as a distribution over (B, Z)."""
        mu, logvar = self.encode(x, y)
        return Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)

    def prior(self) -> Distribution:
        """p(z) = N(0, I)."""
        zeros = torch.zeros(self.latent_dim, device=self._device())
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return reparameterize(mu, logvar, generator)

    # ------------------------------------------------------------------ generative p(x|z)

    def decode(self, z: Tensor, y: Tensor | int | None = None) -> Distribution:
        """p(x|z) for latents (B, Z); ``.log_prob(x)`` is per sample, ``.mean`` is (B, *shape).

        Conditional models decode p(x|z, y); without ``y`` they use their default label.
        """
        return self.likelihood.distribution(self._decode(z, self.condition(self.labels_or_default(len(z), y))))

    def _decode(self, z: Tensor, c: Tensor | None) -> Tensor:
        """Likelihood parameters (B, *shape) for latents z and condition c."""
        return self.decoder(z) if c is None else self.decoder(z, c)

    # ------------------------------------------------------------------ objective

    def loss_terms(
        self, x: Tensor, generator: torch.Generator | None = None, eps: Tensor | None = None,
        y: Tensor | None = None,
    ) -> LossTerms:
        """Per-sample -log p(x|z) and KL(q(z|x) || p(z)) with one reparameterized z.

        ``eps`` (Z,): the same standard-normal noise for every row, so each row's
        terms depend on that row only (see :func:`~vaekit.objectives.reparameterize`).
        ``y``: the labels of conditional models (the VAE takes none).
        """
        c = self.condition(y)  # None for the VAE: the same computation as before conditioning existed
        mu, logvar = self._encode(x, c)
        z = reparameterize(mu, logvar, generator, eps)  # (B, Z)
        params = self._decode(z, c)  # (B, *shape)
        kl = kl_per_dim(mu, logvar)  # (B, Z)
        return LossTerms(
            reconstruction=-self.likelihood.log_prob(params, x),  # (B,)
            kl=kl.sum(dim=1),  # (B,)
            kl_per_dim=kl,
        )

    def forward(self, x: Tensor) -> LossTerms:
        return self.loss_terms(x)

    # ------------------------------------------------------------------ uses

    @torch.no_grad()
    def embed(
        self, x: Tensor, sample: bool = False, generator: torch.Generator | None = None, y: Tensor | None = None
    ) -> Tensor:
        """Latent codes (B, Z): the posterior mean, or a posterior sample with ``sample=True``."""
        mu, logvar = self.encode(x, y)
        return reparameterize(mu, logvar, generator) if sample else mu

    @torch.no_grad()
    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """E[x | z = posterior mean], same shape as x."""
        y = self.labels_for(x, y)
        mu, _ = self.encode(x, y)
        return self.likelihood.mean(self._decode(mu, self.condition(y)))

    @torch.no_grad()
    def sample(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
        y: Tensor | int | None = None,
    ) -> Tensor:
        """Decoder means of ``n`` latents drawn from the prior (scaled by ``temperature``).

        Conditional models take labels ``y`` (one per row, or one for all);
        without them the rows cycle through the classes.
        """
        z = temperature * torch.randn(n, self.latent_dim, generator=generator, device=self._device())
        c = self.condition(self.labels_or_default(n, y, cycle=True))
        return self.likelihood.mean(self._decode(z, c))  # (n, *shape)

    # ------------------------------------------------------------------ saving

    def save_pretrained(self, directory: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``config.json`` + ``model.safetensors`` into ``directory``, as ``vaekit.save_model`` does.

        One format for every saved model: the folder loads with
        :meth:`from_pretrained`, ``vaekit.load`` and every CLI command.

        Parameters
        ----------
        directory
            Folder to write (created if missing).
        overwrite
            Replace a model already saved there.

        Returns
        -------
        Path
            ``directory``.
        """
        from vaekit.config import RunConfig  # noqa: PLC0415
        from vaekit.errors import RunDirError  # noqa: PLC0415
        from vaekit.io import WEIGHTS_FILE, save_model  # noqa: PLC0415 - io builds models: import it late

        directory = Path(directory)
        if (directory / WEIGHTS_FILE).exists() and not overwrite:
            raise RunDirError(f"{directory} already holds a model; pass overwrite=True to replace it")
        save_model(directory, self, RunConfig(model=copy.deepcopy(self.config)))
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu") -> VAE:
        """The model saved in ``directory`` (by :meth:`save_pretrained` or ``vaekit train``), in eval mode.

        Raises
        ------
        RunDirError
            The folder does not exist or holds no model.
        ModelFileError
            The files are damaged, or hold another kind of model than ``cls``.
        """
        from vaekit.errors import ModelFileError  # noqa: PLC0415
        from vaekit.io import load  # noqa: PLC0415

        model = load(directory, device=device)
        if not isinstance(model, cls):
            raise ModelFileError(
                f"{directory} holds a {type(model).__name__}, not a {cls.__name__}; load it with vaekit.load"
            )
        return model

    def _device(self) -> torch.device:
        return next(self.parameters()).device
