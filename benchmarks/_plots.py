"""Figures the benchmark scripts draw for docs/ (not part of vaekit's API)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
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
    levels: Sequence[float] | Mapping[float, str] = (),
    ylim: tuple[float, float] | None = None,
) -> Path:
    """Lines ``label -> (x, y)`` with dotted reference ``levels`` (e.g. NLL against time), as one PNG.

    ``levels``: values, or value -> name; each is labelled right of the axes,
    beside its line, labels pushed apart so that close levels stay readable.
    ``ylim``: the y range shown (points outside it are cut, e.g. a curve's first
    epochs far above where the models differ).
    """
    if not series or not any(len(x) for x, _ in series.values()):
        raise ValueError("plot_series needs at least one non-empty series")
    names = dict(levels) if isinstance(levels, Mapping) else {level: "" for level in levels}
    # The Figure API on an Agg canvas, not pyplot: no global figure registry, no GUI backend.
    fig = Figure(figsize=(8.4, 4.2), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, (x, y) in series.items():
        ax.plot(x, y, marker="o", markersize=3, label=label)
    if ylim is not None:
        ax.set_ylim(*ylim)
    for level in names:
        ax.axhline(level, linestyle=":", color="grey")
    low, high = ax.get_ylim()
    for level, at in zip(sorted(names), label_positions(sorted(names), gap=0.045 * (high - low))):
        text = f"{level:g} {names[level]}".strip()
        ax.annotate(text, (1.0, at), xycoords=("axes fraction", "data"), xytext=(4, 0), textcoords="offset points",
                    fontsize=8, color="grey", ha="left", va="center", annotation_clip=False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center")
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=_DPI))


def label_positions(levels: Sequence[float], gap: float) -> list[float]:
    """Heights for the labels of sorted ``levels``: each at its level, or ``gap`` above the label below it."""
    positions: list[float] = []
    for level in levels:
        positions.append(level if not positions else max(level, positions[-1] + gap))
    return positions
