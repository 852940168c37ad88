"""Input z-scoring with statistics from training data only; stored with the model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class InputScaler:
    """Per-channel mean and sd of the input angles (degrees) over all training frames."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> InputScaler:
        flat = X.reshape(-1, X.shape[-1]).astype(np.float64)
        std = flat.std(axis=0)
        return cls(flat.mean(axis=0).astype(np.float32), np.maximum(std, 1e-6).astype(np.float32))

    def transform(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.std).astype(np.float32)
