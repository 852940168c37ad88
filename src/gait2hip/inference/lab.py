"""A lab correction: what a few of a lab's own trials with inverse dynamics teach about its
hip moments, applied to the predictions for its other trials.

Another lab's pipeline (its musculoskeletal model, marker set, inertias, filtering) and
another population (children, runners, patients) give hip moments the training data's do not:
a shape the model gets right with a bias it cannot see from the angles (docs/predict.md,
"Against the trial's inverse dynamics"). Given trials of the lab's own with their inverse
dynamics, :func:`fit_lab_correction` learns two curves over the gait cycle per degree of
freedom, the mean of the lab's measured hip moments (ȳ) and of the model's predictions for
the same cycles (p̄), each subject weighing the same, and predicts a new cycle as

    β·(p - p̄) + α·ȳ + (1 - α)·p̄

where p is the model's prediction: ``α`` (``shrink``) is the share of the lab's own mean
that replaces the model's, ``β`` (``gain``) what the model's departure from its mean over the
lab's cycles is worth. α = β = 1 shifts the model by the lab's mean residual; α = 0, β = 1 is
the model as it is; α = 1, β = 0 is the lab's mean curve, the same for every cycle (no
model). Leave-one-out over the lab's subjects (trials where all come from one subject, cycles
where from one trial) picks both from :data:`WEIGHTS` and the factor on the interval that
makes it hold the left-out frames; the left-out errors of the model as it is, of the
correction and of the lab's mean curve are kept in :attr:`LabCorrection.validation`
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
from gait2hip.training.metrics import subject_mean_metrics

if TYPE_CHECKING:
    from gait2hip.inference.result import TargetResult

#: The values of α (the lab mean's share) and β (the gain on the model's variation) tried;
#: leave-one-out picks the pair that predicts the left-out units best.
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)

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


def _lab_mean(values: np.ndarray, units: np.ndarray) -> np.ndarray:
    """(T, K): the mean over units (each weighing the same) of the units' mean curve."""
    return _unit_means(values, units).mean(0)


def _combine(pred, lab_mean, model_mean, shrink: float, gain: float) -> np.ndarray:
    """β·(p - p̄) + α·ȳ + (1 - α)·p̄ (the module's docstring)."""
    return gain * (pred - model_mean) + shrink * lab_mean + (1 - shrink) * model_mean


def _scale_for(residual: np.ndarray, sd: np.ndarray, interval: float) -> float:
    """The factor (at least 1) on ``sd`` under which the ``interval`` holds that share of
    ``residual``'s frames."""
    z = np.abs(residual) / np.maximum(sd, 1e-12)
    return max(1.0, float(np.quantile(z, interval)) / z_value(interval))


def _rmse(a: np.ndarray, b: np.ndarray, units: np.ndarray) -> float:
    """Unit-mean RMSE (each unit weighing the same; the study's subject-mean RMSE)."""
    return subject_mean_metrics(a, b, units)["rmse"]


