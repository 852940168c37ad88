"""Fast static optimization: OpenSim's problem, solved for all frames of a trial at once.

What OpenSim's ``StaticOptimization`` (4.x, ``use_muscle_physiology``) solves at each frame,
read from its source (``StaticOptimizationTarget``):

* every actuator's force is ``control x capacity``; a muscle's capacity is
  ``calcInextensibleTendonActiveFiberForce(s, 1)`` = max isometric force x active
  force-length x force-velocity x a pennation factor with a rigid tendon, evaluated at the
  frame's coordinates and speeds (each muscle class has its own curves: Millard2012's and
  Thelen2003's, :class:`_Capacity`); a coordinate actuator's is its optimal force;
* the actuation *overrides* the muscle's force, so passive fibre force is not applied;
* the cost is ``sum |control|^p`` (p = activation exponent, 2 by default) with bounds from
  each actuator's min/max control (Rajagopal's muscles: 0.01..1);
* the constraint is that the model's accelerations equal the splined kinematics' at every
  unconstrained coordinate — equivalently, actuator generalized forces equal the inverse
  dynamics generalized forces, which is how this module writes it.

Here the inputs of that problem are computed in one pass over the frames with OpenSim (muscle
capacities at the frame's state, muscle-tendon lengths, and moment arms as the generalized
forces of a unit tension along each path, as OpenSim's dynamics applies them), the generalized
forces come from OpenSim's inverse dynamics of the same kinematics, and
:func:`gait2hip.labeling.so_solver.solve_so` solves every frame at once. Kinematics are
prepared exactly as OpenSim's AnalyzeTool prepares them (pad, IIR low-pass, radians,
speeds from the quintic spline OpenSim's GCV spline is at zero error variance).
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.interpolate import CubicHermiteSpline

from gait2hip.io.atomic import write_npz_fast
from gait2hip.io.storage import read_motion, write_motion
from gait2hip.labeling import opensim_steps as st
from gait2hip.labeling.opensim_signal import (
    analyze_tool_lowpass,
    natural_quintic_spline,
    rotational_columns,
)
from gait2hip.labeling.so_solver import solve_so

FORCE_FILE = "so_StaticOptimization_force.sto"
ACTIVATION_FILE = "so_StaticOptimization_activation.sto"
GEOMETRY_FILE = "so_geometry.npz"


class UnsupportedModelError(ValueError):
    """The model holds something the fast solver does not reproduce exactly."""


@dataclass
class SOInputs:
    """Everything one trial's SO problem needs, per frame."""

    time: np.ndarray  # (T,)
    coordinates: list[str]  # free coordinates with an acceleration constraint (C)
    muscles: list[str]  # (M)
    actuators: list[str]  # coordinate actuators (K), in model order
    actuator_coordinate: list[str]
    actuator_force: np.ndarray  # (K,) optimal force
    capacity: np.ndarray  # (T, M) N at full activation
    moment_arm: np.ndarray  # (T, M, C) m
    length: np.ndarray  # (T, M) muscle-tendon length, m
    speed: np.ndarray  # (T, M) lengthening speed, m/s
    tau: np.ndarray  # (T, C) inverse-dynamics generalized forces
    lower: np.ndarray  # (M + K,)
    upper: np.ndarray  # (M + K,)
    order: list[str] = field(default_factory=list)  # all actuators in the model's order
    timings: dict[str, float] = field(default_factory=dict)

    def matrix(self) -> np.ndarray:
        """(T, C, M + K): generalized force of each actuator at unit control."""
        T, M, C = self.moment_arm.shape
        K = len(self.actuators)
        A = np.zeros((T, C, M + K))
        A[:, :, :M] = np.transpose(self.moment_arm * self.capacity[:, :, None], (0, 2, 1))
        for k, coord in enumerate(self.actuator_coordinate):
            if coord in self.coordinates:  # one on a locked coordinate does nothing (control 0)
                A[:, self.coordinates.index(coord), M + k] = self.actuator_force[k]
        return A


# --------------------------------------------------------------------------- kinematics


def so_kinematics(
    model,
    coordinates: Path,
    lowpass_hz: float,
    t0: float,
    t1: float,
) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """(time, q, u) at the coordinate file's frames over ``[t0, t1]``, prepared as OpenSim's
    AnalyzeTool prepares them for SO: pad by half the length, IIR low-pass, degrees to
    radians, q = the filtered values, u = derivative of a quintic GCV spline through them.

    The padding and filter are OpenSim's ``Storage`` methods redone in numpy
    (:mod:`gait2hip.labeling.opensim_signal`, resampling included where the time steps are
    not uniform). AnalyzeTool's ``GCVSplineSet(5, ·)`` has zero error variance, so each
    spline interpolates: it is the natural quintic interpolating spline (3rd and 4th
    derivatives zero at both ends), which scipy builds for all columns in one banded solve:
    equal to OpenSim's derivatives (tested against ``GCVSplineSet`` in
    ``tests/test_fast_so.py``) without OpenSim's per-spline fit and first-evaluation cost
    (docs/fast_so.md)."""
    os_ = st.osim()
    sto = os_.Storage(str(coordinates))
    q = _frame(sto)
    t, values = q.index.to_numpy(), q.to_numpy(dtype=float, copy=True)
    if lowpass_hz >= 0:
        t, values = analyze_tool_lowpass(t, values, lowpass_hz)
    if sto.isInDegrees():
        # SimTK_DEGREE_TO_RADIAN (pi / 180 in long double) rounds to the same double
        values[:, rotational_columns(model, list(q.columns))] *= np.pi / 180
    q = pd.DataFrame(values, columns=q.columns, index=pd.Index(t, name="time"))
    # AnalyzeTool starts at the last frame at or before t0 ("the closest earlier set of
    # states is used") and records every frame up to t1
    first = t[t <= t0 + 1e-9].max(initial=t[0])
    keep = (t >= first - 1e-12) & (t <= t1 + 1e-9)
    u = natural_quintic_spline(t, values)(t[keep], 1)
    q = q[keep]
    return q.index.to_numpy(), q, pd.DataFrame(u, index=q.index, columns=q.columns)


