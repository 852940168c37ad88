"""A real trial through scale -> IK -> ID -> SO, cycles, QC, caching and the dataset build."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gait2hip.conventions import FORCE_COLS, MOMENT_COLS
from gait2hip.gait.signal import resample
from gait2hip.io.npz import read_npz
from gait2hip.io.storage import read_motion, write_motion
from gait2hip.labeling.build import assemble, build_dataset, load_cycles, qc_table, run_trials
from gait2hip.labeling.trial import LabelSettings, _qc_reason, label_trial

pytestmark = pytest.mark.realdata


def test_real_trial_labels_are_plausible(labelled_trial):
    _, spec, _, result = labelled_trial
    assert [c["side"] for c in result.cycles] == ["r", "l"]
    right = result.cycles[0]
    # right cycle: plate strike at 0.049 s, next strike from the c3d events at 1.01 s
    assert right["t0"] == pytest.approx(0.049, abs=0.002)
    assert right["t1"] == pytest.approx(1.01, abs=0.002)
    assert right["strike_sources"] == "grf/c3d"
    # walking: peak hip extension and flexion moments about 0.5-1.5 Nm/kg
    for c in result.cycles:
        assert 0.5 <= c["peak_hip_extension_moment_nm_kg"] <= 1.5
        assert 0.5 <= c["peak_hip_flexion_moment_nm_kg"] <= 1.5
        assert c["marker_rms_m"] < 0.02
        assert c["reserve_pct_max"] < 2.0
        assert c["exclude"] == ""
    with np.load(result.labels_path()) as z:
        forces, moments, X = z["forces"], z["moments"], z["X"]
    assert forces.shape == (2, 180, len(FORCE_COLS)) and moments.shape == (2, 180, 3)
    assert forces.min() >= -1e-3  # muscle forces are tensile
    per_kg = forces.max(axis=1) / spec.mass_kg
    assert per_kg.max() < 50 and per_kg[:, FORCE_COLS.index("glmed_r")].min() > 2
    # knee flexes to ~60 deg in swing; the left cycle was mirrored onto the right columns
    assert 45 < X[:, :, 6].max() < 80


def test_kinematic_strikes_match_c3d_events(labelled_trial):
    from gait2hip.io.c3d import read_c3d
    from gait2hip.labeling.trial import _kinematic_strikes

    _, spec, _, result = labelled_trial
    work = Path(result.folder) / "work"
    found = _kinematic_strikes(work / "scale" / "scaled.osim", read_motion(work / "ik/ik.mot"), "r")
    stored = read_c3d(spec.c3d).strikes("right")
    assert len(found) >= 1  # the trial starts at a strike, which a maximum cannot show
    for t in found:
        assert np.min(np.abs(stored - t)) < 0.04


def test_leg_marker_errors_agree_with_opensim(labelled_trial):
    from gait2hip.labeling import opensim_steps as st

    _, spec, _, result = labelled_trial
    ik = Path(result.folder) / "work" / "ik"
    ours = st.marker_errors(
        Path(result.folder) / "work/scale/scaled.osim",
        Path(spec.trc),
        ik / "ik_ik_model_marker_locations.sto",
    )
    theirs = read_motion(ik / "ik_ik_marker_errors.sto").data
    np.testing.assert_allclose(ours["rms"], theirs["marker_error_RMS"], rtol=1e-4)
    np.testing.assert_allclose(ours["max"], theirs["marker_error_max"], rtol=1e-4)
    assert (ours["leg_rms"] > 0).all() and ours["leg_rms"].mean() < ours["rms"].mean()


def test_cached_trial_is_not_recomputed(labelled_trial):
    source, spec, cache, first = labelled_trial
    t0 = time.perf_counter()
    again = label_trial(spec, source.settings, cache)
    assert again.cached and again.cycles == first.cycles
    assert time.perf_counter() - t0 < 5
    # another setting is another cache entry
    other = replace(source.settings, strength_scale=1.5)
    from gait2hip.labeling.trial import cache_key

    assert cache_key(spec, other) != cache_key(spec, source.settings)


def test_right_hip_needs_only_the_right_foot_grf(labelled_trial, tmp_path):
    """Subtree argument: zeroing the left foot's GRF leaves right-hip ID moments unchanged."""
    from gait2hip.io.external_loads import read_external_loads, write_external_loads
    from gait2hip.labeling import opensim_steps as st

    _, _, _, result = labelled_trial
    work = Path(result.folder) / "work"
    loads = read_external_loads(work / "grf.xml")
    grf = read_motion(work / "grf.mot").data
    left = loads.for_side("l").columns()
    grf[[c for cols in left.values() for c in cols]] = 0.0
    write_motion(tmp_path / "grf.mot", grf, in_degrees=False)
    write_external_loads(tmp_path / "grf.xml", loads, "grf.mot")
    model = work / "scale" / "scaled.osim"
    kw = dict(t0=0.05, t1=1.0, lowpass_hz=6.0)
    full = read_motion(
        st.inverse_dynamics(model, work / "ik/ik.mot", work / "grf.xml", tmp_path / "a", **kw)
    ).data
    no_left = read_motion(
        st.inverse_dynamics(model, work / "ik/ik.mot", tmp_path / "grf.xml", tmp_path / "b", **kw)
    ).data
    right = ["hip_flexion_r_moment", "hip_adduction_r_moment", "hip_rotation_r_moment"]
    np.testing.assert_allclose(no_left[right], full[right], atol=1e-6)
    # ...while the left hip and the pelvis residuals do change
    assert np.abs(no_left["hip_flexion_l_moment"] - full["hip_flexion_l_moment"]).max() > 10


