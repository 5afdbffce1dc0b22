"""Every matplotlib figure vaekit draws: heatmaps, training curves, latent maps, score plots.

Plain image grids (PIL and NumPy, no matplotlib) are :mod:`vaekit.images`;
:func:`save_latent_grid` draws latent walks of images with it and walks of
vectors as a heatmap here.

Inputs are NumPy arrays; this module never imports torch, so callers convert
tensors first (``t.detach().cpu().numpy()``). Each ``save_*`` / ``plot_*``
function writes exactly one PNG to ``path`` and returns it as a
:class:`pathlib.Path`.

Two choices hold throughout:

* Figures are built with the object-oriented :class:`~matplotlib.figure.Figure`
  API on an Agg canvas, never through ``pyplot``. ``pyplot`` keeps a global
  registry of open figures and picks a GUI backend; a library must not touch
  either, and a figure no registry holds is freed as soon as it goes out of
  scope, so nothing needs closing.
* PNGs are written atomically: to a hidden temporary file in the target
  folder, flushed to disk, then moved over ``path`` with :func:`os.replace`.
  A process killed mid-write leaves the old file (or none), never half a PNG.
  The parent folder must exist; nothing else is created.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from vaekit.errors import DataError
from vaekit.files import atomic_write
from vaekit.images import save_image_grid

__all__ = [
    "save_latent_grid",
    "plot_vectors",
    "plot_training_curves",
    "plot_latent",
    "plot_score_histogram",
    "plot_roc_pr",
    "plot_series_scores",
]

PathLike = str | os.PathLike

_MAX_LATENT_POINTS = 5000  # more points only overplot and slow the scatter down
_MAX_TSNE_POINTS = 2000  # t-SNE is quadratic-ish: ~10 s on two cores at this size
_MAX_DISCRETE_CLASSES = 20  # tab20 has 20 distinct colours; more need a colourbar
_DPI = 100


# ---------------------------------------------------------------- file output


def _new_figure(width: float, height: float) -> Figure:
    # Constrained layout keeps titles, colourbars and outside legends inside the
    # canvas, so nothing is clipped without hand-tuned margins.
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save_figure(fig: Figure, path: PathLike) -> Path:
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=_DPI))


# ---------------------------------------------------------------- latent walks


def save_latent_grid(
    grid: np.ndarray,
    path: PathLike,
    title: str,
    feature_names: Sequence[str] | None = None,
) -> Path:
    """Draw decoded latent walks (traversals, interpolations, the manifold) as one picture.

    Parameters
    ----------
    grid
        ``(rows, cols, *sample_shape)``: ``grid[i, j]`` is the decoding of the
        ``j``-th code of walk ``i``. Images ``(C, H, W)`` become an image grid
        with one walk per row; vectors ``(D,)`` a heatmap with one code per
        row, walk after walk.
    path
        Where to write the PNG.
    title
        Title of the heatmap (image grids carry no text).
    feature_names
        Column names for vectors.

    Returns
    -------
    Path
        ``path``.
    """
    grid = np.asarray(grid)
    if grid.ndim < 3:
        raise DataError(f"grid must have shape (rows, cols, *sample_shape), got {grid.shape}")
    rows, cols = grid.shape[:2]
    flat = grid.reshape(rows * cols, *grid.shape[2:])
    if flat.ndim == 4:
        return save_image_grid(flat, path, nrow=cols)
    return plot_vectors(flat.reshape(len(flat), -1), path, title, feature_names)


# ---------------------------------------------------------------- tabular data


def _colour_scale(*arrays: np.ndarray) -> tuple[str, float, float]:
    """One colour map and range for all ``arrays`` so colours compare across panels."""
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays])
    if finite.size == 0:
        return "viridis", 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    if lo < 0.0 < hi:
        # Standardised features: a diverging map centred on 0 shows sign at a glance.
        bound = max(-lo, hi)
        return "RdBu_r", -bound, bound
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5  # a constant table still needs a non-empty range
    return "viridis", lo, hi


def plot_vectors(
    rows: np.ndarray,
    path: PathLike,
    title: str,
    feature_names: Sequence[str] | None = None,
    compare: np.ndarray | None = None,
) -> Path:
    """Draw tabular samples as a heatmap (samples x features).

    Parameters
    ----------
    rows
        ``(N, D)`` array, one sample per row; a 1-D array is one sample.
    path
        Where to write the PNG.
    title
        Figure title.
    feature_names
        ``D`` column names for the x axis; column indices when omitted.
    compare
        Optional ``(N, D)`` array, typically the reconstructions of ``rows``.
        When given, the two heatmaps are drawn side by side (inputs |
        reconstructions) on one shared colour scale.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    DataError
        If shapes do not match or ``feature_names`` has the wrong length.
    """
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    if rows.ndim != 2 or rows.size == 0:
        raise DataError(f"rows must be a non-empty (N, D) array, got shape {rows.shape}")
    panels = [("inputs", rows)]
    if compare is not None:
        compare = np.atleast_2d(np.asarray(compare, dtype=np.float64))
        if compare.shape != rows.shape:
            raise DataError(
                f"compare {compare.shape} must have the same shape as rows {rows.shape}"
            )
        panels.append(("reconstructions", compare))
    n, d = rows.shape
    if feature_names is not None and len(feature_names) != d:
        raise DataError(f"got {len(feature_names)} feature names for {d} columns")

    cmap, vmin, vmax = _colour_scale(*(a for _, a in panels))
    panel_w = min(10.0, max(3.5, 0.3 * d + 1.0))
    height = min(10.0, max(3.0, 0.12 * n + 1.8))
    if feature_names is not None:
        height += 0.08 * max(len(str(name)) for name in feature_names)  # rotated labels
    fig = _new_figure(panel_w * len(panels) + 1.2, height)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (name, values) in zip(axes, panels):
        # nearest: each cell is one value; smoothing would invent values between them
        image = ax.imshow(
            values, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest"
        )
        if len(panels) > 1:
            ax.set_title(name)
        ax.set_xlabel("feature")
        if feature_names is not None:
            step = math.ceil(d / 40)  # at most ~40 labels stay legible
            ticks = np.arange(0, d, step)
            ax.set_xticks(ticks, [str(feature_names[i]) for i in ticks], rotation=90)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_ylabel("sample")
    fig.colorbar(image, ax=list(axes), shrink=0.9)
    fig.suptitle(title)
    return _save_figure(fig, path)


# ---------------------------------------------------------------- training


_CURVE_PANELS = (("loss", "total loss"), ("reconstruction", "reconstruction"), ("kl", "KL"))


def _column(history: Sequence[dict[str, float]], key: str) -> np.ndarray:
    """One logged value per epoch; NaN where a row lacks the key."""
    return np.array([row.get(key, np.nan) for row in history], dtype=np.float64)


def plot_training_curves(history: Sequence[dict[str, float]], path: PathLike) -> Path:
    """Draw total loss, reconstruction and KL per epoch, train solid, val dashed.

    Parameters
    ----------
    history
        One dict per epoch with any of ``epoch``, ``train_loss``,
        ``train_reconstruction``, ``train_kl``, ``val_loss``,
        ``val_reconstruction``, ``val_kl``, ``beta``. Missing keys and NaN
        values leave gaps. Without ``epoch`` the rows are numbered from 1.
        The best epoch by ``val_loss`` is marked on every panel; a ``beta``
        that changes (KL warm-up) is drawn on the KL panel's right axis.
    path
        Where to write the PNG.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    DataError
        If ``history`` is empty.
    """
    if len(history) == 0:
        raise DataError("history is empty: train for at least one epoch before plotting")
    epochs = _column(history, "epoch")
    if not np.isfinite(epochs).all():
        epochs = np.arange(1, len(history) + 1, dtype=np.float64)
    # Markers make a single epoch (a line of one point) visible; beyond ~50
    # epochs they only clutter the line.
    marker = "o" if len(history) <= 50 else None

    val_loss = _column(history, "val_loss")
    best = int(np.nanargmin(val_loss)) if np.isfinite(val_loss).any() else None

    fig = _new_figure(13.0, 3.8)
    axes = fig.subplots(1, 3, sharex=True)
    for ax, (key, label) in zip(axes, _CURVE_PANELS):
        drawn = False
        for split, style, colour in (("train", "-", "C0"), ("val", "--", "C1")):
            values = _column(history, f"{split}_{key}")
            if np.isfinite(values).any():
                ax.plot(epochs, values, style, color=colour, marker=marker, ms=3, label=split)
                drawn = True
        if not drawn:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
        if best is not None:
            ax.axvline(epochs[best], color="0.5", ls=":", lw=1)
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if epochs.min() == epochs.max():
            # One epoch: matplotlib's default +-5% window would tick 0.995, 1.000, ...
            ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
        ax.grid(alpha=0.3)

    if best is not None:
        axes[0].plot(
            epochs[best], val_loss[best], "*", color="C3", ms=12,
            label=f"best val (epoch {epochs[best]:g})",
        )
    beta = _column(history, "beta")
    finite_beta = beta[np.isfinite(beta)]
    if finite_beta.size and finite_beta.min() != finite_beta.max():
        # A rising beta explains a KL curve that bends; a constant one adds nothing.
        twin = axes[2].twinx()
        twin.plot(epochs, beta, ":", color="0.4")
        twin.set_ylabel("β (KL weight, dotted)", color="0.4")
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize="small")
    return _save_figure(fig, path)


# ---------------------------------------------------------------- latent space


#: Projections of a latent space with more than two dimensions (``method`` of :func:`plot_latent`).
LATENT_PROJECTIONS = ("pca", "tsne")


def _project_2d(z: np.ndarray, method: str = "pca") -> tuple[np.ndarray, str, str]:
    """Points to draw and their axis labels: z itself, jittered z, its PCA or its t-SNE."""
    d = z.shape[1]
    if d == 1:
        # Vertical jitter spreads coincident points apart; it carries no meaning.
        jitter = np.random.default_rng(0).uniform(-0.4, 0.4, size=len(z))
        return np.column_stack([z[:, 0], jitter]), "z1", "jitter"
    if d == 2:
        return z, "z1", "z2"
    if len(z) < 2:
        raise DataError(f"need at least 2 points to project a {d}-D latent space with {method}")
    if method == "tsne":
        from sklearn.manifold import TSNE  # noqa: PLC0415 - lazy: sklearn is slow to import

        # Perplexity must stay below the number of points; 30 is sklearn's default.
        perplexity = min(30.0, max(1.0, (len(z) - 1) / 3))
        xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=0).fit_transform(z)
        return xy, "t-SNE 1", "t-SNE 2"
    from sklearn.decomposition import PCA  # noqa: PLC0415 - lazy: sklearn is slow to import

    pca = PCA(n_components=2, random_state=0)
    xy = pca.fit_transform(z)
    pc1, pc2 = 100.0 * pca.explained_variance_ratio_
    return xy, f"PC1 ({pc1:.1f}% var)", f"PC2 ({pc2:.1f}% var)"


def plot_latent(
    z: np.ndarray,
    path: PathLike,
    labels: np.ndarray | None = None,
    title: str = "latent space",
    method: str = "pca",
) -> Path:
    """Scatter latent codes, coloured by label when labels are given.

    Parameters
    ----------
    z
        ``(N, d)`` latent codes (a 1-D array is read as ``d = 1``). ``d = 1``
        draws a strip plot (z against random jitter), ``d = 2`` a scatter,
        ``d > 2`` a scatter of the first two principal components, whose
        axis labels give the share of variance each explains (or of its
        t-SNE embedding, see ``method``).
    path
        Where to write the PNG.
    labels
        Optional ``(N,)`` labels. Up to 20 distinct values get one colour each
        and a legend; more (or continuous values) get a colourbar.
    title
        Figure title.
    method
        How ``d > 2`` is brought to 2-D: ``"pca"`` (linear, fast, axes keep
        a meaning) or ``"tsne"`` (scikit-learn's t-SNE: keeps neighbourhoods,
        so clusters show, but distances between clusters mean little; a few
        seconds per thousand points).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    DataError
        If ``z`` is empty or not finite, or ``labels`` has the wrong length.

    Notes
    -----
    At most 5000 points are drawn (2000 for t-SNE), chosen with a fixed seed
    so the same input gives the same picture.
    """
    if method not in LATENT_PROJECTIONS:
        raise ValueError(f"method must be one of {', '.join(LATENT_PROJECTIONS)}, got {method!r}")
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2 or z.size == 0:
        raise DataError(f"z must be a non-empty (N, d) array, got shape {z.shape}")
    if not np.isfinite(z).all():
        raise DataError("z contains NaN or inf: the model has likely diverged")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(z),):
            raise DataError(f"labels must have shape ({len(z)},), got {labels.shape}")

    n_total, d = z.shape
    # t-SNE's cost grows with the points squared; 2000 already show the clusters.
    limit = _MAX_TSNE_POINTS if method == "tsne" and d > 2 else _MAX_LATENT_POINTS
    if n_total > limit:
        keep = np.sort(np.random.default_rng(0).choice(n_total, limit, replace=False))
        z = z[keep]
        labels = labels[keep] if labels is not None else None
        title = f"{title} ({limit} of {n_total} points)"
    if d > 2:
        title = f"{title}, {'t-SNE' if method == 'tsne' else 'PCA'} of {d}-D"
    xy, xlabel, ylabel = _project_2d(z, method)

    size = float(np.clip(6000.0 / len(xy), 4.0, 30.0))  # smaller dots as they crowd
    fig = _new_figure(6.8, 5.2)
    ax = fig.subplots()
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=size, alpha=0.7, color="C0", linewidths=0)
    else:
        classes, codes = np.unique(labels, return_inverse=True)
        if len(classes) <= _MAX_DISCRETE_CLASSES:
            palette = colormaps["tab10" if len(classes) <= 10 else "tab20"]
            for i, cls in enumerate(classes):
                mask = codes == i
                ax.scatter(
                    xy[mask, 0], xy[mask, 1], s=size, alpha=0.7,
                    color=palette(i), linewidths=0, label=str(cls),
                )
            # Outside the axes so the legend never hides points.
            ax.legend(
                title="label", loc="upper left", bbox_to_anchor=(1.02, 1.0),
                markerscale=max(1.0, 30.0 / size) ** 0.5, fontsize="small",
            )
        else:
            # Many classes or a continuous target: numbers on a colour scale.
            numeric = np.issubdtype(labels.dtype, np.number)
            values = labels.astype(np.float64) if numeric else codes
            points = ax.scatter(
                xy[:, 0], xy[:, 1], s=size, alpha=0.7, c=values, cmap="viridis", linewidths=0
            )
            fig.colorbar(points, ax=ax, label="label" if numeric else "label (index)")
    if d == 1:
        ax.set_yticks([])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return _save_figure(fig, path)


# --------------------------------------------------------------------------- anomaly scores


def plot_score_histogram(
    scores: np.ndarray, threshold: float, path: PathLike, labels: np.ndarray | None = None
) -> Path:
    """Histogram of anomaly scores with the threshold; split by label (1 = anomaly) when given."""
    scores = np.asarray(scores, dtype=np.float64)
    fig = _new_figure(6.0, 3.6)
    ax = fig.add_subplot()
    finite = scores[np.isfinite(scores)]
    lo, hi = (np.percentile(finite, [0.5, 99.5]) if len(finite) else (0.0, 1.0))
    hi = max(hi, threshold, lo + 1e-9)
    lo = min(lo, threshold)
    bins = np.linspace(lo, hi, 60)
    shown = np.clip(scores, lo, hi)  # the tails land in the end bins instead of stretching the axis
    if labels is None:
        ax.hist(shown, bins=bins, color="tab:blue", alpha=0.8, label="rows")
    else:
        labels = np.asarray(labels)
        ax.hist(shown[labels == 0], bins=bins, color="tab:blue", alpha=0.6, label="normal (label 0)")
        ax.hist(shown[labels == 1], bins=bins, color="tab:red", alpha=0.6, label="anomaly (label 1)")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.4g}")
    ax.set_xlabel("anomaly score (higher = more anomalous)")
    ax.set_ylabel("rows")
    ax.legend(frameon=False, fontsize=8)
    return _save_figure(fig, path)


def plot_roc_pr(labels: np.ndarray, scores: np.ndarray, *, roc_path: PathLike, pr_path: PathLike) -> tuple[Path, Path]:
    """ROC and precision-recall curves of anomaly scores against 0/1 labels (1 = anomaly)."""
    from sklearn.metrics import (  # noqa: PLC0415 - lazy: sklearn is slow to import
        average_precision_score,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    labels = np.asarray(labels)
    fpr, tpr, _ = roc_curve(labels, scores)
    fig = _new_figure(4.2, 4.0)
    ax = fig.add_subplot()
    ax.plot(fpr, tpr, color="tab:red", label=f"ROC-AUC {roc_auc_score(labels, scores):.3f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(frameon=False, loc="lower right")
    roc = _save_figure(fig, roc_path)

    precision, recall, _ = precision_recall_curve(labels, scores)
    fig = _new_figure(4.2, 4.0)
    ax = fig.add_subplot()
    ax.plot(recall, precision, color="tab:red", label=f"average precision {average_precision_score(labels, scores):.3f}")
    ax.axhline(labels.mean(), color="grey", linestyle=":", label=f"chance ({labels.mean():.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=False, loc="upper right")
    return roc, _save_figure(fig, pr_path)


# --------------------------------------------------------------------------- time series

_MAX_SERIES_LINES = 6  # more value columns than this are drawn as their median and a band, not one line each
_SCALE_RATIO = 10.0  # columns whose ranges differ more than this are drawn standardized, else the small ones look flat


def plot_series_scores(
    times: np.ndarray | None,
    values: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    path: PathLike,
    *,
    labels: np.ndarray | None = None,
    columns: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """A series over its anomaly scores, flagged readings shaded, labelled anomalies marked.

    Top panel: the readings, one line per value column (named in the legend);
    more than six columns, or columns whose ranges differ more than tenfold,
    are drawn standardized (median 0, IQR-based unit), and more than six as
    their median with a 10-90% band. Bottom panel: the score, with the
    threshold dashed. Readings scoring above the threshold are shaded red over
    both panels, runs of them merged into spans; runs of ``labels == 1`` are an
    orange bar along the top of the series panel. Each kind of span is one
    collection, not a shape per reading: 25,000 readings draw in about a second.

    Parameters
    ----------
    times:
        ``(N,)`` datetime64 (dates on the axis) or numbers; None numbers the readings.
    values:
        ``(N, C)`` or ``(N,)`` readings.
    scores:
        ``(N,)`` anomaly scores, higher = more anomalous; NaN is not drawn.
    threshold:
        Readings scoring above it are flagged.
    labels:
        ``(N,)`` 0/1, 1 = a labelled anomaly.
    columns:
        The ``C`` column names; default ``value`` or ``x0, x1, ...``.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[:, None] if values.ndim == 1 else values  # (N, C)
    scores = np.asarray(scores, dtype=np.float64)
    n = len(values)
    if values.ndim != 2 or n == 0 or scores.shape != (n,):
        raise DataError(
            f"values {values.shape} and scores {scores.shape} do not match; pass (N, C) readings and (N,) scores"
        )
    x = np.arange(n) if times is None else np.asarray(times)
    if x.shape != (n,) or (labels is not None and np.shape(labels) != (n,)):
        raise DataError(f"times and labels need one entry per reading ({n}); pass them in the readings' order")
    if columns is None:
        columns = ["value"] if values.shape[1] == 1 else [f"x{j}" for j in range(values.shape[1])]
    if len(columns) != values.shape[1]:
        raise DataError(f"{len(columns)} column names for {values.shape[1]} value columns; pass one name per column")

    fig = _new_figure(11.0, 5.5)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    ylabel = _draw_series(top, x, values, list(columns))
    edges = _reading_edges(x)  # (N + 1,) each reading's span on the time axis
    flagged = _mask_spans(scores > threshold)
    for ax in (top, bottom):
        # The edge line keeps a single flagged reading visible when it is narrower than a pixel.
        _shade_spans(ax, edges, flagged, 0.0, 1.0, facecolor="tab:red", edgecolor="tab:red", linewidth=0.5, alpha=0.2,
                     label=f"score > threshold ({int(np.sum(scores > threshold))} readings)" if ax is bottom else None)
    if labels is not None:
        _shade_spans(top, edges, _mask_spans(np.asarray(labels) == 1), 0.94, 1.0, color="tab:orange", alpha=0.9,
                     label="labelled anomaly")
    top.set_ylabel(ylabel)
    # Legends outside on the right: inside, they would hide the readings or the labelled-anomaly bar.
    top.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))

    bottom.plot(x, scores, color="black", linewidth=0.7, label="anomaly score")
    bottom.axhline(threshold, color="tab:red", linestyle="--", linewidth=1.0, label=f"threshold {threshold:.4g}")
    finite = scores[np.isfinite(scores)]
    lo, hi = min(finite.min(initial=threshold), threshold), max(finite.max(initial=threshold), threshold)
    pad = 0.05 * (hi - lo) if hi > lo else 1.0
    bottom.set_ylim(lo - pad, hi + pad)
    bottom.set_ylabel("anomaly score")
    bottom.set_xlabel("reading" if times is None else "time")
    bottom.set_xlim(edges[0], edges[-1])
    if x.dtype.kind == "M":  # dates: matplotlib's default labels overlap on a wide span
        locator = AutoDateLocator()
        bottom.xaxis.set_major_locator(locator)
        bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    bottom.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title is None:
        title = f"{len(flagged)} flagged span(s), {int(np.sum(scores > threshold))} of {n} readings above the threshold"
        if labels is not None:
            title += f"; {len(_mask_spans(np.asarray(labels) == 1))} labelled anomaly window(s)"
    top.set_title(title)
    return _save_figure(fig, path)


