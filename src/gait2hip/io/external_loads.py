"""OpenSim ``ExternalLoads`` XML: which GRF columns act on which body."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from gait2hip.io.atomic import write_text
from gait2hip.io.files import existing_file


@dataclass(frozen=True)
class ExternalForceSpec:
    name: str
    body: str  # e.g. calcn_r
    force_id: str  # column prefix, e.g. ground_force_2_v -> _vx/_vy/_vz
    point_id: str
    torque_id: str
    expressed_in: str = "ground"

    @property
    def side(self) -> str | None:
        """``r``/``l`` from the body name (``calcn_r``), else None."""
        if self.body.endswith("_r"):
            return "r"
        if self.body.endswith("_l"):
            return "l"
        return None

    def columns(self, suffixes: tuple[str, str, str] = ("x", "y", "z")) -> dict[str, list[str]]:
        return {
            "force": [self.force_id + s for s in suffixes],
            "point": [self.point_id + s for s in suffixes],
            "torque": [self.torque_id + s for s in suffixes],
        }


@dataclass(frozen=True)
class ExternalLoadsSpec:
    forces: tuple[ExternalForceSpec, ...]
    datafile: str
    path: Path | None = None

    def for_side(self, side: str) -> ExternalForceSpec:
        for f in self.forces:
            if f.side == side:
                return f
        where = self.path or "ExternalLoads"
        raise ValueError(f"{where}: no external force applied to a '_{side}' body")

    def datafile_path(self) -> Path:
        """The GRF file; a relative ``datafile`` resolves against the XML's folder."""
        p = Path(self.datafile)
        return p if p.is_absolute() or self.path is None else self.path.parent / p


def _text(el: ET.Element, tag: str, default: str = "") -> str:
    child = el.find(tag)
    return (child.text or default).strip() if child is not None and child.text else default


def read_external_loads(path: str | Path) -> ExternalLoadsSpec:
    path = existing_file(path, "ExternalLoads")
    root = ET.parse(path).getroot()
    loads = root if root.tag == "ExternalLoads" else root.find("ExternalLoads")
    if loads is None:
        raise ValueError(f"{path}: no <ExternalLoads> element")
    forces = []
    for ef in loads.iter("ExternalForce"):
        forces.append(
            ExternalForceSpec(
                name=ef.get("name", ""),
                body=_text(ef, "applied_to_body"),
                force_id=_text(ef, "force_identifier"),
                point_id=_text(ef, "point_identifier"),
                torque_id=_text(ef, "torque_identifier"),
                expressed_in=_text(ef, "force_expressed_in_body", "ground"),
            )
        )
    return ExternalLoadsSpec(tuple(forces), _text(loads, "datafile"), path)


def write_external_loads(path: str | Path, spec: ExternalLoadsSpec, datafile: str) -> Path:
    """Write an ExternalLoads XML pointing at ``datafile`` (a bare name resolves next to it)."""
    doc = ET.Element("OpenSimDocument", Version="40000")
    loads = ET.SubElement(doc, "ExternalLoads", name="externalloads")
    objects = ET.SubElement(loads, "objects")
    for f in spec.forces:
        ef = ET.SubElement(objects, "ExternalForce", name=f.name)
        for tag, value in (
            ("applied_to_body", f.body),
            ("force_expressed_in_body", f.expressed_in),
            ("point_expressed_in_body", "ground"),
            ("force_identifier", f.force_id),
            ("point_identifier", f.point_id),
            ("torque_identifier", f.torque_id),
        ):
            ET.SubElement(ef, tag).text = value
    ET.SubElement(loads, "groups")
    ET.SubElement(loads, "datafile").text = datafile
    ET.indent(doc)
    return write_text(path, ET.tostring(doc, encoding="unicode", xml_declaration=True) + "\n")
