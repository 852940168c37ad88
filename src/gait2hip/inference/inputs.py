"""Joint-angle trials for prediction: read, check and clean, with errors that name the file
and the fix.

Accepted: an OpenSim IK ``.mot``/``.sto`` (degrees or radians per its ``inDegrees`` header),
a ``.csv``/``.parquet`` table with a time column and the angle columns, or a pandas
DataFrame. Study-format ``.npz`` files hold cycles, not trials: see
:func:`gait2hip.inference.api.predict`.

Checks: required columns present (close names suggested), numeric values, time strictly
increasing (duplicates and reversals reported by row), angle units (header, or magnitudes
for tables without one), and NaN gaps: gaps up to ``max_gap_s`` are filled by linear
interpolation (reported), longer ones and gaps at the ends are kept as NaN and reported with
their frames, so the cycles touching them are rejected, not the trial.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gait2hip.conventions import RADIAN_SUSPECT_MAX_ABS
from gait2hip.data.dataset import DataError, _closest
from gait2hip.io.files import existing_file
from gait2hip.io.storage import StorageFormatError, read_motion
from gait2hip.io.tables import TABLE_SUFFIXES, read_table

#: Gaps of NaN up to this long (s) are interpolated; longer ones reject their cycles.
MAX_GAP_S = 0.1
#: Fewer frames than this cannot hold a gait cycle at any usual capture rate.
MIN_FRAMES = 20
ANGLE_UNITS = ("auto", "deg", "rad")
_TIME_NAMES = ("time", "time_s", "t", "seconds")


class InputError(DataError):
    """Bad prediction input; the message names the file and the fix."""


@dataclass(frozen=True)
class Gap:
    """A run of missing values: frames ``first``..``last`` (0-based, inclusive)."""

    column: str
    first: int
    last: int
    t0: float
    t1: float
    filled: bool

    def describe(self) -> str:
        what = "interpolated" if self.filled else "left missing"
        return (
            f"{self.column}: frames {self.first}-{self.last} ({self.t0:.3f}-{self.t1:.3f} s) {what}"
        )


@dataclass
class AngleTrial:
    """A trial of joint angles in degrees on its own time base."""

    time: np.ndarray  # (n,) s, strictly increasing
    angles: pd.DataFrame  # (n, C) degrees; NaN only inside unfilled gaps
    source: str
    notes: list[str] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)

    @property
    def missing_gaps(self) -> list[Gap]:
        return [g for g in self.gaps if not g.filled]


def _load_table(
    source: str | Path | pd.DataFrame, what: str = "angle"
) -> tuple[pd.DataFrame, bool | None, str]:
    """The raw table, what the file says about degrees (None: unknown), and its name."""
    if isinstance(source, pd.DataFrame):
        return source.copy(), None, "<DataFrame>"
    path = existing_file(source, what)
    suffix = path.suffix.lower()
    if suffix in (".mot", ".sto"):
        try:
            table = read_motion(path)
        except StorageFormatError as err:
            raise InputError(str(err)) from err
        return table.data, table.in_degrees, str(path)
    if suffix in TABLE_SUFFIXES:
        try:
            table = read_table(path, "a header row (time and the angle columns)")
        except StorageFormatError as err:
            raise InputError(str(err)) from None
        return table, None, str(path)
    raise InputError(
        f"{path}: unsupported file type {suffix!r}; give an OpenSim .mot/.sto, a .csv or "
        "a .parquet with a time column and the angle columns (or a study-format .npz)"
    )


def _time_column(df: pd.DataFrame, name: str) -> str:
    for col in df.columns:
        if str(col).strip().lower() in _TIME_NAMES:
            return col
    raise InputError(
        f"{name}: no time column (looked for {list(_TIME_NAMES)}); add a 'time' column in "
        f"seconds. Columns found: {list(df.columns)[:12]}"
    )


def _check_time(time: np.ndarray, name: str) -> None:
    # rows are counted from 0, the first data row after the header
    if not np.all(np.isfinite(time)):
        rows = np.flatnonzero(~np.isfinite(time))[:5].tolist()
        raise InputError(
            f"{name}: time is missing or not finite at rows {rows}; fix the time column"
        )
    d = np.diff(time)
    if np.any(d == 0):
        rows = np.flatnonzero(d == 0)[:5]
        raise InputError(
            f"{name}: duplicated time {time[rows[0]]:.4f} s at rows {(rows + 1).tolist()}; "
            "remove the repeated rows (e.g. df.drop_duplicates('time'))"
        )
    if np.any(d < 0):
        rows = np.flatnonzero(d < 0)[:5]
        raise InputError(
            f"{name}: time goes backwards at row {int(rows[0]) + 1} "
            f"({time[rows[0]]:.4f} -> {time[rows[0] + 1]:.4f} s); sort by time, or split "
            "concatenated trials into separate files"
        )


def _to_degrees(
    values: pd.DataFrame, in_degrees: bool | None, angle_units: str, name: str, notes: list[str]
) -> pd.DataFrame:
    peak = float(np.nanmax(np.abs(values.to_numpy()))) if values.size else 0.0
    looks_radians = peak < RADIAN_SUSPECT_MAX_ABS
    if angle_units == "auto":
        if in_degrees is True and looks_radians:
            raise InputError(
                f"{name}: the header says inDegrees=yes but no angle exceeds {peak:.2f}; "
                "these look like radians. Fix the header, or pass angle_units='rad' "
                "(CLI: --angle-units rad)"
            )
        if in_degrees is False and peak > 4 * math.pi:
            raise InputError(
                f"{name}: the header says inDegrees=no but angles reach {peak:.0f}; these look "
                "like degrees. Fix the header, or pass angle_units='deg'"
            )
        if in_degrees is None:
            if looks_radians:
                raise InputError(
                    f"{name}: no angle exceeds {peak:.2f}: these look like radians, but the "
                    "file does not say. Pass angle_units='rad' (CLI: --angle-units rad) to "
                    "convert, or angle_units='deg' if they are degrees"
                )
            notes.append(f"{name}: no inDegrees header; angles up to {peak:.0f}: taken as degrees")
        in_degrees = in_degrees if in_degrees is not None else True
    else:
        declared = angle_units == "deg"
        if in_degrees is not None and in_degrees != declared:
            header = "yes" if in_degrees else "no"
            raise InputError(
                f"{name}: the header says inDegrees={header} but angle_units={angle_units!r} "
                f"(CLI --angle-units {angle_units}) says otherwise; fix the header, or drop the "
                "option to follow it"
            )
        if not declared and peak > 4 * math.pi:
            raise InputError(
                f"{name}: angle_units={angle_units!r} (CLI --angle-units {angle_units}) but "
                f"angles reach {peak:.0f}, i.e. {peak * 180 / math.pi:.0f} degrees; these are "
                "degrees: pass --angle-units deg or drop the option"
            )
        in_degrees = declared
    if not in_degrees:
        notes.append(f"{name}: angles converted from radians to degrees")
        return values * (180.0 / math.pi)
    return values


def _fill_gaps(
    time: np.ndarray, values: pd.DataFrame, max_gap_s: float
) -> tuple[pd.DataFrame, list[Gap]]:
    gaps: list[Gap] = []
    out = values.copy()
    n = len(time)
    for col in values.columns:
        x = values[col].to_numpy(dtype=float)
        bad = ~np.isfinite(x)
        if not bad.any():
            continue
        if bad.all():
            raise InputError(f"column {col!r} holds no values")
        edges = np.diff(np.concatenate([[0], bad.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
        ok = np.flatnonzero(~bad)
        filled = x.copy()
        for a, b in zip(starts, ends, strict=True):
            interior = a > 0 and b < n - 1
            span = time[min(b + 1, n - 1)] - time[max(a - 1, 0)]
            fill = interior and span <= max_gap_s
            if fill:
                filled[a : b + 1] = np.interp(time[a : b + 1], time[ok], x[ok])
            else:
                filled[a : b + 1] = np.nan
            gaps.append(Gap(str(col), int(a), int(b), float(time[a]), float(time[b]), fill))
        out[col] = filled
    return out, gaps


def _read_columns(
    source: str | Path | pd.DataFrame, columns: Sequence[str], what: str
) -> tuple[np.ndarray, pd.DataFrame, bool | None, str]:
    """Time (checked), the named ``columns`` as floats, what the file says about degrees and
    the file's name, from a table of ``what`` (angle, moment) columns over time."""
    df, in_degrees, name = _load_table(source, what)
    df.columns = [str(c).strip() for c in df.columns]
    tcol = _time_column(df, name)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        others = [c for c in df.columns if c not in columns]
        hints = "; ".join(f"{m!r}{_closest(m, others)}" for m in missing)
        raise InputError(
            f"{name}: missing {what} columns: {hints}. The model needs {list(columns)}; rename "
            "the file's columns to these OpenSim names"
        )
    try:
        values = df[list(columns)].apply(pd.to_numeric, errors="raise").astype(float)
        time = pd.to_numeric(df[tcol], errors="raise").to_numpy(dtype=float)
    except (ValueError, TypeError) as err:
        raise InputError(
            f"{name}: non-numeric values in the time or {what} columns ({err})"
        ) from err
    if len(time) < MIN_FRAMES:
        raise InputError(
            f"{name}: only {len(time)} frames; a gait cycle needs at least {MIN_FRAMES} "
            "(and two heel strikes of the same foot)"
        )
    _check_time(time, name)
    return time, values, in_degrees, name


