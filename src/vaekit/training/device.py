"""Where the loss is computed and how: device placement, bf16 autocast, torch.compile.

Each helper returns a plain callable chosen once when training starts, so
the fp32 eager path on the CPU (the common case) runs exactly the model's
own ``loss_terms`` with nothing wrapped around it.
"""

from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import Tensor, nn

from vaekit.errors import VaekitError
from vaekit.objectives import LossTerms

LossFn = Callable[[Tensor, "torch.Generator | None"], LossTerms]
#: In-memory data goes to the GPU whole when it takes at most this share of
#: the free GPU memory (no copy per step); otherwise batches are copied from
#: pinned host memory.
DEVICE_RESIDENT_SHARE = 0.25


def _flushing_subnormals() -> bool:
    """Whether this process now flushes subnormal floats to zero (torch can set it, not report it)."""
    return (torch.tensor([1e-39]) * 2.0).item() == 0.0  # 2e-39 is below float32's smallest normal, 1.2e-38


@contextmanager
def subnormals_flushed(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """On the CPU, flush subnormal floats to zero inside the block, then restore the process's setting.

    Adam's running squares of weights that get almost no gradient (the pixels of
    a border that is never on) decay below 1e-38 into subnormals, on which x86
    takes a slow path: sprites steps went from 83 to 140 ms over 1,500 steps
    unflushed, at the same losses. The setting is process-wide, so it is only
    held while training runs (hypothesis, for one, needs subnormals).
    """
    if not enabled or device.type != "cpu":
        yield
        return
    before = _flushing_subnormals()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


class CompileWarning(UserWarning):
    """torch.compile failed; training goes on eagerly."""


class LossCall:
    """Holds the step's loss function under the model's method name, ``loss_terms``."""

    __slots__ = ("loss_terms",)

    def __init__(self, fn: LossFn) -> None:
        self.loss_terms = fn


def with_autocast(fn: LossFn, device: torch.device) -> LossFn:
    """``fn`` under bf16 autocast, its tensor terms returned in fp32 so the trainer reduces in fp32.

    Terms that are not tensors (an objective's weights, e.g. beta-TCVAE's alpha) pass unchanged.
    """

    def loss_terms(x: Tensor, generator: torch.Generator | None = None, y: Tensor | None = None) -> LossTerms:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            terms = fn(x, generator) if y is None else fn(x, generator, y=y)
        return type(terms)(**{name: t.float() if isinstance(t, Tensor) else t for name, t in vars(terms).items()})

    return loss_terms


class CompiledLoss:
    """``torch.compile(fn)``, timed on its first call, and eager ``fn`` if compilation fails.

    Compilation happens lazily, inside the first call (forward) and the first
    backward; the trainer times its whole first step and reports that as
    ``seconds``. A failure (no C++ compiler, an unsupported operation) is
    reported once as a :class:`CompileWarning` and the eager function is used
    from then on; the caller restores any random state the failed call used.
    """

    def __init__(self, fn: LossFn, log: Callable[[str], None] | None = None) -> None:
        self.eager = fn
        self.log = log
        self.seconds: float | None = None
        self.failed = False
        try:
            self.compiled: LossFn | None = torch.compile(fn)
        except Exception as exc:  # noqa: BLE001 - any failure means: train eagerly
            self._fail(exc)

    @property
    def fn(self) -> LossFn:
        return self.eager if self.compiled is None else self.compiled

    def _fail(self, exc: BaseException) -> None:
        self.failed, self.compiled = True, None
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        warnings.warn(f"torch.compile failed ({type(exc).__name__}: {reason}); training eagerly", CompileWarning, stacklevel=3)

    def first_step(self, step: Callable[[LossFn], None], rewind: Callable[[], None]) -> None:
        """Run one training step with the compiled function, timing it; on failure rewind and run it eagerly."""
        started = time.perf_counter()
        try:
            step(self.fn)
        except Exception as exc:  # noqa: BLE001
            if self.compiled is None or isinstance(exc, _NOT_COMPILE_ERRORS):
                raise
            self._fail(exc)
            rewind()
            step(self.eager)
            return
        self.seconds = time.perf_counter() - started
        if self.log is not None and self.compiled is not None:
            self.log(f"compiled the loss in {self.seconds:.1f} s (first step included)")


#: Errors of the step itself (a NaN stop, a full disk), not of the compiler.
_NOT_COMPILE_ERRORS = (VaekitError, KeyboardInterrupt)


def place_data(x: Tensor, device: torch.device) -> Tensor:
    """In-memory data on ``device``: moved whole when it fits comfortably, else pinned on the host."""
    if device.type == "cpu":
        return x
    free, _ = torch.cuda.mem_get_info(device)
    if x.numel() * x.element_size() <= DEVICE_RESIDENT_SHARE * free:
        return x.pin_memory().to(device, non_blocking=True)
    return x.pin_memory()


def to_device(xb: Tensor, device: torch.device) -> Tensor:
    """A host batch on ``device``: through pinned memory, without waiting for the copy."""
    if device.type == "cpu" or xb.device == device:
        return xb
    return xb.pin_memory().to(device, non_blocking=True)


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """The model on ``device``; conv nets in channels_last on GPUs (tensor cores want NHWC)."""
    model.to(device)
    if device.type == "cuda" and any(isinstance(m, nn.Conv2d) for m in model.modules()):
        model.to(memory_format=torch.channels_last)
    return model
