"""The OpenSim steps, one small function each: markers -> scale -> IK -> ID -> SO.

Every function takes file paths, writes its outputs into a work folder and returns their paths;
nothing here knows about datasets or caching (see :mod:`gait2hip.labeling.pipeline`).
OpenSim tools resolve relative paths against their setup file's folder, so setups are
rewritten with bare file names next to symlinks of their inputs (the Windows paths of the
Schreiber setups never reach OpenSim).
"""

from __future__ import annotations

import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gait2hip.io.atomic import atomic_path
from gait2hip.io.osim import import_opensim
from gait2hip.io.storage import read_motion, read_trc


def osim():
    """Import OpenSim lazily (the package works without it for training and prediction).

    Its console log is limited to errors; each step's full log goes to a file in its work
    folder (:func:`opensim_log`).
    """
    try:
        opensim = import_opensim()  # no stray opensim.log in the working directory
    except ImportError as err:  # pragma: no cover - exercised only without opensim
        raise ImportError(
            "building datasets needs OpenSim's Python bindings: pip install opensim"
        ) from err
    if opensim.Logger.getLevelString() != "error" and not _IN_STEP:
        opensim.Logger.setLevelString("error")
    return opensim


_IN_STEP = False


@contextmanager
def opensim_log(path: Path) -> Iterator[None]:
    """Send everything OpenSim prints during one step to ``path`` instead of the console.

    OpenSim logs to the process's stdout from C++, so the file descriptors are redirected.
    """
    import ctypes
    import sys

    global _IN_STEP
    libc = ctypes.CDLL(None)
    os_ = osim()
    _IN_STEP = True
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    saved = os.dup(1), os.dup(2)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os_.Logger.setLevelString("info")
    try:
        yield
    finally:
        os_.Logger.setLevelString("error")
        libc.fflush(None)
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (fd, *saved):
            os.close(f)
        _IN_STEP = False


def link_into(folder: Path, src: Path, name: str | None = None) -> str:
    """Symlink ``src`` into ``folder`` (replacing a stale link); return the bare name."""
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / (name or src.name)
    if dst.is_symlink() or dst.exists():
        if dst.is_symlink() and Path(os.readlink(dst)) == src.resolve():
            return dst.name
        dst.unlink()
    dst.symlink_to(src.resolve())
    return dst.name


@dataclass(frozen=True)
class StepTiming:
    step: str
    seconds: float


class Timer:
    def __init__(self) -> None:
        self.timings: list[StepTiming] = []

    @contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        self.timings.append(StepTiming(step, time.perf_counter() - t0))


# --------------------------------------------------------------------------- models


def add_markers(muscle_model: Path, marker_model: Path, out: Path) -> Path:
    """Copy every marker of ``marker_model`` into ``muscle_model`` (same bodies), save ``out``.

    The Schreiber marker model is the muscle-free Rajagopal skeleton; its skeleton equals
    Rajagopal2016's, so the markers sit on the same bodies at the same places.
    """
    os_ = osim()
    model = os_.Model(str(muscle_model))
    source = os_.Model(str(marker_model))
    existing = {
        model.getMarkerSet().get(i).getName() for i in range(model.getMarkerSet().getSize())
    }
    bodies = model.getBodySet()
    ms = source.getMarkerSet()
    for i in range(ms.getSize()):
        m = ms.get(i)
        if m.getName() in existing:
            continue
        body_name = m.getParentFrameName().split("/")[-1]
        if not bodies.contains(body_name):
            raise ValueError(
                f"{marker_model}: marker {m.getName()} is on body {body_name!r}, "
                f"which {muscle_model.name} lacks"
            )
        marker = os_.Marker(m.getName(), bodies.get(body_name), m.get_location())
        marker.set_fixed(m.get_fixed())
        model.addMarker(marker)
    model.finalizeConnections()
    with atomic_path(out) as tmp:
        tmp_osim = tmp.with_suffix(".osim")
        model.printToXML(str(tmp_osim))
        tmp_osim.replace(tmp)
    return out


def _set(root: ET.Element, path: str, value: str) -> None:
    el = root.find(path)
    if el is None:
        raise ValueError(f"setup file lacks <{path}>")
    el.text = value


