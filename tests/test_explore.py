"""Latent walks: interpolation math, traversals, the manifold, and their CLI commands."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vaekit import load
from vaekit.cli import main
from vaekit.config import ModelConfig
from vaekit.errors import DataError
from vaekit.explore import (
    interpolate,
    lerp,
    manifold,
    manifold_latents,
    slerp,
    traversal_latents,
    traverse,
)
from vaekit.models import build_model

TINY = ["--epochs", "2", "--hidden-dims", "16", "--batch-size", "16", "--quiet"]


def tiny_model(latent_dim: int = 3, shape=(1, 6, 6), arch: str = "mlp") -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(input_shape=shape, latent_dim=latent_dim, arch=arch, hidden_dims=(16,), conv_channels=(4, 8))
    return build_model(cfg).eval()


def run(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


# --------------------------------------------------------------------------- math


def test_lerp_is_evenly_spaced_between_the_ends():
    z0, z1 = torch.tensor([0.0, 2.0]), torch.tensor([4.0, -2.0])
    path = lerp(z0, z1, 5)
    torch.testing.assert_close(path[0], z0)
    torch.testing.assert_close(path[-1], z1)
    torch.testing.assert_close(path[2], torch.tensor([2.0, 0.0]))
    steps = path.diff(dim=0)
    torch.testing.assert_close(steps, steps[0].expand_as(steps))


def test_slerp_follows_the_arc_between_codes_of_equal_norm():
    z0, z1 = torch.tensor([3.0, 0.0, 0.0]), torch.tensor([0.0, 3.0, 0.0])
    path = slerp(z0, z1, 7)
    torch.testing.assert_close(path[0], z0)
    torch.testing.assert_close(path[-1], z1)
    # On the arc every point keeps the norm; the straight line would dip to 3/sqrt(2) midway.
    torch.testing.assert_close(path.norm(dim=1), torch.full((7,), 3.0))
    angles = torch.atan2(path[:, 1], path[:, 0])
    torch.testing.assert_close(angles, torch.linspace(0, torch.pi / 2, 7))
    assert lerp(z0, z1, 7)[3].norm() < 2.2


def test_slerp_of_parallel_or_zero_codes_falls_back_to_lerp():
    z = torch.tensor([1.0, 2.0])
    torch.testing.assert_close(slerp(z, 2 * z, 4), lerp(z, 2 * z, 4))
    torch.testing.assert_close(slerp(torch.zeros(2), z, 4), lerp(torch.zeros(2), z, 4))
    assert torch.isfinite(slerp(z, -z, 5)).all()


def test_traversal_latents_sweep_one_dimension_per_row_around_the_base():
    base = torch.tensor([0.5, -1.0, 2.0])
    z = traversal_latents(3, steps=5, span=3.0, base=base)
    assert z.shape == (3, 5, 3)
    for i in range(3):
        torch.testing.assert_close(z[i, :, i], torch.linspace(-3, 3, 5))
        others = [j for j in range(3) if j != i]
        torch.testing.assert_close(z[i][:, others], base[others].expand(5, 2))
    assert (traversal_latents(2, steps=3)[0, :, 1] == 0).all()  # default base: the prior mean


def test_manifold_latents_are_gaussian_quantiles_laid_out_like_a_plot():
    z = manifold_latents(5)
    assert z.shape == (5, 5, 2)
    normal = torch.distributions.Normal(0.0, 1.0)
    # Equal steps in probability: the CDF of the z1 values is 0.05 ... 0.95.
    torch.testing.assert_close(normal.cdf(z[0, :, 0]), torch.linspace(0.05, 0.95, 5))
    assert (z[0, :, 0].diff() > 0).all()  # z1 grows to the right
    assert (z[:, 0, 1].diff() < 0).all()  # z2 grows upwards: top row is highest
    assert z[2, 2].abs().max() < 1e-6  # the centre is the prior mean


# --------------------------------------------------------------------------- decoding


def test_interpolation_ends_are_the_reconstructions_of_its_rows():
    model = tiny_model()
    x = torch.rand(2, 1, 6, 6)
    for method in ("linear", "slerp"):
        path = interpolate(model, x[0], x[1], steps=6, method=method)
        assert path.shape == (6, 1, 6, 6)
        torch.testing.assert_close(path[[0, -1]], model.reconstruct(x))
    with pytest.raises(DataError, match="unknown interpolation method"):
        interpolate(model, x[0], x[1], method="cubic")
    with pytest.raises(DataError, match="--steps must be at least 2"):
        interpolate(model, x[0], x[1], steps=1)


def test_traverse_decodes_each_row_of_codes():
    model = tiny_model(latent_dim=3)
    grid = traverse(model, steps=5, span=2.0)
    assert grid.shape == (3, 5, 1, 6, 6)
    z = traversal_latents(3, steps=5, span=2.0)
    torch.testing.assert_close(grid[1, 4], model.decode(z[1, 4:5]).mean[0])
    # The centre column is z = 0 for every row: the same picture in each.
    torch.testing.assert_close(grid[:, 2], grid[0, 2].expand_as(grid[:, 2]))
    base = model.embed(torch.rand(1, 1, 6, 6))[0]
    assert not torch.allclose(traverse(model, 5, 2.0, base)[:, 2], grid[:, 2])
    with pytest.raises(DataError, match="--range"):
        traverse(model, span=float("nan"))


def test_manifold_needs_a_two_dimensional_latent_space():
    grid = manifold(tiny_model(latent_dim=2), steps=4)
    assert grid.shape == (4, 4, 1, 6, 6)
    with pytest.raises(DataError, match="latent_dim=3"):
        manifold(tiny_model(latent_dim=3))


# --------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory):
    """Two tiny runs: 8x8 images with a 2-D latent space, and a table with a 3-D one."""
    root = tmp_path_factory.mktemp("explore")
    rng = np.random.default_rng(0)
    images = root / "images.npz"
    np.savez(images, x=rng.uniform(0, 1, size=(40, 1, 8, 8)).astype(np.float32), y=np.arange(40) % 4)
    table = root / "table.csv"
    table.write_text("a,b,c,d\n" + "\n".join(",".join(f"{v:.3f}" for v in row) for row in rng.uniform(0, 1, (40, 4))))
    for data, out, latent_dim in ((images, "img", 2), (table, "tab", 3)):
        argv = ["train", "--data", data, "--out", root / out, "--latent-dim", latent_dim, "--arch", "mlp", *TINY]
        assert main([str(a) for a in argv]) == 0
    return root


def test_interpolate_writes_a_row_of_images_or_the_array(run_dirs, capsys, tmp_path):
    data = run_dirs / "images.npz"
    code, _ = run(capsys, "interpolate", run_dirs / "img", "--data", data, "--from", 0, "--to", 5,
                  "--steps", 6, "--method", "slerp", "--out", tmp_path / "path.npy")
    assert code == 0
    path = np.load(tmp_path / "path.npy")
    assert path.shape == (6, 1, 8, 8)
    model = load(run_dirs / "img")
    x = torch.from_numpy(np.load(data)["x"][[0, 5]])
    np.testing.assert_allclose(path[[0, -1]], model.reconstruct(x).numpy(), atol=1e-6)
    assert run(capsys, "interpolate", run_dirs / "img", "--data", data, "--from", 0, "--to", 5,
               "--steps", 6, "--out", tmp_path / "path.png")[0] == 0
    with Image.open(tmp_path / "path.png") as image:
        assert image.width > 4 * image.height  # one row of six images


def test_traverse_and_manifold_through_the_cli(run_dirs, capsys, tmp_path):
    img = run_dirs / "img"
    assert run(capsys, "traverse", img, "--steps", 5, "--out", tmp_path / "t.npy")[0] == 0
    assert np.load(tmp_path / "t.npy").shape == (2, 5, 1, 8, 8)
    assert run(capsys, "traverse", img, "--data", run_dirs / "images.npz", "--index", 3,
               "--out", tmp_path / "row3.npy")[0] == 0
    assert not np.allclose(np.load(tmp_path / "row3.npy")[:, 4], np.load(tmp_path / "t.npy")[:, 2])
    assert run(capsys, "traverse", img, "--steps", 5, "--dims", "1", "--out", tmp_path / "d1.npy")[0] == 0
    assert np.array_equal(np.load(tmp_path / "d1.npy"), np.load(tmp_path / "t.npy")[[1]])
    assert run(capsys, "traverse", img, "--manifold", "--out", tmp_path / "m.npy")[0] == 0
    assert np.load(tmp_path / "m.npy").shape == (15, 15, 1, 8, 8)
    assert run(capsys, "traverse", img, "--manifold", "--steps", 4, "--out", tmp_path / "m.png")[0] == 0
    with Image.open(tmp_path / "m.png") as image:
        assert abs(image.width - image.height) <= 1  # a square grid


def test_tables_get_the_array_and_a_heatmap(run_dirs, capsys, tmp_path):
    tab, data = run_dirs / "tab", run_dirs / "table.csv"
    assert run(capsys, "traverse", tab, "--steps", 4, "--out", tmp_path / "t.npy")[0] == 0
    assert np.load(tmp_path / "t.npy").shape == (3, 4, 4)
    assert run(capsys, "traverse", tab, "--out", tmp_path / "t.png")[0] == 0
    assert run(capsys, "interpolate", tab, "--data", data, "--from", 1, "--to", 2, "--out", tmp_path / "i.png")[0] == 0
    for name in ("t.png", "i.png"):
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG" and image.width > 300
    code, err = run(capsys, "traverse", tab, "--manifold", "--out", tmp_path / "m.png")
    assert code == 2 and "latent_dim=3" in err and not (tmp_path / "m.png").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["interpolate", "{run}", "--data", "{data}", "--from", "0", "--to", "40"], "--to 40 is out of range"),
        (["interpolate", "{run}", "--data", "{data}", "--from", "0", "--to", "1", "--steps", "1"], "at least 2"),
        (["traverse", "{run}", "--index", "2"], "--index needs --data"),
        (["traverse", "{run}", "--manifold", "--data", "{data}"], "drop --data"),
        (["traverse", "{run}", "--range", "-1"], "--range must be a positive"),
    ],
)
def test_bad_walks_are_one_line_errors_and_write_nothing(run_dirs, capsys, tmp_path, argv, message):
    argv = [a.format(run=run_dirs / "img", data=run_dirs / "images.npz") for a in argv]
    code, err = run(capsys, *argv, "--out", tmp_path / "x.png")
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_needs_overwrite(run_dirs, capsys, tmp_path):
    out = tmp_path / "t.npy"
    out.write_bytes(b"keep")
    code, err = run(capsys, "traverse", run_dirs / "img", "--out", out)
    assert code == 2 and "--overwrite" in err and out.read_bytes() == b"keep"
    assert run(capsys, "traverse", run_dirs / "img", "--out", out, "--overwrite")[0] == 0
    assert np.load(out).shape == (2, 9, 1, 8, 8)


def test_sample_temperature_scales_the_prior(run_dirs, capsys, tmp_path):
    # vaekit sample --temperature T decodes z ~ N(0, T^2 I): T = 0 is the decoding of z = 0 every time.
    img = run_dirs / "img"
    assert run(capsys, "sample", img, "-n", 4, "--temperature", 0, "--out", tmp_path / "cold.npy")[0] == 0
    assert run(capsys, "sample", img, "-n", 4, "--temperature", 2, "--out", tmp_path / "hot.npy")[0] == 0
    assert run(capsys, "sample", img, "-n", 4, "--out", tmp_path / "one.npy")[0] == 0
    cold, hot, one = (np.load(tmp_path / f"{n}.npy") for n in ("cold", "hot", "one"))
    model = load(img)
    g = torch.Generator().manual_seed(0)  # the CLI's default --seed
    z = torch.randn(4, 2, generator=g)
    with torch.no_grad():
        np.testing.assert_allclose(cold, model.decode(torch.zeros(4, 2)).mean.numpy(), atol=1e-6)
        # Same seed, so the hot draws are the T = 1 draws scaled by 2 before decoding.
        np.testing.assert_allclose(hot, model.decode(2 * z).mean.numpy(), atol=1e-6)
        np.testing.assert_allclose(one, model.decode(z).mean.numpy(), atol=1e-6)
    assert not np.allclose(hot, one)


def test_traverse_chosen_dimensions_are_rows_of_the_full_traversal():
    import torch

    from vaekit import explore
    from vaekit.config import ModelConfig
    from vaekit.models import build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="mlp", latent_dim=5, hidden_dims=(8,), input_shape=(6,))).eval()
    full = explore.traverse(model, steps=5)  # (5, 5, 6)
    some = explore.traverse(model, steps=5, dims=[3, 0])  # (2, 5, 6)
    assert torch.allclose(some, full[[3, 0]])
    with pytest.raises(DataError, match=r"in 0\.\.4"):
        explore.traverse(model, dims=[5])
    assert explore.most_informative([0.1, 3.0, 0.0, 2.0], 4, limit=2) == [1, 3]
    assert explore.most_informative([0.1, 3.0], 2, limit=2) == [0, 1]  # all fit: in order
    assert explore.most_informative(None, 5, limit=2) == [0, 1]
