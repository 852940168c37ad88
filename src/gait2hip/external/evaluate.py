"""Zero-shot evaluation of trained models on an external cohort, and its domain shift.

Every trained unit (model x split seed x seed) of the given run folders predicts every cohort
cycle with its final model, unchanged. Cycles are resampled to the model's frame count for
prediction and the predictions back to the cohort's, so metrics compare against the cohort's
own reference samples (never interpolated ones). Metrics are the benchmark's
(:func:`gait2hip.training.metrics.evaluate`): subject-mean (the study's), pooled and
per-channel, with bootstrap CIs over subjects, separately per cohort group, beside the same
model on its own held-out healthy test subjects.

Domain shift: the out-of-distribution score of the prediction API (Mahalanobis distance of
the cycle's z-scored angle curves from the training cycles, and its percentile among unseen
healthy cycles) per cycle, against that cycle's RMSE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from gait2hip.conventions import froude_durations, get_target, is_angle, target_parts
from gait2hip.data.cohort import Cohort
from gait2hip.data.dataset import DataError, input_columns_for
from gait2hip.gait.signal import resample_cycles
from gait2hip.inference.calibration import (
    DEFAULT_INTERVAL,
    OOD_WARN_PERCENTILE,
    auroc,
    mean_interval_width,
    pooled_coverage,
    spread_auroc,
)
from gait2hip.inference.predictor import (
    CyclePrediction,
    ModelNotFoundError,
    Predictor,
    default_model_dir,
    load_predictor,
    published_predictors,
    run_folders,
    unit_folders,
)
from gait2hip.training.metrics import evaluate, skill_vs_mean_curve
from gait2hip.training.published import ARCHITECTURES, PUBLISHED, parse_published

#: The group name of the models' own held-out healthy test subjects in every table.
HEALTHY = "healthy held-out"


@dataclass
class EvalUnit:
    """A trained unit to evaluate: its predictor (final model + calibration), identity and the
    target it is evaluated on: its own, or one part of a joint model's (a joint model on a
    cohort with moments only is evaluated on its moment outputs, labelled ``<model>-joint``)."""

    predictor: Predictor
    target: str = ""  # default: the model's own
    # name the training profile in the label (units of several profiles evaluated together)
    with_profile: bool = False

    def __post_init__(self) -> None:
        own = get_target(self.predictor.target)
        self.target = self.target or own.name
        parts = target_parts(own)
        if self.target not in parts:
            raise DataError(
                f"{self.predictor.source}: a {own.name} model has no {self.target} outputs "
                f"(it has {', '.join(parts)})"
            )

    @property
    def channels(self) -> list[int]:
        """The model's output channels of the evaluated target."""
        return list(target_parts(get_target(self.predictor.target))[self.target])

    @property
    def profile(self) -> str:
        return str(self.predictor.final.meta.get("profile", ""))

    @property
    def label(self) -> str:
        base = self.predictor.label
        base = base if self.predictor.target == self.target else f"{base}-{self.predictor.target}"
        named = self.with_profile and self.profile and not self.predictor.published
        return f"{self.profile}/{base}" if named else base

    @property
    def split_seed(self) -> int:
        return int(self.predictor.final.meta.get("split_seed", -1))

    @property
    def seed(self) -> int:
        return int(self.predictor.final.meta.get("seed", -1))

    @property
    def key(self) -> str:
        return f"{self.label}_split{self.split_seed}_seed{self.seed}"

    def ids(self) -> dict[str, object]:
        return {"model": self.label, "split_seed": self.split_seed, "seed": self.seed}


#: The name that stands for the shipped default model (of the target evaluated).
DEFAULT = "default"


