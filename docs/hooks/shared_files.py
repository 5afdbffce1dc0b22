"""MkDocs hook: serve what lives outside docs/site without copying it into the source tree.

- every picture under docs/ (``docs/generation/vaekit_gmm.png`` is served as
  ``generation/vaekit_gmm.png``), so the pages and docs/benchmarks.md link to
  the same files the README shows;
- docs/benchmarks.md, docs/architecture.md and docs/kill_resume.md as pages,
  at the same relative places, so their own links still resolve;
- the example scripts (Jupytext percent format): ``<!-- example: examples/NAME.py -->``
  in a page becomes the script, its markdown cells as text and its code cells as
  Python blocks, followed by the pictures it wrote to examples/out/ if they are there;
- MathJax's ``tex-svg.js`` from the django-static-mathjax package (SVG output: no
  web fonts to fetch), so the math renders without a network.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.shared_files")

#: Pages kept in docs/ (read by GitHub visitors too), served by the site as they are.
SHARED_PAGES = ("benchmarks.md", "architecture.md", "kill_resume.md")
EXAMPLE_MARKER = re.compile(r"^<!-- example: (\S+) -->$", re.MULTILINE)


def _root(config) -> Path:
    return Path(config.config_file_path).resolve().parent


def on_files(files: Files, config) -> Files:
    root = _root(config)
    docs = root / "docs"
    site_src = Path(config.docs_dir).resolve()
    for path in sorted(docs.rglob("*.png")):
        if site_src in path.parents:
            continue
        files.append(File.generated(config, path.relative_to(docs).as_posix(), abs_src_path=str(path)))
    for name in SHARED_PAGES:
        files.append(File.generated(config, name, abs_src_path=str(docs / name)))
    for path in sorted((root / "examples" / "out").glob("*.png")):
        files.append(File.generated(config, path.relative_to(root).as_posix(), abs_src_path=str(path)))
    try:
        import mathjax  # noqa: PLC0415 - the docs extra (django-static-mathjax): a clear error when missing
    except ImportError:
        raise PluginError("MathJax is missing: pip install -e '.[docs]' (django-static-mathjax)") from None
    tex_svg = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5" / "tex-svg.js"
    files.append(File.generated(config, "javascripts/tex-svg.js", abs_src_path=str(tex_svg)))
    return files


def on_page_markdown(markdown: str, page, config, files: Files) -> str:
    root = _root(config)
    depth = page.file.src_uri.count("/")  # pages in uses/ link one level up
    return EXAMPLE_MARKER.sub(lambda m: render_example(root, m.group(1), "../" * depth), markdown)


def render_example(root: Path, relpath: str, up: str) -> str:
    """A Jupytext percent-format script as Markdown: text cells as text, code cells as Python."""
    path = root / relpath
    if not path.is_file():
        log.info("example %s is not written yet; the page says so", relpath)
        return f'!!! note "Example not available"\n    `{relpath}` is not in this checkout yet.\n'
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"\A# ---\n(?:#.*\n)*?# ---\n", "", text)  # the Jupytext header
    out = [f"The script `{relpath}` in the repository runs as it is "
           f"(`python {relpath}`) or opens as a notebook with Jupytext.\n"]
    for cell in re.split(r"^# %%", text, flags=re.MULTILINE):
        head, _, body = cell.partition("\n")
        if "[markdown]" in head:
            lines = [re.sub(r"^# ?", "", line) for line in body.strip("\n").splitlines()]
            # The page has its own title: the script's headings go two levels down.
            out.append("\n".join(re.sub(r"^(#+) ", r"##\1 ", line) for line in lines))
        elif body.strip():
            out.append(f"```python\n{body.strip()}\n```")
    pictures = sorted((root / "examples" / "out").glob(f"{path.stem}*.png"))
    if pictures:
        out.append("What it draws, as written to `examples/out/` when the site was built:\n")
        out.append(" ".join(f"![{p.stem}]({up}examples/out/{p.name})" for p in pictures))
    return "\n\n".join(out) + "\n"

