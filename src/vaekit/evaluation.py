"""Evaluation of trained models: the ELBO and its terms, averaged per sample.

Memory: every loop here writes its per-row results into outputs allocated
once before the loop and keeps nothing else across batches. A small tensor
kept per batch between the big short-lived decoder buffers fragments glibc's
heap: 2,000 images at K = 1000 once left 2 GB resident; now the peak does
not grow with N (numbers in ``benchmarks/memory.py``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score
from torch import Tensor, nn

from vaekit.data.progress import progress_bar
from vaekit.errors import DataError
from vaekit.likelihoods import BernoulliLikelihood, is_binary  # noqa: F401 - is_binary: evaluation.is_binary for its callers
from vaekit.objectives import kl_divergence

EVAL_BATCH_SIZE = 1024


def binarize_once(x: Tensor | np.ndarray, seed: int = 0) -> Tensor:
    """One fixed binarization of intensities in [0, 1]: x_bin ~ Bernoulli(x), drawn once with ``seed``.

    The protocol of the literature's test log-likelihood for models trained
    with dynamic binarization (a fresh draw per epoch, MNIST in Burda et al.
    2015): the test images are binarized once, with a fixed seed, so every
    evaluation scores the same bits. Binary data comes back unchanged.
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    return torch.bernoulli(x, generator=torch.Generator(device=x.device).manual_seed(seed))


def likelihood_kind(model: nn.Module) -> str:
    """``"discrete"`` when log p(x|z) is a log-probability (Bernoulli), ``"density"`` when it is a log-density.

    The likelihood's ``discrete`` attribute says which (a class without one
    counts as discrete only if it is the Bernoulli). A density's log p(x)
    depends on the scale of x and may be positive, so its NLL may be negative
    and is not comparable with NLLs of discrete data.
    """
    likelihood = getattr(model, "likelihood", None)
    discrete = getattr(likelihood, "discrete", isinstance(likelihood, BernoulliLikelihood))
    return "discrete" if discrete else "density"


def _progress(enabled: bool, total: int, desc: str):
    """The data loaders' progress bar, shown whenever the caller asks (the CLI asks on a terminal)."""
    return progress_bar(total, desc, "row", enabled=enabled, terminal_only=False, delay=0)


@torch.no_grad()
def mean_loss_terms(
    model: nn.Module,
    x: Tensor,
    *,
    beta: float = 1.0,
    n_samples: int = 1,
    seed: int = 0,
    batch_size: int = EVAL_BATCH_SIZE,
    y: Tensor | None = None,
    capacity: float | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """Per-sample averages of ``loss`` (at ``beta``), ``reconstruction`` and ``kl``.

    Each row is scored with ``n_samples`` posterior draws whose noise is fixed
    by ``seed``, so the same model and data always give the same numbers.
    The model is put in eval mode for the call and restored afterwards.
    ``y``: labels for the models that take them; ``capacity``: C of the
    capacity objective (its sign is taken per evaluation batch);
    ``progress``: show a progress bar on stderr.
    """
    if len(x) == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=x.device).manual_seed(seed)
    sums = torch.zeros(3, dtype=torch.float64, device=x.device)  # loss, reconstruction, kl: the only state kept
    with _progress(progress, n_samples * len(x), "ELBO") as bar:
        for _ in range(n_samples):
            for start in range(0, len(x), batch_size):
                xb = x[start : start + batch_size]
                if y is None:
                    terms = model.loss_terms(xb, generator)
                else:
                    terms = model.loss_terms(xb, generator, y=y[start : start + batch_size])
                sums[0] += terms.loss(beta, capacity=capacity).sum().double()
                sums[1] += terms.reconstruction.sum().double()
                sums[2] += terms.kl.sum().double()
                bar.update(len(xb))
    model.train(was_training)
    loss, rec, kl = (sums / (len(x) * n_samples)).tolist()
    return {"loss": loss, "reconstruction": rec, "kl": kl}


