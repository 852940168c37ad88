"""What an OpenSim model file tells: its body mass and its knee convention (without
OpenSim), and its leg length (with OpenSim, where installed).

Mass and knee convention are read from the ``.osim`` XML (OpenSim 3 and 4 formats), so
``predict`` can take a lab's scaled model as the subject file on a machine without OpenSim,
and labelling and prediction decide the knee convention in one place. The leg length needs
the model's kinematics, so OpenSim builds it (:func:`leg_length_m`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gait2hip.io.files import existing_file


@dataclass(frozen=True)
class OsimModel:
    """``mass_kg``: the sum of the bodies' masses. ``ranges``: each coordinate's range
    (min, max) in the model's units (radians for rotations)."""

    path: Path
    mass_kg: float
    ranges: dict[str, tuple[float, float]]

    def flexion_negative(self, cols: Sequence[str]) -> list[str]:
        """The knee columns of ``cols`` this model flexes negative (the gait2392 family,
        Hamner's: the coordinate's range lies mostly below 0), where the study's convention
        (Rajagopal's) flexes positive. A knee the model lacks, or without a range, is not
        named."""
        return [
            c
            for c in cols
            if c.startswith("knee_angle") and c in self.ranges and sum(self.ranges[c]) < 0
        ]

    def input_signs(self, cols: Sequence[str]) -> np.ndarray:
        """Per column of ``cols``, the sign that puts this model's coordinate in the study's
        convention: -1 for a flexion-negative knee, else 1."""
        negative = set(self.flexion_negative(cols))
        return np.array([-1.0 if c in negative else 1.0 for c in cols])


def read_osim(path: str | Path) -> OsimModel:
    """Parse an OpenSim model file; a one-line ``ValueError`` naming the file when it is not
    one (not XML, or no bodies with mass)."""
    path = existing_file(path, "OpenSim model")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise ValueError(f"{path}: not an OpenSim model (XML error: {err})") from None
    masses = [float(b.findtext("mass", "0")) for b in root.iter("Body")]
    if not masses or sum(masses) <= 0:
        raise ValueError(f"{path}: no body masses in this model; give a scaled .osim")
    ranges: dict[str, tuple[float, float]] = {}
    for c in root.iter("Coordinate"):
        name, text = c.get("name"), c.findtext("range")
        values = (text or "").split()
        if name and len(values) == 2:
            try:
                ranges[name] = (float(values[0]), float(values[1]))
            except ValueError:
                raise ValueError(f"{path}: coordinate {name} has a bad range {text!r}") from None
    return OsimModel(path=path, mass_kg=float(sum(masses)), ranges=ranges)


def import_opensim():
    """OpenSim's Python bindings, imported lazily (the package trains and predicts without
    them) with no log file: OpenSim's default sink writes ``opensim.log`` into the working
    directory, which loading a model changes to the model's folder (a read-only data folder,
    a lab's). ImportError naming the fix when they are not installed."""
    global _NO_LOG_FILE
    try:
        import opensim
    except ImportError as err:  # pragma: no cover - exercised only without opensim
        raise ImportError(
            "OpenSim's Python bindings are not installed: pip install opensim"
        ) from err
    if not _NO_LOG_FILE:
        opensim.Logger.removeFileSink()
        _NO_LOG_FILE = True
    return opensim


_NO_LOG_FILE = False


def leg_length_m(path: str | Path) -> float | None:
    """The model's leg length (m): the hip joint centre's height above the lower of the
    heel's and the toes' origins (bodies ``femur``, ``calcn`` and ``toes``, each side, as in
    Rajagopal's and the gait2392 family's models), every rotational coordinate at 0, the mean
    of both sides. None where OpenSim is not installed, the model lacks those bodies, or
    OpenSim cannot build it."""
    try:
        opensim = import_opensim()
    except ImportError:
        return None
    if opensim.Logger.getLevelString() != "error":
        opensim.Logger.setLevelString("error")
    try:
        model = opensim.Model(str(path))
        state = model.initSystem()
        coords = model.getCoordinateSet()
        for i in range(coords.getSize()):
            c = coords.get(i)
            if c.getMotionType() == opensim.Coordinate.Rotational:
                c.setValue(state, 0.0, False)
        model.realizePosition(state)
        bodies = model.getBodySet()

        def height(name: str) -> float:
            return float(bodies.get(name).getPositionInGround(state).get(1))

        legs = []
        for side in "rl":
            names = [f"{b}_{side}" for b in ("femur", "calcn", "toes")]
            if not all(bodies.contains(n) for n in names):
                return None
            legs.append(height(names[0]) - min(height(names[1]), height(names[2])))
    except RuntimeError:  # OpenSim's exceptions reach Python as RuntimeError
        return None
    leg = float(np.mean(legs))
    return leg if leg > 0 else None
