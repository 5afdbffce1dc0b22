"""``report.html``: one self-contained page that shows a run.

The page holds the evaluation numbers, the training curves, samples,
reconstructions, the latent scatter, the traversals and the config. Images
are embedded as base64 data URIs and the CSS is inline, so the file opens
offline, from an e-mail or a CI artifact, with no network, no script and no
companion files. Training writes it from the pictures it just drew
(:func:`write_report`); ``vaekit report`` draws them again from the saved
model and data (:func:`regenerate_report`).
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import tempfile
from pathlib import Path
from typing import Any, Sequence

from vaekit.errors import DataError, ModelFileError, RunDirError
from vaekit.files import atomic_write

REPORT_FILE = "report.html"

#: The pictures a report shows, in order: file name, heading, what to look for.
SECTIONS = (
    ("curves.png", "Training curves", "Loss, reconstruction and KL per epoch; train solid, validation dashed."),
    ("samples.png", "Samples", "Decoded draws from the prior N(0, I)."),
    ("reconstructions.png", "Reconstructions", "Validation inputs, each above its reconstruction."),
    ("latent.png", "Latent space", "Posterior means of the validation data, coloured by label where there are labels."),
    ("traversals.png", "Latent traversals",
     "Row i sweeps latent dimension i from -3 to +3 prior standard deviations, the others held at 0."),
    ("manifold.png", "Latent manifold",
     "The 2-D latent space decoded on a grid spaced by the Gaussian inverse CDF (z1 left to right, z2 bottom to top)."),
)

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2330; background: #f5f6f8; }
header { background: #1d2330; color: #fff; padding: 1.2rem 2rem; }
header h1 { margin: 0; font-size: 1.5rem; }
header p { margin: .3rem 0 0; color: #c5cad3; }
main { max-width: 1100px; margin: 0 auto; padding: 1rem 2rem 3rem; }
section { background: #fff; border-radius: 8px; padding: 1rem 1.4rem; margin: 1rem 0;
          box-shadow: 0 1px 3px rgba(0, 0, 0, .08); }
h2 { font-size: 1.15rem; margin: .2rem 0 .6rem; }
p.note { color: #5a6270; margin: 0 0 .8rem; }
img { max-width: 100%; height: auto; image-rendering: pixelated; border: 1px solid #e3e5e9; }
table { border-collapse: collapse; margin: .4rem 0 .8rem; }
th, td { padding: .25rem .8rem; border-bottom: 1px solid #e3e5e9; text-align: right; font-variant-numeric: tabular-nums; }
th:first-child, td:first-child { text-align: left; }
.bars td { text-align: left; }
.bar { display: inline-block; height: .8rem; background: #3b82f6; vertical-align: middle; }
pre { background: #f0f2f5; padding: .8rem; border-radius: 6px; overflow-x: auto; font-size: .85rem; }
details summary { cursor: pointer; color: #3b5bdb; }
"""


# --------------------------------------------------------------------------- page


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) and abs(value) < 1e6 else f"{value:.4g}"
    return html.escape(str(value))


def _numbers(summary: dict[str, Any]) -> str:
    """The evaluation numbers: ELBO terms by split, then the run's other facts."""
    if not summary:
        return "<p class='note'>No summary.json: this run has no evaluation numbers.</p>"
    splits = [s for s in ("train", "val") if isinstance(summary.get(s), dict)]
    parts = []
    if splits:
        keys = [k for k in ("elbo", "reconstruction", "kl", "loss") if any(k in summary[s] for s in splits)]
        keys += [k for s in splits for k in summary[s] if k not in keys and k != "n"]
        head = "".join(f"<th>{'validation' if s == 'val' else 'train'}</th>" for s in splits)
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td>" + "".join(f"<td>{_fmt(summary[s].get(k, ''))}</td>" for s in splits) + "</tr>"
            for k in dict.fromkeys(keys)
        )
        parts.append(f"<table><tr><th>nats per sample</th>{head}</tr>{rows}</table>")
    facts = {k: v for k, v in summary.items() if k not in splits and not isinstance(v, (dict, list))}
    if facts:
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in facts.items())
        parts.append(f"<table>{rows}</table>")
    kl = summary.get("kl_per_dim")
    if isinstance(kl, list) and kl:
        top = max(max(kl), 1e-12)
        rows = "".join(
            f"<tr><td>z{i + 1}</td><td><span class='bar' style='width:{200 * v / top:.0f}px'></span> {_fmt(float(v))}</td></tr>"
            for i, v in enumerate(kl)
        )
        parts.append(f"<details open><summary>KL per latent dimension (nats)</summary><table class='bars'>{rows}</table></details>")
    return "".join(parts)


def _metrics_table(history: Sequence[dict[str, Any]]) -> str:
    if not history:
        return ""
    columns = list(dict.fromkeys(k for row in history for k in row))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = "".join("<tr>" + "".join(f"<td>{_fmt(row.get(c, ''))}</td>" for c in columns) + "</tr>" for row in history)
    return f"<details><summary>metrics.csv ({len(history)} epochs)</summary><table>{head}{rows}</table></details>"


