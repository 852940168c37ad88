"""Label one trial: the task unit of dataset building, a plain function of (trial, settings).

``label_trial(spec, settings, cache_root)`` runs scale -> IK -> ID -> SO for one trial, cuts
its gait cycles, and stores per-cycle labels and QC in a cache folder keyed by the input
files' contents and the settings. A finished trial is never recomputed; an unfinished one
leaves no result file (only its work folder with OpenSim logs), so a rerun redoes it.
"""

from __future__ import annotations

import hashlib
import json
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gait2hip.conventions import (
    FORCE_COLS,
    HIP_COORDS,
    ID_HIP_MOMENTS,
    INPUT_COLS,
    MOMENT_COLS,
    MUSCLE_GROUPS,
    mirror_name,
    muscle_family,
    side_name,
)
from gait2hip.gait import events as ev
from gait2hip.gait.signal import ANGLE_LOWPASS_HZ, lowpass_angles, resample
from gait2hip.io.atomic import atomic_path, write_json
from gait2hip.io.external_loads import read_external_loads, write_external_loads
from gait2hip.io.osim import read_osim
from gait2hip.io.storage import (
    angle_columns,
    guess_in_degrees,
    read_motion,
    time_window,
    write_motion,
)
from gait2hip.labeling import fast_so
from gait2hip.labeling import opensim_steps as st
from gait2hip.labeling.grf import prepare_grf

G = 9.80665
RESULT_VERSION = 4  # 4: inputs in the study's knee convention (flexion positive)
SO_SOLVERS = ("auto", "opensim", "fast")
#: Settings added after caches existed: at these values they stay out of the cache key, so
#: trials labelled before the setting existed are not relabelled.
_KEY_COMPAT_DEFAULTS: dict[str, Any] = {"so_solver": "opensim"}


