"""Trained models ready to predict: found from a checkpoint, a unit folder, a run folder or
a folder of runs, with their ensemble members and calibration.

Run-folder layout (written by the benchmark protocol)::

    <run>/config.json, summary.csv, ...
    <run>/split<S>/<model-label>/seed<N>/final.pt, fold<k>.pt, calibration.npz, final.json

A *unit* folder (``seed<N>``) gives an ensemble of its final and fold models; a ``.pt`` file
gives that model alone; a run folder gives its best unit by subject-mean RMSE on the test
subjects (or the one named with ``model=``); a folder holding run folders (``runs/demo``)
gives one predictor per target. ``gait2hip60`` (or ``gait2hip60:lstm``...) gives the Gait2Hip-60
study's published models (:mod:`gait2hip.training.published`), calibrated on the bundled
walking data of another lab when it has been built (:func:`published_predictors`).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from gait2hip import settings
from gait2hip.conventions import SERIES_INPUTS, get_target, input_set_name
from gait2hip.data.dataset import input_columns_for
from gait2hip.inference.calibration import (
    ANCHOR_FILE,
    CALIBRATION_FILE,
    MEMBERS_DIR,
    Anchor,
    Calibration,
    cycle_features,
    interval_sd,
    member_predictions,
    mixture,
    shift_of,
)
from gait2hip.models import config_dict
from gait2hip.training.checkpoint import TrainedModel, average_refusal
from gait2hip.training.metrics import MIN_SKILL, skill_vs_mean_curve
from gait2hip.training.published import (
    PUBLISHED,
    TARGET_FILES,
    available_published,
    load_anchor,
    load_published,
    low_passed_as,
    parse_published,
    published_path,
)

#: The model card beside the shipped default model.
MODEL_CARD = "MODEL_CARD.md"
#: A unit folder's broad model (a unit folder itself), blended in for cycles unlike the
#: unit's training data (:attr:`Predictor.broad`).
BROAD_DIR = "broad"


def default_model_dir() -> Path:
    """The model ``predict`` uses when none is given: one unit folder per target (final.pt,
    calibration.npz) shipped inside the package, with its model card (written by
    scripts/ship_default_model.py from a ``gait2hip transfer`` run)."""
    return Path(__file__).resolve().parents[1] / "default_model"


#: A shipped unit folder named ``<target><ID_UNIT_SUFFIX>`` holds the target's model of the
#: angles and the trial's inverse-dynamics hip moments (conventions.SERIES_INPUTS): ``predict``
#: uses it in place of the target's own when the trial's ID results are given.
ID_UNIT_SUFFIX = "-id"


def reads_inverse_dynamics(model: TrainedModel | Predictor) -> bool:
    """Whether the model takes the inverse-dynamics hip moments as inputs."""
    return any(c in SERIES_INPUTS for c in model.in_cols)


def unit_name(final: TrainedModel) -> str:
    """The folder a shipped unit of ``final`` goes to: its target, with
    :data:`ID_UNIT_SUFFIX` when it reads the inverse-dynamics hip moments."""
    return final.target + (ID_UNIT_SUFFIX if reads_inverse_dynamics(final) else "")


def _for_inputs(a: Predictor, b: Predictor, inverse_dynamics: bool) -> Predictor:
    """Of two models of one target, the one that reads the inverse-dynamics hip moments when
    the trial's are given (``inverse_dynamics``; the other as its :attr:`Predictor.without_id`,
    for the cycles they do not cover), else the one that does not; two of the same kind are
    refused in one line."""
    if reads_inverse_dynamics(a) == reads_inverse_dynamics(b):
        raise ValueError(
            f"two models for {a.target!r}: {a.source} and {b.source}; pass one model per target"
        )
    with_id, angles = (a, b) if reads_inverse_dynamics(a) else (b, a)
    return replace(with_id, without_id=angles) if inverse_dynamics else angles


#: The bundled walking dataset the published models are calibrated on (another lab's
#: subjects, none of whom they saw), as ``gait2hip build-dataset`` writes it.
CALIBRATION_DATASET = "schreiber2019"


class ModelNotFoundError(FileNotFoundError):
    """No trained model where one was asked for; the message says how to get one."""


class CyclePrediction(NamedTuple):
    """:meth:`Predictor.predict_cycles`: arrays (N, T, K) per kg and per-cycle (N,) checks;
    a check is None where its inputs (calibration, durations, broad model) are missing."""

    mean: np.ndarray
    sd: np.ndarray  # total: the interval's
    ensemble_sd: np.ndarray
    within_sd: np.ndarray  # without the between-population part and the widening
    ood: tuple[np.ndarray, np.ndarray] | None  # (score, percentile)
    pace_percentile: np.ndarray | None
    size_percentile: np.ndarray | None
    shift_percentile: np.ndarray | None
    broad_weight: np.ndarray | None
    widening: np.ndarray | None  # the factor on ``sd`` (None: not widened)

    @property
    def checks(self) -> dict[str, np.ndarray | None]:
        """Each check's percentiles per cycle, by name (as a
        :class:`~gait2hip.inference.calibration.BlendRule` takes them)."""
        ood = None if self.ood is None else self.ood[1]
        return {"ood": ood, "pace": self.pace_percentile, "size": self.size_percentile}


@dataclass
class Predictor:
    """One target's ensemble (``members[0]`` is the final model) and its calibration."""

    members: list[TrainedModel]
    calibration: Calibration | None
    source: Path
    metrics: dict[str, Any]
    # the model of another population whose disagreement is part of the interval, as the
    # calibration names it (None: the calibration names none, or it was not found)
    anchor: Anchor | None = None
    # a broader model of the same target and inputs, blended in per cycle as the cycle is
    # unlike this one's training data (calibration.py, "Blend with a broad model")
    broad: Predictor | None = None
    # for a model that reads the trial's inverse-dynamics hip moments: the same target's model
    # of the angles alone (found beside it, e.g. the shipped forces beside forces-id), which
    # predicts the cycles the trial's inverse dynamics do not cover
    without_id: Predictor | None = None

    @property
    def final(self) -> TrainedModel:
        return self.members[0]

    @property
    def target(self) -> str:
        return self.final.target

    @property
    def unit(self) -> str:
        return get_target(self.target).train_unit

    @property
    def in_cols(self) -> tuple[str, ...]:
        return self.final.in_cols

    @property
    def out_cols(self) -> tuple[str, ...]:
        return self.final.out_cols

    @property
    def n_frames(self) -> int:
        return self.final.n_frames

    @property
    def published(self) -> bool:
        """Whether this is one of the Gait2Hip-60 study's published models."""
        return self.final.meta.get("role") == "published"

    @property
    def label(self) -> str:
        if self.published:
            return f"{PUBLISHED}:{self.final.name}"
        # the architectures averaged (one, unless the unit has members/ of others; several
        # models of one architecture, e.g. fine-tuned and published, counted)
        counts = Counter(_arch_label(m) for m in self.members)
        return " + ".join(a if n == 1 else f"{a} ({n} averaged)" for a, n in counts.items())

    @functools.cached_property
    def fingerprint(self) -> str:
        """A hash of every member's weights and model config (and the broad model's): two
        predictors that predict alike share it, whatever folder they were loaded from."""
        h = hashlib.sha256(self.label.encode())
        for member in [*self.members, *(self.broad.members if self.broad else [])]:
            h.update(json.dumps(config_dict(member.model), sort_keys=True).encode())
            for name, value in member.model.state_dict().items():
                h.update(name.encode())
                h.update(value.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def with_output_lowpass(self, harmonics: float) -> Predictor:
        """This predictor with every model that can be low-passed along the cycle at
        ``harmonics`` cycles per gait cycle (0: none;
        :meth:`~gait2hip.training.checkpoint.TrainedModel.with_output_lowpass`) so: its
        members, those of its broad model and of its :attr:`without_id`, and its anchor, the
        study's model its interval compares with (a published Transformer's frame-to-frame
        jitter is no disagreement between populations); the rest as they are."""
        anchor = self.anchor
        if anchor is not None:
            anchor = replace(anchor, model=anchor.model.with_output_lowpass(harmonics))
        return replace(
            self,
            members=[m.with_output_lowpass(harmonics) for m in self.members],
            anchor=anchor,
            broad=None if self.broad is None else self.broad.with_output_lowpass(harmonics),
            without_id=None
            if self.without_id is None
            else self.without_id.with_output_lowpass(harmonics),
        )

    def predict(
        self,
        X_deg: np.ndarray,
        height_m: float | np.ndarray | None = None,
        durations: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N, T, C) cycles in degrees -> mean, total sd and ensemble sd per kg, (N, T, K),
        moments scaled to the body height ``height_m`` (see :meth:`size_factors`); with a
        :attr:`broad` model, blended per cycle by :meth:`broad_weight`, and the sd widened
        under shift and far out as calibrated
        (:meth:`~gait2hip.inference.calibration.Calibration.interval_widening`; the cycles'
        durations in s, when known, are part of both)."""
        p = self.predict_cycles(X_deg, height_m, durations)
        return p.mean, p.sd, p.ensemble_sd

    def predict_within(
        self,
        X_deg: np.ndarray,
        height_m: float | np.ndarray | None = None,
        durations: np.ndarray | None = None,
        mass_kg: float | np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Like :meth:`predict`: mean, total sd and the sd without the between-population part
        or the widening under shift (the within-population interval), from one pass; the body
        mass (kg) stands in for the size check where the height is not given, as in
        :meth:`predict_cycles`."""
        p = self.predict_cycles(X_deg, height_m, durations, mass_kg)
        return p.mean, p.sd, p.within_sd

    def shift_percentile(
        self, X_deg: np.ndarray, height_m=None, durations: np.ndarray | None = None
    ) -> np.ndarray | None:
        """Per cycle, the largest of its OOD, pace and size percentiles (the checks whose
        inputs are known; None without calibration): how unlike the training data it is."""
        return shift_of(self._checks(self.filled_inputs(X_deg)[0], height_m, durations)[1])

    def _checks(
        self, X_deg: np.ndarray, height_m, durations, mass_kg=None
    ) -> tuple[tuple[np.ndarray, np.ndarray] | None, dict[str, np.ndarray | None]]:
        """OOD (scores, percentiles) and each check's percentiles per cycle (by name, as
        :data:`~gait2hip.inference.calibration.SHIFT_CHECKS`; None where not known; the size
        check's from the body mass where the height is not given and the mass flags a light
        body); (None, {}) without calibration."""
        ood = self.ood_scores(X_deg)
        if ood is None or self.calibration is None:
            return None, {}
        size = self.calibration.size_percentile(height_m, mass_kg)
        if size is not None:
            size = np.broadcast_to(size, ood[1].shape)
        return ood, {"ood": ood[1], "pace": self.pace_percentile(durations), "size": size}

    def broad_weight(
        self, X_deg: np.ndarray, height_m=None, durations: np.ndarray | None = None, mass_kg=None
    ) -> np.ndarray | None:
        """Per cycle, the :attr:`broad` model's share of the prediction (its calibration's
        :class:`~gait2hip.inference.calibration.BlendRule` of the checks); None without a
        broad model or a calibration to tell."""
        if self.broad is None:
            return None
        X_deg, unknown = self.filled_inputs(X_deg)
        checks = self._checks(X_deg, height_m, durations, mass_kg)
        return self._share(*checks, unknown, durations)

    def _share(
        self,
        ood: tuple[np.ndarray, np.ndarray] | None,
        checks: dict[str, np.ndarray | None],
        unknown: np.ndarray,
        durations: np.ndarray | None,
    ) -> np.ndarray | None:
        """The broad model's share per cycle from the checks' percentiles (and the OOD
        scores and cycle durations) by the calibration's rule (none where none of its checks
        is known); all of it for the ``unknown`` cycles (see :meth:`filled_inputs`)."""
        cal = self.calibration
        if self.broad is None or cal is None or ood is None or not checks:
            return None
        w = cal.blend_share(checks, ood[0], durations)
        return np.where(unknown, 1.0, np.zeros(len(unknown)) if w is None else w)

    def predict_cycles(
        self, X_deg: np.ndarray, height_m=None, durations: np.ndarray | None = None, mass_kg=None
    ) -> CyclePrediction:
        """Everything :meth:`predict` computes per cycle, from one pass of the models and the
        checks: mean, sd (total, ensemble and within-population), the OOD, pace, size and
        shift percentiles, the broad model's share and the interval's widening (under shift
        and far out). ``mass_kg`` (kg) stands in for the size check where ``height_m`` is not
        given (:meth:`~gait2hip.inference.calibration.Calibration.size_percentile`); the
        moments are scaled by the height alone."""
        missing = ~np.isfinite(X_deg).all(axis=1)
        X_deg, unknown = self.filled_inputs(X_deg)
        ood, checks = self._checks(X_deg, height_m, durations, mass_kg)
        pct = shift_of(checks)
        own = self._predict_own(X_deg, height_m, None if self.broad is not None else missing)
        w = self._share(ood, checks, unknown, durations)
        if w is None or self.broad is None:
            mean, sd, ens_sd, within = own
        else:
            X_broad = X_deg[..., input_columns_for(self.broad.in_cols, self.in_cols, "broad")]
            # a walker of unknown height: the one its own model's moments are those of
            h_broad = height_or_reference(height_m, self.reference_height_m)
            other = self.broad._predict_own(X_broad, h_broad)
            mean, sd = mixture(w, (own[0], own[1]), (other[0], other[1]))
            ens_sd = mixture(w, (own[0], own[2]), (other[0], other[2]))[1]
            within = mixture(w, (own[0], own[3]), (other[0], other[3]))[1]
        cal = self.calibration
        widen = None if cal is None else cal.interval_widening(pct, None if ood is None else ood[0])
        if widen is not None:
            sd = sd * widen.reshape(-1, *([1] * (sd.ndim - 1))).astype(sd.dtype)
        pace, size = checks.get("pace"), checks.get("size")
        return CyclePrediction(mean, sd, ens_sd, within, ood, pace, size, pct, w, widen)

    @property
    def required_inputs(self) -> tuple[str, ...]:
        """The inputs without which it cannot predict a cycle: its own; with a :attr:`broad`
        model of fewer inputs, the broad model's; of averaged architectures (``members/``)
        some of which read fewer inputs, those of the one that reads fewest. A cycle lacking
        another of its inputs (NaN in that channel, e.g. a cycle duration a file without cycle
        times cannot give) is the broad model's alone, or the mean of the members that do not
        read it."""
        if self.broad is not None:
            return self.broad.in_cols
        return min((m.in_cols for m in self.members), key=len)

    def _usable(self, missing: np.ndarray) -> np.ndarray | None:
        """(M, N): which members can predict each cycle, given the (N, C) inputs ``missing``
        (all of them where none is; None)."""
        if not missing.any():
            return None
        reads = np.array([[c in m.in_cols for c in self.in_cols] for m in self.members])
        return ~(missing[None] & reads[:, None]).any(-1)

    def filled_inputs(self, X_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``X_deg`` with the inputs only the model's own (not its broad model) takes filled
        where unknown (NaN) with their training mean, so the OOD score sees the rest, and the
        (N,) cycles that lacked one (the broad model's alone); refuses NaN in the inputs it
        requires."""
        required = [j for j, c in enumerate(self.in_cols) if c in self.required_inputs]
        if not np.isfinite(X_deg[..., required]).all():
            raise ValueError(f"{self.source}: NaN in its inputs {list(self.required_inputs)}")
        unknown = ~np.isfinite(X_deg).all(axis=(1, 2))
        if unknown.any():
            fill = np.broadcast_to(self.final.scaler.mean, X_deg.shape)
            X_deg = np.where(np.isfinite(X_deg), X_deg, fill).astype(np.float32)
        return X_deg, unknown

    def _predict_own(
        self, X_deg: np.ndarray, height_m, missing: np.ndarray | None = None
    ) -> tuple[np.ndarray, ...]:
        """Mean, total sd, ensemble sd and within-population sd of this model alone (no
        blend, no widening), scaled to ``height_m``; ``missing``: (N, C) inputs not known
        (filled), which the members that read them sit out."""
        preds = member_predictions(self.members, X_deg)
        usable = None if missing is None else self._usable(missing)
        if usable is None:
            mean, ens_sd = preds.mean(0), preds.std(0)
        else:  # a cycle lacking an input some members read: the others' mean and spread
            w = usable[:, :, None, None].astype(preds.dtype) / usable.sum(0)[None, :, None, None]
            mean = (preds * w).sum(0)
            ens_sd = np.sqrt((((preds - mean) ** 2) * w).sum(0))
        resid = None if self.calibration is None else self.calibration.resid_sd
        between = None
        if self.anchor is not None:
            between = self.anchor.between_sd(self.final, mean, X_deg, height_m)
        f = self.size_factors(height_m, len(mean))
        sd, within = interval_sd(ens_sd, resid, between), interval_sd(ens_sd, resid)
        return mean * f, sd * f, ens_sd * f, within * f

    @property
    def interval_note(self) -> str:
        """Why the interval lacks a part its calibration measured with ("" when complete)."""
        cal = self.calibration
        if cal is None or not cal.anchor or self.anchor is not None:
            return ""
        return (
            f"the interval lacks its between-population part: {cal.anchor} (the study's "
            "published model it is compared with) is not in $GAIT2HIP_DATA/gait2hip60, so it "
            "is narrower than calibrated on people unlike the training subjects"
        )

    def size_factors(self, height_m: float | np.ndarray | None, n: int) -> np.ndarray:
        """(n, 1, K) body-size factors of its outputs (the final model's reference height;
        :func:`~gait2hip.conventions.size_factors`)."""
        return self.final.size_factors(height_m, n)

    @property
    def reference_height_m(self) -> float | None:
        return self.final.reference_height_m

    def ood_scores(self, X_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """OOD score and its percentile among unseen healthy cycles, per cycle (or None
        without calibration)."""
        if self.calibration is None:
            return None
        scores = self.calibration.ood.score(cycle_features(self.final.scaler.transform(X_deg)))
        return scores, self.calibration.ood_percentile(scores)

    def pace_percentile(self, durations: np.ndarray | None) -> np.ndarray | None:
        """Per cycle of ``durations`` (s), the percentile of its pace among the training
        cycles' (:meth:`Calibration.pace_percentile`); None when either side lacks durations."""
        return None if self.calibration is None else self.calibration.pace_percentile(durations)

    def size_percentile(self, height_m: float | None, mass_kg: float | None = None) -> float | None:
        """The percentile of a subject's body height among the training subjects' (where the
        height is not given, of a light body's mass: :meth:`Calibration.size_percentile`);
        None when either side lacks them, or the mass does not flag the body."""
        if self.calibration is None or (height_m is None and mass_kg is None):
            return None
        pct = self.calibration.size_percentile(height_m, None if height_m is not None else mass_kg)
        return None if pct is None or not np.isfinite(pct[0]) else float(pct[0])

    def describe(self) -> dict[str, Any]:
        meta = self.final.meta
        return {
            "target": self.target,
            "model": self.label,
            "source": str(self.source),
            "ensemble_members": len(self.members),
            "calibrated": self.calibration is not None,
            # the model whose disagreement widens the interval ("": none)
            "interval_anchor": "" if self.anchor is None else self.anchor.name,
            # blended in for cycles unlike the training data ("": none)
            "broad_model": "" if self.broad is None else self.broad.label,
            "dataset": meta.get("dataset", ""),
            "profile": meta.get("profile", ""),
            "train_subjects": len(meta.get("train_subjects", [])),
            "epochs": meta.get("epochs"),
            "n_params": meta.get("n_params"),
            "in_cols": list(self.in_cols),
            **{f"test_{k}": v for k, v in self.metrics.items()},
        }


def _unit_metrics(unit: Path) -> dict[str, Any]:
    """The unit's test metrics from its run folder's summary.csv (empty if none)."""
    run = unit.parents[2] if len(unit.parents) > 2 else unit
    path = run / "summary.csv"
    if not path.is_file():
        return {}
    df = pd.read_csv(path)
    split, label, seed = unit.parent.parent.name, unit.parent.name, unit.name
    rows = df[
        (df["model"] == label)
        & (df["split_seed"].astype(str) == split.removeprefix("split"))
        & (df["seed"].astype(str) == seed.removeprefix("seed"))
    ]
    if rows.empty:
        return {}
    r = rows.iloc[0]
    out = {k: float(r[k]) for k in ("subject_rmse", "subject_r2", "pooled_r2") if k in r}
    # recorded by the benchmark; run folders written before it are measured from their files
    skill = r.get("skill_vs_mean_curve")
    skill = mean_curve_skill(unit) if skill is None or pd.isna(skill) else float(skill)
    return out if skill is None else {**out, "skill_vs_mean_curve": skill}


def mean_curve_skill(unit: Path) -> float | None:
    """The unit's :func:`~gait2hip.training.metrics.skill_vs_mean_curve` on its test
    subjects (None without its predictions or calibration)."""
    pred_path, cal_path = unit / "predictions.npz", unit / CALIBRATION_FILE
    if not (pred_path.is_file() and cal_path.is_file()):
        return None
    with np.load(pred_path) as z:
        y_true, y_pred, subject = z["y_true"], z["y_pred"], z["subject_id"]
    curve = Calibration.load(cal_path).norm_mean
    return skill_vs_mean_curve(y_true, y_pred, curve, subject)


def flat(metrics: dict[str, Any]) -> bool:
    """Whether a model's test error is within MIN_SKILL of the training mean curve's."""
    skill = metrics.get("skill_vs_mean_curve")
    return skill is not None and skill < MIN_SKILL


def _load_unit(unit: Path, ensemble: bool, anchor_dir: Path | None = None) -> Predictor:
    """The unit folder's predictor, with its :data:`BROAD_DIR` model when it has one (whose
    anchor may be the unit's own ``anchor.pt``)."""
    final = TrainedModel.load(unit / "final.pt")
    members = [final]
    if ensemble:
        members += [TrainedModel.load(p) for p in sorted(unit.glob("fold*.pt"))]
    members += _other_architectures(unit, final)
    cal_path = unit / CALIBRATION_FILE
    cal = Calibration.load(cal_path) if cal_path.is_file() else None
    dirs = (unit,) if anchor_dir is None else (unit, anchor_dir)
    pred = Predictor(members, cal, unit, _unit_metrics(unit), _anchor(cal, members, *dirs))
    if (unit / BROAD_DIR / "final.pt").is_file():
        pred.broad = _load_unit(unit / BROAD_DIR, ensemble, anchor_dir=unit)
        check_broad(pred, pred.broad)
    return pred


def _other_architectures(unit: Path, final: TrainedModel) -> list[TrainedModel]:
    """The unit's :data:`MEMBERS_DIR` models; one that cannot be averaged with ``final`` is
    refused in one line."""

    out = []
    for path in _member_paths(unit):
        member = TrainedModel.load(path)
        why = average_refusal(final, member)
        if why is not None:
            raise ModelNotFoundError(
                f"{path}: {why} ({unit / 'final.pt'}), so the two cannot be averaged; put a "
                f"model that can in {MEMBERS_DIR}/ or remove it"
            )
        out.append(member)
    return out


def _member_paths(unit: Path) -> list[Path]:
    """The unit's :data:`MEMBERS_DIR` checkpoints, in name order."""
    return sorted((unit / MEMBERS_DIR).glob("*.pt"))


def _unit_models(unit: Path) -> list[TrainedModel]:
    """A unit folder's final model and the models it averages with it (``members/``)."""
    return [TrainedModel.load(p) for p in [unit / "final.pt", *_member_paths(unit)]]


def height_or_reference(height_m, reference_height_m: float | None):
    """``height_m`` (one, or one per cycle) with the unknown ones (None, NaN) replaced by
    ``reference_height_m``: a broad model blended into a model of another reference height
    then predicts, where the height is unknown, for the walker the blend's moments refer to
    (its notes name that model's reference height)."""
    if reference_height_m is None:
        return height_m
    if height_m is None:
        return reference_height_m
    h = np.asarray(height_m, dtype=np.float64)
    return np.where(np.isfinite(h), h, reference_height_m)


def check_broad(pred: Predictor, broad: Predictor) -> None:
    """Refuse, in one line, a broad model that cannot stand in for ``pred``."""
    for what in ("target", "out_cols", "n_frames"):
        if getattr(pred, what) != getattr(broad, what):
            raise ModelNotFoundError(
                f"{broad.source}: its {what} differ from {pred.source}'s, so it cannot be its "
                f"broad model; put a model of the same {what} in {BROAD_DIR}/ or remove it"
            )
    if not set(broad.in_cols) <= set(pred.in_cols):
        raise ModelNotFoundError(
            f"{broad.source}: it takes inputs {sorted(set(broad.in_cols) - set(pred.in_cols))} "
            f"that {pred.source} does not, so it cannot be its broad model; put a model of "
            f"the same or fewer inputs in {BROAD_DIR}/ or remove it"
        )


def _anchor(cal: Calibration | None, members: Sequence[TrainedModel], *dirs: Path) -> Anchor | None:
    """The anchor the calibration names (see :func:`load_anchor`), from the first of ``dirs``
    that holds a copy, its read-out low-passed as the member of its architecture has it
    (:func:`~gait2hip.training.published.low_passed_as`, as calibration had it)."""
    if cal is None or not cal.anchor:
        return None
    unit = next((d for d in dirs if (d / ANCHOR_FILE).is_file()), dirs[0])
    anchor = load_anchor(cal.anchor, cal.anchor_factor, members[0].target, unit)
    return low_passed_as(anchor, members)


def unit_folders(run: Path) -> list[Path]:
    """Trained unit folders (split*/<model>/seed*, with final.pt) of a run folder."""
    return sorted(p.parent for p in run.glob("split*/*/seed*/final.pt"))


def _pick_unit(run: Path, model: str | None) -> Path:
    units = unit_folders(run)
    if model:
        units = [u for u in units if u.parent.name == model or u.parent.name.split("-")[0] == model]
    if not units:
        what = f" of model {model!r}" if model else ""
        raise ModelNotFoundError(
            f"{run}: no trained model{what} (final.pt) in this run folder; train with "
            "`gait2hip benchmark` or `gait2hip demo`"
        )
    # the lowest test RMSE, models no better than the mean curve last
    scored = []
    for u in units:
        metrics = _unit_metrics(u)
        scored.append((flat(metrics), metrics.get("subject_rmse", np.inf), str(u), u))
    return min(scored)[-1]


def load_predictor(path: str | Path, *, model: str | None = None, ensemble: bool = True):
    """A :class:`Predictor` from a ``.pt`` file, a unit folder or a run folder."""
    path = Path(path)
    if path.is_file():
        trained = TrainedModel.load(path)
        cal_path = path.parent / CALIBRATION_FILE
        cal = Calibration.load(cal_path) if path.name == "final.pt" and cal_path.is_file() else None
        anchor = _anchor(cal, [trained], path.parent)
        return Predictor([trained], cal, path, _unit_metrics(path.parent), anchor)
    if (path / "final.pt").is_file():
        return _load_unit(path, ensemble)
    if (path / "config.json").is_file():
        return _load_unit(_pick_unit(path, model), ensemble)
    raise ModelNotFoundError(
        f"{path}: not a checkpoint, a unit folder (with final.pt) or a run folder (with "
        "config.json); train models with `gait2hip demo` or `gait2hip benchmark`"
    )


def published_calibration(trained: TrainedModel) -> tuple[Calibration | None, dict[str, Any]]:
    """The calibration of a published model on the bundled walking data (built by
    ``gait2hip build-dataset schreiber2019``), cached by the data's contents; None when the
    data are not built. Also returns which data calibrated it (path, cycles)."""
    from gait2hip.io.npz import read_npz
    from gait2hip.training.protocol import dataset_fingerprint

    data = settings.dataset_file(CALIBRATION_DATASET, trained.target)
    if not data.is_file():
        return None, {}
    ds = read_npz(data, expected_out=get_target(trained.target))
    if ds.n_frames != trained.n_frames:
        raise ValueError(
            f"{data}: cycles of {ds.n_frames} frames cannot calibrate {PUBLISHED} models "
            f"({trained.meta.get('n_frames')} frames); rebuild it with `gait2hip build-dataset "
            f"{CALIBRATION_DATASET}`"
        )
    # the reference height is in the key: calibrations are in its walker's units; v2: with the
    # cycles' durations (pace check)
    fingerprint = dataset_fingerprint(ds)
    key = f"{trained.name}_{trained.target}_h{trained.reference_height_m}_v2_{fingerprint}"
    cache = settings.cache_dir() / PUBLISHED / f"{key}.npz"
    if cache.is_file():
        cal = Calibration.load(cache)
    else:
        X = ds.X[..., [ds.in_cols.index(c) for c in trained.in_cols]]
        from gait2hip.training.calibrate import calibrate_elsewhere

        cal = calibrate_elsewhere(
            trained,
            X,
            ds.Y_per_kg,
            ds.subject_id,
            trained.out_cols,
            height_m=ds.height_m,
            durations=ds.cycle_durations(),
        )
        cache.parent.mkdir(parents=True, exist_ok=True)
        cal.save(cache)
    metrics = {"calibration_data": str(data), "calibration_cycles": len(ds)}
    return cal, metrics


def published_predictors(architecture: str, targets: Sequence[str] | None = None):
    """The study's published ``architecture`` models, one :class:`Predictor` per target."""
    found = {}
    for target in targets or TARGET_FILES:
        trained = load_published(architecture, target)
        cal, info = published_calibration(trained)
        study = trained.meta.get("study_test_metrics", {})
        metrics = {"study_subject_rmse": study.get("RMSE"), "study_subject_r2": study.get("R2")}
        path = published_path(architecture, target)
        found[target] = Predictor([trained], cal, path, {**metrics, **info})
    return found


def run_folders(root: Path) -> list[Path]:
    """Run folders at or below ``root`` (folders with config.json and trained units)."""
    if (root / "config.json").is_file():
        return [root]
    return sorted(p.parent for p in root.rglob("config.json") if unit_folders(p.parent))


def find_predictors(
    paths: str | Path | Sequence[str | Path],
    *,
    model: str | None = None,
    ensemble: bool = True,
    inverse_dynamics: bool = False,
) -> dict[str, Predictor]:
    """One predictor per target from checkpoints / unit / run folders / folders of runs. Where
    a target has a model of the angles and one that also reads the inverse-dynamics hip
    moments (the shipped ``forces`` and ``forces-id``), the second when ``inverse_dynamics``
    (the trial's ID results are given), else the first."""
    if isinstance(paths, str | Path):
        paths = [paths]
    found: dict[str, Predictor] = {}

    def add(pred: Predictor) -> None:
        if pred.target in found:
            pred = _for_inputs(found[pred.target], pred, inverse_dynamics)
        found[pred.target] = pred

    for raw in paths:
        arch = parse_published(str(raw))
        if arch is not None:
            if model and str(raw).lower() == PUBLISHED:  # --architecture names which
                arch = parse_published(f"{PUBLISHED}:{model}") or arch
            for pred in published_predictors(arch).values():
                add(pred)
            continue
        path = Path(raw)
        if path == default_model_dir() and not any(path.glob("*/final.pt")):
            raise ModelNotFoundError(
                f"{path}: this installation ships no default model; pass --model (runs/demo "
                f"after `gait2hip demo`, a run folder, or {PUBLISHED} for the study's models)"
            )
        if not path.exists():
            raise ModelNotFoundError(
                f"{path}: no such model path; train models with `gait2hip demo` (writes "
                f"runs/demo) or `gait2hip benchmark`, or use the study's published models "
                f"(--model {PUBLISHED})"
            )
        is_model = (
            path.is_file() or (path / "final.pt").is_file() or (path / "config.json").is_file()
        )
        # a folder of run folders, else of unit folders (the shipped default model)
        units = sorted(p.parent for p in path.glob("*/final.pt"))
        candidates = [path] if is_model else run_folders(path) or units
        if not candidates:
            raise ModelNotFoundError(f"{path}: holds no trained models (no run folders below it)")
        for cand in candidates:
            add(load_predictor(cand, model=model, ensemble=ensemble))
    return found


def list_trained(root: str | Path) -> list[dict[str, Any]]:
    """Every trained unit below ``root``: its model, data, protocol and test metrics."""
    rows = []
    for run in run_folders(Path(root)):
        cfg = json.loads((run / "config.json").read_text()).get("config", {})
        for unit in unit_folders(run):
            final = TrainedModel.load(unit / "final.pt")
            metrics = _unit_metrics(unit)
            rows.append(
                {
                    "path": str(unit),
                    "target": final.target,
                    "model": unit.parent.name,
                    "profile": cfg.get("profile", ""),
                    "dataset": final.meta.get("dataset", ""),
                    "inputs": input_set_name(final.in_cols),
                    "train_subjects": len(final.meta.get("train_subjects", [])),
                    "members": 1 + len([*unit.glob("fold*.pt"), *_member_paths(unit)]),
                    "calibrated": (unit / CALIBRATION_FILE).is_file(),
                    **metrics,
                    "flag": FLAT_NOTE if flat(metrics) else "",
                }
            )
    return rows


#: How listings mark a model flagged by :func:`flat`.
FLAT_NOTE = f"no better than the training mean curve (error not {MIN_SKILL:.0%} below it)"


def list_published() -> list[dict[str, Any]]:
    """The study's published models present in ``$GAIT2HIP_DATA``: the same fields as
    :func:`list_trained`, with the study's own test metrics (its 12 held-out subjects) and
    whether the bundled walking data calibrate them."""
    rows = []
    for arch, target in available_published():
        meta = load_published(arch, target).meta
        study = meta.get("study_test_metrics", {})
        rows.append(
            {
                "path": f"{PUBLISHED}:{arch}",
                "target": target,
                "model": f"{PUBLISHED}:{arch}",
                "profile": PUBLISHED,
                "dataset": meta["dataset"],
                "inputs": "all",
                "train_subjects": 48,  # the study's pool: 60 subjects less 12 held out
                "members": 1,
                "calibrated": settings.dataset_file(CALIBRATION_DATASET, target).is_file(),
                "subject_rmse": study.get("RMSE"),
                "subject_r2": study.get("R2"),
            }
        )
    return rows


def list_default() -> list[dict[str, Any]]:
    """The shipped default model's units, as :func:`list_trained` rows (their test metrics
    are in the model card beside them)."""
    rows = []
    for unit in sorted(p.parent for p in default_model_dir().glob("*/final.pt")):
        final, *others = _unit_models(unit)
        label = f"default: {' + '.join(_arch_label(m) for m in [final, *others])}"
        if unit.name.endswith(ID_UNIT_SUFFIX):
            label += " (for trials with their inverse dynamics: predict --inverse-dynamics)"
        if (unit / BROAD_DIR / "final.pt").is_file():
            models = _unit_models(unit / BROAD_DIR)
            names = " + ".join(f"{m.meta.get('profile', '')} {_arch_label(m)}" for m in models)
            label += (
                f", blended with its {names}{' averaged' if len(models) > 1 else ''} "
                "for walkers unlike its training subjects"
            )
        rows.append(
            {
                "path": str(unit),
                "target": final.target,
                "model": label,
                "profile": final.meta.get("profile", ""),
                "dataset": final.meta.get("dataset", ""),
                "inputs": input_set_name(final.in_cols),
                "train_subjects": len(final.meta.get("train_subjects", [])),
                "members": 1 + len(others),
                "calibrated": (unit / CALIBRATION_FILE).is_file(),
                "card": str(default_model_dir() / MODEL_CARD),
            }
        )
    return rows


def _arch_label(final: TrainedModel) -> str:
    return f"{final.name}-{'causal' if final.model.config.causal else 'bidir'}"
