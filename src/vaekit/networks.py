"""Encoder and decoder networks, sized from the data's shape.

``mlp`` works on any sample shape (it flattens); ``conv`` works on images of
any (C, H, W) and ``conv1d`` on sequence windows of any (C, T): the encoder
records the size at every level and the decoder's transposed convolutions
choose their ``output_padding`` to land on exactly those sizes, so odd and
non-square inputs round-trip. ``gru`` reads and writes windows (C, T) with
recurrent layers. The decoder
outputs the likelihood's parameters: by default one number per value of x,
or ``output_shape`` (the likelihood's ``params_shape``: a logistic mixture
reads (P, H, W), several numbers per pixel).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vaekit.config import MLP_ONLY_ACTIVATIONS, ModelConfig
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


def dense(n_in: int, n_out: int, activation: str, dropout: float = 0.0) -> list[nn.Module]:
    """A hidden layer n_in -> n_out: a Linear and its non-linearity, or for ``glu`` a gated layer,
    one Linear to 2 * n_out whose halves a, b give a * sigmoid(b) (Dauphin et al. 2017; Tomczak &
    Welling 2018's GatedDense). ``dropout`` > 0 follows the non-linearity in the same slot, so the
    weights keep their names (``net.3.weight``) with or without it."""
    linear = nn.Linear(n_in, 2 * n_out if activation == "glu" else n_out)
    gate = nn.GLU(dim=-1) if activation == "glu" else ACTIVATIONS[activation]()
    return [linear, nn.Sequential(gate, nn.Dropout(dropout)) if dropout else gate]


def mlp(sizes: list[int], activation: str, dropout: float = 0.0) -> list[nn.Module]:
    """Layers sizes[0] -> ... -> sizes[-1]: hidden layers with ``activation`` and ``dropout`` (see
    :func:`dense`), a plain Linear last."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        layers += dense(n_in, n_out, activation, dropout)
    return [*layers, nn.Linear(sizes[-2], sizes[-1])]


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
        condition_dim: int = 0, out_features: int | None = None, dropout: float = 0.0,
    ):
        super().__init__()
        sizes = [math.prod(input_shape), *hidden_dims, out_features or 2 * latent_dim]
        self.net = nn.Sequential(nn.Flatten(), *mlp(sizes, activation, dropout))
        self.condition = Condition(condition_dim, self.net[1].out_features) if condition_dim else None

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return _conditioned(self.net, 1, self.condition, x, c)


class MLPDecoder(nn.Module):
    """z (B, latent_dim) [+ condition c (B, C)] -> likelihood parameters (B, *output_shape).

    ``output_shape`` defaults to ``input_shape``: one parameter per value of x.
    """

    def __init__(
        self, input_shape: tuple[int, ...], latent_dim: int, hidden_dims, activation: str, condition_dim: int = 0,
        output_shape: tuple[int, ...] | None = None, dropout: float = 0.0,
    ):
        super().__init__()
        output_shape = tuple(input_shape if output_shape is None else output_shape)
        sizes = [latent_dim, *reversed(hidden_dims), math.prod(output_shape)]
        self.net = nn.Sequential(*mlp(sizes, activation, dropout), nn.Unflatten(1, output_shape))
        self.condition = Condition(condition_dim, self.net[0].out_features) if condition_dim else None

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        return _conditioned(self.net, 0, self.condition, z, c)


def conv_plan(height: int, width: int, n_levels: int) -> tuple[list[tuple[int, int]], list[bool]]:
    """Spatial size before each level and whether that level downsamples.

    A stride-2, kernel-3, padding-1 convolution maps a side s to ceil(s / 2).
    Returns ``sizes`` (n_levels + 1 entries, input first) and ``strided`` flags.
    """
    sizes, strided = _plan((height, width), n_levels)
    return [(h, w) for h, w in sizes], strided


