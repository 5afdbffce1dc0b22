"""Every subcommand end to end on tiny data, and every bad input as one line + exit 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vaekit.cli import main

TINY = ["--epochs", "3", "--latent-dim", "2", "--hidden-dims", "16", "--conv-channels", "4,8", "--batch-size", "16"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One small run on tiny images, shared by the read-only commands."""
    root = tmp_path_factory.mktemp("cli")
    data = root / "tiny.npz"
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(40, 1, 8, 8)).astype(np.float32)
    np.savez(data, x=x, y=np.arange(40) % 4)
    assert main(["train", "--data", str(data), "--out", str(root / "run"), "--quiet", *TINY]) == 0
    return root


def test_train_writes_the_whole_run_folder(trained):
    run_dir = trained / "run"
    names = {p.name for p in run_dir.iterdir()}
    assert {
        "config.json", "model.safetensors", "metrics.csv", "summary.json",
        "curves.png", "samples.png", "reconstructions.png", "latent.png", "checkpoints",
    } <= names
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"]["latent_dim"] == 2 and config["model"]["input_shape"] == [1, 8, 8]
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,step,beta,lr,train_loss") and "val_loss" in rows[0]
    assert len(rows) == 1 + 3
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs_trained"] == 3 and summary["val"]["elbo"] < 0


def test_sample_png_and_npy(trained, capsys):
    run_dir = trained / "run"
    code, _, _ = run(capsys, "sample", run_dir, "-n", 6, "--out", trained / "s.npy", "--seed", 1)
    assert code == 0
    samples = np.load(trained / "s.npy")
    assert samples.shape == (6, 1, 8, 8) and 0 <= samples.min() and samples.max() <= 1
    assert run(capsys, "sample", run_dir, "-n", 6, "--out", trained / "s2.npy", "--seed", 1)[0] == 0
    np.testing.assert_array_equal(samples, np.load(trained / "s2.npy"))
    assert run(capsys, "sample", run_dir, "-n", 9, "--out", trained / "s.png")[0] == 0
    from PIL import Image

    assert Image.open(trained / "s.png").size[0] > 50


def test_reconstruct_encode_evaluate(trained, capsys):
    run_dir, data = trained / "run", trained / "tiny.npz"
    assert run(capsys, "reconstruct", run_dir, "--data", data, "--out", trained / "r.npy", "-n", 0)[0] == 0
    assert np.load(trained / "r.npy").shape == (40, 1, 8, 8)
    assert run(capsys, "reconstruct", run_dir, "--data", data, "--out", trained / "r.png")[0] == 0
    assert (trained / "r.png").stat().st_size > 0

    assert run(capsys, "encode", run_dir, "--data", data, "--out", trained / "z.npy")[0] == 0
    z = np.load(trained / "z.npy")
    assert z.shape == (40, 2)
    assert run(capsys, "encode", run_dir, "--data", data, "--out", trained / "z.csv")[0] == 0
    import pandas as pd

    frame = pd.read_csv(trained / "z.csv")
    assert list(frame.columns) == ["z0", "z1", "label"]
    np.testing.assert_allclose(frame[["z0", "z1"]].to_numpy(), z, rtol=1e-5, atol=1e-6)
    assert run(capsys, "encode", run_dir, "--data", data, "--out", trained / "z.parquet", "--sample")[0] == 0
    sampled = pd.read_parquet(trained / "z.parquet")[["z0", "z1"]].to_numpy()
    assert not np.allclose(sampled, z)

    code, out, _ = run(capsys, "evaluate", run_dir, "--data", data, "--json")
    report = json.loads(out)
    assert code == 0 and {"elbo", "reconstruction", "kl", "n"} <= set(report)
    assert report["n"] == 40
    assert report["elbo"] == pytest.approx(-(report["reconstruction"] + report["kl"]))
    code, out, _ = run(capsys, "evaluate", run_dir, "--data", data)
    assert code == 0 and "elbo" in out and "active_units" in out
    code, out, _ = run(capsys, "evaluate", run_dir, "--data", data, "--iw-samples", 50, "--json")
    report = json.loads(out)
    assert {"iw_nll", "elbo", "kl", "reconstruction", "active_units", "kl_per_dim"} <= set(report)
    assert "bits_per_dim" not in report  # grey values under a Bernoulli: a cross-entropy, not a code length
    assert sum(report["kl_per_dim"]) == pytest.approx(report["kl"], rel=1e-5)  # closed-form KL, split by dimension
    assert report["iw_nll"] <= -report["elbo"] + 1.0  # tighter than the ELBO, up to noise


