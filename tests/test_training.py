import math

import pytest
import torch

from tests.conftest import dies_after, record_rates, weights
from vaekit.config import ModelConfig, TrainConfig
from vaekit.errors import ConfigError
from vaekit.models import build_model
from vaekit.training import Trainer, TrainingError
from vaekit.training.batches import BatchSource, TensorBatches, epoch_order
from vaekit.training.checkpoint import (
    checkpoint_paths,
    load_latest_checkpoint,
    save_checkpoint,
    sweep_temp_files,
)
from vaekit.training.distributed import World


def make(tmp_path=None, seed=0, **train):
    torch.manual_seed(seed)
    model = build_model(
        ModelConfig(input_shape=(1, 8, 8), arch="mlp", latent_dim=2, hidden_dims=(32,))
    )
    cfg = TrainConfig(**{"epochs": 4, "batch_size": 16, "seed": seed, **train})
    return Trainer(model, cfg, checkpoint_dir=None if tmp_path is None else tmp_path / "ckpt")


@pytest.fixture
def xs(tiny_images):
    x = torch.from_numpy(tiny_images)
    return x[::2].contiguous(), x[1::2].contiguous()


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_training_lowers_the_validation_loss_on_digits():
    from vaekit.data import load_data

    x = torch.from_numpy(load_data("digits").x)
    torch.manual_seed(0)
    model = build_model(ModelConfig(input_shape=(1, 8, 8), arch="mlp", latent_dim=4, hidden_dims=(64,)))
    trainer = Trainer(model, TrainConfig(epochs=8, batch_size=64, lr=3e-3))
    before = trainer.evaluate(x[1500:])["loss"]
    history = trainer.fit(x[:1500], x[1500:])
    assert len(history) == 8
    assert history[-1]["val_loss"] < 0.85 * before
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_same_seed_same_weights():
    a, b = make(), make()
    a.fit(*xs_default())
    b.fit(*xs_default())
    assert_same_weights(weights(a), weights(b))


def xs_default():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(40, 1, 8, 8, generator=g)
    return x[:32], x[32:]


@pytest.fixture
def subnormals_kept():
    """Starts with the process keeping subnormal floats, and leaves it so (the setting is process-wide)."""
    torch.set_flush_denormal(False)
    yield
    torch.set_flush_denormal(False)


def _subnormal_survives() -> bool:
    return (torch.tensor([1e-39]) * 2.0).item() != 0.0  # 2e-39 is below float32's smallest normal, 1.2e-38


@pytest.mark.parametrize("flush", [True, False])
def test_subnormals_are_flushed_while_training_on_cpu_and_restored_after(subnormals_kept, xs, flush):
    seen = []
    trainer = make(flush_denormal=flush, device="cpu", epochs=2)
    trainer.on_epoch_end.append(lambda _trainer, _row: seen.append(_subnormal_survives()))
    trainer.fit(*xs)
    assert seen == [not flush] * 2
    assert _subnormal_survives()  # the process's own setting is back


@pytest.mark.parametrize("checkpoint_every", [0, 3])
def test_resume_after_a_kill_ends_with_bitwise_identical_weights(tmp_path, xs, checkpoint_every):
    reference = make(checkpoint_every=checkpoint_every)
    reference.fit(*xs)

    killed = make(tmp_path, checkpoint_every=checkpoint_every)
    calls = {"n": 0}
    real_step = killed._train_step

    def dying_step(*args):
        calls["n"] += 1
        if calls["n"] == 4:  # the 2nd batch of the 2nd epoch (2 steps per epoch)
            raise KeyboardInterrupt
        return real_step(*args)

    killed._train_step = dying_step
    with pytest.raises(KeyboardInterrupt):
        killed.fit(*xs)

    resumed = make(tmp_path, checkpoint_every=checkpoint_every)
    assert resumed.resume_from(tmp_path / "ckpt")
    # Epoch-end checkpoints only: back to step 2; every 3 steps: mid-epoch at step 3.
    assert resumed.step == (2 if checkpoint_every == 0 else 3)
    assert resumed.batch_in_epoch == (0 if checkpoint_every == 0 else 1)
    resumed.fit(*xs)
    assert_same_weights(weights(reference), weights(resumed))
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in reference.history]


def test_early_stopping_restores_the_best_epoch(xs):
    trainer = make(epochs=50, patience=2, lr=0.05)
    history = trainer.fit(*xs)
    assert trainer.stopped_early and len(history) < 50
    best = min(history, key=lambda r: r["val_loss"])
    assert trainer.best_epoch == best["epoch"]
    assert trainer.evaluate(xs[1])["loss"] == pytest.approx(best["val_loss"], rel=1e-6)