def find_units(
    paths: str | Path | Sequence[str | Path], target: str | None = None
) -> list[EvalUnit]:
    """Every trained unit in run folders / folders of runs / unit folders / checkpoints
    (:data:`DEFAULT`: the shipped default's model of ``target``, moments if none), optionally
    only those with ``target`` outputs (models of it, and joint models evaluated on their
    ``target`` part)."""
    if isinstance(paths, str | Path):
        paths = [paths]
    units: list[EvalUnit] = []
    for raw in paths:
        if str(raw) == DEFAULT:  # the shipped default's model of the target
            raw = default_model_dir() / (target or "moments")
        arch = parse_published(str(raw))
        if arch is not None:  # the study's models: all three for plain "gait2hip60"
            archs = list(ARCHITECTURES) if str(raw).lower() == PUBLISHED else [arch]
            targets = [target] if target in ("forces", "moments") else None
            units += [
                EvalUnit(p, target or "")
                for a in archs
                for p in published_predictors(a, targets).values()
            ]
            continue
        path = Path(raw)
        if not path.exists():
            raise ModelNotFoundError(f"{path}: no such model path")
        if path.is_file() or (path / "final.pt").is_file():
            found = [path]
        else:
            found = [u for run in run_folders(path) for u in unit_folders(run)]
        predictors = [load_predictor(u, ensemble=False) for u in found]
        units += [
            EvalUnit(p, target or "")
            for p in predictors
            if target is None or target in target_parts(get_target(p.target))
        ]
    if len({u.profile for u in units}) > 1:  # e.g. recipe and fine-tuned runs side by side
        units = [replace(u, with_profile=True) for u in units]
    if not units:
        what = f" for {target}" if target else ""
        raise ModelNotFoundError(
            f"no trained model{what} in {', '.join(map(str, paths))}; train one on the healthy "
            "data first, e.g. `gait2hip benchmark --data .cache/datasets/schreiber2019/"
            "schreiber2019_JM.npz --target moments --inputs ipsilateral --profile quick`"
        )
    return units


#: ``assume_durations`` of :func:`zero_shot`: each cycle's duration at the pace of the
#: model's median training cycle, scaled to the cycle's body height at equal Froude number
#: (:func:`~gait2hip.conventions.froude_durations`).
FROUDE = "froude"


def check_assumable(cohort: Cohort, assume: str | float | None) -> None:
    """Refuse durations by :data:`FROUDE` for a cohort without the body heights of any of
    its cycles that lack a duration (nothing to scale the pace to)."""
    unknown = ~np.isfinite(cohort.duration_s)
    if assume == FROUDE and unknown.any() and not np.isfinite(cohort.height_m[unknown]).any():
        raise DataError(
            f"{cohort.source}: durations by {FROUDE} scale a pace to each body height, "
            "which the cohort does not give for its cycles without durations (or "
            "--no-size-scaling dropped); assume the durations in seconds instead"
        )


def cycle_durations(
    pred: Predictor, cohort: Cohort, assume: str | float | None = None
) -> np.ndarray | None:
    """(N,) each cohort cycle's duration (s) as ``pred`` reads it: the cohort's own where it
    gives them; elsewhere, as ``assume`` says: seconds for every cycle, or :data:`FROUDE`
    (those of the model's median training cycle, scaled to each body height; NaN where the
    height is unknown). None where nothing is known, or the model neither takes durations
    nor checks the pace (no training durations)."""
    own = cohort.duration_s
    cal = pred.calibration
    if cal is None or not len(cal.durations):
        return None
    unknown = ~np.isfinite(own)
    if assume is not None and unknown.any():
        if assume == FROUDE:
            if not len(cal.heights):
                raise DataError(
                    f"{pred.source}: no training heights to scale its walkers' pace from; "
                    "assume the durations in seconds instead"
                )
            check_assumable(cohort, assume)
            guess = froude_durations(
                cohort.height_m, float(np.median(cal.heights)), float(np.median(cal.durations))
            )
        else:
            guess = np.full(len(cohort), float(assume))
        own = np.where(unknown, guess, own)
    return own if np.isfinite(own).any() else None


def lacking_inputs(
    pred: Predictor, cohort: Cohort, assume_durations: str | float | None = None
) -> list[str]:
    """The per-cycle inputs besides the angles that ``pred`` needs (its broad model aside)
    and the cohort does not give for every cycle, durations assumed as ``assume_durations``
    says (:func:`cycle_durations`)."""
    given = _static_inputs(cohort, cycle_durations(pred, cohort, assume_durations))
    return [
        c
        for c in pred.required_inputs
        if not is_angle(c) and (given.get(c) is None or not np.isfinite(given[c]).all())
    ]


