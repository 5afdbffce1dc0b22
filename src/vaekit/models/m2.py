"""M2 (Kingma et al. 2014): a classifier q(y|x) inside a class-conditional VAE.

Labelled rows (y >= 0) are scored with the labelled bound plus alpha times
the classifier's cross-entropy; unlabelled rows (y = -1) with the bound
summed over every class, weighted by q(y|x). Everything else is the CVAE's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from vaekit.config import ModelConfig
from vaekit.errors import ConfigError
from vaekit.models.cvae import CVAE
from vaekit.networks import build_classifier
from vaekit.objectives import LossTerms, kl_divergence

#: Marks a row whose label is unknown.
UNLABELLED = -1
#: alpha of a model built outside ``vaekit.train`` (which sets Kingma's 0.1 * N).
DEFAULT_CLASSIFIER_WEIGHT = 1.0


class M2(CVAE):
    """Semi-supervised VAE: p(x|y, z) p(y) p(z) with q(z|x, y) q(y|x) and a uniform p(y)."""

    name = "m2"
    semi_supervised = True

    @dataclass
    class Options:
        classifier_weight: float | None = None
        """alpha, the weight of the labelled rows' cross-entropy (Kingma et al. 2014, eq. 9); None = their 0.1 * N spread over the labelled rows: 0.1 * N / N_labelled (set by vaekit.train)."""

        def validate(self) -> None:
            if self.classifier_weight is not None and self.classifier_weight < 0:
                raise ConfigError(f"invalid value for 'classifier_weight': {self.classifier_weight} (must be >= 0)")

    def __init__(self, config: ModelConfig, **parts) -> None:
        super().__init__(config, **parts)
        self.classifier = build_classifier(config, self.num_classes)

    @classmethod
    def condition_size(cls, config: ModelConfig) -> int:
        if config.condition_dim or not config.num_classes:
            raise ConfigError("model 'm2' needs class labels (num_classes > 0), not covariates")
        return config.num_classes

    def classify(self, x: Tensor) -> Tensor:
        """Logits of q(y|x), (B, K)."""
        return self.classifier(x)

    @torch.no_grad()
    def predict_proba(self, x: Tensor) -> Tensor:
        """q(y|x) per row, (B, K)."""
        return torch.softmax(self.classify(x), dim=-1)

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """The most probable class per row, (B,)."""
        return self.classify(x).argmax(dim=-1)

    def labels_for(self, x: Tensor, y: Tensor | None) -> Tensor:
        """Encode with the given labels, or with the classifier's prediction."""
        return self.predict(x) if y is None else y

    def loss_terms(
        self, x: Tensor, generator: torch.Generator | None = None, eps: Tensor | None = None,
        y: Tensor | None = None,
    ) -> LossTerms:
        """Per-sample -L(x, y) (labelled rows) or -U(x) (unlabelled, y = -1 or no y at all).

        Kingma et al. 2014, eqs. 6-9. Every row is encoded and decoded under
        every class at once (the encoder's input layer runs once per row); a
        labelled row keeps its class's terms, an unlabelled row their
        q(y|x)-weighted sum. ``kl`` holds KL(q(z|x,y) || p(z)) plus the
        label's KL to the uniform p(y): log K for a known label (a point
        mass), log K - H(q(y|x)) otherwise. ``extra`` is alpha times the
        cross-entropy of the labelled rows.
        """
        k, b = self.num_classes, len(x)
        y = torch.full((b,), UNLABELLED, dtype=torch.long, device=x.device) if y is None else y
        labelled = y >= 0  # (B,)
        logits = self.classify(x)  # (B, K)
        log_q = F.log_softmax(logits, dim=-1)  # (B, K)
        every_class = torch.eye(k, dtype=x.dtype, device=x.device)  # (K, K)
        q = self._posterior(x, every_class[:, None, :])  # (K, B, Z): x's input layer runs once
        z = q.rsample(generator=generator, eps=eps)  # (K, B, Z)
        c = every_class.repeat_interleave(b, dim=0)  # (K * B, K): class of each decoded row
        params = self.decoder(z.reshape(k * b, -1), c)  # (K * B, *params_shape)
        params = params.reshape(k, b, *params.shape[1:])  # (K, B, *params_shape)
        reconstruction = -self.likelihood.log_prob(params, x)  # (K, B)
        kl_z, kl_z_per_dim = kl_divergence(q, self.prior(), z)  # (K, B), (K, B, Z) or None
        one_hot = F.one_hot(y.clamp(min=0), k).to(x.dtype)  # (B, K)
        weight = torch.where(labelled[:, None], one_hot, log_q.exp()).T  # (K, B): point mass or q(y|x)
        kl_per_z = None if kl_z_per_dim is None else (weight[..., None] * kl_z_per_dim).sum(dim=0)  # (B, Z)
        entropy = -(log_q.exp() * log_q).sum(dim=-1)  # (B,)
        kl_y = math.log(k) - torch.where(labelled, torch.zeros_like(entropy), entropy)  # (B,)
        alpha = self.options.classifier_weight
        alpha = DEFAULT_CLASSIFIER_WEIGHT if alpha is None else alpha
        cross_entropy = -log_q.gather(1, y.clamp(min=0)[:, None])[:, 0]  # (B,)
        return LossTerms(
            reconstruction=(weight * reconstruction).sum(dim=0),  # (B,)
            kl=(kl_per_z.sum(dim=1) if kl_per_z is not None else (weight * kl_z).sum(dim=0)) + kl_y,  # (B,)
            kl_per_dim=kl_per_z,
            extra=alpha * torch.where(labelled, cross_entropy, torch.zeros_like(cross_entropy)),  # Kingma et al. eq. 9
        )