def scale_model(
    generic_model: Path,
    setup_xml: Path,
    static_trc: Path,
    mass_kg: float,
    work: Path,
) -> tuple[Path, dict[str, float]]:
    """Run the subject's ScaleTool setup on ``generic_model`` with ``static_trc``.

    Paths in the setup are rewritten to bare names of symlinks in ``work``. Returns the
    scaled, marker-placed model and a small report (marker placement errors, if logged).
    """
    os_ = osim()
    work.mkdir(parents=True, exist_ok=True)
    tree = ET.parse(setup_xml)
    root = tree.getroot()
    st = root.find("ScaleTool")
    if st is None:
        raise ValueError(f"{setup_xml}: no <ScaleTool> element; is this a scale setup file?")
    model_name = link_into(work, generic_model, "generic.osim")
    trc_name = link_into(work, static_trc, "static.trc")
    _set(st, "mass", f"{mass_kg:.6g}")
    _set(st, "GenericModelMaker/model_file", model_name)
    _set(st, "ModelScaler/marker_file", trc_name)
    _set(st, "ModelScaler/output_model_file", "scaled_only.osim")
    _set(st, "ModelScaler/output_scale_file", "scale_set.xml")
    _set(st, "MarkerPlacer/marker_file", trc_name)
    _set(st, "MarkerPlacer/output_model_file", "scaled.osim")
    _set(st, "MarkerPlacer/output_motion_file", "static_motion.mot")
    setup = work / "scale_setup.xml"
    tree.write(setup, encoding="unicode", xml_declaration=True)
    out = work / "scaled.osim"
    out.unlink(missing_ok=True)
    with opensim_log(work / "scale.log"):
        ok = os_.ScaleTool(str(setup)).run()
    if not ok or not out.is_file():
        raise RuntimeError(f"ScaleTool failed for {setup_xml}; see {work / 'scale.log'}")
    return out, {"mass_kg": mass_kg}


# --------------------------------------------------------------------------- IK


def inverse_kinematics(
    model: Path,
    trc: Path,
    work: Path,
    *,
    t0: float | None = None,
    t1: float | None = None,
    task_setup: Path | None = None,
    accuracy: float = 1e-5,
) -> tuple[Path, Path]:
    """IK over ``[t0, t1]`` (default: the whole marker file) with the task weights of
    ``task_setup`` (an IK setup XML) or weight 1 for every model marker in the file.

    Returns the motion (degrees) and the marker-error report; the model marker locations
    are written next to them (``ik_ik_model_marker_locations.sto``) for :func:`marker_errors`.
    """
    os_ = osim()
    work.mkdir(parents=True, exist_ok=True)
    tool = os_.InverseKinematicsTool(str(task_setup)) if task_setup else os_.InverseKinematicsTool()
    m = os_.Model(str(model))
    markers = read_trc(trc)
    if task_setup is None:
        tasks = tool.getIKTaskSet()
        names = set(markers.names)
        for i in range(m.getMarkerSet().getSize()):
            name = m.getMarkerSet().get(i).getName()
            if name in names:
                task = os_.IKMarkerTask()
                task.setName(name)
                task.setWeight(1.0)
                tasks.cloneAndAppend(task)
    tool.setModel(m)
    tool.set_model_file(str(model))
    tool.setMarkerDataFileName(str(trc))
    trc_time = markers.time
    tool.setStartTime(float(trc_time[0] if t0 is None else t0))
    tool.setEndTime(float(trc_time[-1] if t1 is None else t1))
    tool.set_accuracy(accuracy)
    tool.set_report_errors(True)
    tool.set_report_marker_locations(True)  # per-marker errors: see marker_errors()
    tool.setResultsDir(str(work))
    tool.setName("ik")
    out = work / "ik.mot"
    tool.setOutputMotionFileName(str(out))
    with opensim_log(work / "ik.log"):
        ok = tool.run()
    errors = work / "ik_ik_marker_errors.sto"
    if not ok or not out.is_file():
        raise RuntimeError(f"IK failed for {trc}; see {work / 'ik.log'}")
    return out, errors


LEG_BODIES = ("pelvis", "femur", "patella", "tibia", "talus", "calcn", "toes")


