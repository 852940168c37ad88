"""Resampling of time series onto gait-cycle grids and back (one rule for labelling and
prediction): a cycle from heel strike ``t0`` to the next heel strike ``t1`` is ``n`` evenly
spaced samples including both ends."""

from __future__ import annotations

import numpy as np


def resample(time: np.ndarray, values: np.ndarray, t0: float, t1: float, n: int) -> np.ndarray:
    """Values at ``n`` evenly spaced times from ``t0`` to ``t1`` inclusive (linear)."""
    grid = np.linspace(t0, t1, n)
    if grid[0] < time[0] - 1e-6 or grid[-1] > time[-1] + 1e-6:
        raise ValueError(
            f"cannot resample {t0:.3f}-{t1:.3f} s from data covering {time[0]:.3f}-{time[-1]:.3f} s"
        )
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        return np.interp(grid, time, values)
    return np.stack([np.interp(grid, time, values[:, k]) for k in range(values.shape[1])], 1)


def to_time_base(cycle_values: np.ndarray, t0: float, t1: float, time: np.ndarray) -> np.ndarray:
    """Inverse of :func:`resample`: (n, K) cycle samples -> values at ``time`` (inside
    ``[t0, t1]``) by linear interpolation in gait-cycle phase."""
    n = cycle_values.shape[0]
    phase = (np.asarray(time, dtype=float) - t0) / (t1 - t0)
    grid = np.linspace(0.0, 1.0, n)
    cols = [np.interp(phase, grid, cycle_values[:, k]) for k in range(cycle_values.shape[1])]
    return np.stack(cols, 1)


def resample_cycles(cycles: np.ndarray, n: int) -> np.ndarray:
    """(N, T, K) time-normalised cycles (both ends included) -> (N, n, K), linear in phase."""
    cycles = np.asarray(cycles)
    t = cycles.shape[1]
    if t == n:
        return cycles
    src, dst = np.linspace(0.0, 1.0, t), np.linspace(0.0, 1.0, n)
    flat = cycles.transpose(0, 2, 1).reshape(-1, t)
    out = np.stack([np.interp(dst, src, row) for row in flat])
    return out.reshape(cycles.shape[0], cycles.shape[2], n).transpose(0, 2, 1).astype(cycles.dtype)
