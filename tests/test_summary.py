"""Tests for vaekit.summary: summary.json and `vaekit evaluate` report the same measures."""

from __future__ import annotations

import json
import warnings

import pytest

import vaekit
from vaekit.cli import main
from vaekit.summary import LATENT_KEYS


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
    # Per split in summary.json, the latent space's measures at its top level: the same keys in all.
    assert set(summary["val"]) | set(LATENT_KEYS) == set(report) - {"data", "split"}
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
