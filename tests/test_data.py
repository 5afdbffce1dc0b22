"""Tests for vaekit.data: every spec form of load_data, its errors, and the helpers."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vaekit.data import ImageSizeWarning, idx, progress
from vaekit.data.dataset import Dataset
from vaekit.data.sources import load_data, split_indices, validate_for_likelihood, write_idx
from vaekit.errors import ConfigError, DataError

SHARED_MNIST = Path(__file__).parents[2] / "shared" / "data" / "mnist"


def write_idx_folder(folder: Path, n: int = 5, gz: bool = True, seed: int = 0) -> dict:
    """Tiny MNIST-like IDX files for both splits; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, (images, labels) in idx.SPLIT_FILES.items():
        arrays[split] = (
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, n, dtype=np.uint8),
        )
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{images}{suffix}", arrays[split][0])
        write_idx(folder / f"{labels}{suffix}", arrays[split][1])
    return arrays


def write_image(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


# --- named datasets --------------------------------------------------------


def test_digits_are_images_in_unit_range_with_int_labels():
    from sklearn.datasets import load_digits

    data = load_data("digits")
    assert data.x.shape == (1797, 1, 8, 8) and data.x.dtype == np.float32
    assert data.x.min() == 0.0 and data.x.max() == 1.0
    np.testing.assert_allclose(data.x[3, 0], load_digits().images[3] / 16)
    assert data.y.dtype == np.int64 and set(data.y) == set(range(10))


def test_digits_has_no_test_split():
    with pytest.raises(DataError, match="digits has no test split"):
        load_data("digits", split="test")


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_local_idx_folder(tmp_path, gz, split):
    arrays = write_idx_folder(tmp_path / "m", gz=gz)
    data = load_data(f"fashion-mnist:{tmp_path / 'm'}", split=split)
    images, labels = arrays[split]
    assert data.x.shape == (5, 1, 28, 28) and data.x.dtype == np.float32
    np.testing.assert_allclose(data.x[:, 0], images / 255.0, rtol=1e-6)
    assert data.y.dtype == np.int64 and np.array_equal(data.y, labels)


def test_idx_reader_rejects_truncated_file(tmp_path):
    write_idx_folder(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="is truncated"):
        load_data(f"mnist:{tmp_path}")


def test_idx_reader_rejects_wrong_magic(tmp_path):
    write_idx_folder(tmp_path)
    # Labels where images should be: magic 2049 instead of 2051.
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(DataError, match="magic number 2049, expected 2051"):
        load_data(f"mnist:{tmp_path}")


def test_idx_reader_rejects_mismatched_counts(tmp_path):
    write_idx_folder(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match=r"counts differ \(5 vs 4\)"):
        load_data(f"mnist:{tmp_path}")


def test_idx_folder_missing_files_or_folder(tmp_path):
    with pytest.raises(DataError, match="has no train-images-idx3-ubyte or train-labels"):
        load_data(f"mnist:{tmp_path}")
    with pytest.raises(DataError, match="no such folder"):
        load_data(f"mnist:{tmp_path / 'absent'}")


def test_write_idx_header_matches_mnist(tmp_path):
    write_idx(tmp_path / "i", np.zeros((2, 3, 4), np.uint8))
    raw = (tmp_path / "i").read_bytes()
    assert int.from_bytes(raw[:4], "big") == idx.IMAGES_MAGIC
    assert len(raw) == 4 + 3 * 4 + 2 * 3 * 4
    assert idx.read_idx(tmp_path / "i").shape == (2, 3, 4)


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason=f"reference MNIST not at {SHARED_MNIST}")
def test_real_mnist_files():
    for filename, md5 in idx.IDX_SOURCES["mnist"].md5.items():
        assert idx.md5_file(SHARED_MNIST / filename) == md5
    train = load_data(f"mnist:{SHARED_MNIST}")
    test = load_data(f"mnist:{SHARED_MNIST}", split="test")
    assert train.x.shape == (60000, 1, 28, 28) and test.x.shape == (10000, 1, 28, 28)
    assert train.x.max() == 1.0 and train.x.min() == 0.0
    assert list(train.y[:5]) == [5, 0, 4, 1, 9]  # the well-known first MNIST labels


