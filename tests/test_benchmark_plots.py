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


def test_level_labels_keep_apart_and_a_cut_axis_keeps_the_named_levels(tmp_path):
    from _plots import label_positions  # noqa: PLC0415

    assert label_positions([81.24, 82.43, 84.45, 86.76], gap=1.5) == pytest.approx([81.24, 82.74, 84.45, 86.76])
    assert label_positions([1.0, 1.1, 1.2], gap=0.5) == pytest.approx([1.0, 1.5, 2.0])  # a run of close levels stacks
    wide = plot_series({"a": ([0, 1, 2], [140.0, 90.0, 85.0])}, tmp_path / "w.png", xlabel="min", ylabel="nats",
                       title="t", levels={86.76: "Burda's VAE"})
    cut = plot_series({"a": ([0, 1, 2], [140.0, 90.0, 85.0])}, tmp_path / "c.png", xlabel="min", ylabel="nats",
                      title="t", levels={86.76: "Burda's VAE"}, ylim=(84.0, 99.0))
    with Image.open(wide) as w, Image.open(cut) as c:
        assert w.size == c.size and not np.array_equal(np.asarray(w), np.asarray(c))


def test_nll_plot_of_a_short_run_far_above_every_reference_line(tmp_path):
    from mnist_nll_merge import plot  # noqa: PLC0415

    record = {"name": "mnist-mlp", "binarization": "dynamic", "threads": 1, "probe": {"k": 10, "images": 20},
              "curve": [[10.0, 1, 140.0], [20.0, 2, 120.0]]}  # best 120: no level within 2 nats, none drawn
    with Image.open(plot([record], tmp_path / "short.png")) as image:
        assert image.format == "PNG"
