"""The Python face of training: vaekit.train and its run folder."""

import json
import re

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
    # Without a bar, each epoch's line says how long is left (issue 18: 1 3/4 hours in silence).
    first, last = (line for line in err.splitlines() if line.startswith("epoch "))
    assert re.search(r"s/epoch, about \d+ s left\)$", first) and "left" not in last


def test_a_log_without_a_bar_shows_progress_inside_a_long_epoch(monkeypatch, tiny_images, capsys):
    import sys

    from vaekit.training import trainer

    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    monkeypatch.setattr(trainer, "HEARTBEAT_S", 0.0)  # every step is "a minute later"
    vaekit.train(tiny_images, **{**SMALL, "quiet": False})
    steps = [line for line in capsys.readouterr().err.splitlines() if ": step " in line]
    assert steps, "no in-epoch line"
    assert re.fullmatch(r"epoch 1/2: step 1/\d+ \(\d+%\), about \d+ s left in this epoch", steps[0])
    assert steps[-1].startswith("epoch 2/2: step ")
    # On a terminal the bar shows the steps: no such lines.
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    vaekit.train(tiny_images, **{**SMALL, "quiet": False})
    assert ": step " not in capsys.readouterr().err


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


def test_builtin_digits_bring_their_own_preset_unless_told_otherwise():
    """`vaekit train --data digits` trains what the demo trains: the global defaults collapse on its grey levels."""
    from vaekit.presets import PRESETS
    from vaekit.runs import resolve_config

    plain = resolve_config(overrides={"data": "digits"})
    assert plain.model.likelihood == PRESETS["digits"]["likelihood"] == "gaussian-learned"
    assert plain.train.kl_warmup_epochs == PRESETS["digits"]["kl_warmup_epochs"]
    flagged = resolve_config(overrides={"data": "digits", "likelihood": "bernoulli", "epochs": 3})
    assert (flagged.model.likelihood, flagged.train.epochs, flagged.model.arch) == ("bernoulli", 3, "conv")
    assert resolve_config(overrides={"data": "digits"}, preset_name="mnist-mlp").model.arch == "mlp"
    assert resolve_config(overrides={"data": "digits"}, spec_data=False).model.likelihood == "bernoulli"  # an array


def test_sprites_of_any_size_bring_the_disentanglement_benchmarks_network():
    """`--data sprites:N` trains the MLP benchmarks/disentangle.py measured, not the CPU-slow conv net of arch auto."""
    from vaekit.presets import PRESETS
    from vaekit.runs import resolve_config

    for spec in ("sprites", "sprites:20000"):
        model = resolve_config(overrides={"data": spec}).model
        assert (model.arch, tuple(model.hidden_dims), model.latent_dim, model.likelihood) == ("mlp", (512, 512), 10, "bernoulli")
        assert resolve_config(overrides={"data": spec}).train.lr_schedule == PRESETS["sprites"]["lr_schedule"]
    flagged = resolve_config(overrides={"data": "sprites:500", "arch": "conv", "latent_dim": 6})
    assert (flagged.model.arch, flagged.model.latent_dim) == ("conv", 6)
    assert resolve_config(overrides={"data": "sprites:500"}, preset_name="mnist-mlp").model.latent_dim == 32
    assert resolve_config(overrides={"data": "mnist:/tmp/x"}).model.arch == "auto"  # other specs bring nothing


def test_a_weak_code_is_reported_as_partial_collapse():
    from vaekit.runs import PosteriorCollapseWarning, _warn_if_collapsed

    with pytest.warns(PosteriorCollapseWarning, match="only 0.59 nats per input"):
        _warn_if_collapsed({"active_units": 2, "train": {"kl": 0.59}, "val": {"kl": 0.59}}, 8)
    with pytest.warns(PosteriorCollapseWarning, match="none of the 8 latent dimensions"):
        _warn_if_collapsed({"active_units": 0, "train": {"kl": 0.0}}, 8)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_if_collapsed({"active_units": 3, "train": {"kl": 4.2}}, 8)  # a working code: silence


