"""Data-parallel training: two gloo processes under torchrun on this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from vaekit.config import TrainConfig
from vaekit.training import TrainingError
from vaekit.training.distributed import World, resolve_device, shard, world_from_env

# Trains a tiny model with the Python API; run alone (one process) or under torchrun.
SCRIPT = textwrap.dedent(
    """
    import sys

    import torch

    import vaekit.posteriors as posteriors
    from vaekit.config import ModelConfig, TrainConfig
    from vaekit.models import build_model
    from vaekit.training import Trainer
    from vaekit.training.distributed import current_world

    mode, out, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # No sampling noise (z = mu): each process draws its own noise, so only
    # without it can the data-parallel run be compared with one process.
    posteriors.reparameterize = lambda mu, std, eps: mu
    torch.set_num_threads(1)
    x = torch.load(f"{out}/data.pt")
    torch.manual_seed(0)
    model = build_model(ModelConfig(input_shape=(16,), arch="mlp", latent_dim=2, hidden_dims=(8,), likelihood="gaussian"))
    cfg = TrainConfig(epochs=3, batch_size=batch, lr=1e-2, device="cpu", checkpoint_every=2)
    trainer = Trainer(model, cfg, checkpoint_dir=None if mode == "single" else f"{out}/ckpt")
    if mode == "resume":
        assert trainer.resume_from(f"{out}/ckpt") and trainer.batch_in_epoch == 1
    if mode == "kill":
        real, calls = trainer._train_step, [0]

        def dying(*args):
            calls[0] += 1
            if calls[0] == 5:  # both ranks at the same step: after the mid-epoch checkpoint of step 4
                raise SystemExit(3)
            return real(*args)

        trainer._train_step = dying
    trainer.fit(x[:48], x[48:])
    torch.save({"state": trainer.model.state_dict(), "history": trainer.history},
               f"{out}/{mode}-rank{current_world().rank}.pt")
    """
)


def torchrun(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


def write_script(folder: Path) -> Path:
    """SCRIPT and its data (64 rows of 16 features) in ``folder``; returns the script's path."""
    torch.save(torch.randn(64, 16, generator=torch.Generator().manual_seed(0)), folder / "data.pt")
    script = folder / "train.py"
    script.write_text(SCRIPT)
    return script


def load(path):
    return torch.load(path, weights_only=True)


def metrics(run) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in run["history"]]