# --- downloads (no network: a file:// mirror or a failing urlopen) ----------


@pytest.fixture
def fake_mirror(tmp_path, monkeypatch):
    """Point the mnist source at a local file:// mirror of tiny IDX files."""
    mirror = tmp_path / "mirror"
    arrays = write_idx_folder(mirror)
    md5 = {p.name: idx.md5_file(p) for p in mirror.iterdir()}
    monkeypatch.setitem(idx.IDX_SOURCES, "mnist", idx.IdxSource(mirror.as_uri() + "/", md5))
    return mirror, arrays


def test_download_verifies_and_caches(fake_mirror, tmp_path, monkeypatch):
    mirror, arrays = fake_mirror
    monkeypatch.setenv("VAEKIT_CACHE", str(tmp_path / "cache"))
    data = load_data("mnist", split="test")
    assert np.array_equal(data.y, arrays["test"][1])
    cached = sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir())
    assert cached == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    # Second load must come from the cache: the mirror is gone.
    for p in mirror.iterdir():
        p.unlink()
    assert np.array_equal(load_data("mnist", split="test").y, arrays["test"][1])


def test_download_shows_its_bytes_only_on_a_terminal(fake_mirror, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    load_data("mnist", split="test", cache_dir=tmp_path / "shown")
    err = capsys.readouterr().err
    assert "downloading t10k-images-idx3-ubyte.gz" in err and "downloading t10k-labels-idx1-ubyte.gz" in err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    load_data("mnist", split="test", cache_dir=tmp_path / "quiet")
    assert capsys.readouterr().err == ""


def test_download_checksum_mismatch_leaves_no_file(fake_mirror, tmp_path, monkeypatch):
    source = idx.IDX_SOURCES["mnist"]
    bad_md5 = {name: "0" * 32 for name in source.md5}
    monkeypatch.setitem(idx.IDX_SOURCES, "mnist", idx.IdxSource(source.mirror, bad_md5))
    with pytest.raises(DataError, match="checksum mismatch for file://.*mnist:PATH"):
        load_data("mnist", cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache" / "mnist").iterdir()) == []


def test_download_failure_names_url_and_local_alternative(tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    url = "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz"
    with pytest.raises(DataError, match=f"cannot download {url}.*unreachable.*mnist:PATH"):
        load_data("mnist", cache_dir=tmp_path)
    assert list((tmp_path / "mnist").iterdir()) == []


# --- arrays -----------------------------------------------------------------

rng = np.random.default_rng(0)
U8 = rng.integers(0, 256, (4, 6, 5, 3), dtype=np.uint8)  # (N, H, W, C)


@pytest.mark.parametrize(
    "array, expected",
    [
        (U8[..., 0], U8[:, None, :, :, 0] / 255.0),  # (N, H, W) grayscale
        (U8.transpose(0, 3, 1, 2), U8.transpose(0, 3, 1, 2) / 255.0),  # channels-first
        (U8, U8.transpose(0, 3, 1, 2) / 255.0),  # channels-last
        (U8[..., :1].astype(np.float64) * 3, U8[..., :1].transpose(0, 3, 1, 2) * 3.0),  # floats kept
        (U8[:, :, :, 0].reshape(4, 30) * 2.0, U8[:, :, :, 0].reshape(4, 30) * 2.0),  # vectors
    ],
    ids=["NHW", "NCHW", "NHWC", "float-kept", "vectors"],
)
def test_npy_shapes_and_scaling(tmp_path, array, expected):
    np.save(tmp_path / "a.npy", array)
    data = load_data(str(tmp_path / "a.npy"))
    assert data.x.dtype == np.float32 and data.y is None
    np.testing.assert_allclose(data.x, expected, rtol=1e-6)


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4, 5, 6), (2, 5, 6, 7)])
def test_npy_rejects_unsupported_shapes(tmp_path, shape):
    np.save(tmp_path / "a.npy", np.zeros(shape))
    with pytest.raises(DataError, match=r"has shape .*accepted shapes are \(N, D\)"):
        load_data(str(tmp_path / "a.npy"))


