"""OpenSim text formats: ``.mot``/``.sto`` tables and ``.trc`` marker files.

Readers return plain numpy/pandas objects (no OpenSim needed); writers produce files that
OpenSim 4.x reads back (checked in the tests with ``opensim.TimeSeriesTable``/``Storage``).

Angles: a ``.mot``/``.sto`` says ``inDegrees=yes|no`` in its header. Some legacy files (SIMM-style
headers, e.g. the Hamner 2013 IK) omit the line although their angles are in degrees; the reader
then reports ``in_degrees=None`` and callers decide (see :func:`guess_in_degrees`).
"""

from __future__ import annotations

import io as _io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gait2hip.conventions import RADIAN_SUSPECT_MAX_ABS
from gait2hip.io.atomic import atomic_path
from gait2hip.io.files import existing_file


class StorageFormatError(ValueError):
    """A motion/marker file that cannot be parsed; the message names the file and the fix."""


@dataclass
class MotionTable:
    """A time series from a ``.mot``/``.sto`` file: ``data`` has a ``time`` column first."""

    data: pd.DataFrame
    name: str = ""
    in_degrees: bool | None = None
    header: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    @property
    def time(self) -> np.ndarray:
        return self.data["time"].to_numpy(dtype=float)

    @property
    def columns(self) -> list[str]:
        return [c for c in self.data.columns if c != "time"]


def time_window(data: pd.DataFrame, t0: float, t1: float) -> pd.DataFrame:
    """Rows of a table with a ``time`` column where ``t0 <= time <= t1`` (1e-9 s tolerance)."""
    t = data["time"].to_numpy(dtype=float)
    return data.loc[(t >= t0 - 1e-9) & (t <= t1 + 1e-9)]


def _split_header(path: Path) -> tuple[list[str], list[str]]:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for i, line in enumerate(lines):
        if line.strip().lower() == "endheader":
            return lines[:i], lines[i + 1 :]
    raise StorageFormatError(
        f"{path}: no 'endheader' line; is this an OpenSim .mot/.sto file? (.trc files hold "
        "markers, not joint angles: run OpenSim inverse kinematics on them first)"
    )


def _expected_rows(header: dict[str, str]) -> str | None:
    """The row count a header states (``nRows``, or legacy ``datarows``)."""
    return header.get("nRows") or header.get("datarows")


def _rows_note(header: dict[str, str], found: int) -> str:
    expected = _expected_rows(header)
    return f"the header says {expected} rows, {found} found" if expected else f"{found} rows"


def _numbers(line: str) -> bool:
    try:
        [float(v) for v in line.split()]
    except ValueError:
        return False
    return True


def read_motion(path: str | Path) -> MotionTable:
    """Read an OpenSim ``.mot``/``.sto`` (versions 1 and 3, SIMM-style legacy headers)."""
    path = existing_file(path, "motion")
    head, body = _split_header(path)
    header: dict[str, str] = {}
    for line in head:
        if "=" in line:
            key, _, value = line.partition("=")
            header[key.strip()] = value.strip()
    name = head[0].strip() if head and "=" not in head[0] else ""
    body = [line for line in body if line.strip()]
    if not body:
        raise StorageFormatError(f"{path}: no column header after 'endheader'")
    columns = body[0].split("\t") if "\t" in body[0] else body[0].split()
    columns = [c.strip() for c in columns if c.strip()]
    if not columns or columns[0].lower() != "time":
        raise StorageFormatError(
            f"{path}: first column is {columns[:1]}, expected 'time'; "
            "write the time in the first column"
        )
    columns[0] = "time"
    rows = body[1:]
    for i, line in enumerate(rows):
        n = len(line.split())
        if n != len(columns):
            cut = i == len(rows) - 1
            raise StorageFormatError(
                f"{path}: data row {i + 1} has {n} values for {len(columns)} columns"
                + (
                    f"; the file ends mid-row ({_rows_note(header, len(rows))}): re-export it"
                    if cut
                    else "; fix or remove that row"
                )
            )
    try:
        values = (
            np.loadtxt(_io.StringIO("\n".join(rows)), ndmin=2)
            if rows
            else np.zeros((0, len(columns)))
        )
    except ValueError:
        bad = next(i for i, line in enumerate(rows) if not _numbers(line))
        raise StorageFormatError(
            f"{path}: data row {bad + 1} holds a value that is not a number "
            f"({rows[bad][:60]!r}); fix or remove that row"
        ) from None
    expected = _expected_rows(header)
    if expected and expected.isdigit() and int(expected) != len(values):
        raise StorageFormatError(
            f"{path}: {_rows_note(header, len(values))}; the file is cut or its header is "
            "wrong: re-export it, or correct nRows"
        )
    flag = header.get("inDegrees", "").lower()
    in_degrees = True if flag == "yes" else False if flag == "no" else None
    data = pd.DataFrame(values, columns=columns)
    return MotionTable(data, name=name, in_degrees=in_degrees, header=header, path=path)


