"""What a run will need, estimated before it starts: memory for training, disk for its files.

A setting far too large for the machine (``--latent-dim 100000``, a 50-layer
MLP) should be refused in one line before the first step, not after minutes
of training with a traceback. The model is built on PyTorch's ``meta``
device (shapes only, no memory), and one forward pass on it counts the
activations a row keeps for the backward pass.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vaekit.errors import ConfigError

FLOAT_BYTES = 4
#: Training holds each parameter four times: the weight, its gradient and Adam's two moments.
TRAINING_COPIES = 4
#: A checkpoint holds the weights and Adam's two moments; the model file the weights once more.
CHECKPOINT_COPIES = 3
#: Activations a row keeps for the backward pass, counted as module outputs, times this
#: (the gradients of those outputs, and the buffers autograd keeps beside them).
ACTIVATION_FACTOR = 3
#: Use at most this share of the memory (and disk) the system says is free.
HEADROOM = 0.8
GIB = 2**30


@dataclass(frozen=True)
class RunNeeds:
    """Bytes a run needs: ``memory`` while training, ``disk`` for checkpoints and the model file."""

    parameters: int
    memory: int
    disk: int


def estimate(build: Callable[[], nn.Module], batch_shape: tuple[int, ...], keep_checkpoints: int) -> RunNeeds:
    """What training the model ``build()`` makes on batches of ``batch_shape`` needs.

    ``build`` is called under the ``meta`` device, so the estimate allocates nothing.
    """
    with torch.device("meta"):
        model = build()
    parameters = sum(p.numel() for p in model.parameters())
    activations = _activations_per_batch(model, batch_shape)
    memory = FLOAT_BYTES * (TRAINING_COPIES * parameters + ACTIVATION_FACTOR * activations)
    disk = FLOAT_BYTES * parameters * (CHECKPOINT_COPIES * (keep_checkpoints + 1) + 1)  # +1: the one being written
    return RunNeeds(parameters=parameters, memory=memory, disk=disk)


def _activations_per_batch(model: nn.Module, batch_shape: tuple[int, ...]) -> int:
    """Elements of every module output of one training step, from a forward pass on the meta device."""
    total = 0

    def count(_module, _inputs, output) -> None:
        nonlocal total
        for t in output if isinstance(output, tuple) else (output,):
            if isinstance(t, torch.Tensor):
                total += t.numel()

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.device("meta"):
            model.loss_terms(torch.zeros(batch_shape, device="meta"), None)
    except Exception:  # noqa: BLE001 - a part that cannot run on meta tensors: count the parameters only
        return 0
    finally:
        for handle in handles:
            handle.remove()
    return total


def available_memory() -> int | None:
    """Bytes of memory the system can give this process now (Linux's MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def free_disk(folder: Path) -> int:
    """Bytes free on the file system that holds ``folder`` (or its nearest existing parent)."""
    folder = folder.resolve()
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free


def check_fits(
    needs: RunNeeds, run_dir: Path | None, *, on_cpu: bool = True, memory: int | None = None, disk: int | None = None
) -> None:
    """Refuse a run that cannot fit in memory or on disk, saying what to lower.

    ``memory`` and ``disk`` are the bytes free (default: what the system says
    now); the memory is checked only when training runs ``on_cpu`` (a GPU's
    is the GPU's business: PyTorch says itself when it runs out).
    """
    memory = (available_memory() if memory is None else memory) if on_cpu else None
    size = f"a model of {_count(needs.parameters)} parameters"
    lower = "lower --latent-dim, --hidden-dims or --conv-channels"
    if memory is not None and needs.memory > HEADROOM * memory:
        raise ConfigError(
            f"this run needs about {needs.memory / GIB:.1f} GiB of memory to train {size} but "
            f"{memory / GIB:.1f} GiB is free; {lower}, or --batch-size"
        )
    if run_dir is not None:
        disk = free_disk(run_dir) if disk is None else disk
        if needs.disk > HEADROOM * disk:
            raise ConfigError(
                f"this run's checkpoints and model file need about {needs.disk / GIB:.1f} GiB of disk for {size} "
                f"but {disk / GIB:.1f} GiB is free where {run_dir} goes; {lower}, or --keep-checkpoints"
            )


def _count(n: int) -> str:
    if n < 1000:
        return str(n)
    exponent = min(int(math.log10(n)) // 3, 3)
    return f"{n / 10 ** (3 * exponent):.1f}{' kMB'[exponent]}"