def _frame(storage) -> pd.DataFrame:
    """An OpenSim Storage as a DataFrame indexed by time (row by row: ``getDataColumn`` is
    unreliable on a padded Storage)."""
    times, rows = [], []
    for i in range(storage.getSize()):
        row = storage.getStateVector(i)
        data = row.getData()
        times.append(row.getTime())
        rows.append(data.getAsVector().to_numpy()[: data.getSize()].copy())
    labels = storage.getColumnLabels()
    return pd.DataFrame(
        np.array(rows),
        columns=[labels.get(i) for i in range(1, labels.getSize())],
        index=pd.Index(np.array(times), name="time"),
    )


# --------------------------------------------------------------------------- geometry


def _coupled(model, state) -> dict[str, list[tuple[str, object]]]:
    """independent coordinate -> [(dependent coordinate, coupler function)]."""
    os_ = st.osim()
    out: dict[str, list[tuple[str, object]]] = {}
    cs = model.getConstraintSet()
    for i in range(cs.getSize()):
        c = os_.CoordinateCouplerConstraint.safeDownCast(cs.get(i))
        if c is None or not c.isEnforced(state):
            continue
        indep = c.getIndependentCoordinateNames()
        if indep.getSize() != 1:
            raise UnsupportedModelError(
                f"coupler constraint {c.getName()} has {indep.getSize()} independent coordinates;"
                " the fast solver handles one"
            )
        out.setdefault(indep.get(0), []).append((c.getDependentCoordinateName(), c.getFunction()))
    return out


class _Poser:
    """Sets coordinate values on one state, moving coupled coordinates with them."""

    def __init__(self, model, state):
        self.state = state
        cs = model.getCoordinateSet()
        self.coord = {cs.get(i).getName(): cs.get(i) for i in range(cs.getSize())}
        self.coupled = _coupled(model, state)
        self.os = st.osim()

    def set(self, values: dict[str, float]) -> None:
        for name, v in values.items():
            self.coord[name].setValue(self.state, float(v), False)
            for dep, fn in self.coupled.get(name, ()):
                value = fn.calcValue(self.os.Vector(1, float(v)))
                self.coord[dep].setValue(self.state, value, False)

    def coupling_slope(self, dep_fn, value: float) -> float:
        h = 1e-6
        f = dep_fn.calcValue
        return (f(self.os.Vector(1, value + h)) - f(self.os.Vector(1, value - h))) / (2 * h)


def unsupported(model, *, muscles: bool = True) -> str | None:
    """Why the fast solver cannot reproduce OpenSim's SO for ``model`` (an OpenSim Model), or
    None: it handles coordinate actuators and, with ``muscles``, the muscle models in
    :data:`SUPPORTED_MUSCLES` (``muscles=False``: geometry only, any muscle model)."""
    os_ = st.osim()
    forces = model.getForceSet()
    for i in range(forces.getSize()):
        f = forces.get(i)
        if not f.get_appliesForce():
            continue
        kind = f.getConcreteClassName()
        muscle = os_.Muscle.safeDownCast(f) is not None
        if muscle and muscles and kind not in SUPPORTED_MUSCLES:
            return (
                f"muscle {f.getName()} is a {kind}; the fast static optimization reproduces "
                f"OpenSim's only for {', '.join(SUPPORTED_MUSCLES)} (rigid-tendon capacity)"
            )
        actuator = os_.Actuator.safeDownCast(f) is not None
        if actuator and not muscle and os_.CoordinateActuator.safeDownCast(f) is None:
            return (
                f"actuator {f.getName()} is a {kind}; the fast static optimization handles "
                "muscles and coordinate actuators only"
            )
    return None


@functools.lru_cache(maxsize=32)
def _supports(path: str, mtime_ns: int) -> bool:
    return unsupported(st.osim().Model(path)) is None


def supports(model_path: str | Path) -> bool:
    """Whether the fast solver reproduces OpenSim's SO for the model file (by its muscle and
    actuator classes; scaling and added reserve actuators do not change the answer)."""
    path = Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"model {path} not found")
    return _supports(str(path.resolve()), path.stat().st_mtime_ns)


