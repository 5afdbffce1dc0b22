"""The in-memory dataset every vaekit component consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Dataset:
    """Samples as a float32 array plus optional labels.

    Attributes
    ----------
    x:
        float32 array of shape ``(N, D)`` for vectors or ``(N, C, H, W)`` for images.
        Image sources are scaled to [0, 1].
    y:
        Optional labels, shape ``(N,)``; integers for classes (used to colour
        latent plots), or any values read from a label column.
    name:
        Human-readable source, e.g. ``"digits"`` or a file path.
    feature_names:
        Column names for tabular data (``None`` for images).
    factors:
        Known generative factors per row, ``(N, F)`` (the ``sprites`` data), for
        disentanglement metrics; ``None`` for data made by the world.
    factor_names:
        A name per column of ``factors``.
    """

    x: np.ndarray
    y: np.ndarray | None = None
    name: str = "data"
    feature_names: list[str] | None = field(default=None)
    factors: np.ndarray | None = None
    factor_names: list[str] | None = None

    def __post_init__(self) -> None:
        if self.y is not None and len(self.y) != len(self.x):
            raise ValueError(f"x has {len(self.x)} rows but y has {len(self.y)}")
        if self.factors is not None and len(self.factors) != len(self.x):
            raise ValueError(f"x has {len(self.x)} rows but factors has {len(self.factors)}")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample: ``(D,)`` or ``(C, H, W)``."""
        return tuple(int(s) for s in self.x.shape[1:])

    @property
    def is_image(self) -> bool:
        """Whether the samples are images (C, H, W), not rows of features."""
        return len(self.sample_shape) == 3

    def subset(self, index: np.ndarray) -> "Dataset":
        """Rows ``index`` as a new Dataset (copies)."""
        return Dataset(
            x=self.x[index],
            y=None if self.y is None else self.y[index],
            name=self.name,
            feature_names=self.feature_names,
            factors=None if self.factors is None else self.factors[index],
            factor_names=self.factor_names,
        )
