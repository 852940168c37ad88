"""Gait events, the one place labelling and prediction find them: heel strikes from force
plates (contacts), from stored c3d events, from marker kinematics or from the joint angles
alone, how strike lists from several sources merge, and the labelling's rule for which cycles
a force plate measured.

Every strike detector answers the same question — the heel-strike times of one foot, in s,
sorted, inside the data — and ``tests/test_gait_events.py`` holds each one to that contract
on the same real trials, against the events stored with the data.

A cycle is a heel strike to the next heel strike of the same foot, labelled for its own side
only. Its hip moments need just that foot's ground reaction force: inverse dynamics of the
hip joint involves only the subtree distal to it (thigh, shank, foot) and the loads applied to
it, so the other foot's (possibly unmeasured) contact does not change them. The cycle is
therefore valid for labelling when that foot's whole stance inside the cycle was measured by a
force channel (:func:`cycles_for_side`).

Angle-only rule (for IK files or tables without GRF or events): the sagittal-plane position
of the ankle ahead of the hip, ``sin(hip flexion) + sin(hip flexion - knee flexion)`` (thigh
and shank of equal length, Winter's 0.245 vs 0.246 of height), peaks at heel strike. It is
Zeni et al.'s (2008) heel-ahead-of-sacrum rule computed from the angles instead of markers,
without pelvis tilt and foot. The peak comes before the heel touches down (measured: 30 ms
in the Schreiber walking trials vs c3d events, 25 ms in the Hamner running trials vs force
plates), so :data:`KINEMATIC_DELAY_S` is added. The errors are measured by
``benchmarks/bench_predict.py --events`` and recorded in ``docs/predict.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
from scipy.signal import find_peaks

#: Plausible stride (heel strike to heel strike of the same foot) durations, s.
STRIDE_RANGE_S = (0.4, 2.5)
#: Heel strike follows the angle rule's peak by this much (see module doc).
KINEMATIC_DELAY_S = 0.027


@dataclass(frozen=True)
class Contact:
    """A stance phase: first and last sample above threshold (times in s)."""

    start: float
    end: float
    peak_n: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def contacts(
    time: np.ndarray,
    fy: np.ndarray,
    threshold_n: float,
    *,
    min_duration_s: float = 0.0,
    min_peak_n: float = 0.0,
    drop_truncated: bool = True,
) -> list[Contact]:
    """Runs of ``fy > threshold_n``. Contacts cut by the file's start/end are dropped (their
    strike or toe-off is unknown) unless ``drop_truncated`` is False."""
    on = np.asarray(fy) > threshold_n
    if not on.any():
        return []
    edges = np.diff(on.astype(np.int8))
    starts = list(np.flatnonzero(edges == 1) + 1)
    ends = list(np.flatnonzero(edges == -1))
    if on[0]:
        starts.insert(0, 0)
    if on[-1]:
        ends.append(len(on) - 1)
    out = []
    for i0, i1 in zip(starts, ends, strict=True):
        if drop_truncated and (i0 == 0 or i1 == len(on) - 1):
            continue
        peak = float(np.max(fy[i0 : i1 + 1]))
        c = Contact(float(time[i0]), float(time[i1]), peak)
        if c.duration >= min_duration_s and peak >= min_peak_n:
            out.append(c)
    return out


@dataclass(frozen=True)
class Cycle:
    side: str  # "r" or "l"
    t0: float  # heel strike, s
    t1: float  # next heel strike of the same foot, s
    toe_off: float  # end of the measured stance, s
    strike_sources: tuple[str, str]  # how t0 and t1 were found: "grf", "c3d", "kinematics"

    @property
    def duration(self) -> float:
        return self.t1 - self.t0

    @property
    def name(self) -> str:
        return f"{self.side}{self.t0:.3f}"


@dataclass(frozen=True)
class Rejected:
    side: str
    t0: float
    reason: str


def merge_strikes(
    primary: np.ndarray | list[tuple[float, str]],
    secondary: np.ndarray,
    tol_s: float = 0.06,
    label: str = "c3d",
) -> list[tuple[float, str]]:
    """Union of strike lists, sorted, with their sources: a ``secondary`` strike within
    ``tol_s`` of an existing one is dropped (force-plate strikes win: they are the most
    precise). ``primary`` is GRF strike times or an earlier merge result."""
    out = [(float(t), "grf") for t in primary] if isinstance(primary, np.ndarray) else list(primary)
    for t in secondary:
        if not any(abs(t - p) <= tol_s for p, _ in out):
            out.append((float(t), label))
    return sorted(out)


def strikes_from_markers(
    time: np.ndarray, heel: np.ndarray, sacrum: np.ndarray, *, min_gap_s: float = 0.4
) -> np.ndarray:
    """Heel strikes from marker kinematics (Zeni et al. 2008, Gait Posture 27:710): the
    instants where the heel is furthest ahead of the sacrum along the walking direction.

    ``heel``/``sacrum`` are (n, 3) positions with X the walking direction (either sign).
    """
    rel = heel[:, 0] - sacrum[:, 0]
    direction = np.sign(np.nanmean(np.diff(sacrum[:, 0]))) or 1.0
    rel = rel * direction
    if np.isnan(rel).any():
        ok = ~np.isnan(rel)
        rel = np.interp(np.arange(len(rel)), np.flatnonzero(ok), rel[ok])
    dt = float(np.median(np.diff(time)))
    peaks, _ = find_peaks(rel, distance=max(1, int(min_gap_s / dt)))
    # drop peaks at the very ends (a maximum there is the border, not a strike)
    peaks = peaks[(peaks > 0) & (peaks < len(rel) - 1)]
    return time[peaks]


def cycles_for_side(
    side: str,
    strikes: list[tuple[float, str]],
    contacts: list[Contact],
    *,
    other_contacts: list[Contact] | None = None,
    data_span: tuple[float, float],
    strike_tol_s: float = 0.06,
    duration_range_s: tuple[float, float] = (0.4, 2.0),
    no_double_support: bool = False,
) -> tuple[list[Cycle], list[Rejected]]:
    """Cycles between consecutive strikes whose stance was measured.

    A candidate [s_k, s_k+1] is kept when a force contact of this foot starts at s_k (within
    ``strike_tol_s``) and ends before s_k+1, no other contact of this foot lies inside, the
    cycle lies inside ``data_span`` and its duration is within ``duration_range_s``. With
    ``no_double_support`` (running), a stance that overlaps a contact of the other foot for
    more than 20 ms is rejected (cross-over steps load the wrong force channel).
    """
    kept: list[Cycle] = []
    rejected: list[Rejected] = []
    for (t0, src0), (t1, src1) in pairwise(strikes):
        starts = [c for c in contacts if abs(c.start - t0) <= strike_tol_s]
        reason = ""
        if not starts:
            reason = "stance not on a force plate"
        elif t0 < data_span[0] or t1 > data_span[1]:
            reason = "cycle extends past the data"
        elif not (duration_range_s[0] <= t1 - t0 <= duration_range_s[1]):
            reason = f"implausible cycle duration {t1 - t0:.2f} s"
        else:
            stance = starts[0]
            inside = [
                c
                for c in contacts
                if c is not stance and c.start < t1 - strike_tol_s and c.end > t0 + strike_tol_s
            ]
            if stance.end >= t1:
                reason = "stance does not end before the next strike"
            elif inside:
                reason = "another contact of the same foot inside the cycle"
            elif no_double_support and other_contacts:
                overlap = max(
                    (min(stance.end, o.end) - max(stance.start, o.start) for o in other_contacts),
                    default=0.0,
                )
                if overlap > 0.02:
                    reason = f"stance overlaps the other foot's contact by {overlap * 1e3:.0f} ms"
        if reason:
            rejected.append(Rejected(side, t0, reason))
        else:
            kept.append(Cycle(side, t0, t1, starts[0].end, (src0, src1)))
    return kept, rejected


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


def strikes_from_c3d(path: str | Path, side: str) -> np.ndarray:
    from gait2hip.io.c3d import read_c3d

    return read_c3d(path, force_plates=False).strikes("right" if side == "r" else "left")