def test_non_finite_loss_stops_with_a_typed_error(xs):
    trainer = make()
    bad = xs[0].clone()
    bad[3, 0, 0, 0] = float("nan")
    with pytest.raises(TrainingError, match=r"loss became nan at step 0 .*reconstruction"):
        trainer.fit(bad, xs[1])


def test_dynamic_binarization_feeds_binary_batches(xs):
    trainer = make(epochs=1, dynamic_binarization=True)
    seen = []
    real = trainer.model.loss_terms
    trainer.model.loss_terms = lambda xb, g=None: seen.append(xb.clone()) or real(xb, g)
    trainer.fit(xs[0])
    assert seen and all(set(torch.unique(b).tolist()) <= {0.0, 1.0} for b in seen)


def test_kl_warmup_weights_the_kl_term_from_zero(xs):
    trainer = make(epochs=2, kl_warmup_epochs=2)
    history = trainer.fit(*xs)
    assert history[0]["beta"] == pytest.approx(0.5)
    assert history[1]["beta"] == pytest.approx(1.0)


def test_grad_clip_bounds_the_gradient_norm(xs, monkeypatch):
    norms = []
    real = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, **kw):
        params = list(params)
        total = real(params, max_norm, **kw)
        norms.append(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])).item())
        return total

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    make(epochs=1, grad_clip=0.01).fit(xs[0])
    assert norms and max(norms) <= 0.01 * 1.0001


def test_checkpoints_keep_the_newest_and_skip_corrupt_ones(tmp_path):
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, {"model": {}, "step": step}, step, keep=2)
    assert [p.name for p in checkpoint_paths(tmp_path)] == ["step-000000002.pt", "step-000000003.pt"]
    checkpoint_paths(tmp_path)[-1].write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="skipping unreadable checkpoint"):
        state, path = load_latest_checkpoint(tmp_path)
    assert state["step"] == 2


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, {"model": {}, "step": 1}, 1)

    import vaekit.files as files_module

    def disk_full(fd):  # the bytes are written, the flush to disk fails
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files_module.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(tmp_path, {"model": {}, "step": 2}, 2)
    monkeypatch.undo()
    assert [p.name for p in checkpoint_paths(tmp_path)] == ["step-000000001.pt"]
    assert not list(tmp_path.glob(".tmp-*"))
    assert load_latest_checkpoint(tmp_path)[0]["step"] == 1


def test_stale_temp_files_are_swept(tmp_path):
    (tmp_path / ".tmp-abc.pt").write_bytes(b"half")
    assert sweep_temp_files(tmp_path) == 1
    assert not list(tmp_path.iterdir())


def test_checkpoints_refuse_pickled_code(tmp_path):
    import pickle

    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    path = tmp_path / "step-000000001.pt"
    path.write_bytes(pickle.dumps({"model": Payload()}))
    with pytest.warns(UserWarning):
        assert load_latest_checkpoint(tmp_path) is None
    assert not (tmp_path / "pwned").exists()


def test_on_nan_skip_skips_logs_and_caps(xs):
    bad = xs[0].clone()
    bad[0, 0, 0, 0] = float("nan")  # row 0 poisons one batch per epoch
    lines = []
    trainer = make(epochs=3, on_nan="skip", max_nan_skips=5)
    trainer.log = lines.append
    history = trainer.fit(bad, xs[1])
    assert trainer.nan_skips == 3
    assert sum("skipped batch" in line for line in lines) == 3
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert all(r["train_loss"] == r["train_loss"] for r in history)  # no NaN in the log
    capped = make(epochs=3, on_nan="skip", max_nan_skips=2)
    with pytest.raises(TrainingError, match="more than 2 non-finite batches"):
        capped.fit(bad, xs[1])


@pytest.mark.parametrize("which", [0, -1], ids=["first parameter", "last parameter"])
@pytest.mark.parametrize("bad", [float("inf"), float("nan")], ids=["inf", "nan"])
def test_non_finite_gradients_are_caught_even_when_the_loss_is_finite(xs, which, bad):
    trainer = make()
    param = list(trainer.model.parameters())[which]
    param.register_hook(lambda grad: torch.full_like(grad, bad))
    before = [p.detach().clone() for p in trainer.model.parameters()]
    with pytest.raises(TrainingError, match=f"a gradient became {bad} at step 0"):
        trainer.fit(*xs)
    # The bad step never reached the weights.
    assert all(torch.equal(p.detach(), b) for p, b in zip(trainer.model.parameters(), before))


def test_checkpoints_restore_the_global_rngs(tmp_path, xs):
    import random

    import numpy as np

    trainer = make(tmp_path, epochs=1)
    trainer.fit(*xs)
    expected = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    again = make(tmp_path, epochs=1)
    torch.manual_seed(123), np.random.seed(123), random.seed(123)
    assert again.resume_from(tmp_path / "ckpt")
    got = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    assert torch.equal(expected[0], got[0])
    assert np.array_equal(expected[1], got[1]) and expected[2] == got[2]