def test_a_run_too_large_for_the_machine_is_refused_before_anything_is_written(tmp_path, tiny_images):
    """Issue 18: --latent-dim 100000 trained for minutes, then died in a traceback; now one line, up front."""
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=r"GiB of memory to train a model of .* parameters.*lower --latent-dim"):
        vaekit.train(tiny_images, out=out, **{**SMALL, "latent_dim": 10**9, "hidden_dims": (64,)})
    assert not out.exists()


def test_a_failure_at_the_end_of_a_run_says_how_to_finish_it(tmp_path, tiny_images, monkeypatch):
    """Training done, pictures failed: the checkpoint stays and --resume auto writes the rest."""
    import vaekit.runs

    out = tmp_path / "run"

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 360000000000 bytes.")

    monkeypatch.setattr(vaekit.runs, "write_pictures", out_of_memory)
    with pytest.raises(RunDirError, match=r"training finished and is saved in .*--resume auto to write them"):
        vaekit.train(tiny_images, out=out, **SMALL)
    monkeypatch.undo()
    with pytest.raises(RunDirError, match="--resume auto"):
        vaekit.train(tiny_images, out=out, **SMALL)  # not silently overwritten
    finished = vaekit.train(tiny_images, out=out, resume="auto", **SMALL)
    assert (out / "samples.png").exists() and (out / "report.html").exists()
    straight = vaekit.train(tiny_images, **SMALL)
    for a, b in zip(straight.model.state_dict().values(), finished.model.state_dict().values()):
        assert torch.equal(a, b)


def test_traversal_pictures_show_at_most_32_dimensions_those_with_the_most_kl(tmp_path, tiny_images, monkeypatch):
    from vaekit import explore

    shown = []
    real = explore.traverse
    monkeypatch.setattr(explore, "traverse", lambda *a, **k: shown.append(k["dims"]) or real(*a, **k))
    result = vaekit.train(tiny_images, out=tmp_path / "run", **{**SMALL, "latent_dim": 40, "epochs": 1})
    (dims,) = shown
    kl = np.array(result.summary["kl_per_dim"])
    assert len(dims) == explore.MAX_TRAVERSAL_ROWS < 40
    assert kl[dims].min() >= np.delete(kl, dims).max()  # the most informative ones
    assert list(kl[dims]) == sorted(kl[dims], reverse=True)  # most first
    assert (tmp_path / "run" / "traversals.png").exists()


def test_an_image_folder_run_records_its_size_and_fit_for_later_commands(tmp_path):
    from PIL import Image

    from vaekit.data import ImageSizeWarning
    from vaekit.runs import load_data_for

    folder, later = tmp_path / "images", tmp_path / "later"
    rng = np.random.default_rng(0)
    for path, shapes in ((folder, [(12, 12), (12, 16)]), (later, [(30, 40)])):
        path.mkdir()
        for i in range(20):
            Image.fromarray(rng.integers(0, 255, shapes[i % len(shapes)], dtype=np.uint8)).save(path / f"{i:02d}.png")
    with pytest.warns(ImageSizeWarning, match="the size of the first image"):
        vaekit.train(str(folder), out=tmp_path / "run", image_fit="pad", **SMALL)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["data"]
    assert saved["image_size"] == [12, 12] and saved["image_fit"] == "pad"
    x = load_data_for(tmp_path / "run", str(later)).x  # 30x40 images: padded to the run's 12x12, no warning
    assert x.shape == (20, 1, 12, 12) and not x[:, :, 0].any()


@pytest.mark.filterwarnings("ignore:posterior collapse")  # two epochs of a tiny model
def test_the_summary_scores_a_seeded_sample_of_a_large_split(tiny_images, monkeypatch):
    import vaekit.runs  # noqa: PLC0415 - the module whose cap the test lowers

    halves = {**SMALL, "val_fraction": 0.5}  # 24 rows on each side
    whole = vaekit.train(tiny_images, **halves).summary
    monkeypatch.setattr(vaekit.runs, "STREAMED_SAMPLE_ROWS", 7)
    capped = vaekit.train(tiny_images, **halves).summary
    assert capped["train"]["n"] == capped["val"]["n"] == 7 and whole["train"]["n"] == whole["val"]["n"] == 24
    assert capped["train"]["elbo"] != whole["train"]["elbo"]  # fewer rows scored, the same model
    again = vaekit.train(tiny_images, **halves).summary
    assert capped == again | {"train_seconds": capped["train_seconds"]}  # the same rows every time