def test_world_comes_from_torchruns_environment(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert world_from_env() == World(0, 1, 0) and world_from_env().is_main
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert world_from_env() == World(3, 4, 1) and not world_from_env().is_main
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")


def test_shards_follow_distributed_sampler():
    order = torch.tensor([4, 0, 3, 1, 2])
    assert shard(order, 0, 1) is order
    assert shard(order, 0, 2).tolist() == [4, 3, 2] and shard(order, 1, 2).tolist() == [0, 1, 4]  # padded with the head
    from torch.utils.data.distributed import DistributedSampler

    sampler = DistributedSampler(range(5), num_replicas=2, rank=1, shuffle=False)
    assert [order[i].item() for i in sampler] == shard(order, 1, 2).tolist()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_two_processes_hold_identical_weights_match_one_process_and_resume_bitwise(tmp_path):
    script = write_script(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, str(script), "single", str(tmp_path), "16"], capture_output=True,
                            text=True, env=env, timeout=300)
    assert single.returncode == 0, single.stderr[-2000:]
    done = torchrun(str(script), "full", str(tmp_path), "8")
    assert done.returncode == 0, done.stderr[-3000:]

    rank0, rank1 = load(tmp_path / "full-rank0.pt"), load(tmp_path / "full-rank1.pt")
    one = load(tmp_path / "single-rank0.pt")
    for key, value in rank0["state"].items():
        assert torch.equal(value, rank1["state"][key]), key  # DDP keeps the replicas identical
        # batch 8 on each of 2 processes is batch 16 on one: the same steps up to rounding
        torch.testing.assert_close(value, one["state"][key], rtol=1e-4, atol=1e-5)
    assert metrics(rank0) == metrics(rank1)  # metrics are reduced over the ranks: the same everywhere
    for a, b in zip(rank0["history"], one["history"]):
        assert a["step"] == b["step"]
        for key in ("train_loss", "val_loss"):
            assert a[key] == pytest.approx(b[key], rel=1e-4)

    ckpt = sorted((tmp_path / "ckpt").glob("step-*.pt"))[-1]
    assert load(ckpt)["world_size"] == 2
    for p in (tmp_path / "ckpt").glob("*"):
        p.unlink()
    killed = torchrun(str(script), "kill", str(tmp_path), "8")
    assert killed.returncode != 0 and not (tmp_path / "kill-rank0.pt").exists()
    resumed = torchrun(str(script), "resume", str(tmp_path), "8")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    again = load(tmp_path / "resume-rank0.pt")
    for key, value in rank0["state"].items():
        assert torch.equal(value, again["state"][key]), key
    assert metrics(again) == metrics(rank0)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_torchrun_runs_the_cli_unchanged_and_resumes_auto(tmp_path, tiny_npz):
    args = ["-m", "vaekit", "train", "--data", str(tiny_npz), "--device", "cpu", "--quiet", "--arch", "mlp",
            "--latent-dim", "2", "--hidden-dims", "8", "--batch-size", "8", "--checkpoint-every", "2"]
    first = torchrun(*args, "--out", str(tmp_path / "run"), "--epochs", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    out = tmp_path / "run"
    assert (out / "model.safetensors").exists() and (out / "summary.json").exists()
    assert json.loads((out / "summary.json").read_text())["epochs_trained"] == 2
    more = torchrun(*args, "--out", str(out), "--resume", "auto", "--epochs", "3")
    assert more.returncode == 0, more.stderr[-3000:]
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 4  # header + 3 epochs: the first two from the checkpoint
    straight = torchrun(*args, "--out", str(tmp_path / "straight"), "--epochs", "3")
    assert straight.returncode == 0, straight.stderr[-3000:]
    from safetensors.numpy import load_file

    a, b = load_file(out / "model.safetensors"), load_file(tmp_path / "straight" / "model.safetensors")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_a_checkpoint_of_two_processes_is_not_resumed_by_one(tmp_path, tiny_images):
    from vaekit.config import ModelConfig
    from vaekit.models import build_model
    from vaekit.training import Trainer

    model = build_model(ModelConfig(input_shape=(1, 8, 8), arch="mlp", latent_dim=2, hidden_dims=(8,)))
    trainer = Trainer(model, TrainConfig(epochs=1, batch_size=16, device="cpu"), checkpoint_dir=tmp_path)
    trainer.fit(torch.from_numpy(tiny_images))
    state = trainer.state_dict()
    state["world_size"] = 2
    with pytest.raises(TrainingError, match="written by 2 process.*--nproc_per_node 2"):
        trainer.load_state_dict(state)


def two_nodes(*args: str, run_id: str) -> list[subprocess.CompletedProcess]:
    """Two torchrun agents on this machine, as two nodes of one process each (c10d rendezvous on 127.0.0.1)."""
    import socket

    with socket.socket() as s:  # a free port for the rendezvous store
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1", "--rdzv-backend=c10d",
        f"--rdzv-endpoint=127.0.0.1:{port}", f"--rdzv-id={run_id}", "--local-addr=127.0.0.1", *args,
    ]
    nodes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in (0, 1)]
    done = []
    for node in nodes:
        out, err = node.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(command, node.returncode, out, err))
    return done


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_two_nodes_train_are_killed_resume_and_match_two_processes_on_one_node(tmp_path):
    """Issue 19: `--nnodes 2` with a c10d rendezvous (what a cluster runs) ends bitwise where one node's run does."""
    script = write_script(tmp_path)
    done = torchrun(str(script), "full", str(tmp_path), "8")  # the reference: 2 processes, one node
    assert done.returncode == 0, done.stderr[-3000:]
    for p in (tmp_path / "ckpt").glob("*"):
        p.unlink()
    killed = two_nodes(str(script), "kill", str(tmp_path), "8", run_id="vaekit-kill")
    assert all(node.returncode != 0 for node in killed) and not (tmp_path / "kill-rank0.pt").exists()
    assert sorted((tmp_path / "ckpt").glob("step-*.pt")), "the killed run left no checkpoint"
    resumed = two_nodes(str(script), "resume", str(tmp_path), "8", run_id="vaekit-resume")
    assert all(node.returncode == 0 for node in resumed), [node.stderr[-2000:] for node in resumed]
    reference, again = load(tmp_path / "full-rank0.pt"), load(tmp_path / "resume-rank0.pt")
    other = load(tmp_path / "resume-rank1.pt")
    for key, value in reference["state"].items():
        assert torch.equal(value, again["state"][key]) and torch.equal(value, other["state"][key]), key
    assert metrics(again) == metrics(reference)