def _mask_spans(mask: np.ndarray) -> np.ndarray:
    """Runs of True in a 0/1 mask as ``(K, 2)`` int64 ``[start, end)`` row ranges, in order."""
    padded = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    change = np.nonzero(padded[1:] != padded[:-1])[0]  # rises and falls alternate
    return change.reshape(-1, 2).astype(np.int64)


def _reading_edges(x: np.ndarray) -> np.ndarray:
    """``(N + 1,)`` boundaries halfway between readings, so one flagged reading still shades a visible span."""
    if len(x) == 1:
        step = np.timedelta64(1, "s") if x.dtype.kind == "M" else 1
        return np.array([x[0] - step / 2, x[0] + step / 2])
    half = (x[1:] - x[:-1]) / 2  # (N - 1,)
    return np.concatenate([[x[0] - half[0]], x[:-1] + half, [x[-1] + half[-1]]])


def _shade_spans(ax, edges: np.ndarray, spans: np.ndarray, bottom: float, top: float, **style) -> None:
    """Shade ``[start, end)`` reading spans from ``bottom`` to ``top`` (axes fraction) as one collection."""
    if len(spans) == 0:
        return
    left, right = edges[spans[:, 0]], edges[spans[:, 1]]
    # fill_between draws each run of where=True as its own polygon: (left, right, right) with a False
    # third point gives one rectangle per span in a single PolyCollection, however many spans there are.
    xs = np.stack([left, right, right], axis=1).ravel()
    where = np.tile([True, True, False], len(spans))
    style.setdefault("linewidth", 0)
    ax.fill_between(xs, bottom, top, where=where, transform=ax.get_xaxis_transform(), **style)