#: Points of a tabulated muscle curve over its domain (Hermite cubic through OpenSim's values
#: and slopes: within ~1e-10 of ``calcValue`` for Millard's default curves).
CURVE_POINTS = 4097
_CURVES: dict[tuple, tuple[float, float, CubicHermiteSpline]] = {}


def _tabulated(curve) -> tuple[float, float, CubicHermiteSpline]:
    """(lower, upper, interpolant) of one of a muscle's normalized curves, built once per process
    for each distinct curve (by class and property values: a model's muscles share a few)."""
    props = curve.getPropertyByIndex
    key = (
        curve.getConcreteClassName(),
        tuple(props(i).toString() for i in range(curve.getNumProperties())),
    )
    if key not in _CURVES:
        domain = curve.getCurveDomain()
        lo, hi = domain.get(0), domain.get(1)
        x = np.linspace(lo, hi, CURVE_POINTS)
        y = [curve.calcValue(float(v)) for v in x]
        dy = [curve.calcDerivative(float(v), 1) for v in x]
        _CURVES[key] = (lo, hi, CubicHermiteSpline(x, y, dy))
    return _CURVES[key]


class _MillardCapacity:
    """Muscle capacities (N at full activation) from path lengths and lengthening speeds, for all
    frames at once: what ``Millard2012EquilibriumMuscle.calcInextensibleTendonActiveFiberForce(s,
    1)`` computes from the same two numbers (rigid tendon, fixed-width pennation):

    ``l_f = sqrt(h^2 + (l_mt - l_ts)^2)``, ``cos(phi) = (l_mt - l_ts) / l_f``,
    ``v_f = v_mt cos(phi)``, capacity ``= F_iso f_L(l_f / l_opt) f_V(v_f / (l_opt v_max)) c``

    with ``h = l_opt sin(phi_opt)``, OpenSim's own curves tabulated once (:func:`_tabulated`)
    and ``c = cos(asin(h / (l_f / l_opt)))``: OpenSim 4.6 returns the pennation factor of the
    *normalized* fibre length there (found by matching its output to 1e-10; ~1 for these
    muscles, not ``cos(phi)``). A muscle-frame this does not cover exactly (fibre within 0.1 %
    of its minimum length, where OpenSim clamps; a normalized length or velocity outside a
    curve's domain) is NaN: the caller asks OpenSim there."""

    def __init__(self, muscles):
        os_ = st.osim()
        millard = [os_.Millard2012EquilibriumMuscle.safeDownCast(m) for m in muscles]
        self.f_iso = np.array([m.getMaxIsometricForce() for m in millard])
        self.l_opt = np.array([m.getOptimalFiberLength() for m in millard])
        self.l_ts = np.array([m.getTendonSlackLength() for m in millard])
        self.v_max = np.array([m.getMaxContractionVelocity() for m in millard])
        pennation = np.array([m.getPennationAngleAtOptimalFiberLength() for m in millard])
        self.height = self.l_opt * np.sin(pennation)
        self.l_min = np.array([m.getMinimumFiberLength() for m in millard])
        self.curves = [  # (active force-length, force-velocity) per muscle
            (_tabulated(m.get_ActiveForceLengthCurve()), _tabulated(m.get_ForceVelocityCurve()))
            for m in millard
        ]

    def __call__(self, length: np.ndarray, speed: np.ndarray) -> np.ndarray:
        along = length - self.l_ts  # fibre length along the tendon
        fibre = np.sqrt(self.height**2 + along**2)
        cos_phi = along / fibre
        norm_length = fibre / self.l_opt
        norm_speed = speed * cos_phi / (self.l_opt * self.v_max)
        # the pennation factor as OpenSim 4.6 computes it (see the class docstring): within
        # 0.2 % of 1 for Rajagopal's muscles (tests/test_fast_so.py checks every frame)
        cos_force = np.sqrt(1.0 - np.minimum((self.height / norm_length) ** 2, 1.0))
        out = np.full(length.shape, np.nan)
        exact = (along > 0) & (fibre > 1.001 * self.l_min)
        for j, ((l_lo, l_hi, f_l), (v_lo, v_hi, f_v)) in enumerate(self.curves):
            ok = exact[:, j] & (norm_length[:, j] >= l_lo) & (norm_length[:, j] <= l_hi)
            ok &= (norm_speed[:, j] >= v_lo) & (norm_speed[:, j] <= v_hi)
            out[ok, j] = (
                self.f_iso[j] * f_l(norm_length[ok, j]) * f_v(norm_speed[ok, j]) * cos_force[ok, j]
            )
        return out


