"""Tests for vaekit.images and vaekit.plots: grid geometry, PNG output, figure contents, atomic writes."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vaekit import images, plots
from vaekit.errors import DataError


def constant_images(values, shape=(1, 8, 8)) -> np.ndarray:
    """One constant image per value, ``(len(values), *shape)``."""
    return np.stack([np.full(shape, v, dtype=np.float64) for v in values])


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image)


def grey(value: float) -> int:
    return round(value * 255)


@pytest.fixture
def figures(monkeypatch):
    """Figures the plot functions save, in call order, for inspecting their contents."""
    seen = []
    save = plots._save_figure

    def spy(fig, path):
        seen.append(fig)
        return save(fig, path)

    monkeypatch.setattr(plots, "_save_figure", spy)
    return seen


@pytest.fixture
def out(tmp_path):
    """A folder that, after the test, must hold only the PNGs the test asked for."""
    yield tmp_path
    leftovers = [p.name for p in tmp_path.iterdir() if p.suffix != ".png"]
    assert leftovers == [], f"temporary files left behind: {leftovers}"


# ---------------------------------------------------------------- image_grid


def test_image_grid_shape_follows_rows_columns_and_padding():
    grid = images.image_grid(np.zeros((5, 1, 4, 6)), nrow=3, padding=2)
    # 5 images, 3 per row -> 2 rows x 3 columns; 2 px between and around tiles.
    assert grid.shape == (2 * (4 + 2) + 2, 3 * (6 + 2) + 2)


def test_image_grid_default_is_near_square():
    grid = images.image_grid(np.zeros((10, 1, 8, 8)))
    cols = math.ceil(math.sqrt(10))  # 4 per row -> 3 rows
    assert grid.shape == (3 * 9 + 1, cols * 9 + 1)


def test_image_grid_places_each_image_in_its_tile_and_pads_the_rest():
    values = [0.1, 0.2, 0.3, 0.4, 0.5]
    grid = images.image_grid(constant_images(values, (1, 4, 4)), nrow=2, padding=1, pad_value=0.9)
    for i, value in enumerate(values):
        row, col = divmod(i, 2)
        top, left = 1 + row * 5, 1 + col * 5
        assert np.all(grid[top : top + 4, left : left + 4] == value)
    # Padding lines and the unused sixth cell take pad_value.
    assert np.all(grid[0, :] == 0.9) and np.all(grid[:, 0] == 0.9)
    assert np.all(grid[5, :] == 0.9) and np.all(grid[:, 5] == 0.9)
    assert np.all(grid[11:15, 6:10] == 0.9)


def test_image_grid_rgb_keeps_channels_last():
    batch = np.zeros((2, 3, 4, 4))
    batch[:, 0], batch[:, 1], batch[:, 2] = 0.2, 0.5, 0.8
    grid = images.image_grid(batch, nrow=2, padding=1, pad_value=0.0)
    assert grid.shape == (6, 11, 3)
    np.testing.assert_array_equal(grid[1, 1], [0.2, 0.5, 0.8])
    np.testing.assert_array_equal(grid[2, 8], [0.2, 0.5, 0.8])  # second tile
    np.testing.assert_array_equal(grid[0, 0], [0.0, 0.0, 0.0])


def test_image_grid_clips_values_and_zeroes_nan():
    batch = constant_images([-1.0, 2.0, np.nan], (1, 2, 2))
    grid = images.image_grid(batch, nrow=3, padding=0)
    np.testing.assert_array_equal(grid, np.repeat([[0.0, 1.0, 0.0]], 2, axis=1).repeat(2, axis=0))


@pytest.mark.parametrize("shape", [(8, 8), (2, 8, 8), (2, 2, 8, 8), (0, 1, 8, 8)])
def test_image_grid_rejects_non_image_arrays(shape):
    with pytest.raises(DataError):
        images.image_grid(np.zeros(shape))


# ---------------------------------------------------------------- save_image_grid


@pytest.mark.parametrize(
    ("n", "size", "expected_width"),
    [
        (64, 8, 438),  # 8x8 tiles of 9 px + 1 = 73 px -> x6 = 438 >= 400
        (1, 8, 80),  # 10 px grid would need x40; the cap keeps it at x8
        (1, 500, 502),  # already wide: no upscaling
        (1, 300, 604),  # 302 px -> x2
    ],
)
def test_save_image_grid_upscales_small_grids(out, n, size, expected_width):
    path = images.save_image_grid(np.zeros((n, 1, size, size)), out / "grid.png")
    pixels = read_png(path)
    assert pixels.shape == (expected_width, expected_width)  # square grids stay square


def test_save_image_grid_writes_the_pixels_by_nearest_neighbour(out):
    path = images.save_image_grid(constant_images([0.2]), str(out / "grid.png"), scale=3)
    assert isinstance(path, Path) and path == out / "grid.png"
    pixels = read_png(path)
    assert pixels.shape == (30, 30)
    assert np.all(pixels[:3, :] == 255)  # 1 px white padding -> 3 px
    assert np.all(pixels[3:27, 3:27] == grey(0.2))  # the 8x8 image -> 24x24, one value


def test_save_image_grid_rgb_is_an_rgb_png(out):
    batch = np.zeros((4, 3, 8, 8))
    batch[:, 0] = 1.0  # pure red
    pixels = read_png(images.save_image_grid(batch, out / "rgb.png", nrow=2, scale=2))
    assert pixels.shape == (2 * (2 * 9 + 1), 2 * (2 * 9 + 1), 3)
    np.testing.assert_array_equal(pixels[4, 4], [255, 0, 0])


# ---------------------------------------------------------------- save_reconstruction_grid


def test_reconstruction_grid_puts_each_input_above_its_output(out):
    n_images, n_cols, h = 5, 2, 8
    inputs = constant_images([0.05 * (i + 1) for i in range(n_images)])
    outputs = constant_images([0.5 + 0.05 * (i + 1) for i in range(n_images)])
    pixels = read_png(
        images.save_reconstruction_grid(inputs, outputs, out / "recon.png", n=n_cols, scale=1)
    )
    pair_h = 2 * (h + 1) + 1  # two tile rows with 1 px padding
    band_h = 2
    n_pairs = math.ceil(n_images / n_cols)
    assert pixels.shape == (n_pairs * pair_h + (n_pairs - 1) * band_h, n_cols * (h + 1) + 1)
    for i in range(n_images):
        pair, col = divmod(i, n_cols)
        top = pair * (pair_h + band_h)
        x = 1 + col * (h + 1) + h // 2
        assert pixels[top + 1 + h // 2, x] == grey(inputs[i, 0, 0, 0])
        assert pixels[top + 1 + (h + 1) + h // 2, x] == grey(outputs[i, 0, 0, 0])
    # A grey band, unlike the white padding, separates consecutive pairs.
    assert np.all(pixels[pair_h : pair_h + band_h] == grey(0.5))
    # The last pair has one image; its empty cells are blank, not stale data.
    assert pixels[2 * (pair_h + band_h) + 1 + h // 2, 1 + (h + 1) + h // 2] == 255


def test_reconstruction_grid_default_scale_makes_digits_visible(out):
    batch = np.zeros((16, 1, 8, 8))
    pixels = read_png(images.save_reconstruction_grid(batch, batch, out / "recon.png"))
    # 8 columns -> 73 px wide -> x6; two pairs of 19 px plus a 2 px band -> 40 px.
    assert pixels.shape == (40 * 6, 73 * 6)


def test_reconstruction_grid_rejects_mismatched_shapes(out):
    with pytest.raises(DataError, match="same shape"):
        images.save_reconstruction_grid(
            np.zeros((4, 1, 8, 8)), np.zeros((3, 1, 8, 8)), out / "r.png"
        )
    assert list(out.iterdir()) == []


# ---------------------------------------------------------------- plot_vectors


def test_plot_vectors_draws_one_heatmap(out, figures):
    rows = np.random.default_rng(0).normal(size=(20, 6))
    path = plots.plot_vectors(rows, out / "vectors.png", "samples", feature_names=list("abcdef"))
    assert read_png(path).shape[0] > 100
    (fig,) = figures
    heatmap = fig.axes[0]
    np.testing.assert_array_equal(heatmap.images[0].get_array(), rows)
    assert [t.get_text() for t in heatmap.get_xticklabels()] == list("abcdef")
    assert fig.get_suptitle() == "samples"


def test_plot_vectors_compare_shares_one_colour_scale(out, figures):
    rows = np.linspace(0.0, 1.0, 12).reshape(3, 4)
    recon = rows * 3.0  # a wider range: the shared scale must cover it
    single = read_png(plots.plot_vectors(rows, out / "one.png", "t"))
    double = read_png(plots.plot_vectors(rows, out / "two.png", "t", compare=recon))
    assert double.shape[1] > single.shape[1]  # two panels side by side
    heatmaps = [ax for ax in figures[1].axes if ax.images]
    assert [ax.get_title() for ax in heatmaps] == ["inputs", "reconstructions"]
    limits = {ax.images[0].get_clim() for ax in heatmaps}
    assert limits == {(0.0, 3.0)}


def test_plot_vectors_centres_signed_data_on_zero(out, figures):
    plots.plot_vectors(np.array([[-1.0, 3.0]]), out / "v.png", "t")
    assert figures[0].axes[0].images[0].get_clim() == (-3.0, 3.0)


def test_plot_vectors_rejects_bad_input(out):
    with pytest.raises(DataError):
        plots.plot_vectors(np.zeros((3, 4)), out / "v.png", "t", compare=np.zeros((3, 5)))
    with pytest.raises(DataError):
        plots.plot_vectors(np.zeros((3, 4)), out / "v.png", "t", feature_names=["a"])


# ---------------------------------------------------------------- plot_training_curves


def make_history(n_epochs: int, val: bool = True) -> list[dict[str, float]]:
    history = []
    for epoch in range(1, n_epochs + 1):
        row = {
            "epoch": epoch,
            "train_loss": 10.0 / epoch,
            "train_reconstruction": 8.0 / epoch,
            "train_kl": 2.0 / epoch,
            "beta": 1.0,
        }
        if val:
            # Overfits after epoch 3: the best val epoch is 3, not the last.
            row["val_loss"] = 11.0 / epoch + (epoch - 3) ** 2
            row["val_reconstruction"], row["val_kl"] = 9.0, 2.0
        history.append(row)
    return history


def lines_by_style(ax) -> dict[str, int]:
    styles: dict[str, int] = {}
    for line in ax.get_lines():
        styles[line.get_linestyle()] = styles.get(line.get_linestyle(), 0) + 1
    return styles


def test_training_curves_with_validation_marks_the_best_epoch(out, figures):
    read_png(plots.plot_training_curves(make_history(6), out / "curves.png"))
    (fig,) = figures
    loss, recon, kl = fig.axes[:3]
    assert [ax.get_title() for ax in (loss, recon, kl)] == ["total loss", "reconstruction", "KL"]
    for ax in (recon, kl):
        assert lines_by_style(ax) == {"-": 1, "--": 1, ":": 1}  # train, val, best-epoch line
    labels = loss.get_legend_handles_labels()[1]
    assert labels == ["train", "val", "best val (epoch 3)"]
    best_line = next(line for line in kl.get_lines() if line.get_linestyle() == ":")
    assert list(best_line.get_xdata()) == [3, 3]


def test_training_curves_without_validation(out, figures):
    read_png(plots.plot_training_curves(make_history(4, val=False), out / "curves.png"))
    loss = figures[0].axes[0]
    assert lines_by_style(loss) == {"-": 1}
    assert loss.get_legend_handles_labels()[1] == ["train"]


def test_training_curves_single_epoch_gets_integer_ticks(out, figures):
    read_png(plots.plot_training_curves(make_history(1), out / "curves.png"))
    ticks = figures[0].axes[0].get_xticks()
    assert 1 in ticks and np.all(ticks == np.round(ticks))


def test_training_curves_tolerate_missing_keys_nan_and_draw_beta(out, figures):
    history = [
        {"train_loss": 3.0, "beta": 0.0},
        {"train_loss": float("nan"), "train_kl": 1.0, "beta": 0.5},
        {"train_loss": 2.0, "train_kl": 0.5, "beta": 1.0},
    ]
    read_png(plots.plot_training_curves(history, out / "curves.png"))
    fig = figures[0]
    np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_xdata(), [1, 2, 3])  # no epoch key
    assert fig.axes[1].texts[0].get_text() == "not logged"
    assert len(fig.axes) == 4  # warm-up beta gets the KL panel's twin axis


def test_training_curves_reject_empty_history(out):
    with pytest.raises(DataError, match="empty"):
        plots.plot_training_curves([], out / "curves.png")


# ---------------------------------------------------------------- plot_latent


@pytest.mark.parametrize("d", [1, 2, 5])
@pytest.mark.parametrize("labelled", [False, True])
def test_plot_latent(out, figures, d, labelled):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(60, d))
    labels = np.repeat([0, 1, 2], 20) if labelled else None
    pixels = read_png(plots.plot_latent(z, out / "latent.png", labels=labels))
    assert pixels.shape[0] > 200 and pixels.shape[1] > 200
    ax = figures[0].axes[0]
    expected = {1: ("z1", "jitter"), 2: ("z1", "z2")}
    if d in expected:
        assert (ax.get_xlabel(), ax.get_ylabel()) == expected[d]
    else:
        assert ax.get_xlabel().startswith("PC1 (") and ax.get_xlabel().endswith("% var)")
        assert ax.get_ylabel().startswith("PC2 (")
    drawn = sum(len(c.get_offsets()) for c in ax.collections)
    assert drawn == 60
    if labelled:
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1", "2"]
    else:
        assert ax.get_legend() is None


def test_plot_latent_two_dims_are_drawn_as_given(out, figures):
    z = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    plots.plot_latent(z, out / "latent.png")
    np.testing.assert_array_equal(figures[0].axes[0].collections[0].get_offsets(), z)


def test_plot_latent_many_classes_get_a_colourbar(out, figures):
    z = np.random.default_rng(0).normal(size=(100, 2))
    plots.plot_latent(z, out / "latent.png", labels=np.arange(100) % 25)
    fig = figures[0]
    assert fig.axes[0].get_legend() is None
    assert len(fig.axes) == 2  # scatter + colourbar


def test_plot_latent_subsamples_with_a_fixed_seed(out, figures):
    z = np.random.default_rng(0).normal(size=(6000, 2))
    plots.plot_latent(z, out / "a.png")
    plots.plot_latent(z, out / "b.png")
    first, second = (fig.axes[0].collections[0].get_offsets() for fig in figures)
    assert len(first) == 5000
    np.testing.assert_array_equal(first, second)
    assert "5000 of 6000" in figures[0].axes[0].get_title()


def test_plot_latent_tsne_keeps_clusters_apart(out, figures):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 40)
    z = rng.normal(size=(80, 6))
    z[:, 5] += np.where(labels == 1, 6.0, -6.0)
    plots.plot_latent(z, out / "tsne.png", labels=labels, method="tsne")
    ax = figures[0].axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("t-SNE 1", "t-SNE 2")
    assert "t-SNE of 6-D" in ax.get_title()
    a, b = (c.get_offsets() for c in ax.collections)
    # Every point is nearer its own cluster's centre than the other's.
    ca, cb = a.mean(0), b.mean(0)
    assert (np.linalg.norm(a - ca, axis=1) < np.linalg.norm(a - cb, axis=1)).all()
    assert (np.linalg.norm(b - cb, axis=1) < np.linalg.norm(b - ca, axis=1)).all()
    with pytest.raises(ValueError, match="method"):
        plots.plot_latent(z, out / "x.png", method="umap")


def test_plot_latent_tsne_draws_at_most_2000_points(out, figures, monkeypatch):
    import sklearn.manifold

    class FakeTSNE:  # the subsample is what is tested here, not t-SNE's speed
        def __init__(self, **kwargs):
            self.perplexity = kwargs["perplexity"]

        def fit_transform(self, z):
            return z[:, :2]

    monkeypatch.setattr(sklearn.manifold, "TSNE", FakeTSNE)
    plots.plot_latent(np.random.default_rng(0).normal(size=(2500, 3)), out / "t.png", method="tsne")
    assert len(figures[0].axes[0].collections[0].get_offsets()) == 2000
    assert "2000 of 2500" in figures[0].axes[0].get_title()


def test_save_latent_grid_lays_walks_out_in_rows(out):
    grid = np.zeros((3, 4, 1, 5, 5))
    grid[1] = 1.0  # the second walk is white
    pixels = read_png(plots.save_latent_grid(grid, out / "grid.png", "t", None))
    tile, column = pixels.shape[0] // 3, pixels.shape[1] // 4
    assert pixels.shape[1] > pixels.shape[0]  # 4 columns, 3 rows
    assert pixels[tile + tile // 2, column // 2] == grey(1.0)
    assert pixels[tile // 2, column // 2] == grey(0.0)
    vectors = read_png(plots.save_latent_grid(np.zeros((2, 3, 4)), out / "vectors.png", "t", list("abcd")))
    assert vectors.ndim == 3  # a matplotlib heatmap, not an image grid
    with pytest.raises(DataError):
        plots.save_latent_grid(np.zeros((3, 4)), out / "bad.png", "t")


def test_plot_latent_rejects_bad_input(out):
    with pytest.raises(DataError, match="NaN"):
        plots.plot_latent(np.array([[0.0, np.nan]]), out / "latent.png")
    with pytest.raises(DataError, match="labels"):
        plots.plot_latent(np.zeros((4, 2)), out / "latent.png", labels=np.zeros(3))


# ---------------------------------------------------------------- writing files


def test_overwrite_replaces_the_file(out):
    target = out / "image.png"
    images.save_image_grid(constant_images([0.0]), target, scale=1)
    images.save_image_grid(constant_images([1.0]), target, scale=1)
    assert read_png(target)[5, 5] == 255
    assert [p.name for p in out.iterdir()] == ["image.png"]


def test_missing_folder_is_not_created(tmp_path):
    with pytest.raises(FileNotFoundError):
        images.save_image_grid(constant_images([0.0]), tmp_path / "missing" / "grid.png")
    assert list(tmp_path.iterdir()) == []


def test_import_touches_neither_torch_nor_pyplot_nor_sklearn():
    code = (
        "import sys, vaekit\n"
        "before = set(sys.modules)\n"
        "import vaekit.images, vaekit.plots\n"
        "heavy = {'torch', 'matplotlib.pyplot', 'sklearn'}\n"
        "print(sorted((heavy & set(sys.modules)) - before))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
