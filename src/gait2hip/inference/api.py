"""``gait2hip.predict``: joint angles of a trial in, hip muscle forces and moments out.

Pipeline: read and check the angles -> heel strikes (given, GRF, c3d, else from the angles)
-> cycles (partial ones at the ends and bad ones reported with why) -> low-pass filter the
angles and resample each kept cycle to the model's frame count, as labelling did for the
training data (:mod:`gait2hip.gait.signal`) -> ensemble prediction with a calibrated interval, an
out-of-distribution score per cycle -> back to the trial's own time base.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from gait2hip.conventions import (
    EXTRA_HIP_MOMENTS,
    MOMENT_COLS,
    SERIES_INPUTS,
    STATIC_INPUTS,
    get_target,
    is_angle,
    mirror_name,
    side_name,
    target_parts,
)
from gait2hip.data.dataset import (
    HEIGHT_RANGE_M,
    MASS_RANGE_KG,
    _check_degrees,
    _check_finite,
    _decode,
    input_columns_for,
    order_columns,
    with_static_channels,
)
from gait2hip.gait.signal import lowpass_angles, resample
from gait2hip.inference.calibration import DEFAULT_INTERVAL, OOD_WARN_PERCENTILE
from gait2hip.inference.events import CycleWindow, find_strikes, segment
from gait2hip.inference.inputs import MAX_GAP_S, InputError, read_angles, read_series
from gait2hip.inference.lab import LabCorrection, LabCorrectionError, dof_name
from gait2hip.inference.predictor import (
    FLAT_NOTE,
    ModelNotFoundError,
    Predictor,
    default_model_dir,
    find_predictors,
    flat,
)
from gait2hip.inference.result import IdAgreement, Prediction, TargetResult, merge_cycles
from gait2hip.io.files import existing_file
from gait2hip.io.osim import OsimModel, leg_length_m, read_osim
from gait2hip.training.metrics import per_channel_metrics

#: A scaled model's leg length (:func:`~gait2hip.io.osim.leg_length_m`) over the body height
#: on the training adults' scaled models (Schreiber 2019, Rajagopal's model scaled by
#: labelling; benchmarks/bench_height_estimate.py): mean 0.515 (sd 0.015, 18 adults), and
#: the leave-one-out error of the height it estimates, sd 0.051 m. Per-kg hip moments grow
#: with leg length (Hof 1996), so a height estimated this way scales them as the leg does.
LEG_PER_HEIGHT = 0.515
LEG_HEIGHT_ERROR_M = 0.051


def read_subject(path: str | Path) -> tuple[float | None, float | None]:
    """Body mass (kg) and height (m) from a subject file: ``.json`` (``mass_kg``,
    ``height_m``), a one-row ``.csv`` with those columns, or a scaled OpenSim ``.osim``
    (mass = sum of its bodies' masses; no height; its knee convention: :func:`_osim_subject`)."""
    path = existing_file(path, "subject")
    suffix = path.suffix.lower()
    if suffix == ".osim":
        return _osim_subject(path).mass_kg, None
    if suffix == ".json":
        data = json.loads(path.read_text())
    elif suffix == ".csv":
        df = pd.read_csv(path)
        if len(df) != 1:
            raise InputError(f"{path}: expected one row (one subject), found {len(df)}")
        data = df.iloc[0].to_dict()
    else:
        raise InputError(f"{path}: subject file must be .json, .csv or .osim")
    if "mass_kg" not in data:
        raise InputError(f"{path}: no 'mass_kg' field; add the body mass in kg")
    height = data.get("height_m")
    return float(data["mass_kg"]), None if height is None else float(height)


def _osim_subject(subject: str | Path | None) -> OsimModel | None:
    """The subject file as the OpenSim model its IK ran with (None for none, or a ``.json`` or
    ``.csv`` subject): its body mass, and the knee convention of the trial's angles, which
    ``predict`` puts in the study's flexion-positive one (Rajagopal's) as labelling does
    (:meth:`~gait2hip.io.osim.OsimModel.input_signs`). A ``.json``/``.csv`` subject tells no
    convention: the file's is checked, not known."""
    if subject is None or Path(subject).suffix.lower() != ".osim":
        return None
    existing_file(subject, "subject")
    try:
        return read_osim(subject)
    except ValueError as err:
        raise InputError(str(err)) from None


def estimated_height_m(model_file: OsimModel) -> tuple[float, str] | None:
    """The body height a scaled OpenSim model's leg length stands for (its leg length over
    :data:`LEG_PER_HEIGHT`), with a note saying so; None where the leg length cannot be had
    (:func:`~gait2hip.io.osim.leg_length_m`) or gives no plausible height."""
    leg = leg_length_m(model_file.path)
    height = None if leg is None else leg / LEG_PER_HEIGHT
    if height is None or not HEIGHT_RANGE_M[0] <= height <= HEIGHT_RANGE_M[1]:
        return None
    return height, (
        f"no body height given: {height:.2f} m estimated from {model_file.path.name}'s leg "
        f"length ({leg:.3f} m, hip joint centre to sole) over {LEG_PER_HEIGHT}, the training "
        f"adults' ratio, which gave their heights to ±{LEG_HEIGHT_ERROR_M * 100:.0f} cm (1 sd); "
        "give the measured height (--height; height_m in Python) to use it instead"
    )


def _check_mass(mass_kg: float | None, height_m: float | None) -> None:
    if mass_kg is not None and not (MASS_RANGE_KG[0] <= mass_kg <= MASS_RANGE_KG[1]):
        raise InputError(
            f"body mass {mass_kg:g} kg is outside {MASS_RANGE_KG[0]:g}-{MASS_RANGE_KG[1]:g} kg;"
            " give the mass in kg (not lb or g)"
        )
    if height_m is not None and not (HEIGHT_RANGE_M[0] <= height_m <= HEIGHT_RANGE_M[1]):
        raise InputError(f"height {height_m:g} m is implausible; give the height in metres")


def _check_conventions(
    X: np.ndarray,
    pred: Predictor,
    cols: Sequence[str],
    source: str,
    model_flips: Sequence[str] = (),
    subject: str | Path | None = None,
) -> None:
    """Refuse angles (and inverse-dynamics hip moments) whose sign convention differs from the
    training data's (e.g. a flexion-negative gait2392 knee for a model trained on Rajagopal's
    flexion-positive one, or extensor-positive hip moments). ``X``: the cycles in the model's
    leading inputs, named ``cols`` as in the file; ``model_flips``: the columns already negated
    because the ``subject`` model flexes its knees negative."""
    mean, std = pred.final.scaler.mean, pred.final.scaler.std
    m = X.reshape(-1, X.shape[-1]).mean(0)
    angle = [is_angle(c) for c in pred.in_cols[: len(cols)]]
    flipped: list = []
    for j in range(len(cols)):
        z, z_flipped = (m[j] - mean[j]) / std[j], (-m[j] - mean[j]) / std[j]
        # only channels whose training mean is clearly signed (knee flexion, the hip's
        # abductor moment), so an offset of a near-zero channel (hip rotation) is not mistaken
        # for a flip
        signed = abs(mean[j]) >= max(10.0 if angle[j] else 0.0, 0.75 * std[j])
        if signed and abs(z) > 1.5 and abs(z_flipped) < abs(z) / 2:
            flipped.append(j)
    # a convention holds for both sides: add the other side's column when it is also signed
    # opposite to its training mean
    for j in list(flipped):
        other = cols.index(mirror_name(cols[j])) if mirror_name(cols[j]) in cols else None
        if other is not None and other not in flipped and m[other] * mean[other] < 0:
            flipped.append(other)
    flipped = [
        f"{cols[j]} averages {m[j]:.1f} deg vs {mean[j]:.1f} ± {std[j]:.1f} in training"
        if angle[j]
        else f"{cols[j]} averages {m[j]:.2f} Nm/kg vs {mean[j]:.2f} ± {std[j]:.2f} in training"
        for j in sorted(flipped)
    ]
    if flipped and all(f.split()[0] in model_flips for f in flipped):
        raise InputError(
            f"{source}: the knees flex negative after negating them because "
            f"{Path(str(subject)).name} flexes the knee negative ({'; '.join(flipped)}): this "
            "file's knees already flex positive, so give the body mass (mass_kg=..., CLI "
            "--mass) instead of the model file"
        )
    if flipped:
        names = [f.split()[0] for f in flipped]
        raise InputError(
            f"{source}: the sign convention looks opposite to the model's training data "
            f"({'; '.join(flipped)}), e.g. gait2392 knees are flexion-negative, Rajagopal's "
            "flexion-positive, and OpenSim's inverse dynamics gives internal hip moments, "
            f"+ flexor, adductor and internal rotator. If so, pass flip_sign={names} "
            f"(CLI: {' '.join('--flip-sign ' + n for n in names)})"
            + (
                ", or give the OpenSim model the IK ran with as the subject file (subject=..., "
                "CLI --subject model.osim): it tells its knee convention"
                if any(n.startswith("knee_angle") for n in names)
                else ""
            )
        )


def _target_results(
    pred: Predictor,
    X: np.ndarray,
    side: str,
    height_m: float | None,
    durations: np.ndarray | None,
    mass_kg: float | None = None,
) -> dict[str, TargetResult]:
    """The predictor's results by target: one, or a joint model's forces and moments apart
    (each with its unit, files and figure, as if two models had made them). Moments and the
    reference curve are scaled to the body height (when given); without it the body mass
    stands in for the size check."""
    p = pred.predict_cycles(X, height_m, durations, mass_kg)
    mean, sd, ens_sd, ood = p.mean, p.sd, p.ensemble_sd, p.ood
    cal = pred.calibration
    size = pred.size_factors(height_m, 1)[0]
    cols = [c if side == "r" else mirror_name(c) for c in pred.out_cols]
    out = {}
    for part, idx in target_parts(get_target(pred.target)).items():
        idx = list(idx)
        out[part] = TargetResult(
            target=part,
            cols=tuple(cols[i] for i in idx),
            mean=mean[..., idx],
            sd=sd[..., idx],
            ensemble_sd=ens_sd[..., idx],
            model=pred.label if pred.broad is None else f"{pred.label} + {pred.broad.label}",
            model_source=str(pred.source),
            calibrated=cal is not None,
            norm_mean=None if cal is None else (cal.norm_mean * size)[..., idx],
            norm_sd=None if cal is None else (cal.norm_sd * size)[..., idx],
            ood_score=None if ood is None else ood[0],
            **({"norm_label": "reference walking data mean ± sd"} if pred.published else {}),
            ood_percentile=None if ood is None else ood[1],
            pace_percentile=p.pace_percentile,
            broad_weight=p.broad_weight,
            widening=p.widening,
            model_fingerprint=pred.fingerprint,
        )
    return out


def _cycle_results(
    pred: Predictor,
    fallback: Predictor | None,
    covered: np.ndarray | None,
    X: np.ndarray,
    in_cols: Sequence[str],
    side: str,
    height_m: float | None,
    durations: np.ndarray | None,
    mass_kg: float | None,
    source: str,
) -> dict[str, TargetResult]:
    """:func:`_target_results` of ``pred`` for the cycles ``X`` (in ``in_cols``); with a
    ``fallback`` (``pred``'s model of the angles alone) the cycles not ``covered`` by the
    trial's inverse dynamics are the fallback's, merged in cycle order (:func:`merge_cycles`)."""

    def of(p: Predictor, rows: np.ndarray) -> dict[str, TargetResult]:
        Xp = X[rows][..., input_columns_for(p.in_cols, in_cols, source)]
        d = None if durations is None else durations[rows]
        return _target_results(p, Xp, side, height_m, d, mass_kg)

    every = np.ones(len(X), bool)
    if fallback is None or covered is None or covered.all():
        return of(pred, every)
    if not covered.any():
        return of(fallback, every)
    own, other = of(pred, covered), of(fallback, ~covered)
    return {part: merge_cycles(own[part], other[part], covered) for part in own}


def _cycles_from_npz(path: Path, in_cols: Sequence[str]):
    """Cycles of a study-format NPZ: (N, T, C) degrees, masses, cycle windows, whether they
    are timed, and the cycles' hip moments from inverse dynamics ((N, T, 3) N·m, or None)."""
    with np.load(path, allow_pickle=False) as z:
        if "X" not in z.files or "in_cols" not in z.files:
            raise InputError(f"{path}: a study-format NPZ needs 'X' and 'in_cols'")
        X = z["X"].astype(np.float32)
        cols = [str(c) for c in _decode(z["in_cols"])]
        mass = z["weight_kg"] if "weight_kg" in z.files else None
        timed = "cycle_t0" in z.files and "cycle_t1" in z.files
        t0 = z["cycle_t0"] if timed else np.arange(len(X), dtype=float)
        t1 = z["cycle_t1"] if timed else t0 + 1.0
        moments = z[EXTRA_HIP_MOMENTS].astype(float) if EXTRA_HIP_MOMENTS in z.files else None
    idx = order_columns(cols, in_cols, "angle", str(path))
    if idx is not None:
        X = X[..., idx]
    _check_finite(X, "X (angles)", str(path))
    _check_degrees(X, str(path))
    if moments is not None and moments.shape != (*X.shape[:2], len(SERIES_INPUTS)):
        raise InputError(
            f"{path}: '{EXTRA_HIP_MOMENTS}' is {moments.shape}; it needs (cycles, frames, 3) "
            f"like X {X.shape[:2]}"
        )
    windows = [
        CycleWindow(float(a), float(b), ("npz", "npz"), "ok") for a, b in zip(t0, t1, strict=True)
    ]
    return X, mass, windows, timed, moments


#: Why a model's inputs besides the angles may be missing, and the fix.
_SERIES_MISSING = (
    "the model takes the hip moments of the trial's inverse dynamics as inputs: give the "
    "OpenSim ID results (inverse_dynamics=..., CLI --inverse-dynamics: a .sto with "
    "hip_flexion_r_moment etc. in N·m, over the same trial) and the body mass"
)


class _Series(NamedTuple):
    """A trial's inverse-dynamics hip moments, per kg, on their own time base."""

    time: np.ndarray  # (n,) s
    per_kg: np.ndarray  # (n, S) Nm/kg
    source: str

    def covers(self, w: CycleWindow) -> bool:
        return w.t0 >= self.time[0] - 1e-6 and w.t1 <= self.time[-1] + 1e-6


#: Plausible peak |hip moment| of a gait trial, Nm/kg: below, the file is likely per kg
#: already; above, in N·mm or divided by a wrong mass.
ID_PEAK_RANGE_NM_KG = (0.05, 20.0)


def _inverse_dynamics(
    path: str | Path | pd.DataFrame,
    cols: Sequence[str],
    mass_kg: float | None,
    flip: Sequence[str] = (),
) -> _Series:
    """The models' hip-moment inputs (:data:`SERIES_INPUTS`) from the trial's ID results,
    its columns ``cols`` (the predicted side's: a left cycle reads the left hip's, as
    labelling did), per kg of ``mass_kg``, the ``flip`` columns negated; refuses values that
    cannot be N·m of this body."""
    time, values, source = read_series(path, cols)
    if mass_kg is None:
        raise InputError(
            f"{source}: the hip moments of inverse dynamics are in N·m and the model takes them "
            "per kg: give the body mass (mass_kg=..., CLI --mass)"
        )
    per_kg = values / mass_kg * np.array([-1.0 if c in flip else 1.0 for c in cols])
    peak, (lo, hi) = float(np.abs(per_kg).max()), ID_PEAK_RANGE_NM_KG
    if not lo <= peak <= hi:
        why = (
            "they look per kg already: give them in N·m, as OpenSim's inverse dynamics writes them"
            if peak < lo
            else "give them in N·m (not N·mm) and the body mass in kg"
        )
        raise InputError(
            f"{source}: the hip moments peak at {peak:.3g} Nm/kg once divided by the body mass "
            f"({mass_kg:g} kg), outside a gait trial's {lo}-{hi}; {why}"
        )
    return _Series(time, per_kg, source)


#: Below this share of the frames inside the interval, predicted hip moments that disagree
#: with the trial's own inverse dynamics get a warning (the coverage the transfer work asks of
#: every held-out source; docs/predict.md, "Against the trial's inverse dynamics").
MIN_ID_COVERAGE = 0.8


def id_agreement(moments: TargetResult, measured: np.ndarray, interval: float) -> IdAgreement:
    """How the predicted hip moments (``moments``, per kg at the kept cycles' frames) agree
    with the trial's own inverse dynamics ``measured`` (the same shape; NaN where the ID does
    not cover a cycle, left out; at least one cycle covered): R² and RMSE per degree of
    freedom over every frame of the covered cycles, and the share of those frames (all three
    together) inside the ``interval``."""
    covered = np.isfinite(measured).all(axis=(1, 2))
    y = measured[covered]
    lo, hi = (b[covered] for b in moments.bounds(interval))
    per_dof = per_channel_metrics(y, moments.mean[covered], moments.cols)
    return IdAgreement(
        cycles=int(covered.sum()),
        dofs=tuple(dof_name(c) for c in moments.cols),
        r2=tuple(per_dof.r2.astype(float)),
        rmse=tuple(per_dof.rmse.astype(float)),
        coverage=float(((y >= lo) & (y <= hi)).mean()),
    )


def _outside(windows: Sequence[CycleWindow], series: _Series) -> list[CycleWindow]:
    """``windows`` with the complete cycles the ID results do not cover rejected, saying so."""
    why = f"outside the inverse dynamics of {series.source} ({series.time[0]:.3f}-"
    why += f"{series.time[-1]:.3f} s), which a model given takes as inputs (without "
    why += "--inverse-dynamics, a model of the angles alone predicts it, hip moments included)"
    return [
        replace(w, status="rejected", reason=why)
        if w.status == "ok" and not series.covers(w)
        else w
        for w in windows
    ]


def _series_channels(
    names: Sequence[str],
    required: set[str],
    windows: Sequence[CycleWindow],
    n_frames: int,
    series: _Series | None,
    source: str,
) -> np.ndarray:
    """(N, T, S) the models' hip-moment inputs for the cycles ``windows``, resampled as the
    labels' were (gait2hip.labeling.trial: no filtering); NaN for a cycle without them, which
    only models that do not require them may meet (refused otherwise)."""
    if series is None and set(names) & required:
        raise InputError(f"{source}: {_SERIES_MISSING}")
    out = np.full((len(windows), n_frames, len(names)), np.nan, np.float32)
    for i, w in enumerate(windows):
        if series is not None and series.covers(w):
            out[i] = resample(series.time, series.per_kg, w.t0, w.t1, n_frames)
    return out


def _with_static(
    X: np.ndarray,
    names: Sequence[str],
    durations: np.ndarray | None,
    height_m: float | None,
    source: str,
    required: set[str] | frozenset[str] = frozenset(STATIC_INPUTS),
) -> np.ndarray:
    """``X`` (N, T, angles) with the models' per-cycle scalar inputs appended as constant
    channels (:data:`STATIC_INPUTS`: body height, cycle duration); one that is not known is NaN
    where no model ``required`` it (a blended model's broad model then predicts alone), else
    refused."""
    known = {
        "body_height_m": height_m,
        "cycle_duration_s": durations,
    }
    missing = {
        "body_height_m": "the model takes the body height as an input; give height_m (CLI "
        "--height, in m) or the subject's scaled model (--subject)",
        "cycle_duration_s": "the model takes each cycle's duration as an input, but the file "
        "has no cycle times ('cycle_t0', 'cycle_t1'); give the trial's angles over time "
        "instead (.mot/.sto/.csv) so the cycles are found in it",
    }
    for name in names:
        if known[name] is None and name in required:
            raise InputError(f"{source}: {missing[name]}")
    return with_static_channels(X, names, known)


def predict(
    angles: str | Path | pd.DataFrame,
    *,
    mass_kg: float | None = None,
    height_m: float | None = None,
    subject: str | Path | None = None,
    model: str | Path | Sequence[str | Path] | None = None,
    architecture: str | None = None,
    side: str = "r",
    strikes: Sequence[float] | None = None,
    grf: str | Path | None = None,
    c3d: str | Path | None = None,
    inverse_dynamics: str | Path | pd.DataFrame | None = None,
    angle_units: str = "auto",
    flip_sign: Sequence[str] = (),
    max_gap_s: float = MAX_GAP_S,
    interval: float = DEFAULT_INTERVAL,
    ensemble: bool = True,
    predictors: dict[str, Predictor] | None = None,
    lab_correction: str | Path | LabCorrection | None = None,
) -> Prediction:
    """Predict right- (``side="r"``) or left-hip (``"l"``, by mirroring) muscle forces and
    moments for a trial.

    ``angles``: an IK ``.mot``/``.sto``, ``.csv``/``.parquet`` (time + angle columns), a
    DataFrame, or a study-format ``.npz`` of cycles. ``model``: checkpoint(s), unit or run
    folder(s), a folder of runs, or ``gait2hip60[:arch]`` (default: the model shipped with the
    package, :func:`~gait2hip.inference.predictor.default_model_dir`);
    ``architecture`` picks one model of a run folder (default: its best). Body mass from
    ``mass_kg`` or a ``subject`` file adds N and N·m to N/kg and Nm/kg; a ``subject`` ``.osim``
    (the model the IK ran with) also tells the knee convention: a flexion-negative knee
    (gait2392 family) is negated, as labelling does. Heel strikes from
    ``strikes`` (s), else ``grf``/``c3d``, else the angles. ``inverse_dynamics``: the trial's
    OpenSim ID results (N·m), for models that take the hip moments as inputs (a study-format
    NPZ carries them as ``hip_moments``). ``lab_correction``: a lab's correction of the
    model's hip moments (:class:`~gait2hip.inference.lab.LabCorrection` or its file, written
    by :func:`gait2hip.inference.adapt.adapt`), added to them and their interval.
    """
    if side not in ("r", "l"):
        raise ValueError(f"side must be 'r' or 'l', not {side!r}")
    correction = (
        LabCorrection.load(lab_correction)
        if isinstance(lab_correction, str | Path)
        else lab_correction
    )
    if not 0 < interval < 1:
        raise ValueError(f"interval must be a coverage in (0, 1), e.g. 0.9, not {interval}")
    model_file = _osim_subject(subject)  # read once: its mass and knee convention
    if subject is not None:
        s_mass, s_height = (model_file.mass_kg, None) if model_file else read_subject(subject)
        mass_kg = mass_kg if mass_kg is not None else s_mass
        height_m = height_m if height_m is not None else s_height
    _check_mass(mass_kg, height_m)
    # a scaled model without a given height: the height its leg length stands for
    estimate = (
        None if height_m is not None or model_file is None else estimated_height_m(model_file)
    )
    if estimate is not None:
        height_m = estimate[0]
    if predictors is None:
        predictors = find_predictors(
            model if model is not None else default_model_dir(),
            model=architecture,
            ensemble=ensemble,
            inverse_dynamics=inverse_dynamics is not None,
        )
    first = next(iter(predictors.values()))
    angle_cols = tuple(c for c in first.in_cols if is_angle(c))
    # a model that reads the trial's inverse dynamics predicts the cycles they cover; the
    # same target's model of the angles alone, found beside it, the others
    fallbacks = {t: p.without_id for t, p in predictors.items() if p.without_id is not None}
    every = [*predictors.values(), *fallbacks.values()]
    for p in every:
        if tuple(c for c in p.in_cols if is_angle(c)) != angle_cols or (
            p.n_frames != first.n_frames
        ):
            raise ValueError(
                f"models {first.source} and {p.source} use different angles or cycle lengths"
            )
    # columns to read: the models' angle names for the right side, mirrored for the left;
    # their hip-moment series come from the trial's inverse dynamics, their per-cycle scalars
    # (body height, cycle duration) from the subject and cycles
    series = [c for c in SERIES_INPUTS if any(c in p.in_cols for p in predictors.values())]
    static = [c for c in STATIC_INPUTS if any(c in p.in_cols for p in every)]
    required = {c for p in every for c in p.required_inputs}
    # what a cycle cannot be predicted without, whichever model predicts it
    needed = {c for t, p in predictors.items() if t not in fallbacks for c in p.required_inputs}
    in_cols = (*angle_cols, *series, *static)
    file_cols = [c if side == "r" else mirror_name(c) for c in angle_cols]
    warnings: list[str] = []
    notes: list[str] = [] if estimate is None else [estimate[1]]
    is_npz = not isinstance(angles, pd.DataFrame) and Path(angles).suffix.lower() == ".npz"
    id_series = None
    id_cols = [side_name(c, side) for c in series]
    # the trial's ID hip moments: a model's inputs (``series``), and what the predicted hip
    # moments are checked against
    id_moment_cols = [side_name(c, side) for c in SERIES_INPUTS]
    id_flips = [c for c in flip_sign if c in id_moment_cols]
    # a trial over time in its model's convention: negate the knees of a flexion-negative model
    model_flips = (
        []
        if is_npz or model_file is None
        else [c for c in model_file.flexion_negative(file_cols) if c not in flip_sign]
    )
    if id_flips and inverse_dynamics is None:
        raise InputError(f"flip_sign names {id_flips}, but no inverse-dynamics results are given")
    checks_moments = any(_scales_moments(p) for p in predictors.values())
    if inverse_dynamics is not None and not series and not (checks_moments and mass_kg):
        notes.append("inverse-dynamics results not used: no model given takes them")
    elif inverse_dynamics is not None:
        if is_npz:
            raise InputError(
                f"{angles}: a study-format NPZ holds cycles, not a trial over time; put its "
                f"cycles' hip moments (N·m) in it as '{EXTRA_HIP_MOMENTS}' instead of giving "
                "inverse-dynamics results"
            )
        id_series = _inverse_dynamics(inverse_dynamics, id_moment_cols, mass_kg, id_flips)
        notes += [f"{c}: sign flipped" for c in id_flips]
        if checks_moments:
            notes.append(
                "the hip moments written are predicted from the angles; those of the inverse "
                "dynamics given are the trial's measured ones, and the predicted ones are "
                "checked against them"
            )
    measured = None  # the trial's ID hip moments per kg at the kept cycles' frames
    if is_npz:
        X, masses, windows, timed, moments = _cycles_from_npz(Path(angles), file_cols)
        durations = np.array([w.t1 - w.t0 for w in windows]) if timed else None
        if mass_kg is None and masses is not None and len(np.unique(masses)) == 1:
            mass_kg = float(masses[0])
        time = np.array([])
        source = str(angles)
        if series and moments is not None:  # the cycles' own, per kg of their own mass
            if masses is None:
                raise InputError(f"{source}: '{EXTRA_HIP_MOMENTS}' in N·m needs 'weight_kg'")
            per_kg = moments / np.broadcast_to(masses, (len(X),))[:, None, None]
            X = np.concatenate([X, per_kg[..., [MOMENT_COLS.index(c) for c in series]]], -1)
        elif series:
            moments = _series_channels(series, required, windows, X.shape[1], None, source)
            X = np.concatenate([X, moments], axis=-1)
        if X.shape[1] != first.n_frames:
            grid = np.linspace(0, 1, X.shape[1])
            X = np.stack([resample(grid, x, 0.0, 1.0, first.n_frames) for x in X]).astype(
                np.float32
            )
    else:
        trial = read_angles(
            angles,
            file_cols,
            angle_units=angle_units,
            flip_sign=[c for c in flip_sign if c not in id_flips],
            max_gap_s=max_gap_s,
        )
        source, time = trial.source, trial.time
        notes = [*trial.notes, *notes]
        if model_flips:
            trial.angles[model_flips] = -trial.angles[model_flips]
            notes.append(
                f"{', '.join(model_flips)}: negated because {Path(subject).name} flexes the knee "
                "negative and the models learnt it flexion positive; they learnt their hip "
                "moments from another model's inverse dynamics (Rajagopal 2016, one lab), which "
                "can differ from this model's for the same angles by more than the interval "
                "allows (OpenSim's gait2392 example walker, docs/predict.md); "
                "--inverse-dynamics checks a trial against its own"
            )
        found = find_strikes(trial, side, strikes=strikes, grf=grf, c3d=c3d)
        if any(s == "kinematics" for _, s in found):
            given = "GRF" if grf else "c3d events" if c3d else "strikes" if strikes else ""
            why = (
                f"the {given} given did not cover every cycle"
                if given
                else "no GRF, c3d or strikes given"
            )
            notes.append(
                f"heel strikes from joint angles ({why}): about ±15 ms from force plates, see "
                "docs/predict.md"
            )
        windows = segment(trial, found)
        if id_series is not None and set(series) & needed:
            windows = _outside(windows, id_series)
        ok = [w for w in windows if w.status == "ok"]
        if not ok:
            why = "; ".join(f"{w.t0:.2f}-{w.t1:.2f} s {w.status}: {w.reason}" for w in windows)
            raise InputError(
                f"{source}: no complete gait cycle of the {'right' if side == 'r' else 'left'} "
                f"leg ({why}). A cycle needs two heel strikes of the same foot inside the data; "
                "give a longer trial, or the strike times (strikes=..., CLI --strikes)"
            )
        # filtered and resampled as the training data's angles were (gait2hip.gait.signal)
        values = lowpass_angles(time, trial.angles[file_cols].to_numpy(dtype=float))
        X = np.stack([resample(time, values, w.t0, w.t1, first.n_frames) for w in ok])
        X = X.astype(np.float32)
        measured = _series_channels(
            tuple(SERIES_INPUTS), required, ok, first.n_frames, id_series, source
        )
        if series:
            X = np.concatenate([X, measured[..., [*map(list(SERIES_INPUTS).index, series)]]], -1)
        durations = np.array([w.t1 - w.t0 for w in ok])
        for w in windows:
            if w.status == "rejected":
                warnings.append(f"cycle {w.t0:.3f}-{w.t1:.3f} s rejected: {w.reason}")
            elif w.status == "partial":
                notes.append(f"partial cycle {w.t0:.3f}-{w.t1:.3f} s not predicted ({w.reason})")
    # sign conventions of what came from the user's files (angles, ID hip moments), by the
    # files' column names
    read = dict(zip((*angle_cols, *series), (*file_cols, *id_cols), strict=True))
    for p in predictors.values():
        checked = [c for c in p.in_cols if c in read]
        Xp = X[..., [list(read).index(c) for c in checked]]
        _check_conventions(Xp, p, [read[c] for c in checked], source, model_flips, subject)
    X = _with_static(X, static, durations, height_m, source, required)
    # (a cycle outside them that a model of the angles alone predicts is said below)
    sit_out = [
        t for t, p in predictors.items() if t not in fallbacks and set(series) & set(p.in_cols)
    ]
    if sit_out and not np.isfinite(X[..., in_cols.index(series[0])]).all():
        notes.append(
            "no inverse-dynamics hip moments given: the averaged architectures that take them "
            "sit out"
        )
    for name in static:
        if not np.isfinite(X[..., in_cols.index(name)]).all():
            notes.append(
                f"no {name.removesuffix('_s').removesuffix('_m').replace('_', ' ')} known: "
                "the models that take it predict from their broad model alone, or from "
                "their averaged architectures that do not take it"
            )
    # the kept cycles the trial's inverse dynamics cover (None: none given)
    covered = None if measured is None else np.isfinite(measured).all(axis=(1, 2))
    targets: dict[str, TargetResult] = {}
    for name, p in predictors.items():
        results = _cycle_results(
            p, fallbacks.get(name), covered, X, in_cols, side, height_m, durations, mass_kg, source
        )
        if name in fallbacks and covered is not None and not covered.all():
            notes.append(
                f"{name}: {int((~covered).sum())} of {len(covered)} cycles (cycles "
                f"{np.flatnonzero(~covered).tolist()}) lie outside the inverse dynamics of "
                f"{id_series.source} ({id_series.time[0]:.3f}-{id_series.time[-1]:.3f} s): "
                f"{fallbacks[name].label} predicts them from the angles, {p.label} the others "
                "with their hip moments (the cycles csv names each cycle's model)"
            )
        for part, result in results.items():
            if part in targets:
                raise InputError(
                    f"two models predict {part}: {targets[part].model_source} and {p.source}; "
                    "pass one model per target"
                )
            targets[part] = result
    if correction is not None:
        where = correction.file or "lab correction"
        if "moments" not in targets:
            raise LabCorrectionError(
                f"{where}: a lab correction corrects hip moments, and the model given predicts "
                "none; give a moments model (the default predicts them)"
            )
        moments = targets["moments"]
        if moments.model != correction.model or (
            correction.model_fingerprint
            and correction.model_fingerprint != moments.model_fingerprint
        ):
            other = (
                ""
                if moments.model != correction.model
                else " (the same label, other weights or settings)"
            )
            raise LabCorrectionError(
                f"{where}: fitted for the model {correction.model}, not {moments.model}"
                f"{other}; predict with that model, or fit one for this (gait2hip adapt)"
            )
        targets["moments"] = correction.apply(moments)
        notes.append(correction.note())
        warnings += [f"lab correction: {w}" for w in correction.warnings()]
        if (unlike := correction.height_warning(height_m is not None)) is not None:
            warnings.append(f"lab correction: {unlike}")
    agreement = None
    if id_series is not None and measured is not None and "moments" in targets:
        if not covered.any():
            notes.append(
                f"{id_series.source} covers none of the kept cycles: the predicted hip moments "
                "are not checked against it"
            )
        else:
            agreement = id_agreement(targets["moments"], measured, interval)
            notes.append(agreement.note(interval))
            if agreement.coverage < MIN_ID_COVERAGE:
                warnings.append(agreement.warning(interval))
    pred = Prediction(
        source=source,
        side=side,
        time=time,
        cycles=windows,
        targets=targets,
        id_agreement=agreement,
        measured_moments=measured if id_series is not None else None,
        lab_correction=None if correction is None else correction.file or correction.model,
        mass_kg=mass_kg,
        height_m=height_m,
        height_estimated=estimate is not None,
        interval=interval,
        warnings=warnings,
        notes=notes,
    )
    flags = pred.ood_flags
    if flags.any():
        k = np.flatnonzero(flags)
        worst = max(
            float(t.ood_percentile[k].max())
            for t in targets.values()
            if t.ood_percentile is not None
        )
        warnings.append(
            f"{len(k)} of {len(flags)} cycles lie outside the training kinematics (OOD score "
            f"above the {OOD_WARN_PERCENTILE:.0f}th percentile of unseen healthy subjects, up "
            f"to the {worst:.0f}th; cycles {k.tolist()}): treat their predictions with caution"
        )
    pace = pred.pace_flags
    if pace.any():
        k = np.flatnonzero(pace)
        known = [p.calibration.durations for p in predictors.values() if p.calibration]
        lo = min(float(np.percentile(d, 2.5)) for d in known if len(d))
        hi = max(float(np.percentile(d, 97.5)) for d in known if len(d))
        warnings.append(
            f"{len(k)} of {len(pace)} cycles last {', '.join(f'{durations[i]:.2f}' for i in k)} "
            f"s, unlike the training cycles (95 % within {lo:.2f}-{hi:.2f} s): a pace the "
            "models did not learn (the angles, time-normalised, cannot show it); treat "
            f"cycles {k.tolist()} with caution"
        )
    for p in predictors.values():
        size = p.size_percentile(height_m, mass_kg)
        if size is not None and size > OOD_WARN_PERCENTILE and height_m is not None:
            lo, hi = p.calibration.heights[[0, -1]]
            warnings.append(
                f"{p.target}: body height {height_m:.3g} m"
                + (" (estimated from the model's leg length)" if estimate is not None else "")
                + " is unlike the training subjects' "
                f"({lo:.2f}-{hi:.2f} m; above the {OOD_WARN_PERCENTILE:.0f}th percentile of "
                "their spread): the models never learnt from a body of this size"
                + (HOF_NOTE if _scales_moments(p) else "")
                + "; treat every cycle with caution"
            )
        elif size is not None and size > OOD_WARN_PERCENTILE:
            lo, hi = p.calibration.masses[[0, -1]]
            warnings.append(
                f"{p.target}: body mass {mass_kg:g} kg is lighter than the training subjects' "
                f"({lo:.0f}-{hi:.0f} kg; beyond the {OOD_WARN_PERCENTILE:.0f}th percentile of "
                "their spread): a child, most likely, a body the models never learnt from"
                + (" (a blended model's broad model predicts it)" if p.broad is not None else "")
                + (
                    "; give the body height (--height; height_m in Python) to scale the hip "
                    "moments to it"
                    if _scales_moments(p)
                    else ""
                )
                + "; treat every cycle with caution"
            )
        if flat(p.metrics):
            warnings.append(
                f"{p.target}: model {p.source} is {FLAT_NOTE} on its test subjects (skill "
                f"{p.metrics['skill_vs_mean_curve']:.2f}): its curves say little about this "
                "trial; train a better one or use the default model"
            )
        if p.interval_note:
            warnings.append(f"{p.target}: {p.interval_note}")
        if p.calibration is None and p.published:
            warnings.append(
                f"{p.target}: {p.label} is not calibrated yet: no interval (zero width) and no "
                "OOD score. `gait2hip build-dataset schreiber2019` builds the walking data of "
                "another lab it is calibrated on"
            )
        elif p.calibration is None:
            warnings.append(
                f"{p.target}: model {p.source} has no calibration (fold models and "
                "calibration.npz); intervals show the ensemble spread only and no OOD score. "
                "Retrain with `gait2hip benchmark` to get them"
            )
    if mass_kg is None:
        notes.append("no body mass given: outputs in N/kg and Nm/kg only (pass mass_kg)")
    refs = sorted(
        {p.reference_height_m for p in predictors.values() if _scales_moments(p)} - {None}
    )
    if height_m is None and refs:
        blended = any(p.broad is not None for p in predictors.values())
        notes.append(
            f"no body height given: hip moments are those of a {_heights(refs)} m "
            "walker; give the height (--height in m; height_m in Python), or the subject's "
            "scaled .osim (--subject) for the height its leg length stands for, to scale them "
            "to the subject's size (Hof 1996), which matters for children and short or tall "
            "adults"
            + (
                "; without it the size check, which hands a child to the broad model, knows "
                "only a light body mass, and a child it misses gets the model tuned to the "
                'training adults (docs/external_results.md, "As timed trials")'
                if blended
                else ""
            )
        )
    elif refs:
        notes.append(
            f"hip moments scaled to body height {height_m:.3g} m from the models' "
            f"{_heights(refs)} m (Hof 1996: per-kg moments grow with leg length)"
        )
    return pred


HOF_NOTE = " (its hip moments are Hof's scaling, an extrapolation)"


def _heights(values) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def _scales_moments(pred: Predictor) -> bool:
    return "moments" in target_parts(get_target(pred.target))


def predict_held_out_trial(
    results: Sequence,
    model: str | Path,
    out_dir: str | Path,
    *,
    inverse_dynamics: bool = False,
):
    """Predict one labelled trial of a subject the models never saw (the first test subject
    of ``model``'s moments run that has a labelled trial), from its whole-trial IK with c3d
    events, as a user would (``inverse_dynamics``: also with the trial's ID results, for the
    forces model that reads them): returns (Prediction, written files). Used by ``gait2hip
    demo``."""
    predictors = find_predictors(model, inverse_dynamics=inverse_dynamics)
    test = set(next(iter(predictors.values())).final.meta.get("test_subjects", []))
    for r in results:
        work = Path(r.folder) / "work"
        ik, id_sto = work / "ik" / "ik.mot", work / "id" / "id.sto"
        if r.ok and r.spec.subject in test and ik.is_file():
            pred = predict(
                ik,
                mass_kg=r.spec.mass_kg,
                c3d=r.spec.c3d,
                inverse_dynamics=id_sto if inverse_dynamics else None,
                predictors=predictors,
            )
            pred.label = f"subject {r.spec.subject} trial {r.spec.trial} (not seen in training)"
            stem = f"{r.spec.subject}_{r.spec.trial}_r" + ("_id" if inverse_dynamics else "")
            return pred, pred.save(out_dir, stem)
    raise ModelNotFoundError(f"{model}: no labelled trial of a test subject to predict")