@pytest.mark.parametrize("keys", [("x", "y"), ("X", "Y"), ("only", None)])
def test_npz_keys(tmp_path, keys):
    x, y = np.arange(12.0).reshape(4, 3), np.array([0, 1, 0, 1], np.int32)
    np.savez(tmp_path / "a.npz", **{keys[0]: x, **({keys[1]: y} if keys[1] else {})})
    data = load_data(str(tmp_path / "a.npz"))
    np.testing.assert_array_equal(data.x, x)
    if keys[1]:
        assert data.y.dtype == np.int64 and np.array_equal(data.y, y)
    else:
        assert data.y is None


def test_npz_without_x_key_lists_keys(tmp_path):
    np.savez(tmp_path / "a.npz", a=np.zeros((2, 2)), b=np.zeros((2, 2)))
    with pytest.raises(DataError, match=r"arrays \['a', 'b'\] but none named 'x'"):
        load_data(str(tmp_path / "a.npz"))


# --- tables -----------------------------------------------------------------

FRAME = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4, 5, 6], "kind": ["cat", "dog", "cat"]})


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_with_text_label_column(tmp_path, suffix):
    path = tmp_path / f"t{suffix}"
    FRAME.to_csv(path, index=False) if suffix == ".csv" else FRAME.to_parquet(path)
    data = load_data(str(path), label_column="kind")
    assert data.feature_names == ["a", "b"]
    np.testing.assert_array_equal(data.x, [[1, 4], [2, 5], [3, 6]])
    assert data.x.dtype == np.float32 and list(data.y) == ["cat", "dog", "cat"]


def test_csv_integer_labels_are_int64(tmp_path):
    FRAME.assign(label=[0.0, 1.0, 1.0]).drop(columns="kind").to_csv(tmp_path / "t.csv", index=False)
    data = load_data(str(tmp_path / "t.csv"), label_column="label")
    assert data.y.dtype == np.int64 and list(data.y) == [0, 1, 1]
    assert data.feature_names == ["a", "b"]


def test_csv_text_column_without_label_column(tmp_path):
    FRAME.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match="non-numeric column.*'kind'.*--label-column"):
        load_data(str(tmp_path / "t.csv"))


def test_csv_missing_label_column_lists_columns(tmp_path):
    FRAME.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match="available columns: a, b, kind"):
        load_data(str(tmp_path / "t.csv"), label_column="target")


def test_csv_nan_names_count_and_columns(tmp_path):
    FRAME.assign(b=[4, None, None]).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"has 2 NaN or infinite value\(s\) in column\(s\) b \(2\)"):
        load_data(str(tmp_path / "t.csv"), label_column="kind")


def test_parquet_without_pyarrow(tmp_path, monkeypatch):
    FRAME.to_parquet(tmp_path / "t.parquet")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail
    with pytest.raises(DataError, match=r"needs pyarrow: pip install 'vaekit\[parquet\]'"):
        load_data(str(tmp_path / "t.parquet"))


# --- image folders ----------------------------------------------------------


def test_image_folder_labels_from_subfolders_and_resize(tmp_path):
    write_image(tmp_path / "cat" / "1.png", np.full((4, 6), 255, np.uint8))
    write_image(tmp_path / "cat" / "2.png", np.zeros((8, 12), np.uint8))  # resized to 4x6
    write_image(tmp_path / "dog" / "sub" / "3.bmp", np.full((4, 6), 51, np.uint8))
    with pytest.warns(ImageSizeWarning, match=r"resized 1 of 3 images \(1 other size: 8x12\) to 4x6"):
        data = load_data(str(tmp_path))
    assert data.x.shape == (3, 1, 4, 6)  # grayscale, size of the first image
    np.testing.assert_allclose(data.x[:, 0, 0, 0], [1.0, 0.0, 0.2])
    assert list(data.y) == [0, 0, 1]


