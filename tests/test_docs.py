"""The documentation site: mkdocs.yml, docs/site, docs/hooks.

The slow test builds the site strictly (a broken link, reference or missing
docstring fails the build) and checks that the generated pages follow the code:
every subcommand of the parser in the CLI reference, the docstrings on the API page.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import vaekit
from vaekit.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def _subcommand_paths(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths.append((*path, name))
                paths += _subcommand_paths(sub, (*path, name))
    return paths


def test_every_public_name_method_and_property_has_a_docstring():
    pytest.importorskip("mkdocs", reason="mkdocs is not installed: pip install -e '.[docs]' (make docs does)")
    spec = importlib.util.spec_from_file_location("api_reference", ROOT / "docs" / "hooks" / "api_reference.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    missing = hook.missing_docstrings() + hook.undocumented_methods()
    assert not missing, f"public names without a docstring (the docs build fails on them): {missing}"

    class Undocumented:
        def method(self):
            pass

    vaekit.Undocumented = Undocumented  # the check is not vacuous: a bare public method is caught
    vaekit.__all__.append("Undocumented")
    try:
        assert hook.undocumented_methods() == ["vaekit.Undocumented.method"]
        assert hook.missing_docstrings() == ["vaekit.Undocumented"]
    finally:
        vaekit.__all__.remove("Undocumented")
        del vaekit.Undocumented


@pytest.mark.slow
def test_site_builds_strictly_with_generated_cli_and_api(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed: pip install -e '.[docs]' (make docs does)")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

    cli = (site / "cli.html").read_text(encoding="utf-8")
    paths = _subcommand_paths(build_parser())
    assert {"fit-sampler", "train-classifier"} <= {p[0] for p in paths} and ("detect", "fit") in paths
    for path in paths:
        assert f'id="vaekit-{"-".join(path)}"' in cli, f"vaekit {' '.join(path)} is missing from the CLI reference"
    assert "--kl-warmup-epochs" in cli and "--contamination" in cli  # flags come from the parser's actions

    api = (site / "api.html").read_text(encoding="utf-8")
    first_line = vaekit.train.__doc__.strip().splitlines()[0]  # "Train a model and, when ``out`` is given, ..."
    assert first_line.split("``")[0] in api
    for name in ("VAE", "VAETransformer", "VAEAnomalyDetector", "load"):
        assert f"vaekit.{name}" in api

    assert (site / "javascripts" / "tex-svg.js").is_file(), "MathJax must be served by the site itself"
    assert 'class="arithmatex"' in (site / "models.html").read_text(encoding="utf-8")
    for page in ("generation", "dimensionality-reduction", "anomaly-detection", "semi-supervised"):
        html = (site / "uses" / f"{page}.html").read_text(encoding="utf-8")
        script = ROOT / "examples" / f"{page.replace('-', '_')}.py"
        if script.is_file():  # the example script is rendered into its page
            assert f"examples/{script.name}" in html and "Example not available" not in html
