"""Data sources: embedded digits, sprites and photo patches, MNIST-style IDX, arrays, tables and image folders."""

from vaekit.data.dataset import Dataset
from vaekit.data.photos import load_photo_patches
from vaekit.data.sources import (
    ImageSizeWarning,
    dataset_from_array,
    load_data,
    source_kind,
    split_indices,
    split_rows,
    take_rows,
    validate_for_likelihood,
    write_idx,
)
from vaekit.data.streaming import StreamedDataset

__all__ = [
    "Dataset",
    "ImageSizeWarning",
    "StreamedDataset",
    "dataset_from_array",
    "load_data",
    "load_photo_patches",
    "source_kind",
    "split_indices",
    "split_rows",
    "take_rows",
    "validate_for_likelihood",
    "write_idx",
]
