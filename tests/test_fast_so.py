"""Fast static optimization: the batched solver on problems with known solutions, and the
whole fast path against OpenSim's SO on a real labelled trial."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from gait2hip.labeling.so_solver import solve_so


def test_two_muscles_one_coordinate_unbounded():
    # min a1^2 + a2^2 s.t. c1 a1 + c2 a2 = tau  ->  a_i = c_i tau / (c1^2 + c2^2)
    c = np.array([300.0, 100.0])
    tau = 50.0
    sol = solve_so(c[None, None, :], np.array([[tau]]), 0.0, 1.0)
    np.testing.assert_allclose(sol.x[0], c * tau / (c @ c), rtol=1e-10)
    assert sol.converged.all()


def test_saturated_muscle_hands_the_rest_to_the_others():
    # a strong muscle (10 N·m at full activation) would need 1.03 > 1 alone: it saturates and
    # the remaining 2 N·m is shared by a weaker muscle (4) and a reserve (1) in proportion to
    # their coefficients: 2 * [4, 1] / 17
    A = np.array([[[10.0, 4.0, 1.0]]])
    sol = solve_so(A, np.array([[12.0]]), np.array([0.0, 0.0, -np.inf]), np.array([1, 1, np.inf]))
    np.testing.assert_allclose(sol.x[0], [1.0, 8 / 17, 2 / 17], atol=1e-9)


def test_matches_a_general_qp_solver_on_random_frames(rng):
    B, m, n = 6, 3, 9
    A = rng.normal(size=(B, m, n)) * 5
    A[:, :, -m:] = np.eye(m)  # reserves keep every frame feasible
    x_true = rng.uniform(0, 1, size=(B, n))
    tau = (A @ x_true[..., None])[..., 0] * 1.5  # push some activations to their bound
    lower = np.r_[np.full(n - m, 0.01), np.full(m, -np.inf)]
    upper = np.r_[np.ones(n - m), np.full(m, np.inf)]
    sol = solve_so(A, tau, lower, upper)
    assert sol.converged.all()
    for b in range(B):
        ref = minimize(
            lambda x: x @ x,
            np.clip(np.zeros(n), lower, upper),
            jac=lambda x: 2 * x,
            bounds=list(zip(lower, upper, strict=True)),
            constraints={"type": "eq", "fun": lambda x, b=b: A[b] @ x - tau[b]},
            method="SLSQP",
            options={"ftol": 1e-10, "maxiter": 1000},
        )
        assert ref.success
        assert sol.x[b] @ sol.x[b] <= ref.fun + 1e-6
        np.testing.assert_allclose(sol.x[b], ref.x, atol=1e-4)
    assert np.all(sol.x >= lower - 1e-12) and np.all(sol.x <= upper + 1e-12)


def test_rows_met_by_one_actuator_are_solved_apart(rng):
    """A coordinate only its reserve acts on (no muscle crosses it) is solved on its own, a
    muscle acting nowhere stays at its lower bound, and the rest is the coupled QP: the
    solution is the general solver's, frame by frame."""
    B, n = 4, 7  # actuators: 4 muscles, reserves of rows 0 and 1, reserve of row 2
    A = np.zeros((B, 3, n))
    A[:, :2, :3] = rng.uniform(1, 10, size=(B, 2, 3))  # muscle 3 acts on no row
    A[:, 0, 4], A[:, 1, 5] = 1.0, 1.0
    A[:, 2, 6] = [2.0, 2.0, 0.0, 2.0]  # a frame where the lone reserve has no arm
    tau = rng.normal(size=(B, 3)) * 5
    tau[2, 2] = 0.0
    lower = np.r_[np.full(4, 0.01), np.full(3, -np.inf)]
    upper = np.r_[np.ones(4), np.full(3, np.inf)]
    sol = solve_so(A, tau, lower, upper)
    assert sol.converged.all()
    np.testing.assert_allclose(sol.x[:, 6], [tau[0, 2] / 2, tau[1, 2] / 2, 0.0, tau[3, 2] / 2])
    np.testing.assert_allclose(sol.x[:, 3], 0.01)
    for b in range(B):
        rows = np.abs(A[b]).max(axis=1) > 0  # SLSQP fails on an all-zero constraint row
        ref = minimize(
            lambda x: x @ x,
            np.clip(np.zeros(n), lower, upper),
            jac=lambda x: 2 * x,
            bounds=list(zip(lower, upper, strict=True)),
            constraints={"type": "eq", "fun": lambda x, b=b, r=rows: A[b, r] @ x - tau[b, r]},
            method="SLSQP",
            options={"ftol": 1e-12, "maxiter": 1000},
        )
        assert ref.success
        np.testing.assert_allclose(sol.x[b], ref.x, atol=1e-4)


