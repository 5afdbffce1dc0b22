"""The scripts in examples/ run on the embedded data and print sensible numbers.

Each example runs in a subprocess, as a user would run it, with its pictures
sent to a temporary folder through VAEKIT_EXAMPLES_OUT; every picture it says
it wrote must exist, and its headline numbers must show the method working.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TIMEOUT_S = 180  # each example takes well under a minute on two cores; this leaves room for a busy machine


def _number(pattern: str, output: str) -> list[float]:
    match = re.search(pattern, output)
    assert match, f"no line matching {pattern!r} in the output:\n{output}"
    return [float(g) for g in match.groups()]


def _generation(out: str) -> None:
    prior_fid, prior_precision, _ = _number(r"\nprior\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out)
    gmm_fid, gmm_precision, _ = _number(r"\ngmm\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out)
    assert gmm_fid < prior_fid, "the Gaussian mixture sampler should beat the prior on FID"
    assert gmm_precision >= prior_precision
    assert prior_precision > 0.5, "samples from the prior should mostly look like digits"


def _dimensionality_reduction(out: str) -> None:
    scores = {
        (name, int(dim)): (float(linear), float(knn))
        for name, dim, linear, knn in re.findall(r"\n(vae|pca)\s+(\d+)\s+([\d.]+)\s+([\d.]+)", out)
    }
    assert set(scores) == {("vae", 2), ("pca", 2), ("vae", 8), ("pca", 8)}, out
    assert scores["vae", 8][0] > 0.85 and scores["vae", 8][1] > 0.85, "8 VAE latents should keep the digit's identity"
    assert scores["vae", 2][0] > scores["pca", 2][0], "in 2-D the VAE's codes should separate digits better than PCA's"
    assert scores["vae", 8][0] >= scores["pca", 8][0] - 0.02


def _anomaly_detection(out: str) -> None:
    (table_auc,) = _number(r"table: ROC-AUC ([\d.]+)", out)
    (image_auc,) = _number(r"images: ROC-AUC ([\d.]+)", out)
    flagged, total = _number(r"images: (\d+) of (\d+) test digits flagged", out)
    caught, _ = _number(r"images: \d+ of \d+ test digits flagged, (\d+) of (\d+) sevens", out)
    assert table_auc > 0.8 and image_auc > 0.8
    assert 0 < flagged < total / 2, "the contamination threshold should flag a minority of the test digits"
    assert caught >= 30, "at least half the unseen 7s should be above the threshold"


def _semi_supervised(out: str) -> None:
    m2, baseline = _number(r"M2 ([\d.]+), logistic regression ([\d.]+)", out)
    assert m2 > 0.6, "M2 should beat chance (0.1) by a wide margin"
    assert m2 >= baseline - 0.03, "M2 should at least match a classifier on the labelled rows alone"


CHECKS = {
    "generation": _generation,
    "dimensionality_reduction": _dimensionality_reduction,
    "anomaly_detection": _anomaly_detection,
    "semi_supervised": _semi_supervised,
}
SCRIPTS = sorted(EXAMPLES.glob("*.py"))


def test_every_example_is_checked():
    assert {script.stem for script in SCRIPTS} == set(CHECKS)


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=[script.stem for script in SCRIPTS])
def test_example_runs(script: Path, tmp_path: Path):
    out_dir = tmp_path / "out"
    env = {**os.environ, "VAEKIT_EXAMPLES_OUT": str(out_dir), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    run = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert run.returncode == 0, f"{script.name} failed:\n{run.stdout}\n{run.stderr}"
    text = script.read_text()
    assert text.startswith("# ---\n# jupyter:\n#   jupytext:"), "a Jupytext header makes the script open as a notebook"
    assert "# %% [markdown]" in text and "\n# %%\n" in text

    announced = [Path(p) for p in re.findall(r"^wrote (.+\.png)$", run.stdout, flags=re.MULTILINE)]
    assert announced, f"{script.name} announced no pictures:\n{run.stdout}"
    for picture in announced:
        picture = picture if picture.is_absolute() else tmp_path / picture
        assert picture.is_file() and picture.stat().st_size > 0, f"{picture} was announced but not written"
        assert out_dir in picture.parents, f"{picture} is outside VAEKIT_EXAMPLES_OUT"
    CHECKS[script.stem](run.stdout)