@dataclass(frozen=True)
class LabCorrection:
    """A lab's correction of one model's hip moments (Nm/kg, the model's cycle frames): a
    cycle's prediction p becomes the module's formula with ``shrink`` α and ``gain`` β
    (:meth:`correct`; ``gain`` x p + :attr:`offset`), and the interval's sd is multiplied by
    ``sd_scale``. ``validation``: leave-one-``unit``-out over the lab's trials
    (unit-mean RMSE in Nm/kg of the model as it is, corrected, and the lab's mean curve; the
    interval's coverage before and after). ``lab_mean`` and ``model_mean`` (T, K): ȳ and p̄,
    the lab's measured and the model's predicted mean curves over the lab's cycles."""

    dofs: tuple[str, ...]
    lab_mean: np.ndarray
    model_mean: np.ndarray
    shrink: float
    gain: float
    sd_scale: float
    model: str
    subjects: int
    trials: int
    cycles: int
    unit: str  # what leave-one-out left out: subject, trial or cycle
    interval: float = DEFAULT_INTERVAL
    validation: dict[str, float] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    # whether the lab's trials were predicted with the body height known: "all", "none",
    # "some" (the height scales the moments and steers the blend, so predict should know it
    # as adapt did), or "" where not recorded
    heights: str = ""
    # the weights it was fitted for (Predictor.fingerprint; "" where not recorded)
    model_fingerprint: str = ""
    file: str = ""  # where it was loaded from ("" for one made in this process)

    def __repr__(self) -> str:
        return (
            f"LabCorrection({self.model}: {self.subjects} subject(s), {self.trials} trial(s), "
            f"{self.cycles} cycles; {self.weights()}, interval x{self.sd_scale:.2f}; "
            f"{self.summary()})"
        )

    @property
    def offset(self) -> np.ndarray:
        """(T, K): what :meth:`correct` adds to ``gain`` x the prediction, α·ȳ + (1 - α - β)·p̄."""
        return self.correct(np.zeros_like(self.lab_mean)[None])[0]

    def correct(self, mean: np.ndarray) -> np.ndarray:
        """Predictions ``mean`` (N, T, K; any number of frames T) corrected:
        β·(p - p̄) + α·ȳ + (1 - α)·p̄, the curves resampled to T."""
        lab_mean, model_mean = (resample_cycles(c[None], mean.shape[1])[0]
                                for c in (self.lab_mean, self.model_mean))  # fmt: skip
        return _combine(mean, lab_mean, model_mean, self.shrink, self.gain)

    def weights(self) -> str:
        return f"lab mean x{self.shrink:g}, model's variation x{self.gain:g}"

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
        if self.gain == 0:
            out.append(
                f"leave-one-{self.unit}-out found the model's cycle-to-cycle variation of no "
                "help for these people: the correction gives every cycle the lab's mean curve "
                f"{'' if self.shrink == 1 else 'blended with the model mean '}(the model adds "
                "nothing to the lab's average curve)"
            )
        return out

    def height_warning(self, height_known: bool) -> str | None:
        """A warning where a trial is predicted with the body height known (or not) unlike
        the lab's trials the correction was fitted on."""
        if self.heights == "all" and not height_known:
            return (
                "fitted on trials predicted with the body height known, and this one has none: "
                "give the height (--height, or the scaled .osim as --subject), or the corrected "
                "moments are not those it was fitted for"
            )
        if self.heights == "none" and height_known:
            return (
                "fitted on trials predicted without a body height, and this one has one: "
                "predict it as the lab's trials were (no --height), or fit the correction "
                "again with the heights"
            )
        return None

    def apply(self, result: TargetResult) -> TargetResult:
        """``result`` (hip moments per kg) corrected: its mean by :meth:`correct`, its sd
        times ``sd_scale``."""
        dofs = tuple(dof_name(c) for c in result.cols)
        if dofs != self.dofs:
            raise LabCorrectionError(
                f"the lab correction is for the hip moments {list(self.dofs)}, the model "
                f"predicts {list(dofs)}: fit it for this model (gait2hip adapt)"
            )
        return replace(result, mean=self.correct(result.mean), sd=result.sd * self.sd_scale)

    def note(self) -> str:
        return (
            f"hip moments corrected for this lab ({self.subjects} subject(s), {self.cycles} "
            f"cycles with inverse dynamics; {self.weights()}, interval x{self.sd_scale:.2f}; "
            f"{self.summary()})"
        )

    def plot(self, path: str | Path | None = None):
        """The lab's measured mean hip moments, the model's and the corrected mean prediction
        for the same cycles, per degree of freedom (a figure, or its file at ``path``)."""
        from gait2hip.report.figures import plot_lab_correction

        return plot_lab_correction(self, path)

    # ------------------------------------------------------------------ files
    def to_json(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "version": FORMAT_VERSION,
            "model": self.model,
            "dofs": list(self.dofs),
            "shrink": self.shrink,
            "gain": self.gain,
            "sd_scale": self.sd_scale,
            "interval": self.interval,
            "subjects": self.subjects,
            "trials": self.trials,
            "cycles": self.cycles,
            "unit": self.unit,
            "validation": self.validation,
            "sources": list(self.sources),
            "heights": self.heights,
            "model_fingerprint": self.model_fingerprint,
            "lab_mean_nm_per_kg": self.lab_mean.T.round(6).tolist(),
            "model_mean_nm_per_kg": self.model_mean.T.round(6).tolist(),
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
        try:
            dofs = tuple(str(x) for x in d["dofs"])
            curves = {
                name: np.asarray(d[f"{name}_nm_per_kg"], dtype=float).T
                for name in ("lab_mean", "model_mean")
            }
            out = cls(
                dofs=dofs,
                **curves,
                shrink=float(d["shrink"]),
                gain=float(d["gain"]),
                sd_scale=float(d["sd_scale"]),
                model=str(d["model"]),
                subjects=int(d["subjects"]),
                trials=int(d["trials"]),
                cycles=int(d["cycles"]),
                unit=str(d["unit"]),
                interval=float(d["interval"]),
                validation={k: float(v) for k, v in d["validation"].items()},
                sources=tuple(d.get("sources", ())),
                heights=str(d.get("heights", "")),
                model_fingerprint=str(d.get("model_fingerprint", "")),
                file=str(path),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            what = f"no {err.args[0]!r}" if isinstance(err, KeyError) else "a value unreadable"
            raise LabCorrectionError(f"{path}: a damaged lab correction ({what}); {fix}") from None
        for name, c in curves.items():
            if c.ndim != 2 or c.shape[1] != len(dofs) or not np.isfinite(c).all():
                raise LabCorrectionError(
                    f"{path}: a damaged lab correction (its {name.replace('_', ' ')} curve); {fix}"
                )
        return out


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
    heights: str = "",
    model_fingerprint: str = "",
) -> LabCorrection:
    """The lab correction of predictions ``pred`` (N, T, K; their sd ``sd``) against the
    same cycles' inverse dynamics ``measured`` (per kg), the cycles of ``subjects`` and
    ``trials`` (labels per cycle).

    Leave-one-out over the units (:func:`_loo_units`) picks the pair (α, β) of
    :data:`WEIGHTS` with the lowest unit-mean RMSE on the left-out units (each predicted from
    the others' mean curves), and the factor on the sd under which the ``interval`` holds that
    share of the left-out frames; the correction then takes the mean curves of every unit. The
    validation figures are those of leave-one-out (the pair chosen by all units, so slightly
    optimistic for it)."""
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
    # per left-out unit: the others' mean curves, measured and predicted
    others = {
        u: (_lab_mean(measured[units != u], units[units != u]),
            _lab_mean(pred[units != u], units[units != u]))
        for u in names
    }  # fmt: skip

    def loo(shrink: float, gain: float) -> np.ndarray:
        out = np.empty_like(pred)
        for u in names:
            out[units == u] = _combine(pred[units == u], *others[u], shrink, gain)
        return out

    # ties go to the least change: the model's variation kept whole first, then the least of
    # the lab's mean
    pairs = sorted(((a, b) for a in WEIGHTS for b in WEIGHTS), key=lambda p: (-p[1], p[0]))
    err = np.array([_rmse(measured, loo(a, b), units) for a, b in pairs])
    shrink, gain = pairs[int(np.flatnonzero(err <= err.min() + 1e-12)[0])]
    corrected = loo(shrink, gain)
    scale = _scale_for(measured - corrected, sd, interval)
    z = z_value(interval)

    def coverage(mean: np.ndarray, s: np.ndarray) -> float:
        return float((np.abs(measured - mean) <= z * s).mean())

    validation = {
        "rmse_model": _rmse(measured, pred, units),
        "rmse_corrected": _rmse(measured, corrected, units),
        "rmse_lab_mean_curve": _rmse(measured, loo(1.0, 0.0), units),
        "coverage_model": coverage(pred, sd),
        # the factor fitted on the same left-out residuals: slightly optimistic as well
        "coverage_corrected": coverage(corrected, sd * scale),
    }
    lab_mean, model_mean = _lab_mean(measured, units), _lab_mean(pred, units)
    return LabCorrection(
        dofs=tuple(dof_name(c) for c in cols),
        lab_mean=lab_mean,
        model_mean=model_mean,
        shrink=shrink,
        gain=gain,
        sd_scale=scale,
        model=model,
        subjects=len(np.unique(subjects)),
        trials=len(np.unique(trials)),
        cycles=len(pred),
        unit=unit,
        interval=interval,
        validation=validation,
        sources=sources,
        heights=heights,
        model_fingerprint=model_fingerprint,
    )