def check_inputs(
    units: Sequence[EvalUnit], cohort: Cohort, assume_durations: str | float | None = None
) -> None:
    """Refuse, in one line, models that take inputs the cohort lacks, naming the ways out."""
    for unit in units:
        pred = unit.predictor
        static = lacking_inputs(pred, cohort, assume_durations)
        if static:
            raise DataError(
                f"{cohort.source}: {unit.label} takes {static} besides the angles, which the "
                "cohort does not give for every cycle; give them (cycle_duration_s, height_m), "
                "assume the durations (--assume-durations), or use a model of the angles alone "
                "(or one with a broad model of them, as the default: its broad model then "
                "predicts the cycles without them alone)"
            )
        missing = [c for c in pred.in_cols if is_angle(c) and c not in cohort.angle_cols]
        if missing:
            raise DataError(
                f"{cohort.source}: lacks input channels {missing} that {unit.label} takes (the "
                f"cohort has {list(cohort.angle_cols)}); use a model trained on those (`gait2hip "
                "benchmark ... --inputs ipsilateral`), or assume a symmetric gait with "
                "--contralateral (the other leg = the analysed leg half a cycle later)"
            )


def predict_cohort(
    unit: EvalUnit, cohort: Cohort, durations: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, CyclePrediction]:
    """The final model's per-kg predictions of the unit's target for every cohort cycle (of
    ``durations``, s, where known: :func:`cycle_durations`), their interval sd and the sd
    without the between-population part, at the cohort's frames; and the prediction's
    per-cycle checks (:func:`predict_at`)."""
    pred = unit.predictor
    X = cohort_inputs(pred, cohort, durations)
    *out, checks = predict_at(pred, X, cohort.height_m, unit.channels, durations, cohort.mass_kg)
    mean, sd, within = (resample_cycles(a, cohort.n_frames) for a in out)
    return mean, sd, within, checks


def _static_inputs(cohort: Cohort, durations: np.ndarray | None) -> dict[str, np.ndarray | None]:
    """The per-cycle scalar inputs the cohort gives a model: its cycles' ``durations``
    (:func:`cycle_durations`) and its body heights (None where it gives none)."""
    height = cohort.height_m
    return {
        "cycle_duration_s": durations,
        "body_height_m": height if np.isfinite(height).any() else None,
    }


def cohort_inputs(
    pred: Predictor, cohort: Cohort, durations: np.ndarray | None = None
) -> np.ndarray:
    """The cohort's cycles at the model's frames in its inputs: its angles by name, its body
    heights and the cycles' ``durations`` (s) where the model takes them, NaN for inputs the
    cohort does not give (a cycle without its duration: the blend's broad model then
    predicts it alone, :attr:`Predictor.required_inputs`)."""
    at_model = cohort.resampled(pred.n_frames)
    have = [c for c in pred.in_cols if is_angle(c)]
    X = at_model.angles[..., input_columns_for(have, at_model.angle_cols, cohort.source)]
    if len(have) == len(pred.in_cols):
        return X
    given = _static_inputs(cohort, durations)
    out = np.full((*X.shape[:2], len(pred.in_cols)), np.nan, dtype=np.float32)
    out[..., [pred.in_cols.index(c) for c in have]] = X
    for c, values in given.items():
        if c in pred.in_cols and values is not None:
            out[..., pred.in_cols.index(c)] = np.asarray(values, np.float32)[:, None]
    return out


def predict_at(
    pred: Predictor,
    X: np.ndarray,
    height_m: np.ndarray | None,
    channels: list[int],
    durations: np.ndarray | None = None,
    mass_kg: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, CyclePrediction]:
    """Per-kg predictions, interval sd and within-population sd of ``channels`` for cycles in
    the model's inputs (of the given durations, s, and body masses, kg, where known: the mass
    stands in for the size check where the height is not given, as in ``predict``), and the
    one pass's per-cycle checks (OOD score and percentile, the broad model's share)."""
    p = pred.predict_cycles(X, height_m, durations, mass_kg)
    return p.mean[..., channels], p.sd[..., channels], p.within_sd[..., channels], p


