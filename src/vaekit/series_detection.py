"""Per-reading anomaly scores of a time series, from a VAE trained on its sliding windows.

A window (C, W) is scored by the VAE with a few fixed posterior draws; a
reading is then scored from the windows that cover it (``aggregation``):

- ``window`` (the detector's default): the mean of the covering windows'
  -ELBO, each window's score spread over its readings. On the 19 NAB series
  it had the best VUS-PR of the three by leave-one-series-out;
- ``mean``: the mean, over the windows covering the reading, of that
  reading's own reconstruction term -log p(x_t | z), summed over channels
  (LSTM-VAE / Donut style, but using every window a reading appears in):
  sharper in time, but a window that is odd as a whole scores low at each
  of its readings;
- ``last``: the reconstruction term of the reading in the window that ends
  at it, which needs no future readings.

Streaming (:func:`stream_scores`) scores new readings with the last W - 1
readings as context, from the one window ending at each new reading (its
-ELBO for ``window``, the reading's own term otherwise).
"""

from __future__ import annotations

import numpy as np
import torch

from vaekit.models.vae import mean_over_draws
from vaekit.timeseries import last_step, per_reading, sliding_windows

AGGREGATIONS = ("mean", "window", "last")
#: Windows scored per forward pass (times the posterior draws): bounds memory on long series.
WINDOW_CHUNK = 2048


def score_windows(model, windows: np.ndarray, n_samples: int, per_step: bool) -> np.ndarray:
    """Windows (M, C, W) -> per-step scores (M, W) (``per_step``) or window -ELBO (M,), over ``n_samples`` draws.

    A step's score is -log p(x_t | z) summed over the C channels. The draws
    are the same seeded noise for every window (common random numbers), so a
    window's score depends on the model and that window only.
    """

    def score(xb: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        nll, kl = model.reconstruction_elements(xb, eps=eps)  # (B, C, W), (B,)
        return nll.sum(1) if per_step else nll.sum((1, 2)) + kl  # (B, W) or (B,)

    return mean_over_draws(model, windows, n_samples, WINDOW_CHUNK, score)


def reading_scores(model, values: np.ndarray, window: int, n_samples: int, aggregation: str) -> dict[str, np.ndarray]:
    """Scaled readings (N, C), in time order -> {"scores": (N,) by ``aggregation``, "stream": (N,) as streamed}.

    ``stream`` is what :func:`stream_scores` gives each reading (the window
    ending at it); the detector sets its streaming threshold from it.
    """
    windows, starts = sliding_windows(values, window, 1)  # (M, C, W), (M,)
    s = score_windows(model, windows, n_samples, per_step=aggregation != "window")
    n = len(values)
    per_window_steps = s if s.ndim == 2 else np.broadcast_to(s[:, None], (len(s), window))  # (M, W)
    scores = last_step(s, starts, n, window) if aggregation == "last" else per_reading(s, starts, n, window)
    return {"scores": scores, "stream": last_step(per_window_steps, starts, n, window)}


def stream_scores(
    model, context: np.ndarray, new: np.ndarray, window: int, n_samples: int, aggregation: str
) -> np.ndarray:
    """Scores of new scaled readings (n, C), each from the window that ends at it; ``context``: the W - 1 before."""
    full = np.concatenate([context, new]).astype(np.float32, copy=False)  # (W - 1 + n, C)
    windows, _ = sliding_windows(full, window, 1)  # (n, C, W): window i ends at new reading i
    s = score_windows(model, windows, n_samples, per_step=aggregation != "window")
    return s[:, -1] if s.ndim == 2 else s
