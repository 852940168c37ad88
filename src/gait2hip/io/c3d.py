"""C3D files through ezc3d: markers, force plates and the gait events stored in the file.

Lab coordinates are returned as stored (no rotation into OpenSim's frame): use the ``.trc``/
``_grf.mot`` exports for OpenSim, and the c3d for what only it holds (events, raw analogs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gait2hip.io.files import existing_file


@dataclass(frozen=True)
class GaitEvent:
    """One stored event: side ``Right``/``Left``, label without numeric suffix, time in s."""

    side: str
    label: str
    time: float

    @property
    def kind(self) -> str:
        """``strike`` or ``off`` (``Foot Strike``/``Foot Off``), else the label lower-cased."""
        low = self.label.lower()
        if "strike" in low or "contact" in low:
            return "strike"
        if "off" in low:
            return "off"
        return low


@dataclass
class C3DData:
    path: Path
    marker_rate_hz: float
    marker_units: str
    marker_names: list[str]
    markers: np.ndarray  # (n_frames, n_markers, 3) in marker_units, NaN where occluded
    analog_rate_hz: float
    events: list[GaitEvent]
    first_frame_time: float  # time of the first marker frame, s (events are on this clock)
    plates: list[dict[str, np.ndarray]]  # per plate: force N, moment N·mm, cop mm (3, n_analog)

    def strikes(self, side: str) -> np.ndarray:
        """Sorted foot-strike times of ``side`` (``right``/``left``), on the marker clock (t=0
        at the first frame)."""
        return self._times(side, "strike")

    def foot_offs(self, side: str) -> np.ndarray:
        return self._times(side, "off")

    def _times(self, side: str, kind: str) -> np.ndarray:
        t = [
            e.time - self.first_frame_time
            for e in self.events
            if e.side.lower() == side.lower() and e.kind == kind
        ]
        return np.sort(np.asarray(t, dtype=float))


def _param(params: dict, group: str, name: str, default=None):
    try:
        return params[group][name]["value"]
    except KeyError:
        return default


def read_c3d(path: str | Path, *, force_plates: bool = True) -> C3DData:
    """Read markers, events and (optionally) force-plate data from a ``.c3d`` with ezc3d."""
    import ezc3d

    path = existing_file(path, "c3d")
    c = ezc3d.c3d(str(path), extract_forceplat_data=force_plates)
    params = c["parameters"]
    rate = float(np.asarray(_param(params, "POINT", "RATE", [np.nan]))[0])
    units = str((_param(params, "POINT", "UNITS", ["mm"]) or ["mm"])[0])
    names = [str(n).strip() for n in _param(params, "POINT", "LABELS", [])]
    pts = c["data"]["points"]  # (4, n_markers, n_frames)
    markers = np.transpose(pts[:3], (2, 1, 0)).astype(float)
    analog_rate = float(np.asarray(_param(params, "ANALOG", "RATE", [np.nan]))[0])
    first_frame = int(c["header"]["points"]["first_frame"])
    events: list[GaitEvent] = []
    labels = _param(params, "EVENT", "LABELS", []) or []
    contexts = _param(params, "EVENT", "CONTEXTS", []) or []
    times = np.asarray(_param(params, "EVENT", "TIMES", np.zeros((2, 0))), dtype=float)
    if times.ndim == 2 and times.shape[0] == 2:
        seconds = times[0] * 60.0 + times[1]  # row 0 minutes, row 1 seconds
        for ctx, lab, t in zip(contexts, labels, seconds, strict=False):
            base = re.sub(r"\d+$", "", str(lab)).strip()  # "Foot Strike2" -> "Foot Strike"
            events.append(GaitEvent(str(ctx).strip(), base, float(t)))
    events.sort(key=lambda e: e.time)
    plates = []
    if force_plates:
        for pf in c["data"].get("platform", []):
            plates.append(
                {
                    "force": np.asarray(pf["force"], dtype=float),
                    "moment": np.asarray(pf["moment"], dtype=float),
                    "cop": np.asarray(pf["center_of_pressure"], dtype=float),
                }
            )
    return C3DData(
        path=path,
        marker_rate_hz=rate,
        marker_units=units,
        marker_names=names,
        markers=markers,
        analog_rate_hz=analog_rate,
        events=events,
        first_frame_time=first_frame / rate if rate > 0 else 0.0,
        plates=plates,
    )
