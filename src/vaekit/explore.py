"""Walks through a trained latent space: interpolations, traversals, the 2-D manifold.

Each function builds latent codes, decodes them with ``model.decode(z).mean``
(what samples and reconstructions show too) and returns the decoded batch.
Nothing here draws or writes files: ``plots`` and the CLI do that.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from vaekit.errors import DataError
from vaekit.priors import Prior, StandardNormalPrior

# The two ends of the manifold grid, as quantiles of N(0, 1): the Keras VAE
# example's choice; quantile 0 or 1 would map to an infinite z.
MANIFOLD_QUANTILES = (0.05, 0.95)
#: Rows of a traversal picture at most: beyond this a picture is unreadable (and a
#: 100,000-dimensional latent space would decode 900,000 codes of 100,000 numbers).
MAX_TRAVERSAL_ROWS = 32


def lerp(z0: Tensor, z1: Tensor, steps: int) -> Tensor:
    """``steps`` evenly spaced points on the segment from ``z0`` to ``z1``, (steps, Z)."""
    t = torch.linspace(0.0, 1.0, steps, dtype=z0.dtype, device=z0.device)[:, None]  # (steps, 1)
    return (1.0 - t) * z0 + t * z1


def slerp(z0: Tensor, z1: Tensor, steps: int) -> Tensor:
    """Spherical interpolation from ``z0`` to ``z1``, (steps, Z).

    Under a high-dimensional Gaussian prior almost all mass lies near a shell;
    the straight segment between two codes cuts through the improbable centre,
    the arc stays near the shell (White 2016, "Sampling Generative Networks").
    """
    t = torch.linspace(0.0, 1.0, steps, dtype=z0.dtype, device=z0.device)[:, None]  # (steps, 1)
    norms = z0.norm() * z1.norm()
    if norms == 0:
        return lerp(z0, z1, steps)  # no direction at the origin: the arc is undefined
    omega = torch.arccos((z0 @ z1 / norms).clamp(-1.0, 1.0))
    if torch.sin(omega).abs() < 1e-6:
        return lerp(z0, z1, steps)  # (anti)parallel codes: sin(omega) ~ 0 would divide by zero
    # White 2016, eq. in sec. 2.2: slerp(q1, q2; t) = sin((1-t)w)/sin w q1 + sin(tw)/sin w q2
    return (torch.sin((1.0 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


#: Interpolation methods by name (``--method``).
INTERPOLATIONS: dict[str, Callable[[Tensor, Tensor, int], Tensor]] = {"linear": lerp, "slerp": slerp}


def _check_steps(steps: int, least: int = 2) -> None:
    if steps < least:
        raise DataError(f"--steps must be at least {least}, got {steps}")


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def decode_mean(model: nn.Module, z: Tensor) -> Tensor:
    """E[x | z] for latents (B, Z): what a person sees of each code, (B, *shape)."""
    return model.decode(z).mean


@torch.no_grad()
def interpolate(model: nn.Module, x_from: Tensor, x_to: Tensor, steps: int = 8, method: str = "linear") -> Tensor:
    """Decode a path between the posterior means of two inputs.

    Parameters
    ----------
    model
        A trained model with ``embed`` and ``decode``.
    x_from, x_to
        One input each, shaped like a sample (no batch dimension).
    steps
        Points on the path, both ends included (>= 2).
    method
        ``"linear"`` or ``"slerp"`` (see :func:`slerp`).

    Returns
    -------
    Tensor
        ``(steps, *sample_shape)``: the first and last are the reconstructions
        of ``x_from`` and ``x_to``.
    """
    _check_steps(steps)
    if method not in INTERPOLATIONS:
        raise DataError(f"unknown interpolation method {method!r}; use one of {', '.join(INTERPOLATIONS)}")
    z = model.embed(torch.stack([x_from, x_to]))  # (2, Z) posterior means
    return decode_mean(model, INTERPOLATIONS[method](z[0], z[1], steps))


def _prior(prior: Prior | int) -> Prior:
    """A prior, or the latent size of the default N(0, I)."""
    return StandardNormalPrior(prior) if isinstance(prior, int) else prior


def traversal_latents(
    prior: Prior | int, steps: int = 9, span: float = 3.0, base: Tensor | None = None,
    dims: Sequence[int] | None = None,
) -> Tensor:
    """Codes that sweep one dimension at a time, (len(dims), steps, Z); every dimension by default.

    Row ``i`` holds ``base`` with dimension ``dims[i]`` replaced by ``steps`` values
    of the prior's marginal quantiles, from the quantile of -``span`` to that
    of +``span`` standard deviations of a Gaussian (span 3: the 0.13% and
    99.87% quantiles), so the sweep stays where the prior has mass whatever
    its shape; under N(0, I) that is -span ... +span. ``prior``: the model's
    prior, or a latent size for N(0, I). ``base`` defaults to the prior's
    median (0 under N(0, I)).
    """
    _check_steps(steps)
    if not (math.isfinite(span) and span > 0):
        raise DataError(f"--range must be a positive number of standard deviations, got {span}")
    prior = _prior(prior)
    probabilities = torch.special.ndtr(torch.linspace(-span, span, steps, dtype=torch.float64))  # (steps,)
    values = prior.quantiles(probabilities)  # (steps, Z)
    if base is None:
        base = prior.quantiles(torch.tensor([0.5], dtype=torch.float64))[0].float()  # (Z,) the median
    values = values.to(base.dtype if base.is_floating_point() else torch.float32)
    latent_dim = values.shape[1]
    dims = _check_dims(dims, latent_dim)
    z = base.to(values.dtype).expand(len(dims), steps, latent_dim).clone()  # (R, steps, Z)
    rows = torch.arange(len(dims), device=z.device)
    z[rows, :, dims.to(z.device)] = values.T[dims].to(z.device)
    return z


def _check_dims(dims: Sequence[int] | None, latent_dim: int) -> Tensor:
    if dims is None:
        return torch.arange(latent_dim)
    chosen = torch.as_tensor(list(dims), dtype=torch.long)
    if chosen.numel() == 0 or chosen.min() < 0 or chosen.max() >= latent_dim:
        raise DataError(f"latent dimensions to traverse must be in 0..{latent_dim - 1}, got {list(dims)}")
    return chosen


@torch.no_grad()
def traverse(
    model: nn.Module, steps: int = 9, span: float = 3.0, base: Tensor | None = None,
    dims: Sequence[int] | None = None,
) -> Tensor:
    """Decode :func:`traversal_latents` of the model's prior: ``(len(dims), steps, *sample_shape)``.

    ``base`` is where the other dimensions stay: the prior's median (zeros
    under N(0, I)) by default, or e.g. ``model.embed(x[None])[0]`` to vary one real input.
    ``dims``: the dimensions to sweep, one row each (every dimension by default).
    """
    z = traversal_latents(model.prior, steps, span, base, dims).to(_device(model))  # (R, steps, Z)
    decoded = decode_mean(model, z.reshape(-1, model.latent_dim))  # (R * steps, *shape)
    return decoded.reshape(z.shape[0], steps, *decoded.shape[1:])


def most_informative(kl_per_dim: Sequence[float] | None, latent_dim: int, limit: int = MAX_TRAVERSAL_ROWS) -> list[int]:
    """The dimensions a traversal picture shows: all when there are at most ``limit``, else the
    ``limit`` carrying the most KL (most first; the first ``limit`` when the KL does not split by dimension)."""
    if latent_dim <= limit:
        return list(range(latent_dim))
    if kl_per_dim is None:
        return list(range(limit))
    return [int(i) for i in torch.as_tensor(kl_per_dim).argsort(descending=True, stable=True)[:limit]]


def manifold_latents(steps: int = 15, prior: Prior | None = None) -> Tensor:
    """A (steps, steps, 2) grid over a 2-D latent space, spaced by the prior's quantiles.

    Equal steps in probability, not in z, so each cell covers the same prior
    mass (as in the Keras VAE example; under N(0, I), the Gaussian inverse
    CDF). Rows run from high z2 (top) to low z2, columns from low z1 (left)
    to high z1, like a plot's axes.
    """
    _check_steps(steps)
    quantiles = torch.linspace(*MANIFOLD_QUANTILES, steps, dtype=torch.float64)
    grid = _prior(2 if prior is None else prior).quantiles(quantiles).float()  # (steps, 2)
    z2, z1 = torch.meshgrid(grid[:, 1].flip(0), grid[:, 0], indexing="ij")  # (steps, steps) each
    return torch.stack([z1, z2], dim=-1)


@torch.no_grad()
def manifold(model: nn.Module, steps: int = 15) -> Tensor:
    """Decode :func:`manifold_latents`: ``(steps, steps, *sample_shape)``; needs latent_dim = 2."""
    if model.latent_dim != 2:
        raise DataError(
            f"--manifold needs a 2-D latent space but this model has latent_dim={model.latent_dim}; "
            "drop --manifold to traverse each dimension"
        )
    z = manifold_latents(steps, model.prior).to(_device(model))  # (steps, steps, 2)
    decoded = decode_mean(model, z.reshape(-1, 2))  # (steps * steps, *shape)
    return decoded.reshape(steps, steps, *decoded.shape[1:])
