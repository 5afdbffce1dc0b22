"""Data larger than memory: ``.npy`` files memory-mapped, Parquet files read by row group.

The rows of a file are cut into blocks: a few MB of contiguous rows of a
``.npy`` file (read through a memory map, as ``np.load(mmap_mode="r")``
does), or one row group of a Parquet file. An epoch visits the blocks in an
order drawn from (seed, epoch), grouped into windows of about
``shuffle_window_mb``; the rows of a window are permuted by a generator
seeded with (seed, epoch, window). Only one window is in memory at a time,
so memory does not grow with the file, and the batch order is a pure
function of (seed, epoch): a run resumed in the middle of an epoch jumps to
the window holding its next batch and replays the same batches.

The validation split holds out whole blocks (drawn with the seed), so no
per-row index is kept either. A Parquet file's label column travels with its
rows: :meth:`StreamedDataset.with_labels` names what a model takes for it, and
:meth:`StreamedDataset.batch_pairs` then yields ``(x, y)`` batches, the
labels permuted with their rows. Nothing here imports torch.
"""

from __future__ import annotations

import math
import mmap
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from vaekit.data import tables
from vaekit.data.dataset import Dataset
from vaekit.errors import DataError

#: ``loading: auto`` streams .npy and .parquet files larger than this: above
#: it an in-memory float32 copy (twice, with the split) costs more than training.
AUTO_STREAM_BYTES = 512 * 2**20
#: Rows of a streamed split evaluated for summary.json and shown in pictures:
#: whole blocks drawn with a fixed seed, never the whole file.
STREAMED_SAMPLE_ROWS = 10_000
_MB = 2**20


class BlockSource:
    """Rows of one file, readable block by block as float32 samples."""

    name: str
    sample_shape: tuple[int, ...]
    feature_names: list[str] | None = None
    #: Row offsets of the blocks, shape (n_blocks + 1,).
    starts: np.ndarray

    def read(self, block: int) -> np.ndarray:
        """Block ``block`` as float32 samples, (rows, *sample_shape)."""
        raise NotImplementedError

    def labels(self, block: int) -> np.ndarray | None:
        return None

    @property
    def row_bytes(self) -> int:
        return 4 * math.prod(self.sample_shape)


