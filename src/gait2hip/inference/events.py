"""Heel strikes and gait cycles of a trial to predict: from a GRF file, from c3d events, or
from the joint angles alone.

Angle-only rule (for IK files or tables without GRF or events): the sagittal-plane position
of the ankle ahead of the hip, ``sin(hip flexion) + sin(hip flexion - knee flexion)`` (thigh
and shank of equal length, Winter's 0.245 vs 0.246 of height), peaks at heel strike. It is
Zeni et al.'s (2008) heel-ahead-of-sacrum rule computed from the angles instead of markers,
without pelvis tilt and foot. The peak comes before the heel touches down (measured: 30 ms
in the Schreiber walking trials vs c3d events, 25 ms in the Hamner running trials vs force
plates), so :data:`KINEMATIC_DELAY_S` is added. The errors are measured by
``benchmarks/bench_predict.py --events`` and recorded in ``docs/predict.md``.

Strikes from force plates or c3d events are the most precise; where they cover only part of
the trial (over-ground walking over one or two plates) the angle rule fills the rest: a
kinematic strike is kept only if no measured strike lies within a quarter of a stride.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import find_peaks

from gait2hip.conventions import side_name
from gait2hip.inference.inputs import AngleTrial, InputError
from gait2hip.labeling.events import merge_strikes
from gait2hip.labeling.grf import contacts

#: Plausible stride (heel strike to heel strike of the same foot) durations, s.
STRIDE_RANGE_S = (0.4, 2.5)
#: A measured strike makes kinematic strikes within this distance redundant, s.
MERGE_TOL_S = 0.25
GRF_THRESHOLD_N = 20.0
MIN_CONTACT_S = 0.08
#: Heel strike follows the angle rule's peak by this much (see module doc).
KINEMATIC_DELAY_S = 0.027


def ankle_ahead(hip_flexion_deg: np.ndarray, knee_angle_deg: np.ndarray) -> np.ndarray:
    """Ankle position ahead of the hip in leg lengths, from hip flexion and knee angle.

    The knee's sign convention is taken from the data: Rajagopal's knee flexion is positive,
    gait2392's negative; whichever sign dominates is flexion.
    """
    knee = np.asarray(knee_angle_deg, dtype=float)
    flex = knee if np.nanmean(knee) >= 0 else -knee
    h = np.radians(hip_flexion_deg)
    return np.sin(h) + np.sin(h - np.radians(flex))


def strikes_from_angles(
    time: np.ndarray,
    hip_flexion_deg: np.ndarray,
    knee_angle_deg: np.ndarray,
    delay_s: float = KINEMATIC_DELAY_S,
) -> np.ndarray:
    """Heel-strike times from joint angles alone (see module doc); strikes that would fall
    outside the data are dropped."""
    x = ankle_ahead(hip_flexion_deg, knee_angle_deg)
    ok = np.isfinite(x)
    if ok.sum() < 3:
        return np.array([])
    x = np.interp(np.arange(len(x)), np.flatnonzero(ok), x[ok])
    dt = float(np.median(np.diff(time)))
    # strikes are the high maxima; a height rule (not prominence) keeps those near the ends
    height = float(np.min(x) + 0.6 * np.ptp(x))
    peaks, _ = find_peaks(x, distance=max(1, int(STRIDE_RANGE_S[0] / dt)), height=height)
    peaks = peaks[(peaks > 0) & (peaks < len(x) - 1) & ok[peaks]]
    # refine to sub-frame time with a parabola through the peak and its neighbours
    out = []
    for p in peaks:
        a, b, c = x[p - 1], x[p], x[p + 1]
        den = a - 2 * b + c
        shift = 0.5 * (a - c) / den if den != 0 else 0.0
        out.append(np.interp(p + np.clip(shift, -0.5, 0.5), np.arange(len(time)), time))
    strikes = np.asarray(out) + delay_s
    return strikes[strikes <= time[-1]]


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


def strikes_from_c3d(path: str | Path, side: str) -> np.ndarray:
    from gait2hip.io.c3d import read_c3d

    return read_c3d(path, force_plates=False).strikes("right" if side == "r" else "left")


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