def write_motion(
    path: str | Path,
    data: pd.DataFrame,
    *,
    in_degrees: bool = True,
    name: str | None = None,
    extra_header: dict[str, str] | None = None,
) -> Path:
    """Write ``data`` (``time`` column + values) as an OpenSim ``.mot``/``.sto`` (version 1).

    Written atomically: a reader never sees a partial file.
    """
    path = Path(path)
    if "time" not in data.columns:
        raise ValueError(f"{path}: data to write needs a 'time' column")
    cols = ["time", *[c for c in data.columns if c != "time"]]
    values = data[cols].to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        bad = sorted({cols[j] for j in np.argwhere(~np.isfinite(values))[:, 1]})
        raise ValueError(f"{path}: NaN/inf in columns {bad}; fill or drop them before writing")
    lines = [
        name or path.stem,
        "version=1",
        f"nRows={values.shape[0]}",
        f"nColumns={values.shape[1]}",
        f"inDegrees={'yes' if in_degrees else 'no'}",
    ]
    lines += [f"{k}={v}" for k, v in (extra_header or {}).items()]
    lines += ["endheader", "\t".join(cols)]
    buf = _io.StringIO()
    np.savetxt(buf, values, fmt="%.10g", delimiter="\t")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n" + buf.getvalue(), encoding="utf-8")
    return path


@dataclass
class MarkerTable:
    """Markers from a ``.trc`` file: ``positions[name]`` is (n_frames, 3) in ``units``."""

    time: np.ndarray
    positions: dict[str, np.ndarray]
    units: str
    rate_hz: float
    path: Path | None = None

    @property
    def names(self) -> list[str]:
        return list(self.positions)

    def in_metres(self) -> dict[str, np.ndarray]:
        scale = {"mm": 1e-3, "cm": 1e-2, "m": 1.0}.get(self.units.lower())
        if scale is None:
            raise StorageFormatError(f"{self.path}: unknown marker units {self.units!r}")
        return {k: v * scale for k, v in self.positions.items()}


def read_trc(path: str | Path) -> MarkerTable:
    """Read a ``.trc`` marker file (tab separated, 5 header lines)."""
    path = existing_file(path, "marker")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if len(lines) < 6 or not lines[0].startswith("PathFileType"):
        raise StorageFormatError(f"{path}: not a .trc file (first line should be PathFileType)")
    keys = lines[1].split("\t")
    vals = lines[2].split("\t")
    meta = dict(zip((k.strip() for k in keys), (v.strip() for v in vals), strict=False))
    names = [n.strip() for n in lines[3].split("\t")[2:] if n.strip()]
    rows = [line.split("\t") for line in lines[5:] if line.strip()]
    width = 2 + 3 * len(names)
    table = np.full((len(rows), width), np.nan)
    for i, row in enumerate(rows):
        cells = [float(c) if c.strip() else np.nan for c in row[:width]]
        table[i, : len(cells)] = cells
    positions = {n: table[:, 2 + 3 * j : 5 + 3 * j] for j, n in enumerate(names)}
    return MarkerTable(
        time=table[:, 1],
        positions=positions,
        units=meta.get("Units", "mm"),
        rate_hz=float(meta.get("DataRate", "nan")),
        path=path,
    )


# Columns that are never angles, even in a file flagged inDegrees (translations, forces...).
_TRANSLATION_SUFFIXES = ("_tx", "_ty", "_tz")


def angle_columns(columns: list[str]) -> list[str]:
    """Coordinate columns that hold angles (everything but pelvis/marker translations)."""
    return [c for c in columns if c != "time" and not c.endswith(_TRANSLATION_SUFFIXES)]


def guess_in_degrees(table: MotionTable, cols: list[str] | None = None) -> bool:
    """``table.in_degrees`` when the header says; else judge from the angle magnitudes.

    Joint angles in walking/running span tens of degrees; in radians every value stays
    below 2π, and hip/knee ranges below ~2.5.
    """
    if table.in_degrees is not None:
        return table.in_degrees
    cols = cols or angle_columns(table.columns)
    peak = float(np.nanmax(np.abs(table.data[cols].to_numpy()))) if cols else 0.0
    return peak >= RADIAN_SUSPECT_MAX_ABS
