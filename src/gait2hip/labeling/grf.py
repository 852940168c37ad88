"""Ground reaction forces: contact detection and the clean-up done before inverse dynamics.

Choices (documented in ``docs/labeling.md``):

- a foot is in contact where its vertical force exceeds ``threshold_n``;
- the centre of pressure (COP) is only meaningful in contact: outside it is held at the
  nearest in-contact value (no jumps to 0 that a filter would smear), and inside a contact
  samples further than ``cop_limit_m`` (x, z) from the contact's median COP (force-plate edge
  spikes, seen in the Hamner data up to hundreds of metres) are replaced by interpolation;
- forces, COP and free moments are low-pass filtered (4th-order zero-lag Butterworth) at the
  same cut-off as the kinematics, so ID sees no impact artefacts from mismatched filtering
  (Kristianslund et al. 2012, J Biomech 45:666);
- after filtering, force and free moment are set to 0 wherever the filtered vertical force
  is not positive (no pulling ground).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gait2hip.gait.signal import lowpass
from gait2hip.io.external_loads import ExternalLoadsSpec


def _clean_cop(
    cop: np.ndarray, on: np.ndarray, limit_m: tuple[float, float]
) -> tuple[np.ndarray, int]:
    """Hold the COP outside contact; replace spikes inside it. Returns (cop, n_replaced)."""
    cop = cop.copy()
    good = on.copy()
    n_bad = 0
    if on.any():
        # per-contact median, so spikes are judged against that stance only
        idx = np.flatnonzero(on)
        breaks = np.flatnonzero(np.diff(idx) > 1)
        for seg in np.split(idx, breaks + 1):
            med = np.median(cop[seg], axis=0)
            far = np.any(np.abs(cop[seg][:, [0, 2]] - med[[0, 2]]) > np.asarray(limit_m), axis=1)
            good[seg[far]] = False
            n_bad += int(far.sum())
    if not good.any():
        return np.zeros_like(cop), n_bad
    t = np.arange(len(cop))
    for k in range(3):
        # interpolation inside, nearest value outside (np.interp holds the end values)
        cop[:, k] = np.interp(t, t[good], cop[good, k])
    return cop, n_bad


def prepare_grf(
    data: pd.DataFrame,
    loads: ExternalLoadsSpec,
    *,
    threshold_n: float,
    lowpass_hz: float,
    cop_limit_m: tuple[float, float] = (0.4, 0.25),
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Clean and filter every external force of ``loads`` in ``data`` (a GRF table with a
    ``time`` column). Returns the new table and the number of COP samples replaced per
    force."""
    time = data["time"].to_numpy(dtype=float)
    rate = 1.0 / float(np.median(np.diff(time)))
    out = data.copy()
    replaced: dict[str, int] = {}
    for f in loads.forces:
        cols = f.columns()
        missing = [c for group in cols.values() for c in group if c not in data.columns]
        if missing:
            where = loads.path or "ExternalLoads"
            raise ValueError(f"{where}: GRF file lacks columns {missing[:3]}")
        force = data[cols["force"]].to_numpy(dtype=float, copy=True)
        cop = data[cols["point"]].to_numpy(dtype=float, copy=True)
        torque = data[cols["torque"]].to_numpy(dtype=float, copy=True)
        on = force[:, 1] > threshold_n
        force[~on] = 0.0
        torque[~on] = 0.0
        cop, n_bad = _clean_cop(cop, on, cop_limit_m)
        replaced[f.name] = n_bad
        force = lowpass(force, rate, lowpass_hz)
        torque = lowpass(torque, rate, lowpass_hz)
        cop = lowpass(cop, rate, lowpass_hz)
        off = force[:, 1] <= 0.0
        force[off] = 0.0
        torque[off] = 0.0
        out[cols["force"]] = force
        out[cols["point"]] = cop
        out[cols["torque"]] = torque
    return out, replaced