@dataclass
class HealthyTest:
    """A unit's own held-out healthy test cycles (per kg), the benchmark's test set."""

    X: np.ndarray  # (N, T, C) in the model's in_cols
    y_true: np.ndarray
    subject: np.ndarray
    source: str
    height_m: np.ndarray
    durations: np.ndarray | None = None  # (N,) s, where the dataset knows them
    mass_kg: np.ndarray | None = None  # (N,) kg: the size check's stand-in without heights


def healthy_test(pred: Predictor, data: str | Path | None = None) -> HealthyTest:
    """Read the unit's training dataset (from its checkpoint, or ``data``) and keep its test
    subjects."""
    from gait2hip.io.npz import read_npz
    from gait2hip.settings import find_dataset

    meta = pred.final.meta
    path = Path(data) if data else find_dataset(meta.get("dataset", ""))
    if not path.is_file():
        raise DataError(
            f"{path}: the healthy dataset this model was trained on is not there; pass it "
            "with --healthy-data, or --no-healthy"
        )
    ds = read_npz(path, expected_out=get_target(pred.target))
    test = np.isin(ds.subject_id, meta.get("test_subjects", []))
    if not test.any():
        raise DataError(f"{path}: none of the model's test subjects is in this dataset")
    durations = ds.cycle_durations()
    return HealthyTest(
        ds.select_inputs(pred.in_cols).X[test],
        ds.Y_per_kg[test],
        ds.subject_id[test],
        str(path),
        ds.height_m[test],
        None if durations is None else durations[test],
        ds.weight_kg[test],
    )


def per_cycle_rmse(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean((np.asarray(y_pred) - np.asarray(y_true)) ** 2, axis=(1, 2)))


@dataclass
class ZeroShot:
    """Zero-shot tables over units and groups, and the predictions."""

    summary: pd.DataFrame
    per_channel: pd.DataFrame
    per_subject: pd.DataFrame
    cycles: pd.DataFrame  # one row per cycle: group, subject, OOD score, RMSE
    predictions: dict[str, np.ndarray] = field(default_factory=dict)  # unit key -> cohort preds
    notes: list[str] = field(default_factory=list)
    # (model, split seed, seed) -> OOD scores of unseen cycles of the unit's training
    # population (its calibration's out-of-fold reference), the negatives of the AUROC
    ood_reference: dict[tuple, np.ndarray] = field(default_factory=dict)


def interval_coverage(pred: Predictor, y_true: np.ndarray, y_pred: np.ndarray, sd) -> float:
    """Share of frames (all channels) inside the 90 % interval ``y_pred ± z·sd`` (NaN for an
    uncalibrated unit, whose interval is not calibrated)."""
    if pred.calibration is None:
        return float("nan")
    return float(pooled_coverage(y_true, y_pred, sd, (DEFAULT_INTERVAL,))[0])


def interval_width(pred: Predictor, sd: np.ndarray) -> float:
    """Mean width of the 90 % interval over frames and channels (NaN when uncalibrated)."""
    if pred.calibration is None:
        return float("nan")
    return mean_interval_width(sd)


def _at_cycles(
    pred: Predictor,
    curve: np.ndarray,
    channels: list[int],
    y_true: np.ndarray,
    height_m: np.ndarray | None,
) -> np.ndarray:
    """A calibration's (T, K) curve at the cycles' frame count, scaled to their body heights
    like the predictions: (N, T', len(channels))."""
    at = resample_cycles(curve[None][..., channels], y_true.shape[1])
    return at * pred.size_factors(height_m, len(y_true))[..., channels]


def mean_curve_skill(
    pred: Predictor,
    channels: list[int],
    y_true: np.ndarray,
    y_pred: np.ndarray,
    subject: np.ndarray,
    height_m: np.ndarray,
) -> float:
    """:func:`~gait2hip.training.metrics.skill_vs_mean_curve` against the unit's training
    mean curve (its calibration's normative mean, at the cycles' frames, scaled to their
    heights like the predictions); NaN without a calibration."""
    if pred.calibration is None:
        return float("nan")
    curve = _at_cycles(pred, pred.calibration.norm_mean, channels, y_true, height_m)
    return skill_vs_mean_curve(y_true, y_pred, curve, subject)