def marker_errors(model: Path, trc: Path, locations: Path) -> pd.DataFrame:
    """Per-frame IK marker error (m) over all tracked markers and over the markers on the
    pelvis and legs only (``leg_rms``): the upper body's markers do not move the hips, so
    the leg RMS is what QC of hip labels looks at."""
    os_ = osim()
    m = os_.Model(str(model))
    ms = m.getMarkerSet()
    body_of = {
        ms.get(i).getName(): ms.get(i).getParentFrameName().split("/")[-1]
        for i in range(ms.getSize())
    }
    loc = read_motion(locations).data
    exp = read_trc(trc)
    exp_m = exp.in_metres()
    t = loc["time"].to_numpy()
    idx = np.searchsorted(exp.time, t - 1e-6)
    sq_all, sq_leg = [], []
    for name, body in body_of.items():
        cols = [f"{name}_tx", f"{name}_ty", f"{name}_tz"]
        if name not in exp_m or not all(c in loc for c in cols):
            continue
        err2 = ((loc[cols].to_numpy() - exp_m[name][idx]) ** 2).sum(axis=1)
        sq_all.append(err2)
        if body.startswith(LEG_BODIES):
            sq_leg.append(err2)
    all_ = np.array(sq_all)
    leg = np.array(sq_leg) if sq_leg else all_
    return pd.DataFrame(
        {
            "time": t,
            "rms": np.sqrt(np.nanmean(all_, axis=0)),
            "max": np.sqrt(np.nanmax(all_, axis=0)),
            "leg_rms": np.sqrt(np.nanmean(leg, axis=0)),
            "leg_max": np.sqrt(np.nanmax(leg, axis=0)),
        }
    )


# --------------------------------------------------------------------------- ID


def inverse_dynamics(
    model: Path,
    coordinates: Path,
    external_loads: Path,
    work: Path,
    *,
    t0: float,
    t1: float,
    lowpass_hz: float,
) -> Path:
    """Net joint moments (N·m) and forces (N) over ``[t0, t1]``; muscles excluded.

    ``lowpass_hz`` low-pass filters the coordinates inside OpenSim (4th-order, zero lag);
    the external loads file should already be filtered at the same cut-off.
    """
    os_ = osim()
    work.mkdir(parents=True, exist_ok=True)
    tool = os_.InverseDynamicsTool()
    m = os_.Model(str(model))  # keep a Python reference: the tool does not own it
    tool.setModel(m)
    tool.setCoordinatesFileName(str(coordinates))
    tool.setLowpassCutoffFrequency(lowpass_hz)
    tool.setExternalLoadsFileName(str(external_loads))
    tool.setStartTime(t0)
    tool.setEndTime(t1)
    excluded = os_.ArrayStr()
    excluded.append("Muscles")
    excluded.append("Actuators")
    tool.setExcludedForces(excluded)
    tool.setResultsDir(str(work))
    tool.setOutputGenForceFileName("id.sto")
    out = work / "id.sto"
    out.unlink(missing_ok=True)
    with opensim_log(work / "id.log"):
        ok = tool.run()
    if not ok or not out.is_file():
        raise RuntimeError(f"ID failed for {coordinates}; see {work / 'id.log'}")
    return out


# --------------------------------------------------------------------------- SO


@dataclass(frozen=True)
class ActuatorPlan:
    reserves: dict[str, float]  # coordinate -> optimal force of its reserve
    residuals: dict[str, float]  # pelvis coordinate -> optimal force


def plan_actuators(
    model: Path,
    *,
    reserve_optimal_force: float,
    residual_optimal_force: float,
    other_optimal_force: float,
) -> ActuatorPlan:
    """Reserves on every free coordinate that muscles span; residuals on the root joint's
    coordinates; an actuator (``other_optimal_force``) on free coordinates with neither muscles
    nor an actuator (arms in gait2392 models). Locked and coupled coordinates get none."""
    os_ = osim()
    m = os_.Model(str(model))
    state = m.initSystem()
    actuated: set[str] = set()
    for i in range(m.getForceSet().getSize()):
        f = m.getForceSet().get(i)
        ca = os_.CoordinateActuator.safeDownCast(f)
        if ca is not None:
            actuated.add(ca.get_coordinate())
    spanned: set[str] = set()
    coords = m.getCoordinateSet()
    muscles = m.getMuscles()
    for c in range(coords.getSize()):
        coord = coords.get(c)
        if coord.getLocked(state) or coord.isDependent(state):
            continue
        for k in range(muscles.getSize()):
            if abs(muscles.get(k).computeMomentArm(state, coord)) > 1e-9:
                spanned.add(coord.getName())
                break
    root = m.getJointSet().get(0)
    root_coords = {root.get_coordinates(i).getName() for i in range(root.numCoordinates())}
    reserves: dict[str, float] = {}
    residuals: dict[str, float] = {}
    for c in range(coords.getSize()):
        coord = coords.get(c)
        name = coord.getName()
        if coord.getLocked(state) or coord.isDependent(state) or name in actuated:
            continue
        if name in root_coords:
            residuals[name] = residual_optimal_force
        elif name in spanned:
            reserves[name] = reserve_optimal_force
        else:
            reserves[name] = other_optimal_force
    return ActuatorPlan(reserves, residuals)


