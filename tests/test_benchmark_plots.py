"""Tests for benchmarks/_plots.py, the figures benchmark scripts write into docs/."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _plots import plot_series  # noqa: E402 - benchmarks/ is not a package: found through sys.path


def test_plot_series_writes_a_png_and_refuses_empty_input(tmp_path):
    path = plot_series({"a": ([0, 1, 2], [99.0, 95.0, 91.0])}, tmp_path / "s.png",
                       xlabel="min", ylabel="nats", title="t", levels=[95.0, 90.0])
    with Image.open(path) as image:
        assert image.format == "PNG" and np.asarray(image).shape[0] > 100
    with pytest.raises(ValueError):
        plot_series({"a": ([], [])}, tmp_path / "e.png", xlabel="", ylabel="", title="")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.png"]