def _plan(sides: tuple[int, ...], n_levels: int) -> tuple[list[tuple[int, ...]], list[bool]]:
    """:func:`conv_plan` for any number of sides: (T,) for sequences, (H, W) for images."""
    sizes = [tuple(sides)]
    strided = []
    for _ in range(n_levels):
        down = min(sizes[-1]) >= MIN_SIDE_TO_DOWNSAMPLE
        strided.append(down)
        sizes.append(tuple((s + 1) // 2 for s in sizes[-1]) if down else sizes[-1])
    return sizes, strided


def _conv(dims: int) -> type[nn.Module]:
    return nn.Conv1d if dims == 1 else nn.Conv2d


class ResidualBlock(nn.Module):
    """x + conv(act(conv(act(x)))): two kernel-3 convolutions around an identity path (He et al. 2016)."""

    def __init__(self, channels: int, activation: str, dims: int = 2):
        super().__init__()
        conv = _conv(dims)
        self.body = nn.Sequential(
            ACTIVATIONS[activation](),
            conv(channels, channels, 3, padding=1),
            ACTIVATIONS[activation](),
            conv(channels, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ConvEncoder(nn.Module):
    """Images (B, C, H, W) or sequence windows (B, C, T) -> (B, 2 * latent_dim) through strided kernel-3 convolutions.

    With ``residual`` each level is followed by a :class:`ResidualBlock`; a
    condition c (B, C) enters the linear head.
    """

    def __init__(
        self, input_shape: tuple[int, ...], latent_dim: int, channels, activation: str, residual: bool = False,
        condition_dim: int = 0, out_features: int | None = None,
    ):
        super().__init__()
        c, *sides = input_shape
        dims = len(sides)
        sizes, strided = _plan(tuple(sides), len(channels))
        layers: list[nn.Module] = []
        c_in = c
        for c_out, down in zip(channels, strided):
            layers += [_conv(dims)(c_in, c_out, 3, stride=2 if down else 1, padding=1), ACTIVATIONS[activation]()]
            if residual:
                layers.append(ResidualBlock(c_out, activation, dims))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * math.prod(sizes[-1]), out_features or 2 * latent_dim)
        self.condition = Condition(condition_dim, out_features or 2 * latent_dim) if condition_dim else None

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        out = self.head(self.features(x).flatten(1))  # (B, 2Z)
        return out if c is None else self.condition(out, c)


class ConvDecoder(nn.Module):
    """z (B, latent_dim) -> (B, P, H, W) (or (B, P, T)) likelihood parameters, the sides exactly the input's.

    P = ``out_channels``, by default the input's C. With ``residual`` each
    level is preceded by a :class:`ResidualBlock`; a condition c (B, C) enters
    the first projection, before its activation.
    """

    def __init__(
        self, input_shape: tuple[int, ...], latent_dim: int, channels, activation: str, residual: bool = False,
        condition_dim: int = 0, out_channels: int | None = None,
    ):
        super().__init__()
        c, *sides = input_shape
        dims = len(sides)
        c = c if out_channels is None else out_channels
        sizes, strided = _plan(tuple(sides), len(channels))
        last = sizes[-1]
        self.project = nn.Sequential(
            nn.Linear(latent_dim, channels[-1] * math.prod(last)),
            ACTIVATIONS[activation](),
            nn.Unflatten(1, (channels[-1], *last)),
        )
        transposed = nn.ConvTranspose1d if dims == 1 else nn.ConvTranspose2d
        layers: list[nn.Module] = []
        # Walk the encoder's levels backwards: level i maps sizes[i + 1] -> sizes[i].
        for i in reversed(range(len(channels))):
            c_in, c_out = channels[i], channels[max(i - 1, 0)]
            if residual:
                layers.append(ResidualBlock(c_in, activation, dims))
            if strided[i]:
                # ConvTranspose(k=3, s=2, p=1) gives 2s - 1 + output_padding: pad 1 for even targets.
                pad = tuple(1 - side % 2 for side in sizes[i])
                layers.append(transposed(c_in, c_out, 3, stride=2, padding=1, output_padding=pad))
            else:
                layers.append(_conv(dims)(c_in, c_out, 3, padding=1))
            layers.append(ACTIVATIONS[activation]())
        layers.append(_conv(dims)(channels[0], c, 3, padding=1))  # to likelihood parameters, no activation
        self.net = nn.Sequential(*layers)
        self.condition = Condition(condition_dim, channels[-1] * math.prod(last)) if condition_dim else None

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        return self.net(_conditioned(self.project, 0, self.condition, z, c))  # (B, P, *sides)


class GRUEncoder(nn.Module):
    """Sequence windows (B, C, T) -> (B, 2 * latent_dim): a bidirectional GRU's last states, then a linear head.

    Recurrent, so the window may be long without the parameter count growing
    with it (the conv encoder's head grows with T); slower per step on a CPU.
    """

    def __init__(
        self, input_shape: tuple[int, ...], latent_dim: int, hidden: int, condition_dim: int = 0,
        out_features: int | None = None,
    ):
        super().__init__()
        channels, _ = input_shape
        self.gru = nn.GRU(channels, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, out_features or 2 * latent_dim)
        self.condition = Condition(condition_dim, out_features or 2 * latent_dim) if condition_dim else None

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        _, h = self.gru(x.transpose(1, 2))  # h: (2, B, H), the forward and backward final states
        out = self.head(h.transpose(0, 1).flatten(1))  # (B, 2Z)
        return out if c is None else self.condition(out, c)


class GRUDecoder(nn.Module):
    """z (B, latent_dim) -> (B, P, T): z sets the GRU's first state and is its input at every step."""

    def __init__(
        self, input_shape: tuple[int, ...], latent_dim: int, hidden: int, condition_dim: int = 0,
        out_channels: int | None = None,
    ):
        super().__init__()
        channels, self.length = input_shape
        self.initial = nn.Linear(latent_dim, hidden)
        self.gru = nn.GRU(latent_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, channels if out_channels is None else out_channels)
        self.condition = Condition(condition_dim, hidden) if condition_dim else None

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        h0 = self.initial(z)  # (B, H)
        h0 = torch.tanh(h0 if c is None else self.condition(h0, c))  # in the GRU's state range
        steps = z.unsqueeze(1).expand(-1, self.length, -1)  # (B, T, Z): a stride-0 view, no copy
        out, _ = self.gru(steps, h0.unsqueeze(0).contiguous())  # (B, T, H)
        return self.out(out).transpose(1, 2)  # (B, P, T)


def _resolved_arch(config: ModelConfig) -> str:
    """``config``'s arch for its data, refusing an activation or dropout that arch's layers do not have."""
    arch = config.resolved_arch()
    if config.activation in MLP_ONLY_ACTIVATIONS and arch != "mlp":
        raise ConfigError(
            f"activation '{config.activation}' (gated layers) applies to arch mlp, not {arch}: "
            "use --arch mlp or another activation"
        )
    if config.dropout and arch != "mlp":
        raise ConfigError(f"dropout applies to arch mlp, not {arch}: use --arch mlp or --dropout 0")
    return arch


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
    arch = _resolved_arch(config)
    if arch in ("conv", "resnet", "conv1d", "gru") and (
        len(output_shape) != len(shape) or output_shape[1:] != shape[1:]
    ):
        raise ConfigError(f"a {arch} decoder outputs (P, {', '.join(map(str, shape[1:]))}) for inputs {shape}, "
                          f"not {output_shape}")
    if arch == "gru":
        hidden = config.hidden_dims[0]
        encoder = GRUEncoder(shape, config.latent_dim, hidden, condition_dim=condition_dim)
        return encoder, GRUDecoder(shape, config.latent_dim, hidden, condition_dim, out_channels=output_shape[0])
    if arch in ("conv", "resnet", "conv1d"):
        args = (shape, config.latent_dim, tuple(config.conv_channels), config.activation, arch == "resnet")
        # The encoder first: the order in which the weights draw from the global RNG.
        encoder = ConvEncoder(*args, condition_dim=condition_dim)
        return encoder, ConvDecoder(*args, condition_dim=condition_dim, out_channels=output_shape[0])
    args = (shape, config.latent_dim, tuple(config.hidden_dims), config.activation)
    encoder = MLPEncoder(*args, condition_dim=condition_dim, dropout=config.dropout)
    return encoder, MLPDecoder(*args, condition_dim=condition_dim, output_shape=output_shape, dropout=config.dropout)


def build_classifier(config: ModelConfig, num_classes: int) -> nn.Module:
    """x (B, *shape) -> class logits (B, num_classes), with the encoder's architecture."""
    shape = tuple(config.input_shape)
    arch = _resolved_arch(config)
    if arch == "gru":
        return GRUEncoder(shape, 0, config.hidden_dims[0], out_features=num_classes)
    if arch in ("conv", "resnet", "conv1d"):
        return ConvEncoder(
            shape, 0, tuple(config.conv_channels), config.activation, arch == "resnet", out_features=num_classes
        )
    return MLPEncoder(
        shape, 0, tuple(config.hidden_dims), config.activation, out_features=num_classes, dropout=config.dropout
    )
