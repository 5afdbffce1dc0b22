"""The full sprites grid: dSprites' 737,280 images, rendered on demand, streamed, and used by the factor metrics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vaekit.data.sprites import FULL_GRID, SMALL_GRID, SpriteGrid, make_sprites
from vaekit.errors import DataError


def test_the_full_grid_has_dsprites_size_and_its_rows_round_trip_to_factors():
    grid = SpriteGrid()
    assert len(grid) == 737_280 == 3 * 6 * 40 * 32 * 32 and grid.grid == FULL_GRID and grid.size == 64
    rows = np.array([0, 1, 32, 737_279])
    factors = grid.factors(rows)
    assert factors.tolist()[:3] == [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0]]
    assert factors[-1].tolist() == [2, 5, 39, 31, 31]
    assert np.array_equal(grid.index(factors), rows)
    with pytest.raises(DataError, match="sprite rows"):
        grid.factors(np.array([737_280]))
    with pytest.raises(DataError, match="factor indices"):
        grid.observations(np.array([[3, 0, 0, 0, 0]]))


def test_rendering_is_deterministic_uint8_and_the_same_pixels_as_make_sprites():
    grid = SpriteGrid()
    rows = np.array([5, 123_456, 737_279])
    a, b = grid[rows], grid[rows]
    assert a.dtype == np.uint8 and a.shape == (3, 1, 64, 64) and np.array_equal(a, b)
    assert set(np.unique(a)) <= {0, 1} and a.sum() > 0
    drawn = make_sprites(40, seed=2, progress=False)  # any rows of the grid: the same images, as floats
    assert np.array_equal(grid.observations(drawn.factors, dtype=np.float32), drawn.x)


def test_the_grid_streams_in_batches_without_holding_it():
    grid = SpriteGrid(SMALL_GRID, size=16)
    whole = make_sprites(None, grid=SMALL_GRID, size=16, progress=False)
    seen = list(grid.batches(batch_size=1000))
    assert [len(f) for f, _ in seen] == [1000] * 7 + [680] and math.prod(SMALL_GRID) == 7680
    assert np.array_equal(np.concatenate([f for f, _ in seen]), whole.factors)
    assert np.array_equal(np.concatenate([x for _, x in seen]).astype(np.float32), whole.x)
    # dSprites' grid from the middle: only the rows asked for are drawn.
    (factors, images), = SpriteGrid().batches(batch_size=8, start=737_272)
    assert images.shape == (8, 1, 64, 64) and factors[-1].tolist() == [2, 5, 39, 31, 31]
    with pytest.raises(DataError, match="batch_size"):
        next(grid.batches(batch_size=0))


def test_the_grid_as_a_streamed_dataset_and_as_a_memory_mapped_npy(tmp_path):
    grid = SpriteGrid(SMALL_GRID, size=16)
    data = grid.streamed(block_rows=512, window_bytes=2**20, shuffled=False)
    assert len(data) == 7680 and data.sample_shape == (1, 16, 16) and data.is_image
    batches = list(data.batches(256, seed=0, epoch=0))
    assert sum(len(b) for b in batches) == 7680 and batches[0].dtype == np.float32
    first = next(data.chunks())
    assert np.array_equal(first, grid[np.arange(512)].astype(np.float32))
    assert np.array_equal(data.source.labels(0), grid.factors(np.arange(512))[:, 0])
    # Shuffled (the default), one block already spans the grid: every shape and most rotations, each row once.
    mixed = grid.streamed(block_rows=512, window_bytes=2**20)
    factors = grid.factors(mixed.source.rows(0))
    assert len(np.unique(factors[:, 0])) == SMALL_GRID[0] and len(np.unique(factors[:, 2])) >= SMALL_GRID[2] // 2
    every = np.concatenate([mixed.source.rows(b) for b in range(len(mixed.source.starts) - 1)])
    assert np.array_equal(np.sort(every), np.arange(len(grid)))
    assert np.array_equal(next(mixed.chunks()), grid[mixed.source.rows(0)].astype(np.float32))
    saved = grid.save_npy(tmp_path / "grid.npy", progress=False)
    assert saved.shape == (7680, 1, 16, 16) and saved.dtype == np.uint8 and isinstance(saved, np.memmap)
    assert np.array_equal(saved[4000:4010], grid[np.arange(4000, 4010)])


def test_a_drawn_grid_streams_the_same_batches_as_rendering_and_a_wrong_file_is_refused(tmp_path):
    grid = SpriteGrid(SMALL_GRID, size=16)
    images = grid.drawn(tmp_path / "grid.npy", progress=False)
    assert isinstance(images, np.memmap) and not list(tmp_path.glob("*partial*"))  # drawn under a temporary name
    rendered = grid.streamed(block_rows=32, window_bytes=2**18)
    read = grid.streamed(block_rows=32, window_bytes=2**18, images=images)
    pairs = zip(rendered.batch_pairs(64, seed=3, epoch=1), read.batch_pairs(64, seed=3, epoch=1))
    for (a, la), (b, lb) in pairs:
        assert np.array_equal(a, b) and np.array_equal(la, lb) and b.dtype == np.float32
    written = (tmp_path / "grid.npy").stat().st_mtime_ns
    assert np.array_equal(grid.drawn(tmp_path / "grid.npy"), images)
    assert (tmp_path / "grid.npy").stat().st_mtime_ns == written  # found, not drawn again
    other = SpriteGrid(SMALL_GRID, size=8)
    with pytest.raises(DataError, match=r"not the 7,680 uint8 images \(1, 8, 8\).*remove it to draw the grid anew"):
        other.drawn(tmp_path / "grid.npy")
    with pytest.raises(DataError, match=r"not the 7,680 uint8 images.*pass SpriteGrid.drawn's for this grid"):
        other.streamed(images=images)
    with pytest.raises(DataError, match="holds float32 images"):  # the grid's shape, drawn as floats
        grid.streamed(images=np.asarray(images, dtype=np.float32))


def test_sampled_factors_cover_the_grid_and_a_perfect_encoder_scores_near_one_on_sprites():
    from vaekit.disentanglement import betavae_score

    grid = SpriteGrid(SMALL_GRID, size=16)
    factors = grid.sample_factors(5000, np.random.default_rng(0))
    assert factors.shape == (5000, 5) and factors.min() == 0 and (factors.max(axis=0) == np.array(SMALL_GRID) - 1).all()
    # An "encoder" that looks each image up in the grid: perfect but for the shapes' symmetries (a square turned
    # by 90 degrees is the same image), so the score is near 1; one that ignores the image scores chance, 1/5.
    lookup = {img.tobytes(): f for fs, xs in grid.batches() for f, img in zip(fs, xs)}
    encode = lambda x: np.array([lookup[img.tobytes()] for img in x], dtype=np.float64)  # noqa: E731
    protocol = {"n_train": 60, "n_eval": 40, "batch_size": 8}
    assert betavae_score(encode, grid.sample_factors, grid.observations, **protocol)["score"] > 0.9
    noise = lambda x: np.random.default_rng(len(x)).normal(size=(len(x), 5))  # noqa: E731
    assert betavae_score(noise, grid.sample_factors, grid.observations, **protocol)["score"] < 0.5


def test_evaluate_factors_on_sprites_and_on_a_label_column(tmp_path, capsys):
    import torch

    from vaekit.cli import main
    from vaekit.config import ModelConfig, RunConfig
    from vaekit.io import save_model
    from vaekit.models import build_model

    torch.manual_seed(0)
    config = ModelConfig(input_shape=(1, 64, 64), arch="mlp", hidden_dims=(8,), latent_dim=3)
    save_model(tmp_path / "sprites", build_model(config), RunConfig(model=config))
    assert main(["evaluate", str(tmp_path / "sprites"), "--data", "sprites:90", "--factors", "--factor-points", "4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["factors"]
    assert report["factor_names"] == ["shape", "scale", "rotation", "x", "y"] and report["skipped"] == []
    for key in ("mig", "sap", "sap_continuous", "dci_disentanglement", "dci_completeness", "dci_informativeness",
                "betavae", "factorvae"):
        assert 0.0 <= report[key] <= 1.0, key
    assert "4 training / 2 evaluation" in report["protocol"]["betavae"]

    table = tmp_path / "table.csv"
    rng = np.random.default_rng(0)
    rows = ["a,b,c,label"] + [f"{a:.3f},{b:.3f},{c:.3f},{k}" for a, b, c, k in
                              np.c_[rng.normal(size=(60, 3)), rng.integers(0, 3, 60)]]
    table.write_text("\n".join(rows) + "\n")
    config = ModelConfig(input_shape=(3,), arch="mlp", hidden_dims=(8,), latent_dim=2, likelihood="gaussian")
    save_model(tmp_path / "table", build_model(config), RunConfig(model=config))
    assert main(["evaluate", str(tmp_path / "table"), "--data", str(table), "--label-column", "label",
                 "--factors"]) == 0
    out = capsys.readouterr().out
    assert "disentanglement against label" in out and "dci_completeness" in out
    assert "betavae" not in out.split("note:")[0] and "FactorVAE scores skipped" in out
