"""Tests for vaekit.summary: summary.json and `vaekit evaluate` report the same measures."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

import vaekit
from vaekit.cli import main
from vaekit.config import ModelConfig
from vaekit.evaluation import binarize_once
from vaekit.models import build_model
from vaekit.summary import LATENT_KEYS, summarize


@pytest.fixture(scope="module")
def sprites_run(tmp_path_factory):
    """A one-epoch run on sprites, whose rows carry known factors (so MIG applies)."""
    run = tmp_path_factory.mktemp("summary") / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch may collapse the posterior: not what these tests look at
        vaekit.train("sprites:200", out=run, epochs=1, quiet=True, arch="mlp", hidden_dims=(8,), latent_dim=3)
    return run


def test_summary_json_holds_every_measure_evaluate_prints(sprites_run, capsys):
    summary = json.loads((sprites_run / "summary.json").read_text())
    assert main(["evaluate", str(sprites_run), "--data", "sprites:200", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(LATENT_KEYS) <= set(summary) and set(LATENT_KEYS) <= set(report)
    # Per split in summary.json, the latent space's measures at its top level: the same keys in all
    # (evaluate adds what it scored: data, split and whether it binarized the data).
    assert set(summary["val"]) | set(LATENT_KEYS) == set(report) - {"data", "split", "binarized"}
    assert 0.0 <= summary["mig"] <= 1.0 and 0.0 <= report["mig"] <= 1.0
    assert len(summary["kl_per_dim"]) == len(report["kl_per_dim"]) == 3


def test_evaluate_without_factors_reports_no_mig(tmp_path, capsys):
    run = tmp_path / "digits"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vaekit.train("digits", out=run, epochs=1, quiet=True, arch="mlp", hidden_dims=(8,), latent_dim=2)
    assert "mig" not in json.loads((run / "summary.json").read_text())
    assert main(["evaluate", str(run), "--data", "digits", "--json"]) == 0
    assert "mig" not in json.loads(capsys.readouterr().out)


def test_summarize_binarizes_once_before_every_measure():
    torch.manual_seed(0)
    model = build_model(ModelConfig(input_shape=(12,), arch="mlp", hidden_dims=(8,), latent_dim=3))
    grey = np.random.default_rng(3).uniform(0, 1, size=(30, 12)).astype(np.float32)
    binarized = summarize(model, grey, binarize=True, seed=4, iw_samples=10)
    assert binarized.pop("binarized") == {"seed": 4}
    # The ELBO, the active units and log p(x) all score the same bits: those of binarize_once.
    assert binarized == summarize(model, binarize_once(grey, seed=4), seed=4, iw_samples=10)
    assert binarized != summarize(model, grey, seed=4, iw_samples=10)
    bits = binarize_once(grey, seed=4).numpy()
    already = summarize(model, bits, binarize=True, seed=4, iw_samples=10)
    assert already.pop("binarized") is False and already == binarized  # binary data: nothing to draw