def render_report(
    title: str,
    config: dict[str, Any],
    summary: dict[str, Any],
    history: Sequence[dict[str, Any]],
    pictures: dict[str, bytes],
) -> str:
    """The report as one HTML string.

    Parameters
    ----------
    title
        Page heading (the run folder's name).
    config
        The run's resolved config, as in ``config.json``.
    summary
        The evaluation numbers, as in ``summary.json`` (may be empty).
    history
        One metrics row per epoch, as in ``metrics.csv``.
    pictures
        PNG bytes by file name (``curves.png``, ...); sections without a
        picture are left out.
    """
    model = config.get("model", {})
    subtitle = (
        f"{model.get('model', 'vae')} · {model.get('arch', '')} · latent_dim {model.get('latent_dim', '?')} · "
        f"{model.get('likelihood', '')} likelihood · data {config.get('data', {}).get('data', '?')}"
    )
    body = [
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header><main>",
        f"<section><h2>Evaluation</h2>{_numbers(summary)}</section>",
    ]
    for name, heading, note in SECTIONS:
        if name not in pictures:
            continue
        data = base64.b64encode(pictures[name]).decode("ascii")
        extra = _metrics_table(history) if name == "curves.png" else ""
        body.append(
            f"<section><h2>{heading}</h2><p class='note'>{html.escape(note)}</p>"
            f"<img src='data:image/png;base64,{data}' alt='{html.escape(heading)}'>{extra}</section>"
        )
    body.append(
        "<section><h2>Config</h2><p class='note'>The resolved settings (config.json); "
        "reusable with <code>vaekit train --config</code>.</p>"
        f"<pre>{html.escape(json.dumps(config, indent=2), quote=False)}</pre></section></main>"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)} · vaekit report</title><style>{_CSS}</style></head><body>"
        + "".join(body)
        + "</body></html>\n"
    )


def write_report(
    path: str | Path,
    *,
    title: str,
    config: dict[str, Any],
    summary: dict[str, Any],
    history: Sequence[dict[str, Any]],
    picture_dir: str | Path,
) -> Path:
    """Write :func:`render_report` of the PNGs in ``picture_dir`` to ``path``, atomically."""
    picture_dir = Path(picture_dir)
    pictures = {name: (picture_dir / name).read_bytes() for name, _, _ in SECTIONS if (picture_dir / name).is_file()}
    page = render_report(title, config, summary, history, pictures)
    return atomic_write(path, lambda f: f.write(page), mode="w")


# --------------------------------------------------------------------------- from a run folder


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """``metrics.csv`` back as one dict per epoch, numbers as floats (empty cells left out)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            row: dict[str, Any] = {}
            for key, text in raw.items():
                if text in ("", None):
                    continue
                try:
                    row[key] = float(text)
                except ValueError:
                    row[key] = text  # e.g. True/False flags
            rows.append(row)
    return rows


def _read_summary(run_dir: Path) -> dict[str, Any]:
    from vaekit.runs import SUMMARY_FILE  # noqa: PLC0415

    path = run_dir / SUMMARY_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ModelFileError(f"{path} is not valid JSON ({str(exc)[:80]}); the run folder is damaged") from None


def regenerate_report(
    run_dir: str | Path,
    *,
    data: str | None = None,
    split: str = "train",
    label_column: str | None = None,
    latent_method: str = "tsne",
    out: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Draw a run's pictures again from its saved model and data, and write its report.

    Parameters
    ----------
    run_dir
        A trained run folder.
    data
        Data spec for reconstructions and the latent scatter; defaults to the
        run's own (``config.json``), whose validation rows are then shown.
    split, label_column
        As for the other commands.
    latent_method
        ``"tsne"`` or ``"pca"`` for latent spaces of more than two dimensions.
    out
        Where to write; ``RUN_DIR/report.html`` by default (always regenerated).
    overwrite
        Replace an existing file at ``out``.

    Returns
    -------
    Path
        The report written.
    """
    import numpy as np  # noqa: PLC0415

    from vaekit.data import split_indices  # noqa: PLC0415
    from vaekit.io import load, load_run_config  # noqa: PLC0415
    from vaekit.runs import METRICS_FILE, load_data_for, write_pictures  # noqa: PLC0415

    run_dir = Path(run_dir)
    # The run's own report is derived from the folder: regenerating it is the point.
    # Any other file is the user's and needs ``overwrite``.
    own = out is None
    out = run_dir / REPORT_FILE if out is None else Path(out)
    if out.exists() and not overwrite and not own:
        raise RunDirError(f"{out} already exists; pass --overwrite to replace it")
    if out.is_dir():
        raise RunDirError(f"{out} is a folder; give a file name ending in .html")
    cfg = load_run_config(run_dir)
    model = load(run_dir)
    spec = data or cfg.data.data
    try:
        dataset = load_data_for(run_dir, spec, split=split, label_column=label_column)
    except DataError as exc:
        if data is not None:
            raise
        # A run trained on an in-memory array keeps no spec of its data.
        raise DataError(f"{exc}; pass the run's data with --data SPEC") from None
    if data is None and split == "train":
        # The run's own data: show its validation rows, as training did.
        _, index = split_indices(len(dataset), cfg.train.val_fraction, cfg.train.seed)
        if not len(index):
            index = np.arange(len(dataset))
    else:
        index = np.arange(len(dataset))
    history = read_metrics(run_dir / METRICS_FILE)
    with tempfile.TemporaryDirectory(prefix="vaekit-report-") as tmp:
        write_pictures(Path(tmp), model, dataset, index, history, latent_method=latent_method)
        out.parent.mkdir(parents=True, exist_ok=True)
        return write_report(
            out, title=run_dir.resolve().name, config=cfg.to_dict(), summary=_read_summary(run_dir),
            history=history, picture_dir=tmp,
        )