def test_batch_survives_a_failing_trial_and_assembles(labelled_trial, tmp_path):
    source, spec, cache, _ = labelled_trial
    broken = replace(spec, trial="C9_99", trc=str(tmp_path / "missing.trc"))
    results = run_trials([spec, broken], source.settings, cache, workers=1)
    assert results[0].ok and results[0].cached
    assert not results[1].ok and "missing.trc" in results[1].error
    qc = qc_table(results)
    assert list(qc["status"]) == ["kept", "kept", "trial failed"]
    datasets = assemble(load_cycles(results))
    ds = datasets["moments"]
    assert ds.X.shape == (2, 180, 10) and ds.out_cols == MOMENT_COLS
    assert list(ds.extra["side"]) == ["r", "l"]
    assert set(ds.subject_id) == {"2014001"} and ds.weight_kg[0] == 67.0
    # the forces dataset carries moment arms and the hip moments of the same cycles: the
    # labelled forces reproduce the inverse-dynamics hip moment (reserves aside)
    from gait2hip.training.physics import has_physics, held_out_residuals

    f = datasets["forces"]
    assert has_physics(f) and f.extra["hip_moments"].shape == (2, 180, 3)
    np.testing.assert_array_equal(f.extra["hip_moments"], ds.Y)
    labels = held_out_residuals(f, np.arange(2), f.Y_per_kg).set_index(["source", "dof"])
    assert (labels.loc["labels", "rmse_pct_range"] < 2.0).all(), labels


def test_build_from_a_lab_folder(labelled_trial, tmp_path):
    """The documented lab layout, with a scaled model and a finished IK (no IK run)."""
    from gait2hip.labeling.sources import from_folder

    _, spec, _, result = labelled_trial
    work = Path(result.folder) / "work"
    lab = tmp_path / "mylab"
    sdir = lab / "S01"
    sdir.mkdir(parents=True)
    (lab / "subjects.csv").write_text("subject,mass_kg,height_m\nS01,67,1.66\n")
    (lab / "trials.csv").write_text("subject,trial,condition\nS01,walk1,comfortable\n")
    (lab / "settings.json").write_text('{"sides": ["r"]}')
    (sdir / "model.osim").symlink_to(work / "scale" / "scaled.osim")
    (sdir / "walk1_ik.mot").symlink_to(work / "ik" / "ik.mot")
    grf_mot = Path(spec.grf_xml).with_suffix(".mot")
    (sdir / grf_mot.name).symlink_to(grf_mot)
    (sdir / "walk1_grf.xml").symlink_to(spec.grf_xml)
    source = from_folder(lab)
    assert [s.trial for s in source.specs] == ["walk1"] and source.settings.sides == ("r",)
    report = build_dataset(
        source, tmp_path / "out", tmp_path / "cache", workers=1, show_progress=False
    )
    assert report.n_kept == 1
    ds = read_npz(report.paths["moments"])
    assert ds.speed_label.tolist() == ["comfortable"] and ds.subject_id.tolist() == ["S01"]
    assert report.qc["strike_sources"].tolist() == ["grf/kinematics"]
    # same right cycle as the Schreiber build (same model, IK and GRF); only the end event
    # differs (kinematics instead of the c3d), by at most 3 frames at 100 Hz
    assert abs(report.qc["t1"].iloc[0] - result.cycles[0]["t1"]) <= 0.03
    with np.load(result.labels_path()) as z:
        ref = z["moments"][0]
    # same joint moments on a slightly different time base: the same peaks
    np.testing.assert_allclose(ds.Y[0].max(0), ref.max(0), rtol=0.03, atol=1.0)
    np.testing.assert_allclose(ds.Y[0].min(0), ref.min(0), rtol=0.03, atol=1.0)
    assert (tmp_path / "out" / "cycles.png").stat().st_size > 10_000
    assert (tmp_path / "out" / "qc.csv").is_file()


