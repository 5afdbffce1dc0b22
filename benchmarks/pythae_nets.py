"""pythae 0.1.2's VAE with pytorch/examples' MNIST MLP, shared by the benchmarks that race it.

The decoder keeps its logits (``decoder.logits``) so that an exact Bernoulli
log-likelihood can be taken from them; pythae itself sees the sigmoid means.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pythae_mlp_vae(hidden: int, latent: int, features: int = 784):
    """A pythae ``VAE`` (BCE reconstruction) with a features-hidden-latent MLP encoder and its mirror."""
    from pythae.models import VAE, VAEConfig  # noqa: PLC0415 - pythae: the competitor, installed only for this comparison
    from pythae.models.base.base_utils import ModelOutput  # noqa: PLC0415 - pythae, as above
    from pythae.models.nn import BaseDecoder, BaseEncoder  # noqa: PLC0415 - pythae, as above

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.fc1, self.mu, self.logvar = nn.Linear(features, hidden), nn.Linear(hidden, latent), nn.Linear(hidden, latent)

        def forward(self, x):
            h = F.relu(self.fc1(x.reshape(len(x), -1)))
            return ModelOutput(embedding=self.mu(h), log_covariance=self.logvar(h))

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.logits = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, features))

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.logits(z)))

    return VAE(VAEConfig(input_dim=(features,), latent_dim=latent, reconstruction_loss="bce"), Encoder(), Decoder())
