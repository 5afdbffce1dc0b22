"""How a trained model is measured: one report for ``summary.json`` and ``vaekit evaluate``.

Both ask :func:`summarize`, so the numbers a run writes at the end of
training and the numbers ``vaekit evaluate`` prints later are the same
measurements, named the same, and cannot drift apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from vaekit.disentanglement import mig
from vaekit.evaluation import (
    EVAL_BATCH_SIZE,
    accuracy,
    active_units,
    binarize_once,
    evaluate,
    evaluate_likelihood,
    is_binary,
)

#: Keys that describe the latent space rather than a data split; summary.json keeps them at its top level.
LATENT_KEYS = ("active_units", "kl_per_dim", "mig")


def summarize(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    *,
    y: np.ndarray | torch.Tensor | None = None,
    labels: np.ndarray | None = None,
    factors: np.ndarray | None = None,
    factor_names: list[str] | None = None,
    n_samples: int = 1,
    seed: int = 0,
    latent: bool = True,
    latent_rows: int | None = None,
    iw_samples: int = 0,
    binarize: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Every number vaekit reports for ``model`` on the rows ``x``.

    Parameters
    ----------
    model
        A trained model.
    x
        The rows, (N, D) or (N, C, H, W).
    y
        What a conditional model (cvae) is given with each row; ``None`` for
        the others (M2 is scored on its unlabelled bound).
    labels
        True classes (-1 where unknown) to score a model's classifier on
        (``accuracy``, models with ``predict``); an error if none is known.
    factors, factor_names
        Known generative factors (N, F) of the rows: adds the MIG of the latent
        codes when the latent space has at least two dimensions.
    n_samples, seed
        Posterior draws per row for the ELBO, and their seed.
    latent
        Also measure the latent space: ``active_units``, ``kl_per_dim`` and
        (with ``factors``) ``mig``.
    latent_rows
        Measure ``active_units`` on the first ``latent_rows`` rows only (all by default).
    iw_samples
        Also estimate log p(x) with this many importance samples (0: no).
    binarize
        Score x_bin ~ Bernoulli(x), drawn once with ``seed``, instead of the
        grey values: the test protocol for a model trained with dynamic
        binarization. Binary data is scored as it is.
    progress
        Show progress bars with ETA on stderr for the ELBO and the IW estimate.

    Returns
    -------
    dict
        ``elbo``, ``reconstruction``, ``kl``, ``loss``, ``n``; then as the
        model and data allow ``active_units``, ``kl_per_dim``, ``accuracy``,
        ``mig``, and ``iw_nll``, ``bits_per_dim`` (discrete likelihoods only),
        ``iw_elbo``, ``iw_samples``, ``likelihood_kind``; with ``binarize``,
        ``binarized``: ``{"seed": seed}``, or False when the data was binary already.
    """
    y = None if y is None else torch.as_tensor(y)
    binarized: dict[str, int] | bool = False
    if binarize and not is_binary(x):
        x, binarized = binarize_once(x, seed), {"seed": seed}  # once: the ELBO and log p(x) score the same bits
    report: dict[str, Any] = evaluate(model, x, n_samples=n_samples, seed=seed, y=y, progress=progress)
    if binarize:
        report["binarized"] = binarized
    if latent:
        rows = slice(None, latent_rows)
        units = active_units(model, x[rows], y=None if y is None else y[rows])
        report["active_units"] = units["count"]
        report["kl_per_dim"] = units["kl_per_dim"]
    if labels is not None and hasattr(model, "predict"):
        report["accuracy"] = accuracy(model, x, labels)
    if latent and factors is not None and model.latent_dim >= 2:
        codes = _posterior_means(model, torch.as_tensor(x, dtype=torch.float32), y)  # (N, Z)
        report["mig"] = mig(codes, factors, factor_names=factor_names)["mig"]
    if iw_samples:
        report.update(evaluate_likelihood(model, x, k=iw_samples, seed=seed, progress=progress))
    return report


def _posterior_means(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> np.ndarray:
    """The codes of every row, (N, Z), encoded batch by batch into one array allocated once."""
    codes = None
    for start in range(0, len(x), EVAL_BATCH_SIZE):
        rows = slice(start, start + EVAL_BATCH_SIZE)
        z = model.embed(x[rows], y=None if y is None else y[rows]).numpy()  # (B, Z)
        if codes is None:
            codes = np.empty((len(x), *z.shape[1:]), dtype=z.dtype)
        codes[rows] = z
    return codes
