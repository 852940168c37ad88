"""OpenSim's signal processing of kinematics, as AnalyzeTool applies it, in numpy and scipy.

AnalyzeTool (and so OpenSim's static optimization) prepares a coordinate file by
``Storage.pad(n // 2)`` then ``Storage.lowpassIIR(fc)``, and takes speeds from a degree-5
``GCVSplineSet`` through the result. These functions reproduce those steps from OpenSim's
source (``Signal::Pad``, ``Storage::lowpassIIR``, ``Storage::resample``,
``GCVSplineSet::constructStorage``, ``Signal::LowpassIIR``), so the fast static optimization
gets OpenSim's numbers without OpenSim's per-column costs: ``lowpassIIR`` resamples a storage
whose time steps are not uniform (to machine precision) through one GCV spline per column,
about half a second for a padded 5 s running trial, while this takes milliseconds.
``tests/test_fast_so.py`` checks each against OpenSim's own calls.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import BSpline, make_interp_spline
from scipy.signal import lfilter

from gait2hip.labeling.opensim_steps import osim

#: SimTK::Eps, the tolerance ``Storage::lowpassIIR`` allows between the mean and the smallest
#: time step before it resamples.
SIMTK_EPS = float(np.finfo(float).eps)
#: ``Storage::MAX_RESAMPLE_SIZE``: a resampled storage has at most this many steps.
MAX_RESAMPLE_SIZE = 100_000


def natural_quintic_spline(t: np.ndarray, y: np.ndarray) -> BSpline:
    """The quintic spline through ``(t, y)`` (columns of ``y`` splined independently) with
    natural end conditions: what OpenSim's ``GCVSpline`` of degree 5 is at zero error
    variance (Woltring's natural spline of half-order 3)."""
    ends = [(3, np.zeros(y.shape[1:])), (4, np.zeros(y.shape[1:]))]
    return make_interp_spline(t, y, k=5, bc_type=(ends, ends))


def pad(x: np.ndarray, n: int) -> np.ndarray:
    """``Signal::Pad`` along the first axis: ``n`` points before and after, reflected about
    the end point and negated (``2 x[0] - x[k]``), which keeps value and slope there."""
    if n == 0:
        return x
    if n > len(x) - 1:
        raise ValueError(f"cannot pad {len(x)} samples by {n} (at most {len(x) - 1})")
    return np.concatenate([2.0 * x[0] - x[n:0:-1], x, 2.0 * x[-1] - x[-2 : -2 - n : -1]])


def lowpass_iir(dt: float, cutoff_hz: float, y: np.ndarray) -> np.ndarray:
    """``Signal::LowpassIIR`` on each column: a 3rd-order Butterworth low-pass run forward then
    backward, whose first three outputs of each run are its inputs (OpenSim's start-up), and
    whose cut-off is lowered to 0.49 x the sampling rate when at or above half of it."""
    if cutoff_hz >= 0.5 / dt:
        cutoff_hz = 0.49 / dt
    wa = np.tan(2 * np.pi * cutoff_hz * dt / 2.0)
    wa2, wa3 = wa * wa, wa * wa * wa
    denom = (wa + 1) * (wa * wa + wa + 1.0)
    num = np.array([wa3, 3 * wa3, 3 * wa3, wa3]) / denom
    den = np.array(
        [
            1.0,
            (3 * wa3 + 2 * wa2 - 2 * wa - 3) / denom,
            (3 * wa3 - 2 * wa2 - 2 * wa + 3) / denom,
            (wa - 1) * (wa2 - wa + 1) / denom,
        ]
    )

    def run(x: np.ndarray) -> np.ndarray:
        # the recursion from sample 3 on, samples 0-2 being both its past inputs and past
        # outputs: scipy's transposed direct form starts from the state lfiltic would give
        # them: zi[k-1] = sum over i >= k of (num[i] - den[i]) past[i-k] (all columns at once)
        past = x[2::-1]
        zi = np.stack([(num[k:] - den[k:]) @ past[: 4 - k] for k in (1, 2, 3)])
        out = np.empty_like(x)
        out[:3] = x[:3]
        out[3:], _ = lfilter(num, den, x[3:], axis=0, zi=zi)
        return out

    return run(run(y)[::-1])[::-1]


def analyze_tool_lowpass(
    t: np.ndarray, y: np.ndarray, cutoff_hz: float
) -> tuple[np.ndarray, np.ndarray]:
    """``Storage.pad(n // 2)`` then ``Storage.lowpassIIR(cutoff_hz)`` on samples ``y`` (rows)
    at times ``t``, as AnalyzeTool does before static optimization; returns the new times and
    values.

    Like OpenSim, the padded samples are first resampled at the smallest time step when the
    mean step exceeds it by more than ``SIMTK_EPS`` — which text-stored times of a few seconds
    often do by rounding alone — through the natural quintic spline of each column, at times
    accumulated step by step from the first as ``GCVSplineSet::constructStorage`` does; a
    storage OpenSim refuses to filter (repeated times, fewer than 4 samples) is returned
    padded but unfiltered, as OpenSim leaves it."""
    t, y = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    n = len(t) // 2
    t, y = pad(t, n), pad(y, n)
    if len(t) < 2:
        return t, y
    dt = float(np.diff(t).min())
    if dt < SIMTK_EPS:
        return t, y
    if (t[-1] - t[0]) / (len(t) - 1) - dt > SIMTK_EPS:
        if (t[-1] - t[0]) / dt > MAX_RESAMPLE_SIZE:
            dt = (t[-1] - t[0]) / MAX_RESAMPLE_SIZE
        grid, x, end = [], float(t[0]), float(t[-1])
        while x <= end:
            grid.append(x)
            x += dt
        y = natural_quintic_spline(t, y)(np.array(grid))
        t = np.array(grid)
    if len(t) < 4:
        return t, y
    return t, lowpass_iir(dt, cutoff_hz, y)


def rotational_columns(model, labels: list[str]) -> list[bool]:
    """Which columns ``SimbodyEngine::convertDegreesToRadians`` scales: those naming a
    rotational coordinate of ``model`` by name, by the last part of a path, or by the part
    before it (``.../hip_flexion_r/value``)."""
    rotational = osim().Coordinate.Rotational
    coordinates = model.getCoordinateSet()
    out = []
    for label in labels:
        index = coordinates.getIndex(label)
        if index < 0:
            parts = label.split("/")
            index = coordinates.getIndex(parts[-1])
            if index < 0 and len(parts) > 1:
                index = coordinates.getIndex(parts[-2])
        out.append(index >= 0 and coordinates.get(index).getMotionType() == rotational)
    return out