def test_image_folder_rgb_and_requested_size(tmp_path):
    write_image(tmp_path / "a.png", np.zeros((5, 5), np.uint8))
    write_image(tmp_path / "b.jpg", np.full((9, 7, 3), (255, 0, 0), np.uint8))
    with pytest.warns(ImageSizeWarning, match="stretching 2 of them"):
        data = load_data(str(tmp_path), image_size=(3, 2))
    assert data.x.shape == (2, 3, 3, 2) and data.y is None  # RGB as one image is colour
    assert data.x[1, 0].min() > 0.9 and data.x[1, 1].max() < 0.1


def test_images_of_other_sizes_are_counted_in_a_warning(tmp_path):
    write_image(tmp_path / "a.png", np.zeros((16, 16), np.uint8))  # the first image: its size is the target
    for i, shape in enumerate([(30, 40), (30, 40), (40, 30), (32, 32), (16, 16)]):
        write_image(tmp_path / f"b{i}.png", np.zeros(shape, np.uint8))
    expected = (
        r"resized 4 of 6 images \(3 other sizes: 30x40, 40x30, 32x32\) to 16x16 \(HxW\), the size of the first "
        r"image, stretching 3 of them to another aspect ratio; choose the size with --image-size H,W; "
        r"--image-fit pad or crop keeps aspect ratios"
    )
    with pytest.warns(ImageSizeWarning, match=expected):
        assert load_data(str(tmp_path)).x.shape == (6, 1, 16, 16)
    with pytest.warns(ImageSizeWarning, match=r"padded 4 of 6 images .* the size of the first image; choose the size"):
        load_data(str(tmp_path), image_fit="pad")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a size asked for, no aspect ratio changed: nothing to say
        load_data(str(tmp_path), image_size=(16, 16), image_fit="crop")
        for f in tmp_path.glob("b[0-2].png"):
            f.unlink()
        load_data(str(tmp_path), image_size=(8, 8))  # 16x16 and 32x32 shrunk, as asked


def test_image_fit_pads_or_crops_keeping_the_aspect_ratio(tmp_path):
    wide = np.zeros((4, 8), np.uint8)
    wide[:, 4:] = 255  # left half black, right half white
    write_image(tmp_path / "wide.png", wide)
    with pytest.warns(ImageSizeWarning, match="stretching 1 of them"):
        stretched = load_data(str(tmp_path), image_size=(8, 8)).x[0, 0]  # (H, W)
    assert stretched[[0, -1]].min(axis=1).tolist() == [0.0, 0.0] and stretched[[0, -1], -1].tolist() == [1.0, 1.0]
    padded = load_data(str(tmp_path), image_size=(8, 8), image_fit="pad").x[0, 0]
    assert np.array_equal(padded[2:6], wide / 255.0)  # the image, unscaled, in the middle rows
    assert not padded[:2].any() and not padded[6:].any()  # black bars above and below
    cropped = load_data(str(tmp_path), image_size=(8, 8), image_fit="crop").x[0, 0]
    # Scaled to 8x16, the centre 8 columns kept: the image's columns 2-5, half black and half white, in every row.
    assert (cropped[:, 0] == 0).all() and (cropped[:, -1] == 1).all()
    assert np.array_equal(cropped, np.repeat(cropped[:1], 8, axis=0))


def test_image_fit_is_checked_and_only_for_image_folders(tmp_path):
    write_image(tmp_path / "a.png", np.zeros((5, 5), np.uint8))
    with pytest.raises(DataError, match="image fit 'stretch' is invalid; use one of resize, pad, crop"):
        load_data(str(tmp_path), image_fit="stretch")
    with pytest.raises(DataError, match="--image-fit applies to image folders, not to digits"):
        load_data("digits", image_fit="pad")


def test_reading_a_folder_shows_progress_only_on_a_terminal(tmp_path, monkeypatch, capsys):
    for i in range(3):
        write_image(tmp_path / f"{i}.png", np.zeros((5, 5), np.uint8))
    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    load_data(str(tmp_path))
    err = capsys.readouterr().err
    assert "scanning images" in err and "reading images" in err and "/3 [" in err
    load_data(str(tmp_path), progress=False)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    load_data(str(tmp_path))
    assert capsys.readouterr().err == ""


