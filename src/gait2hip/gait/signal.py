"""Filtering and resampling of time series onto gait-cycle grids and back: one rule for
labelling and prediction, so that the same angles reach a model the same way at training and
at prediction time. The joint angles of a trial are low-pass filtered at
:data:`ANGLE_LOWPASS_HZ` (:func:`lowpass_angles`, as OpenSim filters them for ID and static
optimisation), then each cycle from heel strike ``t0`` to the next heel strike ``t1`` is ``n``
evenly spaced samples including both ends (:func:`resample`)."""

from __future__ import annotations

import numpy as np

#: Cut-off (Hz) of the joint angles' low-pass filter, in labelling (model inputs, and the
#: kinematics OpenSim's ID/SO see) and in prediction.
ANGLE_LOWPASS_HZ = 6.0


def lowpass(x: np.ndarray, rate_hz: float, cutoff_hz: float, order: int = 2) -> np.ndarray:
    """Zero-lag Butterworth low-pass along axis 0 (``order`` 2 run forward and back = 4th
    order); unfiltered when the cut-off is 0 or at/above Nyquist, or the series too short."""
    from scipy.signal import butter, filtfilt

    x = np.asarray(x, dtype=float)
    if cutoff_hz <= 0 or cutoff_hz >= rate_hz / 2 or len(x) <= 3 * (order + 1):
        return x
    b, a = butter(order, cutoff_hz / (rate_hz / 2))
    return filtfilt(b, a, x, axis=0)


def lowpass_operator(n: int, rate_hz: float, cutoff_hz: float, order: int = 2) -> np.ndarray:
    """(n, n) matrix ``M`` with ``M @ x == lowpass(x, rate_hz, cutoff_hz, order)`` for any
    series ``x`` of ``n`` samples along axis 0: :func:`lowpass` is linear (its padding and
    initial conditions included), so its columns are its responses to the unit impulses. What
    applies the same filter inside a model, where a fixed matrix product is differentiable and
    runs on any device."""
    return np.ascontiguousarray(lowpass(np.eye(n), rate_hz, cutoff_hz, order))


def lowpass_angles(
    time: np.ndarray, values: np.ndarray, cutoff_hz: float = ANGLE_LOWPASS_HZ
) -> np.ndarray:
    """A trial's (n, C) joint angles low-pass filtered (:func:`lowpass`) at its median
    sampling rate; each stretch of rows without a NaN is filtered on its own, so that a gap
    left unfilled stays a gap instead of spreading NaN over the trial."""
    values = np.asarray(values, dtype=float)
    if len(time) < 2:
        return values
    rate = 1.0 / float(np.median(np.diff(time)))
    ok = np.isfinite(values).all(axis=1) if values.ndim == 2 else np.isfinite(values)
    out = values.copy()
    edges = np.flatnonzero(np.diff(np.r_[0, ok.astype(int), 0]))
    for i0, i1 in zip(edges[::2], edges[1::2], strict=True):
        out[i0:i1] = lowpass(values[i0:i1], rate, cutoff_hz)
    return out


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
