"""`vaekit evaluate`: the literature's test log-likelihood, honest units, and progress on a terminal."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from vaekit.cli import main
from vaekit.config import ModelConfig, RunConfig, TrainConfig
from vaekit.evaluation import binarize_once
from vaekit.io import load, save_model
from vaekit.models import build_model
from vaekit.summary import summarize

SCORES = ("elbo", "reconstruction", "kl", "loss", "iw_nll", "iw_elbo", "bits_per_dim")


def save_run(folder, likelihood="bernoulli", dynamic_binarization=True, prior="normal"):
    torch.manual_seed(0)  # the same weights in every run folder
    config = ModelConfig(
        input_shape=(1, 8, 8), arch="mlp", hidden_dims=(16,), latent_dim=2, likelihood=likelihood, prior=prior
    )
    save_model(folder, build_model(config), RunConfig(model=config, train=TrainConfig(dynamic_binarization=dynamic_binarization)))
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Grey images, their bits drawn once at seed 0, and one model saved as three runs."""
    root = tmp_path_factory.mktemp("evaluate")
    grey = np.random.default_rng(7).uniform(0, 1, size=(40, 1, 8, 8)).astype(np.float32)
    np.save(root / "grey.npy", grey)
    np.save(root / "bits.npy", binarize_once(grey, seed=0).numpy())
    save_run(root / "dynamic")
    save_run(root / "grey-trained", dynamic_binarization=False)
    save_run(root / "gaussian", likelihood="gaussian", dynamic_binarization=False)
    return root


