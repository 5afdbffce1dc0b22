"""Encoder and decoder networks, sized from the data's shape.

``mlp`` works on any sample shape (it flattens); ``conv`` works on images of
any (C, H, W): the encoder records the spatial size at every level and the
decoder's transposed convolutions choose their ``output_padding`` to land on
exactly those sizes, so odd and non-square images round-trip. The decoder
outputs the likelihood's parameters: by default one number per value of x,
or ``output_shape`` (the likelihood's ``params_shape``: a logistic mixture
reads (P, H, W), several numbers per pixel).
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from vaekit.config import ModelConfig
from vaekit.errors import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
}
# A level halves H and W only while both are at least this big, so small
# images (8x8 digits) are not squeezed below 2x2.
MIN_SIDE_TO_DOWNSAMPLE = 4


def _mlp(sizes: list[int], activation: str, last_activation: bool) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if last_activation or i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return layers


class Condition(nn.Module):
    """Adds a projection of a condition c (..., C) to a layer's pre-activation.

    Concatenating c to that layer's input is the same map, split in two: the
    input's part is computed once even when c takes every value of a label
    (broadcast over a leading dimension), which is what M2 needs.
    """

    def __init__(self, condition_dim: int, features: int) -> None:
        super().__init__()
        self.proj = nn.Linear(condition_dim, features, bias=False)

    def forward(self, h: Tensor, c: Tensor) -> Tensor:
        return h + self.proj(c)


def _conditioned(net: nn.Sequential, first: int, condition: Condition | None, x: Tensor, c: Tensor | None) -> Tensor:
    """``net(x)``, with ``condition(., c)`` added to the output of layer ``first`` (a Linear)."""
    if c is None:
        return net(x)
    if condition is None:
        raise ValueError("this network takes no condition")
    return net[first + 1 :](condition(net[: first + 1](x), c))


class MLPEncoder(nn.Module):
    """x (B, *shape) [+ condition c (B, C)] -> (B, 2 * latent_dim): mean and log-variance, concatenated.

    ``out_features`` replaces 2 * latent_dim (a classifier's logits). A
    condition broadcast over a leading dimension, c (K, 1, C), gives (K, B, out).
    """

    def __init__(
        self, input_shape: tuple[int, ...], latent_dim: int, hidden_dims, activation: str,
        condition_dim: int = 0, out_features: int | None = None,
    ):
        super().__init__()
        sizes = [math.prod(input_shape), *hidden_dims, out_features or 2 * latent_dim]
        self.net = nn.Sequential(nn.Flatten(), *_mlp(sizes, activation, last_activation=False))
        self.condition = Condition(condition_dim, sizes[1]) if condition_dim else None

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return _conditioned(self.net, 1, self.condition, x, c)


class MLPDecoder(nn.Module):
    """z (B, latent_dim) [+ condition c (B, C)] -> likelihood parameters (B, *output_shape).

    ``output_shape`` defaults to ``input_shape``: one parameter per value of x.
    """

    def __init__(
        self, input_shape: tuple[int, ...], latent_dim: int, hidden_dims, activation: str, condition_dim: int = 0,
        output_shape: tuple[int, ...] | None = None,
    ):
        super().__init__()
        output_shape = tuple(input_shape if output_shape is None else output_shape)
        sizes = [latent_dim, *reversed(hidden_dims), math.prod(output_shape)]
        self.net = nn.Sequential(*_mlp(sizes, activation, last_activation=False), nn.Unflatten(1, output_shape))
        self.condition = Condition(condition_dim, sizes[1]) if condition_dim else None

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        return _conditioned(self.net, 0, self.condition, z, c)


def conv_plan(height: int, width: int, n_levels: int) -> tuple[list[tuple[int, int]], list[bool]]:
    """Spatial size before each level and whether that level downsamples.

    A stride-2, kernel-3, padding-1 convolution maps a side s to ceil(s / 2).
    Returns ``sizes`` (n_levels + 1 entries, input first) and ``strided`` flags.
    """
    sizes = [(height, width)]
    strided = []
    for _ in range(n_levels):
        h, w = sizes[-1]
        down = min(h, w) >= MIN_SIDE_TO_DOWNSAMPLE
        strided.append(down)
        sizes.append(((h + 1) // 2, (w + 1) // 2) if down else (h, w))
    return sizes, strided


class ResidualBlock(nn.Module):
    """x + conv(act(conv(act(x)))): two 3x3 convolutions around an identity path (He et al. 2016)."""

    def __init__(self, channels: int, activation: str):
        super().__init__()
        self.body = nn.Sequential(
            ACTIVATIONS[activation](),
            nn.Conv2d(channels, channels, 3, padding=1),
            ACTIVATIONS[activation](),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ConvEncoder(nn.Module):
    """Images (B, C, H, W) -> (B, 2 * latent_dim) through strided 3x3 convolutions.

    With ``residual`` each level is followed by a :class:`ResidualBlock`; a
    condition c (B, C) enters the linear head.
    """

    def __init__(
        self, input_shape: tuple[int, ...], latent_dim: int, channels, activation: str, residual: bool = False,
        condition_dim: int = 0, out_features: int | None = None,
    ):
        super().__init__()
        c, h, w = input_shape
        sizes, strided = conv_plan(h, w, len(channels))
        layers: list[nn.Module] = []
        c_in = c
        for c_out, down in zip(channels, strided):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2 if down else 1, padding=1), ACTIVATIONS[activation]()]
            if residual:
                layers.append(ResidualBlock(c_out, activation))
            c_in = c_out
        hl, wl = sizes[-1]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * hl * wl, out_features or 2 * latent_dim)
        self.condition = Condition(condition_dim, out_features or 2 * latent_dim) if condition_dim else None

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        out = self.head(self.features(x).flatten(1))  # (B, 2Z)
        return out if c is None else self.condition(out, c)


class ConvDecoder(nn.Module):
    """z (B, latent_dim) -> (B, P, H, W) likelihood parameters, H and W exactly the input's.

    P = ``out_channels``, by default the input's C. With ``residual`` each
    level is preceded by a :class:`ResidualBlock`; a condition c (B, C) enters
    the first projection, before its activation.
    """

    def __init__(
        self, input_shape: tuple[int, ...], latent_dim: int, channels, activation: str, residual: bool = False,
        condition_dim: int = 0, out_channels: int | None = None,
    ):
        super().__init__()
        c, h, w = input_shape
        c = c if out_channels is None else out_channels
        sizes, strided = conv_plan(h, w, len(channels))
        hl, wl = sizes[-1]
        self.project = nn.Sequential(
            nn.Linear(latent_dim, channels[-1] * hl * wl),
            ACTIVATIONS[activation](),
            nn.Unflatten(1, (channels[-1], hl, wl)),
        )
        layers: list[nn.Module] = []
        # Walk the encoder's levels backwards: level i maps sizes[i + 1] -> sizes[i].
        for i in reversed(range(len(channels))):
            c_in, c_out = channels[i], channels[max(i - 1, 0)]
            if residual:
                layers.append(ResidualBlock(c_in, activation))
            if strided[i]:
                th, tw = sizes[i]
                # ConvTranspose2d(k=3, s=2, p=1) gives 2s - 1 + output_padding: pad 1 for even targets.
                pad = (1 - th % 2, 1 - tw % 2)
                layers.append(nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=pad))
            else:
                layers.append(nn.Conv2d(c_in, c_out, 3, padding=1))
            layers.append(ACTIVATIONS[activation]())
        layers.append(nn.Conv2d(channels[0], c, 3, padding=1))  # to likelihood parameters, no activation
        self.net = nn.Sequential(*layers)
        self.condition = Condition(condition_dim, channels[-1] * hl * wl) if condition_dim else None

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        return self.net(_conditioned(self.project, 0, self.condition, z, c))  # (B, P, H, W)


def build_networks(
    config: ModelConfig, condition_dim: int = 0, output_shape: tuple[int, ...] | None = None
) -> tuple[nn.Module, nn.Module]:
    """Encoder and decoder for ``config`` (its ``input_shape`` must be set), both taking a
    condition of ``condition_dim`` features when it is > 0.

    ``output_shape``: the decoder's output per sample, the likelihood's
    ``params_shape`` (default: ``input_shape``); conv decoders change only its
    channels, so it must be (P, H, W) with the input's H and W.
    """
    shape = tuple(config.input_shape)
    output_shape = shape if output_shape is None else tuple(output_shape)
    arch = config.resolved_arch()
    if arch in ("conv", "resnet"):
        if len(output_shape) != 3 or output_shape[1:] != shape[1:]:
            raise ConfigError(
                f"a conv decoder outputs (P, {shape[1]}, {shape[2]}) for images {shape}, not {output_shape}"
            )
        args = (shape, config.latent_dim, tuple(config.conv_channels), config.activation, arch == "resnet")
        # The encoder first: the order in which the weights draw from the global RNG.
        encoder = ConvEncoder(*args, condition_dim=condition_dim)
        return encoder, ConvDecoder(*args, condition_dim=condition_dim, out_channels=output_shape[0])
    args = (shape, config.latent_dim, tuple(config.hidden_dims), config.activation)
    encoder = MLPEncoder(*args, condition_dim=condition_dim)
    return encoder, MLPDecoder(*args, condition_dim=condition_dim, output_shape=output_shape)


def build_classifier(config: ModelConfig, num_classes: int) -> nn.Module:
    """x (B, *shape) -> class logits (B, num_classes), with the encoder's architecture."""
    shape = tuple(config.input_shape)
    arch = config.resolved_arch()
    if arch in ("conv", "resnet"):
        return ConvEncoder(
            shape, 0, tuple(config.conv_channels), config.activation, arch == "resnet", out_features=num_classes
        )
    return MLPEncoder(shape, 0, tuple(config.hidden_dims), config.activation, out_features=num_classes)