def zero_shot(
    units: list[EvalUnit],
    cohort: Cohort,
    *,
    healthy: bool = True,
    healthy_data: str | Path | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    assume_durations: str | float | None = None,
) -> ZeroShot:
    """Evaluate every unit on every cohort group (and its healthy test subjects); cycles
    without a duration get the one ``assume_durations`` says (:func:`cycle_durations`), as a
    timed trial would give `predict`, and each unit's notes say so."""
    check_inputs(units, cohort, assume_durations)
    rows, channels, subjects, cycles = [], [], [], []
    out = ZeroShot(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    for unit in units:
        pred = unit.predictor
        if tuple(pred.out_cols) != get_target(pred.target).cols:
            raise DataError(f"{pred.source}: outputs {pred.out_cols} are not the study's")
        target, ch = get_target(unit.target), unit.channels
        y_true = cohort.reference(unit.target)
        durations = cycle_durations(pred, cohort, assume_durations)
        assumed = ~np.isfinite(cohort.duration_s) & np.isfinite(
            np.nan if durations is None else durations
        )
        if assumed.any():
            out.notes.append(
                f"{unit.key}: cycle durations ASSUMED (not measured) for {int(assumed.sum())} "
                f"of {len(cohort)} cycles ({assume_durations}: "
                f"{np.min(durations[assumed]):.2f}-{np.max(durations[assumed]):.2f} s)"
            )
        y_pred, sd, sd_within, checks = predict_cohort(unit, cohort, durations)
        out.predictions[unit.key] = y_pred
        ood, broad = checks.ood, checks.broad_weight
        if pred.calibration is not None:
            out.ood_reference[(unit.label, unit.split_seed, unit.seed)] = (
                pred.calibration.ood_reference_scores
            )
        heights, measured = cohort.height_m, cohort.duration_s  # not the assumed durations
        sets = [
            (g, cohort.group == g, y_true, y_pred, sd, sd_within, cohort.subject, heights, broad,
             measured)
            for g in cohort.groups
        ]  # fmt: skip
        cyc = pd.DataFrame(
            {
                **unit.ids(),
                "group": cohort.group,
                "subject": cohort.subject,
                "cycle": np.arange(len(cohort)),
                "rmse": per_cycle_rmse(y_true, y_pred),
                "cycle_duration_s": np.nan if durations is None else durations,
                "broad_weight": np.nan if broad is None else broad,
            }
        )
        if ood is not None:
            cyc["ood_score"], cyc["ood_percentile"] = ood
            size = pred.calibration.size_percentile(heights, cohort.mass_kg)
            cyc["size_percentile"] = np.nan if size is None else size
        cycles.append(cyc)
        if healthy:
            try:
                h = healthy_test(pred, healthy_data)
            except DataError as err:
                out.notes.append(f"{unit.key}: no healthy comparison ({err})")
            else:
                hp, hsd, hsd_within, hchecks = predict_at(
                    pred, h.X, h.height_m, ch, h.durations, h.mass_kg
                )
                ht, every = h.y_true[..., ch], np.ones(len(h.X), bool)
                hb, hd = hchecks.broad_weight, _or_nan(h.durations, len(h.X))
                sets.append(
                    (HEALTHY, every, ht, hp, hsd, hsd_within, h.subject, h.height_m, hb, hd)
                )
                hc = pd.DataFrame(
                    {
                        **unit.ids(),
                        "group": HEALTHY,
                        "subject": h.subject,
                        "cycle": np.arange(len(h.X)),
                        "rmse": per_cycle_rmse(ht, hp),
                    }
                )
                if hchecks.ood is not None:  # calibrated
                    hc["ood_score"], hc["ood_percentile"] = hchecks.ood
                cycles.append(hc)
        for group, m, yt, yp, s, s_within, subj, hm, bw, dur in sets:
            res = evaluate(yt[m], yp[m], subj[m], np.full(int(m.sum()), group), target.cols,
                           n_boot=n_boot, seed=seed)  # fmt: skip
            ids = {**unit.ids(), "group": group}
            pc = res["per_channel"]
            rows.append(
                {
                    **ids,
                    "n_subjects": len(np.unique(subj[m])),
                    "n_cycles": int(m.sum()),
                    **res["summary"],
                    "coverage_90": interval_coverage(pred, yt[m], yp[m], s[m]),
                    # without the between-population part, and the intervals' mean widths
                    "coverage_90_within": interval_coverage(pred, yt[m], yp[m], s_within[m]),
                    "interval_width_90": interval_width(pred, s[m]),
                    "interval_width_90_within": interval_width(pred, s_within[m]),
                    # the broad model's mean share of the cycles (NaN without one)
                    "broad_share": np.nan if bw is None else float(np.mean(bw[m])),
                    "skill_vs_mean_curve": mean_curve_skill(pred, ch, yt[m], yp[m], subj[m], hm[m]),
                    # how well the size and pace checks tell these subjects' heights and
                    # measured cycle durations from the training subjects' and cycles' (NaN
                    # without them on either side)
                    **_check_aurocs(pred, hm[m], dur[m]),
                    **{f"r2_{c}": r for c, r in zip(pc["channel"], pc["r2"], strict=True)},
                }
            )
            channels.append(pc.assign(**ids))
            subjects.append(res["per_subject"].assign(**ids))
    out.summary = pd.DataFrame(rows)
    out.per_channel = pd.concat(channels, ignore_index=True)
    out.per_subject = pd.concat(subjects, ignore_index=True)
    out.cycles = pd.concat(cycles, ignore_index=True)
    return out


def _or_nan(values: np.ndarray | None, n: int) -> np.ndarray:
    return np.full(n, np.nan) if values is None else np.asarray(values, float)


def _check_aurocs(pred: Predictor, heights: np.ndarray, durations: np.ndarray) -> dict[str, float]:
    """The size and pace checks' AUROC (:func:`spread_auroc`) for cycles of ``heights`` (m)
    and measured ``durations`` (s) against the training data (NaN uncalibrated)."""
    cal = pred.calibration
    if cal is None:
        return {"size_auroc": np.nan, "pace_auroc": np.nan}
    return {
        "size_auroc": spread_auroc(heights, cal.heights),
        "pace_auroc": spread_auroc(durations, cal.durations),
    }


def domain_shift_table(
    cycles: pd.DataFrame, reference: dict[tuple, np.ndarray] | None = None
) -> pd.DataFrame:
    """Per unit and group: OOD scores (median, share flagged), the Spearman correlation of
    OOD score with per-cycle RMSE and, with ``reference`` (per unit, OOD scores of unseen
    cycles of its training population), the score's AUROC for the group's cycles against
    them; ``all cohort`` pools the cohort's groups, ``all`` adds the healthy test cycles."""
    if "ood_score" not in cycles:
        return pd.DataFrame()
    rows = []
    for keys, unit in cycles.groupby(["model", "split_seed", "seed"], sort=False):
        ids = dict(zip(["model", "split_seed", "seed"], keys, strict=True))
        cohort = unit[unit["group"] != HEALTHY]
        parts = [(g, d) for g, d in unit.groupby("group", sort=True)]
        parts += [("all cohort", cohort), ("all", unit)]
        for group, d in parts:
            d = d.dropna(subset=["ood_score"])
            if d.empty:
                continue
            rho, p = (np.nan, np.nan)
            if len(d) >= 3 and d["ood_score"].nunique() > 1 and d["rmse"].nunique() > 1:
                rho, p = spearmanr(d["ood_score"], d["rmse"])
            rows.append(
                {
                    **ids,
                    "group": group,
                    "n_cycles": len(d),
                    "ood_score_median": float(d["ood_score"].median()),
                    "ood_percentile_median": float(d["ood_percentile"].median()),
                    "flagged_pct": float(100 * (d["ood_percentile"] > OOD_WARN_PERCENTILE).mean()),
                    "rmse_median": float(d["rmse"].median()),
                    "spearman_rho": float(rho),
                    "spearman_p": float(p),
                    "auroc_vs_unseen_healthy": auroc(
                        d["ood_score"].to_numpy(), (reference or {}).get(keys, np.array([]))
                    ),
                }
            )
    return pd.DataFrame(rows)
