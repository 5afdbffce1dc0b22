"""Flow posteriors: inverse autoregressive flow (Kingma et al. 2016) on top of the Gaussian q(z|x).

z_0 ~ N(mu(x), sigma(x)^2) is pushed through T steps
z_t = s_t * z_{t-1} + (1 - s_t) * m_t, with [m_t, s_t] = MADE_t(z_{t-1}, h(x))
autoregressive in z (Kingma et al. 2016, eqs. 13-14, the numerically stable
gated form); each step is invertible with log|det| = sum log s_t, so
log q(z_T|x) = log q(z_0|x) - sum_t sum_i log s_t,i. The context h(x) is the
base posterior's (mu, log sigma^2).

:class:`FlowPosterior` is the distribution object the models use: it draws
with explicit randomness (a generator or given noise, like
:class:`~vaekit.posteriors.DiagonalGaussian`) and scores the draws it made
(an IAF's inverse is sequential, so other points are not scored).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution

from vaekit.posteriors import DiagonalGaussian

#: Added to the gate's pre-activation so sigmoid(s) starts near 0.9: each step starts close to the
#: identity and the flow begins as the plain Gaussian posterior (Kingma et al. 2016, section 4 and appendix).
GATE_BIAS = 2.0


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask."""

    def __init__(self, in_features: int, out_features: int, mask: Tensor) -> None:
        super().__init__(in_features, out_features)
        self.register_buffer("mask", mask.to(self.weight.dtype), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """A one-hidden-layer MADE (Germain et al. 2015): output i sees inputs < i only, and all of the context."""

    def __init__(self, dim: int, hidden: int, context_dim: int) -> None:
        super().__init__()
        degrees_in = torch.arange(1, dim + 1)  # (D,)
        degrees_hidden = torch.arange(hidden) % max(dim - 1, 1) + 1  # (H,) in 1..D-1
        self.hidden = MaskedLinear(dim, hidden, (degrees_hidden[:, None] >= degrees_in[None, :]))
        self.context = nn.Linear(context_dim, hidden)
        out_mask = degrees_in[:, None] > degrees_hidden[None, :]  # (D, H): strictly autoregressive
        self.shift = MaskedLinear(hidden, dim, out_mask)
        self.gate = MaskedLinear(hidden, dim, out_mask)

    def forward(self, z: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        a = F.elu(self.hidden(z) + self.context(h))  # (..., H)
        return self.shift(a), self.gate(a) + GATE_BIAS  # (..., D) each


class IAF(nn.Module):
    """``steps`` IAF steps, reversing the order of the dimensions between steps."""

    @classmethod
    def from_config(cls, config: Any) -> IAF:
        return cls(config.latent_dim, config.flow_steps)

    def __init__(self, dim: int, steps: int = 2, hidden: int = 0) -> None:
        super().__init__()
        hidden = hidden or max(4 * dim, 64)
        self.steps = nn.ModuleList(MADE(dim, hidden, 2 * dim) for _ in range(steps))

    def forward(self, z: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """z_T (..., Z) and sum_t log|det dz_t/dz_{t-1}| (...) for z_0 and context h (..., 2Z)."""
        log_det = torch.zeros(z.shape[:-1], dtype=z.dtype, device=z.device)
        for i, made in enumerate(self.steps):
            if i:
                z = z.flip(-1)  # the next step is autoregressive in the other order
            m, s = made(z, h)
            gate = torch.sigmoid(s)
            z = gate * z + (1.0 - gate) * m  # Kingma et al. 2016, eq. 14 (LSTM-type update)
            log_det = log_det + F.logsigmoid(s).sum(-1)
        return z, log_det


class FlowPosterior(Distribution):
    """q(z_T|x): a :class:`DiagonalGaussian` base pushed through an :class:`IAF`."""

    arg_constraints: dict = {}
    has_rsample = True

    def __init__(self, base: DiagonalGaussian, flow: IAF, context: Tensor) -> None:
        self.base, self.flow, self.context = base, flow, context  # context (B, 2Z)
        super().__init__(batch_shape=base.batch_shape, event_shape=base.event_shape, validate_args=False)
        self._drawn: tuple[Tensor, Tensor] | None = None  # (z_T, log q(z_T|x)) of the last draw

    def rsample(
        self, sample_shape: torch.Size | tuple[int, ...] = torch.Size(),
        generator: torch.Generator | None = None, eps: Tensor | None = None,
    ) -> Tensor:
        """z_T (*sample_shape, B, Z) from base noise drawn from ``generator`` or given as ``eps``."""
        z0 = self.base.rsample(sample_shape, generator=generator, eps=eps)
        log_q0 = self.base.log_prob(z0)  # the base's closed form at its own draw
        z, log_det = self.flow(z0, self.context.expand(*z0.shape[:-1], self.context.shape[-1]))
        self._drawn = (z, log_q0 - log_det)  # change of variables: log q(z_T) = log q(z_0) - log|det|
        return z

    def sample(self, sample_shape=torch.Size(), generator: torch.Generator | None = None) -> Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape, generator)

    def log_prob(self, z: Tensor) -> Tensor:
        """log q(z|x) of the draw this object made last (an IAF is cheap forward only)."""
        if self._drawn is None or z is not self._drawn[0]:
            raise NotImplementedError("an IAF posterior scores only the codes it drew itself (rsample)")
        return self._drawn[1]

    @property
    def mean(self) -> Tensor:
        """The flow applied to the base mean: the code ``embed`` gives (the flow's mean has no closed form)."""
        z, _ = self.flow(self.base.mean, self.context)
        return z

    @property
    def mu(self) -> Tensor:  # the base Gaussian's parameters, for code that reads them (export refuses flows)
        return self.base.mu

    @property
    def logvar(self) -> Tensor:
        return self.base.logvar


#: Flows on top of the Gaussian posterior, by name (the config's ``posterior``; ``gaussian`` is no flow).
FLOWS: dict[str, type[IAF]] = {"iaf": IAF}
POSTERIORS = ("gaussian", *FLOWS)
