"""A lab correction: what a few of a lab's own trials with inverse dynamics teach about its
hip moments, applied to the predictions for its other trials.

Another lab's pipeline (its musculoskeletal model, marker set, inertias, filtering) and
another population (children, runners, patients) give hip moments the training data's do not:
a shape the model gets right with a bias it cannot see from the angles (docs/predict.md,
"Against the trial's inverse dynamics"). Given trials of the lab's own with their inverse
dynamics, :func:`fit_lab_correction` learns the mean residual curve per degree of freedom over
the gait cycle (each subject weighing the same), shrunk towards no correction by the share
that predicts the lab's left-out subjects best, and the factor on the interval that makes it
hold their frames; :meth:`LabCorrection.apply` adds it to a prediction. What it does for
people it was not fitted on is measured by leave-one-out over the lab's own subjects (trials
where all come from one subject, cycles where from one trial), against no correction and
against the lab's own mean curve (the same curve for every cycle, no model): both are in
:attr:`LabCorrection.validation`, and the better of the two is what a lab should use
(docs/predict.md, "Adapting to your lab"; measured in benchmarks/bench_lab_correction.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gait2hip.gait.signal import resample_cycles
from gait2hip.inference.calibration import DEFAULT_INTERVAL, z_value
from gait2hip.io.atomic import write_json

if TYPE_CHECKING:
    from gait2hip.inference.result import TargetResult

#: Shares of the mean residual curve tried; leave-one-out picks the one that predicts the
#: left-out units best (0: the model as it is).
SHRINKS = (0.0, 0.25, 0.5, 0.75, 1.0)

#: The file format's version (``kind`` field: ``gait2hip lab correction``).
FORMAT_VERSION = 1
KIND = "gait2hip lab correction"


class LabCorrectionError(ValueError):
    """A lab correction that cannot be fitted or applied (one line: what and the fix)."""


def dof_name(col: str) -> str:
    """``hip_flexion_r_moment`` -> ``flexion`` (either side)."""
    return col.removeprefix("hip_").split("_")[0]


def _unit_means(values: np.ndarray, units: np.ndarray) -> np.ndarray:
    """(U, T, K): the mean of ``values`` (N, T, K) per unit."""
    return np.stack([values[units == u].mean(0) for u in np.unique(units)])


def mean_residual(pred: np.ndarray, measured: np.ndarray, units: np.ndarray) -> np.ndarray:
    """(T, K): the mean over units (each weighing the same) of the units' mean residual
    ``measured - pred``."""
    return _unit_means(measured - pred, units).mean(0)


def _scale_for(residual: np.ndarray, sd: np.ndarray, interval: float) -> float:
    """The factor (at least 1) on ``sd`` under which the ``interval`` holds that share of
    ``residual``'s frames."""
    z = np.abs(residual) / np.maximum(sd, 1e-12)
    return max(1.0, float(np.quantile(z, interval)) / z_value(interval))


def _rmse(a: np.ndarray, b: np.ndarray, units: np.ndarray) -> float:
    """Unit-mean RMSE (each unit weighing the same)."""
    return float(np.mean([np.sqrt(np.mean((a[units == u] - b[units == u]) ** 2))
                          for u in np.unique(units)]))  # fmt: skip