def evaluate(capsys, *argv) -> tuple[str, str]:
    assert main(["evaluate", *map(str, argv)]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def evaluate_json(capsys, run, data, *flags) -> dict:
    return json.loads(evaluate(capsys, run, "--data", data, "--iw-samples", 20, "--json", *flags)[0])


def scores(report: dict) -> dict:
    return {key: report[key] for key in SCORES if key in report}


def test_a_dynamically_binarized_model_is_scored_on_bits_drawn_once(runs, capsys):
    on_grey = evaluate_json(capsys, runs / "dynamic", runs / "grey.npy")
    assert on_grey["binarized"] == {"seed": 0}
    # The same bits as the benchmarks' binarize_once: scoring them directly gives the same numbers,
    # and binary data needs no binarization.
    on_bits = evaluate_json(capsys, runs / "dynamic", runs / "bits.npy")
    assert on_bits["binarized"] is False and scores(on_bits) == scores(on_grey)
    assert scores(evaluate_json(capsys, runs / "grey-trained", runs / "bits.npy")) == scores(on_grey)
    # The Python API offers the same.
    api = summarize(load(runs / "dynamic"), np.load(runs / "grey.npy"), iw_samples=20, binarize=True)
    assert api["binarized"] == {"seed": 0} and scores(api) == pytest.approx(scores(on_grey), rel=1e-12)
    other_seed = evaluate_json(capsys, runs / "dynamic", runs / "grey.npy", "--seed", 1)
    assert other_seed["binarized"] == {"seed": 1} and other_seed["iw_nll"] != on_grey["iw_nll"]


def test_no_binarize_scores_the_grey_values(runs, capsys):
    binarized = evaluate_json(capsys, runs / "dynamic", runs / "grey.npy")
    grey = evaluate_json(capsys, runs / "dynamic", runs / "grey.npy", "--no-binarize")
    assert grey["binarized"] is False and grey["iw_nll"] != binarized["iw_nll"]
    # On grey values the Bernoulli's NLL is a cross-entropy, not a code length: no bits per dimension.
    assert "bits_per_dim" in binarized and "bits_per_dim" not in grey
    # What a model trained on grey values gets by default: the values as they are.
    assert scores(evaluate_json(capsys, runs / "grey-trained", runs / "grey.npy")) == scores(grey)
    out, _ = evaluate(capsys, runs / "dynamic", "--data", runs / "grey.npy", "--no-binarize")
    assert "values as they are" in out and "note: grey values scored" in out and "bits_per_dim" in out
    assert not any(line.strip().startswith("bits_per_dim") for line in out.splitlines())
    out, _ = evaluate(capsys, runs / "dynamic", "--data", runs / "grey.npy")
    assert "binarized once, seed 0" in out and "note:" not in out


def test_a_density_gets_no_bits_per_dim_and_a_note(runs, capsys):
    discrete = evaluate_json(capsys, runs / "dynamic", runs / "grey.npy")
    assert discrete["likelihood_kind"] == "discrete" and "bits_per_dim" in discrete
    density = evaluate_json(capsys, runs / "gaussian", runs / "grey.npy")
    assert density["likelihood_kind"] == "density" and "bits_per_dim" not in density
    out, _ = evaluate(capsys, runs / "gaussian", "--data", runs / "grey.npy", "--iw-samples", 20)
    assert "bits_per_dim" not in out
    notes = [line for line in out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "of a density, not a probability" in notes[0] and "may be negative" in notes[0]


def test_progress_bars_only_on_a_terminal_and_never_with_json(runs, capsys, monkeypatch):
    argv = (runs / "dynamic", "--data", runs / "grey.npy", "--iw-samples", 20)
    assert "log p(x)" not in evaluate(capsys, *argv)[1]  # stderr is no terminal here
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    err = evaluate(capsys, *argv)[1]
    assert "log p(x), K=20" in err and "ELBO" in err
    out, err = evaluate(capsys, *argv, "--json")
    assert err == "" and json.loads(out)["iw_samples"] == 20


def test_num_threads_sets_torch_threads_as_train_does(runs, capsys):
    before = torch.get_num_threads()
    try:
        evaluate(capsys, runs / "dynamic", "--data", runs / "grey.npy", "--num-threads", 2, "--json")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert main(["evaluate", str(runs / "dynamic"), "--data", str(runs / "grey.npy"), "--num-threads", "0"]) == 2
    assert "--num-threads must be positive" in capsys.readouterr().err


def test_a_kl_that_does_not_split_by_dimension_is_printed_without_one(tmp_path, runs, capsys):
    run = save_run(tmp_path / "mog", prior="mog")  # a mixture prior: no KL per dimension
    out, _ = evaluate(capsys, run, "--data", runs / "grey.npy")
    assert "active_units" in out and "kl_per_dim" not in out


def test_evaluate_measures_generation_with_each_sampler(tmp_path, capsys):
    """`evaluate --generation N`: sample-quality metrics of the prior's or a fitted sampler's samples (issue 15)."""
    import json

    import numpy as np

    import vaekit
    from vaekit.cli import main

    np.save(tmp_path / "x.npy", np.random.default_rng(0).uniform(0, 1, (300, 1, 6, 6)).astype(np.float32))
    run = tmp_path / "run"
    vaekit.train(str(tmp_path / "x.npy"), out=run, epochs=2, latent_dim=3, hidden_dims=(16,), arch="mlp", quiet=True)
    reports = {}
    for sampler in ("prior", "gmm"):
        argv = ["evaluate", str(run), "--data", str(tmp_path / "x.npy"), "--generation", "100", "--sampler", sampler]
        assert main([*argv, "--json"]) == 0
        reports[sampler] = json.loads(capsys.readouterr().out)["generation"]
    assert reports["prior"]["sampler"] == "prior" and reports["gmm"]["sampler"] == "gmm"
    assert reports["prior"]["fid"] != reports["gmm"]["fid"]  # other codes, other samples
    assert {"fid", "precision", "recall", "density", "coverage"} <= set(reports["gmm"])
    assert reports["gmm"]["features"] == {"name": "raw"} and reports["gmm"]["n_samples"] == 100
    assert main(["evaluate", str(run), "--data", str(tmp_path / "x.npy"), "--generation", "50"]) == 0
    assert "fid" in capsys.readouterr().out
    assert main(["evaluate", str(run), "--data", str(tmp_path / "x.npy"), "--generation", "50",
                 "--features", "pixels"]) == 2
    assert "unknown feature space" in capsys.readouterr().err
