"""Evaluation of trained models: the ELBO and its terms, averaged per sample."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from vaekit.objectives import kl_per_dim

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
) -> dict[str, float]:
    """Per-sample averages of ``loss`` (at ``beta``), ``reconstruction`` and ``kl``.

    Each row is scored with ``n_samples`` posterior draws whose noise is fixed
    by ``seed``, so the same model and data always give the same numbers.
    The model is put in eval mode for the call and restored afterwards.
    """
    if len(x) == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=x.device).manual_seed(seed)
    sums = torch.zeros(3, dtype=torch.float64)
    for _ in range(n_samples):
        for start in range(0, len(x), batch_size):
            terms = model.loss_terms(x[start : start + batch_size], generator)
            sums += torch.stack(
                [terms.loss(beta).sum(), terms.reconstruction.sum(), terms.kl.sum()]
            ).double().cpu()
    model.train(was_training)
    loss, rec, kl = (sums / (len(x) * n_samples)).tolist()
    return {"loss": loss, "reconstruction": rec, "kl": kl}


def evaluate(model: nn.Module, x: Tensor | np.ndarray, *, n_samples: int = 1, seed: int = 0) -> dict[str, float]:
    """ELBO report for ``x``: ``elbo``, ``reconstruction``, ``kl`` (nats per sample), ``loss``, ``n``.

    ``elbo`` = -(reconstruction + kl) is the evidence lower bound on log p(x);
    ``loss`` is the training objective at the model's beta.
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    terms = mean_loss_terms(model, x, beta=float(model.config.beta), n_samples=n_samples, seed=seed)
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
def active_units(
    model: nn.Module, x: Tensor | np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD, batch_size: int = EVAL_BATCH_SIZE
) -> dict[str, object]:
    """Active latent dimensions and the KL each one carries.

    Returns ``count`` (active dimensions), ``variance`` (per dimension, of the
    posterior mean across ``x``) and ``kl_per_dim`` (mean KL per dimension,
    nats).
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    was_training = model.training
    model.eval()
    mus, kls = [], []
    for start in range(0, len(x), batch_size):
        mu, logvar = model.encode(x[start : start + batch_size])  # (B, Z)
        mus.append(mu)
        kls.append(kl_per_dim(mu, logvar))  # (B, Z)
    model.train(was_training)
    variance = torch.cat(mus).double().var(dim=0, unbiased=False)  # (Z,)
    return {
        "count": int((variance > threshold).sum()),
        "variance": variance.tolist(),
        "kl_per_dim": torch.cat(kls).double().mean(dim=0).tolist(),
    }
