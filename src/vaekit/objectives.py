"""Per-sample objective terms, the objectives that build them, and the schedules that weight them.

Model code returns per-sample terms; the trainer reduces them once. The KL
weight schedule is a pure function of the step, so it needs no saved state
to resume exactly.

An objective (``config.objective``, the registry :data:`OBJECTIVES`) turns
one batch's posterior q(z|x), draw z, prior and reconstruction into
:class:`LossTerms`; each owns its terms and the loss that combines them:
:class:`ELBO`, :class:`BetaTCVAE`, :class:`FactorVAE`, :class:`DIPVAE`.

Batch-level terms. The trainer reduces a per-sample loss (B,) by its mean
(or trimmed mean). beta-TCVAE's terms stay per row: row i's log q(z_i) is
estimated from the whole batch, and the batch mean of the row terms is
Chen et al.'s estimate. DIP-VAE's covariance penalty is one number per
batch: it is added to every row, so the batch mean is the ELBO's mean plus
the penalty, and a trimmed mean keeps it whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution
from torch.func import functional_call

from vaekit.config import ModelConfig
from vaekit.errors import ConfigError
from vaekit.posteriors import HALF_LOG_2PI, DiagonalGaussian, gaussian_kl_per_dim


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




# --------------------------------------------------------------------------- objectives

#: Objectives by name (``--objective NAME``): a subclass of :class:`Objective` that sets ``name``
#: is registered when its class is defined, so a new objective is one class (here or in your code).
OBJECTIVES: dict[str, type[Objective]] = {}


class Objective(nn.Module):
    """How one batch's q(z|x), z, p(z) and -log p(x|z) become the per-sample :class:`LossTerms`.

    The model owns one (``model.objective``) and calls :meth:`terms` from
    ``loss_terms``; the terms' ``loss`` says how they combine. An objective
    that trains a network of its own beside the VAE (FactorVAE's
    discriminator) returns its parameters from
    :meth:`discriminator_parameters` and its loss from
    :meth:`discriminator_loss`; the trainer gives them an Adam of their own
    and keeps them out of the VAE's.
    """

    name: ClassVar[str] = ""
    """The objective's name in the config (``objective: NAME``) and on the CLI (``--objective NAME``)."""
    needs_dataset_size: ClassVar[bool] = False
    """Capability: an estimator weights by the training data's rows (``config.dataset_size``, filled in from the data)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            OBJECTIVES[cls.name] = cls

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()

    @classmethod
    def check_config(cls, config: ModelConfig) -> None:
        """Raise :class:`ConfigError` when ``config``'s posterior, prior or settings do not suit this objective."""

    def terms(self, q: Distribution, z: Tensor, prior: Distribution, reconstruction: Tensor) -> LossTerms:
        """The per-sample terms for posterior ``q`` over (B, Z), its draw ``z`` (B, Z) and -log p(x|z) (B,)."""
        raise NotImplementedError

    def set_dataset_size(self, rows: int) -> None:
        """Told the training data's rows when training starts; only estimators that weight by it keep it."""

    def discriminator_parameters(self) -> list[nn.Parameter]:
        """Parameters trained by :meth:`discriminator_loss` with their own optimizer; none here."""
        return []

    def discriminator_loss(self, terms: LossTerms, generator: torch.Generator | None = None) -> Tensor:
        """The loss of the network trained beside the VAE, on a batch's ``terms``; objectives without one have none."""
        raise NotImplementedError(f"objective '{self.name}' trains no discriminator")


class ELBO(Objective):
    """-log p(x|z) + beta * KL(q(z|x) || p(z)) (Kingma & Welling 2014): today's VAE, bit for bit."""

    name = "elbo"

    def terms(self, q: Distribution, z: Tensor, prior: Distribution, reconstruction: Tensor) -> LossTerms:
        kl, kl_per_dim = kl_divergence(q, prior, z)  # (B,), (B, Z) or None
        return LossTerms(reconstruction=reconstruction, kl=kl, kl_per_dim=kl_per_dim)


def _needs_factorised(config: ModelConfig, name: str, prior: bool) -> None:
    """One-line ConfigErrors for objectives that read q(z|x)'s Gaussian (and p(z)'s factors)."""
    if config.posterior != "gaussian":
        raise ConfigError(f"objective '{name}' needs a gaussian posterior, not '{config.posterior}'")
    if prior and config.prior != "normal":
        raise ConfigError(f"objective '{name}' needs the normal prior (its KL splits by dimension), not '{config.prior}'")