def evaluate(
    model: nn.Module, x: Tensor | np.ndarray, *, n_samples: int = 1, seed: int = 0, y: Tensor | np.ndarray | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """ELBO report for ``x``: ``elbo``, ``reconstruction``, ``kl`` (nats per sample), ``loss``, ``n``.

    ``elbo`` = -(reconstruction + kl) is the evidence lower bound on log p(x)
    (on log p(x|y) for a cvae given labels ``y``; M2 without ``y`` bounds
    log p(x)); ``loss`` is the training objective at the model's beta (and
    final capacity). ``progress``: show a progress bar on stderr.
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    y = None if y is None else torch.as_tensor(y)
    capacity = float(getattr(model.config, "capacity_max", 0.0)) or None
    terms = mean_loss_terms(
        model, x, beta=float(model.config.beta), n_samples=n_samples, seed=seed, y=y, capacity=capacity,
        progress=progress,
    )
    return {
        "elbo": -(terms["reconstruction"] + terms["kl"]),
        "reconstruction": terms["reconstruction"],
        "kl": terms["kl"],
        "loss": terms["loss"],
        "n": int(len(x)),
        "n_samples": int(n_samples),
    }


#: Burda et al. 2015, section 5.2: a latent dimension is active when the
#: posterior mean moves with the data, Cov_x(E_q[z_u]) > 0.01.
ACTIVE_UNIT_THRESHOLD = 0.01


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor | np.ndarray, y: Tensor | np.ndarray, batch_size: int = EVAL_BATCH_SIZE) -> float:
    """Share of the labelled rows (y >= 0) whose class ``model.predict`` gets right."""
    x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    known = y >= 0
    if not known.any():
        raise DataError("no labelled rows to measure accuracy on")
    was_training = model.training
    model.eval()
    predicted = torch.empty(len(x), dtype=torch.long)  # (N,): filled batch by batch, nothing kept per batch
    for start in range(0, len(x), batch_size):
        predicted[start : start + batch_size] = model.predict(x[start : start + batch_size])
    model.train(was_training)
    return float((predicted[known] == y[known]).double().mean())


@torch.no_grad()
def active_units(
    model: nn.Module, x: Tensor | np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD, batch_size: int = EVAL_BATCH_SIZE,
    y: Tensor | np.ndarray | None = None,
) -> dict[str, object]:
    """Active latent dimensions and the KL each one carries.

    A dimension is active when its posterior mean moves with the data,
    Var_x(E_q[z_u]) > ``threshold`` (Burda et al. 2015), and, where the KL
    splits by dimension, it carries more than ``threshold`` nats of KL: the
    count then agrees with the KL per dimension reported beside it.

    Returns ``count`` (active dimensions), ``variance`` (per dimension, of the
    posterior mean across ``x``) and ``kl_per_dim`` (mean KL per dimension,
    nats; None when the KL does not split by dimension, e.g. under a
    mixture prior) and ``kl`` (their sum: the mean KL(q(z|x) || p(z))).
    ``y``: labels of a conditional model's rows. Memory is O(Z): running sums, no (N, Z) array.
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    if len(x) == 0:
        raise ValueError("cannot measure active units on an empty dataset")
    y = None if y is None else torch.as_tensor(y)
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=_device(model)).manual_seed(0)  # for a KL that needs a draw
    prior = model.prior()
    sums = squares = kl_sums = None  # (Z,), (Z,) and (Z,) or (1,), float64, made at the first batch
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size].to(_device(model))
        q = model.posterior(xb) if y is None else model.posterior(xb, y[start : start + batch_size])  # (B, Z)
        kl, kl_dims = kl_divergence(q, prior, q.rsample(generator=generator))  # (B,), (B, Z) or None
        kl = kl[:, None] if kl_dims is None else kl_dims  # (B, Z) or (B, 1)
        mean = q.mean.double()  # (B, Z)
        if sums is None:
            sums, squares = torch.zeros_like(mean[0]), torch.zeros_like(mean[0])
            kl_sums = torch.zeros(kl.shape[1:], dtype=torch.float64, device=kl.device)
        sums += mean.sum(dim=0)
        squares += mean.square().sum(dim=0)
        kl_sums += kl.double().sum(dim=0)
    model.train(was_training)
    variance = (squares / len(x) - (sums / len(x)).square()).clamp_min(0.0).cpu()  # (Z,)
    kl_means = (kl_sums / len(x)).cpu()  # (Z,), or (1,) when the KL does not split by dimension
    active = variance > threshold
    if len(kl_means) == len(variance):
        active &= kl_means > threshold
    return {
        "count": int(active.sum()),
        "variance": variance.tolist(),
        "kl": float(kl_means.sum()),
        "kl_per_dim": kl_means.tolist() if len(kl_means) == len(variance) else None,
    }


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


