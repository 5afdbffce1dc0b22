"""Evaluation of trained models: the ELBO and its terms, averaged per sample."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score
from torch import Tensor, nn

from vaekit.errors import DataError
from vaekit.objectives import kl_divergence

EVAL_BATCH_SIZE = 1024


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
) -> dict[str, float]:
    """Per-sample averages of ``loss`` (at ``beta``), ``reconstruction`` and ``kl``.

    Each row is scored with ``n_samples`` posterior draws whose noise is fixed
    by ``seed``, so the same model and data always give the same numbers.
    The model is put in eval mode for the call and restored afterwards.
    ``y``: labels for the models that take them; ``capacity``: C of the
    capacity objective (its sign is taken per evaluation batch).
    """
    if len(x) == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=x.device).manual_seed(seed)
    sums = torch.zeros(3, dtype=torch.float64)
    for _ in range(n_samples):
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size]
            if y is None:
                terms = model.loss_terms(xb, generator)
            else:
                terms = model.loss_terms(xb, generator, y=y[start : start + batch_size])
            sums += torch.stack(
                [terms.loss(beta, capacity=capacity).sum(), terms.reconstruction.sum(), terms.kl.sum()]
            ).double().cpu()
    model.train(was_training)
    loss, rec, kl = (sums / (len(x) * n_samples)).tolist()
    return {"loss": loss, "reconstruction": rec, "kl": kl}


def evaluate(
    model: nn.Module, x: Tensor | np.ndarray, *, n_samples: int = 1, seed: int = 0, y: Tensor | np.ndarray | None = None
) -> dict[str, float]:
    """ELBO report for ``x``: ``elbo``, ``reconstruction``, ``kl`` (nats per sample), ``loss``, ``n``.

    ``elbo`` = -(reconstruction + kl) is the evidence lower bound on log p(x)
    (on log p(x|y) for a cvae given labels ``y``; M2 without ``y`` bounds
    log p(x)); ``loss`` is the training objective at the model's beta (and
    final capacity).
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    y = None if y is None else torch.as_tensor(y)
    capacity = float(getattr(model.config, "capacity_max", 0.0)) or None
    terms = mean_loss_terms(
        model, x, beta=float(model.config.beta), n_samples=n_samples, seed=seed, y=y, capacity=capacity
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
    predicted = torch.cat([model.predict(x[s : s + batch_size]) for s in range(0, len(x), batch_size)])
    model.train(was_training)
    return float((predicted[known] == y[known]).double().mean())


@torch.no_grad()
def active_units(
    model: nn.Module, x: Tensor | np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD, batch_size: int = EVAL_BATCH_SIZE,
    y: Tensor | np.ndarray | None = None,
) -> dict[str, object]:
    """Active latent dimensions and the KL each one carries.

    Returns ``count`` (active dimensions), ``variance`` (per dimension, of the
    posterior mean across ``x``) and ``kl_per_dim`` (mean KL per dimension,
    nats; None when the KL does not split by dimension, e.g. under a
    mixture prior) and ``kl`` (their sum: the mean KL(q(z|x) || p(z))).
    ``y``: labels of a conditional model's rows.
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    y = None if y is None else torch.as_tensor(y)
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=_device(model)).manual_seed(0)  # for a KL that needs a draw
    prior = model.prior()
    means, kls = [], []
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size].to(_device(model))
        q = model.posterior(xb) if y is None else model.posterior(xb, y[start : start + batch_size])  # (B, Z)
        means.append(q.mean)
        kl, kl_dims = kl_divergence(q, prior, q.rsample(generator=generator))  # (B,), (B, Z) or None
        kls.append(kl[:, None] if kl_dims is None else kl_dims)
    model.train(was_training)
    variance = torch.cat(means).double().var(dim=0, unbiased=False)  # (Z,)
    kl_means = torch.cat(kls).double().mean(dim=0)  # (Z,), or (1,) when the KL does not split by dimension
    return {
        "count": int((variance > threshold).sum()),
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


@torch.no_grad()
def iw_log_likelihood(
    model: nn.Module,
    x: Tensor | np.ndarray,
    k: int = 1000,
    *,
    seed: int = 0,
    budget_elements: int = IW_BUDGET_ELEMENTS,
) -> tuple[Tensor, Tensor]:
    """Importance-weighted estimate of log p(x) per row (Burda et al. 2015, eq. 8).

    log p(x) ~= log (1/K) sum_k p(x, z_k) / q(z_k|x),  z_k ~ q(z|x).

    Rows and samples are batched together so that each decoder call handles
    about ``budget_elements`` output values; when K alone exceeds that, K is
    split into chunks whose log-weights are combined exactly by one
    logsumexp. Memory is therefore bounded whatever K and N are.

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
    features = math.prod(x.shape[1:])
    rows_per_call = max(1, budget_elements // features)  # decoder rows per call
    k_chunk = min(k, rows_per_call)
    batch = max(1, rows_per_call // k_chunk)  # images per call
    log_px, elbo = [], []
    with model.prior.frozen():  # p(z) once for the whole evaluation: the weights do not change
        for start in range(0, len(x), batch):
            xb = x[start : start + batch].to(device)  # (B, *shape)
            log_w = torch.cat(
                [model.log_weights(xb, min(k_chunk, k - done), generator) for done in range(0, k, k_chunk)]
            )  # (K, B): log p(x, z_k) - log q(z_k|x), every density from the model's parts
            log_px.append(torch.logsumexp(log_w, dim=0) - math.log(k))
            elbo.append(log_w.mean(dim=0))
    model.train(was_training)
    return torch.cat(log_px).cpu(), torch.cat(elbo).cpu()


def evaluate_likelihood(
    model: nn.Module, x: Tensor | np.ndarray, k: int = 1000, *, seed: int = 0
) -> dict[str, float]:
    """The literature's report: ``iw_nll`` (nats), ``bits_per_dim`` and the IW-sampled ``iw_elbo``.

    ``bits_per_dim`` = iw_nll / (D ln 2), D the number of features per sample.
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    log_px, elbo = iw_log_likelihood(model, x, k, seed=seed)
    iw_nll = -float(log_px.double().mean())
    features = math.prod(x.shape[1:])
    return {
        "iw_nll": iw_nll,
        "bits_per_dim": iw_nll / (features * math.log(2)),
        "iw_elbo": float(elbo.double().mean()),
        "iw_samples": int(k),
    }


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