def read_series(
    source: str | Path | pd.DataFrame, columns: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, str]:
    """Time (s), the (n, C) values of ``columns`` and the file's name, from the lab's inverse
    dynamics over a trial (OpenSim ID's ``.sto``, or a table with a time column): the hip
    moments a model may take as inputs (:data:`gait2hip.conventions.SERIES_INPUTS`), in N·m.
    Refuses missing values (inverse dynamics has none where it ran)."""
    time, values, _, name = _read_columns(source, columns, "moment")
    bad = ~np.isfinite(values.to_numpy())
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(
            f"{name}: {columns[col]} is missing at row {int(row)} ({time[row]:.3f} s); give "
            "inverse-dynamics results without gaps over the predicted cycles"
        )
    return time, values.to_numpy(dtype=float), name


def read_angles(
    source: str | Path | pd.DataFrame,
    columns: Sequence[str],
    *,
    angle_units: str = "auto",
    flip_sign: Sequence[str] = (),
    max_gap_s: float = MAX_GAP_S,
) -> AngleTrial:
    """Read the ``columns`` angles of a trial in degrees (see module doc).

    ``flip_sign`` negates named columns, e.g. a knee angle stored flexion-negative (gait2392)
    for a model trained flexion-positive (Rajagopal).
    """
    if angle_units not in ANGLE_UNITS:
        raise ValueError(f"angle_units must be one of {ANGLE_UNITS}, not {angle_units!r}")
    unknown_flip = [c for c in flip_sign if c not in columns]
    if unknown_flip:
        raise InputError(f"flip_sign names columns the model does not use: {unknown_flip}")
    time, values, in_degrees, name = _read_columns(source, columns, "angle")
    notes: list[str] = []
    values = _to_degrees(values, in_degrees, angle_units, name, notes)
    for col in flip_sign:
        values[col] = -values[col]
        notes.append(f"{col}: sign flipped")
    try:
        values, gaps = _fill_gaps(time, values, max_gap_s)
    except InputError as err:
        raise InputError(f"{name}: {err}; give a file with that angle measured") from None
    for g in gaps:
        notes.append(f"{name}: NaN gap {g.describe()}")
    return AngleTrial(time, values.reset_index(drop=True), name, notes, gaps)
