"""Probe 2026-12-04: how a trained sprites model codes position.

The posterior means over the 32 x 32 positions of one square (shape 0, scale
index 5, rotation 0): for the five latents that vary most, the correlation
with x and with y, and the means at every 5th position (rows x, columns y).

    .venv/bin/python docs/disentangle_probes/2026-12-04_position_codes.py runs/h256/models/beta-tcvae_s1
"""

import sys

import numpy as np
import torch

from vaekit.data.sprites import SpriteGrid
from vaekit.io import load

torch.set_num_threads(1)
model = load(sys.argv[1])
model = model[0] if isinstance(model, tuple) else model
model.eval()
factors = np.array([[0, 5, 0, x, y] for x in range(32) for y in range(32)])
with torch.no_grad():
    mu = model.posterior(torch.from_numpy(SpriteGrid().observations(factors, dtype=np.float32))).mu.numpy()
order = np.argsort(-mu.var(0))
print("variance of the means", np.round(mu.var(0)[order], 3), "latents", order)
for latent in order[:5]:
    means = mu[:, latent]
    cx, cy = (np.corrcoef(means, factors[:, k])[0, 1] for k in (3, 4))
    print(f"z{latent}: correlation with x {cx:.2f}, with y {cy:.2f}")
    print(np.round(means.reshape(32, 32)[::5, ::5], 1))