# ------------------------------------------------------------ beta-TCVAE


@dataclass
class TCTerms(LossTerms):
    """beta-TCVAE's terms: the KL split per row into mutual information, total correlation and dimension-wise KL.

    For each row, with z_i ~ q(z|x_i) and log q(z_i) estimated from the batch,
    MI_i = log q(z_i|x_i) - log q(z_i), TC_i = log q(z_i) - sum_j log q(z_ij),
    DWKL_i = sum_j log q(z_ij) - log p(z_i); they sum to log q(z_i|x_i) - log p(z_i),
    the single-draw estimate of the KL. ``kl`` keeps the closed-form KL for the logs.
    """

    mutual_information: Tensor | None = None
    """Index-code MI estimate per row, (B,)."""
    total_correlation: Tensor | None = None
    """Total correlation estimate per row, (B,)."""
    dimensionwise_kl: Tensor | None = None
    """Dimension-wise KL estimate per row, (B,)."""
    alpha: float = 1.0
    gamma: float = 1.0

    def loss(self, beta: float | Tensor, free_bits: float = 0.0, capacity: float | None = None) -> Tensor:
        """-log p(x|z) + alpha * MI + beta * TC + gamma * DWKL per row (Chen et al. 2018, eq. 4), (B,)."""
        loss = (self.reconstruction + self.alpha * self.mutual_information + beta * self.total_correlation
                + self.gamma * self.dimensionwise_kl)
        return loss if self.extra is None else loss + self.extra


def gaussian_log_density_matrix(z: Tensor, q: DiagonalGaussian) -> Tensor:
    """log q(z_i,d | x_j) for every row i of ``z`` under every row j of ``q``: (B, Z), q over (B, Z) -> (B, B, Z)."""
    eps = (z.unsqueeze(1) - q.mu.unsqueeze(0)) / q.std.unsqueeze(0)  # (B, B, Z): row i's draw under row j's q
    return -0.5 * eps.square() - 0.5 * q.logvar.unsqueeze(0) - HALF_LOG_2PI


def log_qz_weights(
    batch_size: int, dataset_size: int, estimator: str, device: Any = None, dtype: torch.dtype | None = None
) -> Tensor:
    """log w_ij, (B, B): q(z_i) is estimated as sum_j w_ij q(z_i|x_j) over the batch (Chen et al. 2018, appendix C).

    ``mws`` (minibatch-weighted): w_ij = 1/B. Chen et al. write 1/(N B); that
    moves every log q estimate by -log N, a constant no gradient sees but one
    that makes the logged terms wrong by multiples of log N, so here 1/B: the
    estimate is exact when the batch is the whole dataset. Row i's own x_i is
    in its batch, so for B < N it is weighted more than its 1/N.

    ``mss`` (minibatch-stratified): the row's own x_i is a stratum drawn with
    certainty, weight 1/N; the other B - 1 rows are a uniform draw from the
    other N - 1, weight (N - 1) / (N (B - 1)) each. For uniformly drawn batches
    (the trainer's) the estimate of q(z_i) is unbiased, and exact when B = N.
    Chen et al.'s code gives one of the others a different weight, tied to
    their sequential strata (and misplaces some diagonals: rtqichen/beta-tcvae
    pull request 1); with uniform batches equal weights are unbiased.
    ``dataset_size`` below ``batch_size`` (unknown) is taken as the batch.
    """
    if estimator == "mws":
        return torch.full((batch_size, batch_size), -math.log(batch_size), device=device, dtype=dtype)
    n = max(dataset_size, batch_size)
    others = math.log((n - 1) / (n * (batch_size - 1))) if batch_size > 1 else -math.inf
    weights = torch.full((batch_size, batch_size), others, device=device, dtype=dtype)
    return weights.fill_diagonal_(-math.log(n))


def aggregate_log_densities(
    z: Tensor, q: DiagonalGaussian, dataset_size: int = 0, estimator: str = "mws"
) -> tuple[Tensor, Tensor]:
    """Batch estimates of log q(z_i) and of sum_d log q(z_i,d) under the aggregate posterior q(z) = mean_n q(z|x_n).

    Returns two (B,) tensors; row i's estimate uses every row of the batch.
    """
    log_w = log_qz_weights(len(z), dataset_size, estimator, z.device, z.dtype)  # (B, B)
    pairs = gaussian_log_density_matrix(z, q)  # (B, B, Z)
    log_qz = torch.logsumexp(log_w + pairs.sum(-1), dim=1)  # (B,)
    log_qz_product = torch.logsumexp(log_w.unsqueeze(-1) + pairs, dim=1).sum(-1)  # (B, Z) -> (B,)
    return log_qz, log_qz_product


