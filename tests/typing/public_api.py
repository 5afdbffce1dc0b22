"""Code a user writes against vaekit's public API; `make lint` type-checks it with mypy.

Never run: mypy reads it (vaekit ships py.typed), so a public signature that
loses or breaks its annotations fails the lint, as it would in a user's CI.
"""

from __future__ import annotations

import numpy as np
import torch

import vaekit
from vaekit.evaluation import iw_log_likelihood
from vaekit.generation import generation_metrics
from vaekit.samplers import GaussianMixtureSampler, fit_sampler


def user_code(x: np.ndarray) -> float:
    result: vaekit.TrainResult = vaekit.train(x, epochs=2, latent_dim=4, quiet=True)
    model = vaekit.load("runs/digits")
    codes: torch.Tensor = model.embed(torch.from_numpy(x))
    samples: torch.Tensor = model.sample(8, temperature=0.8, sampler="gmm")
    sampler: GaussianMixtureSampler = GaussianMixtureSampler(components=5).fit(codes)
    fit_sampler(model, x, "gmm", seed=0)
    log_px, elbo = iw_log_likelihood(model, x, k=100)
    report: dict = generation_metrics(samples.numpy(), x, "raw")
    detector = vaekit.VAEAnomalyDetector(latent_dim=4).fit(x)
    scores: np.ndarray = detector.score_samples(x)
    transformer = vaekit.VAETransformer(latent_dim=2)
    z: np.ndarray = transformer.fit_transform(x)
    summary = result.summary["val"]["elbo"] + float(log_px.mean()) + float(elbo.mean())
    return summary + float(scores.mean()) + float(z.mean()) + report["fid"] + float(sampler.sample(1).sum())
