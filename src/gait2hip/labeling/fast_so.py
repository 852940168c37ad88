"""Fast static optimization: OpenSim's problem, solved for all frames of a trial at once.

What OpenSim's ``StaticOptimization`` (4.x, ``use_muscle_physiology``) solves at each frame,
read from its source (``StaticOptimizationTarget``):

* every actuator's force is ``control x capacity``; a muscle's capacity is
  ``Muscle::calcInextensibleTendonActiveFiberForce(s, 1)`` = max isometric force x active
  force-length x force-velocity x cos(pennation) with a rigid tendon, evaluated at the frame's
  coordinates and speeds; a coordinate actuator's is its optimal force;
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
quintic GCV splines for speeds).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gait2hip.io.atomic import atomic_path
from gait2hip.io.storage import read_motion, write_motion
from gait2hip.labeling import opensim_steps as st
from gait2hip.labeling.so_solver import solve_so

#: Muscle models whose SO capacity depends only on the frame's coordinates and speeds
#: (rigid tendon). Others (e.g. Thelen2003Muscle) read fibre-length and activation *states*
#: inside OpenSim's SO, which carry over from frame to frame; the fast solver refuses them.
SUPPORTED_MUSCLES = ("Millard2012EquilibriumMuscle",)
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
    model, coordinates: Path, lowpass_hz: float, t0: float, t1: float
) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """(time, q, u) at the coordinate file's frames over ``[t0, t1]``, prepared as OpenSim's
    AnalyzeTool prepares them for SO: pad by half the length, IIR low-pass, degrees to
    radians, q = the filtered values, u = derivative of a quintic GCV spline through them."""
    os_ = st.osim()
    sto = os_.Storage(str(coordinates))
    if lowpass_hz >= 0:
        sto.pad(sto.getSize() // 2)
        sto.lowpassIIR(lowpass_hz)
    if sto.isInDegrees():
        model.getSimbodyEngine().convertDegreesToRadians(sto)
    with tempfile.TemporaryDirectory() as tmp:
        q = _table(sto, Path(tmp) / "q.sto")
        u = _table(os_.GCVSplineSet(5, sto).constructStorage(1), Path(tmp) / "u.sto")
    # AnalyzeTool starts at the last frame at or before t0 ("the closest earlier set of
    # states is used") and records every frame up to t1
    t = q.index.to_numpy()
    first = t[t <= t0 + 1e-9].max(initial=t[0])
    q = q[(t >= first - 1e-12) & (t <= t1 + 1e-9)]
    u = u.reindex(q.index, method="nearest", tolerance=1e-9)
    return q.index.to_numpy(), q, u


def _table(storage, path: Path) -> pd.DataFrame:
    """An OpenSim Storage as a DataFrame indexed by time (through a file: the Python bindings
    give no array view of a Storage)."""
    storage.printToFile(str(path), "w")
    data = read_motion(path).data
    return data.set_index("time")


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
    os_ = st.osim()
    timings: dict[str, float] = {}
    tic = time.perf_counter()
    model = os_.Model(str(model_path))
    state = model.initSystem()
    muscles_set = model.getMuscles()
    muscles, paths, mobj = [], [], []
    for i in range(muscles_set.getSize()):
        mu = muscles_set.get(i)
        if not mu.get_appliesForce():
            continue
        kind = mu.getConcreteClassName()
        if with_capacity and kind not in SUPPORTED_MUSCLES:
            raise UnsupportedModelError(
                f"{model_path}: muscle {mu.getName()} is a {kind}; the fast static optimization "
                f"reproduces OpenSim's only for {', '.join(SUPPORTED_MUSCLES)} (rigid-tendon "
                "capacity). Label this model with so_solver='opensim'."
            )
        muscles.append(mu.getName())
        mobj.append(mu)
        paths.append(mu.getGeometryPath())
    acts = model.getActuators()
    order, actuators, act_coord, act_force, a_lo, a_hi = [], [], [], [], [], []
    m_lo = [mu.getMinControl() for mu in mobj]
    m_hi = [mu.getMaxControl() for mu in mobj]
    for i in range(acts.getSize()):
        a = acts.get(i)
        if not a.get_appliesForce():
            continue
        order.append(a.getName())
        if os_.Muscle.safeDownCast(a) is not None:
            continue
        ca = os_.CoordinateActuator.safeDownCast(a)
        if ca is None:
            raise UnsupportedModelError(
                f"{model_path}: actuator {a.getName()} is a {a.getConcreteClassName()}; the fast "
                "static optimization handles muscles and coordinate actuators only"
            )
        actuators.append(ca.getName())
        act_coord.append(ca.get_coordinate())
        act_force.append(ca.getOptimalForce())
        a_lo.append(ca.getMinControl())
        a_hi.append(ca.getMaxControl())
    cs = model.getCoordinateSet()
    free = [cs.get(i).getName() for i in range(cs.getSize()) if not cs.get(i).isConstrained(state)]
    times, q, u = so_kinematics(model, coordinates, lowpass_hz, t0, t1)
    missing = [c for c in (cs.get(i).getName() for i in range(cs.getSize())) if c not in q]
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

    poser = _Poser(model, state)
    tau = np.stack([id_column(c) for c in free], axis=1)
    for ci, c in enumerate(free):
        for dep, fn in poser.coupled.get(c, ()):
            slope = np.array([poser.coupling_slope(fn, v) for v in q[c].to_numpy()])
            tau[:, ci] += slope * id_column(dep)
    timings["inverse_dynamics_read"] = time.perf_counter() - tic

    # a muscle's moment arms are the generalized forces of a unit tension along its path
    # (GeometryPath.addInEquivalentForces, then J^T): what OpenSim's computeMomentArm and its
    # dynamics use, for every coordinate in one call. (-dL/dq differs for paths over several
    # wrap objects, e.g. Rajagopal's gastrocnemii at the knee and adductors at the hip.)
    # A dependent coordinate's generalized force acts on its independent one (chain rule).
    tic = time.perf_counter()
    independent = [c for c in q.columns if c in poser.coord and not _is_dependent(poser, c)]
    u_index = _speed_indices(poser, state)
    free_u = np.array([u_index[c] for c in free])
    couplings = [
        (free.index(c), u_index[dep], fn) for c in free for dep, fn in poser.coupled.get(c, ())
    ]
    matter = model.getMatterSubsystem()
    zero = os_.SpatialVec(os_.Vec3(0, 0, 0), os_.Vec3(0, 0, 0))
    n_bodies = model.getBodySet().getSize() + 1  # + ground
    general = os_.Vector(state.getNU(), 0.0)
    mobility = os_.Vector(state.getNU(), 0.0)
    T, M, C = len(times), len(muscles), len(free)
    capacity = np.zeros((T, M))
    length = np.zeros((T, M))
    speed = np.zeros((T, M))
    moment_arm = np.zeros((T, M, C))
    qv = {c: q[c].to_numpy() for c in independent}
    uv = {c: u[c].to_numpy() for c in q.columns if c in u and c in poser.coord}
    for k in range(T):
        poser.set({c: qv[c][k] for c in independent})
        for c, vals in uv.items():
            poser.coord[c].setSpeedValue(state, float(vals[k]))
        model.realizeVelocity(state)
        slopes = [(ci, ui, poser.coupling_slope(fn, qv[free[ci]][k])) for ci, ui, fn in couplings]
        for j, mu in enumerate(mobj):
            if with_capacity:
                capacity[k, j] = mu.calcInextensibleTendonActiveFiberForce(state, 1.0)
            length[k, j] = paths[j].getLength(state)
            speed[k, j] = paths[j].getLengtheningSpeed(state)
            bodies = os_.VectorOfSpatialVec(n_bodies, zero)
            mobility.setToZero()
            paths[j].addInEquivalentForces(state, 1.0, bodies, mobility)
            matter.multiplyBySystemJacobianTranspose(state, bodies, general)
            g = general.to_numpy() + mobility.to_numpy()
            moment_arm[k, j] = g[free_u]
            for ci, ui, slope in slopes:
                moment_arm[k, j, ci] += slope * g[ui]
    timings["geometry"] = time.perf_counter() - tic
    return SOInputs(
        time=times,
        coordinates=free,
        muscles=muscles,
        actuators=actuators,
        actuator_coordinate=act_coord,
        actuator_force=np.array(act_force, dtype=float),
        capacity=capacity,
        moment_arm=moment_arm,
        length=length,
        speed=speed,
        tau=tau,
        lower=np.array(m_lo + a_lo, dtype=float),
        upper=np.array(m_hi + a_hi, dtype=float),
        order=order,
        timings=timings,
    )


def _speed_indices(poser: _Poser, state) -> dict[str, int]:
    """coordinate -> its index in the state's U (found by setting one speed at a time)."""
    os_ = st.osim()
    nu = state.getNU()
    out = {}
    for name, coord in poser.coord.items():
        state.setU(os_.Vector(nu, 0.0))
        coord.setSpeedValue(state, 1.0)
        hits = np.nonzero(state.getU().to_numpy())[0]
        if len(hits) != 1:
            raise UnsupportedModelError(f"coordinate {name} does not map to one generalized speed")
        out[name] = int(hits[0])
    state.setU(os_.Vector(nu, 0.0))
    return out


def _is_dependent(poser: _Poser, coord: str) -> bool:
    return any(coord == dep for deps in poser.coupled.values() for dep, _ in deps)


# --------------------------------------------------------------------------- solve + write


def write_geometry(inputs: SOInputs, path: Path) -> Path:
    """Per-frame moment arms (m), lengths (m), speeds (m/s) and capacities (N) as NPZ."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh,
            time=inputs.time,
            coordinates=np.array(inputs.coordinates),
            muscles=np.array(inputs.muscles),
            moment_arm=inputs.moment_arm.astype(np.float32),
            capacity=inputs.capacity.astype(np.float32),
            length=inputs.length.astype(np.float32),
            speed=inputs.speed.astype(np.float32),
        )
    return path


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
    lines = [f"fast static optimization: {len(inputs.time)} frames, {sol.iterations} iterations"]
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