def test_yaml_config_and_flags_override_it(tmp_path, tiny_npz, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("latent_dim: 3\nbeta: 0.5\nepochs: 2\nhidden_dims: [16]\narch: mlp\n")
    out = tmp_path / "run"
    assert run(capsys, "train", "--data", tiny_npz, "--out", out, "--config", cfg, "--latent-dim", 5, "--quiet")[0] == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"]["latent_dim"] == 5 and saved["model"]["beta"] == 0.5 and saved["train"]["epochs"] == 2


def test_demo_runs_on_the_embedded_digits(tmp_path, capsys):
    code, out, _ = run(capsys, "demo", "--out", tmp_path / "demo", "--epochs", 2)
    assert code == 0
    assert "validation ELBO" in out
    assert (tmp_path / "demo" / "samples.png").exists()
    assert json.loads((tmp_path / "demo" / "config.json").read_text())["data"]["data"] == "digits"


# --------------------------------------------------------------------------- bad input


def bad_input_cases(root: Path, trained: Path) -> list[tuple[list, str]]:
    run_dir = trained / "run"
    nan = root / "nan.npy"
    arr = np.zeros((20, 5), np.float32)
    arr[3, 2] = np.nan
    np.save(nan, arr)
    rank1 = root / "rank1.npy"
    np.save(rank1, np.zeros(20, np.float32))
    wide = root / "wide.npy"
    np.save(wide, np.full((20, 5), 3.0, np.float32))
    empty = root / "empty.npy"
    np.save(empty, np.zeros((0, 5), np.float32))
    few = root / "few.npy"
    np.save(few, np.zeros((3, 5), np.float32))
    text = root / "text.csv"
    text.write_text("a,b,name\n1,2,x\n3,4,y\n")
    truncated = root / "truncated"
    truncated.mkdir()
    (truncated / "config.json").write_bytes((run_dir / "config.json").read_bytes())
    (truncated / "model.safetensors").write_bytes((run_dir / "model.safetensors").read_bytes()[:100])
    nomodel = root / "nomodel"
    nomodel.mkdir()
    badyaml = root / "bad.yaml"
    badyaml.write_text("latent_dims: 3\n")
    train = ["train", "--out", root / "new-run"]
    return [
        (train + ["--data", root / "missing.npy"], "no such file"),
        (train + ["--data", "imagenet"], "unknown data 'imagenet'"),
        (train + ["--data", rank1], "accepted shapes"),
        (train + ["--data", nan], "NaN or infinite"),
        (train + ["--data", wide], "bernoulli likelihood needs [0, 1]"),
        (train + ["--data", empty], "has no rows"),
        (train + ["--data", few], "too few for a validation split"),
        (train + ["--data", text, "--likelihood", "gaussian"], "name"),
        (train + ["--data", "digits", "--latent-dim", "zero"], "invalid value for 'latent_dim'"),
        (train + ["--data", "digits", "--likelihood", "poisson"], "choose from"),
        (train + ["--data", "digits", "--latent-dim", "1000000000"], "GiB of memory"),
        (train + ["--data", "digits", "--activation", "glu"], "applies to arch mlp, not conv: use --arch mlp"),
        (train + ["--data", "digits", "--dropout", "0.2"], "dropout applies to arch mlp, not conv: use --arch mlp"),
        (train + ["--data", "digits", "--arch", "mlp", "--dropout", "1"], "invalid value for 'dropout'"),
        (["traverse", run_dir, "--dims", "7", "--out", root / "t.png"], "must be in 0..1"),
        (["traverse", run_dir, "--dims", "one", "--out", root / "t.png"], "expected latent dimensions"),
        (["traverse", run_dir, "--dims", "0", "--manifold", "--out", root / "t.png"], "drop --dims"),
        (train + ["--data", "digits", "--config", badyaml], "unknown key 'latent_dims'"),
        (train + ["--data", "digits", "--arch", "conv", "--config", root / "none.yaml"], "config file not found"),
        (["train", "--data", "digits", "--out", run_dir, "--epochs", "1"], "already exists"),
        (["sample", nomodel, "--out", root / "s.png"], "holds no model"),
        (["sample", root / "nowhere", "--out", root / "s.png"], "no such run folder"),
        (["sample", truncated, "--out", root / "s.png"], "corrupt or truncated"),
        (["sample", run_dir, "--out", root / "s.gif"], "unsupported file type"),
        (["sample", run_dir, "--out", trained / "tiny.npz"], "unsupported file type"),
        (["sample", run_dir, "-n", "0", "--out", root / "s.png"], "positive"),
        (["encode", run_dir, "--data", "digits", "--out", root / "z.npy", "--split", "test"], "no test split"),
        (["evaluate", run_dir, "--data", wide], "shape"),
        (["train", "--data", "digits"], "--out"),
        (["train", "--data", "digits", "--out", root / "x", "--bogus"], "unrecognized arguments"),
    ]


def test_every_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, trained, capsys):
    cases = bad_input_cases(tmp_path, trained)
    before_trained = snapshot(trained)
    for argv, phrase in cases:
        before = snapshot(tmp_path)
        assert main([str(a) for a in argv]) == 2, argv
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (argv, err)
        assert phrase in lines[0], (argv, lines[0])
        assert "Traceback" not in err
        assert snapshot(tmp_path) == before, argv
    assert snapshot(trained) == before_trained


