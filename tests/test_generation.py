"""Sample-quality metrics: FID, precision, recall, density, coverage, and the feature spaces they use."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from vaekit.classifier import load_classifier, save_classifier, train_classifier
from vaekit.errors import DataError, MissingExtraError
from vaekit.generation import feature_space, generation_metrics


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8)
    return x, data.target


def test_fid_is_zero_for_a_set_against_itself_and_grows_with_a_shift(digits):
    x, _ = digits
    same = generation_metrics(x, x)
    assert same["fid"] == pytest.approx(0.0, abs=1e-3)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    shifts = [generation_metrics(np.clip(x + s, 0, 1), x)["fid"] for s in (0.05, 0.2)]
    assert 0 < shifts[0] < shifts[1]


def test_precision_falls_with_noise_and_recall_with_dropped_modes(digits):
    x, y = digits
    half, other = x[::2], x[1::2]
    clean = generation_metrics(other, half)
    noisy = generation_metrics(np.clip(other + np.random.default_rng(0).normal(0, 0.3, other.shape), 0, 1), half)
    zeros = generation_metrics(other[y[1::2] == 0], half)  # one class of ten: faithful but not diverse
    assert clean["precision"] > 0.8 and clean["recall"] > 0.8
    assert noisy["precision"] < clean["precision"] - 0.3 and noisy["density"] < clean["density"]
    assert zeros["recall"] < clean["recall"] - 0.3 and zeros["coverage"] < clean["coverage"] - 0.3
    assert zeros["precision"] > 0.8
    assert clean["fid"] < noisy["fid"] and clean["fid"] < zeros["fid"]
    assert clean["features"] == {"name": "raw"} and clean["n_samples"] == len(other)


def test_a_classifier_feature_space_is_saved_hashed_and_used(digits, tmp_path):
    x, y = digits
    model, accuracy = train_classifier(x, y, epochs=8)
    assert accuracy > 0.8
    save_classifier(model, tmp_path / "clf", {"data": "digits", "accuracy": accuracy})
    loaded, record = load_classifier(tmp_path / "clf")
    assert len(record["sha256"]) == 64 and record["data"] == "digits"
    np.testing.assert_allclose(loaded.features(x[:5]).numpy(), model.features(x[:5]).numpy())
    report = generation_metrics(x[1::2], x[::2], f"classifier:{tmp_path / 'clf'}")
    assert report["features"]["sha256"] == record["sha256"] and report["features"]["name"] == "classifier"
    worse = generation_metrics(np.clip(x[1::2] + 0.3, 0, 1), x[::2], f"classifier:{tmp_path / 'clf'}")
    assert report["fid"] < worse["fid"]
    with pytest.raises(DataError, match=r"takes samples of shape \(1, 8, 8\)"):
        generation_metrics(np.zeros((20, 3)), np.zeros((20, 3)), f"classifier:{tmp_path / 'clf'}")


def test_metric_inputs_are_checked(digits, tmp_path):
    x, _ = digits
    with pytest.raises(DataError, match="cannot be compared"):
        generation_metrics(x[:50, :, :4], x[:50])
    with pytest.raises(DataError, match="need more than 5"):
        generation_metrics(x[:3], x)
    with pytest.raises(DataError, match="unknown feature space"):
        feature_space("pixels", (1, 8, 8))
    with pytest.raises(Exception, match="vaekit train-classifier"):
        feature_space(f"classifier:{tmp_path}", (1, 8, 8))


def test_inception_features_without_the_package_or_weights_say_how_to_get_them(monkeypatch):
    import vaekit.generation as generation

    def offline(**kwargs):
        raise OSError("could not download https://github.com/.../pt_inception-2015-12-05-6726825d.pth")

    try:
        import torchmetrics.image.fid as fid
    except ImportError:  # pragma: no cover - torchmetrics is a dependency
        pytest.skip("torchmetrics is missing")
    monkeypatch.setattr(fid, "NoTrainInceptionV3", offline)
    with pytest.raises(MissingExtraError, match=r"torch-fidelity.*--inception-weights FILE.*could not download"):
        generation.feature_space("inception", (1, 28, 28))
