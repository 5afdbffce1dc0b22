"""Export a trained model as two ONNX graphs: the encoder and the decoder.

``encoder.onnx`` maps x to the posterior's ``mu`` and ``logvar``;
``decoder.onnx`` maps z to the parameters of p(x|z) (``logits`` for the
Bernoulli likelihood, ``mean`` and ``std`` for the Gaussian ones). Both have
a dynamic batch dimension. Sampling stays outside the graphs, so any runtime
can draw z = mu + exp(logvar / 2) * eps and x ~ p(x|z) with its own random
numbers; ``model.json`` says which outputs mean what. ONNX needs the
``onnx`` extra: ``pip install 'vaekit[onnx]'``.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from vaekit.errors import ConfigError, MissingExtraError, RunDirError
from vaekit.files import atomic_write, atomic_write_via_path
from vaekit.likelihoods import BernoulliLikelihood, GaussianLikelihood, Likelihood

ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"
DESCRIPTION_FILE = "model.json"
EXPORT_FILES = (ENCODER_FILE, DECODER_FILE, DESCRIPTION_FILE)
OPSET = 18  # the torch exporter's own target; onnxruntime >= 1.14 runs it

#: Decoder outputs per likelihood class: their names and how to get them from
#: the decoder's raw output. Subclasses (the learned Gaussian) use their base's entry.
DECODER_OUTPUTS: dict[type[Likelihood], tuple[tuple[str, ...], Callable[[Likelihood, Tensor], tuple[Tensor, ...]]]] = {
    BernoulliLikelihood: (("logits",), lambda lik, params: (params,)),
    GaussianLikelihood: (("mean", "std"), lambda lik, params: (params, lik.std(params))),
}

_SAMPLING = {
    "logits": "x ~ Bernoulli(sigmoid(logits)); E[x|z] = sigmoid(logits)",
    "mean": "x ~ Normal(mean, std) per feature; E[x|z] = mean",
}


def _decoder_outputs(likelihood: Likelihood):
    for klass in type(likelihood).__mro__:
        if klass in DECODER_OUTPUTS:
            return DECODER_OUTPUTS[klass]
    raise ConfigError(f"the {likelihood.name!r} likelihood has no ONNX export yet; choose one of those in DECODER_OUTPUTS")


class _Encoder(nn.Module):
    """x (B, *shape) -> mu (B, Z), logvar (B, Z)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.model.encode(x)


class _Decoder(nn.Module):
    """z (B, Z) -> the parameters of p(x|z), each (B, *shape)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.outputs = _decoder_outputs(model.likelihood)[1]

    def forward(self, z: Tensor) -> tuple[Tensor, ...]:
        return self.outputs(self.model.likelihood, self.model.decoder(z))


def _require_onnx() -> None:
    if "dynamo" not in inspect.signature(torch.onnx.export).parameters:
        raise MissingExtraError(f"ONNX export needs torch >= 2.6 (this is {torch.__version__}): pip install -U torch")
    try:
        import onnx  # noqa: F401, PLC0415
        import onnxscript  # noqa: F401, PLC0415 - the torch exporter translates with it
    except ImportError:
        raise MissingExtraError("ONNX export needs onnx and onnxscript: pip install 'vaekit[onnx]'") from None


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's progress lines and its internal deprecation chatter."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)  # "torchvision is not installed" is not the user's problem
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        registration.setLevel(level)


def _export_graph(module: nn.Module, example: Tensor, path: Path, input_name: str, output_names: tuple[str, ...]) -> None:
    batch = torch.export.Dim("batch")
    with _quiet_exporter():
        # dynamo=True (torch.export) is the supported exporter; the TorchScript one is deprecated.
        # external_data=False keeps each graph one file: a VAE is far below ONNX's 2 GB limit.
        atomic_write_via_path(
            path,
            lambda tmp: torch.onnx.export(
                module.eval(), (example,), tmp, input_names=[input_name], output_names=list(output_names),
                dynamic_shapes={input_name: {0: batch}}, opset_version=OPSET, dynamo=True,
                external_data=False, verbose=False,
            ),
        )


def describe(model: nn.Module) -> dict[str, Any]:
    """What ``model.json`` holds: the graphs' inputs and outputs and how to sample."""
    shape = list(model.input_shape)
    latent = model.latent_dim
    names = _decoder_outputs(model.likelihood)[0]
    return {
        "format": "vaekit-onnx",
        "likelihood": model.likelihood.name,
        "input_shape": shape,
        "latent_dim": latent,
        "encoder": {
            "file": ENCODER_FILE,
            "inputs": {"x": ["batch", *shape]},
            "outputs": {"mu": ["batch", latent], "logvar": ["batch", latent]},
        },
        "decoder": {
            "file": DECODER_FILE,
            "inputs": {"z": ["batch", latent]},
            "outputs": {name: ["batch", *shape] for name in names},
        },
        "sampling": {
            "posterior": "z = mu + exp(0.5 * logvar) * eps, eps ~ N(0, I)",
            "prior": f"z ~ N(0, I) of size {latent}",
            "likelihood": _SAMPLING[names[0]],
        },
    }


def export_onnx(model: nn.Module, out: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Write ``encoder.onnx``, ``decoder.onnx`` and ``model.json`` into ``out``.

    Parameters
    ----------
    model
        A trained model (``encode``, ``decoder``, ``likelihood``), e.g. from ``vaekit.load``.
    out
        Folder to write (created if missing).
    overwrite
        Replace files of an earlier export.

    Returns
    -------
    list[Path]
        The three files written.

    Raises
    ------
    MissingExtraError
        ``onnx`` or ``onnxscript`` is not installed.
    RunDirError
        ``out`` is a file, or already holds an export and ``overwrite`` is false.
    """
    _require_onnx()
    if getattr(model, "flow", None) is not None:
        raise ConfigError("ONNX export covers Gaussian posteriors; this model's posterior is an IAF flow")
    if getattr(model, "conditional", False):
        # Its encoder and decoder also take the label: a graph of x alone would be wrong.
        raise ConfigError(
            f"ONNX export covers unconditional models; this is a {model.name} model, whose networks also take the label"
        )
    if not getattr(model, "exportable", True):
        raise ConfigError(f"ONNX export does not cover model '{model.name}' (its decoder is more than one network of z)")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out {out} is a file; give a folder for {', '.join(EXPORT_FILES)}")
    existing = [name for name in EXPORT_FILES if (out / name).exists()]
    if existing and not overwrite:
        raise RunDirError(f"{out} already holds {', '.join(existing)}; pass --overwrite to replace them")
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    names = _decoder_outputs(model.likelihood)[0]
    # Batch 2, not 1: torch.export specialises a dimension of size 1 to a constant.
    x = torch.zeros(2, *model.input_shape, device=next(model.parameters()).device)
    z = torch.zeros(2, model.latent_dim, device=x.device)
    _export_graph(_Encoder(model), x, out / ENCODER_FILE, "x", ("mu", "logvar"))
    _export_graph(_Decoder(model), z, out / DECODER_FILE, "z", names)
    atomic_write(out / DESCRIPTION_FILE, lambda f: json.dump(describe(model), f, indent=2), mode="w")
    return [out / name for name in EXPORT_FILES]