def test_lab_folder_errors_say_what_is_missing(tmp_path):
    from gait2hip.labeling.sources import SourceError, from_folder

    with pytest.raises(SourceError, match=r"subjects\.csv"):
        from_folder(tmp_path)
    (tmp_path / "subjects.csv").write_text("subject,mass_kg\nS01,70\n")
    (tmp_path / "S01").mkdir()
    with pytest.raises(SourceError, match=r"model\.osim"):
        from_folder(tmp_path)


def test_qc_reasons():
    s = LabelSettings()
    good = dict(
        marker_rms_m=0.01,
        reserve_pct_max=1.0,
        reserve_pct_worst="hip_flexion_r",
        peak_hip_flexion_moment_nm_kg=1.0,
        peak_hip_extension_moment_nm_kg=0.8,
        peak_group_force_n_kg=30.0,
        peak_group="iliopsoas_r",
    )
    assert _qc_reason(good, s) == ""
    bad = {**good, "marker_rms_m": 0.035, "reserve_pct_max": 25.0}
    reason = _qc_reason(bad, s)
    assert "IK leg-marker RMS 3.5 cm" in reason and "reserve 25% at hip_flexion_r" in reason


def test_resample_refuses_to_extrapolate():
    t = np.linspace(0, 1, 101)
    y = resample(t, np.sin(t), 0.2, 0.8, 180)
    assert y.shape == (180,) and y[0] == pytest.approx(np.sin(0.2))
    with pytest.raises(ValueError, match="cannot resample"):
        resample(t, np.sin(t), 0.5, 1.2, 180)


def test_finished_ik_missing_a_coordinate_is_refused(labelled_trial, tmp_path):
    from gait2hip.labeling.trial import _kinematics

    _, spec, _, result = labelled_trial
    work = Path(result.folder) / "work"
    ik = read_motion(work / "ik" / "ik.mot").data.drop(columns=["hip_flexion_r"])
    write_motion(tmp_path / "short_ik.mot", ik)
    bad = replace(spec, trc=None, ik=str(tmp_path / "short_ik.mot"))
    with pytest.raises(ValueError, match=r"short_ik\.mot.*hip_flexion_r"):
        _kinematics(bad, work / "scale" / "scaled.osim", LabelSettings(), tmp_path, None)


def test_inputs_are_in_the_study_knee_convention(labelled_trial, running_trial):
    """Labelled inputs flex the knee positive whatever the model's convention: Rajagopal's
    (walking) as it is, the gait2392 family's (Hamner's running, flexion negative) negated, so
    a model of one dataset reads the other's cycles as `predict` reads a user's flipped file."""
    from gait2hip.conventions import INPUT_COLS
    from gait2hip.io.osim import read_osim

    knees = [j for j, c in enumerate(INPUT_COLS) if c.startswith("knee_angle")]
    _, walk, _, walked = labelled_trial
    _, run, ran = running_trial
    assert (read_osim(walk.model).input_signs(INPUT_COLS) == 1).all()
    signs = read_osim(run.model).input_signs(INPUT_COLS)
    assert (signs[knees] == -1).all() and (np.delete(signs, knees) == 1).all()
    ik = read_motion(Path(ran.folder) / "work" / "ik" / "ik.mot").data
    assert ik["knee_angle_r"].mean() < -20  # the file: flexion negative
    for r in (walked, ran):
        with np.load(r.labels_path()) as z:
            X = z["X"]
        assert X[..., knees].mean() > 20 and X[..., knees].min() > -15