class _ThelenCapacity:
    """Muscle capacities (N at full activation) of ``Thelen2003Muscle`` s from path lengths and
    lengthening speeds, for all frames at once: what OpenSim 4.6's
    ``Thelen2003Muscle.calcInextensibleTendonActiveFiberForce(s, 1)`` computes from the same two
    numbers (a rigid-tendon formula of its own; it reads no muscle state):

    ``l_f = sqrt(h^2 + (l_mt - l_ts)^2)``, ``cos(phi) = sqrt(1 - (h / l_f)^2)``,
    ``v = v_mt cos(phi) / (l_opt v_max)``, capacity ``= F_iso f_L(l_f / l_opt) f_V(v) cos(phi)``

    with Thelen's Gaussian ``f_L = exp(-(l - 1)^2 / KshapeActive)`` and ``f_V`` the inverse of
    Thelen's (2003) eqs. 6-7 at activation 1 (linearly extrapolated past
    ``fv_linear_extrap_threshold x Flen``; 0 at or past the concentric asymptote, as OpenSim
    clamps it). OpenSim inverts those equations by
    Newton's method to 1e-6 in normalized velocity; the closed form here is their exact inverse
    (the two agree to ~1e-9 relative, see tests/test_fast_so.py). A fibre within 0.1 % of the
    pennation model's minimum length (where OpenSim returns 0) is NaN: the caller asks OpenSim.
    """

    def __init__(self, muscles):
        os_ = st.osim()
        thelen = [os_.Thelen2003Muscle.safeDownCast(m) for m in muscles]

        def each(get) -> np.ndarray:
            return np.array([get(m) for m in thelen], dtype=float)

        self.f_iso = each(lambda m: m.getMaxIsometricForce())
        self.l_opt = each(lambda m: m.getOptimalFiberLength())
        self.l_ts = each(lambda m: m.getTendonSlackLength())
        self.v_max = each(lambda m: m.getMaxContractionVelocity())
        self.height = each(lambda m: m.getPennationModel().getParallelogramHeight())
        self.l_min = each(lambda m: m.getPennationModel().getMinimumFiberLength())
        self.k_active = each(lambda m: m.get_KshapeActive())
        self.af = each(lambda m: m.get_Af())
        self.flen = each(lambda m: m.get_Flen())
        self.threshold = each(lambda m: m.get_fv_linear_extrap_threshold())

    def force_velocity(self, v: np.ndarray) -> np.ndarray:
        """Thelen's force-velocity multiplier at activation 1 (so at ``0.25 + 0.75 a = 1``) for
        normalized fibre velocity ``v`` (lengthening positive): eq. 6-7 inverted in closed form,
        with OpenSim's linear extrapolation past the eccentric threshold."""
        af, flen, thr = self.af, self.flen, self.threshold
        k = (2.0 + 2.0 / af) / (flen - 1.0)  # eccentric: b = k (flen - fv)
        concentric = (1.0 + v) / (1.0 - v / af)
        eccentric = (1.0 + v * k * flen) / (1.0 + v * k)
        # above fv = thr x flen: eq. 6's value and slope there, extended linearly
        f0 = thr * flen
        b0 = k * (flen - f0)
        v0 = (f0 - 1.0) / b0
        slope = 1.0 / b0 + k * (f0 - 1.0) / b0**2
        fast = f0 + (v - v0) / slope
        # at or past the concentric asymptote (v <= -1) OpenSim's extrapolation goes negative
        # and it returns max(0, fv)
        return np.where(
            v <= -1.0, 0.0, np.where(v <= 0.0, concentric, np.where(v < v0, eccentric, fast))
        )

    def __call__(self, length: np.ndarray, speed: np.ndarray) -> np.ndarray:
        along = length - self.l_ts
        fibre = np.sqrt(self.height**2 + along**2)
        cos_phi = np.sqrt(1.0 - np.minimum((self.height / fibre) ** 2, 1.0))
        norm_speed = speed * cos_phi / (self.l_opt * self.v_max)
        f_l = np.exp(-((fibre / self.l_opt - 1.0) ** 2) / self.k_active)
        out = self.f_iso * f_l * self.force_velocity(norm_speed) * cos_phi
        return np.where(fibre > 1.001 * self.l_min, out, np.nan)


#: Muscle class -> its rigid-tendon capacity (see each class).
_CAPACITY = {
    "Millard2012EquilibriumMuscle": _MillardCapacity,
    "Thelen2003Muscle": _ThelenCapacity,
}
#: Muscle models whose SO capacity (``calcInextensibleTendonActiveFiberForce``) the fast solver
#: computes exactly from path length and lengthening speed: each has its own rigid-tendon
#: formula in OpenSim 4.6 and reads no muscle state. Others are refused.
SUPPORTED_MUSCLES = tuple(_CAPACITY)


class _Capacity:
    """Capacities of a model's muscles, each by its class's formula."""

    def __init__(self, muscles):
        kinds = [m.getConcreteClassName() for m in muscles]
        self.parts = []
        for kind in sorted(set(kinds)):
            index = np.array([j for j, k in enumerate(kinds) if k == kind])
            self.parts.append((index, _CAPACITY[kind]([muscles[j] for j in index])))

    def __call__(self, length: np.ndarray, speed: np.ndarray) -> np.ndarray:
        out = np.empty(length.shape)
        for index, part in self.parts:
            out[:, index] = part(length[:, index], speed[:, index])
        return out