#: Decoder rows evaluated at once: K samples x B images are decoded as one
#: (K*B)-row batch (big matrix products keep the cores busy); this caps the
#: batch at about 4 MB of float32 decoder output, which stays in cache for the
#: likelihood pass (measured fastest of 2, 4, 8 and 16 MB on the MNIST MLP).
IW_BUDGET_ELEMENTS = 1 << 20

#: glibc serves a block above its mmap threshold (128 KB at start) with a
#: fresh mmap, whose pages fault in zeroed, and raises that threshold (and the
#: heap-trim threshold, to twice it) to the size of an mmapped block when one
#: is freed. Whether the IW loop's MB-sized buffers were mapped afresh for
#: every batch thus depended on what the process had freed before (an ELBO
#: pass, the data loading) and even on the address layout. Freeing one 16 MB
#: block first keeps them on the heap, reused: on 200 MNIST-sized images at
#: K = 1000 (one thread) the page faults fell from 457,000 to under 10,000 and
#: the run from 3.5 s of CPU (1.0 s of it in the kernel) to 2.2 s. Allocators
#: other than glibc's are not affected.
MALLOC_THRESHOLD_BYTES = 16 << 20


@torch.no_grad()
def iw_log_likelihood(
    model: nn.Module,
    x: Tensor | np.ndarray,
    k: int = 1000,
    *,
    seed: int = 0,
    budget_elements: int = IW_BUDGET_ELEMENTS,
    progress: bool = False,
    common_noise: bool = False,
) -> tuple[Tensor, Tensor]:
    """Importance-weighted estimate of log p(x) per row (Burda et al. 2015, eq. 8).

    log p(x) ~= log (1/K) sum_k p(x, z_k) / q(z_k|x),  z_k ~ q(z|x).

    Rows and samples are batched together so that each decoder call handles
    about ``budget_elements`` output values; when K alone exceeds that, K is
    split into chunks whose log-weights are combined exactly by one
    logsumexp. Memory is therefore bounded whatever K and N are: the only
    allocations that outlive a batch are the two outputs, made before the
    first. ``progress``: show a progress bar with ETA on stderr.
    ``common_noise``: the same K noise vectors for every row (common random
    numbers), so a row's estimate depends on that row only, not on its
    position or the rows batched beside it (what anomaly scores need); by
    default each row draws its own.

    Returns
    -------
    log_px:
        (N,) the IW estimate of log p(x); it is a lower bound that rises with K.
    elbo:
        (N,) the mean log-weight, an unbiased estimate of the ELBO.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if getattr(model, "conditional", False):
        raise DataError(f"the importance-weighted log p(x) is for unconditional models, not '{model.config.model}'")
    x = torch.as_tensor(x, dtype=torch.float32)
    was_training = model.training
    model.eval()
    device = _device(model)
    generator = torch.Generator(device=device).manual_seed(seed)
    noise = torch.randn(k, model.noise_dim, generator=generator, device=device) if common_noise else None  # (K, noise)
    # Decoder outputs per row: the likelihood's parameters (a logistic mixture has ~33 numbers a pixel).
    features = math.prod(getattr(getattr(model, "likelihood", None), "params_shape", x.shape[1:]))
    rows_per_call = max(1, budget_elements // features)  # decoder rows per call
    k_chunk = min(k, rows_per_call)
    batch = max(1, rows_per_call // k_chunk)  # images per call
    log_px = torch.empty(len(x), device=device)  # (N,)
    elbo = torch.empty(len(x), device=device)  # (N,)
    _raise_malloc_thresholds()
    # p(z) once for the whole evaluation: the weights do not change
    with model.prior.frozen(), _progress(progress, len(x), f"log p(x), K={k}") as bar:
        for start in range(0, len(x), batch):
            xb = x[start : start + batch].to(device)  # (B, *shape)
            chunks = [_log_weights(model, xb, min(k_chunk, k - done), generator, noise, done) for done in range(0, k, k_chunk)]
            # (K, B): log p(x, z_k) - log q(z_k|x), every density from the model's parts
            log_w = chunks[0] if len(chunks) == 1 else torch.cat(chunks)
            log_px[start : start + len(xb)] = torch.logsumexp(log_w, dim=0)
            elbo[start : start + len(xb)] = log_w.mean(dim=0)
            del chunks, log_w  # nothing of this batch survives into the next
            bar.update(len(xb))
    model.train(was_training)
    return (log_px - math.log(k)).cpu(), elbo.cpu()


def _log_weights(model: nn.Module, x: Tensor, k: int, generator: torch.Generator, noise: Tensor | None, done: int) -> Tensor:
    """The model's (K, B) log-weights of draws done .. done + k: from ``generator``, or rows done .. of ``noise``."""
    if noise is None:
        return model.log_weights(x, k, generator)
    return model.log_weights(x, k, eps=noise[done : done + k])


