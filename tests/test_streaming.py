"""Data larger than memory: block-shuffled batches from memory-mapped .npy and Parquet row groups."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import vaekit
from vaekit.config import ModelConfig, TrainConfig
from vaekit.data import StreamedDataset, load_data, split_rows, streaming, take_rows, validate_for_likelihood
from vaekit.errors import DataError
from vaekit.models import build_model
from vaekit.training import Trainer

ROW_BYTES = 16 * 4  # the rows below: 16 float32 features


@pytest.fixture
def rows_npy(tmp_path):
    """100 rows whose first feature is the row number / 1000, so a batch says which rows it holds."""
    x = np.random.default_rng(0).uniform(0, 1, size=(100, 16)).astype(np.float32)
    x[:, 0] = np.arange(100) / 1000
    path = tmp_path / "rows.npy"
    np.save(path, x)
    return path, x


def open_rows(path, block_rows=8, window_blocks=3) -> StreamedDataset:
    return load_data(
        str(path), loading="stream", block_mb=block_rows * ROW_BYTES / 2**20,
        shuffle_window_mb=window_blocks * block_rows * ROW_BYTES / 2**20,
    )


def row_ids(batch: np.ndarray) -> list[int]:
    return np.rint(batch[:, 0] * 1000).astype(int).tolist()



def kill_at_step(trainer, step: int) -> None:
    """Make ``trainer`` raise KeyboardInterrupt at its ``step``-th optimiser step, as a kill mid-run would stop it."""
    real_step, calls = trainer._train_step, {"n": 0}

    def dying_step(*args):
        calls["n"] += 1
        if calls["n"] == step:
            raise KeyboardInterrupt
        return real_step(*args)

    trainer._train_step = dying_step

def test_an_epoch_visits_every_row_once_in_an_order_fixed_by_seed_and_epoch(rows_npy):
    path, x = rows_npy
    data = open_rows(path)
    assert isinstance(data, StreamedDataset) and len(data) == 100 and data.sample_shape == (16,)
    assert len(data.source.starts) - 1 == 13  # 12 blocks of 8 rows and one of 4
    batches = list(data.batches(16, seed=3, epoch=0))
    assert [len(b) for b in batches] == [16] * 6 + [4] and len(batches) == data.steps_per_epoch(16)
    order = sum((row_ids(b) for b in batches), [])
    assert sorted(order) == list(range(100))
    np.testing.assert_array_equal(np.concatenate(batches), x[order])  # rows arrive as stored
    assert order == sum((row_ids(b) for b in data.batches(16, seed=3, epoch=0)), [])
    assert order != sum((row_ids(b) for b in data.batches(16, seed=3, epoch=1)), [])
    assert order != sum((row_ids(b) for b in data.batches(16, seed=4, epoch=0)), [])
    assert order != sorted(order)
    first = data.windows(seed=3, epoch=0)[0]  # blocks drawn in random order, rows shuffled within the window
    rows = {r for b in first for r in range(8 * b, min(8 * b + 8, 100))}
    assert len(first) >= 3 and set(order[: len(rows)]) == rows and order[: len(rows)] != sorted(rows)


def test_resuming_mid_epoch_replays_the_rest_of_the_epoch(rows_npy):
    data = open_rows(rows_npy[0])
    full = [row_ids(b) for b in data.batches(16, seed=0, epoch=2)]
    for start in (1, 3, 6):
        assert [row_ids(b) for b in data.batches(16, seed=0, epoch=2, start_batch=start)] == full[start:]


@pytest.mark.parametrize("world", [2, 3])
def test_ranks_share_one_permutation_as_distributed_sampler_does(rows_npy, world):
    data = open_rows(rows_npy[0])
    order = sum((row_ids(b) for b in data.batches(1000, seed=0, epoch=0)), [])
    padded = order + order[: (-len(order)) % world]
    per_rank = [[row_ids(b) for b in data.batches(8, seed=0, epoch=0, rank=r, world_size=world)] for r in range(world)]
    for r, batches in enumerate(per_rank):
        assert sum(batches, []) == padded[r::world]
        assert len(batches) == data.steps_per_epoch(8, world)
        later = [row_ids(b) for b in data.batches(8, seed=0, epoch=0, start_batch=2, rank=r, world_size=world)]
        assert later == batches[2:]


def test_the_validation_split_holds_out_whole_blocks(rows_npy):
    data = open_rows(rows_npy[0])
    train, val = split_rows(data, 0.2, seed=0)
    assert len(train) + len(val) == 100 and 16 <= len(val) <= 28
    assert not set(train.blocks) & set(val.blocks)
    held = take_rows(data, val)
    assert len(held) == len(val) and set(np.rint(held.x[:, 0] * 1000).astype(int) // 8) == set(val.blocks)
    seen = np.concatenate(list(val.chunks()))
    assert sorted(row_ids(seen)) == sorted(row_ids(held.x))
    assert len(take_rows(data, train, 10)) == 10


def test_training_from_a_memory_mapped_npy_resumes_bitwise_mid_epoch(tmp_path, rows_npy):
    data = open_rows(rows_npy[0])
    train, val = data.split(0.2, seed=0)

    def make(folder=None):
        torch.manual_seed(0)
        model = build_model(ModelConfig(input_shape=(16,), arch="mlp", latent_dim=2, hidden_dims=(8,)))
        cfg = TrainConfig(epochs=3, batch_size=16, checkpoint_every=2, device="cpu")
        return Trainer(model, cfg, checkpoint_dir=folder)

    reference = make()
    reference.fit(train, val)
    killed = make(tmp_path / "ckpt")
    kill_at_step(killed, 9)  # inside the 2nd epoch (5 steps per epoch)
    with pytest.raises(KeyboardInterrupt):
        killed.fit(train, val)
    resumed = make(tmp_path / "ckpt")
    assert resumed.resume_from(tmp_path / "ckpt")
    assert (resumed.epoch, resumed.batch_in_epoch) == (1, 3)  # step 8: mid-epoch
    resumed.fit(train, val)
    for key, value in reference.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in reference.history]


@pytest.mark.filterwarnings("ignore::vaekit.runs.PosteriorCollapseWarning")
def test_the_run_api_streams_npy_and_writes_a_summary_from_a_sample(tmp_path, rows_npy):
    path, _ = rows_npy
    result = vaekit.train(
        str(path), out=tmp_path / "run", loading="stream", block_mb=8 * ROW_BYTES / 2**20,
        epochs=2, batch_size=16, latent_dim=2, hidden_dims=(8,), val_fraction=0.2, quiet=True,
    )
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 2 * result.history[0]["step"] and summary["val"]["n"] + summary["train"]["n"] == 100
    assert (tmp_path / "run" / "latent.png").exists()
    saved = vaekit.load_run_config(tmp_path / "run")
    assert saved.data.loading == "stream"


@pytest.mark.filterwarnings("ignore::vaekit.runs.PosteriorCollapseWarning")
def test_parquet_streams_by_row_group_with_labels(tmp_path):
    import pandas as pd  # a dependency of vaekit, never missing
    pytest.importorskip("pyarrow")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.uniform(0, 1, size=(60, 5)), columns=list("abcde"))
    frame["label"] = np.arange(60) % 3
    path = tmp_path / "t.parquet"
    frame.to_parquet(path, row_group_size=10)
    data = load_data(str(path), loading="stream", label_column="label")
    assert isinstance(data, StreamedDataset) and len(data.source.starts) == 7 and data.feature_names == list("abcde")
    got = np.concatenate(list(data.batches(7, seed=0, epoch=0)))
    assert got.shape == (60, 5)
    np.testing.assert_allclose(np.sort(got, axis=0), np.sort(frame[list("abcde")].to_numpy(np.float32), axis=0))
    sample = data.sample(25)
    assert len(sample) == 25 and sample.y is not None and set(sample.y) <= {0, 1, 2}
    result = vaekit.train(
        str(path), loading="stream", label_column="label", likelihood="gaussian", epochs=1, batch_size=8,
        latent_dim=2, hidden_dims=(8,), val_fraction=0.2, quiet=True,
    )
    assert np.isfinite(result.history[-1]["val_loss"])


@pytest.fixture
def labelled_parquet(tmp_path):
    """60 rows in row groups of 10; feature a is the row number / 1000, the label column the row number."""
    import pandas as pd  # a dependency of vaekit, never missing
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame(np.random.default_rng(0).uniform(0, 1, size=(60, 4)), columns=list("abcd"))
    frame["a"] = np.arange(60) / 1000
    frame["label"] = np.arange(60)
    path = tmp_path / "labelled.parquet"
    frame.to_parquet(path, row_group_size=10)
    return path


@pytest.mark.parametrize("world", [1, 2])
def test_streamed_labels_stay_with_their_rows(labelled_parquet, world):
    data = load_data(str(labelled_parquet), loading="stream", label_column="label")
    assert all(y is None for _, y in data.batch_pairs(8, seed=0, epoch=0))  # no label rule: no labels read
    labelled = data.with_labels()
    train, val = labelled.split(0.2, seed=0)
    for rank in range(world):
        pairs = list(train.batch_pairs(8, seed=0, epoch=1, rank=rank, world_size=world))
        assert len(pairs) == train.steps_per_epoch(8, world)
        for x, y in pairs:
            assert y.tolist() == row_ids(x)
        plain = [row_ids(x) for x in train.batches(8, seed=0, epoch=1, rank=rank, world_size=world)]
        assert [row_ids(x) for x, _ in pairs] == plain  # labels change nothing about the order
        later = list(train.batch_pairs(8, seed=0, epoch=1, start_batch=2, rank=rank, world_size=world))
        assert [y.tolist() for _, y in later] == [y.tolist() for _, y in pairs[2:]]
    for x, y in val.chunk_pairs():
        assert y.tolist() == row_ids(x)



def test_a_file_without_a_label_column_streams_no_labels(rows_npy):
    with pytest.raises(DataError, match="no label column"):
        open_rows(rows_npy[0]).with_labels()


def test_a_cvae_trains_on_a_streamed_parquet_with_its_label_column_and_resumes_bitwise(tmp_path, labelled_parquet):
    data = load_data(str(labelled_parquet), loading="stream", label_column="label")
    train, val = data.with_labels(lambda y: y % 3).split(0.2, seed=0)  # three classes, known from the row

    def make(folder=None):
        torch.manual_seed(0)
        model = build_model(
            ModelConfig(model="cvae", input_shape=(4,), likelihood="gaussian", arch="mlp", latent_dim=2,
                        hidden_dims=(8,), num_classes=3)
        )
        cfg = TrainConfig(epochs=3, batch_size=8, checkpoint_every=2, device="cpu")
        return Trainer(model, cfg, checkpoint_dir=folder)

    reference = make()
    seen = []
    real = reference.model.loss_terms
    reference.model.loss_terms = lambda xb, g=None, y=None: seen.append((xb[:, 0].clone(), y)) or real(xb, g, y=y)
    history = reference.fit(train, val)
    assert len(seen) >= 3 * train.steps_per_epoch(8)  # the steps, then the validation passes
    for a, y in seen:  # training and validation batches alike
        assert y.dtype == torch.int64 and torch.equal(torch.round(a * 1000).long() % 3, y)
    assert all(np.isfinite(r["val_loss"]) for r in history)
    del reference.model.loss_terms

    killed = make(tmp_path / "ckpt")
    kill_at_step(killed, 9)  # inside the 2nd epoch (40 training rows: 5 steps per epoch)
    with pytest.raises(KeyboardInterrupt):
        killed.fit(train, val)
    resumed = make(tmp_path / "ckpt")
    assert resumed.resume_from(tmp_path / "ckpt") and (resumed.epoch, resumed.batch_in_epoch) == (1, 3)
    resumed.fit(train, val)
    for key, value in reference.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_auto_streams_files_over_the_threshold(rows_npy, monkeypatch):
    path, x = rows_npy
    assert isinstance(load_data(str(path), loading="auto"), vaekit.Dataset)
    monkeypatch.setattr(streaming, "AUTO_STREAM_BYTES", 1000)
    assert isinstance(load_data(str(path), loading="auto"), StreamedDataset)
    assert isinstance(load_data(str(path), loading="memory"), vaekit.Dataset)


def test_streaming_errors_are_one_line(tmp_path, rows_npy):
    bad = rows_npy[1].copy()
    bad[50, 3] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(DataError, match="1 NaN or infinite value"):
        load_data(str(tmp_path / "nan.npy"), loading="stream")
    np.save(tmp_path / "ints.npy", np.arange(40, dtype=np.int64).reshape(10, 4))
    with pytest.raises(DataError, match="cannot be streamed"):
        load_data(str(tmp_path / "ints.npy"), loading="stream")
    np.savetxt(tmp_path / "t.csv", rows_npy[1][:5], delimiter=",", header="a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p", comments="")
    with pytest.raises(DataError, match="reads .npy and .parquet"):
        load_data(str(tmp_path / "t.csv"), loading="stream")
    with pytest.raises(DataError, match="too few to hold out"):
        open_rows(rows_npy[0], block_rows=100).split(0.1, seed=0)
    np.save(tmp_path / "big.npy", rows_npy[1] * 3)
    with pytest.raises(DataError, match="values in"):  # checked against the range scanned at opening
        validate_for_likelihood(open_rows(tmp_path / "big.npy"), "bernoulli")