def _draw_series(ax, x: np.ndarray, values: np.ndarray, columns: list[str]) -> str:
    """The value lines; returns the y label."""
    low, high = np.nanpercentile(values, [1, 99], axis=0)  # (C,) each
    ranges = np.maximum(high - low, 1e-12)
    if values.shape[1] <= _MAX_SERIES_LINES and ranges.max() <= _SCALE_RATIO * ranges.min():
        for j, name in enumerate(columns):
            ax.plot(x, values[:, j], linewidth=0.7, color=f"C{j}", label=name)
        return columns[0] if len(columns) == 1 else "value"
    q25, median, q75 = np.nanpercentile(values, [25, 50, 75], axis=0)
    scale = np.where(q75 > q25, (q75 - q25) / 1.349, ranges)  # the IQR of a Gaussian is 1.349 sigma
    z = (values - median) / scale  # (N, C)
    if values.shape[1] <= _MAX_SERIES_LINES:
        for j, name in enumerate(columns):
            ax.plot(x, z[:, j], linewidth=0.7, color=f"C{j}", label=name)
    else:
        band = np.nanpercentile(z, [10, 50, 90], axis=1)  # (3, N)
        ax.fill_between(x, band[0], band[2], color="tab:blue", alpha=0.25, linewidth=0,
                        label=f"10-90% of the {values.shape[1]} columns")
        ax.plot(x, band[1], linewidth=0.7, color="tab:blue", label="median column")
    return "value (standardized per column)"
