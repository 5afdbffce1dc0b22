"""TensorBoard logging: scalars for every epoch and sample grids, read back from the event file."""

from __future__ import annotations

import sys

import pytest

import vaekit
from vaekit.cli import main
from vaekit.errors import MissingExtraError
from vaekit.tensorboard_log import TENSORBOARD_DIR, _tag

pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed: pip install -e '.[test]'")

TINY = {"epochs": 3, "latent_dim": 2, "hidden_dims": (16,), "arch": "mlp", "batch_size": 16, "quiet": True}


def read_events(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def test_tags_group_each_split():
    assert _tag("train_loss") == "train/loss" and _tag("val_kl") == "val/kl"
    assert _tag("beta") == "beta" and _tag("lr") == "lr"


@pytest.mark.slow
def test_train_logs_a_scalar_per_epoch_and_sample_grids(tmp_path, tiny_images):
    result = vaekit.train(tiny_images, out=tmp_path / "run", tensorboard=True, **TINY)
    events = read_events(tmp_path / "run" / TENSORBOARD_DIR)
    tags = events.Tags()
    for tag in ("train/loss", "train/reconstruction", "train/kl", "val/loss", "beta", "lr"):
        assert tag in tags["scalars"], tag
        assert [s.step for s in events.Scalars(tag)] == [1, 2, 3]
    logged = [s.value for s in events.Scalars("val/loss")]
    expected = [row["val_loss"] for row in result.history]
    assert logged == pytest.approx(expected, rel=1e-6)  # the numbers of metrics.csv, not others
    # Sample grids at the first and the last epoch (every 5th in between).
    assert [s.step for s in events.Images("samples")] == [1, 3]
    assert events.Images("samples")[0].width > 0


@pytest.mark.slow
def test_logging_does_not_change_training(tmp_path, tiny_images):
    plain = vaekit.train(tiny_images, **TINY)
    logged = vaekit.train(tiny_images, out=tmp_path / "run", tensorboard=True, **TINY)
    assert [r["train_loss"] for r in plain.history] == [r["train_loss"] for r in logged.history]


@pytest.mark.slow
def test_cli_flag_writes_the_event_file(tmp_path, tiny_npz, capsys):
    argv = ["train", "--data", tiny_npz, "--out", tmp_path / "run", "--tensorboard", "--epochs", "2",
            "--latent-dim", "2", "--arch", "mlp", "--hidden-dims", "16", "--quiet"]
    assert main([str(a) for a in argv]) == 0
    events = read_events(tmp_path / "run" / TENSORBOARD_DIR)
    assert [s.step for s in events.Scalars("train/loss")] == [1, 2]


def test_a_missing_package_is_one_clear_error_before_anything_is_written(tmp_path, tiny_images, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'vaekit\[tensorboard\]'"):
        vaekit.train(tiny_images, out=tmp_path / "run", tensorboard=True, **TINY)
    assert not (tmp_path / "run").exists()
    argv = ["train", "--data", "digits", "--out", str(tmp_path / "cli"), "--tensorboard", "--quiet"]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error: TensorBoard logging needs the tensorboard package")
    assert not (tmp_path / "cli").exists()


def test_tensorboard_needs_a_run_folder(tiny_images):
    with pytest.raises(vaekit.ConfigError, match="out=RUN_DIR"):
        vaekit.train(tiny_images, tensorboard=True, **TINY)
