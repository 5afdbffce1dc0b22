"""The variational autoencoder (Kingma & Welling 2014), built from parts with one job each.

- the posterior q(z|x): ``posterior(x)`` returns a ``torch.distributions``
  object (here :class:`~vaekit.posteriors.DiagonalGaussian` from the encoder);
- the prior p(z): ``self.prior``, an ``nn.Module`` returning a distribution
  (:mod:`vaekit.priors`; it may hold learned parameters);
- the decoder p(x|z): ``decode(z)`` returns the likelihood's distribution;
- the objective: ``loss_terms`` gives the per-sample loss terms, built by
  ``self.objective`` (:data:`~vaekit.objectives.OBJECTIVES`: the ELBO,
  beta-TCVAE, FactorVAE, DIP-VAE), ``log_weights`` the importance weights
  log p(x, z) - log q(z|x).

Every use (sampling, traversals, the IW log-likelihood, active units, anomaly
scores) goes through these, so a model that changes one part (a new prior, a
flow posterior, another objective) is measured correctly everywhere. A model
family subclasses :class:`VAE`, overrides what differs and declares its own
settings as an ``Options`` dataclass. Optimisation lives in
``vaekit.training``; saving and loading in ``vaekit.io``.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from vaekit.config import ModelConfig, RunConfig, _check_numbers, coerce, show
from vaekit.errors import ConfigError, DataError, ModelFileError, RunDirError
from vaekit.flows import FLOWS, POSTERIORS, FlowPosterior
from vaekit.likelihoods import LIKELIHOODS, Likelihood, build_likelihood
from vaekit.model_files import WEIGHTS_FILE, build_checked, load_run_config, load_weights, read_weights, save_model
from vaekit.networks import build_networks
from vaekit.objectives import OBJECTIVES, LossTerms, kl_divergence
from vaekit.posteriors import LOGVAR_MAX, LOGVAR_MIN, DiagonalGaussian
from vaekit.priors import PRIORS, Prior

#: The parts a user may supply instead of vaekit's own (``VAE(config, encoder=...)``).
USER_PARTS = ("encoder", "decoder", "prior")
#: Rows per forward pass of embed and reconstruct: a conv encoder on 60,000 images at once
#: would hold gigabytes of activations; batches of this size keep it to one batch's worth.
INFERENCE_BATCH = 1024


def by_batch(fn: Callable[[Tensor, Tensor | None], Tensor], x: Tensor, y: Tensor | None = None) -> Tensor:
    """``fn(x_batch, y_batch)`` over batches of :data:`INFERENCE_BATCH` rows, written into one output.

    The output is allocated once (no list of per-batch results to concatenate),
    so memory is one batch's activations plus the result, however many rows.
    """
    if len(x) <= INFERENCE_BATCH:
        return fn(x, y)
    per_row = y is not None and torch.as_tensor(y).ndim > 0  # one label per row, or one for all

    def batch(rows: slice) -> Tensor:
        return fn(x[rows], y[rows] if per_row else y)

    first = batch(slice(0, INFERENCE_BATCH))
    out = first.new_empty((len(x), *first.shape[1:]))  # (N, ...)
    out[:INFERENCE_BATCH] = first
    for start in range(INFERENCE_BATCH, len(x), INFERENCE_BATCH):
        out[start : start + INFERENCE_BATCH] = batch(slice(start, start + INFERENCE_BATCH))
    return out


def mean_over_draws(
    model: nn.Module, x: np.ndarray, n_samples: int, chunk: int, score: Callable[[Tensor, Tensor], Tensor]
) -> np.ndarray:
    """The mean over ``n_samples`` draws of the model's noise of ``score(x_chunk, eps)`` (B, ...), for
    rows of ``x`` (N, ...) taken ``chunk`` at a time: (N, ...) float64.

    The draws are seeded and the same for every row and every call (common
    random numbers): a row's score depends on the model and that row only, not
    on the rows scored beside it. The output is allocated once: per-chunk results kept in a list
    between each chunk's large short-lived buffers fragment the heap, and resident memory grows.
    """
    device = next(model.parameters()).device
    g = torch.Generator(device=device).manual_seed(0)
    eps = torch.randn(n_samples, model.noise_dim, generator=g, device=device)  # (S, Z): the noise of each draw
    out: np.ndarray | None = None
    model.eval()
    with torch.no_grad():
        for start in range(0, max(len(x), 1), chunk):  # no rows: one empty chunk gives the output's shape
            xb = torch.from_numpy(np.ascontiguousarray(x[start : start + chunk])).to(device)
            total = score(xb, eps[0]).double()
            for e in eps[1:]:
                total += score(xb, e).double()
            if out is None:
                out = np.empty((len(x), *total.shape[1:]), dtype=np.float64)  # (N, ...)
            out[start : start + len(xb)] = (total / n_samples).cpu().numpy()
    assert out is not None
    return out


#: Model families by name (``--model NAME``): a subclass of :class:`VAE` that sets ``name`` is
#: registered when its class is defined, so a new family is one file (or a class in your own code).
MODELS: dict[str, type[VAE]] = {}

__all__ = ["LOGVAR_MAX", "LOGVAR_MIN", "MODELS", "USER_PARTS", "VAE"]


class VAE(nn.Module):
    """A VAE with a diagonal Gaussian posterior and a standard normal prior.

    Parameters
    ----------
    config
        The model's settings; ``config.input_shape`` must be set (the
        high-level ``vaekit.train`` fills it in from the data).
    encoder
        Optional network of your own: x (B, *input_shape) -> (B, 2 * latent_dim),
        the posterior's mean and log-variance side by side. Conditional
        models call it as ``encoder(x, c)`` with the condition c (B, C).
    decoder
        Optional network of your own: z (B, latent_dim) -> the likelihood's
        parameters (B, *likelihood.params_shape) (Bernoulli logits, Gaussian
        means: x's shape; a logistic mixture's (P, H, W));
        ``decoder(z, c)`` for conditional models.
    prior
        Optional :class:`~vaekit.priors.Prior` of your own (default N(0, I)).

    Notes
    -----
    A model built with parts of your own is saved as usual (weights and
    config); loading it needs the same classes again:
    ``vaekit.load(run_dir, encoder=MyEncoder(...), decoder=...)``.

    Examples
    --------
    >>> from vaekit import VAE, ModelConfig
    >>> model = VAE(ModelConfig(input_shape=(1, 8, 8), latent_dim=4))
    >>> model.sample(3).shape
    torch.Size([3, 1, 8, 8])
    """

    name: ClassVar[str] = "vae"
    """The family's name in the registry, the config (``model: vae``) and on the CLI (``--model vae``)."""
    conditional: ClassVar[bool] = False
    """Capability: the networks take a condition y (a class label or covariates) beside x and z."""
    semi_supervised: ClassVar[bool] = False
    """Capability: the model also classifies, and trains on rows with and without labels."""
    exportable: ClassVar[bool] = True
    """Capability: ``vaekit export`` can write its encoder and decoder as ONNX graphs."""

    @dataclass
    class Options:
        """The model family's own settings (``config.options``); the VAE has none."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            MODELS[cls.name] = cls

    def __init__(
        self, config: ModelConfig, *, encoder: nn.Module | None = None, decoder: nn.Module | None = None,
        prior: Prior | None = None,
    ) -> None:
        super().__init__()
        if config.input_shape is None:
            raise ConfigError("ModelConfig.input_shape must be set, e.g. (1, 28, 28) or (784,)")
        self.options = self.check_config(config)
        given = {"encoder": encoder, "decoder": decoder, "prior": prior}
        # The model knows its family: IWAE(config) saves as an iwae whatever config.model said.
        self.config = dataclasses.replace(
            config, model=self.name, options=dataclasses.asdict(self.options),
            user_modules={name: type(part).__name__ for name, part in given.items() if part is not None},
        )
        self.input_shape = tuple(config.input_shape)
        self.latent_dim = config.latent_dim
        # Densities fitted to the training codes after training (vaekit.samplers), by name: not weights.
        self.samplers: dict[str, Any] = {}
        if encoder is None or decoder is None:
            built_encoder, built_decoder = self.build_networks(config)
            encoder = built_encoder if encoder is None else encoder
            decoder = built_decoder if decoder is None else decoder
        self.encoder, self.decoder = encoder, decoder
        self.flow = None if config.posterior == "gaussian" else FLOWS[config.posterior].from_config(config)
        self.prior = prior if prior is not None else self.build_prior(config)
        self.likelihood = self.build_likelihood(config)
        # Last, so that objectives without parameters (the ELBO) leave the weights' initialisation as it was.
        self.objective = OBJECTIVES[config.objective](self.config)

    # ------------------------------------------------------------------ parts (what a family may replace)

    def build_networks(self, config: ModelConfig) -> tuple[nn.Module, nn.Module]:
        """The encoder x -> (B, 2Z) and decoder z -> likelihood parameters, sized from ``config``."""
        output_shape = self.build_likelihood(config).params_shape  # what the decoder must give per sample
        return build_networks(config, self.condition_size(config), output_shape)

    def build_likelihood(self, config: ModelConfig) -> Likelihood:
        """p(x|z) as ``config.likelihood`` names it (``vaekit.likelihoods.LIKELIHOODS``), for x of ``input_shape``."""
        return build_likelihood(
            config.likelihood, tuple(config.input_shape), config.obs_std, config.mixture_components
        )

    def build_prior(self, config: ModelConfig) -> Prior:
        """p(z) as ``config.prior`` names it (``vaekit.priors.PRIORS``): N(0, I), a learned mixture, the VampPrior."""
        return PRIORS[config.prior].from_config(config, self)

    # ------------------------------------------------------------------ settings

    @classmethod
    def check_config(cls, config: ModelConfig) -> Any:
        """Validate ``config`` for this family and return its ``Options`` (raises :class:`ConfigError`)."""
        config.validate()
        choices = (("likelihood", config.likelihood, LIKELIHOODS), ("prior", config.prior, PRIORS),
                   ("posterior", config.posterior, POSTERIORS), ("objective", config.objective, OBJECTIVES))
        for key, value, names in choices:
            if value not in names:
                raise ConfigError(f"invalid value for '{key}': {show(value)} (choose from {', '.join(names)})")
        if config.objective != ModelConfig.objective and cls.loss_terms is not VAE.loss_terms:
            raise ConfigError(
                f"objective '{config.objective}' builds the loss of the vae's terms; model '{cls.name}' has a bound "
                "of its own (use objective 'elbo')"
            )
        OBJECTIVES[config.objective].check_config(config)
        if config.free_bits and (config.prior, config.posterior) != ("normal", "gaussian"):
            raise ConfigError(
                "free_bits needs a KL that splits by dimension: a normal prior and a gaussian posterior "
                f"(this config has prior '{config.prior}', posterior '{config.posterior}')"
            )
        return cls.parse_options(config.options, cls.name)

    @classmethod
    def parse_options(cls, raw: dict[str, Any], name: str = "") -> Any:
        """``config.options`` as this family's ``Options``: unknown keys and bad values are errors."""
        hints = typing.get_type_hints(cls.Options)
        known = [f.name for f in dataclasses.fields(cls.Options)]
        unknown = sorted(set(raw) - set(known))
        if unknown:
            has = f"its options are {', '.join(known)}" if known else "it has none"
            raise ConfigError(f"model '{name or cls.__name__}' has no option {show(unknown[0])}; {has}")
        options = cls.Options(**{key: coerce(key, value, hints[key]) for key, value in raw.items()})
        _check_numbers(options)
        if hasattr(options, "validate"):
            options.validate()
        return options

    # ------------------------------------------------------------------ conditioning (none here)

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

    def posterior(self, x: Tensor, y: Tensor | None = None) -> Distribution:
        """q(z|x) (q(z|x, y) for conditional models) as a distribution over (B, Z)."""
        return self._posterior(x, self.condition(self.labels_for(x, y)))

    def _posterior(self, x: Tensor, c: Tensor | None = None) -> Distribution:
        """q(z|x, c): the encoder's Gaussian, pushed through the IAF when the config has one."""
        base = self._base_posterior(x, c)
        if self.flow is None:
            return base
        return FlowPosterior(base, self.flow, torch.cat([base.mu, base.logvar], dim=-1))  # context h(x): (B, 2Z)

    def _base_posterior(self, x: Tensor, c: Tensor | None = None) -> DiagonalGaussian:
        """The encoder's diagonal Gaussian (also the VampPrior's components q(z|u_k))."""
        # A condition only when there is one: user-supplied networks may take x alone.
        mu, logvar = (self.encoder(x) if c is None else self.encoder(x, c)).chunk(2, dim=-1)  # (B, Z), (B, Z)
        return DiagonalGaussian(mu, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX))

    def encode(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Mean and clamped log-variance of the Gaussian q(z|x) (under an IAF, of its base), each (B, Z)."""
        q = self.posterior(x, y)
        return q.mu, q.logvar

    # ------------------------------------------------------------------ generative p(x|z)

    def decode(self, z: Tensor, y: Tensor | int | None = None) -> Distribution:
        """p(x|z) for latents (B, Z); ``.log_prob(x)`` is per sample, ``.mean`` is (B, *shape).

        Conditional models decode p(x|z, y); without ``y`` they use their default label.
        """
        return self.likelihood.distribution(self._decode(z, self.condition(self.labels_or_default(len(z), y))))

    def _decode(self, z: Tensor, c: Tensor | None) -> Tensor:
        """Likelihood parameters (B, *likelihood.params_shape) for latents z and condition c."""
        return self.decoder(z) if c is None else self.decoder(z, c)

    # ------------------------------------------------------------------ objective

    def loss_terms(
        self, x: Tensor, generator: torch.Generator | None = None, eps: Tensor | None = None,
        y: Tensor | None = None,
    ) -> LossTerms:
        """Per-sample -log p(x|z), KL(q(z|x) || p(z)) and the objective's own terms with one reparameterized z.

        ``eps`` (Z,): the same standard-normal noise for every row, so each row's
        reconstruction and KL depend on that row only (the anomaly detector's
        fixed draws). ``y``: the labels of conditional models (the VAE takes none).
        """
        c = self.condition(y)  # None for the VAE
        q = self._posterior(x, c)
        z = q.rsample(generator=generator, eps=eps)  # (B, Z)
        reconstruction = -self.likelihood.log_prob(self._decode(z, c), x)  # (B,)
        return self.objective.terms(q, z, self.prior(), reconstruction)

    def set_dataset_size(self, rows: int) -> None:
        """Record the training data's rows where ``config.dataset_size`` is 0 (the trainer calls it; it is saved).

        Only objectives whose estimators weight by the dataset's size use it
        (beta-TCVAE's stratified estimate of log q(z)).
        """
        if not self.objective.needs_dataset_size:
            return
        if self.config.dataset_size == 0:
            self.config.dataset_size = int(rows)
        self.objective.set_dataset_size(self.config.dataset_size)

    def reconstruction_elements(self, x: Tensor, eps: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """-log p(x_i|z) of every value of x, (B, *input_shape), and KL(q(z|x) || p(z)) (B,), with one z.

        :meth:`loss_terms`' reconstruction is the first summed over each
        sample; kept apart, the terms score each reading of a sequence window
        (``eps`` (Z,): the same noise for every row, as in :meth:`loss_terms`).
        """
        q = self._posterior(x, None)
        z = q.rsample(eps=eps)  # (B, Z)
        kl, _ = kl_divergence(q, self.prior(), z)  # (B,)
        return -self.likelihood.log_prob_elements(self._decode(z, None), x), kl

    def forward(self, x: Tensor) -> LossTerms:
        """The loss terms of a batch ``x`` (``loss_terms``): what the trainer calls."""
        return self.loss_terms(x)

    def log_weights(
        self, x: Tensor, k: int, generator: torch.Generator | None = None, y: Tensor | None = None,
        eps: Tensor | None = None,
    ) -> Tensor:
        """log p(x|z_k) + log p(z_k) - log q(z_k|x) for k posterior draws per row, (K, B).

        The importance weights of the IW bound (Burda et al. 2015, eq. 8) and
        of the IW log-likelihood; every density comes from the parts, so a
        new prior or posterior is weighted correctly with no change here.
        ``eps`` (K, noise_dim): the same k noise vectors for every row.
        """
        q, z, log_px_z = self._draw_and_score(x, self.condition(y), k, generator, eps)
        return log_px_z + self.prior.log_prob(z) - q.log_prob(z)

    def _draw_and_score(
        self, x: Tensor, c: Tensor | None, k: int, generator: torch.Generator | None = None, eps: Tensor | None = None
    ) -> tuple[Distribution, Tensor, Tensor]:
        """q(z|x), k draws z (K, B, Z) and log p(x|z) (K, B); the K x B draws are decoded as one batch.

        ``eps`` (K, Z): the same k noise vectors for every row.
        """
        q = self._posterior(x, c)
        z = q.rsample((k,), generator=generator, eps=None if eps is None else eps.reshape(k, 1, -1))  # (K, B, Z)
        cz = None if c is None else c.repeat(k, 1)  # (K * B, C)
        params = self._decode(z.reshape(-1, z.shape[-1]), cz)  # (K * B, *params_shape)
        params = params.reshape(k, len(x), *params.shape[1:])  # (K, B, *params_shape)
        return q, z, self.likelihood.log_prob(params, x)  # x broadcast over the K draws

    # ------------------------------------------------------------------ uses

    @torch.no_grad()
    def embed(
        self, x: Tensor, sample: bool = False, generator: torch.Generator | None = None, y: Tensor | None = None
    ) -> Tensor:
        """Latent codes (N, Z): the posterior mean, or a posterior sample with ``sample=True``."""

        def codes(xb: Tensor, yb: Tensor | None) -> Tensor:
            q = self.posterior(xb, yb)
            return q.rsample(generator=generator) if sample else q.mean  # (B, Z)

        return by_batch(codes, self._as_input(x), y)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """E[x | z = posterior mean], same shape as x."""

        def means(xb: Tensor, yb: Tensor | None) -> Tensor:
            c = self.condition(self.labels_for(xb, yb))
            return self.likelihood.mean(self._decode(self._posterior(xb, c).mean, c))  # (B, *shape)

        return by_batch(means, self._as_input(x), y)

    @torch.no_grad()
    def sample(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None,
        y: Tensor | int | None = None, sampler: Any = None,
    ) -> Tensor:
        """Decoder means of ``n`` latents drawn from the prior (their spread scaled by ``temperature``).

        Conditional models take labels ``y`` (one per row, or one for all);
        without them the rows cycle through the classes. ``sampler`` draws the
        latents instead of the prior: the name of one fitted to this model
        (``"gmm"``, ``"two-stage"``: ``model.samplers``, see
        :mod:`vaekit.samplers`) or any object with ``sample(n, generator, temperature)``.
        """
        z = self.draw_latents(n, generator, temperature, sampler)  # (n, Z)
        c = self.condition(self.labels_or_default(n, y, cycle=True))
        return self.likelihood.mean(self._decode(z, c))  # (n, *shape)

    def draw_latents(
        self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0, sampler: Any = None
    ) -> Tensor:
        """``n`` codes (n, Z) from the prior, or from ``sampler`` (see :meth:`sample`)."""
        if sampler is None or sampler == "prior":
            return self.prior.sample(n, generator=generator, temperature=temperature)
        if isinstance(sampler, str):
            if sampler not in self.samplers:
                fitted = ", ".join(self.samplers) or "none"
                raise DataError(
                    f"this model has no {sampler!r} sampler (fitted: {fitted}); fit one with "
                    f"`vaekit fit-sampler RUN_DIR --data SPEC --sampler {sampler}` (Python: vaekit.samplers.fit_sampler)"
                )
            sampler = self.samplers[sampler]
        if self.conditional:
            raise DataError(f"latent samplers are for unconditional models, not {self.config.model}")
        return sampler.sample(n, generator=generator, temperature=temperature).to(self._device())

    # ------------------------------------------------------------------ saving

    def save_pretrained(self, directory: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``config.json`` + ``model.safetensors`` into ``directory``, as ``vaekit.save_model`` does.

        One format for every saved model: the folder loads with
        :meth:`from_pretrained`, ``vaekit.load`` and every CLI command.
        Refuses to replace a model already there unless ``overwrite``.
        """
        directory = Path(directory)
        if (directory / WEIGHTS_FILE).exists() and not overwrite:
            raise RunDirError(f"{directory} already holds a model; pass overwrite=True to replace it")
        save_model(directory, self, RunConfig(model=copy.deepcopy(self.config)))
        return directory

    @classmethod
    def from_pretrained(
        cls, directory: str | Path, device: str = "cpu", *, encoder: nn.Module | None = None,
        decoder: nn.Module | None = None, prior: Prior | None = None,
    ) -> VAE:
        """The model saved in ``directory`` (by :meth:`save_pretrained` or ``vaekit train``), in eval mode.

        ``encoder``, ``decoder``, ``prior``: the parts of your own it was built
        with, if any (only their class names are saved, never code).

        Raises
        ------
        RunDirError
            The folder does not exist or holds no model.
        ModelFileError
            The files are damaged, hold another kind of model than ``cls``,
            or need parts of your own that were not passed.
        """
        config = load_run_config(directory)
        family = MODELS.get(config.model.model)
        if family is None:
            raise ModelFileError(
                f"{directory} holds a model of family {show(config.model.model)}, unknown here "
                f"(known: {', '.join(MODELS)}); define or import its class before loading"
            )
        if not issubclass(family, cls):
            raise ModelFileError(f"{directory} holds a {family.__name__}, not a {cls.__name__}; load it with vaekit.load")
        tensors = read_weights(directory)
        model = build_checked(family, directory, config, {"encoder": encoder, "decoder": decoder, "prior": prior})
        load_weights(model, tensors, Path(directory) / WEIGHTS_FILE)
        return model.to(device).eval()

    # ------------------------------------------------------------------ helpers

    def _as_input(self, x: Any) -> Tensor:
        """``x`` as a float tensor on the model's device (NumPy arrays and lists welcome), shaped (N, *input_shape)."""
        if not isinstance(x, Tensor):
            try:
                x = torch.as_tensor(x, dtype=torch.float32, device=self._device())
            except (TypeError, ValueError, RuntimeError) as exc:
                raise DataError(f"cannot use {type(x).__name__} as model input: {str(exc)[:100]}") from None
        if tuple(x.shape[1:]) != self.input_shape or not x.is_floating_point():
            raise DataError(
                f"the model takes float rows of shape (N, {', '.join(map(str, self.input_shape))}), "
                f"got {x.dtype} {tuple(x.shape)}"
            )
        return x

    @property
    def noise_dim(self) -> int:
        """Size of the standard-normal noise ``loss_terms(eps=...)`` takes per draw (one per latent here)."""
        return self.latent_dim

    def _device(self) -> torch.device:
        return next(self.parameters()).device


MODELS[VAE.name] = VAE