class _SOModel:
    """An SO model ready for the geometry pass: OpenSim's Model with an initialized state, its
    muscles and coordinate actuators, where each coordinate sits in the state's Q and U, its
    couplers, and the coordinates muscles act on."""

    def __init__(self, path: Path):
        os_ = st.osim()
        self.model = os_.Model(str(path))
        self.state = self.model.initSystem()
        geometry_problem = unsupported(self.model, muscles=False)
        if geometry_problem:
            raise UnsupportedModelError(f"{path}: {geometry_problem}")
        self.so_problem = unsupported(self.model)
        self.poser = _Poser(self.model, self.state)
        muscles = self.model.getMuscles()
        self.muscle_objs = [
            muscles.get(i) for i in range(muscles.getSize()) if muscles.get(i).get_appliesForce()
        ]
        self.muscles = [mu.getName() for mu in self.muscle_objs]
        self.capacity = None if self.so_problem else _Capacity(self.muscle_objs)
        self.paths = [mu.getGeometryPath() for mu in self.muscle_objs]
        self.order: list[str] = []
        self.actuators: list[str] = []
        self.act_coord: list[str] = []
        self.act_force: list[float] = []
        self.a_lo: list[float] = []
        self.a_hi: list[float] = []
        acts = self.model.getActuators()
        for i in range(acts.getSize()):
            a = acts.get(i)
            if not a.get_appliesForce():
                continue
            self.order.append(a.getName())
            if os_.Muscle.safeDownCast(a) is not None:
                continue
            ca = os_.CoordinateActuator.safeDownCast(a)
            self.actuators.append(ca.getName())
            self.act_coord.append(ca.get_coordinate())
            self.act_force.append(ca.getOptimalForce())
            self.a_lo.append(ca.getMinControl())
            self.a_hi.append(ca.getMaxControl())
        self.m_lo = [mu.getMinControl() for mu in self.muscle_objs]
        self.m_hi = [mu.getMaxControl() for mu in self.muscle_objs]
        cs = self.model.getCoordinateSet()
        self.coordinates = [cs.get(i).getName() for i in range(cs.getSize())]
        self.free = [c for c in self.coordinates if not cs.get(c).isConstrained(self.state)]
        self.dependent = {dep for deps in self.poser.coupled.values() for dep, _ in deps}
        # Coordinate.setValue leaves a locked coordinate where it is; so does the pass
        self.locked = {c for c in self.coordinates if cs.get(c).getLocked(self.state)}
        self.q_index = _state_indices(self.poser, self.state, "Q")
        self.u_index = _state_indices(self.poser, self.state, "U")
        self.q0 = self.state.getQ().to_numpy().copy()
        self.matter = self.model.getMatterSubsystem()
        self.n_bodies = self.model.getBodySet().getSize() + 1  # + ground
        # plain path points only: no path applies mobility forces (moving points would)
        self.mobility_free = all(
            p.getPathPointSet().get(k).getConcreteClassName() == "PathPoint"
            for p in self.paths
            for k in range(p.getPathPointSet().getSize())
        )
        # a muscle's lengthening speed is the power of its unit tension, -(generalized forces)
        # . u, where its path has plain points and at most one wrap object (equal to
        # getLengtheningSpeed within 1e-14 m/s); OpenSim computes it otherwise (over two wrap
        # objects, e.g. Rajagopal's gastrocnemii, the two differ by up to 9 mm/s)
        self.speed_by_power = np.array(
            [self.mobility_free and p.getWrapSet().getSize() <= 1 for p in self.paths]
        )

    def release(self) -> None:
        """Drop the handles into the model before the model itself (a state or component
        handle that outlives its model crashes the interpreter when it is freed)."""
        for name in ("paths", "muscle_objs", "poser", "matter", "state"):
            self.__dict__.pop(name, None)
        self.__dict__.pop("model", None)


#: A moment arm below this (m) counts as "the muscle does not cross the coordinate".
SPANNED_M = 1e-9
_MODELS: dict[str, _SOModel] = {}
_MODELS_LOCK = threading.Lock()


def _so_model(path: Path) -> _SOModel:
    """The loaded model of ``path``; a process keeps the last two (by file content: the trials
    of one subject share their scaled model, and loading costs ~60 ms)."""
    key = hashlib.sha1(Path(path).read_bytes()).hexdigest()
    if key not in _MODELS:
        while len(_MODELS) >= 2:
            _MODELS.pop(next(iter(_MODELS))).release()
        _MODELS[key] = _SOModel(Path(path))
    return _MODELS[key]


@atexit.register
def _release_models() -> None:
    """Free the kept models before the interpreter tears OpenSim down (in arbitrary order)."""
    while _MODELS:
        _MODELS.popitem()[1].release()


def _one_pass_at_a_time(fn):
    """Serialise calls in a process: they share one loaded model and its state."""

    @functools.wraps(fn)
    def locked(*args, **kwargs):
        with _MODELS_LOCK:
            return fn(*args, **kwargs)

    return locked