def test_image_folder_unreadable_image_named(tmp_path):
    write_image(tmp_path / "a.png", np.zeros((5, 5), np.uint8))
    (tmp_path / "b.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"cannot read image .*b\.png"):
        load_data(str(tmp_path))


def test_empty_image_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("no images")
    with pytest.raises(DataError, match="has no rows"):
        load_data(str(tmp_path))


# --- spec errors and common validation --------------------------------------


def test_unknown_name_missing_file_and_extension(tmp_path):
    with pytest.raises(DataError, match="unknown data 'xyz': expected digits, mnist"):
        load_data("xyz")
    with pytest.raises(DataError, match="no such file: .*absent.csv"):
        load_data(str(tmp_path / "absent.csv"))
    (tmp_path / "a.txt").write_text("1,2")
    with pytest.raises(DataError, match=r"unsupported extension '\.txt'; use \.npy, \.npz"):
        load_data(str(tmp_path / "a.txt"))


def test_options_that_do_not_apply_are_refused(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((3, 2)))
    with pytest.raises(DataError, match="--label-column applies to .csv"):
        load_data(str(tmp_path / "a.npy"), label_column="y")
    with pytest.raises(DataError, match="has no 'test' split"):
        load_data(str(tmp_path / "a.npy"), split="test")
    with pytest.raises(DataError, match="--image-size applies to image folders"):
        load_data("digits", image_size=(8, 8))
    with pytest.raises(DataError, match="unknown split 'valid'"):
        load_data("digits", split="valid")


def test_empty_sources_have_no_rows(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((0, 3)))
    FRAME.iloc[:0].to_csv(tmp_path / "t.csv", index=False)
    for spec, kwargs in [("a.npy", {}), ("t.csv", {"label_column": "kind"})]:
        with pytest.raises(DataError, match="has no rows"):
            load_data(str(tmp_path / spec), **kwargs)


def test_array_nan_and_inf_counted(tmp_path):
    np.save(tmp_path / "a.npy", np.array([[0.0, np.nan], [np.inf, 1.0], [0.5, 0.5]]))
    with pytest.raises(DataError, match=r"has 2 NaN or infinite value\(s\); drop or fill"):
        load_data(str(tmp_path / "a.npy"))


def test_validate_for_likelihood():
    data = Dataset(x=np.array([[-0.5, 2.0], [0.0, 1.0]], np.float32), name="t")
    with pytest.raises(DataError, match=r"values in \[-0.5, 2\].*--likelihood gaussian"):
        validate_for_likelihood(data, "bernoulli")
    validate_for_likelihood(data, "gaussian")
    validate_for_likelihood(Dataset(x=np.array([[0.0, 1.0]], np.float32)), "bernoulli")


# --- split_indices ----------------------------------------------------------


def test_split_indices_partition_and_seed():
    train, val = split_indices(101, 0.2, seed=3)
    assert len(val) == 20 and len(train) == 81
    assert sorted(np.concatenate([train, val])) == list(range(101))
    again, _ = split_indices(101, 0.2, seed=3)
    other, _ = split_indices(101, 0.2, seed=4)
    assert np.array_equal(train, again) and not np.array_equal(train, other)
    train, val = split_indices(7, 0.0, seed=0)
    assert list(train) == list(range(7)) and len(val) == 0


def test_split_indices_too_few_rows():
    with pytest.raises(DataError, match="3 rows are too few .* 0.5: need at least 4;.*--val-fraction 0"):
        split_indices(3, 0.5, seed=0)
    with pytest.raises(DataError, match="need at least 15"):
        split_indices(14, 0.1, seed=0)  # round(1.4) = 1 validation row
    assert len(split_indices(15, 0.1, seed=0)[1]) == 2
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        split_indices(10, 1.0, seed=0)


def test_import_stays_light():
    # The CLI's --help imports vaekit.data; torch and pandas must load only when used.
    code = "import sys, vaekit.data; print(sorted({'torch', 'pandas', 'PIL'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