def _raise_malloc_thresholds() -> None:
    """Let glibc keep buffers up to ``MALLOC_THRESHOLD_BYTES`` on its heap (see there)."""
    torch.empty(MALLOC_THRESHOLD_BYTES, dtype=torch.uint8)  # allocated and freed at once: that is the signal


def evaluate_likelihood(
    model: nn.Module, x: Tensor | np.ndarray, k: int = 1000, *, seed: int = 0, progress: bool = False
) -> dict[str, Any]:
    """The literature's report: ``iw_nll`` (nats), the IW-sampled ``iw_elbo``, ``likelihood_kind`` and ``bits_per_dim``.

    ``bits_per_dim`` = iw_nll / (D ln 2), D the number of features per
    sample, is reported for discrete likelihoods on their own values only
    (a Bernoulli on 0s and 1s, not on grey values): only there is the NLL a
    code length. Under a density (``likelihood_kind`` ==
    ``"density"``, the Gaussians) ``iw_nll`` is a negative log-density: it
    depends on the scale of x, may be negative, and is not comparable with
    the NLLs of discrete data. ``progress``: show a progress bar on stderr.
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    log_px, elbo = iw_log_likelihood(model, x, k, seed=seed, progress=progress)
    iw_nll = -float(log_px.double().mean())
    kind = likelihood_kind(model)
    report: dict[str, Any] = {"iw_nll": iw_nll}
    on_support = getattr(model.likelihood, "on_support", None)  # a likelihood of the user's may not say
    if kind == "discrete" and (on_support is None or on_support(x)):
        report["bits_per_dim"] = iw_nll / (math.prod(x.shape[1:]) * math.log(2))
    report.update({"iw_elbo": float(elbo.double().mean()), "iw_samples": int(k), "likelihood_kind": kind})
    return report


def detection_metrics(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """ROC-AUC, average precision and the confusion at ``threshold`` of anomaly scores against 0/1 labels.

    ``scores`` are higher for more anomalous rows; a row is flagged when its
    score is above ``threshold``. ``y`` holds 1 for anomalies.
    """

    if len(np.unique(y)) < 2:
        raise DataError("the labels hold only one class; ROC-AUC needs both normal (0) and anomalous (1) rows")
    confusion = confusion_matrix(y == 1, scores > threshold, labels=[False, True])  # rows: truth, columns: flagged
    tn, fp, fn, tp = (int(c) for c in confusion.ravel())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "n": int(len(y)), "anomalies": int(y.sum()),
        "roc_auc": float(roc_auc_score(y, scores)), "average_precision": float(average_precision_score(y, scores)),
        "threshold": float(threshold), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "precision": precision, "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
    }