@_one_pass_at_a_time
def muscle_geometry(
    model_path: Path,
    coordinates: Path,
    id_path: Path,
    *,
    t0: float,
    t1: float,
    lowpass_hz: float,
    with_capacity: bool = True,
) -> SOInputs:
    """The SO problem of one trial over ``[t0, t1]`` (see the module docstring).

    ``with_capacity=False`` skips the muscle capacities (and the muscle-model check): moment arms,
    lengths and speeds only, for any muscle model."""
    timings: dict[str, float] = {}
    tic = time.perf_counter()
    sm = _so_model(model_path)
    if with_capacity and sm.so_problem:
        raise UnsupportedModelError(
            f"{model_path}: {sm.so_problem}. Label this model with so_solver='opensim'."
        )
    timings["model"] = time.perf_counter() - tic
    tic = time.perf_counter()
    times, q, u = so_kinematics(sm.model, coordinates, lowpass_hz, t0, t1)
    missing = [c for c in sm.coordinates if c not in q]
    if missing:
        raise ValueError(f"{coordinates}: no column for coordinates {missing}")
    timings["kinematics"] = time.perf_counter() - tic

    # inverse dynamics generalized forces at the same frames; a dependent coordinate's force
    # acts on its independent coordinate through the coupling slope
    tic = time.perf_counter()
    id_data = read_motion(id_path).data
    t_id = id_data["time"].to_numpy(dtype=float)
    if t_id[0] > times[0] + 1e-6 or t_id[-1] < times[-1] - 1e-6:
        raise ValueError(
            f"{id_path}: inverse dynamics covers {t_id[0]:.3f}-{t_id[-1]:.3f} s, "
            f"static optimization needs {times[0]:.3f}-{times[-1]:.3f} s"
        )

    def id_column(coord: str) -> np.ndarray:
        for suffix in ("_moment", "_force"):
            if coord + suffix in id_data:
                return np.interp(times, t_id, id_data[coord + suffix].to_numpy(dtype=float))
        raise ValueError(f"{id_path}: no generalized force for coordinate {coord}")

    poser, free = sm.poser, sm.free
    tau = np.stack([id_column(c) for c in free], axis=1)
    slopes = {}  # (independent, dependent) -> per-frame coupling slope
    for c, deps in poser.coupled.items():
        for dep, fn in deps:
            slopes[c, dep] = np.array([poser.coupling_slope(fn, v) for v in q[c].to_numpy()])
            if c in free:
                tau[:, free.index(c)] += slopes[c, dep] * id_column(dep)
    timings["inverse_dynamics_read"] = time.perf_counter() - tic

    tic = time.perf_counter()
    Q, U = _state_values(sm, q, u)
    capacity, length, speed, general = _geometry_pass(sm, Q, U, with_capacity)
    # a muscle's moment arms are the generalized forces of a unit tension along its path
    # (GeometryPath.addInEquivalentForces, then J^T): what OpenSim's computeMomentArm and its
    # dynamics use, for every coordinate at once. (-dL/dq differs for paths over several
    # wrap objects, e.g. Rajagopal's gastrocnemii at the knee and adductors at the hip.)
    # A dependent coordinate's generalized force acts on its independent one (chain rule).
    moment_arm = general[:, :, [sm.u_index[c] for c in free]]
    for (c, dep), slope in slopes.items():
        if c in free:
            moment_arm[:, :, free.index(c)] += slope[:, None] * general[:, :, sm.u_index[dep]]
    timings["geometry"] = time.perf_counter() - tic
    return SOInputs(
        time=times,
        coordinates=free,
        muscles=list(sm.muscles),
        actuators=list(sm.actuators),
        actuator_coordinate=list(sm.act_coord),
        actuator_force=np.array(sm.act_force, dtype=float),
        capacity=capacity,
        moment_arm=moment_arm,
        length=length,
        speed=speed,
        tau=tau,
        lower=np.array(sm.m_lo + sm.a_lo, dtype=float),
        upper=np.array(sm.m_hi + sm.a_hi, dtype=float),
        order=list(sm.order),
        timings=timings,
    )


