"""Data-parallel training on PyTorch's own engine: ``torchrun`` + DistributedDataParallel.

``torchrun --nproc_per_node=N -m vaekit train ...`` starts N copies of the
same command; each reads its place from the environment torchrun sets
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``)
and joins one process group: gloo on CPUs, NCCL on GPUs. Every process holds
the whole model, trains on its shard of each epoch's permutation and DDP
averages the gradients, so the parameters stay identical everywhere. Only
rank 0 writes files. Without torchrun's variables everything here is a no-op
for a world of one process.
"""

from __future__ import annotations

import atexit
import datetime
import os
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

from vaekit.errors import ConfigError, VaekitError

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    """Global index of this process, 0 .. size - 1; rank 0 writes the files."""
    size: int = 1
    """Number of processes (torchrun's WORLD_SIZE)."""
    local_rank: int = 0
    """Index of this process on its machine; it picks the GPU."""

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world_from_env() -> World:
    """The world torchrun describes in the environment (one process when it is not set)."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise ConfigError(
            "RANK, WORLD_SIZE and LOCAL_RANK must be integers; start distributed runs with torchrun"
        ) from None
    if size < 1 or not 0 <= rank < size:
        raise ConfigError(f"RANK {rank} is outside WORLD_SIZE {size}; start distributed runs with torchrun")
    return World(rank=rank, size=size, local_rank=local_rank)


def current_world() -> World:
    """The process group's world once it is initialised, else the environment's."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), world_from_env().local_rank)
    return world_from_env()


def is_main() -> bool:
    """True in the process that writes files (rank 0, or the only process)."""
    return current_world().is_main


def resolve_device(name: str, world: World | None = None) -> torch.device:
    """``auto``/``cpu``/``cuda``/``cuda:N`` as a device this machine has.

    ``auto`` is CUDA when a GPU is available; under torchrun, ``auto`` and
    ``cuda`` mean this process's GPU, ``cuda:LOCAL_RANK``.
    """
    world = world or current_world()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        build = "built without CUDA" if torch.version.cuda is None else f"CUDA {torch.version.cuda}, but no GPU is visible"
        raise ConfigError(f"device {name!r} needs a CUDA GPU and this machine has none (torch {torch.__version__}, {build}); use --device cpu")
    index = int(name.partition(":")[2]) if ":" in name else (world.local_rank if world.size > 1 else 0)
    if index >= torch.cuda.device_count():
        raise ConfigError(
            f"device cuda:{index} does not exist: this machine has {torch.cuda.device_count()} GPU(s); "
            "use cuda:0 .. cuda:N-1, or fewer processes per node"
        )
    return torch.device("cuda", index)


def init_process_group(device: torch.device) -> World:
    """Join torchrun's process group (gloo on CPU, NCCL on GPUs) if there is one to join.

    Idempotent; the group is destroyed when the process exits.
    """
    world = world_from_env()
    if world.size == 1 or dist.is_initialized():
        return current_world()
    if not dist.is_available():  # pragma: no cover - torch built without distributed
        raise ConfigError("WORLD_SIZE > 1 but this torch has no torch.distributed; run one process")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)
    atexit.register(_destroy)
    return current_world()


def _destroy() -> None:
    """Leave the group together: a gloo rank torn down while its peer still tears down can abort
    ("terminate called without an active exception", seen about once in ten 2-process runs)."""
    if not dist.is_initialized():
        return
    if dist.get_backend() == "gloo":
        try:  # bounded, so a rank whose peer died still exits
            dist.monitored_barrier(timeout=datetime.timedelta(seconds=30))
        except RuntimeError:
            pass
    dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def all_reduce_sum(t: Tensor) -> Tensor:
    """Sum ``t`` over the processes, in place (identical result on every rank)."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_gather(t: Tensor, device: torch.device) -> Tensor:
    """Every rank's ``t`` stacked, shape (world, *t.shape), on the CPU."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return t.detach().to("cpu", copy=True).unsqueeze(0)
    # NCCL moves only device tensors; gloo only CPU ones.
    comm = t.to(device if dist.get_backend() == "nccl" else "cpu")
    out = [torch.empty_like(comm) for _ in range(dist.get_world_size())]
    dist.all_gather(out, comm)
    return torch.stack([o.cpu() for o in out])


def on_main(fn: Callable[[], T]) -> T:
    """Run ``fn`` on rank 0 only and give every rank its result, or raise its error everywhere.

    For decisions that read the file system (is there a run to resume?):
    rank 0 decides before it writes anything, and no rank waits forever on
    a rank that failed.
    """
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return fn()
    box: list[Any] = [None]
    if dist.get_rank() == 0:
        try:
            box[0] = ("ok", fn())
        except VaekitError as exc:
            box[0] = ("error", type(exc), str(exc))
            dist.broadcast_object_list(box, src=0)
            raise
    dist.broadcast_object_list(box, src=0)
    if box[0][0] == "error":
        _, kind, message = box[0]
        raise kind(message)
    return box[0][1]


def agree(failed: bool) -> bool:
    """True on every rank when any rank reports ``failed`` (e.g. rank 0 could not write)."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return failed
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    flag = torch.tensor([1.0 if failed else 0.0], device=device)
    dist.all_reduce(flag)
    return bool(flag.item() > 0)


class LossModule(nn.Module):
    """``model.loss_terms`` behind ``forward``: DDP syncs gradients only for calls through its forward."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, generator: torch.Generator | None = None, y: Tensor | None = None):
        return self.model.loss_terms(x, generator) if y is None else self.model.loss_terms(x, generator, y=y)


def data_parallel(model: nn.Module, device: torch.device) -> Callable:
    """The model's ``loss_terms`` wrapped in DistributedDataParallel (rank 0's weights broadcast)."""
    from torch.nn.parallel import DistributedDataParallel  # noqa: PLC0415 - only under torchrun (it pulls in the distributed stack)

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(LossModule(model), device_ids=ids, output_device=device.index if ids else None)


def shard(order: Tensor, rank: int, size: int) -> Tensor:
    """This rank's share of an epoch's permutation, as torch's DistributedSampler takes it.

    The order is padded with its own head to a multiple of ``size`` and
    rank r takes positions r, r + size, ...; every rank then has the same
    number of rows, so the ranks step in lockstep.
    """
    if size == 1:
        return order
    total = -(-len(order) // size) * size
    if total > len(order):
        order = order.repeat(-(-total // len(order)))[:total]
    return order[rank::size]
