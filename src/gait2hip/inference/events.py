"""Heel strikes and gait cycles of a trial to predict, with the detectors of
:mod:`gait2hip.gait.events` (force plates, c3d events, the joint angles alone).

Strikes from force plates or c3d events are the most precise; where they cover only part of
the trial (over-ground walking over one or two plates) the angle rule fills the rest: a
kinematic strike is kept only if no measured strike lies within a quarter of a stride.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gait2hip.conventions import side_name
from gait2hip.gait.events import (
    STRIDE_RANGE_S,
    contacts,
    merge_strikes,
    strikes_from_angles,
    strikes_from_c3d,
)
from gait2hip.inference.inputs import AngleTrial, InputError

#: A measured strike makes kinematic strikes within this distance redundant, s.
MERGE_TOL_S = 0.25
GRF_THRESHOLD_N = 20.0
MIN_CONTACT_S = 0.08


def _grf_vertical(path: Path, side: str) -> tuple[np.ndarray, np.ndarray]:
    """Time and vertical GRF of one foot from a GRF ``.mot`` (side from its ExternalLoads
    ``.xml``, given or found next to it) or from the ``.xml`` itself."""
    from gait2hip.io.external_loads import read_external_loads
    from gait2hip.io.storage import read_motion

    loads = None  # the ExternalLoads spec that names which force acts on which foot
    mot = path
    if path.suffix.lower() == ".xml":
        loads = read_external_loads(path)
        mot = loads.datafile_path()
    else:
        for cand in [path.with_suffix(".xml"), *sorted(path.parent.glob("*.xml"))]:
            try:
                spec = read_external_loads(cand)
            except (FileNotFoundError, ValueError, OSError):
                continue
            if spec.datafile_path().name == path.name:
                loads = spec
                break
    table = read_motion(mot)
    if loads is not None:
        col = loads.for_side(side).force_id + "y"
    else:
        names = [c for c in table.columns if c.lower().endswith("vy")]
        tagged = [
            c for c in names if f"{side}_" in c.lower().split("ground")[0] or f"_{side}_" in c
        ]
        if len(tagged) != 1:
            raise InputError(
                f"{path}: cannot tell which vertical force column belongs to the "
                f"{'right' if side == 'r' else 'left'} foot ({names}); give the ExternalLoads "
                ".xml that applies the forces to calcn_r / calcn_l instead of the .mot"
            )
        col = tagged[0]
    if col not in table.columns:
        raise InputError(f"{mot}: no column {col!r} named by its ExternalLoads file")
    return table.time, table.data[col].to_numpy(dtype=float)


def strikes_from_grf(path: str | Path, side: str, threshold_n: float = GRF_THRESHOLD_N):
    """Heel strikes of ``side`` (``r``/``l``): starts of contacts above ``threshold_n``."""
    time, fy = _grf_vertical(Path(path), side)
    found = contacts(time, fy, threshold_n, min_duration_s=MIN_CONTACT_S)
    return np.array([c.start for c in found])


@dataclass(frozen=True)
class CycleWindow:
    """A candidate gait cycle (or a partial one at the trial's ends)."""

    t0: float
    t1: float
    sources: tuple[str, str]
    status: str  # "ok", "partial", "rejected"
    reason: str = ""

    @property
    def duration(self) -> float:
        return self.t1 - self.t0


def find_strikes(
    trial: AngleTrial,
    side: str,
    *,
    strikes: list[float] | np.ndarray | None = None,
    grf: str | Path | None = None,
    c3d: str | Path | None = None,
) -> list[tuple[float, str]]:
    """Heel strikes of ``side`` with their source, by the rule in the module doc."""
    if strikes is not None:
        return sorted((float(t), "given") for t in strikes)
    hip, knee = side_name("hip_flexion_r", side), side_name("knee_angle_r", side)
    if hip not in trial.angles or knee not in trial.angles:
        raise InputError(f"{trial.source}: {hip} and {knee} are needed to find heel strikes")
    kin = strikes_from_angles(
        trial.time, trial.angles[hip].to_numpy(), trial.angles[knee].to_numpy()
    )
    measured: list[tuple[float, str]] = []
    if grf is not None:
        measured = merge_strikes(strikes_from_grf(grf, side), np.array([]))
    if c3d is not None:
        measured = merge_strikes(measured, strikes_from_c3d(c3d, side), tol_s=0.06, label="c3d")
    if measured:
        return merge_strikes(measured, kin, tol_s=MERGE_TOL_S, label="kinematics")
    return [(float(t), "kinematics") for t in kin]


def segment(trial: AngleTrial, strikes: list[tuple[float, str]]) -> list[CycleWindow]:
    """Cycles between consecutive strikes, plus the partial pieces before the first and after
    the last strike. A cycle with an implausible duration (vs :data:`STRIDE_RANGE_S` and
    the trial's median stride) or touching a gap of missing angles is rejected with why."""
    t_start, t_end = float(trial.time[0]), float(trial.time[-1])
    inside = [(t, s) for t, s in strikes if t_start <= t <= t_end]
    out: list[CycleWindow] = []
    if not inside:
        return [CycleWindow(t_start, t_end, ("start", "end"), "partial", "no heel strike found")]
    if inside[0][0] > t_start:
        out.append(
            CycleWindow(
                t_start,
                inside[0][0],
                ("start", inside[0][1]),
                "partial",
                "before the first heel strike",
            )
        )
    durations = np.diff([t for t, _ in inside])
    median = float(np.median(durations)) if len(durations) else float("nan")
    for (t0, s0), (t1, s1) in itertools.pairwise(inside):
        reason = ""
        d = t1 - t0
        if not (STRIDE_RANGE_S[0] <= d <= STRIDE_RANGE_S[1]):
            reason = f"stride of {d:.2f} s outside {STRIDE_RANGE_S[0]}-{STRIDE_RANGE_S[1]} s"
        elif len(durations) >= 3 and not (0.6 * median <= d <= 1.5 * median):
            reason = f"stride of {d:.2f} s vs the trial's median {median:.2f} s (missed strike?)"
        else:
            hit = [g for g in trial.missing_gaps if g.t0 <= t1 and g.t1 >= t0]
            if hit:
                reason = "missing angles: " + "; ".join(g.describe() for g in hit[:3])
        out.append(CycleWindow(t0, t1, (s0, s1), "rejected" if reason else "ok", reason))
    if inside[-1][0] < t_end:
        out.append(
            CycleWindow(
                inside[-1][0],
                t_end,
                (inside[-1][1], "end"),
                "partial",
                "after the last heel strike",
            )
        )
    return out