def test_independent_blocks_are_solved_apart(rng):
    """Two "legs" (three muscles and two reserves on two rows each) and a "pelvis" row with its
    reserve, linked only by rounding-sized entries: three blocks, each solved as if alone. A
    real entry (a muscle acting on the pelvis row, as Rajagopal's gastrocnemii do in OpenSim)
    joins that leg and the pelvis into one block."""
    B, n = 5, 11  # muscles 0-2 (leg 1), 3-5 (leg 2); reserves 6, 7 (leg 1), 8, 9 (leg 2), 10
    A = np.zeros((B, 5, n))
    A[:, 0:2, 0:3] = rng.uniform(1, 10, size=(B, 2, 3))
    A[:, 2:4, 3:6] = rng.uniform(1, 10, size=(B, 2, 3))
    A[:, [0, 1, 2, 3, 4], [6, 7, 8, 9, 10]] = 1.0
    A[:, 4, :6] = rng.normal(size=(B, 6)) * 1e-15  # the pelvis row: muscles' rounding
    A[:, 2, 0] = 1e-16  # leg 1's muscle on leg 2, rounding
    tau = rng.normal(size=(B, 5)) * 20  # large enough to saturate some muscles
    lower = np.r_[np.full(6, 0.01), np.full(5, -np.inf)]
    upper = np.r_[np.ones(6), np.full(5, np.inf)]
    sol = solve_so(A, tau, lower, upper)
    assert sol.blocks == 3 and sol.converged.all()
    assert (sol.x[:, :6] >= 1 - 1e-12).any()  # some bounds are active
    for rows, cols in (([0, 1], [0, 1, 2, 6, 7]), ([2, 3], [3, 4, 5, 8, 9])):
        alone = solve_so(A[:, rows][:, :, cols], tau[:, rows], lower[cols], upper[cols])
        np.testing.assert_allclose(sol.x[:, cols], alone.x, atol=1e-9)
    np.testing.assert_allclose(sol.x[:, 10], tau[:, 4], atol=1e-9)

    A[:, 4, 1] = 2.0
    joined = solve_so(A, tau, lower, upper)
    assert joined.blocks == 2 and joined.converged.all()
    rows, cols = [0, 1, 4], [0, 1, 2, 6, 7, 10]
    alone = solve_so(A[:, rows][:, :, cols], tau[:, rows], lower[cols], upper[cols])
    np.testing.assert_allclose(joined.x[:, cols], alone.x, atol=1e-9)


def test_infeasible_frame_is_reported_not_hidden():
    # one muscle, no reserve, asked for more than it can give
    sol = solve_so(np.array([[[10.0]], [[10.0]]]), np.array([[5.0], [50.0]]), 0.0, 1.0)
    assert sol.converged.tolist() == [True, False]
    assert sol.x[1, 0] == pytest.approx(1.0)


def test_bad_shapes_and_bounds_are_refused():
    with pytest.raises(ValueError, match="frames"):
        solve_so(np.zeros((2, 3)), np.zeros((2, 3)), 0.0, 1.0)
    with pytest.raises(ValueError, match="lower bound"):
        solve_so(np.ones((1, 1, 1)), np.ones((1, 1)), 1.0, 0.0)


def test_group_moment_arms_reproduce_the_muscles_moment():
    import pandas as pd

    from gait2hip.labeling.fast_so import group_moment_arms

    rng = np.random.default_rng(0)
    T = 5
    muscles = ["a", "b", "c"]
    geometry = {
        "muscles": np.array(muscles),
        "coordinates": np.array(["hip", "knee"]),
        "moment_arm": rng.normal(size=(T, 3, 2)) * 0.05,
    }
    forces = pd.DataFrame(rng.uniform(0, 500, size=(T, 3)), columns=muscles)
    forces.loc[0, ["a", "b"]] = 0.0  # a group carrying no force falls back to the plain mean
    groups = {"ab": ("a", "b"), "c": ("c",)}
    arms = group_moment_arms(geometry, forces, groups, ["hip"])
    group_force = np.stack([forces[["a", "b"]].sum(axis=1), forces["c"]], axis=1)
    via_groups = (arms[:, :, 0] * group_force).sum(axis=1)
    via_muscles = (geometry["moment_arm"][:, :, 0] * forces.to_numpy()).sum(axis=1)
    np.testing.assert_allclose(via_groups, via_muscles, rtol=1e-12)
    np.testing.assert_allclose(arms[0, 0, 0], geometry["moment_arm"][0, :2, 0].mean())


