"""The disentanglement benchmark's verdicts: TC objectives judged against beta-VAE's curve at their reconstruction."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import disentangle  # noqa: E402 - benchmarks/ is not a package: found through sys.path


def _rows(model: str, mig: float, factorvae: float, recon: float) -> list[dict]:
    return [{"model": model, "seed": s, "mig": mig, "factorvae": factorvae, "reconstruction": recon} for s in (0, 1)]


def test_curve_is_linear_between_the_rows_around_the_reconstruction_and_flat_outside():
    points = [(85.0, 0.07, "beta-vae"), (60.0, 0.02, "vae"), (95.0, 0.09, "beta-vae-6")]  # any order
    value, where = disentangle.curve_at(points, 72.5)
    assert value == pytest.approx(0.045) and "vae" in where and "beta-vae" in where
    assert disentangle.curve_at(points, 90.0)[0] == pytest.approx(0.08)
    assert disentangle.curve_at(points, 50.0)[0] == 0.02  # better than every row: the best row, not extrapolated
    assert disentangle.curve_at(points, 120.0)[0] == 0.09


def test_targets_judge_against_the_curve_and_refuse_far_outside_it():
    by_model = {
        "vae": _rows("vae", 0.02, 0.40, 60.0),
        "beta-vae": _rows("beta-vae", 0.07, 0.48, 85.0),
        "factorvae": _rows("factorvae", 0.05, 0.55, 72.5),  # curve there: MIG 0.045, score 0.44
        "beta-tcvae": _rows("beta-tcvae", 0.18, 0.49, 110.0),  # 29% past the curve's worst reconstruction
    }
    lines = disentangle._targets(by_model)
    factor_mig = next(line for line in lines if line.startswith("- factorvae above beta-VAE on MIG"))
    assert ": met (0.050 vs 0.045" in factor_mig
    tc_mig = next(line for line in lines if line.startswith("- beta-tcvae above beta-VAE on MIG"))
    assert "not judged, outside the curve" in tc_mig
    assert any("at beta 4 alone, on MIG: not above (0.050 vs 0.070)" in line for line in lines)
    assert any("beta-TCVAE MIG >= 0.20: not met (0.180)" in line for line in lines)


def test_every_tc_objective_row_is_judged_under_its_own_name():
    by_model = {
        "vae": _rows("vae", 0.02, 0.40, 60.0),
        "beta-vae": _rows("beta-vae", 0.07, 0.48, 85.0),
        "beta-tcvae": _rows("beta-tcvae", 0.18, 0.49, 84.0),
        "beta-tcvae-gamma0": _rows("beta-tcvae-gamma0", 0.22, 0.57, 84.0),
    }
    lines = disentangle._targets(by_model)
    assert any(line.startswith("- beta-tcvae-gamma0 above beta-VAE on MIG at its reconstruction") for line in lines)
    assert "- beta-TCVAE MIG >= 0.20: not met (0.180)" in lines
    assert "- beta-TCVAE (beta-tcvae-gamma0) MIG >= 0.20: met (0.220)" in lines
    assert not any(line.startswith("- vae above") or line.startswith("- beta-vae above") for line in lines)


def test_table_lists_every_lane_start_and_refuses_lanes_of_different_protocols():
    rows = {name: [{**r, "sap": 0.0, "dci_disentanglement": 0.0, "dci_completeness": 0.0, "dci_informativeness": 0.0,
                    "betavae": 0.5, "kl": 10.0, "active_units": 5, "train_seconds": 1.0, "eval_seconds": {"all": 1.0}}
                   for r in _rows(name, 0.1, 0.5, 80.0)] for name in ("vae", "beta-vae-6")}
    lane = {"steps": 8000, "threads": 1, "cpu": "x", "date": "2026-12-02 03:31 UTC"}
    lines = disentangle._table(rows, [lane, {**lane, "date": "2026-12-02 06:11 UTC"}])
    assert lines[0].startswith("Lanes started 2026-12-02 03:31 UTC, 2026-12-02 06:11 UTC;")
    assert any(line.startswith("| beta-vae-6 (beta 6) | 0,1 |") for line in lines)
    with pytest.raises(SystemExit, match="differ in steps"):
        disentangle._table(rows, [lane, {**lane, "steps": 4000}])


def test_the_log_clock_carries_a_rounded_minute():
    assert disentangle.clock(539.96) == "  9:00.0"  # was "  8:60.0"
    assert disentangle.clock(61.24) == "  1:01.2" and disentangle.clock(0.0) == "  0:00.0"


def test_lanes_from_before_the_discriminator_followed_the_schedule_are_not_merged():
    args = argparse.Namespace(optimiser=dict(disentangle.OPTIMISER), network=dict(disentangle.NETWORK), steps=7500,
                              lr_min=1e-4, threads=1, keep_subnormals=False, precision="fp32", sprites_cache=None, metric_points=10,
                              score_points=10, recon_rows=10)
    lane = disentangle._meta(args)
    before = {k: v for k, v in lane.items() if k != "discriminator_lr"}  # a lane JSON written before 2026-12-03 17:45
    rows = {"vae": [{**r, "sap": 0.0, "dci_disentanglement": 0.0, "dci_completeness": 0.0, "dci_informativeness": 0.0,
                     "betavae": 0.5, "kl": 10.0, "active_units": 5, "train_seconds": 1.0, "eval_seconds": {"all": 1.0}}
                    for r in _rows("vae", 0.1, 0.5, 80.0)]}
    assert disentangle._table(rows, [lane, {**lane, "date": "2026-12-04 00:00 UTC"}])  # two lanes of today merge
    with pytest.raises(SystemExit, match="differ in discriminator_lr"):
        disentangle._table(rows, [lane, before])
    # nor lanes of another network or precision; the header names the network
    narrow = disentangle._meta(argparse.Namespace(**{**vars(args), "network": {**args.network, "hidden_dims": "256,256"}}))
    with pytest.raises(SystemExit, match="differ in network"):
        disentangle._table(rows, [lane, narrow])
    assert "MLP 4096-256-256-10;" in disentangle._table(rows, [narrow])[0]
    conv = disentangle._meta(argparse.Namespace(**{**vars(args), "network": {
        **args.network, "arch": "conv", "conv_channels": "16,32,64,64"}}))
    assert "conv net 16-32-64-64 (kernel 3, stride 2), 10 latents;" in disentangle._table(rows, [conv])[0]
    with pytest.raises(SystemExit, match="differ in precision"):
        disentangle._table(rows, [lane, disentangle._meta(argparse.Namespace(**{**vars(args), "precision": "bf16"}))])


@pytest.mark.parametrize("channels", ["16,a", "16,0", ""])
def test_conv_channels_other_than_positive_counts_are_one_line_and_exit_2(channels):
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "disentangle.py"
    done = subprocess.run([sys.executable, str(script), "--conv-channels", channels, "--report", "none.json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--conv-channels: " in done.stderr and "conv_channels" in done.stderr.split(": ", 2)[-1]
    assert "Traceback" not in done.stderr
