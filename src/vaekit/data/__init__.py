"""Data sources: embedded digits, MNIST-style IDX, arrays, tables and image folders."""

from vaekit.data.dataset import Dataset
from vaekit.data.sources import (
    dataset_from_array,
    load_data,
    source_kind,
    split_indices,
    validate_for_likelihood,
    write_idx,
)

__all__ = [
    "Dataset",
    "dataset_from_array",
    "load_data",
    "source_kind",
    "split_indices",
    "validate_for_likelihood",
    "write_idx",
]