def _state_values(sm: _SOModel, q: pd.DataFrame, u: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """(frames, NQ) and (frames, NU) state values: coordinates from the kinematics (locked ones
    stay put, dependent ones follow their coupler), speeds from the splines."""
    os_ = st.osim()
    T = len(q)
    Q = np.tile(sm.q0, (T, 1))
    U = np.zeros((T, len(sm.u_index)))
    for c in sm.coordinates:
        if c in sm.locked or c in sm.dependent:
            continue
        Q[:, sm.q_index[c]] = q[c].to_numpy()
        for dep, fn in sm.poser.coupled.get(c, ()):
            if dep not in sm.locked:
                Q[:, sm.q_index[dep]] = [fn.calcValue(os_.Vector(1, float(v))) for v in q[c]]
    for c in u.columns:
        if c in sm.u_index:
            U[:, sm.u_index[c]] = u[c].to_numpy()
    return Q, U


def _geometry_pass(sm: _SOModel, Q: np.ndarray, U: np.ndarray, with_capacity: bool):
    """Per frame and muscle: capacity (N at full activation), path length (m), lengthening speed
    (m/s) and the generalized forces (over U) of a unit tension along the path.

    The hot loop of the fast path (~80 muscles x frames OpenSim calls): body forces accumulate
    over the muscles of a frame and each muscle's generalized forces are the difference of two
    consecutive J^T products (exact up to rounding, ~1e-15 m), which saves a fresh force
    vector per muscle; moving path points would add mobility forces, read only then.
    Capacities follow from lengths and speeds for all frames at once
    (:class:`_Capacity`); OpenSim computes the few muscle-frames that covers not."""
    os_ = st.osim()
    state = sm.state
    T, M, NU = len(Q), len(sm.paths), U.shape[1]
    zero = os_.SpatialVec(os_.Vec3(0, 0, 0), os_.Vec3(0, 0, 0))
    general = os_.Vector(NU, 0.0)
    mobility = os_.Vector(NU, 0.0)
    lengths = [_direct(p, "getLength") for p in sm.paths]
    by_path = np.nonzero(~sm.speed_by_power)[0]
    speeds = [_direct(sm.paths[j], "getLengtheningSpeed") for j in by_path]
    adds = [_direct(p, "addInEquivalentForces") for p in sm.paths]
    jt = _direct(sm.matter, "multiplyBySystemJacobianTranspose")
    read_general = functools.partial(_direct(general, "_to_numpy"), NU)
    with_mobility = not sm.mobility_free
    length, speed_of_path, gen, mob = [], [], [], []
    for k in range(T):
        _set_state(sm, Q[k], U[k])
        bodies = os_.VectorOfSpatialVec(sm.n_bodies, zero)
        mobility.setToZero()
        for j in range(M):
            length.append(lengths[j](state))
            adds[j](state, 1.0, bodies, mobility)
            jt(state, bodies, general)
            gen.append(read_general())
            if with_mobility:
                mob.append(mobility.to_numpy())
        for get_speed in speeds:
            speed_of_path.append(get_speed(state))
    cumulative = np.array(gen).reshape(T, M, NU)
    if with_mobility:
        cumulative = cumulative + np.array(mob).reshape(T, M, NU)
    forces = np.diff(cumulative, axis=1, prepend=0.0)
    length = np.array(length).reshape(T, M)
    speed = -(forces * U[:, None, :]).sum(axis=2)
    speed[:, by_path] = np.array(speed_of_path).reshape(T, len(by_path))
    capacity = sm.capacity(length, speed) if with_capacity else np.zeros((T, M))
    for k in np.nonzero(np.isnan(capacity).any(axis=1))[0]:
        _set_state(sm, Q[k], U[k])
        for j in np.nonzero(np.isnan(capacity[k]))[0]:
            capacity[k, j] = sm.muscle_objs[j].calcInextensibleTendonActiveFiberForce(state, 1.0)
    return capacity, length, speed, forces


def _direct(obj, method: str):
    """``obj.method`` as a direct call into OpenSim's SWIG extension, skipping the Python
    wrapper (a wrapper adds ~0.3-2 us per call; the hot loop makes ~50,000 calls per trial):
    the extension function ``<Class>_<method>`` of the class that defines the method, bound
    to ``obj``. The bound method where the wheel is laid out otherwise."""
    for cls in type(obj).__mro__:
        if method in vars(cls):
            wrapper_module = sys.modules.get(cls.__module__)
            ext = getattr(wrapper_module, "_" + cls.__module__.rsplit(".", 1)[-1], None)
            fn = getattr(ext, f"{cls.__name__}_{method}", None)
            return functools.partial(fn, obj) if callable(fn) else getattr(obj, method)
    return getattr(obj, method)


def _set_state(sm: _SOModel, q: np.ndarray, u: np.ndarray) -> None:
    os_ = st.osim()
    sm.state.setQ(os_.Vector.createFromMat(q))
    sm.state.setU(os_.Vector.createFromMat(u))
    sm.model.realizeVelocity(sm.state)


def _state_indices(poser: _Poser, state, which: str) -> dict[str, int]:
    """coordinate -> its index in the state's Q or U (found by moving one at a time)."""
    os_ = st.osim()
    get, put = (state.getQ, state.setQ) if which == "Q" else (state.getU, state.setU)
    base = get().to_numpy().copy()
    out = {}
    for name, coord in poser.coord.items():
        put(os_.Vector.createFromMat(base))
        if which == "Q":
            coord.setValue(state, coord.getValue(state) + 0.1, False)
            if coord.getLocked(state):  # setValue leaves it: find it through its speed's slot
                continue
        else:
            coord.setSpeedValue(state, 1.0)
        hits = np.nonzero(get().to_numpy() != base)[0]
        if len(hits) != 1:
            raise UnsupportedModelError(
                f"coordinate {name} does not map to one generalized {which.lower()}"
            )
        out[name] = int(hits[0])
    put(os_.Vector.createFromMat(base))
    return out


# --------------------------------------------------------------------------- solve + write


def write_geometry(inputs: SOInputs, path: Path) -> Path:
    """Per-frame moment arms (m), lengths (m), speeds (m/s) and capacities (N) as NPZ; moment
    arms about the coordinates some muscle acts on (others are zero and left out)."""
    acted = np.abs(inputs.moment_arm).max(axis=(0, 1)) > SPANNED_M
    return write_npz_fast(
        path,
        compress=False,  # deflating halves the file (~0.4 MB a trial) at ~10 ms a trial
        time=inputs.time,
        coordinates=np.array(inputs.coordinates)[acted],
        muscles=np.array(inputs.muscles),
        moment_arm=inputs.moment_arm[:, :, acted].astype(np.float32),
        capacity=inputs.capacity.astype(np.float32),
        length=inputs.length.astype(np.float32),
        speed=inputs.speed.astype(np.float32),
    )


def group_moment_arms(
    geometry: dict[str, np.ndarray],
    forces: pd.DataFrame,
    groups: dict[str, tuple[str, ...]],
    coordinates: list[str],
) -> np.ndarray:
    """(frames, groups, coordinates) moment arm of each muscle group, force-weighted:
    ``r_g = sum_i r_i F_i / sum_i F_i`` over the group's muscles, so that
    ``sum_g r_g F_g`` equals the muscles' summed generalized force exactly for these forces.
    Where a group carries no force the muscles' plain mean is used. ``forces`` are the SO
    forces, interpolated to the geometry's frames when they carry a ``time`` column."""
    names = list(geometry["muscles"])
    cols = list(geometry["coordinates"])
    if "time" in forces:  # forces on their own frames: bring them to the geometry's
        t = forces["time"].to_numpy(dtype=float)
        forces = pd.DataFrame(
            {m: np.interp(geometry["time"], t, forces[m].to_numpy(dtype=float)) for m in names}
        )
    ci = [cols.index(c) for c in coordinates]
    arm = geometry["moment_arm"][:, :, ci].astype(float)
    out = np.zeros((arm.shape[0], len(groups), len(coordinates)))
    for g, members in enumerate(groups.values()):
        j = [names.index(m) for m in members]
        f = forces[list(members)].to_numpy(dtype=float)  # (T, n)
        total = f.sum(axis=1, keepdims=True)
        w = np.where(total > 1e-9, f / np.where(total > 1e-9, total, 1.0), 1.0 / len(j))
        out[:, g] = np.einsum("tn,tnc->tc", w, arm[:, j])
    return out


@dataclass(frozen=True)
class FastSOResult:
    forces: Path
    activations: Path
    geometry: Path
    failed_frames: int
    max_residual: float
    timings: dict[str, float]
    inputs: SOInputs  # the solved problem (moment arms, capacities, generalized forces)


def solve_inputs(inputs: SOInputs, *, activation_exponent: float = 2.0):
    """Solve the SO problem; returns (controls (T, M + K), forces (T, M + K), solution)."""
    if activation_exponent != 2.0:
        raise ValueError(
            f"the fast static optimization solves activation exponent 2 (OpenSim's default); "
            f"got {activation_exponent}. Use so_solver='opensim' for other exponents."
        )
    sol = solve_so(inputs.matrix(), inputs.tau, inputs.lower, inputs.upper)
    reserve = np.broadcast_to(inputs.actuator_force, (len(inputs.time), len(inputs.actuators)))
    scale = np.concatenate([inputs.capacity, reserve], axis=1)
    return sol.x, sol.x * scale, sol


def fast_static_optimization(
    model: Path,
    coordinates: Path,
    id_path: Path,
    work: Path,
    *,
    t0: float,
    t1: float,
    lowpass_hz: float,
    activation_exponent: float = 2.0,
) -> FastSOResult:
    """Drop-in for :func:`gait2hip.labeling.opensim_steps.static_optimization`: writes the
    force and activation ``.sto`` files with OpenSim's names and columns (model actuator order)
    plus ``so_geometry.npz`` (per-frame moment arms, lengths, capacities) and a log."""
    work.mkdir(parents=True, exist_ok=True)
    inputs = muscle_geometry(model, coordinates, id_path, t0=t0, t1=t1, lowpass_hz=lowpass_hz)
    tic = time.perf_counter()
    controls, forces, sol = solve_inputs(inputs, activation_exponent=activation_exponent)
    timings = dict(inputs.timings, solve=time.perf_counter() - tic)
    names = inputs.muscles + inputs.actuators
    pos = [names.index(n) for n in inputs.order]
    out_f, out_a = work / FORCE_FILE, work / ACTIVATION_FILE
    for path, values in ((out_f, forces), (out_a, controls)):
        frame = pd.DataFrame(values[:, pos], columns=inputs.order)
        frame.insert(0, "time", inputs.time)
        write_motion(path, frame, in_degrees=False, name="fast static optimization")
    geometry = write_geometry(inputs, work / GEOMETRY_FILE)
    failed = int((~sol.converged).sum())
    lines = [
        f"fast static optimization: {len(inputs.time)} frames, {sol.blocks} independent blocks, "
        f"{sol.iterations} iterations"
    ]
    lines += [f"{k}: {v:.3f} s" for k, v in timings.items()]
    for k in np.nonzero(~sol.converged)[0]:
        lines.append(
            f"frame t={inputs.time[k]:.4f}: could not find a solution "
            f"(residual {sol.residual[k]:.3g})"
        )
    (work / "so.log").write_text("\n".join(lines) + "\n")
    return FastSOResult(
        forces=out_f,
        activations=out_a,
        geometry=geometry,
        failed_frames=failed,
        max_residual=float(sol.residual.max()),
        timings=timings,
        inputs=inputs,
    )