@dataclass(frozen=True)
class LabCorrection:
    """A lab's correction of one model's hip moments (Nm/kg, the model's cycle frames):
    ``offset`` (T, K) is added to every cycle's prediction (already multiplied by ``shrink``),
    and the interval's sd multiplied by ``sd_scale``. ``validation``: leave-one-``unit``-out
    over the lab's trials (unit-mean RMSE in Nm/kg of the model as it is, corrected, and the
    lab's mean curve; the interval's coverage before and after)."""

    dofs: tuple[str, ...]
    offset: np.ndarray
    shrink: float
    sd_scale: float
    model: str
    subjects: int
    trials: int
    cycles: int
    unit: str  # what leave-one-out left out: subject, trial or cycle
    interval: float = DEFAULT_INTERVAL
    validation: dict[str, float] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    file: str = ""  # where it was loaded from ("" for one made in this process)

    def __repr__(self) -> str:
        return (
            f"LabCorrection({self.model}: {self.subjects} subject(s), {self.trials} trial(s), "
            f"{self.cycles} cycles; shrink {self.shrink:g}, interval x{self.sd_scale:.2f}; "
            f"{self.summary()})"
        )

    @property
    def model_beats_mean_curve(self) -> bool:
        v = self.validation
        return v["rmse_corrected"] <= v["rmse_lab_mean_curve"]

    def summary(self) -> str:
        """One line: what leave-one-out measured."""
        v = self.validation
        return (
            f"leave-one-{self.unit}-out RMSE {v['rmse_model']:.3f} Nm/kg as it is, "
            f"{v['rmse_corrected']:.3f} corrected, {v['rmse_lab_mean_curve']:.3f} the lab's "
            f"mean curve; the {self.interval:.0%} interval held {v['coverage_model']:.0%} of "
            f"the frames, {v['coverage_corrected']:.0%} corrected"
        )

    def warnings(self) -> list[str]:
        """What a user of this correction should know before trusting it."""
        out = []
        if self.subjects == 1:
            out.append(
                "fitted on one subject: it corrects that subject's predictions; for other "
                "people fit it on the trials of several (leave-one-subject-out then measures it)"
            )
        if not self.model_beats_mean_curve:
            out.append(
                "the lab's own mean curve (the same for every cycle) predicted the left-out "
                f"{self.unit}s better than the corrected model "
                f"({self.validation['rmse_lab_mean_curve']:.3f} against "
                f"{self.validation['rmse_corrected']:.3f} Nm/kg): for these people the model "
                "adds nothing to the lab's average curve"
            )
        return out

    def apply(self, result: TargetResult) -> TargetResult:
        """``result`` (hip moments per kg) with the offset added and the interval widened."""
        dofs = tuple(dof_name(c) for c in result.cols)
        if dofs != self.dofs:
            raise LabCorrectionError(
                f"the lab correction is for the hip moments {list(self.dofs)}, the model "
                f"predicts {list(dofs)}: fit it for this model (gait2hip adapt)"
            )
        offset = resample_cycles(self.offset[None], result.mean.shape[1])[0]
        return replace(result, mean=result.mean + offset, sd=result.sd * self.sd_scale)

    def note(self) -> str:
        return (
            f"hip moments corrected for this lab ({self.subjects} subject(s), {self.cycles} "
            f"cycles with inverse dynamics; mean residual curve x{self.shrink:g}, interval "
            f"x{self.sd_scale:.2f}; {self.summary()})"
        )

    # ------------------------------------------------------------------ files
    def to_json(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "version": FORMAT_VERSION,
            "model": self.model,
            "dofs": list(self.dofs),
            "shrink": self.shrink,
            "sd_scale": self.sd_scale,
            "interval": self.interval,
            "subjects": self.subjects,
            "trials": self.trials,
            "cycles": self.cycles,
            "unit": self.unit,
            "validation": self.validation,
            "sources": list(self.sources),
            "offset_nm_per_kg": self.offset.T.round(6).tolist(),
        }

    def save(self, path: str | Path) -> Path:
        return write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> LabCorrection:
        fix = "write it with `gait2hip adapt` (Python: gait2hip.adapt)"
        try:
            d = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise LabCorrectionError(f"{path}: no such lab correction; {fix}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            raise LabCorrectionError(f"{path}: not a lab correction (not JSON); {fix}") from None
        if not isinstance(d, dict) or d.get("kind") != KIND:
            raise LabCorrectionError(f"{path}: not a lab correction; {fix}")
        if d.get("version") != FORMAT_VERSION:
            raise LabCorrectionError(
                f"{path}: lab correction version {d.get('version')}, this gait2hip reads "
                f"{FORMAT_VERSION}; {fix}"
            )
        offset = np.asarray(d["offset_nm_per_kg"], dtype=float).T
        if offset.ndim != 2 or offset.shape[1] != len(d["dofs"]) or not np.isfinite(offset).all():
            raise LabCorrectionError(f"{path}: its offset curve is damaged; {fix}")
        return cls(
            dofs=tuple(d["dofs"]),
            offset=offset,
            shrink=float(d["shrink"]),
            sd_scale=float(d["sd_scale"]),
            model=str(d["model"]),
            subjects=int(d["subjects"]),
            trials=int(d["trials"]),
            cycles=int(d["cycles"]),
            unit=str(d["unit"]),
            interval=float(d["interval"]),
            validation={k: float(v) for k, v in d["validation"].items()},
            sources=tuple(d.get("sources", ())),
            file=str(path),
        )


def _loo_units(subjects: np.ndarray, trials: np.ndarray) -> tuple[np.ndarray, str]:
    """What leave-one-out leaves out: subjects where there are several, else trials, else
    cycles."""
    if len(np.unique(subjects)) > 1:
        return subjects, "subject"
    if len(np.unique(trials)) > 1:
        return trials, "trial"
    return np.arange(len(subjects)), "cycle"


def fit_lab_correction(
    pred: np.ndarray,
    sd: np.ndarray,
    measured: np.ndarray,
    subjects: np.ndarray,
    trials: np.ndarray,
    *,
    cols: tuple[str, ...],
    model: str,
    interval: float = DEFAULT_INTERVAL,
    sources: tuple[str, ...] = (),
) -> LabCorrection:
    """The lab correction of predictions ``pred`` (N, T, K; their sd ``sd``) against the
    same cycles' inverse dynamics ``measured`` (per kg), the cycles of ``subjects`` and
    ``trials`` (labels per cycle).

    Leave-one-out over the units (:func:`_loo_units`) picks the share of the mean residual
    curve (:data:`SHRINKS`) with the lowest unit-mean RMSE on the left-out unit, and the
    factor on the sd under which the ``interval`` holds that share of the left-out frames;
    the correction then takes the mean residual of every unit. The validation figures are
    those of leave-one-out (the share chosen by all units, so slightly optimistic for it)."""
    pred, sd, measured = (np.asarray(a, dtype=float) for a in (pred, sd, measured))
    subjects, trials = np.asarray(subjects).astype(str), np.asarray(trials).astype(str)
    if pred.shape != measured.shape or pred.shape != sd.shape or pred.ndim != 3:
        raise LabCorrectionError(
            f"predictions {pred.shape}, sd {sd.shape} and inverse dynamics {measured.shape} "
            "must be the same (cycles, frames, dofs)"
        )
    if len(pred) < 2:
        raise LabCorrectionError(
            f"{len(pred)} gait cycle(s) with inverse dynamics: a lab correction needs at least "
            "2 (left out in turn to measure it); give more trials or longer ones"
        )
    units, unit = _loo_units(subjects, trials)
    names = np.unique(units)
    # per left-out unit: the residual curve of the others
    others = {u: mean_residual(pred[units != u], measured[units != u], units[units != u])
              for u in names}  # fmt: skip
    err = np.zeros(len(SHRINKS))
    for i, a in enumerate(SHRINKS):
        err[i] = np.mean([
            np.sqrt(np.mean((measured[units == u] - pred[units == u] - a * others[u]) ** 2))
            for u in names
        ])  # fmt: skip
    shrink = SHRINKS[int(np.argmin(err))]
    corrected = pred.copy()
    lab_curve = np.empty_like(pred)
    for u in names:
        k = units == u
        corrected[k] += shrink * others[u]
        lab_curve[k] = _unit_means(measured[~k], units[~k]).mean(0)
    residual = measured - corrected
    scale = _scale_for(residual, sd, interval)
    z = z_value(interval)

    def coverage(mean: np.ndarray, s: np.ndarray) -> float:
        return float((np.abs(measured - mean) <= z * s).mean())

    validation = {
        "rmse_model": _rmse(measured, pred, units),
        "rmse_corrected": _rmse(measured, corrected, units),
        "rmse_lab_mean_curve": _rmse(measured, lab_curve, units),
        "coverage_model": coverage(pred, sd),
        # the factor fitted on the same left-out residuals: slightly optimistic as well
        "coverage_corrected": coverage(corrected, sd * scale),
    }
    return LabCorrection(
        dofs=tuple(dof_name(c) for c in cols),
        offset=shrink * mean_residual(pred, measured, units),
        shrink=shrink,
        sd_scale=scale,
        model=model,
        subjects=len(np.unique(subjects)),
        trials=len(np.unique(trials)),
        cycles=len(pred),
        unit=unit,
        interval=interval,
        validation=validation,
        sources=sources,
    )