@dataclass(frozen=True)
class LabelSettings:
    """Every choice that changes the labels (part of the cache key)."""

    cycle_frames: int = 180
    # kinematics (model inputs, and inside OpenSim ID/SO) and GRF, same cut-off
    lowpass_hz: float = ANGLE_LOWPASS_HZ
    grf_threshold_n: float = 20.0  # contact: vertical force above this
    min_contact_s: float = 0.08  # shorter contacts are blips, not strikes
    min_contact_peak_bw: float = 0.5  # lower peaks are blips / cross-over touches
    cop_limit_m: tuple[float, float] = (0.4, 0.25)  # COP spike limits (x, z) from stance median
    no_double_support: bool = False  # running: reject stances overlapping the other foot
    kinematic_events: bool = True  # without c3d events, find off-plate strikes from the model
    sides: tuple[str, ...] = ("r", "l")  # left cycles are mirrored to the right
    strength_scale: float = 1.0  # multiplies every muscle's max isometric force in SO
    reserve_optimal_force: float = 1.0  # N·m per unit control on leg coordinates
    residual_optimal_force: float = 100.0  # pelvis residual actuators
    other_optimal_force: float = 100.0  # actuators on free coordinates without muscles
    activation_exponent: float = 2.0
    so_convergence: float = 1e-4
    # "opensim" (AnalyzeTool + StaticOptimization), "fast" (gait2hip.labeling.fast_so: the
    # same problem solved for all frames at once; Millard2012 muscle models only) or "auto":
    # fast where it reproduces the trial's model, opensim otherwise (resolve_settings)
    so_solver: str = "auto"
    ik_accuracy: float = 1e-5
    pad_s: float = 0.03  # ID/SO run this far past each cycle so resampling never extrapolates
    # QC thresholds (a failing cycle is excluded with its reason). They are applied when a
    # dataset is assembled, so changing them never relabels a trial (not in the cache key).
    qc_marker_rms_m: float = 0.02  # mean IK RMS of the pelvis and leg markers over the cycle
    qc_reserve_pct: float = 10.0  # peak reserve / peak |ID moment|, hip and knee coordinates
    qc_hip_moment_nm_per_kg: tuple[float, float] = (0.2, 6.0)  # peak |hip flexion moment|
    qc_group_force_n_per_kg: float = 100.0  # peak of any muscle group

    def __post_init__(self) -> None:
        if self.so_solver not in SO_SOLVERS:
            raise ValueError(f"so_solver must be one of {SO_SOLVERS}, got {self.so_solver!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def label_dict(self) -> dict[str, Any]:
        """The settings that change labels (QC thresholds excluded)."""
        return {k: v for k, v in asdict(self).items() if not k.startswith("qc_")}


@dataclass(frozen=True)
class TrialSpec:
    """One trial's input files (absolute paths as strings) and subject metadata.

    Kinematics come from ``trc`` (IK is run) or from a finished ``ik`` motion. The model is
    scaled when ``scale_setup`` and ``static_trc`` are given (after copying the markers of
    ``marker_model`` into it), else used as it is.
    """

    dataset: str
    subject: str
    trial: str
    condition: str
    mass_kg: float
    height_m: float
    model: str
    grf_xml: str
    trc: str | None = None
    ik: str | None = None
    ik_setup: str | None = None
    scale_setup: str | None = None
    static_trc: str | None = None
    marker_model: str | None = None
    c3d: str | None = None

    @property
    def label(self) -> str:
        return f"{self.subject} {self.trial}"

    def input_files(self) -> list[Path]:
        out = []
        for name in (
            "model",
            "grf_xml",
            "trc",
            "ik",
            "ik_setup",
            "scale_setup",
            "static_trc",
            "marker_model",
            "c3d",
        ):
            value = getattr(self, name)
            if value:
                out.append(Path(value))
        out.append(read_external_loads(self.grf_xml).datafile_path())
        return out


def _file_digest(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve_settings(spec: TrialSpec, settings: LabelSettings) -> LabelSettings:
    """The settings a trial is labelled with: ``so_solver="auto"`` becomes "fast" where the fast
    solver reproduces OpenSim's SO for the trial's model (Millard2012 or Thelen2003 muscles,
    coordinate actuators: docs/fast_so.md) and "opensim" otherwise (other muscle models)."""
    if settings.so_solver != "auto":
        return settings
    return replace(settings, so_solver="fast" if fast_so.supports(spec.model) else "opensim")


def cache_key(spec: TrialSpec, settings: LabelSettings) -> str:
    """Hash of the input files' contents, the spec and the (resolved) settings."""
    settings = resolve_settings(spec, settings)
    h = hashlib.sha1()
    h.update(
        json.dumps(
            [asdict(spec), _key_settings(settings), RESULT_VERSION], sort_keys=True, default=str
        ).encode()
    )
    for f in spec.input_files():
        if not f.is_file():
            raise FileNotFoundError(f"{spec.label}: input file {f} not found")
        h.update(_file_digest(f).encode())
    return h.hexdigest()[:16]


def _key_settings(settings: LabelSettings) -> dict[str, Any]:
    d = settings.as_dict()
    for k, v in _KEY_COMPAT_DEFAULTS.items():
        if d.get(k) == v:
            del d[k]
    return d


def trial_dir(spec: TrialSpec, cache_root: Path) -> Path:
    return Path(cache_root) / spec.dataset / spec.subject / spec.trial


@dataclass
class TrialResult:
    spec: TrialSpec
    ok: bool
    cached: bool = False
    error: str = ""
    folder: str = ""
    cycles: list[dict[str, Any]] = field(default_factory=list)  # per cycle: times, QC
    rejected: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def labels_path(self) -> Path:
        return Path(self.folder) / "labels.npz"


def mirror_columns(cols: tuple[str, ...]) -> list[str]:
    """For a left cycle: the file columns to read for each right-named output column."""
    return [mirror_name(c) for c in cols]


# --------------------------------------------------------------------------- steps


def _kinematics(spec: TrialSpec, model: Path, settings: LabelSettings, work: Path, timer):
    """IK motion (degrees) over the whole trial and the per-frame marker errors (or None)."""
    if spec.trc:
        with timer("ik"):
            ik, errors = st.inverse_kinematics(
                model,
                Path(spec.trc),
                work / "ik",
                task_setup=Path(spec.ik_setup) if spec.ik_setup else None,
                accuracy=settings.ik_accuracy,
            )
        locations = errors.with_name("ik_ik_model_marker_locations.sto")
        return ik, st.marker_errors(model, Path(spec.trc), locations)
    if not spec.ik:
        raise ValueError(f"{spec.label}: give a marker file (trc) or an IK motion (ik)")
    table = read_motion(spec.ik)
    coords = _model_coordinates(model)
    keep = ["time", *[c for c in table.columns if c in coords]]
    missing = [c for c in coords if c not in table.columns]
    free_missing = [c for c in missing if not coords[c]]
    if free_missing:
        raise ValueError(
            f"{spec.ik}: IK lacks the model's coordinates {free_missing[:5]}; export every "
            f"unlocked coordinate of {Path(spec.model).name}"
        )
    data = table.data[keep].copy()
    for c in missing:  # locked coordinates may be absent: they stay at 0
        data[c] = 0.0
    if not guess_in_degrees(table, angle_columns(keep)):
        ang = angle_columns(keep)
        data[ang] = np.degrees(data[ang])
    out = work / "ik" / "ik.mot"
    write_motion(out, data, in_degrees=True)
    return out, None


def _model_coordinates(model: Path) -> dict[str, bool]:
    """Coordinate name -> locked by default, in model order."""
    os_ = st.osim()
    m = os_.Model(str(model))
    cs = m.getCoordinateSet()
    return {cs.get(i).getName(): bool(cs.get(i).get_locked()) for i in range(cs.getSize())}


def _muscle_names(model: Path) -> list[str]:
    os_ = st.osim()
    m = os_.Model(str(model))
    ms = m.getMuscles()
    return [ms.get(i).getName() for i in range(ms.getSize())]


def body_positions(model: Path, ik: pd.DataFrame, bodies: list[str]) -> dict[str, np.ndarray]:
    """Ground positions (n, 3) in m of ``bodies`` over an IK motion in degrees."""
    os_ = st.osim()
    m = os_.Model(str(model))
    state = m.initSystem()
    cs = m.getCoordinateSet()
    coords = [(cs.get(c), c) for c in ik.columns if c != "time" and cs.contains(c)]
    rotational = {c: cs.get(c).getMotionType() == 1 for _, c in coords}
    values = ik[[c for _, c in coords]].to_numpy(dtype=float)
    out = {b: np.zeros((len(ik), 3)) for b in bodies}
    body_set = m.getBodySet()
    for i in range(len(ik)):
        for j, (coord, name) in enumerate(coords):
            v = values[i, j]
            coord.setValue(state, np.radians(v) if rotational[name] else v, False)
        m.realizePosition(state)
        for b in bodies:
            p = body_set.get(b).getPositionInGround(state)
            out[b][i] = (p.get(0), p.get(1), p.get(2))
    return out


def _kinematic_strikes(model: Path, ik, side: str) -> np.ndarray:
    """Heel strikes from the model's calcaneus and pelvis positions over the IK (Zeni)."""
    pos = body_positions(model, ik.data, [f"calcn_{side}", "pelvis"])
    return ev.strikes_from_markers(ik.time, pos[f"calcn_{side}"], pos["pelvis"])


def _find_cycles(spec: TrialSpec, grf: pd.DataFrame, loads, settings, span, model, ik):
    time = grf["time"].to_numpy(dtype=float)
    c3d = None
    if spec.c3d:
        from gait2hip.io.c3d import read_c3d

        c3d = read_c3d(spec.c3d, force_plates=False)
    all_contacts: dict[str, list] = {}
    clean: dict[str, list] = {}
    for side in ("r", "l"):
        try:
            f = loads.for_side(side)
        except ValueError:
            all_contacts[side], clean[side] = [], []
            continue
        fy = grf[f.force_id + "y"].to_numpy(dtype=float)
        all_contacts[side] = ev.contacts(time, fy, settings.grf_threshold_n, drop_truncated=False)
        clean[side] = [  # strikes: contacts not cut by the file's ends, no blips
            c
            for c in all_contacts[side]
            if time[0] < c.start
            and c.end < time[-1]
            and c.duration >= settings.min_contact_s
            and c.peak_n >= settings.min_contact_peak_bw * spec.mass_kg * G
        ]
    cycles, rejected = [], []
    for side in settings.sides:
        grf_strikes = np.array([c.start for c in clean[side]])
        if c3d is not None:
            strikes = ev.merge_strikes(grf_strikes, c3d.strikes("right" if side == "r" else "left"))
        elif settings.kinematic_events:  # strikes off the force plates from kinematics
            strikes = ev.merge_strikes(
                grf_strikes, _kinematic_strikes(model, ik, side), label="kinematics"
            )
        else:
            strikes = ev.merge_strikes(grf_strikes, np.array([]))
        other_side = "l" if side == "r" else "r"
        kept, rej = ev.cycles_for_side(
            side,
            strikes,
            all_contacts[side],
            other_contacts=all_contacts[other_side],
            data_span=span,
            no_double_support=settings.no_double_support,
        )
        cycles += kept
        rejected += rej
    return cycles, rejected


def _so_log_failures(log: Path) -> int:
    if not log.is_file():
        return 0
    text = log.read_text(errors="replace").lower()
    return text.count("could not find a solution") + text.count("failed to converge")


def read_cached(spec: TrialSpec, settings: LabelSettings, folder: Path) -> TrialResult | None:
    """The trial's labels from its cache ``folder`` (QC with the current thresholds), or None
    when it holds no finished result."""
    done = Path(folder) / "result.json"
    if not done.is_file():
        return None
    saved = json.loads(done.read_text())
    # strict JSON stores a NaN (no markers: a trial from given IK) as null
    saved["cycles"] = [
        {k: np.nan if v is None else v for k, v in c.items()} for c in saved["cycles"]
    ]
    for c in saved["cycles"]:
        c["exclude"] = _qc_reason(c, settings)
    return TrialResult(
        spec,
        ok=True,
        cached=True,
        folder=str(folder),
        cycles=saved["cycles"],
        rejected=saved["rejected"],
        timings=saved["timings"],
    )


def label_trial(spec: TrialSpec, settings: LabelSettings, cache_root: str | Path) -> TrialResult:
    """Label one trial (or load it from the cache). Never raises: failures come back as
    ``ok=False`` with the error, so one bad trial does not stop a batch."""
    try:
        settings = resolve_settings(spec, settings)
        key = cache_key(spec, settings)
    except Exception as err:
        return TrialResult(spec, ok=False, error=f"{type(err).__name__}: {err}")
    folder = trial_dir(spec, Path(cache_root).resolve()) / key
    cached = read_cached(spec, settings, folder)
    if cached is not None:
        return cached
    try:
        return _label(spec, settings, folder)
    except Exception as err:
        tb = traceback.format_exc(limit=3)
        return TrialResult(
            spec, ok=False, folder=str(folder), error=f"{type(err).__name__}: {err}\n{tb}"
        )


def _label(spec: TrialSpec, settings: LabelSettings, folder: Path) -> TrialResult:
    work = folder / "work"
    work.mkdir(parents=True, exist_ok=True)
    timer = st.Timer()
    model = Path(spec.model)
    if spec.scale_setup and spec.static_trc:
        with timer("scale"):
            if spec.marker_model:
                model = st.add_markers(model, Path(spec.marker_model), work / "with_markers.osim")
            model, _ = st.scale_model(
                model, Path(spec.scale_setup), Path(spec.static_trc), spec.mass_kg, work / "scale"
            )
    ik_path, marker_errors = _kinematics(spec, model, settings, work, timer)
    ik = read_motion(ik_path)
    span = (float(ik.time[0]), float(ik.time[-1]))

    loads = read_external_loads(spec.grf_xml)
    grf_raw = read_motion(loads.datafile_path()).data
    grf, cop_fixed = prepare_grf(
        grf_raw,
        loads,
        threshold_n=settings.grf_threshold_n,
        lowpass_hz=settings.lowpass_hz,
        cop_limit_m=settings.cop_limit_m,
    )
    write_motion(work / "grf.mot", grf, in_degrees=False)
    write_external_loads(work / "grf.xml", loads, "grf.mot")
    span = (span[0], min(span[1], float(grf["time"].iloc[-1])))

    cycles, rejected = _find_cycles(spec, grf_raw, loads, settings, span, model, ik)
    result = TrialResult(spec, ok=True, folder=str(folder))
    result.rejected = [asdict(r) for r in rejected]
    if cycles:
        a = max(span[0], min(c.t0 for c in cycles) - settings.pad_s)
        b = min(span[1], max(c.t1 for c in cycles) + settings.pad_s)
        with timer("id"):
            id_path = st.inverse_dynamics(
                model,
                ik_path,
                work / "grf.xml",
                work / "id",
                t0=a,
                t1=b,
                lowpass_hz=settings.lowpass_hz,
            )
        plan = st.plan_actuators(
            model,
            reserve_optimal_force=settings.reserve_optimal_force,
            residual_optimal_force=settings.residual_optimal_force,
            other_optimal_force=settings.other_optimal_force,
        )
        so_model = st.model_for_so(
            model, plan, work / "so_model.osim", strength_scale=settings.strength_scale
        )
        with timer("so"):
            if settings.so_solver == "fast":
                fast = fast_so.fast_static_optimization(
                    so_model,
                    ik_path,
                    id_path,
                    work / "so",
                    t0=a,
                    t1=b,
                    lowpass_hz=settings.lowpass_hz,
                    activation_exponent=settings.activation_exponent,
                )
                f_path, a_path, geometry_path = fast.forces, fast.activations, fast.geometry
            else:
                f_path, a_path = st.static_optimization(
                    so_model,
                    ik_path,
                    work / "grf.xml",
                    work / "so",
                    t0=a,
                    t1=b,
                    lowpass_hz=settings.lowpass_hz,
                    activation_exponent=settings.activation_exponent,
                    convergence=settings.so_convergence,
                )
        if settings.so_solver != "fast":
            with timer("moment_arms"):
                geometry_path = fast_so.write_geometry(
                    fast_so.muscle_geometry(
                        so_model,
                        ik_path,
                        id_path,
                        t0=a,
                        t1=b,
                        lowpass_hz=settings.lowpass_hz,
                        with_capacity=False,
                    ),
                    work / "so" / fast_so.GEOMETRY_FILE,
                )
        family = muscle_family(_muscle_names(model))
        arrays, qc = _cut_cycles(
            cycles,
            ik,
            read_motion(id_path).data,
            read_motion(f_path).data,
            read_motion(a_path).data,
            marker_errors,
            family,
            spec,
            settings,
            geometry=dict(np.load(geometry_path)),
            signs=read_osim(model).input_signs(INPUT_COLS),
        )
        qc_extra = {
            "so_failed_frames": _so_log_failures(work / "so" / "so.log"),
            "cop_samples_replaced": int(sum(cop_fixed.values())),
        }
        for q in qc:
            q.update(qc_extra)
        with atomic_path(folder / "labels.npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        result.cycles = qc
    result.timings = {t.step: t.seconds for t in timer.timings}
    write_json(
        folder / "result.json",
        {
            "spec": asdict(spec),
            "settings": settings.as_dict(),
            "cycles": result.cycles,
            "rejected": result.rejected,
            "timings": result.timings,
        },
    )
    return result


def _cut_cycles(
    cycles, ik, id_data, so_forces, so_acts, marker_errors, family, spec, settings, geometry,
    signs,
):  # fmt: skip
    n = settings.cycle_frames
    groups = MUSCLE_GROUPS[family]
    ik_time = ik.time
    t_so = so_forces["time"].to_numpy(dtype=float)
    t_id = id_data["time"].to_numpy(dtype=float)
    # per side, over the whole trial: inputs (IK angles low-pass filtered as OpenSim filtered
    # them for ID/SO, and as prediction filters a user's angles; a left side's columns
    # mirrored onto the right names; in the study's knee convention, ``signs``), group forces
    # and hip moments; each cycle then only cuts and resamples
    series = {}
    for s in {c.side for c in cycles}:
        in_cols = INPUT_COLS if s == "r" else tuple(mirror_columns(INPUT_COLS))
        series[s] = (
            lowpass_angles(ik_time, ik.data[list(in_cols)].to_numpy(), settings.lowpass_hz) * signs,
            np.stack(
                [
                    so_forces[[side_name(m, s) for m in groups[g]]].to_numpy().sum(axis=1)
                    for g in FORCE_COLS
                ],
                axis=1,
            ),
            id_data[list(ID_HIP_MOMENTS[s])].to_numpy(),
            fast_so.group_moment_arms(
                geometry,
                so_forces,
                {side_name(g, s): tuple(side_name(m, s) for m in groups[g]) for g in FORCE_COLS},
                [side_name(c, s) for c in HIP_COORDS],
            ),
        )
    t_geo = geometry["time"]
    X, F, M, R, qc = [], [], [], [], []
    for cyc in cycles:
        angles, group_force, moments, arms = series[cyc.side]
        X.append(resample(ik_time, angles, cyc.t0, cyc.t1, n))
        F.append(resample(t_so, group_force, cyc.t0, cyc.t1, n))
        M.append(resample(t_id, moments, cyc.t0, cyc.t1, n))
        flat = resample(t_geo, arms.reshape(len(t_geo), -1), cyc.t0, cyc.t1, n)
        R.append(flat.reshape(n, *arms.shape[1:]))
        qc.append(
            _cycle_qc(
                cyc,
                id_data,
                so_forces,
                so_acts,
                marker_errors,
                groups,
                spec,
                F[-1],
                M[-1],
                settings,
            )
        )
    arrays = {
        "X": np.asarray(X, np.float32),
        "forces": np.asarray(F, np.float32),
        "moments": np.asarray(M, np.float32),
        "moment_arms": np.asarray(R, np.float32),  # (cycles, T, groups, hip coordinates), m
        "side": np.array([c.side for c in cycles]),
        "t0": np.array([c.t0 for c in cycles]),
        "t1": np.array([c.t1 for c in cycles]),
        "in_cols": np.array(INPUT_COLS),
        "force_cols": np.array(FORCE_COLS),
        "moment_cols": np.array(MOMENT_COLS),
    }
    return arrays, qc


def _cycle_qc(cyc, id_data, so_forces, so_acts, marker_errors, groups, spec, F, M, settings):
    s = cyc.side
    mass = spec.mass_kg
    q: dict[str, Any] = {
        "side": s,
        "t0": round(cyc.t0, 4),
        "t1": round(cyc.t1, 4),
        "toe_off": round(cyc.toe_off, 4),
        "strike_sources": "/".join(cyc.strike_sources),
        "mirrored": s == "l",
    }
    if marker_errors is not None:  # pelvis and leg markers (QC) and all markers (reported)
        w = time_window(marker_errors, cyc.t0, cyc.t1)
        q["marker_rms_m"] = float(w["leg_rms"].mean())
        q["marker_max_m"] = float(w["leg_max"].max())
        q["all_marker_rms_m"] = float(w["rms"].mean())
    else:
        q["marker_rms_m"] = q["marker_max_m"] = q["all_marker_rms_m"] = float("nan")
    idw = time_window(id_data, cyc.t0, cyc.t1)
    res_f = [c for c in ("pelvis_tx_force", "pelvis_ty_force", "pelvis_tz_force") if c in idw]
    q["pelvis_residual_force_bw"] = (
        float(np.abs(idw[res_f].to_numpy()).max() / (mass * G)) if res_f else float("nan")
    )
    fw = time_window(so_forces, cyc.t0, cyc.t1)
    aw = time_window(so_acts, cyc.t0, cyc.t1)
    reserve_pct = {}
    for coord in ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle"):
        c = f"{coord}_{s}"
        col = f"reserve_{c}"
        if col in fw and f"{c}_moment" in idw:
            peak_id = float(np.abs(idw[f"{c}_moment"]).max())
            reserve_pct[c] = 100 * float(np.abs(fw[col]).max()) / max(peak_id, 1e-6)
    # QC looks at the coordinates hip muscles span (hip, and knee via the biarticulars); the
    # ankle reserve is reported: in running it stays large with any strength (rigid-tendon SO
    # cannot reproduce the plantarflexors' force at their shortening speed; docs/labeling.md)
    ankle = reserve_pct.pop(f"ankle_angle_{s}", float("nan"))
    q["ankle_reserve_pct"] = ankle
    q["reserve_pct_max"] = max(reserve_pct.values(), default=0.0)
    q["reserve_pct_worst"] = max(reserve_pct, key=reserve_pct.get) if reserve_pct else ""
    hip_muscles = [side_name(m, s) for members in groups.values() for m in members]
    acts = aw[[m for m in hip_muscles if m in aw]].to_numpy()
    q["max_activation"] = float(acts.max()) if acts.size else float("nan")
    q["n_saturated"] = int((acts.max(axis=0) > 0.99).sum()) if acts.size else 0
    q["peak_hip_flexion_moment_nm_kg"] = float(M[:, 0].max() / mass)
    q["peak_hip_extension_moment_nm_kg"] = float(-M[:, 0].min() / mass)
    q["peak_group_force_n_kg"] = float(F.max() / mass)
    q["peak_group"] = FORCE_COLS[int(F.max(axis=0).argmax())]
    q["exclude"] = _qc_reason(q, settings)
    return q


def _qc_reason(q: dict[str, Any], s: LabelSettings) -> str:
    reasons = []
    if np.isfinite(q["marker_rms_m"]) and q["marker_rms_m"] > s.qc_marker_rms_m:
        reasons.append(f"IK leg-marker RMS {q['marker_rms_m'] * 100:.1f} cm")
    if q["reserve_pct_max"] > s.qc_reserve_pct:
        reasons.append(f"reserve {q['reserve_pct_max']:.0f}% at {q['reserve_pct_worst']}")
    lo, hi = s.qc_hip_moment_nm_per_kg
    peak = max(q["peak_hip_flexion_moment_nm_kg"], q["peak_hip_extension_moment_nm_kg"])
    if not lo <= peak <= hi:
        reasons.append(f"peak hip flexion/extension moment {peak:.2f} Nm/kg")
    if q["peak_group_force_n_kg"] > s.qc_group_force_n_per_kg:
        reasons.append(f"{q['peak_group']} peak {q['peak_group_force_n_kg']:.0f} N/kg")
    return "; ".join(reasons)
