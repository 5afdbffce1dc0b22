import json

import pytest

from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig, field_docs, load_config_file, section_of
from vaekit.errors import ConfigError


def test_flat_and_nested_keys_give_the_same_config():
    flat = RunConfig.from_dict({"latent_dim": 8, "epochs": 3, "data": "digits", "hidden_dims": "64,32"})
    nested = RunConfig.from_dict({"model": {"latent_dim": 8, "hidden_dims": [64, 32]}, "train": {"epochs": 3}})
    assert flat.model == nested.model
    assert flat.train == nested.train
    assert flat.model.hidden_dims == (64, 32)


@pytest.mark.parametrize("text, dims", [("64,32", (64, 32)), ("512x256", (512, 256)), (" 64 , 32 ", (64, 32)),
                                        ("64,", (64,)), ("64", (64,))])
def test_list_values_read_commas_or_x(text, dims):
    assert RunConfig.from_dict({"hidden_dims": text}).model.hidden_dims == dims


def test_round_trip_through_json():
    cfg = RunConfig.from_dict({"latent_dim": 3, "beta": 2.5, "patience": 4, "image_size": "32x24", "image_fit": "pad"})
    again = RunConfig.from_dict(json.loads(cfg.to_json()))
    assert again == cfg
    assert again.data.image_size == (32, 24) and again.data.image_fit == "pad"
    assert RunConfig().data.image_fit == "resize"  # runs saved before image_fit read as they were trained


@pytest.mark.parametrize(
    "raw, phrase",
    [
        ({"latent_dims": 3}, "unknown key 'latent_dims'"),
        ({"model": {"epochs": 3}}, "unknown key 'epochs' in section 'model'"),
        ({"latent_dim": "many"}, "invalid value for 'latent_dim'"),
        ({"latent_dim": 2.5}, "invalid value for 'latent_dim'"),
        ({"dynamic_binarization": "maybe"}, "invalid value for 'dynamic_binarization'"),
        ({"hidden_dims": "16,x"}, r"invalid value for 'hidden_dims': '16,x' \(expected a comma-separated list"),
        ({"hidden_dims": "16,,32"}, "invalid value for 'hidden_dims'"),
        ({"conv_channels": [16, ""]}, "invalid value for 'conv_channels'"),
        ({"format_version": 99}, "newer than this vaekit reads"),
    ],
)
def test_bad_keys_and_values_are_named(raw, phrase):
    with pytest.raises(ConfigError, match=phrase):
        RunConfig.from_dict(raw)


@pytest.mark.parametrize(
    "cfg, phrase",
    [
        (ModelConfig(arch="transformer"), "arch"),
        (ModelConfig(latent_dim=0), "latent_dim"),
        (ModelConfig(beta=-1.0), "beta"),
        (ModelConfig(hidden_dims=()), "hidden_dims"),
        (ModelConfig(arch="conv", input_shape=(10,)), "--arch mlp"),
        (TrainConfig(val_fraction=1.0), "val_fraction"),
        (TrainConfig(lr=0), "lr"),
        (TrainConfig(patience=0), "patience"),
        (DataConfig(image_fit="stretch"), r"'image_fit': 'stretch' \(choose from resize, pad, crop\)"),
    ],
)
def test_validation_names_the_key(cfg, phrase):
    with pytest.raises(ConfigError, match=phrase):
        cfg.validate()


@pytest.mark.parametrize(
    "cfg, phrase",
    [
        (ModelConfig(likelihood="poisson"), "invalid value for 'likelihood'"),
        (ModelConfig(model="vqvae"), "invalid value for 'model'"),
        (ModelConfig(model="iwae", options={"iw_samples": 0}), "iw_samples"),
        (ModelConfig(model="iwae", options={"iw_samples": "many"}), "invalid value for 'iw_samples'"),
        (ModelConfig(model="vae", options={"iw_samples": 3}), "model 'vae' has no option 'iw_samples'; it has none"),
        (ModelConfig(model="m2", options={"alpha": 1}), "has no option 'alpha'; its options are classifier_weight"),
    ],
)
def test_the_model_family_checks_its_name_likelihood_and_options(cfg, phrase):
    from vaekit.models import check_model_config

    with pytest.raises(ConfigError, match=phrase):
        check_model_config(cfg)


def test_options_are_data_saved_nested_and_legacy_flat_keys_still_read():
    from vaekit.models import check_model_config

    cfg = RunConfig.from_dict({"model": "iwae", "iw_samples": "7"})  # a flat key, as in a YAML file
    assert cfg.model.options == {"iw_samples": "7"}
    assert check_model_config(cfg.model).iw_samples == 7  # typed by the family's Options
    assert RunConfig.from_dict(cfg.to_dict()).model.options == {"iw_samples": "7"}
    assert cfg.to_dict()["model"]["options"] == {"iw_samples": "7"}
    # A legacy key at its old default means "the family's default": dropped, so a vae from vaekit 0.1 loads.
    old = {"model": {"model": "vae", "iw_samples": 5, "classifier_weight": None}}
    assert RunConfig.from_dict(old).model.options == {}
    # Options given twice merge: a later source changes one option and keeps the others.
    merged = cfg.updated({"model": {"options": {"other": 1}}})
    assert merged.model.options == {"iw_samples": "7", "other": 1}
    with pytest.raises(ConfigError, match="'options' must be a mapping"):
        RunConfig.from_dict({"model": {"options": [1, 2]}})


def test_yaml_file_is_read_safely(tmp_path):
    good = tmp_path / "c.yaml"
    good.write_text("latent_dim: 4\nhidden_dims: [32, 16]\nbeta: 0.5\n")
    cfg = RunConfig.from_dict(load_config_file(good))
    assert (cfg.model.latent_dim, cfg.model.hidden_dims, cfg.model.beta) == (4, (32, 16), 0.5)
    evil = tmp_path / "evil.yaml"
    evil.write_text("!!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config_file(evil)
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(ConfigError, match="not found"):
        load_config_file(tmp_path / "missing.yaml")


def test_every_field_is_documented_and_owned_by_one_section():
    from vaekit.config import SECTIONS

    seen = set()
    for name, klass in SECTIONS.items():
        docs = field_docs(klass)
        for key in klass.__dataclass_fields__:
            assert docs.get(key), f"{name}.{key} has no docstring"
            assert key not in seen, f"{key} is in two sections"
            assert section_of(key) == name
            seen.add(key)


def test_a_typo_gets_a_did_you_mean_and_a_yaml_syntax_error_its_line(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'latnt_dim' \(did you mean 'latent_dim'\?\)"):
        RunConfig.from_dict({"latnt_dim": 4})
    with pytest.raises(ConfigError, match=r"unknown key 'epoch' in section 'train' \(did you mean 'epochs'\?\)"):
        RunConfig.from_dict({"train": {"epoch": 4}})
    with pytest.raises(ConfigError, match=r"unknown key 'zzz';"):  # nothing close: no suggestion
        RunConfig.from_dict({"zzz": 1})
    bad = tmp_path / "bad.yaml"
    bad.write_text("latent_dim: 4\nepochs: [1, 2\nbeta: 1\n")
    with pytest.raises(ConfigError, match=r"cannot parse config file .*bad.yaml at line \d+, column \d+"):
        load_config_file(bad)