def test_a_failed_save_is_reported_and_keeps_the_last_checkpoint(tmp_path, xs, monkeypatch):
    import vaekit.training.trainer as trainer_module
    from vaekit.training import CheckpointError

    trainer = make(tmp_path, epochs=3)
    real = trainer_module.save_checkpoint
    calls = {"n": 0}

    def disk_full_on_second(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real(*args, **kw)

    monkeypatch.setattr(trainer_module, "save_checkpoint", disk_full_on_second)
    with pytest.raises(CheckpointError, match=r"No space left on device.*step-000000002.pt is intact"):
        trainer.fit(*xs)
    assert [p.name for p in checkpoint_paths(tmp_path / "ckpt")] == ["step-000000002.pt"]


@pytest.mark.slow
def test_file_size_limit_during_a_save_leaves_the_previous_checkpoint(tmp_path):
    """A real write failure (RLIMIT_FSIZE), in a child process so the limit stays there."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        f"""
        import resource, signal, torch
        from vaekit.training.checkpoint import save_checkpoint
        save_checkpoint({str(tmp_path)!r}, {{"model": {{}}, "w": torch.zeros(10)}}, 1)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
        try:
            save_checkpoint({str(tmp_path)!r}, {{"model": {{}}, "w": torch.zeros(100_000)}}, 2)
        except OSError as exc:
            print("errno", exc.errno)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "errno 27" in out.stdout, out.stderr  # EFBIG: File too large
    assert [p.name for p in checkpoint_paths(tmp_path)] == ["step-000000001.pt"]
    assert not list(tmp_path.glob(".tmp-*"))
    state, _ = load_latest_checkpoint(tmp_path)
    assert state["w"].shape == (10,)


@pytest.mark.parametrize("schedule, check", [
    ("cosine", lambda lrs: lrs[0] == pytest.approx(1e-2) and lrs[-1] < lrs[1] < lrs[0]),
    ("step", lambda lrs: lrs == pytest.approx([1e-2, 1e-2, 5e-3, 5e-3])),
])
def test_learning_rate_schedules(xs, schedule, check):
    trainer = make(epochs=4, lr=1e-2, lr_schedule=schedule, lr_step_epochs=2, lr_gamma=0.5)
    history = trainer.fit(*xs)
    assert check([r["lr"] for r in history])


def test_cosine_by_step_decays_within_epochs_to_lr_min_at_the_last_step(xs):
    trainer = make(epochs=3, lr=1e-2, lr_min=1e-3, lr_schedule="cosine", lr_interval="step")
    rates, _ = record_rates(trainer)
    trainer.fit(*xs)
    per_epoch = len(rates) // 3
    assert len(rates) == 3 * per_epoch > 3
    assert rates[0] == pytest.approx(1e-2)
    assert all(a > b for a, b in zip(rates, rates[1:]))  # every step, not once an epoch
    assert rates[-1] == pytest.approx(1e-3 + 4.5e-3 * (1 + math.cos(math.pi * (len(rates) - 1) / len(rates))))
    assert rates[per_epoch] < rates[per_epoch - 1]  # an epoch boundary is one step like any other


@pytest.mark.parametrize("schedule", ["step", "plateau"])
def test_only_the_cosine_moves_by_step(schedule):
    with pytest.raises(ConfigError, match="lr_interval 'step' moves the cosine schedule only"):
        TrainConfig(lr_schedule=schedule, lr_interval="step").validate()
    with pytest.raises(ConfigError, match="invalid value for 'lr_interval'"):
        TrainConfig(lr_interval="batch").validate()


def test_plateau_schedule_decays_when_validation_stalls(xs):
    trainer = make(epochs=12, lr=0.05, lr_schedule="plateau", lr_patience=1, lr_gamma=0.1)
    history = trainer.fit(*xs)
    assert history[-1]["lr"] < 0.05


def test_resume_is_exact_with_a_scheduler_and_cyclical_kl(tmp_path, xs):
    kw = dict(epochs=4, lr_schedule="cosine", kl_cycles=2)
    reference = make(**kw)
    reference.fit(*xs)
    first = make(tmp_path, **{**kw, "epochs": 4})
    first._train_step = dies_after(first._train_step, 5)
    with pytest.raises(KeyboardInterrupt):
        first.fit(*xs)
    resumed = make(tmp_path, **kw)
    assert resumed.resume_from(tmp_path / "ckpt")
    resumed.fit(*xs)
    assert_same_weights(weights(reference), weights(resumed))
    assert [r["lr"] for r in resumed.history] == [r["lr"] for r in reference.history]


def test_training_in_slices_equals_training_at_once(xs):
    whole = make(epochs=4)
    whole.fit(*xs)
    sliced = make(epochs=4)
    for stop in (1, 3, 4):
        sliced.fit(*xs, until_epoch=stop)
        assert sliced.epoch == stop
    assert_same_weights(weights(whole), weights(sliced))



def test_on_epoch_end_callbacks_see_each_row(xs):
    trainer = make(epochs=3)
    seen = []
    trainer.on_epoch_end.append(lambda t, row: seen.append((t.epoch, row["epoch"], "train_loss" in row)))
    trainer.fit(*xs)
    assert seen == [(1, 1, True), (2, 2, True), (3, 3, True)]


def make_m2(tmp_path=None, **train):
    torch.manual_seed(0)
    model = build_model(
        ModelConfig(model="m2", input_shape=(1, 8, 8), arch="mlp", latent_dim=2, hidden_dims=(16,), num_classes=2)
    )
    cfg = TrainConfig(**{"epochs": 3, "batch_size": 8, "checkpoint_every": 2, **train})
    return Trainer(model, cfg, checkpoint_dir=None if tmp_path is None else tmp_path / "ckpt")


def test_labelled_training_resumes_bitwise(tmp_path, xs):
    y = torch.tensor([0, -1, 1, -1] * 6)  # m2: half the rows unlabelled
    reference = make_m2()
    reference.fit(xs[0], train_y=y)
    killed = make_m2(tmp_path)
    killed._train_step = dies_after(killed._train_step, 5)
    with pytest.raises(KeyboardInterrupt):
        killed.fit(xs[0], train_y=y)
    resumed = make_m2(tmp_path)
    assert resumed.resume_from(tmp_path / "ckpt")
    resumed.fit(xs[0], train_y=y)
    assert_same_weights(weights(reference), weights(resumed))


def test_labels_reach_the_model_row_for_row(xs):
    trainer = make_m2(epochs=1)
    seen = []
    real = trainer.model.loss_terms
    trainer.model.loss_terms = lambda xb, g=None, y=None: seen.append((xb[:, 0, 0, 0].clone(), y.clone())) or real(xb, g, y=y)
    x = xs[0].clone()
    x[:, 0, 0, 0] = torch.arange(24, dtype=torch.float32)  # each row carries its own index
    trainer.fit(x, train_y=torch.arange(24) % 2)
    for rows, y in seen:
        assert torch.equal(rows.long() % 2, y)


def test_the_capacity_is_annealed_per_step_and_logged(xs):
    trainer = make(epochs=2, seed=0)
    trainer.capacity_max, trainer.capacity_steps = 8.0, 4  # 2 steps per epoch: C = 4 after epoch 1, 8 after 2
    history = trainer.fit(*xs)
    assert [r["capacity"] for r in history] == [4.0, 8.0]


@pytest.mark.parametrize("world", [1, 2, 3])
def test_tensor_batches_shard_the_epochs_permutation_with_labels_in_step(world):
    x = torch.arange(22, dtype=torch.float32)[:, None]  # (22, 1), each row its own index
    y = torch.arange(22) * 10
    per_rank = []
    for rank in range(world):
        source = TensorBatches(x, y, batch_size=4, seed=5, world=World(rank, world), device=torch.device("cpu"))
        batches = list(source.epoch(3))
        assert len(batches) == source.steps_per_epoch and len(source) == 22
        assert all(torch.equal(xb[:, 0].long() * 10, yb) for xb, yb in batches)
        assert [xb.tolist() for xb, _ in source.epoch(3, start_batch=2)] == [xb.tolist() for xb, _ in batches[2:]]
        per_rank.append(torch.cat([xb[:, 0] for xb, _ in batches]).long())
    order = epoch_order(5, 3, 22)
    padded = torch.cat([order, order])[: -(-22 // world) * world]
    for rank, rows in enumerate(per_rank):
        assert torch.equal(rows, padded[rank::world])


def test_any_batch_source_trains_through_the_one_loop(xs):
    class Fixed(BatchSource):
        steps_per_epoch = 3

        def __len__(self):
            return 48

        def epoch(self, epoch, start_batch=0):
            for b in range(start_batch, self.steps_per_epoch):
                yield xs[0][b * 8 : (b + 1) * 8], None

    trainer = make(epochs=2)
    history = trainer.fit(Fixed(), xs[1])
    assert trainer.step == 6 and [r["step"] for r in history] == [3, 6]
    with pytest.raises(ConfigError, match="yields its own labels"):
        make().fit(Fixed(), train_y=torch.zeros(48))