def test_existing_output_file_is_not_overwritten_without_flag(trained, capsys):
    target = trained / "keep.npy"
    np.save(target, np.arange(3))
    code, _, err = run(capsys, "sample", trained / "run", "--out", target)
    assert code == 2 and "already exists" in err
    np.testing.assert_array_equal(np.load(target), np.arange(3))
    assert run(capsys, "sample", trained / "run", "--out", target, "--overwrite")[0] == 0
    assert np.load(target).shape[1:] == (1, 8, 8)


def test_resume_refuses_a_changed_model_setting(tmp_path, tiny_npz, capsys):
    out = tmp_path / "run"
    assert run(capsys, "train", "--data", tiny_npz, "--out", out, "--quiet", *TINY)[0] == 0
    before = snapshot(out)
    code, _, err = run(capsys, "train", "--data", tiny_npz, "--out", out, "--resume", "auto", "--latent-dim", 7)
    assert code == 2 and "cannot resume with latent_dim=7" in err
    assert snapshot(out) == before
    # More epochs is allowed: the run continues from its checkpoint.
    assert run(capsys, "train", "--data", tiny_npz, "--out", out, "--resume", "auto", "--epochs", 5, "--quiet")[0] == 0
    assert len((out / "metrics.csv").read_text().splitlines()) == 1 + 5


# --------------------------------------------------------------------------- processes


def vaekit(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vaekit.cli", *args], capture_output=True, text=True, **kw)


def test_help_is_fast_and_does_not_import_torch():
    probe = "import sys, vaekit.cli as c\ntry:\n    c.main(['train', '--help'])\nexcept SystemExit: pass\nprint('torch' in sys.modules)"
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert "--latent-dim" in result.stdout and "Number of latent dimensions" in result.stdout
    assert result.stdout.strip().endswith("False")
    assert elapsed < 3.0  # "well under a second" locally; generous for a loaded CI box
    for command in ("demo", "sample", "reconstruct", "encode", "evaluate"):
        assert vaekit(command, "--help").returncode == 0


@pytest.mark.slow
def test_kill_9_then_resume_auto_matches_an_uninterrupted_run(tmp_path, tiny_npz):
    from safetensors.numpy import load_file

    args = ["--data", str(tiny_npz), "--quiet", *TINY, "--epochs", "40", "--checkpoint-every", "1", "--arch", "mlp"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    assert vaekit("train", "--out", str(tmp_path / "ref"), *args, env=env).returncode == 0

    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "vaekit.cli", "train", "--out", str(out), *args], env=env)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((out / "checkpoints").glob("step-*.pt"))) < 2:
        time.sleep(0.02)
    time.sleep(0.15)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "model.safetensors").exists(), "the run finished before it could be killed"

    resumed = vaekit("train", "--out", str(out), "--resume", "auto", *args, env=env)
    assert resumed.returncode == 0, resumed.stderr
    a, b = load_file(tmp_path / "ref" / "model.safetensors"), load_file(out / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    ref_rows = (tmp_path / "ref" / "metrics.csv").read_text().splitlines()
    got_rows = (out / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[:4] for r in ref_rows] == [r.split(",")[:4] for r in got_rows]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> Path:
    """A cvae and an m2 trained on tiny labelled images (4 classes)."""
    root = tmp_path_factory.mktemp("labelled")
    data = root / "tiny.npz"
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 0.2, size=(48, 1, 8, 8)).astype(np.float32)
    y = np.arange(48) % 4
    for k in range(4):
        x[y == k, :, 2 * k : 2 * k + 2, :] = 1.0  # class k: a bar in rows 2k, 2k+1
    np.savez(data, x=x, y=y)
    for model, extra in (("cvae", []), ("m2", ["--labels-per-class", "4"])):
        assert main(["train", "--model", model, "--data", str(data), "--out", str(root / model), "--quiet", *TINY, *extra]) == 0
    return root


