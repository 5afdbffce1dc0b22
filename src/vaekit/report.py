"""``report.html``: one self-contained page that shows a run.

The page holds the evaluation numbers, the training curves, samples,
reconstructions, the latent scatter, the traversals and the config. Images
are embedded as base64 data URIs and the CSS is inline, so the file opens
offline, from an e-mail or a CI artifact, with no network, no script and no
companion files. Training writes it from the pictures it just drew
(:func:`write_report`); ``vaekit report`` draws them again from the saved
model and data (:func:`vaekit.runs.regenerate_report`). This module only
renders: it reads no run folder and loads no model.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any, Sequence

from vaekit.files import atomic_write

REPORT_FILE = "report.html"

#: The pictures a report shows, in order: file name, heading, what to look for.
SECTIONS = (
    ("curves.png", "Training curves", "Loss, reconstruction and KL per epoch; train solid, validation dashed."),
    ("samples.png", "Samples", "Decoded draws from the prior."),
    ("samples_gmm.png", "Samples from the fitted mixture",
     "Decoded draws from a 10-component Gaussian mixture fitted to the training codes (sample --sampler gmm)."),
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
