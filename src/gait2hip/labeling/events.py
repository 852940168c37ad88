"""Gait events and cycles: heel strikes from force plates, from stored c3d events, or from
marker kinematics; a cycle is a heel strike to the next heel strike of the same foot.

A cycle is labelled for its own side only. Its hip moments need just that foot's ground
reaction force: inverse dynamics of the hip joint involves only the subtree distal to it
(thigh, shank, foot) and the loads applied to it, so the other foot's (possibly unmeasured)
contact does not change them. The cycle is therefore valid when that foot's whole stance
inside the cycle was measured by a force channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from gait2hip.labeling.grf import Contact


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
    from scipy.signal import find_peaks

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
