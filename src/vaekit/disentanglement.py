"""Disentanglement against known factors: the mutual information gap (MIG).

Chen et al. 2018, eq. 5: for each ground-truth factor v_k, the mutual
information between v_k and every latent dimension z_j, normalised by the
factor's entropy H(v_k); MIG is the mean over factors of the gap between
the two most informative dimensions. A latent space that gives each factor
its own dimension scores near 1, one that spreads factors over dimensions
(or ignores them) near 0. As in Locatello et al. 2019, the latents are the
posterior means, discretised into equal-width bins.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mutual_info_score

#: Bins per latent dimension (Locatello et al. 2019 use 20).
MIG_BINS = 20


def discretize(codes: np.ndarray, bins: int = MIG_BINS) -> np.ndarray:
    """Each column of ``codes`` (N, Z) cut into ``bins`` equal-width bins, as int64 indices (N, Z)."""
    # Hand-written: KBinsDiscretizer(strategy='uniform') warns on every constant column, and collapsed latents are routine.
    codes = np.asarray(codes, dtype=np.float64)
    low, high = codes.min(axis=0), codes.max(axis=0)
    width = np.where(high > low, (high - low) / bins, 1.0)
    return np.clip(((codes - low) / width).astype(np.int64), 0, bins - 1)


def entropy(a: np.ndarray) -> float:
    """H(a) in nats for a discrete label array."""
    # Hand-written: scikit-learn has no public entropy of labels, and scipy is not a vaekit dependency.
    _, counts = np.unique(a, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def mig(codes: np.ndarray, factors: np.ndarray, bins: int = MIG_BINS, factor_names: list[str] | None = None) -> dict:
    """The mutual information gap of latent ``codes`` (N, Z) against discrete ``factors`` (N, F).

    Returns ``mig`` (the mean gap), ``per_factor`` (name -> normalised gap)
    and ``mutual_information`` (F x Z, nats). Factors that take a single
    value carry no information and are left out of the mean.
    """
    codes, factors = np.asarray(codes), np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise ValueError(f"codes (N, Z) and factors (N, F) must have the same rows, got {codes.shape} and {factors.shape}")
    if codes.shape[1] < 2:
        raise ValueError("MIG compares the two most informative dimensions: it needs latent_dim >= 2")
    binned = discretize(codes, bins)
    names = factor_names or [f"factor{k}" for k in range(factors.shape[1])]
    info = np.array([[mutual_info_score(factors[:, k], binned[:, j]) for j in range(codes.shape[1])]
                     for k in range(factors.shape[1])])  # (F, Z)
    gaps = {}
    for k, name in enumerate(names):
        h = entropy(factors[:, k])
        if h > 0:
            top = np.sort(info[k])[::-1]
            gaps[name] = float((top[0] - top[1]) / h)
    return {
        "mig": float(np.mean(list(gaps.values()))) if gaps else 0.0,
        "per_factor": gaps,
        "mutual_information": info.tolist(),
    }
