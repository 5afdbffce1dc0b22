"""The Python face of training: vaekit.train and its run folder."""

import numpy as np
import pytest
import torch

import vaekit
from vaekit.errors import ConfigError, DataError, RunDirError

SMALL = dict(epochs=2, latent_dim=2, hidden_dims=(16,), arch="mlp", batch_size=16, quiet=True)


def test_train_in_memory_on_an_array(tiny_images):
    result = vaekit.train(tiny_images, **SMALL)
    assert result.run_dir is None
    assert len(result.history) == 2
    assert result.config.model.input_shape == (1, 8, 8)
    assert set(result.summary["val"]) >= {"elbo", "reconstruction", "kl", "n"}
    assert result.model.sample(2).shape == (2, 1, 8, 8)


def test_existing_folder_needs_overwrite_and_is_untouched_on_refusal(tmp_path, tiny_images):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(RunDirError, match="already exists"):
        vaekit.train(tiny_images, out=out, **SMALL)
    assert (out / "precious.txt").read_text() == "keep me"
    vaekit.train(tiny_images, out=out, overwrite=True, **SMALL)
    assert not (out / "precious.txt").exists() and (out / "model.safetensors").exists()


def test_bad_data_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(DataError, match="bernoulli"):
        vaekit.train(np.full((30, 4), 5.0, np.float32), out=out, **SMALL)
    with pytest.raises(ConfigError, match="latent_dim"):
        vaekit.train("digits", out=out, **{**SMALL, "latent_dim": -1})
    assert not out.exists()


def test_resume_auto_through_the_api_continues_the_history(tmp_path, tiny_images):
    out = tmp_path / "run"
    first = vaekit.train(tiny_images, out=out, **SMALL)
    again = vaekit.train(tiny_images, out=out, resume="auto", **{**SMALL, "epochs": 4})
    assert [r["epoch"] for r in again.history] == [1, 2, 3, 4]
    assert again.history[:2] == first.history
    straight = vaekit.train(tiny_images, **{**SMALL, "epochs": 4})
    for a, b in zip(straight.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)


def test_progress_bar_only_on_a_terminal(monkeypatch, tiny_images, capsys):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    vaekit.train(tiny_images, **{**SMALL, "quiet": False})
    err = capsys.readouterr().err
    assert "%|" in err  # tqdm's bar
    assert "epoch 2/2" in err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    vaekit.train(tiny_images, **{**SMALL, "quiet": False})
    err = capsys.readouterr().err
    assert "%|" not in err and "epoch 2/2" in err


def test_a_second_run_into_a_busy_folder_is_refused(tmp_path, tiny_images):
    from vaekit.runs import run_lock

    out = tmp_path / "run"
    vaekit.train(tiny_images, out=out, **SMALL)
    before = {p.name: p.stat().st_mtime_ns for p in out.rglob("*")}
    with run_lock(out):  # as if another process were training into it
        with pytest.raises(RunDirError, match="in use by another vaekit process"):
            vaekit.train(tiny_images, out=out, resume="auto", **{**SMALL, "epochs": 3})
        with pytest.raises(RunDirError, match="in use"):
            vaekit.train(tiny_images, out=out, overwrite=True, **SMALL)
    assert {p.name: p.stat().st_mtime_ns for p in out.rglob("*") if p.name != ".lock"} == {
        k: v for k, v in before.items() if k != ".lock"
    }
    vaekit.train(tiny_images, out=out, resume="auto", **{**SMALL, "epochs": 3})  # free again


def test_posterior_collapse_is_reported_with_remedies(tiny_images):
    from vaekit.runs import PosteriorCollapseWarning

    with pytest.warns(PosteriorCollapseWarning, match="kl-warmup-epochs"):
        result = vaekit.train(tiny_images, **{**SMALL, "beta": 200.0, "epochs": 6, "lr": 1e-2})
    assert result.summary["active_units"] == 0
    healthy = vaekit.train(tiny_images, **{**SMALL, "epochs": 8, "lr": 1e-2})
    assert healthy.summary["active_units"] >= 1
    assert len(healthy.summary["kl_per_dim"]) == 2


def test_presets_sit_under_config_and_arguments():
    from vaekit.presets import PRESETS
    from vaekit.runs import resolve_config

    for name in PRESETS:  # every preset is a valid config
        resolve_config(preset_name=name).validate()
    cfg = resolve_config({"latent_dim": 7}, {"epochs": 3}, preset_name="mnist-burda")
    assert cfg.model.hidden_dims == (200, 200) and cfg.model.activation == "tanh"
    assert cfg.model.latent_dim == 7 and cfg.train.epochs == 3
    with pytest.raises(ConfigError, match="unknown preset 'mnist-huge'"):
        resolve_config(preset_name="mnist-huge")


def test_resume_auto_restarts_a_run_killed_before_its_first_checkpoint(tmp_path, tiny_images):
    out = tmp_path / "run"
    out.mkdir()
    # What a run leaves when killed at start-up: its lock, its config, a half-written file.
    (out / ".lock").write_text("12345")
    (out / "config.json").write_text("{}")
    (out / ".tmp-abc.png").write_bytes(b"half")
    result = vaekit.train(tiny_images, out=out, resume="auto", **SMALL)
    assert len(result.history) == 2 and (out / "model.safetensors").exists()
    assert not list(out.glob(".tmp-*"))
    # A finished run without checkpoints is not "killed at start-up": refused.
    finished = tmp_path / "finished"
    vaekit.train(tiny_images, out=finished, **SMALL)
    import shutil

    shutil.rmtree(finished / "checkpoints")
    with pytest.raises(RunDirError, match="already exists"):
        vaekit.train(tiny_images, out=finished, resume="auto", **SMALL)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:posterior collapse")
def test_m2_draws_its_labelled_rows_once_and_resumes_with_them(tmp_path, tiny_images):
    import json

    y = np.repeat([0, 1], 24)
    from vaekit.data import Dataset

    data = Dataset(x=tiny_images, y=y, name="tiny")
    kw = dict(model="m2", labels_per_class=3, arch="mlp", latent_dim=2, hidden_dims=(16,), batch_size=8, quiet=True)
    whole = vaekit.train(data, tmp_path / "a", epochs=2, **kw)
    record = json.loads((tmp_path / "a" / "labelled_rows.json").read_text())
    assert len(record["rows"]) == 6 and np.bincount(y[record["rows"]]).tolist() == [3, 3]
    assert whole.config.model.num_classes == 2 and whole.config.model.options["classifier_weight"] > 0
    assert 0 <= whole.summary["val"]["accuracy"] <= 1
    vaekit.train(data, tmp_path / "b", epochs=1, **kw)
    resumed = vaekit.train(data, tmp_path / "b", epochs=2, resume="auto", **kw)
    assert json.loads((tmp_path / "b" / "labelled_rows.json").read_text()) == record
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_label_models_refuse_data_without_labels_and_labels_for_plain_models(tmp_path, tiny_images):
    with pytest.raises(DataError, match="needs labels"):
        vaekit.train(tiny_images, model="cvae", epochs=1, quiet=True)
    with pytest.raises(ConfigError, match="labels_per_class chooses the labelled rows of m2"):
        vaekit.train("digits", model="vae", labels_per_class=2, epochs=1, quiet=True)
    assert not (tmp_path / "x").exists()
