"""vaekit as users install it: a wheel and an sdist with their metadata, installed into a fresh venv."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import vaekit

ROOT = Path(__file__).resolve().parents[1]


def run(*argv, **kwargs) -> str:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=900, **kwargs)
    assert done.returncode == 0, f"{argv}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT)
    return out


@pytest.mark.slow
def test_the_wheel_and_sdist_carry_their_metadata(dist):
    (wheel,), (sdist,) = dist.glob("*.whl"), dist.glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(f"vaekit-{vaekit.__version__}.dist-info/METADATA").decode()
    assert "vaekit/py.typed" in names and "vaekit/cli/__init__.py" in names
    assert not [n for n in names if n.startswith("tests/")]
    for line in ("License-Expression: MIT", "Requires-Python: >=3.10", "Classifier: Typing :: Typed",
                 "Provides-Extra: onnx", "Provides-Extra: all"):
        assert line in meta, line
    assert "Requires-Dist: torch>=2.2" in meta and "Requires-Dist: torchmetrics" in meta
    with tarfile.open(sdist) as t:
        files = {Path(n).name for n in t.getnames()}
    assert {"LICENSE", "README.md", "pyproject.toml", "py.typed"} <= files


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_venv_and_runs_the_demo(dist, tmp_path):
    """The installed package, not this source tree, trains and writes a run: nothing is missing from the wheel."""
    import torch

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    pip, python = venv / "bin" / "pip", venv / "bin" / "python"
    run(pip, "install", "--quiet", f"torch=={torch.__version__.split('+')[0]}")  # the CPU build pinned here
    run(pip, "install", "--quiet", next(dist.glob("*.whl")))
    where = run(python, "-c", "import vaekit; print(vaekit.__file__)", cwd=tmp_path).strip()
    assert Path(where).is_relative_to(venv) and not Path(where).is_relative_to(ROOT)
    names = run(python, "-c", "import vaekit; print(' '.join(n for n in vaekit.__all__ if getattr(vaekit, n) is None))",
                cwd=tmp_path)
    assert names.strip() == ""  # every public name resolves in the installed package
    assert run(venv / "bin" / "vaekit", "--version").strip() == f"vaekit {vaekit.__version__}"
    run(venv / "bin" / "vaekit", "demo", "--epochs", "2", "--out", tmp_path / "demo", "--quiet", cwd=tmp_path)
    assert {"model.safetensors", "samples.png", "summary.json", "report.html"} <= {
        p.name for p in (tmp_path / "demo").iterdir()
    }
