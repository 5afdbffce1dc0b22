"""How good are a model's samples: FID, precision, recall, density and coverage against the data.

Every metric compares two sets in a feature space, named in the result:

- ``raw``: the values themselves (small tables and vectors);
- ``classifier:DIR``: the penultimate layer of a classifier trained on the
  data's labels (:mod:`vaekit.classifier`, ``vaekit train-classifier``); the
  result records its weights' SHA-256, since scores compare only within one
  feature network;
- ``inception``: the standard Inception-v3 FID features (torchmetrics with
  torch-fidelity; the weights are downloaded once, or read from a local file).

The metrics come from maintained implementations: torchmetrics'
``FrechetInceptionDistance`` (Heusel et al. 2017; fed the features through an
identity extractor, so any feature space works) and the ``prdc`` package
(precision and recall: Kynkäänniemi et al. 2019; density and coverage: Naeem
et al. 2020; k = 5 nearest neighbours as in Naeem et al.).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vaekit.classifier import load_classifier
from vaekit.errors import DataError, MissingExtraError

NEAREST_K = 5
INCEPTION_BATCH = 64


class _Features(nn.Identity):
    """What torchmetrics' FID is given as its "Inception": the features are already computed."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features


def feature_space(spec: str, input_shape: tuple[int, ...], inception_weights: str | None = None):
    """``(features(x) -> (N, F) array, record)`` for the feature space ``spec`` (raw, classifier:DIR, inception)."""
    if spec == "raw":
        return (lambda x: np.asarray(x, dtype=np.float64).reshape(len(x), -1)), {"name": "raw"}
    if spec.startswith("classifier:"):
        classifier, record = load_classifier(spec.split(":", 1)[1])
        if tuple(record["input_shape"]) != tuple(input_shape):
            raise DataError(
                f"the feature classifier takes samples of shape {tuple(record['input_shape'])}, "
                f"these are {tuple(input_shape)}; train one on this data with vaekit train-classifier"
            )
        info = {"name": "classifier", "path": spec.split(":", 1)[1], "sha256": record["sha256"]}
        info.update({k: record[k] for k in ("data", "accuracy") if k in record})
        return (lambda x: classifier.features(torch.as_tensor(x)).double().numpy()), info
    if spec == "inception":
        network = _inception(inception_weights)
        return (lambda x: _inception_features(network, x)), {"name": "inception-v3-compat", "features": 2048}
    raise DataError(f"unknown feature space {spec!r}; use raw, classifier:DIR or inception")


def generation_metrics(
    samples: np.ndarray | Tensor,
    data: np.ndarray | Tensor,
    features: str = "raw",
    *,
    nearest_k: int = NEAREST_K,
    inception_weights: str | None = None,
) -> dict[str, Any]:
    """FID, precision, recall, density and coverage of ``samples`` against ``data`` in ``features``.

    Lower FID is better (0: the same Gaussian statistics); precision is the
    share of samples inside the data's manifold (fidelity), recall the share
    of data inside the samples' (diversity); density and coverage are their
    outlier-robust versions. ``samples`` and ``data`` have the same sample shape.
    """
    samples, data = np.asarray(samples, dtype=np.float32), np.asarray(data, dtype=np.float32)
    if samples.shape[1:] != data.shape[1:]:
        raise DataError(f"samples of shape {samples.shape[1:]} cannot be compared with data of shape {data.shape[1:]}")
    if min(len(samples), len(data)) <= nearest_k:
        raise DataError(f"need more than {nearest_k} samples and data rows to compare them, got {len(samples)} and {len(data)}")
    extract, info = feature_space(features, data.shape[1:], inception_weights)
    real, fake = extract(data), extract(samples)  # (N, F), (M, F)
    try:
        import prdc  # noqa: PLC0415 - loaded only when sample quality is measured
        from torchmetrics.image.fid import FrechetInceptionDistance  # noqa: PLC0415 - as above, slow to import
    except ImportError as exc:
        raise MissingExtraError(f"sample-quality metrics need {exc.name}: pip install torchmetrics prdc") from None
    fid = FrechetInceptionDistance(feature=_Features(real.shape[1]))
    fid.update(torch.from_numpy(real), real=True)
    fid.update(torch.from_numpy(fake), real=False)
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints its set sizes: stdout may be a JSON report
        scores = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=nearest_k)
    return {
        "fid": float(fid.compute()),
        **{key: float(scores[key]) for key in ("precision", "recall", "density", "coverage")},
        "features": info, "n_samples": len(samples), "n_data": len(data), "nearest_k": nearest_k,
    }


def _inception(weights: str | None) -> nn.Module:
    message = (
        "--features inception needs torch-fidelity (pip install torch-fidelity) and the FID Inception weights "
        "(pt_inception-2015-12-05-6726825d.pth: downloaded on first use where the network allows, "
        "or give the file with --inception-weights FILE)"
    )
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3  # noqa: PLC0415 - optional, heavy: only when asked for
    except ImportError:
        raise MissingExtraError(message) from None
    try:
        return NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=weights)
    except (ModuleNotFoundError, OSError, RuntimeError, ValueError) as exc:  # no package, no network, a bad file
        raise MissingExtraError(f"{message}; failed with: {str(exc).splitlines()[0][:120]}") from None


@torch.no_grad()
def _inception_features(network: nn.Module, x: np.ndarray) -> np.ndarray:
    """Images in [0, 1] as the uint8 RGB the FID network takes (grey repeated), then its 2048 features."""
    out = np.empty((len(x), 2048))
    for start in range(0, len(x), INCEPTION_BATCH):
        batch = torch.as_tensor(x[start : start + INCEPTION_BATCH])
        if batch.ndim != 4 or batch.shape[1] not in (1, 3):
            raise DataError(f"inception features need images (N, 1 or 3, H, W), got shape {tuple(x.shape)}")
        pixels = (batch.clamp(0, 1) * 255).round().to(torch.uint8).expand(-1, 3, -1, -1)  # (B, 3, H, W)
        out[start : start + len(batch)] = network(pixels).reshape(len(batch), -1).double().numpy()
    return out
