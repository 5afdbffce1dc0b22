"""MkDocs hook: the Python API page (api.md), from ``vaekit.__all__`` and the docstrings.

Every public name gets a mkdocstrings section, so a name added to the API
appears without editing a page. The build fails (PluginError) when a public
class or function, or a public method or property of a public class, has no
docstring of its own (a dataclass's generated ``Name(field=...)`` does not
count).
"""

from __future__ import annotations

import inspect

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

import vaekit

#: Modules documented whole below the top-level names: the parts a user extends or calls directly.
MODULES = (
    ("vaekit.samplers", "Latent samplers fitted to the training codes"),
    ("vaekit.generation", "Sample-quality metrics"),
    ("vaekit.evaluation", "Evaluation"),
    ("vaekit.timeseries", "Time series: reading, windows, scaling"),
    ("vaekit.range_metrics", "Range-aware anomaly metrics (VUS)"),
    ("vaekit.priors", "Priors"),
    ("vaekit.likelihoods", "Likelihoods"),
    ("vaekit.objectives", "Objectives"),
    ("vaekit.config", "Configuration"),
)


def _own_doc(obj) -> str:
    doc = obj.__doc__ or ""
    if inspect.isclass(obj) and doc.startswith(f"{obj.__name__}("):  # dataclass's generated signature
        return ""
    return doc.strip()


def missing_docstrings() -> list[str]:
    """Public names (``vaekit.__all__``) that are classes or functions without a docstring of their own."""
    missing = []
    for name in vaekit.__all__:
        obj = getattr(vaekit, name)
        if (inspect.isclass(obj) or inspect.isroutine(obj)) and not _own_doc(obj):
            missing.append(f"vaekit.{name}")
    return missing


def undocumented_methods() -> list[str]:
    """Public methods and properties of the public classes without a docstring of their own."""
    found = []
    for name in vaekit.__all__:
        obj = getattr(vaekit, name)
        if not inspect.isclass(obj):
            continue
        for attr, value in vars(obj).items():
            func = getattr(value, "__func__", None) or getattr(value, "fget", None) or value
            if not attr.startswith("_") and inspect.isfunction(func) and not (func.__doc__ or "").strip():
                found.append(f"vaekit.{name}.{attr}")
    return found


def render() -> str:
    out = [
        "# Python API",
        "",
        "Generated from the docstrings when the site is built. `import vaekit` is cheap: the names "
        "below are imported on first use, and torch with them.",
        "",
        "## The `vaekit` namespace",
        "",
    ]
    for name in vaekit.__all__:
        if name == "__version__":
            out += ["### `vaekit.__version__`", "", "The installed version, a string.", ""]
        elif name == "MODELS":
            out += ["### `vaekit.MODELS`", "", "The model registry: `--model` name to `VAE` subclass. "
                    "A family is added to it by defining its class (see the architecture page).", ""]
        else:
            out += [f"::: vaekit.{name}", ""]
    for module, title in MODULES:
        out += [f"## {title}: `{module}`", "", f"::: {module}", "    options:", "      show_root_heading: false", ""]
    return "\n".join(out)


def on_config(config):
    missing = missing_docstrings() + undocumented_methods()
    if missing:
        raise PluginError("public names without a docstring: " + ", ".join(missing))
    return config


def on_files(files: Files, config) -> Files:
    files.append(File.generated(config, "api.md", content=render()))
    return files
