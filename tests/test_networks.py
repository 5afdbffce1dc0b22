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


def test_a_glu_layer_is_a_linear_to_twice_the_width_gated_by_the_sigmoid_of_its_second_half():
    from vaekit.networks import dense

    torch.manual_seed(0)
    linear, gate = dense(5, 3, "glu")
    assert linear.out_features == 6
    x = torch.randn(4, 5)
    a, b = (x @ linear.weight.T + linear.bias).split(3, dim=-1)
    torch.testing.assert_close(gate(linear(x)), a * torch.sigmoid(b))
    relu = dense(5, 3, "relu")
    assert relu[0].out_features == 3 and isinstance(relu[1], torch.nn.ReLU)


@pytest.mark.parametrize("condition_dim", [0, 4])
def test_glu_mlps_gate_every_hidden_layer_and_take_a_condition(condition_dim):
    cfg = ModelConfig(arch="mlp", input_shape=(1, 8, 8), latent_dim=3, hidden_dims=(16, 8), activation="glu")
    enc, dec = build_networks(cfg, condition_dim=condition_dim)
    for net in (enc, dec):
        assert sum(isinstance(m, torch.nn.GLU) for m in net.modules()) == 2  # the two hidden layers, not the output
    c = torch.randn(2, condition_dim) if condition_dim else None
    assert enc(torch.rand(2, 1, 8, 8), c).shape == (2, 6)
    assert dec(torch.randn(2, 3), c).shape == (2, 1, 8, 8)


@pytest.mark.parametrize("arch", ["conv", "resnet", "auto"])
def test_glu_on_a_conv_net_is_refused_with_the_fix(arch):
    from vaekit.errors import ConfigError
    from vaekit.networks import build_classifier

    cfg = ModelConfig(arch=arch, input_shape=(1, 8, 8), latent_dim=3, activation="glu")
    with pytest.raises(ConfigError, match="activation 'glu' .* applies to arch mlp, not (conv|resnet): use --arch mlp"):
        build_networks(cfg)
    with pytest.raises(ConfigError, match="applies to arch mlp"):
        build_classifier(cfg, 10)


@pytest.mark.parametrize("activation", ["relu", "glu"])
def test_dropout_follows_every_hidden_layer_and_is_off_in_eval_mode(activation):
    from vaekit.networks import build_classifier

    shape, gate = (1, 8, 8), {"relu": "ReLU", "glu": "GLU"}[activation]
    plain = ModelConfig(arch="mlp", input_shape=shape, latent_dim=3, hidden_dims=(16, 8), activation=activation)
    dropped = ModelConfig(**{**plain.__dict__, "dropout": 0.5})
    torch.manual_seed(0)
    nets = [*build_networks(dropped), build_classifier(dropped, 4)]
    torch.manual_seed(0)
    twins = [*build_networks(plain), build_classifier(plain, 4)]
    inputs = [torch.rand(5, *shape), torch.randn(5, 3), torch.rand(5, *shape)]
    for net, twin, x in zip(nets, twins, inputs):
        slots = [m for m in net.net if isinstance(m, torch.nn.Sequential)]  # a non-linearity, then dropout
        assert [[type(m).__name__ for m in slot] for slot in slots] == [[gate, "Dropout"]] * 2
        assert all(m.p == 0.5 for m in net.modules() if isinstance(m, torch.nn.Dropout))
        assert not any(isinstance(m, torch.nn.Dropout) for m in twin.modules())
        # The weights keep their names: a model trained with dropout loads into one without.
        twin.load_state_dict(net.state_dict())
        net.train()
        assert not torch.equal(net(x), net(x))  # a fresh mask each pass
        net.eval()
        torch.testing.assert_close(net(x), twin(x))


@pytest.mark.parametrize("value", [-0.1, 1.0, float("nan")])
def test_a_dropout_outside_zero_to_one_is_refused(value):
    from vaekit.errors import ConfigError

    with pytest.raises(ConfigError, match="invalid value for 'dropout'"):
        ModelConfig(arch="mlp", dropout=value).validate()


@pytest.mark.parametrize("arch", ["conv", "resnet", "auto"])
def test_dropout_on_a_conv_net_is_refused_with_the_fix(arch):
    from vaekit.errors import ConfigError

    cfg = ModelConfig(arch=arch, input_shape=(1, 8, 8), latent_dim=3, dropout=0.2)
    with pytest.raises(ConfigError, match="dropout applies to arch mlp, not (conv|resnet): use --arch mlp or --dropout 0"):
        build_networks(cfg)