def test_so_solver_setting():
    from dataclasses import replace

    from gait2hip.labeling.trial import LabelSettings, _key_settings

    with pytest.raises(ValueError, match="so_solver"):
        LabelSettings(so_solver="ipopt")
    # "opensim" stays out of the cache key (trials labelled before the setting are reused)
    assert LabelSettings().so_solver == "auto"
    assert "so_solver" not in _key_settings(replace(LabelSettings(), so_solver="opensim"))
    assert _key_settings(replace(LabelSettings(), so_solver="fast"))["so_solver"] == "fast"


# --------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_fast_so_matches_opensim_on_a_real_trial(labelled_trial, tmp_path):
    """Hip muscle group forces of the fast solver vs OpenSim's SO on a real walking trial
    (Rajagopal model). Against OpenSim at its default convergence (1e-4, as labelled) over the
    kept cycles: RMSE < 0.05 N/kg, R² > 0.98 per group (OpenSim's own tolerance moves small
    groups such as gracilis by that much: docs/fast_so.md); against OpenSim converged tightly
    (1e-8) on a 0.3 s window: RMSE < 0.02 N/kg. Muscle + reserve generalized forces reproduce
    inverse dynamics at the hip and knee."""
    from pathlib import Path

    from gait2hip.conventions import FORCE_COLS, MUSCLE_GROUPS
    from gait2hip.io.storage import read_motion
    from gait2hip.labeling import opensim_steps as st
    from gait2hip.labeling.fast_so import fast_static_optimization

    source, spec, _, result = labelled_trial
    work = Path(result.folder) / "work"
    ref = read_motion(work / "so" / "so_StaticOptimization_force.sto").data
    t = ref["time"].to_numpy()
    out = fast_static_optimization(
        work / "so_model.osim",
        work / "ik" / "ik.mot",
        work / "id" / "id.sto",
        tmp_path,
        t0=t[0],
        t1=t[-1],
        lowpass_hz=source.settings.lowpass_hz,
    )
    assert out.failed_frames == 0
    fast = read_motion(out.forces).data
    np.testing.assert_allclose(fast["time"], t, atol=1e-9)
    # every actuator in OpenSim's order (OpenSim's file also lists the external loads)
    assert [c for c in ref.columns if c in fast] == list(fast.columns)
    assert len(fast.columns) > 80
    groups = MUSCLE_GROUPS["rajagopal"]

    def per_kg(frame, rows, g, s):
        cols = [m[:-2] + "_" + s for m in groups[g]]
        return frame.loc[rows, cols].sum(axis=1).to_numpy() / spec.mass_kg

    kept = [c for c in result.cycles if not c["exclude"]]
    assert kept
    for cyc in kept:
        inside = (t >= cyc["t0"]) & (t <= cyc["t1"])
        for g in FORCE_COLS:
            a, b = per_kg(fast, inside, g, cyc["side"]), per_kg(ref, inside, g, cyc["side"])
            rmse = np.sqrt(np.mean((a - b) ** 2))
            r2 = 1 - np.sum((a - b) ** 2) / np.sum((b - b.mean()) ** 2)
            assert rmse < 0.05, (g, cyc["side"], rmse)
            assert r2 > 0.98, (g, cyc["side"], r2)
    w0 = kept[0]["t0"] + 0.1
    tight_f, _ = st.static_optimization(
        work / "so_model.osim",
        work / "ik" / "ik.mot",
        work / "grf.xml",
        tmp_path / "tight",
        t0=w0,
        t1=w0 + 0.3,
        lowpass_hz=source.settings.lowpass_hz,
        convergence=1e-8,
        max_iterations=2000,
    )
    tight = read_motion(tight_f).data
    rows = fast.index[np.isin(np.round(t, 6), np.round(tight["time"].to_numpy(), 6))]
    assert len(rows) == len(tight)
    for g in FORCE_COLS:
        a = per_kg(fast, rows, g, kept[0]["side"])
        b = per_kg(tight, tight.index, g, kept[0]["side"])
        assert np.sqrt(np.mean((a - b) ** 2)) < 0.02, g
    # moment balance with the solver's own geometry and generalized forces
    geo = out.inputs
    for c in ("hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_angle_r"):
        ci = geo.coordinates.index(c)
        total = (geo.moment_arm[:, :, ci] * fast[geo.muscles].to_numpy()).sum(axis=1)
        total += fast[f"reserve_{c}"].to_numpy()
        assert np.abs(total - geo.tau[:, ci]).max() < 0.01 * np.abs(geo.tau[:, ci]).max()


