"""Fit a lab correction (:mod:`gait2hip.inference.lab`) from a lab's own trials with their
inverse dynamics, each predicted exactly as ``predict`` predicts it (the same events,
filtering, resampling, conventions and model), so the correction is learnt from what it will
be added to."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from gait2hip.inference.api import predict
from gait2hip.inference.calibration import DEFAULT_INTERVAL
from gait2hip.inference.inputs import InputError
from gait2hip.inference.lab import LabCorrection, LabCorrectionError, fit_lab_correction
from gait2hip.inference.predictor import default_model_dir, find_predictors
from gait2hip.io.tables import read_table

#: A trials table's columns: the two it needs, and the optional ones with what they hold.
REQUIRED = ("angles", "inverse_dynamics")
OPTIONAL = {
    "subject_id": "who walked (default: the subject file's name); leave-one-subject-out needs it",
    "subject": "subject file (.json/.csv with mass_kg, height_m, or the scaled .osim)",
    "mass_kg": "body mass, kg (or from the subject file)",
    "height_m": "body height, m",
    "side": "r, l or both (default both)",
    "grf": "the trial's GRF .mot, for heel strikes",
    "c3d": "the trial's c3d, for heel strikes",
    "flip_sign": "columns to negate, separated by ';'",
}
PATHS = ("angles", "inverse_dynamics", "subject", "grf", "c3d")
SIDES = {"r": ("r",), "l": ("l",), "both": ("r", "l")}


class TrialRow(NamedTuple):
    """What happened to one trial side."""

    angles: str
    side: str
    subject_id: str
    cycles: int  # kept cycles
    with_id: int  # of them, covered by the inverse dynamics
    error: str


def _cell(row: pd.Series, name: str) -> str | None:
    value = row.get(name)
    if value is None or pd.isna(value):
        return None
    text = str(value).strip()
    return text or None


def read_trials(path: str | Path | pd.DataFrame) -> pd.DataFrame:
    """A trials table (.csv/.parquet or a DataFrame): one row per trial, the columns
    :data:`REQUIRED` and any of :data:`OPTIONAL`; file paths relative to the table's folder.
    Refuses in one line a table without them or a row without a subject."""
    source = "trials table" if isinstance(path, pd.DataFrame) else str(path)
    what = f"one row per trial with columns {', '.join(REQUIRED)} (and {', '.join(OPTIONAL)})"
    df = path.copy() if isinstance(path, pd.DataFrame) else read_table(path, what)
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(f"{source}: no column {', '.join(missing)}; give {what}")
    unknown = [c for c in df.columns if c not in (*REQUIRED, *OPTIONAL)]
    if unknown:
        raise InputError(f"{source}: unknown column(s) {', '.join(map(str, unknown))}; {what}")
    base = Path(".") if isinstance(path, pd.DataFrame) else Path(path).parent
    for col in PATHS:
        if col in df.columns:
            df[col] = [
                None if (v := _cell(r, col)) is None else str(base / v) for _, r in df.iterrows()
            ]
    ids, sides = [], []
    for i, r in df.iterrows():
        sid = _cell(r, "subject_id") or (
            Path(s).stem if (s := _cell(r, "subject")) is not None else None
        )
        if sid is None:
            raise InputError(
                f"{source}: row {i + 1} ({_cell(r, 'angles')}) names no subject; give a "
                "subject_id column (who walked) so the correction is measured on people it "
                "was not fitted on"
            )
        side = _cell(r, "side") or "both"
        if side not in SIDES:
            raise InputError(f"{source}: row {i + 1}: side {side!r}; use r, l or both")
        for col, unit in (("mass_kg", "kg"), ("height_m", "m")):
            value = _cell(r, col)
            try:
                float("nan" if value is None else value)
            except ValueError:
                raise InputError(
                    f"{source}: row {i + 1}: {col} {value!r} is not a number; give it in {unit}"
                ) from None
        ids.append(sid)
        sides.append(side)
    return df.assign(subject_id=ids, side=sides)


def trial_sides(df: pd.DataFrame) -> int:
    """How many trial sides a table of :func:`read_trials` predicts."""
    return sum(len(SIDES[s]) for s in df.side)


def adapt(
    trials: str | Path | pd.DataFrame,
    *,
    model: str | Path | Sequence[str | Path] | None = None,
    architecture: str | None = None,
    ensemble: bool = True,
    interval: float = DEFAULT_INTERVAL,
    on_trial: Callable[[TrialRow], None] | None = None,
) -> tuple[LabCorrection, pd.DataFrame]:
    """Fit a lab correction of a model's hip moments (default: the model shipped with
    gait2hip) from a lab's trials with their inverse dynamics (``trials``: a table,
    :func:`read_trials`). Every trial side is predicted as :func:`~gait2hip.inference.api.predict`
    would, with its inverse dynamics; the cycles it covers are the data. A trial that cannot be
    predicted is left out and said so in the returned table (one row per trial side:
    :class:`TrialRow`), which ``on_trial`` gets as each is done."""
    df = read_trials(trials)
    predictors = find_predictors(
        model if model is not None else default_model_dir(),
        model=architecture,
        ensemble=ensemble,
        inverse_dynamics=True,
    )
    means, sds, measured, subjects, trial_ids, rows = [], [], [], [], [], []
    label, cols, heights, fingerprint = None, (), [], ""
    for _, r in df.iterrows():
        mass, height = _cell(r, "mass_kg"), _cell(r, "height_m")
        flips = tuple(f.strip() for f in (_cell(r, "flip_sign") or "").split(";") if f.strip())
        for side in SIDES[r.side]:
            angles = _cell(r, "angles")
            try:
                pred = predict(
                    angles,
                    mass_kg=None if mass is None else float(mass),
                    height_m=None if height is None else float(height),
                    subject=_cell(r, "subject"),
                    side=side,
                    grf=_cell(r, "grf"),
                    c3d=_cell(r, "c3d"),
                    inverse_dynamics=_cell(r, "inverse_dynamics"),
                    flip_sign=flips,
                    interval=interval,
                    predictors=predictors,
                )
                if "moments" not in pred.targets:
                    raise LabCorrectionError(
                        "the model predicts no hip moments; a lab correction corrects them"
                    )
                if pred.mass_kg is None:
                    raise InputError(f"{angles}: give the body mass (mass_kg or a subject file)")
                m, t = pred.measured_moments, pred.targets["moments"]
                covered = np.isfinite(m).all(axis=(1, 2))
                label, cols, fingerprint = t.model, t.cols, t.model_fingerprint
                heights.append(pred.height_m is not None)
                means.append(t.mean[covered])
                sds.append(t.sd[covered])
                measured.append(m[covered])
                subjects += [r.subject_id] * int(covered.sum())
                trial_ids += [angles] * int(covered.sum())
                row = TrialRow(angles, side, r.subject_id, len(covered), int(covered.sum()), "")
            except LabCorrectionError:
                raise
            except (ValueError, FileNotFoundError) as err:
                row = TrialRow(str(angles), side, r.subject_id, 0, 0, str(err))
            rows.append(row)
            if on_trial is not None:
                on_trial(row)
    table = pd.DataFrame(rows, columns=TrialRow._fields)
    if label is None or not sum(len(m) for m in measured):
        why = "; ".join(f"{r.angles} ({r.side}): {r.error or 'no cycle its ID covers'}"
                        for r in rows)  # fmt: skip
        raise LabCorrectionError(f"no gait cycle with inverse dynamics to learn from ({why})")
    correction = fit_lab_correction(
        np.concatenate(means),
        np.concatenate(sds),
        np.concatenate(measured),
        np.array(subjects),
        np.array(trial_ids),
        cols=cols,
        model=label,
        interval=interval,
        sources=tuple(sorted(set(trial_ids))),
        heights="all" if all(heights) else "none" if not any(heights) else "some",
        model_fingerprint=fingerprint,
    )
    return correction, table
