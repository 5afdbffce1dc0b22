import pytest
import torch

from vaekit.config import ModelConfig
from vaekit.networks import build_networks, conv_plan

IMAGE_SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (1, 64, 64), (3, 13, 17), (1, 7, 5), (2, 1, 9)]


@pytest.mark.parametrize("arch", ["conv", "resnet"])
@pytest.mark.parametrize("shape", IMAGE_SHAPES)
@pytest.mark.parametrize("channels", [(8,), (8, 16, 16)])
def test_conv_decoder_output_matches_input_shape_exactly(shape, channels, arch):
    cfg = ModelConfig(arch=arch, input_shape=shape, latent_dim=3, conv_channels=channels)
    enc, dec = build_networks(cfg)
    x = torch.rand(2, *shape)
    assert enc(x).shape == (2, 6)
    assert dec(torch.randn(2, 3)).shape == (2, *shape)


@pytest.mark.parametrize("shape", [(5,), (784,), (1, 8, 8)])
def test_mlp_works_on_any_sample_shape(shape):
    cfg = ModelConfig(arch="mlp", input_shape=shape, latent_dim=4, hidden_dims=(16, 8))
    enc, dec = build_networks(cfg)
    assert enc(torch.rand(3, *shape)).shape == (3, 8)
    assert dec(torch.randn(3, 4)).shape == (3, *shape)


def test_conv_plan_halves_until_the_sides_are_small():
    sizes, strided = conv_plan(28, 28, 3)
    assert sizes == [(28, 28), (14, 14), (7, 7), (4, 4)]
    assert strided == [True, True, True]
    sizes, strided = conv_plan(8, 8, 3)
    assert sizes[-1] == (2, 2) and strided == [True, True, False]


def test_auto_arch_follows_the_data_rank():
    assert ModelConfig(input_shape=(1, 8, 8)).resolved_arch() == "conv"
    assert ModelConfig(input_shape=(10,)).resolved_arch() == "mlp"


def test_resnet_adds_residual_blocks_on_both_sides():
    from vaekit.networks import ResidualBlock

    cfg = ModelConfig(arch="resnet", input_shape=(1, 8, 8), latent_dim=2, conv_channels=(4, 8))
    enc, dec = build_networks(cfg)
    assert sum(isinstance(m, ResidualBlock) for m in enc.modules()) == 2
    assert sum(isinstance(m, ResidualBlock) for m in dec.modules()) == 2
    plain = build_networks(ModelConfig(arch="conv", input_shape=(1, 8, 8), latent_dim=2, conv_channels=(4, 8)))[0]
    assert not any(isinstance(m, ResidualBlock) for m in plain.modules())


@pytest.mark.parametrize("arch", ["mlp", "conv", "resnet"])
@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 13, 17)])
def test_the_decoder_outputs_the_likelihoods_params_shape(arch, shape):
    cfg = ModelConfig(arch=arch, input_shape=shape, latent_dim=3, conv_channels=(8, 16), hidden_dims=(16,))
    output = (7 * shape[0], *shape[1:])  # several numbers per pixel, as a logistic mixture reads
    enc, dec = build_networks(cfg, output_shape=output)
    assert enc(torch.rand(2, *shape)).shape == (2, 6)
    assert dec(torch.randn(2, 3)).shape == (2, *output)


@pytest.mark.parametrize("arch", ["mlp", "conv", "resnet"])
def test_the_default_output_shape_builds_the_same_weights(arch):
    cfg = ModelConfig(arch=arch, input_shape=(3, 9, 7), latent_dim=3, conv_channels=(4, 8), hidden_dims=(16,))
    torch.manual_seed(0)
    default = [p for net in build_networks(cfg) for p in net.parameters()]
    torch.manual_seed(0)
    explicit = [p for net in build_networks(cfg, output_shape=(3, 9, 7)) for p in net.parameters()]
    assert len(default) == len(explicit) and all(torch.equal(a, b) for a, b in zip(default, explicit))


def test_a_conv_decoder_changes_only_the_channels():
    from vaekit.errors import ConfigError

    cfg = ModelConfig(arch="conv", input_shape=(3, 8, 8), latent_dim=2, conv_channels=(4,))
    with pytest.raises(ConfigError, match=r"outputs \(P, 8, 8\)"):
        build_networks(cfg, output_shape=(30, 4, 4))