@pytest.mark.realdata
def test_moment_arms_are_opensims(labelled_trial, osim):
    """Applied-force moment arms equal OpenSim's computeMomentArm, including the
    gastrocnemius at the knee (two wrap objects: -dL/dq differs there by ~1.5 cm)."""
    from pathlib import Path

    from gait2hip.labeling.fast_so import _Poser, muscle_geometry

    source, _, _, result = labelled_trial
    work = Path(result.folder) / "work"
    t = np.loadtxt(work / "id" / "id.sto", skiprows=7, usecols=0)
    geo = muscle_geometry(
        work / "so_model.osim",
        work / "ik" / "ik.mot",
        work / "id" / "id.sto",
        t0=t[0],
        t1=t[-1],
        lowpass_hz=source.settings.lowpass_hz,
        with_capacity=False,
    )
    from gait2hip.labeling.fast_so import so_kinematics

    model = osim.Model(str(work / "so_model.osim"))
    state = model.initSystem()
    _, q, _ = so_kinematics(model, work / "ik" / "ik.mot", source.settings.lowpass_hz, t[0], t[-1])
    poser = _Poser(model, state)
    pairs = [
        ("gasmed_r", "knee_angle_r"),
        ("addlong_r", "hip_adduction_r"),
        ("recfem_r", "knee_angle_r"),
        ("glmax1_r", "hip_flexion_r"),
    ]
    for k in (0, len(t) // 3, 2 * len(t) // 3):
        poser.set({c: q[c].iloc[k] for c in q.columns if c in poser.coord and "beta" not in c})
        model.realizePosition(state)
        for m, c in pairs:
            exact = model.getMuscles().get(m).computeMomentArm(state, poser.coord[c])
            got = geo.moment_arm[k, geo.muscles.index(m), geo.coordinates.index(c)]
            assert got == pytest.approx(exact, abs=1e-9)


@pytest.mark.realdata
def test_auto_picks_the_fast_solver_where_it_reproduces_opensim(data_root, osim):
    from dataclasses import replace

    from gait2hip.labeling.sources import hamner2013, schreiber2019
    from gait2hip.labeling.trial import LabelSettings, cache_key, resolve_settings

    walk = schreiber2019(data_root).specs[0]  # Rajagopal 2016: Millard2012 muscles
    run = hamner2013(data_root).specs[0]  # gait2392: Thelen2003 muscles (fast since 2026-12-02)
    auto = LabelSettings()
    assert resolve_settings(walk, auto).so_solver == "fast"
    assert resolve_settings(run, auto).so_solver == "fast"
    assert resolve_settings(walk, replace(auto, so_solver="opensim")).so_solver == "opensim"
    # the cache key is the resolved solver's: "auto" shares its trials' labels
    assert cache_key(walk, auto) == cache_key(walk, replace(auto, so_solver="fast"))
    assert cache_key(run, auto) == cache_key(run, replace(auto, so_solver="fast"))
    assert cache_key(walk, auto) != cache_key(walk, replace(auto, so_solver="opensim"))


@pytest.mark.realdata
def test_default_labels_match_opensims(labelled_trial, tmp_path):
    """The default (auto -> fast) labels the reference trial like OpenSim's SO does: the same
    cycles and QC, hip muscle group forces within 0.05 N/kg RMSE per group, identical hip
    moments (inverse dynamics is the same), and moment arms recorded."""
    from dataclasses import replace

    from gait2hip.labeling.trial import label_trial

    source, spec, _, reference = labelled_trial
    result = label_trial(spec, replace(source.settings, so_solver="auto"), tmp_path)
    assert result.ok, result.error
    assert [c["t0"] for c in result.cycles] == [c["t0"] for c in reference.cycles]
    assert [c["exclude"] for c in result.cycles] == [c["exclude"] for c in reference.cycles]
    with np.load(result.labels_path()) as fast, np.load(reference.labels_path()) as ref:
        np.testing.assert_array_equal(fast["moments"], ref["moments"])
        assert fast["moment_arms"].shape == ref["moment_arms"].shape
        per_kg = (fast["forces"] - ref["forces"]) / spec.mass_kg  # labels are in N
        rmse = np.sqrt(np.mean(per_kg**2, axis=(0, 1)))
        assert rmse.max() < 0.05, rmse


@pytest.mark.realdata
def test_labelled_cycles_carry_group_moment_arms(labelled_trial):
    """The OpenSim-labelled trial records group moment arms; with the labelled group forces they
    reproduce the inverse-dynamics hip moments up to the reserves (< 3 % of peak)."""
    source, _, _, result = labelled_trial
    with np.load(result.labels_path()) as z:
        arms, forces, moments = z["moment_arms"], z["forces"], z["moments"]
    n = len(result.cycles)
    assert arms.shape == (n, source.settings.cycle_frames, 14, 3)
    via_groups = np.einsum("ntg,ntgk->ntk", forces, arms)
    peak = np.abs(moments).max(axis=(0, 1))
    assert np.all(np.abs(via_groups - moments).max(axis=(0, 1)) < 0.03 * peak)


def _storage(osim, t: np.ndarray, y: np.ndarray, columns: list[str]):
    """An OpenSim Storage of rows ``y`` at times ``t``."""
    storage, labels = osim.Storage(len(t) + 1), osim.ArrayStr()
    for name in ("time", *columns):
        labels.append(name)
    storage.setColumnLabels(labels)
    for tk, row in zip(t, y, strict=True):
        storage.append(float(tk), osim.Vector.createFromMat(row))
    return storage


@pytest.mark.parametrize(
    "jitter, cutoff_hz",
    [(0.0, 6.0), (1e-9, 6.0), (0.3, 6.0), (0.0, 80.0)],
    ids=["uniform", "rounding-jitter", "uneven", "cutoff-above-nyquist"],
)
def test_the_lowpass_is_opensims(osim, rng, jitter, cutoff_hz):
    """AnalyzeTool's ``pad`` + ``lowpassIIR`` redone in numpy equals OpenSim's Storage methods:
    on uniform times (filtered as they are), on times off uniform by 1e-9 s or by up to 15 % of
    a step (OpenSim first resamples at the smallest step through quintic splines: same grid,
    same values), and with a cut-off above half the sampling rate (lowered to 0.49 x)."""
    from gait2hip.labeling import fast_so
    from gait2hip.labeling.opensim_signal import analyze_tool_lowpass, pad

    n, dt = 120, 1 / 128  # a binary step: uniform times are uniform to the last bit
    t = dt * (np.arange(n) + jitter * rng.uniform(-0.5, 0.5, n)) + 2.0
    y = np.cumsum(rng.normal(size=(n, 3)), axis=0)
    storage = _storage(osim, t, y, ["a", "b", "c"])
    storage.pad(storage.getSize() // 2)
    storage.lowpassIIR(cutoff_hz)
    ref = fast_so._frame(storage)
    t_ours, ours = analyze_tool_lowpass(t, y, cutoff_hz)
    assert np.array_equal(t_ours, pad(t, n // 2)) == (jitter == 0)  # resampled iff uneven
    np.testing.assert_array_equal(t_ours, ref.index.to_numpy())
    np.testing.assert_allclose(ours, ref.to_numpy(), rtol=0, atol=1e-12 * np.abs(y).max())
    if cutoff_hz > 64:  # filtered (at 0.49 x 128 Hz, as OpenSim), not left alone
        assert np.abs(ours - pad(y, n // 2)).max() > 1e-3


def test_degrees_convert_as_opensim_does(osim):
    """Rotational coordinates' columns, by name or path, are the ones OpenSim's
    ``convertDegreesToRadians`` scales; translations and unknown columns stay."""
    from gait2hip.labeling.fast_so import _frame
    from gait2hip.labeling.opensim_signal import rotational_columns

    model = osim.Model()
    for name, joint in (("pin", osim.PinJoint), ("slider", osim.SliderJoint)):
        body = osim.Body(f"{name}_body", 1.0, osim.Vec3(0), osim.Inertia(1, 1, 1))
        model.addBody(body)
        model.addJoint(joint(name, model.getGround(), body))
    model.initSystem()
    columns = ["pin_coord_0", "/jointset/pin/pin_coord_0/value", "slider_coord_0", "other"]
    storage = _storage(osim, np.array([0.0, 0.1]), np.ones((2, 4)), columns)
    storage.setInDegrees(True)
    model.getSimbodyEngine().convertDegreesToRadians(storage)
    scaled = _frame(storage).to_numpy()[0] != 1.0
    assert rotational_columns(model, columns) == list(scaled) == [True, True, False, False]


def _gcv_derivatives(osim, storage, times, order: int) -> np.ndarray:
    """OpenSim's ``GCVSplineSet(5, storage)`` (AnalyzeTool's splines) differentiated ``order``
    times at ``times``: frames x columns."""
    splines, x, derivative = osim.GCVSplineSet(5, storage), osim.Vector(1, 0.0), osim.StdVectorInt()
    for _ in range(order):
        derivative.push_back(0)
    out = np.empty((len(times), splines.getSize()))
    for i in range(splines.getSize()):
        for k, tk in enumerate(times):
            x.set(0, float(tk))
            out[k, i] = splines.get(i).calcDerivative(derivative, x)
    return out


def test_the_quintic_spline_is_opensims_gcv_spline(osim, rng):
    """At zero error variance OpenSim's degree-5 GCV spline is the natural quintic
    interpolating spline: same values and derivatives everywhere, ends included, on uneven
    sampling (other end conditions differ by hundreds near the ends)."""
    from gait2hip.labeling.opensim_signal import natural_quintic_spline

    t = np.r_[0.0, np.sort(rng.uniform(0, 1, 23)), 1.0]
    y = np.cumsum(rng.normal(size=(len(t), 3)), axis=0)
    storage = _storage(osim, t, y, ["a", "b", "c"])
    ours, at = natural_quintic_spline(t, y), np.linspace(0, 1, 41)
    for order in (1, 2, 3):
        ref = _gcv_derivatives(osim, storage, at, order)
        np.testing.assert_allclose(ours(at, order), ref, rtol=0, atol=1e-10 * np.abs(ref).max())
    np.testing.assert_allclose(ours(t), y, atol=1e-10)


@pytest.mark.realdata
def test_so_speeds_are_analyzetools(labelled_trial, osim):
    """The coordinates and speeds the fast path uses are AnalyzeTool's: OpenSim's padded,
    filtered kinematics in radians, and its GCV splines through them differentiated at the
    solved frames."""
    from pathlib import Path

    from gait2hip.labeling import fast_so

    source, _, _, result = labelled_trial
    work = Path(result.folder) / "work"
    t = np.loadtxt(work / "id" / "id.sto", skiprows=7, usecols=0)
    model = osim.Model(str(work / "so_model.osim"))
    model.initSystem()
    times, q, u = fast_so.so_kinematics(
        model, work / "ik" / "ik.mot", source.settings.lowpass_hz, t[0], t[-1]
    )
    storage = osim.Storage(str(work / "ik" / "ik.mot"))
    storage.pad(storage.getSize() // 2)
    storage.lowpassIIR(source.settings.lowpass_hz)
    model.getSimbodyEngine().convertDegreesToRadians(storage)
    filtered = fast_so._frame(storage)
    at = np.isin(filtered.index.to_numpy(), times)
    np.testing.assert_array_equal(filtered.index.to_numpy()[at], times)
    np.testing.assert_allclose(q.to_numpy(), filtered.to_numpy()[at], rtol=0, atol=1e-12)
    ref = _gcv_derivatives(osim, storage, times, 1)
    assert list(u.columns) == list(q.columns) and ref.shape == u.shape
    np.testing.assert_allclose(u.to_numpy(), ref, rtol=0, atol=1e-9)


def _opensims_capacities_and_speeds(sm, Q, U) -> tuple[np.ndarray, np.ndarray]:
    """(frames, muscles) capacity and lengthening speed by OpenSim's own calls, frame by frame."""
    from gait2hip.labeling import fast_so

    capacity, speed = np.zeros((len(Q), len(sm.muscle_objs))), np.zeros((len(Q), len(sm.paths)))
    for k in range(len(Q)):
        fast_so._set_state(sm, Q[k], U[k])
        for j, muscle in enumerate(sm.muscle_objs):
            capacity[k, j] = muscle.calcInextensibleTendonActiveFiberForce(sm.state, 1.0)
            speed[k, j] = sm.paths[j].getLengtheningSpeed(sm.state)
    return capacity, speed


@pytest.mark.realdata
def test_capacities_and_speeds_are_opensims(labelled_trial, osim):
    """The pass computes capacities from lengths and speeds with OpenSim's tabulated curves, and
    single-wrap paths' speeds as the power of their unit tension: both equal OpenSim's own
    calcInextensibleTendonActiveFiberForce and getLengtheningSpeed at every frame and muscle.
    Muscle-frames the tables do not cover are computed by OpenSim."""
    from pathlib import Path

    from gait2hip.labeling import fast_so

    source, _, _, result = labelled_trial
    work = Path(result.folder) / "work"
    t = np.loadtxt(work / "id" / "id.sto", skiprows=7, usecols=0)
    sm = fast_so._so_model(work / "so_model.osim")
    _, q, u = fast_so.so_kinematics(
        sm.model, work / "ik" / "ik.mot", source.settings.lowpass_hz, t[0], t[-1]
    )
    Q, U = fast_so._state_values(sm, q, u)
    capacity, _, speed, _ = fast_so._geometry_pass(sm, Q, U, True)
    assert sm.speed_by_power.sum() > 60 and not sm.speed_by_power.all()  # gastrocnemii: 2 wraps
    exact_cap, exact_speed = _opensims_capacities_and_speeds(sm, Q, U)
    np.testing.assert_allclose(capacity, exact_cap, rtol=0, atol=1e-8 * exact_cap.max())
    np.testing.assert_allclose(speed, exact_speed, rtol=0, atol=1e-12)

    # where the tables give up (NaN), OpenSim fills in the same numbers
    tables = sm.capacity
    try:
        sm.capacity = lambda length, speed: np.where(
            np.arange(length.shape[1]) % 7 == 0, np.nan, tables(length, speed)
        )
        patched, *_ = fast_so._geometry_pass(sm, Q[:5], U[:5], True)
    finally:
        sm.capacity = tables
    np.testing.assert_allclose(patched, exact_cap[:5], rtol=0, atol=1e-8 * exact_cap.max())


def test_capacity_tables_leave_clamped_fibres_to_opensim():
    """A fibre at (or below) its minimum length, or outside a curve's domain, is not computed
    from the tables: OpenSim clamps there."""
    from gait2hip.labeling.fast_so import _MillardCapacity

    cap = object.__new__(_MillardCapacity)  # one muscle, parameters by hand
    cap.f_iso, cap.l_opt = np.array([1000.0]), np.array([0.1])
    cap.l_ts, cap.v_max = np.array([0.2]), np.array([10.0])
    cap.height, cap.l_min = np.array([0.0]), np.array([0.01])
    ones = np.ones_like
    cap.curves = [((0.5, 1.5, ones), (-1.0, 1.0, ones))]  # (force-length, force-velocity)
    length = np.array([[0.3], [0.2 + 0.005], [0.2 + 0.3], [0.3]])
    speed = np.array([[0.0], [0.0], [0.0], [5.0]])  # the last: 5 fibre lengths per second
    out = cap(length, speed)
    assert out[0, 0] == pytest.approx(1000.0)
    assert np.isnan(out[1:, 0]).all()


def _one_muscle_model(osim, muscle):
    """A body on a slider from the ground with ``muscle`` from the ground's origin to the body's:
    the muscle-tendon length is the slider's coordinate and its lengthening speed the speed."""
    model = osim.Model()
    body = osim.Body("block", 1.0, osim.Vec3(0), osim.Inertia(1))
    model.addBody(body)
    zero = osim.Vec3(0)
    model.addJoint(osim.SliderJoint("slider", model.getGround(), zero, zero, body, zero, zero))
    muscle.addNewPathPoint("origin", model.getGround(), zero)
    muscle.addNewPathPoint("insertion", body, zero)
    model.addForce(muscle)
    return model


@pytest.mark.parametrize("af, flen", [(0.25, 1.4), (0.3, 1.8)])  # OpenSim's defaults, gait2392's
def test_thelen_capacity_is_opensims(osim, af, flen):
    """Thelen2003 capacities in closed form equal OpenSim's own (Newton-inverted) rigid-tendon
    capacity over every branch of its force-velocity curve: fast shortening past the concentric
    asymptote (0), concentric, eccentric, the linear extrapolation past the threshold, and
    fibres at their minimum length (left to OpenSim: NaN here, 0 there)."""
    from gait2hip.labeling.fast_so import _ThelenCapacity

    muscle = osim.Thelen2003Muscle("probe", 1000.0, 0.1, 0.2, 0.3)
    muscle.set_Af(af)
    muscle.set_Flen(flen)
    model = _one_muscle_model(osim, muscle)
    state = model.initSystem()
    coord = model.getCoordinateSet().get(0)
    lengths = 0.2 + np.r_[0.0005, np.linspace(0.02, 0.2, 12)]
    speeds = np.linspace(-2.5, 2.5, 41)  # normalized fibre speeds of about -2.5 ... 2.5
    L, V = (a.ravel()[:, None] for a in np.meshgrid(lengths, speeds))
    exact = np.empty(len(L))
    for k, (length, speed) in enumerate(zip(L[:, 0], V[:, 0], strict=True)):
        coord.setValue(state, float(length))
        coord.setSpeedValue(state, float(speed))
        model.realizeVelocity(state)
        assert muscle.getLength(state) == pytest.approx(length, abs=1e-12)
        exact[k] = muscle.calcInextensibleTendonActiveFiberForce(state, 1.0)
    ours = _ThelenCapacity([muscle])(L, V)[:, 0]
    at_minimum = np.isnan(ours)
    assert at_minimum.sum() == len(speeds)  # the shortest length only: its fibre is at minimum
    assert np.all(exact[at_minimum] == 0.0)
    assert (exact == 0).sum() > len(speeds)  # the concentric clamp is reached too
    assert exact.max() > 0.95 * flen * 1000.0 * np.cos(0.3)  # and the eccentric extrapolation
    np.testing.assert_allclose(ours[~at_minimum], exact[~at_minimum], rtol=0, atol=1e-7 * 1000)


def test_other_muscle_models_are_refused(osim, tmp_path):
    """A muscle class without a capacity formula here: the fast solver refuses it with the fix,
    and ``auto`` labels such a model with OpenSim's SO."""
    from gait2hip.labeling import fast_so

    muscle = osim.DeGrooteFregly2016Muscle()
    muscle.setName("probe")
    path = tmp_path / "degroote.osim"
    model = _one_muscle_model(osim, muscle)
    model.finalizeConnections()
    model.printToXML(str(path))
    assert not fast_so.supports(path)
    with pytest.raises(
        fast_so.UnsupportedModelError, match=r"DeGrooteFregly2016Muscle.*so_solver='opensim'"
    ):
        fast_so.muscle_geometry(
            path, tmp_path / "none.mot", tmp_path / "none.sto", t0=0, t1=1, lowpass_hz=6
        )


@pytest.mark.realdata
def test_fast_so_matches_opensim_on_a_running_trial(running_trial, tmp_path):
    """Running, Thelen2003 muscles: the default labels come from the fast solver, and OpenSim's
    SO converged tightly (1e-8) over 0.3 s of a cycle gives the same hip muscle group forces
    (RMSE < 0.005 N/kg per group); OpenSim at its default tolerance (1e-4, what
    ``--so-solver opensim`` labels with) stays within 0.06 N/kg of both. The capacities in that
    window equal OpenSim's own at every frame and muscle."""
    import json
    from pathlib import Path

    from gait2hip.conventions import FORCE_COLS, MUSCLE_GROUPS
    from gait2hip.io.storage import read_motion
    from gait2hip.labeling import fast_so
    from gait2hip.labeling import opensim_steps as st

    source, spec, result = running_trial
    folder = Path(result.folder)
    assert json.loads((folder / "result.json").read_text())["settings"]["so_solver"] == "fast"
    work = folder / "work"
    fast = read_motion(work / "so" / fast_so.FORCE_FILE).data
    t = fast["time"].to_numpy()
    w0 = next(c for c in result.cycles if not c["exclude"] and c["side"] == "r")["t0"] + 0.1
    opensim = {}
    for tol in (1e-8, 1e-4):
        forces, _ = st.static_optimization(
            work / "so_model.osim",
            work / "ik" / "ik.mot",
            work / "grf.xml",
            tmp_path / str(tol),
            t0=w0,
            t1=w0 + 0.3,
            lowpass_hz=source.settings.lowpass_hz,
            convergence=tol,
            max_iterations=2000,
        )
        opensim[tol] = read_motion(forces).data
    window = np.isin(np.round(t, 6), np.round(opensim[1e-8]["time"].to_numpy(), 6))
    assert window.sum() == len(opensim[1e-8]) > 25
    groups = MUSCLE_GROUPS["gait2392"]

    def per_kg(frame, g):
        return frame[list(groups[g])].sum(axis=1).to_numpy() / spec.mass_kg

    for g in FORCE_COLS:
        ours = per_kg(fast[window], g)
        tight, loose = per_kg(opensim[1e-8], g), per_kg(opensim[1e-4], g)
        assert np.sqrt(np.mean((ours - tight) ** 2)) < 0.005, g
        assert np.sqrt(np.mean((ours - loose) ** 2)) < 0.06, g

    sm = fast_so._so_model(work / "so_model.osim")
    _, q, u = fast_so.so_kinematics(
        sm.model, work / "ik" / "ik.mot", source.settings.lowpass_hz, t[window][0], t[window][-1]
    )
    Q, U = fast_so._state_values(sm, q, u)
    capacity, *_ = fast_so._geometry_pass(sm, Q, U, True)
    exact, _ = _opensims_capacities_and_speeds(sm, Q, U)
    np.testing.assert_allclose(capacity, exact, rtol=0, atol=1e-9 * exact.max())