def test_cvae_samples_a_class_and_a_grid_of_every_class(labelled, capsys):
    for flag in (["--label", "2", "-n", "5"], ["--by-class", "-n", "3"]):
        code, _, err = run(capsys, "sample", labelled / "cvae", *flag, "--out", labelled / "s.npy", "--overwrite")
        assert code == 0, err
    grid = np.load(labelled / "s.npy")
    assert grid.shape == (12, 1, 8, 8)
    assert not np.allclose(grid[0], grid[3])  # the same latent, two classes: two pictures
    code, _, err = run(capsys, "sample", labelled / "cvae", "--by-class", "-n", "3", "--out", labelled / "g.png")
    assert code == 0 and (labelled / "g.png").exists()
    code, _, err = run(capsys, "sample", labelled / "cvae", "--label", "4", "--out", labelled / "bad.png")
    assert code == 2 and "out of range" in err and not (labelled / "bad.png").exists()
    for command in (["evaluate"], ["encode", "--out", labelled / "z.npy"], ["reconstruct", "--out", labelled / "r.png"]):
        code, out, err = run(capsys, command[0], labelled / "cvae", "--data", labelled / "tiny.npz", *command[1:])
        assert code == 0, err


def test_m2_classifies_and_evaluate_reports_accuracy(labelled, capsys):
    code, _, err = run(capsys, "classify", labelled / "m2", "--data", labelled / "tiny.npz", "--out", labelled / "p.csv")
    assert code == 0, err
    rows = (labelled / "p.csv").read_text().splitlines()
    assert rows[0] == "predicted,label,p0,p1,p2,p3" and len(rows) == 49
    code, out, err = run(capsys, "evaluate", labelled / "m2", "--data", labelled / "tiny.npz", "--json")
    report = json.loads(out)
    assert code == 0 and 0 <= report["accuracy"] <= 1 and report["elbo"] < 0
    code, _, err = run(capsys, "sample", labelled / "m2", "--label", "1", "-n", "4", "--out", labelled / "m.npy")
    assert code == 0 and np.load(labelled / "m.npy").shape == (4, 1, 8, 8)


def test_m1_m2_stack_from_the_cli(labelled, capsys):
    """The README's M1+M2 recipe: encode with a VAE, train the mnist-m1m2 preset on the codes, classify."""
    root = labelled
    assert main(["train", "--data", str(root / "tiny.npz"), "--out", str(root / "m1"), "--quiet", *TINY, "--latent-dim", "3"]) == 0
    code, _, err = run(capsys, "encode", root / "m1", "--data", root / "tiny.npz", "--out", root / "codes.csv")
    assert code == 0, err
    header = (root / "codes.csv").read_text().splitlines()[0]
    assert header == "z0,z1,z2,label"
    code, _, err = run(
        capsys, "train", "--preset", "mnist-m1m2", "--data", root / "codes.csv", "--labels-per-class", "4",
        "--out", root / "m1m2", "--quiet", "--epochs", "2", "--hidden-dims", "16", "--latent-dim", "2",
        "--batch-size", "16",
    )
    assert code == 0, err
    config = json.loads((root / "m1m2" / "config.json").read_text())
    assert config["model"]["model"] == "m2" and config["model"]["input_shape"] == [3]
    assert config["model"]["likelihood"] == "gaussian-learned"
    code, _, err = run(capsys, "classify", root / "m1m2", "--data", root / "codes.csv", "--out", root / "stack.csv")
    assert code == 0, err
    rows = (root / "stack.csv").read_text().splitlines()
    assert rows[0] == "predicted,label,p0,p1,p2,p3" and len(rows) == 49


def test_label_commands_on_a_model_without_labels_are_one_line_errors(trained, capsys):
    for argv in (
        ["sample", trained / "run", "--label", "1", "--out", trained / "l.png"],
        ["sample", trained / "run", "--by-class", "--out", trained / "l.png"],
        ["classify", trained / "run", "--data", trained / "tiny.npz", "--out", trained / "l.csv"],
    ):
        code, _, err = run(capsys, *argv)
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
        assert "vae" in err
    assert not (trained / "l.png").exists() and not (trained / "l.csv").exists()


def test_sprites_train_and_evaluate_report_mig(tmp_path, capsys):
    run_dir = tmp_path / "sprites"
    assert main(["train", "--data", "sprites:300", "--arch", "mlp", "--out", str(run_dir), "--quiet", *TINY]) == 0
    code, out, err = run(capsys, "evaluate", run_dir, "--data", "sprites:300", "--json")
    assert code == 0 and 0 <= json.loads(out)["mig"] <= 1