class NpyBlocks(BlockSource):
    """A ``.npy`` file through a read-only memory map, in blocks of about ``block_bytes``.

    After a block is copied out, its pages are dropped from this process
    (``madvise(MADV_DONTNEED)``; they stay in the page cache), so the
    resident memory stays at one window however much of the file was read.
    """

    def __init__(self, path: Path, block_bytes: int) -> None:
        self.name = str(path)
        try:
            header = np.load(path, mmap_mode="r", allow_pickle=False)  # parses and checks the header
        except tables.UNREADABLE as e:
            raise DataError(f"cannot read {path} ({tables.first_line(e)}); save it with numpy.save on a numeric array") from e
        if not isinstance(header, np.memmap):
            raise DataError(f"{path} holds an .npz archive, not one array; rename it to .npz")
        if not streamable_dtype(header.dtype) or header.ndim not in (2, 3, 4) or header.shape[0] == 0:
            raise DataError(
                f"{path} ({header.dtype}, shape {header.shape}) cannot be streamed: streaming reads float, bool or "
                "uint8 arrays of rank 2 to 4 with rows; save it so, or use --loading memory"
            )
        if header.ndim > 1 and header.flags.f_contiguous and not header.flags.c_contiguous:
            raise DataError(f"{path} is stored in Fortran order; save it with numpy.save(np.ascontiguousarray(x))")
        with open(path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._offset = int(header.offset)
        self._array = np.ndarray(header.shape, header.dtype, buffer=self._map, offset=self._offset)
        self._raw_row_bytes = header.dtype.itemsize * math.prod(header.shape[1:])
        self.sample_shape = tables.as_samples(self._array[:1], self.name).shape[1:]
        n = header.shape[0]
        rows = max(1, block_bytes // max(1, self._raw_row_bytes))
        self.starts = np.append(np.arange(0, n, rows), n).astype(np.int64)

    def read(self, block: int) -> np.ndarray:
        start, stop = int(self.starts[block]), int(self.starts[block + 1])
        x = tables.as_samples(self._array[start:stop], self.name)  # a float32 copy
        if np.may_share_memory(x, self._array):  # already float32: as_samples returned a view of the map
            x = x.copy()
        self._release(start, stop)
        return x

    def _release(self, start: int, stop: int) -> None:
        if not hasattr(mmap, "MADV_DONTNEED"):  # pragma: no cover - not Linux/BSD: the kernel decides
            return
        page = mmap.PAGESIZE
        first = (self._offset + start * self._raw_row_bytes) // page * page
        last = min(len(self._map), self._offset + stop * self._raw_row_bytes)
        if last > first:
            self._map.madvise(mmap.MADV_DONTNEED, first, last - first)


class ParquetBlocks(BlockSource):
    """A Parquet file, one row group per block; ``label_column`` is kept out of the samples."""

    def __init__(self, path: Path, label_column: str | None) -> None:
        try:
            import pyarrow as pa  # noqa: PLC0415 - an optional extra (vaekit[parquet]): only for Parquet files
            import pyarrow.parquet as pq  # noqa: PLC0415 - as above
        except ImportError as e:
            raise DataError("reading .parquet needs pyarrow: pip install 'vaekit[parquet]'") from e
        self.name = str(path)
        try:
            self._file = pq.ParquetFile(path)
        except (OSError, ValueError) as e:
            raise DataError(f"cannot parse {path} ({tables.first_line(e)}); check that it is a valid table") from e
        schema = self._file.schema_arrow
        columns = list(schema.names)
        if label_column is not None and label_column not in columns:
            raise DataError(
                f"label column {label_column!r} is not in {path}; "
                f"available columns: {', '.join(map(tables.printable, columns))}"
            )
        self._label = label_column
        features = [c for c in columns if c != label_column]
        numeric = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)
        text = [c for c in features if not any(check(schema.field(c).type) for check in numeric)]
        if text:
            hint = "drop them or encode them as numbers" if label_column else "pass --label-column NAME if one is the label, and drop the others"
            raise DataError(f"{path} has non-numeric column(s) {', '.join(map(repr, text))}; {hint}")
        if not features:
            raise DataError(f"{path} has no feature columns besides the label; add numeric columns")
        self.feature_names = features
        self.sample_shape = (len(features),)
        meta = self._file.metadata
        self.starts = np.cumsum([0] + [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]).astype(np.int64)

    def read(self, block: int) -> np.ndarray:
        table = self._file.read_row_group(block, columns=self.feature_names)
        x = table.to_pandas().to_numpy(dtype=np.float32, na_value=np.nan)  # (rows, D), nulls -> NaN
        return x if x.flags.writeable else x.copy()  # torch wants writable memory

    def labels(self, block: int) -> np.ndarray | None:
        if self._label is None:
            return None
        column = self._file.read_row_group(block, columns=[self._label]).to_pandas()[self._label]
        return tables.labels_from_column(column)


def streamable_dtype(dtype: np.dtype) -> bool:
    """Float, bool and uint8 arrays convert to samples block by block the way a whole load does."""
    return dtype.kind in "fb" or dtype == np.uint8


@dataclass
class StreamedDataset:
    """Some blocks of a file, read a window at a time; quacks like :class:`Dataset` where it can.

    Attributes
    ----------
    source:
        The file's blocks.
    blocks:
        Which blocks of the source make up this dataset (a split holds some).
    window_bytes:
        Size of a shuffle window.
    value_range:
        (min, max) of every value, from the scan made when the file was opened.
    label_rule:
        Turns a block's labels, as the file holds them, into what the model
        takes (e.g. int64 classes); ``None``: batches carry no labels.
    """

    source: BlockSource
    blocks: np.ndarray
    window_bytes: int
    value_range: tuple[float, float] = (0.0, 0.0)
    label_rule: Callable[[np.ndarray], np.ndarray] | None = None
    _rows: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.blocks = np.asarray(self.blocks, dtype=np.int64)
        self._rows = int(self._block_rows(self.blocks).sum())

    def __len__(self) -> int:
        return self._rows

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.source.sample_shape)

    @property
    def is_image(self) -> bool:
        return len(self.sample_shape) == 3

    @property
    def feature_names(self) -> list[str] | None:
        return self.source.feature_names

    def _block_rows(self, blocks: np.ndarray) -> np.ndarray:
        return self.source.starts[blocks + 1] - self.source.starts[blocks]

    def with_labels(self, rule: Callable[[np.ndarray], np.ndarray] = np.asarray) -> StreamedDataset:
        """This data with labels in its batches and chunks: ``rule`` of each block's label column.

        ``rule`` is applied block by block, e.g. to check the classes a
        conditional model takes; splits made before or after keep it.
        """
        if len(self.blocks) and self.source.labels(int(self.blocks[0])) is None:
            raise DataError(f"{self.name} has no label column to stream; pass --label-column NAME (Parquet files only)")
        return replace(self, label_rule=rule)

    def _labels(self, block: int) -> np.ndarray:
        return self.label_rule(self.source.labels(block))

    # ------------------------------------------------------------------ splits and samples

    def split(self, val_fraction: float, seed: int) -> tuple[StreamedDataset, StreamedDataset]:
        """Train and validation parts holding whole blocks, about ``val_fraction`` of the rows in validation."""
        if val_fraction <= 0:
            return self, replace(self, blocks=self.blocks[:0])
        order = np.random.default_rng(seed).permutation(self.blocks)
        held = np.cumsum(self._block_rows(order))
        n_val = int(np.searchsorted(held, val_fraction * len(self))) + 1  # blocks until the share is reached
        if n_val >= len(order):
            raise DataError(
                f"{self.name} has {len(self.blocks)} block(s): too few to hold out {val_fraction:g} of them for "
                "validation; lower --block-mb, or set --val-fraction 0"
            )
        return replace(self, blocks=np.sort(order[n_val:])), replace(self, blocks=np.sort(order[:n_val]))

    def sample(self, limit: int = STREAMED_SAMPLE_ROWS, seed: int = 0) -> Dataset:
        """Up to ``limit`` rows in memory: whole blocks in a seeded order, so only they are read."""
        order = np.random.default_rng(seed).permutation(self.blocks)
        chosen = order[: int(np.searchsorted(np.cumsum(self._block_rows(order)), limit)) + 1]
        chosen = np.sort(chosen)
        x = np.concatenate([self.source.read(int(b)) for b in chosen])[:limit]
        labels = [self.source.labels(int(b)) for b in chosen]
        y = None if labels[0] is None else np.concatenate(labels)[:limit]
        return Dataset(x=x, y=y, name=self.name, feature_names=self.feature_names)

    def chunks(self, rank: int = 0, world_size: int = 1) -> Iterator[np.ndarray]:
        """This rank's share of the blocks, one block at a time (for evaluation)."""
        for block in self.blocks[rank::world_size]:
            yield self.source.read(int(block))

    def chunk_pairs(self, rank: int = 0, world_size: int = 1) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """As :meth:`chunks`, each block with its labels (``None`` without a ``label_rule``)."""
        for block in self.blocks[rank::world_size]:
            yield self.source.read(int(block)), None if self.label_rule is None else self._labels(int(block))

    # ------------------------------------------------------------------ the epoch's batches

    def steps_per_epoch(self, batch_size: int, world_size: int = 1) -> int:
        return math.ceil(math.ceil(len(self) / world_size) / batch_size)

    def windows(self, seed: int, epoch: int) -> list[np.ndarray]:
        """The blocks of epoch ``epoch`` in shuffled order, grouped into windows of about ``window_bytes``."""
        order = np.random.default_rng([seed, epoch]).permutation(self.blocks)
        sizes = self._block_rows(order) * self.source.row_bytes
        windows, first, filled = [], 0, 0
        for i, size in enumerate(sizes):
            filled += int(size)
            if filled >= self.window_bytes:
                windows.append(order[first : i + 1])
                first, filled = i + 1, 0
        if first < len(order):
            windows.append(order[first:])
        return windows

    def batches(
        self, batch_size: int, seed: int, epoch: int, *, start_batch: int = 0, rank: int = 0, world_size: int = 1
    ) -> Iterator[np.ndarray]:
        """Batches of epoch ``epoch`` for ``rank``, from batch ``start_batch`` on.

        The epoch's order is the windows' rows, each window permuted; as
        torch's DistributedSampler does, it is padded with its own head to a
        multiple of ``world_size`` and rank r takes positions r, r + world, ...
        Windows that hold none of the wanted positions are not read.
        """
        for x, _ in self._batches(batch_size, seed, epoch, start_batch, rank, world_size, labels=False):
            yield x

    def batch_pairs(
        self, batch_size: int, seed: int, epoch: int, *, start_batch: int = 0, rank: int = 0, world_size: int = 1
    ) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """The batches of :meth:`batches`, each with its rows' labels (``None`` without a ``label_rule``)."""
        labels = self.label_rule is not None
        return self._batches(batch_size, seed, epoch, start_batch, rank, world_size, labels=labels)

    def _batches(
        self, batch_size: int, seed: int, epoch: int, start_batch: int, rank: int, world_size: int, *, labels: bool
    ) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        windows = self.windows(seed, epoch)
        n = len(self)
        total = math.ceil(n / world_size) * world_size
        # (window index, its blocks, global position of its first row, rows of it in the order)
        plan, position = [], 0
        for w, blocks in enumerate(windows):
            size = int(self._block_rows(blocks).sum())
            plan.append((w, blocks, position, size))
            position += size
        while position < total:  # padding: the order's head again (window 0, then on)
            for w, blocks, _, size in plan[: len(windows)]:
                take = min(size, total - position)
                plan.append((w, blocks, position, take))
                position += take
                if position >= total:
                    break
        first = rank + world_size * start_batch * batch_size  # global position of the first wanted row
        carry: np.ndarray | None = None  # rows short of a batch, from the previous window
        carry_y: np.ndarray | None = None  # their labels
        for w, blocks, lo, size in plan:
            hi = lo + size
            if hi <= first:
                continue
            begin = max(first, lo)
            begin += (rank - begin) % world_size  # first position of this rank at or after begin
            wanted = np.arange(begin, hi, world_size) - lo  # positions within the window
            if wanted.size == 0:
                continue
            buffer, buffer_y = self._read_window(blocks, labels)
            perm = np.random.default_rng([seed, epoch, w]).permutation(len(buffer))
            rows = perm[wanted]  # rows of the buffer, in batch order
            i = 0
            while i < len(rows):
                need = batch_size - (0 if carry is None else len(carry))
                take = rows[i : i + need]
                piece = buffer[take]  # (<= need, *shape), a copy
                piece_y = None if buffer_y is None else buffer_y[take]
                i += len(piece)
                if carry is not None:
                    piece, carry = np.concatenate([carry, piece]), None
                    piece_y, carry_y = (None if carry_y is None else np.concatenate([carry_y, piece_y])), None
                if len(piece) == batch_size:
                    yield piece, piece_y
                else:
                    carry, carry_y = piece, piece_y
            del buffer, buffer_y
        if carry is not None:
            yield carry, carry_y

    def _read_window(self, blocks: np.ndarray, labels: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """The rows of ``blocks`` in one buffer, (rows, *shape), and their labels when ``labels``."""
        sizes = self._block_rows(blocks)
        buffer = np.empty((int(sizes.sum()), *self.sample_shape), dtype=np.float32)
        at = 0
        for block, size in zip(blocks, sizes):
            buffer[at : at + size] = self.source.read(int(block))
            at += int(size)
        if not labels:
            return buffer, None
        return buffer, np.concatenate([self._labels(int(block)) for block in blocks])


def open_streamed(
    path: Path, *, label_column: str | None, block_mb: float, shuffle_window_mb: float
) -> StreamedDataset:
    """Open a ``.npy`` or ``.parquet`` file for streaming and scan it once, block by block.

    The scan checks what a whole load checks (rows present, every value
    finite) and records the value range, with one block in memory at a time.
    """
    suffix = path.suffix.lower()
    if suffix == ".npy":
        source: BlockSource = NpyBlocks(path, int(block_mb * _MB))
    elif suffix == ".parquet":
        source = ParquetBlocks(path, label_column)
    else:
        raise DataError(f"--loading stream reads .npy and .parquet files, not {path}; use --loading memory")
    n_blocks = len(source.starts) - 1
    if source.starts[-1] == 0:
        raise DataError(f"{path} has no rows; check the file or the filter that produced it")
    low, high, bad = math.inf, -math.inf, None
    for block in range(n_blocks):
        x = source.read(block)
        if x.size == 0:
            continue
        finite = np.isfinite(x)
        if not finite.all():
            per_column = (~finite).reshape(len(x), -1).sum(axis=0)
            bad = per_column if bad is None else bad + per_column
            continue
        low, high = min(low, float(x.min())), max(high, float(x.max()))
    if bad is not None:
        where = ""
        if source.feature_names is not None:
            listed = [f"{tables.printable(n)} ({c})" for n, c in zip(source.feature_names, bad) if c]
            more = f" and {len(listed) - 5} more" if len(listed) > 5 else ""
            where = f" in column(s) {', '.join(listed[:5])}{more}"
        raise DataError(f"{path} has {int(bad.sum())} NaN or infinite value(s){where}; drop or fill those rows first")
    return StreamedDataset(
        source, np.arange(n_blocks), window_bytes=int(shuffle_window_mb * _MB), value_range=(low, high)
    )


def should_stream(path: Path, loading: str) -> bool:
    """Whether ``loading`` (auto, memory, stream) streams the file at ``path``."""
    if loading == "memory" or path.suffix.lower() not in (".npy", ".parquet"):
        return loading == "stream"  # stream on another kind of file: open_streamed says why not
    if loading == "stream":
        return True
    if os.path.getsize(path) <= AUTO_STREAM_BYTES:
        return False
    if path.suffix.lower() == ".npy":  # auto never refuses a file: what cannot stream is loaded
        try:
            header = np.load(path, mmap_mode="r", allow_pickle=False)
        except tables.UNREADABLE:
            return False  # the in-memory loader reports the damage
        return isinstance(header, np.memmap) and streamable_dtype(header.dtype)
    return True