def tc_decomposition(
    q: DiagonalGaussian, z: Tensor, prior: DiagonalGaussian, dataset_size: int = 0, estimator: str = "mws"
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-row index-code MI, total correlation and dimension-wise KL, each (B,) (Chen et al. 2018, eq. 2)."""
    log_qz, log_qz_product = aggregate_log_densities(z, q, dataset_size, estimator)
    log_qzx = q.log_prob(z)  # (B,)
    log_pz = prior.base_dist.log_prob(z).sum(-1)  # (B,) the prior's factors, summed
    return log_qzx - log_qz, log_qz - log_qz_product, log_qz_product - log_pz


class BetaTCVAE(Objective):
    """beta-TCVAE (Chen et al. 2018): alpha * MI + beta * TC + gamma * dimension-wise KL in place of the KL."""

    name = "tcvae"
    needs_dataset_size = True

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.alpha, self.gamma = config.tc_alpha, config.tc_gamma
        self.estimator = config.tc_estimator
        self.dataset_size = config.dataset_size

    @classmethod
    def check_config(cls, config: ModelConfig) -> None:
        _needs_factorised(config, cls.name, prior=True)
        for key in ("free_bits", "capacity_max"):
            if getattr(config, key):
                raise ConfigError(f"{key} shapes the KL term, which objective 'tcvae' replaces by its three terms; set one")

    def set_dataset_size(self, rows: int) -> None:
        self.dataset_size = rows

    def terms(self, q: Distribution, z: Tensor, prior: Distribution, reconstruction: Tensor) -> LossTerms:
        kl, kl_per_dim = kl_divergence(q, prior, z)  # closed form, for the logs and the summaries
        mi, tc, dwkl = tc_decomposition(q, z, prior, self.dataset_size, self.estimator)  # (B,) each
        return TCTerms(
            reconstruction=reconstruction, kl=kl, kl_per_dim=kl_per_dim, mutual_information=mi,
            total_correlation=tc, dimensionwise_kl=dwkl, alpha=self.alpha, gamma=self.gamma,
        )


# ------------------------------------------------------------ FactorVAE


@dataclass
class FactorTerms(LossTerms):
    """The ELBO's terms plus the discriminator's total correlation estimate per row, and the draw it scored."""

    total_correlation: Tensor | None = None
    """log D(z) / (1 - D(z)) per row, (B,) (Kim & Mnih 2018, eq. 3's estimate)."""
    codes: Tensor | None = None
    """The draw z (B, Z): the discriminator's next batch of q(z) samples."""
    gamma: float = 1.0

    def loss(self, beta: float | Tensor, free_bits: float = 0.0, capacity: float | None = None) -> Tensor:
        """-log p(x|z) + beta * KL + gamma * TC per row (Kim & Mnih 2018, eq. 2), (B,)."""
        return super().loss(beta, free_bits, capacity) + self.gamma * self.total_correlation


def permute_dims(z: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Each latent dimension shuffled across the batch on its own: draws of prod_j q(z_j) (Kim & Mnih 2018, alg. 1)."""
    order = torch.rand(z.shape, generator=generator, device=z.device).argsort(dim=0)  # (B, Z)
    return z.gather(0, order)


class Discriminator(nn.Module):
    """D(z): two logits, (z from q(z), z from the permuted prod_j q(z_j)).

    Kim & Mnih use 6 layers of 1000 units with leaky ReLU (slope 0.2); here
    the hidden sizes are ``discriminator_dims`` (default 3 x 512, CPU-sized).
    """

    def __init__(self, latent_dim: int, hidden_dims: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = latent_dim
        for size in hidden_dims:
            layers += [nn.Linear(width, size), nn.LeakyReLU(0.2)]
            width = size
        layers.append(nn.Linear(width, 2))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)  # (B, 2)


class FactorVAE(Objective):
    """FactorVAE (Kim & Mnih 2018): the ELBO + gamma * TC, the TC estimated by a discriminator trained beside it.

    The discriminator learns to tell draws of q(z) from draws of prod_j q(z_j)
    with its own Adam, one step after each VAE step. Kim & Mnih take the
    permuted codes from a second batch; here they are the same batch's
    detached codes, each dimension shuffled (one encoder pass per step).
    """

    name = "factorvae"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.gamma = config.factor_gamma
        self.discriminator = Discriminator(config.latent_dim, tuple(config.discriminator_dims))

    def terms(self, q: Distribution, z: Tensor, prior: Distribution, reconstruction: Tensor) -> LossTerms:
        kl, kl_per_dim = kl_divergence(q, prior, z)
        # D's parameters detached: the VAE's loss moves the encoder through z, never D (Kim & Mnih 2018, alg. 2).
        frozen = {name: p.detach() for name, p in self.discriminator.named_parameters()}
        logits = functional_call(self.discriminator, frozen, (z,))  # (B, 2)
        return FactorTerms(
            reconstruction=reconstruction, kl=kl, kl_per_dim=kl_per_dim,
            total_correlation=logits[:, 0] - logits[:, 1],  # log D/(1 - D) with D the softmax's first class
            codes=z, gamma=self.gamma,
        )

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return list(self.discriminator.parameters())

    def discriminator_loss(self, terms: LossTerms, generator: torch.Generator | None = None) -> Tensor:
        """Cross-entropy of D on the batch's codes (class 0) and their permutation (class 1) (Kim & Mnih 2018, alg. 2)."""
        weight = self.discriminator.net[0].weight
        z = terms.codes.detach().to(weight.dtype)  # (B, Z): no gradient reaches the encoder; fp32 under bf16 autocast
        logits = self.discriminator(torch.cat([z, permute_dims(z, generator)]))  # (2B, 2)
        labels = torch.cat([torch.zeros(len(z), dtype=torch.long), torch.ones(len(z), dtype=torch.long)])
        return F.cross_entropy(logits, labels.to(z.device))

    @torch.no_grad()
    def discriminator_accuracy(self, z: Tensor, generator: torch.Generator | None = None) -> float:
        """Share of ``z`` and of its permutation that D classifies right: 0.5 = it cannot tell them apart."""
        right_true = (self.discriminator(z).argmax(1) == 0).float().mean()
        right_perm = (self.discriminator(permute_dims(z, generator)).argmax(1) == 1).float().mean()
        return float((right_true + right_perm) / 2)


# ------------------------------------------------------------ DIP-VAE-II


@dataclass
class DIPTerms(LossTerms):
    """The ELBO's terms plus DIP-VAE's covariance penalty, one number for the batch."""

    penalty: Tensor | None = None
    """lambda_od * sum_{i!=j} C_ij^2 + lambda_d * sum_i (C_ii - 1)^2 with C = Cov_q(z)[z], () (Kumar et al. 2018)."""

    def loss(self, beta: float | Tensor, free_bits: float = 0.0, capacity: float | None = None) -> Tensor:
        """-log p(x|z) + beta * KL + the batch's penalty on every row, (B,): the batch mean adds the penalty once."""
        return super().loss(beta, free_bits, capacity) + self.penalty


class DIPVAE(Objective):
    """DIP-VAE-II (Kumar et al. 2018): the ELBO + a penalty pulling Cov_q(z)[z] towards the identity.

    Cov_q(z)[z] = E_p(x)[Sigma(x)] + Cov_p(x)[mu(x)] (DIP-VAE-II penalises all of it), both taken over the batch.
    """

    name = "dipvae"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.lambda_od, self.lambda_d = config.dip_lambda_od, config.dip_lambda_d

    @classmethod
    def check_config(cls, config: ModelConfig) -> None:
        _needs_factorised(config, cls.name, prior=False)

    def terms(self, q: Distribution, z: Tensor, prior: Distribution, reconstruction: Tensor) -> LossTerms:
        kl, kl_per_dim = kl_divergence(q, prior, z)
        centred = q.mu - q.mu.mean(dim=0)  # (B, Z)
        cov = centred.T @ centred / len(z) + torch.diag(q.logvar.exp().mean(dim=0))  # (Z, Z)
        diagonal = cov.diagonal()
        off_diagonal = cov - torch.diag(diagonal)
        penalty = self.lambda_od * off_diagonal.square().sum() + self.lambda_d * (diagonal - 1).square().sum()
        return DIPTerms(reconstruction=reconstruction, kl=kl, kl_per_dim=kl_per_dim, penalty=penalty)
