"""Figures the benchmark scripts draw for docs/ (not part of vaekit's API)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vaekit.files import atomic_write

_DPI = 100


def plot_series(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    path: str | os.PathLike,
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    levels: Sequence[float] = (),
) -> Path:
    """Lines ``label -> (x, y)`` with dotted reference ``levels`` (e.g. NLL against time), as one PNG."""
    if not series or not any(len(x) for x, _ in series.values()):
        raise ValueError("plot_series needs at least one non-empty series")
    # The Figure API on an Agg canvas, not pyplot: no global figure registry, no GUI backend.
    fig = Figure(figsize=(7.0, 4.2), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, (x, y) in series.items():
        ax.plot(x, y, marker="o", markersize=3, label=label)
    for level in levels:
        ax.axhline(level, linestyle=":", color="grey")
        ax.annotate(f"{level:g}", (0, level), xycoords=("axes fraction", "data"), fontsize=8, color="grey",
                    va="bottom")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=_DPI))