def model_for_so(
    model: Path, plan: ActuatorPlan, out: Path, *, strength_scale: float = 1.0
) -> Path:
    """Copy of ``model`` with the planned reserve/residual actuators and muscle max isometric
    forces multiplied by ``strength_scale``."""
    os_ = osim()
    m = os_.Model(str(model))
    for name, fopt in {**plan.residuals, **plan.reserves}.items():
        act = os_.CoordinateActuator(name)
        prefix = "residual" if name in plan.residuals else "reserve"
        act.setName(f"{prefix}_{name}")
        act.setOptimalForce(fopt)
        act.setMinControl(-np.inf)
        act.setMaxControl(np.inf)
        m.addForce(act)
    if strength_scale != 1.0:
        muscles = m.updMuscles()
        for k in range(muscles.getSize()):
            mus = muscles.get(k)
            mus.setMaxIsometricForce(mus.getMaxIsometricForce() * strength_scale)
    m.finalizeConnections()
    m.printToXML(str(out))
    return out


def static_optimization(
    model: Path,
    coordinates: Path,
    external_loads: Path,
    work: Path,
    *,
    t0: float,
    t1: float,
    lowpass_hz: float,
    activation_exponent: float = 2.0,
    convergence: float = 1e-4,
    max_iterations: int = 200,
) -> tuple[Path, Path]:
    """OpenSim static optimization over ``[t0, t1]``: returns (forces .sto, activations .sto).

    Forces are muscle tendon forces in N (rigid tendon, force-length-velocity, passive fibre
    force, pennation: OpenSim's ``use_muscle_physiology``) and actuator forces (reserve
    torque = control × optimal force).
    """
    os_ = osim()
    work.mkdir(parents=True, exist_ok=True)
    # the tool is reloaded from its setup file, which resolves relative paths against itself
    model, coordinates, external_loads = (
        Path(p).resolve() for p in (model, coordinates, external_loads)
    )
    tool = os_.AnalyzeTool()
    tool.setName("so")
    # let the tool load model, coordinates and external loads itself (as from a setup file)
    tool.setModelFilename(str(model))
    tool.setCoordinatesFileName(str(coordinates))
    tool.setLowpassCutoffFrequency(lowpass_hz)
    tool.setExternalLoadsFileName(str(external_loads))
    tool.setInitialTime(t0)
    tool.setFinalTime(t1)
    tool.setResultsDir(str(work))
    so = os_.StaticOptimization()
    so.setStartTime(t0)
    so.setEndTime(t1)
    so.setUseModelForceSet(True)
    so.setActivationExponent(activation_exponent)
    so.setUseMusclePhysiology(True)
    so.setConvergenceCriterion(convergence)
    so.setMaxIterations(max_iterations)
    tool.getAnalysisSet().cloneAndAppend(so)
    # a tool built from its setup file loads model, coordinates and loads itself
    setup = work / "so_setup.xml"
    tool.printToXML(str(setup))
    tool = os_.AnalyzeTool(str(setup))
    forces = work / "so_StaticOptimization_force.sto"
    acts = work / "so_StaticOptimization_activation.sto"
    forces.unlink(missing_ok=True)
    with opensim_log(work / "so.log"):
        ok = tool.run()
    if not ok or not forces.is_file():
        raise RuntimeError(f"static optimization failed for {coordinates}; see {work / 'so.log'}")
    return forces, acts
