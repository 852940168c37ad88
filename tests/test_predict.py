"""Prediction for new trials: inputs and their errors, events, ensemble and calibration,
outputs (.sto readable by OpenSim, tables, figure), the API and the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import gait2hip
from gait2hip.cli import app
from gait2hip.conventions import FORCE_COLS, INPUT_COLS, mirror_name
from gait2hip.gait.events import KINEMATIC_DELAY_S, strikes_from_angles
from gait2hip.inference.calibration import (
    Calibration,
    OODReference,
    coverage_of,
    cycle_features,
    z_value,
)
from gait2hip.inference.events import segment
from gait2hip.inference.inputs import InputError, read_angles
from gait2hip.inference.predictor import ModelNotFoundError, find_predictors, load_predictor
from gait2hip.io.storage import read_motion, write_motion
from gait2hip.pipelines.benchmark import benchmark
from gait2hip.training.checkpoint import TrainedModel
from tests.test_protocol import tiny_config

RATE = 100.0
STRIDE = 1.1


@pytest.fixture(scope="session")
def runs(synthetic, tmp_path_factory):
    """A folder of two tiny trained runs (forces, moments) with fold models + calibration."""
    root = tmp_path_factory.mktemp("runs")
    for target in ("forces", "moments"):
        cfg = dataclasses.replace(tiny_config(models=("lstm",)), target=target, n_folds=3)
        benchmark(synthetic[target], cfg, root / target, show_progress=False)
    return root


@pytest.fixture(scope="session")
def predictors(runs):
    return find_predictors(runs)


def make_trial(ds, n_cycles=4, start=0.3, subject_index=0, stride=STRIDE):
    """A continuous trial at 100 Hz from consecutive synthetic cycles of ``stride`` s; returns
    the table and the heel-strike times that bound the cycles."""
    X = ds.X[subject_index * 3 : subject_index * 3 + n_cycles]
    T = X.shape[1]
    strikes = start + stride * np.arange(n_cycles + 1)
    time = np.round(np.arange(0.0, strikes[-1] + 0.3, 1 / RATE), 6)
    cols = {}
    for j, c in enumerate(ds.in_cols):
        cyc_t = np.concatenate([np.linspace(s, s + stride, T) for s in strikes[:-1]])
        cyc_v = np.concatenate([x[:, j] for x in X])
        cols[c] = np.interp(time, cyc_t, cyc_v)  # constant before/after (partial pieces)
    return pd.DataFrame({"time": time, **cols}), strikes


# ----------------------------------------------------------------------------- calibration


def test_coverage_and_z_by_hand():
    assert z_value(0.9) == pytest.approx(1.6449, abs=1e-4)
    y = np.array([0.0, 1.0, 2.0, 3.0]).reshape(1, 4, 1)
    mean = np.zeros_like(y)
    sd = np.ones_like(y)
    cov = coverage_of(y, mean, sd, nominal=(0.5, 0.9, 0.99))
    # |err| <= 0.674: {0}; <= 1.645: {0, 1}; <= 2.576: {0, 1, 2}
    np.testing.assert_allclose(cov[:, 0], [0.25, 0.5, 0.75])


def test_ood_score_grows_with_distance(rng):
    X = rng.normal(size=(60, 30, 4)).cumsum(1)
    feats = cycle_features(X, points=10)
    assert feats.shape == (60, 40)
    ref = OODReference.fit(feats)
    near = ref.score(cycle_features(X[:5], points=10)).mean()
    far = ref.score(cycle_features(X[:5] + 3 * X.std(), points=10)).mean()
    assert far > 3 * near


def test_protocol_writes_fold_models_and_calibration(runs, synthetic):
    unit = runs / "forces" / "split42" / "lstm-causal" / "seed2025"
    assert sorted(p.name for p in unit.glob("fold*.pt")) == ["fold0.pt", "fold1.pt", "fold2.pt"]
    cal = Calibration.load(unit / "calibration.npz")
    T, K = synthetic["forces"].X.shape[1], len(synthetic["forces"].out_cols)
    assert cal.resid_sd.shape == (T, K) and (cal.resid_sd > 0).all()
    assert cal.coverage.shape == (4, K) and cal.n_members == 4
    assert np.all(np.diff(cal.coverage_all) >= 0)  # wider intervals cover more
    summary = json.loads((unit / "calibration.json").read_text())
    assert summary["nominal"] == [0.5, 0.8, 0.9, 0.95]
    # OOD reference: one out-of-fold score per pool cycle (test subjects never used)
    meta = TrainedModel.load(unit / "final.pt").meta
    n_test = int(np.isin(synthetic["forces"].subject_id, meta["test_subjects"]).sum())
    assert len(cal.ood_reference_scores) == len(synthetic["forces"]) - n_test


# ----------------------------------------------------------------------------- predictors


def test_find_predictors_per_target_and_errors(runs, tmp_path):
    found = find_predictors(runs)
    assert set(found) == {"forces", "moments"}
    assert len(found["forces"].members) == 4 and found["forces"].calibration is not None
    single = load_predictor(runs / "forces" / "split42" / "lstm-causal" / "seed2025" / "fold0.pt")
    assert len(single.members) == 1 and single.calibration is None
    with pytest.raises(ModelNotFoundError, match="gait2hip demo"):
        find_predictors(tmp_path / "nothing")
    with pytest.raises(ModelNotFoundError, match="no trained model of model 'mamba'"):
        load_predictor(runs / "forces", model="mamba")


# ----------------------------------------------------------------------------- inputs


def test_missing_column_suggests_near_name(synthetic, tmp_path):
    df, _ = make_trial(synthetic["forces"])
    df = df.rename(columns={"knee_angle_r": "knee_angle_r_beta"})
    with pytest.raises(InputError, match=r"'knee_angle_r' \(did you mean 'knee_angle_r_beta'"):
        read_angles(df, INPUT_COLS)


def test_radians_refused_without_units_and_converted_with_them(synthetic, tmp_path):
    df, _ = make_trial(synthetic["forces"])
    rad = df.copy()
    rad[list(INPUT_COLS)] = np.radians(rad[list(INPUT_COLS)])
    path = tmp_path / "rad.csv"
    rad.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"rad\.csv.*look like radians.*--angle-units rad"):
        read_angles(path, INPUT_COLS)
    trial = read_angles(path, INPUT_COLS, angle_units="rad")
    np.testing.assert_allclose(trial.angles["hip_flexion_r"], df["hip_flexion_r"], atol=1e-9)
    # a .mot that says inDegrees=no is converted; one that says yes over radians is refused
    write_motion(tmp_path / "rad.mot", rad, in_degrees=False)
    assert read_angles(tmp_path / "rad.mot", INPUT_COLS).angles["knee_angle_r"].max() > 30
    write_motion(tmp_path / "lie.mot", rad, in_degrees=True)
    with pytest.raises(InputError, match="inDegrees=yes"):
        read_angles(tmp_path / "lie.mot", INPUT_COLS)


def test_angle_units_that_contradict_the_header_or_the_values_are_refused(synthetic, tmp_path):
    """--angle-units rad over a file that says inDegrees=yes (or over angles of tens of
    degrees) would turn 72 degrees into ~4,100: refused, naming the file and the fix."""
    df, _ = make_trial(synthetic["forces"])
    write_motion(tmp_path / "deg.mot", df, in_degrees=True)
    with pytest.raises(InputError, match=r"deg\.mot: the header says inDegrees=yes but"):
        read_angles(tmp_path / "deg.mot", INPUT_COLS, angle_units="rad")
    assert read_angles(tmp_path / "deg.mot", INPUT_COLS, angle_units="deg").angles.shape[0]
    df.to_csv(tmp_path / "deg.csv", index=False)
    with pytest.raises(InputError, match=r"deg\.csv: .*these are degrees: pass --angle-units"):
        read_angles(tmp_path / "deg.csv", INPUT_COLS, angle_units="rad")


def test_time_errors_name_rows(synthetic, tmp_path):
    df, _ = make_trial(synthetic["forces"])
    dup = pd.concat([df.iloc[:50], df.iloc[49:]], ignore_index=True)
    with pytest.raises(InputError, match=r"duplicated time 0\.4900 s at rows \[50\]"):
        read_angles(dup, INPUT_COLS)
    back = df.copy()
    back.loc[100, "time"] = 0.5
    with pytest.raises(InputError, match="time goes backwards at row 100"):
        read_angles(back, INPUT_COLS)
    with pytest.raises(InputError, match="only 10 frames"):
        read_angles(df.iloc[:10], INPUT_COLS)
    with pytest.raises(InputError, match="no time column"):
        read_angles(df.drop(columns="time"), INPUT_COLS)
    bad = df.astype({"hip_flexion_r": object})
    bad.loc[3, "hip_flexion_r"] = "n/a"
    with pytest.raises(InputError, match="non-numeric"):
        read_angles(bad, INPUT_COLS)
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(InputError, match="unsupported file type"):
        read_angles(tmp_path / "x.xlsx", INPUT_COLS)
    with pytest.raises(FileNotFoundError, match="not found"):
        read_angles(tmp_path / "missing.mot", INPUT_COLS)
    with pytest.raises(
        FileNotFoundError, match=r"a folder, not an angle file; give the file\(s\) in it"
    ):
        read_angles(tmp_path, INPUT_COLS)


def test_nan_gaps_short_filled_long_reject_their_cycle(synthetic, predictors):
    df, strikes = make_trial(synthetic["forces"])
    df.loc[40:44, "hip_adduction_r"] = np.nan  # 60 ms, inside cycle 0: interpolated
    df.loc[260:300, "knee_angle_l"] = np.nan  # 0.42 s, inside cycle 2: that cycle rejected
    trial = read_angles(df, INPUT_COLS)
    assert np.isfinite(trial.angles["hip_adduction_r"]).all()
    assert [(g.first, g.last, g.filled) for g in trial.gaps] == [(40, 44, True), (260, 300, False)]
    pred = gait2hip.predict(df, strikes=strikes, predictors=predictors)
    table = pred.cycles_table()
    rejected = table[table.status == "rejected"]
    assert len(rejected) == 1 and "frames 260-300" in rejected.reason.iloc[0]
    assert len(pred.kept) == 3
    assert any("rejected" in w for w in pred.warnings)


# ----------------------------------------------------------------------------- events


def test_strikes_from_angles_on_a_known_signal():
    t = np.arange(0, 5, 0.01)
    hip = 20 * np.sin(2 * np.pi * t / 1.2)  # peaks at 0.3 + 1.2 k
    found = strikes_from_angles(t, hip, np.zeros_like(t))
    expected = 0.3 + 1.2 * np.arange(4) + KINEMATIC_DELAY_S
    np.testing.assert_allclose(found, expected, atol=0.003)
    # gait2392 knees (flexion negative) give the same strikes as Rajagopal's
    knee = 30 * np.clip(np.sin(2 * np.pi * (t - 0.6) / 1.2), 0, None)
    np.testing.assert_allclose(
        strikes_from_angles(t, hip, knee), strikes_from_angles(t, hip, -knee)
    )


def test_segment_reports_partial_and_implausible(synthetic):
    df, strikes = make_trial(synthetic["forces"])
    trial = read_angles(df, INPUT_COLS)
    windows = segment(trial, [(float(s), "given") for s in strikes])
    assert [w.status for w in windows] == ["partial", "ok", "ok", "ok", "ok", "partial"]
    odd = [(float(s), "given") for s in [*strikes[:3], strikes[2] + 0.2, *strikes[3:]]]
    statuses = [(w.status, w.reason[:10]) for w in segment(trial, odd)]
    assert ("rejected", "stride of ") in statuses


# ----------------------------------------------------------------------------- predict API


def test_predict_maps_back_to_the_trial_time_base(synthetic, predictors, tmp_path):
    ds = synthetic["forces"]
    df, strikes = make_trial(ds)
    pred = gait2hip.predict(df, mass_kg=70.0, strikes=strikes, predictors=predictors)
    assert len(pred.kept) == 4
    assert sum(c.status == "partial" for c in pred.cycles) == 2
    frames = pred.to_dataframe()
    inside = (df.time >= strikes[0]) & (df.time <= strikes[-1])
    np.testing.assert_allclose(frames.time, df.time[inside])
    assert frames.groupby("cycle").phase_pct.is_monotonic_increasing.all()
    np.testing.assert_allclose(frames["iliopsoas_r_N"], 70.0 * frames["iliopsoas_r_N_per_kg"])
    assert {"hip_flexion_r_moment_Nm", "hip_flexion_r_moment_Nm_per_kg_lo90"} <= set(frames)
    # on its own cycle grid the prediction equals the ensemble's for the resampled cycles
    cyc = pred.to_dataframe("cycle")
    X = ds.X[:4]
    mean, _, _ = predictors["forces"].predict(X)
    got = cyc[cyc.cycle == 1]["glmed_r_N_per_kg"].to_numpy()
    np.testing.assert_allclose(got, mean[1, :, FORCE_COLS.index("glmed_r")], atol=0.02)
    lo, hi = cyc["glmed_r_N_per_kg_lo90"], cyc["glmed_r_N_per_kg_hi90"]
    assert (lo <= cyc["glmed_r_N_per_kg"]).all() and (hi >= cyc["glmed_r_N_per_kg"]).all()


def test_sto_outputs_load_in_opensim(synthetic, predictors, tmp_path):
    osim = pytest.importorskip("opensim")
    df, strikes = make_trial(synthetic["forces"])
    pred = gait2hip.predict(df, mass_kg=70.0, strikes=strikes, predictors=predictors)
    written = pred.save(tmp_path, "trial", ("csv", "parquet"))
    names = sorted(p.name for p in written["sto"])
    assert names == ["trial_forces.sto", "trial_moments.sto"]
    table = osim.TimeSeriesTable(str(tmp_path / "trial_moments.sto"))
    assert list(table.getColumnLabels()) == [
        "hip_flexion_r_moment",
        "hip_adduction_r_moment",
        "hip_rotation_r_moment",
    ]
    assert table.getNumRows() == len(pred.to_dataframe())
    assert ("flagged_cycles=" in (tmp_path / "trial_moments.sto").read_text()) == bool(
        (pred.ood_flags | pred.pace_flags).any()
    )
    forces = osim.TimeSeriesTable(str(tmp_path / "trial_forces.sto"))
    col = forces.getDependentColumn("iliopsoas_r").to_numpy()
    np.testing.assert_allclose(col, pred.to_dataframe()["iliopsoas_r_N"], rtol=1e-6, atol=1e-6)
    back = pd.read_parquet(written["parquet"])
    assert back.shape == pd.read_csv(written["csv"]).shape
    assert (tmp_path / "trial.png").stat().st_size > 10_000
    assert not list(tmp_path.glob("*.tmp"))


def test_no_mass_gives_per_kg_only(synthetic, predictors, tmp_path):
    df, strikes = make_trial(synthetic["forces"])
    pred = gait2hip.predict(df, strikes=strikes, predictors=predictors)
    assert not any(c.endswith("_N") for c in pred.to_dataframe().columns)
    paths = pred.to_sto(tmp_path, "x")
    assert sorted(p.name for p in paths) == ["x_forces_per_kg.sto", "x_moments_per_kg.sto"]
    assert any("no body mass" in n for n in pred.notes)


def test_left_side_by_mirroring(synthetic, predictors):
    df, strikes = make_trial(synthetic["forces"])
    swapped = df.rename(columns={c: mirror_name(c) for c in INPUT_COLS})
    right = gait2hip.predict(df, strikes=strikes, predictors=predictors).to_dataframe()
    left = gait2hip.predict(swapped, side="l", strikes=strikes, predictors=predictors)
    frame = left.to_dataframe()
    assert "iliopsoas_l_N_per_kg" in frame and "hip_flexion_l_moment_Nm_per_kg" in frame
    np.testing.assert_allclose(frame["iliopsoas_l_N_per_kg"], right["iliopsoas_r_N_per_kg"])


def test_kinematic_events_find_the_cycles(synthetic, predictors):
    # the fixture holds the angles constant before the first and after the last strike, so
    # those two strikes are not peaks: the 4 inner cycles of 6 are found
    df, strikes = make_trial(synthetic["forces"], n_cycles=6)
    pred = gait2hip.predict(df, predictors=predictors)
    kept = pred.kept
    assert len(kept) >= 4
    assert all(c.sources == ("kinematics", "kinematics") for c in kept)
    assert any("heel strikes from joint angles" in n for n in pred.notes)
    starts = np.array([c.t0 for c in kept])
    assert np.min(np.abs(starts[:, None] - strikes[None]), axis=1).max() < 0.06


def test_ood_cycles_flagged(synthetic, predictors):
    df, strikes = make_trial(synthetic["forces"])
    odd = df.copy()
    odd["hip_flexion_r"] += 35.0
    odd["knee_angle_r"] *= 1.8
    normal = gait2hip.predict(df, strikes=strikes, predictors=predictors)
    shifted = gait2hip.predict(odd, strikes=strikes, predictors=predictors)
    assert shifted.ood_flags.all()
    assert any("outside the training kinematics" in w for w in shifted.warnings)
    p_norm = normal.targets["forces"].ood_percentile
    assert (shifted.targets["forces"].ood_score > normal.targets["forces"].ood_score).all()
    assert p_norm.max() <= 100


def test_opposite_sign_convention_refused(synthetic, predictors):
    df, strikes = make_trial(synthetic["forces"])
    df["knee_angle_r"] *= -1
    with pytest.raises(InputError, match=r"knee_angle_r averages .*--flip-sign knee_angle_r\)"):
        gait2hip.predict(df, strikes=strikes, predictors=predictors)
    fixed = gait2hip.predict(df, strikes=strikes, predictors=predictors, flip_sign=["knee_angle_r"])
    assert len(fixed.kept) == 4


def _osim(path: Path, knee_range: str, version: str = "30000") -> Path:
    """A minimal OpenSim model file: two bodies (72 kg) and both knees with ``knee_range``."""
    knees = "".join(
        f'<Coordinate name="knee_angle_{s}"><range>{knee_range}</range></Coordinate>' for s in "rl"
    )
    path.write_text(
        f'<OpenSimDocument Version="{version}"><Model name="m"><BodySet><objects>'
        "<Body name='pelvis'><mass>10</mass></Body><Body name='femur_r'><mass>62</mass></Body>"
        f"</objects></BodySet><CoordinateSet><objects>{knees}</objects></CoordinateSet>"
        "</Model></OpenSimDocument>"
    )
    return path


def test_subject_model_tells_the_knee_convention(synthetic, predictors, tmp_path):
    """A gait2392-family model as the subject file negates its trial's knees, as labelling
    does; a Rajagopal-like one does not; a file whose knees already flex positive is refused
    with the fix (the mass instead of the model)."""
    df, strikes = make_trial(synthetic["forces"])
    negative = _osim(tmp_path / "gait2392.osim", " -2.0944 0.174533")
    positive = _osim(tmp_path / "rajagopal.osim", "0 2.0944", version="40000")
    flexion_negative = df.assign(knee_angle_r=-df.knee_angle_r, knee_angle_l=-df.knee_angle_l)
    plain = gait2hip.predict(df, strikes=strikes, predictors=predictors, mass_kg=72.0)
    read = gait2hip.predict(
        flexion_negative, strikes=strikes, predictors=predictors, subject=negative
    )
    assert read.mass_kg == 72.0
    assert any("negated because gait2392.osim flexes the knee negative" in n for n in read.notes)
    # another model family than the labels': the note says the interval may not hold the gap
    assert any("--inverse-dynamics checks a trial against its own" in n for n in read.notes)
    np.testing.assert_allclose(read.targets["forces"].mean, plain.targets["forces"].mean, atol=1e-6)
    # the user's own flip agrees with the model's: negated once
    both = gait2hip.predict(
        flexion_negative,
        strikes=strikes,
        predictors=predictors,
        subject=negative,
        flip_sign=["knee_angle_r", "knee_angle_l"],
    )
    np.testing.assert_allclose(both.targets["forces"].mean, plain.targets["forces"].mean, atol=1e-6)
    same = gait2hip.predict(df, strikes=strikes, predictors=predictors, subject=positive)
    assert not any("negated" in n or "inverse-dynamics checks" in n for n in same.notes)
    with pytest.raises(InputError, match=r"gait2392\.osim flexes the knee negative .*--mass"):
        gait2hip.predict(df, strikes=strikes, predictors=predictors, subject=negative)
    with pytest.raises(InputError, match=r"--subject model\.osim"):
        gait2hip.predict(flexion_negative, strikes=strikes, predictors=predictors, mass_kg=72.0)
    (tmp_path / "broken.osim").write_text("<OpenSimDocument><Model>")
    with pytest.raises(InputError, match=r"broken\.osim: not an OpenSim model"):
        gait2hip.predict(
            df, strikes=strikes, predictors=predictors, subject=tmp_path / "broken.osim"
        )


def test_leg_length_of_opensim_models(data_root, osim, tmp_path):
    """The hip joint centre's height above the sole in the default pose: Rajagopal's generic
    model's (0.848 m, its 1.70 m documented height x 0.5); None for a model without feet or
    a file OpenSim cannot load."""
    from gait2hip.io.osim import leg_length_m

    assert leg_length_m(data_root / "models/Rajagopal2016.osim") == pytest.approx(0.8484, abs=1e-3)
    assert leg_length_m(_osim(tmp_path / "nofeet.osim", "0 2.0944", version="40000")) is None
    (tmp_path / "broken.osim").write_text("<OpenSimDocument><Model>")
    assert leg_length_m(tmp_path / "broken.osim") is None


def test_opensim_as_imported_writes_no_log_file(data_root, tmp_path):
    """OpenSim as gait2hip imports it (``import_opensim``, which labelling and the leg length
    use) writes no opensim.log: its default log file lands in the folder of the model it
    loads (a lab's or the bundled data's, maybe read-only), here at info level, in a fresh
    process where nothing configured OpenSim's log before."""
    import shutil
    import subprocess
    import sys

    models, work = tmp_path / "models", tmp_path / "work"
    models.mkdir()
    work.mkdir()
    model = shutil.copy(data_root / "models/Rajagopal2016.osim", models)
    code = (
        "from gait2hip.io.osim import import_opensim, leg_length_m\n"
        "opensim = import_opensim()\n"
        "opensim.Logger.setLevelString('info')\n"
        f"opensim.Model({str(model)!r})\n"
        f"assert leg_length_m({str(model)!r}) > 0.8\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=work, check=True, timeout=120,
                   capture_output=True)  # fmt: skip
    assert not list(tmp_path.rglob("opensim.log"))


def test_scaled_model_without_height_gives_the_height(synthetic, predictors, data_root, tmp_path):
    """A scaled model as the subject file and no height: the height its leg length stands for
    (leg length / LEG_PER_HEIGHT) scales the moments and drives the size check as a given
    height would, with a note and the .sto header saying it was estimated; a given height
    wins."""
    from gait2hip.inference.api import LEG_PER_HEIGHT
    from gait2hip.io.osim import leg_length_m, read_osim

    df, strikes = make_trial(synthetic["forces"])
    model = data_root / "models/Rajagopal2016.osim"
    height = leg_length_m(model) / LEG_PER_HEIGHT
    est = gait2hip.predict(df, strikes=strikes, predictors=predictors, subject=model)
    assert est.height_m == pytest.approx(height) and est.height_estimated
    assert any(f"{height:.2f} m estimated from Rajagopal2016.osim's leg length" in n
               for n in est.notes)  # fmt: skip
    given = gait2hip.predict(df, strikes=strikes, predictors=predictors,
                             mass_kg=read_osim(model).mass_kg, height_m=height)  # fmt: skip
    assert not given.height_estimated
    for name, t in est.targets.items():
        np.testing.assert_allclose(t.mean, given.targets[name].mean, atol=1e-6)
        np.testing.assert_allclose(t.sd, given.targets[name].sd, atol=1e-6)
    said = " (estimated from the model's leg length)"
    assert [w.replace(said, "") for w in est.warnings] == given.warnings
    header = (est.to_sto(tmp_path, "est")[0]).read_text().split("endheader")[0]
    assert "body_height_m=" in header and "estimated from the scaled model" in header
    measured = gait2hip.predict(df, strikes=strikes, predictors=predictors, subject=model,
                                height_m=1.8)  # fmt: skip
    assert measured.height_m == 1.8 and not measured.height_estimated
    assert not any("estimated from" in n for n in measured.notes)


def test_model_trained_on_other_columns(synthetic, predictors):
    df, strikes = make_trial(synthetic["forces"])
    with pytest.raises(InputError, match="missing angle columns: 'ankle_angle_l'"):
        gait2hip.predict(df.drop(columns="ankle_angle_l"), strikes=strikes, predictors=predictors)


def test_too_short_and_bad_mass(synthetic, predictors, tmp_path):
    df, strikes = make_trial(synthetic["forces"])
    short = df[df.time < 1.0]
    with pytest.raises(InputError, match="no complete gait cycle of the right leg"):
        gait2hip.predict(short, predictors=predictors)
    with pytest.raises(InputError, match="not lb or g"):
        gait2hip.predict(df, mass_kg=70000, strikes=strikes, predictors=predictors)
    subject = tmp_path / "s.json"
    subject.write_text(json.dumps({"mass_kg": 61.5, "height_m": 1.7}))
    pred = gait2hip.predict(df, subject=subject, strikes=strikes, predictors=predictors)
    assert pred.mass_kg == 61.5 and pred.height_m == 1.7


def test_npz_cycles_input(synthetic, predictors, tmp_path):
    from gait2hip.io.npz import write_npz

    path = write_npz(synthetic["forces"], tmp_path / "cycles.npz")
    pred = gait2hip.predict(path, predictors=predictors)
    assert len(pred.kept) == len(synthetic["forces"])
    assert pred.to_dataframe("cycle").shape[0] == len(synthetic["forces"]) * 40


def test_joint_model_gives_forces_and_moments(synthetic, runs, tmp_path):
    """A joint model's prediction is split into its forces and its moments (each with its
    unit and .sto file, non-negative forces); with a forces model beside it, refused."""
    from gait2hip.inference.predictor import find_predictors
    from gait2hip.io.npz import write_npz

    cfg = dataclasses.replace(tiny_config(models=("lstm",)), target="joint", n_folds=3)
    benchmark(synthetic["forces"].joint(), cfg, tmp_path / "joint", show_progress=False)
    path = write_npz(synthetic["forces"], tmp_path / "cycles.npz")
    pred = gait2hip.predict(path, model=tmp_path / "joint", mass_kg=70)
    assert set(pred.targets) == {"forces", "moments"}
    assert pred.targets["forces"].mean.shape[-1] == 14 and pred.targets["moments"].unit == "Nm/kg"
    assert (pred.targets["forces"].mean >= 0).all()
    columns = " ".join(pred.to_dataframe("cycle").columns)
    assert "iliopsoas_r" in columns and "hip_flexion_r_moment" in columns
    both = {**find_predictors(runs / "forces"), **find_predictors(tmp_path / "joint")}
    with pytest.raises(InputError, match="two models predict forces"):
        gait2hip.predict(path, predictors=both, mass_kg=70)


# ----------------------------------------------------------------------------- CLI

runner = CliRunner()


def test_cli_predict_and_models(synthetic, runs, tmp_path):
    df, _ = make_trial(synthetic["forces"])
    write_motion(tmp_path / "trial.mot", df, in_degrees=True)
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "predict",
            str(tmp_path / "trial.mot"),
            "--model",
            str(runs),
            "--mass",
            "70",
            "--side",
            "both",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    for name in (
        "trial_r_forces.sto",
        "trial_l_moments.sto",
        "trial_r.csv",
        "trial_r.png",
        "trial_r_cycles.csv",
    ):
        assert (out / name).exists(), name
    res = runner.invoke(app, ["predict", str(tmp_path / "nope.mot"), "--model", str(runs)])
    assert res.exit_code == 2 and "not found" in res.output
    res = runner.invoke(app, ["models", str(runs)])
    assert res.exit_code == 0 and "lstm-causal" in res.output
    res = runner.invoke(app, ["predict", str(tmp_path / "trial.mot"), "--model", str(tmp_path)])
    assert res.exit_code == 2 and "no trained models" in res.output


def test_cli_outputs_follow_gait2hip_runs(synthetic, runs, tmp_path, monkeypatch):
    """Without --out, outputs go under $GAIT2HIP_RUNS (where `gait2hip models` and the other
    commands look), not a hard-coded runs/."""
    df, _ = make_trial(synthetic["forces"])
    write_motion(tmp_path / "trial.mot", df, in_degrees=True)
    monkeypatch.setenv("GAIT2HIP_RUNS", str(tmp_path / "elsewhere"))
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["predict", "trial.mot", "--model", str(runs)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "elsewhere" / "predictions" / "trial_r.csv").is_file()
    assert not (tmp_path / "runs").exists()


# ----------------------------------------------------------------------------- real data

HAMNER = "hamner2013/subject03"


@pytest.mark.realdata
def test_grf_strikes_match_the_bundled_events(data_root):
    from gait2hip.inference.events import strikes_from_grf

    events = pd.read_csv(data_root / HAMNER / "gait_events.csv")
    ref = events[(events.run == "Run_3") & (events.leg == "R")].initial_time_s.to_numpy()
    # the .mot alone: the side comes from the ExternalLoads .xml found next to it
    found = strikes_from_grf(data_root / HAMNER / "expData" / "Run_3_grf.mot", "r")
    assert len(found) >= len(ref)
    assert np.abs(found[:, None] - ref[None]).min(0).max() < 0.01


@pytest.mark.realdata
def test_cli_predict_on_a_bundled_ik_file(data_root, runs, tmp_path):
    """Running IK (gait2392 knees) through models trained on other data: the knee sign is
    refused until flipped, or read from the subject's model; cycles come from the GRF, outputs
    load in OpenSim."""
    osim = pytest.importorskip("opensim")
    base = data_root / HAMNER
    args = [
        "predict",
        str(base / "ik" / "Run_3.mot"),
        "--model",
        str(runs),
        "--out",
        str(tmp_path),
        "--grf",
        str(base / "expData" / "Run_3_grf.mot"),
        "--subject",
        str(base / "model" / "subject03_adjusted_scaled.osim"),
    ]
    res = runner.invoke(app, [*args[:-2], "--mass", "64"])
    assert res.exit_code == 2 and "--flip-sign knee_angle_r --flip-sign knee_angle_l" in res.output
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "knee_angle_r, knee_angle_l: negated because subject03_adjusted_scaled.osim" in " ".join(
        res.output.split()
    )
    cycles = pd.read_csv(tmp_path / "Run_3_r_cycles.csv")
    kept = cycles[cycles.status == "ok"]
    assert len(kept) == 7 and set(kept.strike_sources) <= {"grf/grf", "grf/kinematics"}
    table = osim.TimeSeriesTable(str(tmp_path / "Run_3_r_forces.sto"))
    assert table.getNumColumns() == 14
    # the files say which cycles were flagged (running: all of them), OpenSim reads past it
    header = (tmp_path / "Run_3_r_forces.sto").read_text().split("endheader")[0]
    assert "flagged_cycles=7 of 7 cycles (" in header and "unlike the training data" in header
    frame = pd.read_csv(tmp_path / "Run_3_r.csv")
    mass = float(frame["glmed_r_N"].iloc[10] / frame["glmed_r_N_per_kg"].iloc[10])
    assert 50 < mass < 100  # from the scaled model's bodies
    assert (tmp_path / "Run_3_r.png").exists()
    # the shipped default: these running cycles, faster than every training walk, stay with
    # its duration-aware own model (blend rule /keep-fast0), though flagged
    default = [a for a in args if a not in ("--model", str(runs))]
    res = runner.invoke(app, [*default[:3], str(tmp_path / "default"), *default[4:]])
    assert res.exit_code == 0 and "blended with" in res.output, res.output
    cycles = pd.read_csv(tmp_path / "default" / "Run_3_r_cycles.csv")
    kept = cycles[cycles.status == "ok"]
    assert len(kept) == 7 and kept.pace_flag.all() and kept.ood_flag.all()
    assert (kept.broad_weight_moments == 0).all()


@pytest.mark.realdata
def test_predict_walking_ik_with_c3d_events(labelled_trial, predictors):
    """A whole-trial IK of the labelled Schreiber trial: strikes from its c3d events give the
    same right cycle the labelling used; the rest is reported as partial."""
    _, spec, _, result = labelled_trial
    ik = result.labels_path().parent / "work" / "ik" / "ik.mot"
    pred = gait2hip.predict(ik, c3d=spec.c3d, mass_kg=spec.mass_kg, predictors=predictors)
    (kept,) = pred.kept
    labelled = next(c for c in result.cycles if c["side"] == "r")
    assert kept.sources == ("c3d", "c3d")
    assert abs(kept.t0 - labelled["t0"]) < 0.02 and abs(kept.t1 - labelled["t1"]) < 0.02
    assert [c.status for c in pred.cycles] == ["partial", "ok", "partial"]


def test_a_childs_scaled_model_tells_its_size(labelled_trial, data_root, osim, tmp_path):
    """A child-sized model (Rajagopal's scaled by 0.75, 25 kg) as the only subject file: the
    shipped moments model scales to the height its leg length stands for, its size check
    flags the body with that height named as estimated, and the blend hands the cycles to its
    broad model; the same trial with the adult-sized model keeps its own model."""
    _, spec, _, result = labelled_trial
    ik = result.labels_path().parent / "work" / "ik" / "ik.mot"
    generic = data_root / "models" / "Rajagopal2016.osim"
    model = osim.Model(str(generic))
    state = model.initSystem()
    scales = osim.ScaleSet()
    bodies = model.getBodySet()
    for i in range(bodies.getSize()):
        scale = osim.Scale()
        scale.setSegmentName(bodies.get(i).getName())
        scale.setScaleFactors(osim.Vec3(0.75))
        scale.setApply(True)
        scales.cloneAndAppend(scale)
    model.scale(state, scales, True, 25.0)
    child = tmp_path / "child.osim"
    model.printToXML(str(child))
    pred = gait2hip.predict(ik, c3d=spec.c3d, subject=child)
    assert pred.mass_kg == pytest.approx(25.0) and pred.height_estimated
    assert 1.1 < pred.height_m < 1.35, pred.height_m
    assert any(
        f"moments: body height {pred.height_m:.3g} m (estimated from the model's leg length) "
        "is unlike the training subjects'" in w
        for w in pred.warnings
    ), pred.warnings
    kept = pred.cycles_table().dropna(subset=["cycle"])
    assert (kept["broad_weight_moments"] == 1).all(), kept.T
    adult = gait2hip.predict(ik, c3d=spec.c3d, subject=generic)
    assert 1.6 < adult.height_m < 1.7 and adult.height_estimated
    kept = adult.cycles_table().dropna(subset=["cycle"])
    assert (kept["broad_weight_moments"] == 0).all(), kept.T
    assert not any("body height" in w for w in adult.warnings), adult.warnings


def test_merge_cycles_by_hand():
    """Two models' results of one target, merged in cycle order: each cycle's rows from the
    model that predicted it, a per-cycle field only one of them has NaN on the other's cycles,
    each cycle's model named; other channels or counts refused."""
    from gait2hip.inference.result import TargetResult, merge_cycles

    def result(n, value, model, broad=None):
        a = np.full((n, 5, 2), value, np.float32)
        return TargetResult("forces", ("a_r", "b_r"), a, a / 10, a / 20, model, model, True,
                            ood_percentile=np.full(n, value), broad_weight=broad)  # fmt: skip

    a, b = result(2, 1.0, "with ID"), result(3, 2.0, "angles", broad=np.array([0.1, 0.2, 0.3]))
    in_a = np.array([False, True, False, True, False])
    m = merge_cycles(a, b, in_a)
    assert m.mean.dtype == np.float32 and m.mean[:, 0, 0].tolist() == [2, 1, 2, 1, 2]
    assert m.sd[:, 0, 0].tolist() == pytest.approx([0.2, 0.1, 0.2, 0.1, 0.2])
    assert m.ood_percentile.tolist() == [2, 1, 2, 1, 2]
    np.testing.assert_allclose(m.broad_weight, [0.1, np.nan, 0.2, np.nan, 0.3])
    assert m.widening is None and m.cycle_models == ("angles", "with ID") * 2 + ("angles",)
    assert m.model == "with ID (cycles [1, 3]) and angles (cycles [0, 2, 4])"
    with pytest.raises(ValueError, match="cycle counts"):
        merge_cycles(a, b, in_a[:4])


def test_id_agreement_by_hand():
    """R² and RMSE per degree of freedom over the covered cycles' frames, the share of those
    frames inside the interval; a cycle the inverse dynamics does not cover (NaN) is left out."""
    from gait2hip.inference.api import id_agreement
    from gait2hip.inference.result import TargetResult

    measured = np.full((2, 4, 2), np.nan)
    measured[0, :, 0] = [0.0, 1.0, 2.0, 3.0]
    measured[0, :, 1] = [1.0, -1.0, 1.0, -1.0]
    mean = np.nan_to_num(measured)
    mean[0, :, 0] += 0.5  # error 0.5 everywhere: SSE 1, SST 5
    sd = np.full_like(mean, 0.49 / 1.6449)  # the 90 % half-width 0.49: 0.5 off is outside
    t = TargetResult(target="moments", cols=("hip_flexion_r_moment", "hip_adduction_r_moment"),
                     mean=mean, sd=sd, ensemble_sd=sd, model="m", model_source="m",
                     calibrated=True)  # fmt: skip
    a = id_agreement(t, measured, 0.9)
    assert a.cycles == 1 and a.dofs == ("flexion", "adduction")
    np.testing.assert_allclose(a.r2, [1 - 1.0 / 5.0, 1.0])
    np.testing.assert_allclose(a.rmse, [0.5, 0.0])
    assert a.coverage == pytest.approx(0.5)  # the flexion frames fall just outside


def test_shipped_forces_model_with_the_trials_inverse_dynamics(labelled_trial):
    """Given the trial's ID results, the default forces model is the shipped one of the angles
    and the hip moments (default_model/forces-id), fed the labelled trial's own inverse
    dynamics: its forces follow the trial's static-optimisation labels; without them the
    angles' model predicts."""
    from gait2hip.conventions import SERIES_INPUTS
    from gait2hip.inference.predictor import default_model_dir

    _, spec, _, result = labelled_trial
    work = result.labels_path().parent / "work"
    ik, id_sto = work / "ik" / "ik.mot", work / "id" / "id.sto"
    common = dict(c3d=spec.c3d, mass_kg=spec.mass_kg)
    informed = gait2hip.predict(ik, inverse_dynamics=id_sto, **common)
    plain = gait2hip.predict(ik, **common)
    assert any("hip moments written are predicted" in n for n in informed.notes)
    # no height: the blend's size check knows only a light body mass, said
    assert any("no body height given" in n and "size check" in n for n in plain.notes)
    forces = informed.targets["forces"]
    assert Path(forces.model_source) == default_model_dir() / "forces-id"
    assert Path(plain.targets["forces"].model_source) == default_model_dir() / "forces"
    assert Path(informed.targets["moments"].model_source) == default_model_dir() / "moments"
    labels = np.load(result.labels_path())
    right = list(labels["side"]).index("r")
    want = labels["forces"][right] / spec.mass_kg
    (got,) = forces.mean
    r2 = 1 - ((got - want) ** 2).sum() / ((want - want.mean()) ** 2).sum()
    assert r2 > 0.9, r2
    assert not any(
        c in SERIES_INPUTS for c in find_predictors(default_model_dir())["forces"].in_cols
    )
    # the hip moments: the phase-linear model, the LSTM and the Transformer averaged, blended
    # with the averaged LSTM
    shipped = find_predictors(default_model_dir())["moments"]
    assert shipped.label == "phaselinear-causal + lstm-causal + transformer-bidir"
    assert shipped.broad is not None
    moments = plain.targets["moments"]
    (got,) = moments.mean
    want = labels["moments"][right] / spec.mass_kg
    r2 = 1 - ((got - want) ** 2).sum() / ((want - want.mean()) ** 2).sum()
    assert r2 > 0.9, r2
    # an extensor/abductor-positive file is refused with the fix, which then gives the same;
    # moments already per kg are refused as such
    table = read_motion(id_sto).data
    flipped = table.assign(hip_adduction_r_moment=-table["hip_adduction_r_moment"])
    with pytest.raises(InputError, match="flip-sign hip_adduction_r_moment"):
        gait2hip.predict(ik, inverse_dynamics=flipped, **common)
    fixed = gait2hip.predict(
        ik, inverse_dynamics=flipped, flip_sign=["hip_adduction_r_moment"], **common
    )
    np.testing.assert_allclose(fixed.targets["forces"].mean, forces.mean, rtol=1e-5, atol=1e-5)
    assert "hip_adduction_r_moment: sign flipped" in fixed.notes
    moment_cols = [c for c in table.columns if c.endswith("_moment")]
    per_kg = table.assign(**{c: table[c] / spec.mass_kg for c in moment_cols})
    with pytest.raises(InputError, match="per kg already"):
        gait2hip.predict(ik, inverse_dynamics=per_kg, **common)
    # the predicted hip moments checked against the trial's own inverse dynamics: they agree
    # here (its labels are this ID); an ID whose flexion moment lies 0.4 Nm/kg higher gets
    # the warning, also with a moments model alone (which takes no ID as inputs)
    assert plain.id_agreement is None
    agreement = informed.id_agreement
    assert agreement is not None and agreement.cycles == 1 and agreement.dofs[0] == "flexion"
    assert agreement.r2[0] > 0.9 and agreement.coverage >= 0.8, agreement
    assert not any(
        "disagree with this trial's own inverse dynamics" in w for w in informed.warnings
    )
    assert any("against the trial's inverse dynamics over 1 cycle(s)" in n for n in informed.notes)
    # the figure draws the trial's own hip moments on the moments' panels, in one legend
    from gait2hip.report.figures import ID_LABEL, plot_prediction

    fig = plot_prediction(informed)
    drawn = [ax for ax in fig.axes if ID_LABEL in [ln.get_label() for ln in ax.lines]]
    assert len(drawn) == 3 and all("moment" in ax.get_title() for ax in drawn)
    line = next(ln for ln in drawn[0].lines if ln.get_label() == ID_LABEL)
    np.testing.assert_allclose(line.get_ydata(), informed.measured_moments[0, :, 0], rtol=1e-6)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert ID_LABEL in legend and "predicted mean" in legend
    assert all(ID_LABEL not in [ln.get_label() for ln in ax.lines] for ax in fig.axes
               if "moment" not in ax.get_title())  # fmt: skip
    shifted = table.assign(hip_flexion_r_moment=table.hip_flexion_r_moment + 0.4 * spec.mass_kg)
    for model in (None, default_model_dir() / "moments"):
        off = gait2hip.predict(ik, inverse_dynamics=shifted, model=model, **common)
        assert off.id_agreement is not None and off.id_agreement.coverage < 0.8
        assert off.id_agreement.rmse[0] > 0.3 and off.id_agreement.rmse[1] < 0.2
        assert any("disagree with this trial's own inverse dynamics" in w for w in off.warnings)
    # inverse dynamics over none of the kept cycles: said, not checked
    tail = table[table.time > table.time.iloc[-1] - 0.3]
    unchecked = gait2hip.predict(
        ik, inverse_dynamics=tail, model=default_model_dir() / "moments", **common
    )
    assert unchecked.id_agreement is None
    assert any("covers none of the kept cycles" in n for n in unchecked.notes)


def test_static_inputs_train_and_predict(synthetic, tmp_path):
    from gait2hip.conventions import resolve_inputs
    from gait2hip.data.dataset import DataError

    ds = synthetic["forces"]
    cols = resolve_inputs("all,body_height_m,cycle_duration_s")
    assert cols == (*INPUT_COLS, "body_height_m", "cycle_duration_s")
    with pytest.raises(DataError, match="no cycle times"):
        ds.select_inputs(cols)  # synthetic cycles carry no heel-strike times
    t0 = np.arange(len(ds), dtype=float) * 2.0
    durations = 1.0 + 0.05 * (np.arange(len(ds)) % 4)  # as build-dataset records them
    ds = dataclasses.replace(ds, extra={**ds.extra, "cycle_t0": t0, "cycle_t1": t0 + durations})
    sel = ds.select_inputs(cols)
    np.testing.assert_array_equal(sel.X[..., :10], ds.X)
    np.testing.assert_allclose(sel.X[:, 7, 11], durations, rtol=1e-6)  # constant per cycle
    np.testing.assert_allclose(sel.X[:, 0, 10], ds.height_m, rtol=1e-6)

    cfg = dataclasses.replace(tiny_config(models=("lstm",)), inputs=cols, n_folds=2)
    summary = benchmark(ds, cfg, tmp_path / "run", show_progress=False)
    assert "(10 angles + 2 per-cycle scalars:" in summary.read_text()
    final = TrainedModel.load(
        tmp_path / "run" / "split42" / "lstm-causal" / "seed2025" / "final.pt"
    )
    assert final.in_cols == cols
    predictors = find_predictors(tmp_path / "run")
    df, strikes = make_trial(ds)
    with pytest.raises(InputError, match="body height"):
        gait2hip.predict(df, mass_kg=70.0, strikes=strikes, predictors=predictors)
    pred = gait2hip.predict(df, mass_kg=70.0, height_m=1.8, strikes=strikes, predictors=predictors)
    # the cycles' own durations (the trial's strides) and the given height are the inputs
    X = np.concatenate(
        [ds.X[:4], np.broadcast_to(np.array([1.8, STRIDE], np.float32), (4, 40, 2))], axis=-1
    )
    mean, _, _ = predictors["forces"].predict(X)
    got = pred.to_dataframe("cycle")
    got = got[got.cycle == 1]["glmed_r_N_per_kg"].to_numpy()
    np.testing.assert_allclose(got, mean[1, :, FORCE_COLS.index("glmed_r")], atol=0.02)
    other = gait2hip.predict(df, mass_kg=70.0, height_m=1.5, strikes=strikes, predictors=predictors)
    other = other.to_dataframe("cycle")
    assert np.abs(other[other.cycle == 1]["glmed_r_N_per_kg"].to_numpy() - got).max() > 1e-4


def test_inverse_dynamics_moments_train_and_predict(synthetic, runs, tmp_path, monkeypatch):
    """A forces model may take the hip moments of the lab's inverse dynamics (per kg) as
    input series: training reads them from the dataset, predict cuts them from the trial's
    ID results like the angles (left cycles from the left hip's columns), or from a study
    NPZ's hip_moments; without them it is refused in one line, and moments models cannot
    take them at all. Shipped, it stands beside the angles' forces model."""
    import subprocess
    import sys

    from gait2hip.conventions import EXTRA_HIP_MOMENTS, MOMENT_COLS, input_set_name, resolve_inputs
    from gait2hip.data.dataset import DataError
    from gait2hip.io.npz import write_npz
    from gait2hip.training.config import make_config

    ds = synthetic["forces"]
    cols = resolve_inputs("all,hip_moments")
    assert cols == (*INPUT_COLS, *MOMENT_COLS)
    assert input_set_name(cols) == "all,hip_moments"
    assert resolve_inputs("hip_moments,all,cycle_duration_s")[-1] == "cycle_duration_s"
    per_kg = ds.extra[EXTRA_HIP_MOMENTS] / ds.weight_kg[:, None, None]
    np.testing.assert_allclose(ds.select_inputs(cols).X[..., 10:], per_kg, rtol=1e-5)
    with pytest.raises(DataError, match="no 'hip_moments'"):
        dataclasses.replace(ds, extra={}).select_inputs(cols)
    with pytest.raises(ValueError, match="only forces models"):
        dataclasses.replace(tiny_config(), target="moments", inputs=cols)
    with pytest.raises(ValueError, match="only forces models"):
        make_config("moments", ["lstm"], "recipe-moments")
    # the published models may start from them too (zero weights on the new inputs)
    assert make_config("forces", ["mamba"], "gait2hip60-finetune-moments").inputs == cols

    cfg = dataclasses.replace(tiny_config(models=("phaselinear",)), inputs=cols, n_folds=2)
    summary = benchmark(ds, cfg, tmp_path / "run", show_progress=False)
    assert "(10 angles + 3 ID series:" in summary.read_text()
    predictors = find_predictors(tmp_path / "run")
    df, strikes = make_trial(ds)
    mass = 70.0
    # the ID results over the same trial, in N·m, on their own time base (500 Hz)
    time = np.round(np.arange(0.0, df.time.iloc[-1], 0.002), 6)
    cyc_t = np.concatenate([np.linspace(s, s + STRIDE, 40) for s in strikes[:-1]])
    moments = {
        c: np.interp(time, cyc_t, np.concatenate(per_kg[:4, :, j])) * mass
        for j, c in enumerate(MOMENT_COLS)
    }
    id_file = tmp_path / "trial_id.sto"
    write_motion(id_file, pd.DataFrame({"time": time, **moments}), in_degrees=False)
    with pytest.raises(InputError, match="inverse dynamics"):
        gait2hip.predict(df, mass_kg=mass, strikes=strikes, predictors=predictors)
    with pytest.raises(InputError, match="body mass"):
        gait2hip.predict(df, strikes=strikes, inverse_dynamics=id_file, predictors=predictors)
    # cycles the ID results do not cover are rejected, saying why
    short = pd.DataFrame({"time": time[:1300], **{c: v[:1300] for c, v in moments.items()}})
    part = gait2hip.predict(
        df, mass_kg=mass, strikes=strikes, inverse_dynamics=short, predictors=predictors
    )
    assert len(part.kept) == 2
    assert sum("outside the inverse dynamics" in w for w in part.warnings) == 2
    assert all("without --inverse-dynamics" in w for w in part.warnings if "outside" in w)
    with pytest.raises(InputError, match="outside the inverse dynamics"):
        gait2hip.predict(
            df, mass_kg=mass, strikes=strikes, inverse_dynamics=short[:200], predictors=predictors
        )
    seen = []  # the inputs reaching the model (the synthetic cycles do not join up at their
    # ends, so the trial's first and last frames of a cycle are its neighbour's; their curves
    # bend at every frame, which the 500 Hz series cuts by up to ~0.01 Nm/kg)
    real = predictors["forces"].predict_cycles

    def spy(X_deg, *args, **kwargs):
        seen.append(X_deg)
        return real(X_deg, *args, **kwargs)

    monkeypatch.setattr(predictors["forces"], "predict_cycles", spy)
    pred = gait2hip.predict(
        df, mass_kg=mass, strikes=strikes, inverse_dynamics=id_file, predictors=predictors
    )
    np.testing.assert_allclose(seen[-1][:, 1:-1, 10:], per_kg[:4, 1:-1], atol=0.01)
    X = np.concatenate([ds.X[:4], per_kg[:4]], axis=-1).astype(np.float32)
    mean, _, _ = predictors["forces"].predict(X)
    got = pred.to_dataframe("cycle")
    got = got[got.cycle == 1]["glmed_r_N_per_kg"].to_numpy()
    # (the angles are low-pass filtered as in labelling: close, not equal)
    np.testing.assert_allclose(got, mean[1, :, FORCE_COLS.index("glmed_r")], rtol=0.02)
    gait2hip.predict(
        df, mass_kg=2 * mass, strikes=strikes, inverse_dynamics=id_file, predictors=predictors
    )
    np.testing.assert_allclose(seen[-1][:, 1:-1, 10:], per_kg[:4, 1:-1] / 2, atol=0.005)
    # the left leg: its angles and its hip's moments under the left names
    left_df = df.rename(columns={c: mirror_name(c) for c in INPUT_COLS})
    left_id = pd.DataFrame({"time": time, **{mirror_name(c): v for c, v in moments.items()}})
    seen.clear()
    left = gait2hip.predict(
        left_df,
        side="l",
        mass_kg=mass,
        strikes=strikes,
        inverse_dynamics=left_id,
        predictors=predictors,
    ).to_dataframe("cycle")
    np.testing.assert_allclose(left[left.cycle == 1]["glmed_l_N_per_kg"].to_numpy(), got)
    np.testing.assert_allclose(seen[-1][:, 1:-1, 10:], per_kg[:4, 1:-1], atol=0.01)
    # study-format cycles carry their moments; without them the model is refused
    path = write_npz(ds, tmp_path / "cycles.npz")
    by_npz = gait2hip.predict(path, predictors=predictors)
    mean, _, _ = predictors["forces"].predict(ds.select_inputs(cols).X)
    np.testing.assert_allclose(by_npz.targets["forces"].mean, mean, atol=1e-4)
    bare = write_npz(dataclasses.replace(ds, extra={}), tmp_path / "bare.npz")
    with pytest.raises(InputError, match="inverse dynamics"):
        gait2hip.predict(bare, predictors=predictors)

    # shipped beside the angles' forces model (forces-id/), predict takes it with ID results;
    # a later --keep shipping keeps its card section
    script = Path(__file__).parents[1] / "scripts" / "ship_default_model.py"
    shipped = tmp_path / "shipped"
    mine = sorted((tmp_path / "run").glob("split*/*/seed*"))
    units = [*sorted(runs.glob("*/split*/*/seed*")), *mine]
    cmd = [sys.executable, str(script), "--dest", str(shipped)]
    subprocess.run([*cmd, *(a for u in units for a in ("--unit", str(u)))], check=True)
    names = ["MODEL_CARD.md", "forces", "forces-id", "moments"]
    assert sorted(p.name for p in shipped.iterdir()) == names
    assert find_predictors(shipped, inverse_dynamics=True)["forces"].in_cols == cols
    assert find_predictors(shipped)["forces"].in_cols == INPUT_COLS
    # the same choice between run folders; two of a kind stay refused
    both = [runs / "forces", tmp_path / "run"]
    assert find_predictors(both, inverse_dynamics=True)["forces"].in_cols == cols
    assert find_predictors(both)["forces"].in_cols == INPUT_COLS
    # beside a model of the angles alone (as the shipped forces and forces-id are), the cycles
    # the ID results do not cover are that model's and the others the ID model's, in cycle
    # order; the cycles table names each cycle's model
    pair = find_predictors(both, inverse_dynamics=True)
    angles_model = pair["forces"].without_id
    assert angles_model is not None and angles_model.in_cols == INPUT_COLS
    assert find_predictors(both)["forces"].without_id is None
    mixed = gait2hip.predict(
        df, mass_kg=mass, strikes=strikes, inverse_dynamics=short, predictors=pair
    )
    assert len(mixed.kept) == 4 and not any("outside the inverse" in w for w in mixed.warnings)
    assert sum("lie outside the inverse dynamics" in n for n in mixed.notes) == 1
    table = mixed.cycles_table().dropna(subset=["cycle"])
    assert table["model_forces"].tolist() == [pair["forces"].label] * 2 + [angles_model.label] * 2
    with_id = {"forces": dataclasses.replace(pair["forces"], without_id=None)}
    by_id = gait2hip.predict(
        df, mass_kg=mass, strikes=strikes, inverse_dynamics=id_file, predictors=with_id
    )
    by_angles = gait2hip.predict(
        df, mass_kg=mass, strikes=strikes, predictors={"forces": angles_model}
    )
    got, ood = mixed.targets["forces"].mean, mixed.targets["forces"].ood_percentile
    np.testing.assert_allclose(got[:2], by_id.targets["forces"].mean[:2], atol=1e-4)
    np.testing.assert_allclose(got[2:], by_angles.targets["forces"].mean[2:], atol=1e-4)
    np.testing.assert_allclose(ood[2:], by_angles.targets["forces"].ood_percentile[2:])
    assert "(cycles [0, 1]) and " in mixed.targets["forces"].model
    # none covered: the angles' model for every cycle
    none = gait2hip.predict(
        df, mass_kg=mass, strikes=strikes, inverse_dynamics=short[:200], predictors=pair
    )
    np.testing.assert_allclose(
        none.targets["forces"].mean, by_angles.targets["forces"].mean, atol=1e-4
    )
    with pytest.raises(ValueError, match="two models for 'forces'"):
        find_predictors([runs / "forces", runs / "forces"])
    subprocess.run([*cmd, "--keep", "--unit", str(mine[0])], check=True)
    card = (shipped / "MODEL_CARD.md").read_text()
    assert "## forces: lstm-causal" in card and "## moments: lstm-causal" in card
    assert "## forces-id: phaselinear-causal" in card and "`predict --inverse-dynamics`" in card


def test_default_model_is_the_shipped_one(synthetic, runs, tmp_path, monkeypatch):
    """Without --model, predict uses the model shipped in the package (a folder of unit
    folders written by scripts/ship_default_model.py, with its model card); an installation
    without one says what to pass instead."""
    import subprocess
    import sys

    import gait2hip.inference.api as api
    import gait2hip.inference.predictor as predictor
    from gait2hip.inference.calibration import BlendRule, Calibration

    shipped = tmp_path / "default_model"
    monkeypatch.setattr(predictor, "default_model_dir", lambda: shipped)
    monkeypatch.setattr(api, "default_model_dir", lambda: shipped)
    df, _ = make_trial(synthetic["forces"])
    write_motion(tmp_path / "trial.mot", df, in_degrees=True)
    args = ["predict", str(tmp_path / "trial.mot"), "--out", str(tmp_path / "out")]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "ships no default model" in res.output
    units = [str(u) for u in sorted(runs.glob("*/split*/*/seed*"))]
    script = Path(__file__).parents[1] / "scripts" / "ship_default_model.py"
    cmd = [sys.executable, str(script), "--dest", str(shipped)]
    subprocess.run([*cmd, *(a for u in units for a in ("--unit", u))], check=True)
    assert sorted(p.name for p in shipped.iterdir()) == ["MODEL_CARD.md", "forces", "moments"]
    card = (shipped / "MODEL_CARD.md").read_text()
    assert "## forces: lstm-causal" in card and "held-out test subjects" in card
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "trial_r_moments_per_kg.sto").is_file(), res.output
    res = runner.invoke(app, ["models", str(tmp_path / "none")])
    assert "default: lstm-causal" in res.output and "MODEL_CARD.md" in res.output

    # a broad model for the moments, its blend rows from bench_blend.py's tables
    moments = [u for u in units if "/moments/" in u]
    blend, paired = tmp_path / "blend.csv", tmp_path / "paired.csv"
    rows = {"model": "lstm-causal", "variant": "step95/ood1.5+size", "split": 42}
    sources = ("in-lab", "hamner2013 2.0 m/s")
    pd.DataFrame([{**rows, "source": src, "r2": 0.5, "coverage_90": 0.9, "broad_share": 0.25}
                  for src in sources]).to_csv(blend, index=False)  # fmt: skip
    pd.DataFrame([{**rows, "pairs": 3, "delta_r2": 0.01, "delta_r2_lo": -0.02,
                   "delta_r2_hi": 0.04}]).to_csv(paired, index=False)  # fmt: skip
    # and its interval's widening under shift from bench_widening.py's tables
    beta, long = tmp_path / "beta.csv", tmp_path / "widening.csv"
    pd.DataFrame([{"model": "lstm-causal", "beta": 0.4, "fitted_on": "two speeds"}]).to_csv(
        beta, index=False
    )
    rows = [{"splits": "fit", "model": "lstm-causal", "split": 42, "source": src,
             "widened": w, "coverage_90": c, "width_90": wd}
            for w, c, wd in ((False, 0.9, 1.0), (True, 0.95, 1.2))
            for src in sources]  # fmt: skip
    pd.DataFrame(rows).to_csv(long, index=False)
    extra = ["--broad", moments[0], "--blend", str(blend), "--blend-paired", str(paired),
             "--widening", str(beta), str(long),
             "--blend-variant", "step95/ood1.5+size"]  # fmt: skip
    subprocess.run([*cmd, *(a for u in units for a in ("--unit", u)), *extra], check=True)
    assert (shipped / "moments" / "broad" / "final.pt").is_file()
    card = (shipped / "MODEL_CARD.md").read_text()
    assert "its broad model (`broad/`)" in card
    assert "| in-lab | 0.500 | 0.900 | 0.250 | 0.950 | 1.20x |" in card, card
    assert "| hamner2013 2.0 m/s | 0.500 |" in card
    assert "multiplied by 1 + 0.400" in card and "fitted on two speeds" in card
    assert (
        "blend (`step95/ood1.5+size`)" in card
        and "predicts alone where the shift percentile" in card
    )
    assert "beyond 1.5 times the warning level's score" in card
    cal = load_predictor(shipped / "moments").calibration
    assert (cal.shift_widening, cal.blend.name, cal.blend.ood_factor) == (
        0.4,
        "step95/ood1.5+size",
        1.5,
    )
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "blended with" in res.output, res.output
    res = runner.invoke(app, ["models", str(tmp_path / "none")])
    assert "blended with its" in res.output

    # the widening far out, set in the shipped default as it is from
    # bench_far_widening.py's tables; a second run replaces its card line
    fit, far_long = tmp_path / "far_fit.csv", tmp_path / "far.csv"
    pd.DataFrame([{"target": "moments", "r0": 1.3, "fitted_on": "the children"}]).to_csv(
        fit, index=False
    )
    rows = [
        {"set": "the model", "source": f"hamner2013 {v} m/s", "far": far, "coverage_90": c,
         "target": t, "r2": v / 10, "cycles": 10 * v, "auroc": 0.99 + v / 1000,
         "ratio_median": v, "fitted_on": False, "widened": float(far), "width_90": 1 + far}
        for v in (2, 3)
        for far, c in ((False, 0.4 + v / 100), (True, 0.9 + v / 100))
        for t, c in (("moments", c), ("forces", c - 0.3))
    ] + [
        {"set": "the model", "source": "in-lab", "far": far, "coverage_90": 0.9 + far / 50,
         "target": t, "fitted_on": False, "widened": far / 4, "width_90": 1 + far / 10}
        for far in (False, True)
        for t in ("moments", "forces")
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(far_long, index=False)  # fmt: skip
    before = load_predictor(shipped / "moments").predict_cycles(synthetic["moments"].X[:4] * 3)
    for _ in range(2):
        subprocess.run([*cmd, "--far-widening", str(fit), str(far_long)], check=True)
    card = (shipped / "MODEL_CARD.md").read_text()
    assert card.count("- widening far out:") == 1
    assert (
        "over 1.300 times it" in card
        and "the running speeds, which took no part in it" in card
        and "this model R² 0.20-0.30, coverage 0.42-0.43 -> 0.92-0.93; on its held-out test "
        "subjects it widens 25% of the cycles (90 % coverage 0.900 -> 0.920, mean width x1.10)"
        in card
    )
    moments = card[card.index("## moments") :].split("\n## ")[0]
    assert "- widening far out:" in moments and moments.index("widening under shift") < (
        moments.index("widening far out")
    )
    pred = load_predictor(shipped / "moments")
    assert (pred.calibration.far_widening, pred.calibration.shift_widening) == (1.3, 0.4)
    p = pred.predict_cycles(synthetic["moments"].X[:4] * 3)
    ratio = p.ood[0] / pred.calibration.ood_threshold
    factor = np.broadcast_to(np.maximum(1, ratio / 1.3)[:, None, None], p.sd.shape)
    assert (factor > 1).any()
    np.testing.assert_allclose(p.sd / before.sd, factor, rtol=1e-5)
    # a widening with a slope from the warning level (the fit table's slope column)
    pd.DataFrame([{"target": "moments", "r0": 1.0, "slope": 0.5, "fitted_on": "running"}]).to_csv(
        fit, index=False
    )
    subprocess.run([*cmd, "--far-widening", str(fit), str(far_long)], check=True)
    card = (shipped / "MODEL_CARD.md").read_text()
    assert card.count("- widening far out:") == 1 and "multiplied by 1 + 0.500 x" in card
    pred = load_predictor(shipped / "moments")
    assert (pred.calibration.far_widening, pred.calibration.far_widening_slope) == (1.0, 0.5)
    p = pred.predict_cycles(synthetic["moments"].X[:4] * 3)
    factor = np.broadcast_to((1 + 0.5 * np.maximum(0, ratio - 1))[:, None, None], p.sd.shape)
    np.testing.assert_allclose(p.sd / before.sd, factor, rtol=1e-5)

    # the running lines from the same table, set twice: one line per target, after its
    # section's own list (not its broad model's); the tables lose their running rows
    for _ in range(2):
        subprocess.run([*cmd, "--running", str(far_long)], check=True)
    card = (shipped / "MODEL_CARD.md").read_text()
    assert card.count("- running (outside its validity):") == 2
    assert "| hamner2013" not in card and "| in-lab | 0.500 |" in card
    moments = card[card.index("## moments") :].split("\n## ")[0]
    assert moments.index("running (outside") < moments.index("its broad model")
    assert (
        "at 2-3 m/s (50 cycles, knees in the study's convention) this model reaches "
        "subject-mean R² 0.20-0.30, its 90 % interval covers 0.92-0.93 of the frames with the "
        "widening far out (fitted elsewhere; 0.42-0.43 without)" in moments
    )
    assert "OOD AUROC against the in-lab test cycles 0.992-0.993" in moments
    assert "covers 0.12-0.13 of the frames" in card[card.index("## forces") :]

    # a new share rule for the shipped blend, compared with the one it replaces on
    # bench_blend.py's tables; set twice: one blend line, one paragraph, before the tables
    def change_rule(new: str, old: str, splits, gain: float, running: str, why: str) -> str:
        rows = tmp_path / f"blend_{new.rsplit('/', 1)[-1]}.csv"
        pd.DataFrame([{"model": "lstm-causal", "variant": v, "split": sp, "source": src,
                       "r2": r2 + (gain if v == new else 0), "coverage_90": 0.8,
                       "broad_share": 0.5} for v in (old, new) for sp in splits
                      for src, r2 in (("in-lab", 0.9), (running, 0.3))]
                     ).to_csv(rows, index=False)  # fmt: skip
        change = ["--blend-rule", new, old, "--blend-rows", str(rows), "--blend-why", why]
        for _ in range(2):
            subprocess.run([*cmd, *change], check=True)
        return (shipped / "MODEL_CARD.md").read_text()

    new, old_rule = "step95/ood1.5+size/keep-fast", "step95/ood1.5+size"
    card = change_rule(new, old_rule, (34, 35), 0.1, "hamner2013 4.0 m/s", "a test")
    assert load_predictor(shipped / "moments").calibration.blend == BlendRule.parse(new)
    assert card.count("- blend (") == 1 and f"- blend (`{new}`)" in card
    assert "stays with the model above" in card and card.count("Rule since ") == 1
    assert f"Rule since `{new}` (a test); the tables below were measured under `{old_rule}`" in card
    assert (
        "On split seeds 34, 35 " in card and "| in-lab | 0.900 -> 1.000 | 0.800 -> 0.800 |" in card
    )
    assert card.index("Rule since ") < card.index("Transfer (") < card.index("| in-lab | 0.500 |")
    assert card.index("- blend (") < card.index("- widening under shift")
    # a later change (keep-fast -> keep-fast0), set twice: its paragraph first, the earlier
    # change's kept below it as what came before, naming the rule the tables were measured under
    newer = "step95/ood1.5+size/keep-fast0"
    card = change_rule(newer, new, (36, 37), 0.05, "hamner2013 2.0 m/s", "another")
    assert load_predictor(shipped / "moments").calibration.blend == BlendRule.parse(newer)
    assert card.count("- blend (") == 1 and f"- blend (`{newer}`)" in card
    assert "faster than the median training walk" in card and card.count("Rule since ") == 1
    assert f"Rule since `{newer}` (another), which replaced `{new}` (below)" in card
    assert card.count(f"Rule before that: `{new}` (a test); the tables below were measured "
                      f"under `{old_rule}`") == 1  # fmt: skip
    assert (
        card.index("Rule since ")
        < card.index("On split seeds 36, 37 ")
        < card.index("Rule before that: ")
        < card.index("On split seeds 34, 35 ")
        < card.index("Transfer (")
    )

    # the training subjects' masses, set in every shipped calibration from the datasets its
    # model names; refused for data that are not its training data
    from gait2hip.io.npz import write_npz

    data = tmp_path / "data"
    data.mkdir()
    for target in ("forces", "moments"):
        name = Path(TrainedModel.load(shipped / target / "final.pt").meta["dataset"]).name
        write_npz(synthetic[target], data / name)
    for cal_file in shipped.glob("**/calibration.npz"):  # as shipped before masses were kept
        set_masses = dataclasses.replace(Calibration.load(cal_file), masses=np.zeros(0))
        set_masses.save(cal_file)
    subprocess.run([*cmd, "--training-masses", str(data)], check=True)
    moments_cal = load_predictor(shipped / "moments").calibration
    test_subjects = TrainedModel.load(shipped / "moments" / "final.pt").meta["test_subjects"]
    ds = synthetic["moments"]
    pool = ~np.isin(ds.subject_id, test_subjects)
    np.testing.assert_allclose(moments_cal.masses, np.sort(ds.weight_kg[pool]))
    assert len(Calibration.load(shipped / "moments" / "broad" / "calibration.npz").masses)
    card = (shipped / "MODEL_CARD.md").read_text()
    assert card.count("- body mass: its training subjects weighed") == 2  # forces, moments
    moments = card[card.index("## moments") :].split("\n## ")[0]
    assert moments.index("- body height:") < moments.index("- body mass:")
    other = dataclasses.replace(ds, height_m=ds.height_m + 0.1)  # the moments' data only
    for folder in (shipped / "moments", shipped / "moments" / "broad"):
        final = TrainedModel.load(folder / "final.pt")
        final.meta["dataset"] = "other.npz"
        final.save(folder / "final.pt")
    write_npz(other, data / "other.npz")
    for cal_file in shipped.glob("**/calibration.npz"):  # cleared again: a refusal writes none
        dataclasses.replace(Calibration.load(cal_file), masses=np.zeros(0)).save(cal_file)
    before = (shipped / "MODEL_CARD.md").read_text()
    bad = subprocess.run([*cmd, "--training-masses", str(data)], capture_output=True, text=True)
    assert bad.returncode != 0 and "is not its training data" in bad.stderr
    assert not any(len(Calibration.load(f).masses) for f in shipped.glob("**/calibration.npz"))
    assert (shipped / "MODEL_CARD.md").read_text() == before
    assert "| running 4.0 m/s (hamner2013) | 0.300 -> 0.400 |" in card
    subprocess.run([*cmd, "--running", str(far_long)], check=True)  # keeps the rule's rows
    assert "| running 4.0 m/s (hamner2013) |" in (shipped / "MODEL_CARD.md").read_text()


def test_output_lowpass_set_in_the_shipped_default(synthetic, runs, tmp_path):
    """scripts/ship_default_model.py --output-lowpass: every shipped model that can be (a
    Transformer member, the anchor) low-passed along the cycle, the others as they were; the
    default then predicts as Predictor.with_output_lowpass does; its card line (from
    bench_roughness.py's model table) once per changed target, after its weights, set twice."""
    import subprocess
    import sys

    from gait2hip.inference.calibration import Calibration
    from gait2hip.models import create_model

    shipped = tmp_path / "default_model"
    units = [str(u) for u in sorted(runs.glob("*/split*/*/seed*"))]
    script = Path(__file__).parents[1] / "scripts" / "ship_default_model.py"
    cmd = [sys.executable, str(script), "--dest", str(shipped)]
    subprocess.run([*cmd, *(a for u in units for a in ("--unit", u))], check=True)
    folder = shipped / "moments"
    final = TrainedModel.load(folder / "final.pt")
    for path in (folder / "members" / "transformer-bidir.pt", folder / "anchor.pt"):
        net = create_model("transformer", causal=False, in_dim=len(final.in_cols),
                           out_dim=len(final.out_cols), d_model=16, ff=32, heads=2)  # fmt: skip
        path.parent.mkdir(exist_ok=True)
        dataclasses.replace(final, model=net.eval()).save(path)
    cal = Calibration.load(folder / "calibration.npz")
    dataclasses.replace(cal, anchor="gait2hip60:transformer", anchor_factor=1.0).save(
        folder / "calibration.npz"
    )
    before = load_predictor(folder)
    assert before.anchor is not None and len(before.members) == 2
    X = synthetic["moments"].X[:5]
    want = before.with_output_lowpass(8.0).predict_cycles(X)
    long = tmp_path / "roughness.csv"
    pd.DataFrame([{"target": "moments", "source": src, "output low-pass": h, "r2": 0.9 - h / 1000,
                   "coverage_90": 0.95, "roughness mean": 0.02 - h / 1000,
                   "roughness sd": 0.01 - h / 1000}
                  for src in ("in-lab", "hamner2013 2.0 m/s") for h in (0.0, 8.0)]
                 ).to_csv(long, index=False)  # fmt: skip
    for _ in range(2):
        subprocess.run([*cmd, "--output-lowpass", "8", str(long)], check=True)
    after = load_predictor(folder)
    assert [m.output_lowpass for m in after.members] == [None, 8.0]
    assert after.anchor.model.output_lowpass == 8.0 and after.fingerprint == (
        before.with_output_lowpass(8.0).fingerprint
    )
    assert after.fingerprint != before.fingerprint  # the same weights predicting otherwise
    got = after.predict_cycles(X)
    np.testing.assert_allclose(got.mean, want.mean, atol=1e-6)
    np.testing.assert_allclose(got.sd, want.sd, atol=1e-6)
    assert not np.allclose(got.mean, before.predict_cycles(X).mean, atol=1e-6)
    assert TrainedModel.load(shipped / "forces" / "final.pt").output_lowpass is None
    card = (shipped / "MODEL_CARD.md").read_text()
    assert card.count("- output low-pass:") == 1
    moments = card[card.index("## moments") :].split("\n## ")[0]
    assert moments.index("- weights:") < moments.index("- output low-pass:")
    assert (
        "its anchor (the study's published transformer, whose disagreement is in the interval) "
        "and its transformer member low-passed along the cycle at 8 cycles per gait cycle" in card
    )
    assert "(mean absolute second difference, Nm/kg per frame) 0.020 -> 0.012" in card
    assert "of the interval's sd 0.010 -> 0.002, subject-mean R² 0.900 -> 0.892" in card
    assert "on running (range over speeds) roughness 0.020 -> 0.012" in card


def test_timed_cohort_line_in_the_shipped_default(runs, tmp_path):
    """scripts/ship_default_model.py --timed-cohort: evaluate-external's folders with the
    cohort's durations assumed (with the heights and with the masses alone) -> one card line in
    the target's section, after its list's other lines, replaced when set again; a folder
    without an assumption is refused."""
    import json
    import subprocess
    import sys

    shipped = tmp_path / "default_model"
    units = [str(u) for u in sorted(runs.glob("*/split*/*/seed*"))]
    script = Path(__file__).parents[1] / "scripts" / "ship_default_model.py"
    cmd = [sys.executable, str(script), "--dest", str(shipped)]
    subprocess.run([*cmd, *(a for u in units for a in ("--unit", u))], check=True)
    folders = []
    for i, (assumed, heights) in enumerate([("froude", True), (0.9, True), (1.1, False)]):
        folder = tmp_path / f"ext{i}"
        folder.mkdir()
        (folder / "results.json").write_text(json.dumps({
            "command": "gait2hip evaluate-external --models default", "target": "moments",
            "assume_durations": assumed, "body_heights": heights}))  # fmt: skip
        pd.DataFrame([{"group": g, "subject_r2": r2 + i / 100, "coverage_90": 0.9,
                       "broad_share": 0.8 - i / 10}
                      for g, r2 in (("SB", 0.4), ("TD", 0.7), ("healthy held-out", 0.9))]
                     ).to_csv(folder / "zero_shot.csv", index=False)  # fmt: skip
        folders.append(str(folder))
    for _ in range(2):
        subprocess.run([*cmd, "--timed-cohort", *folders], check=True)
    card = (shipped / "MODEL_CARD.md").read_text()
    assert card.count("- children with timed trials:") == 1
    moments = card[card.index("## moments") :].split("\n## ")[0]
    lines = [x for x in moments.split("\n") if x.startswith("- ")]
    assert lines[-1].startswith("- children with timed trials:")
    assert "with the body heights (durations 0.9 s and froude): SB R² 0.40-0.41 (0.400 at " in card
    assert "TD R² 0.70-0.71 (0.700 at froude), broad share 0.70-0.80" in card
    assert "with the body masses alone (durations 1.1 s): SB R² 0.42, broad share 0.60" in card
    (tmp_path / "ext0" / "results.json").write_text(json.dumps({"assume_durations": None}))
    res = subprocess.run([*cmd, "--timed-cohort", folders[0]], capture_output=True, text=True)
    assert res.returncode != 0 and "no durations assumed" in res.stderr


# ----------------------------------------------------------------------------- body size


def test_size_factors_scale_moments_only():
    from gait2hip.conventions import FORCE_COLS, MOMENT_COLS, size_factors

    cols = FORCE_COLS[:2] + MOMENT_COLS
    f = size_factors(cols, np.array([1.4, np.nan, 1.75]), 3, 1.75)
    assert f.shape == (3, 1, 5)
    np.testing.assert_allclose(f[0, 0], [1, 1, 0.8, 0.8, 0.8], rtol=1e-6)
    np.testing.assert_allclose(f[1:, 0], 1.0)  # unknown height: the reference walker
    assert (size_factors(cols, None, 2, 1.75) == 1).all()
    assert (size_factors(cols, 1.4, 2, None) == 1).all()  # a model without a reference


def test_froude_durations_scale_with_the_square_root_of_height():
    from gait2hip.conventions import froude_durations

    d = froude_durations(np.array([1.75, 1.75 / 4, np.nan]), 1.75, 1.1)
    np.testing.assert_allclose(d[:2], [1.1, 0.55])  # a quarter the height: half the time
    assert np.isnan(d[2])


def test_models_record_the_training_subjects_mean_height(runs, synthetic):
    ds = synthetic["moments"]
    unit = runs / "moments" / "split42" / "lstm-causal" / "seed2025"
    final = TrainedModel.load(unit / "final.pt")
    heights = {s: h for s, h in zip(ds.subject_id, ds.height_m, strict=True)}
    expected = np.mean([heights[s] for s in final.meta["train_subjects"]])
    assert final.reference_height_m == pytest.approx(expected)
    # the benchmark's test predictions are scaled to the test subjects' heights
    test = np.isin(ds.subject_id, final.meta["test_subjects"])
    with np.load(unit / "predictions.npz") as z:
        ratio = (ds.height_m[test] / expected)[:, None, None]
        np.testing.assert_allclose(z["y_pred"], final.predict_reference(ds.X[test]) * ratio,
                                   rtol=1e-5, atol=1e-6)  # fmt: skip


def test_predict_scales_moments_intervals_and_band_to_body_height(synthetic, predictors):
    df, strikes = make_trial(synthetic["forces"])
    ref = predictors["moments"].reference_height_m
    base = gait2hip.predict(df, strikes=strikes, predictors=predictors)
    assert any("no body height given" in n for n in base.notes)
    assert not any("size check" in n for n in base.notes)  # no broad model to hand over to
    short = gait2hip.predict(df, strikes=strikes, predictors=predictors, height_m=ref * 0.8)
    assert any("scaled to body height" in n for n in short.notes)
    m0, m1 = base.targets["moments"], short.targets["moments"]
    for a, b in [(m0.mean, m1.mean), (m0.sd, m1.sd), (m0.norm_mean, m1.norm_mean)]:
        np.testing.assert_allclose(b, 0.8 * a, rtol=1e-5, atol=1e-7)
    f0, f1 = base.targets["forces"], short.targets["forces"]  # forces per kg do not scale
    np.testing.assert_allclose(f1.mean, f0.mean)
    np.testing.assert_allclose(f1.sd, f0.sd)


def test_cohort_heights_from_cm_or_m_and_refused_when_implausible():
    from gait2hip.data.cohort import Cohort
    from gait2hip.data.dataset import DataError

    angles = np.random.default_rng(0).normal(0, 20, (2, 50, 3)).astype(np.float32)
    cols = ["hip_flexion", "hip_adduction", "hip_rotation"]
    cm = Cohort.from_arrays(angles, cols, ["a", "b"], meta=pd.DataFrame({"height_cm": [120, 150]}))
    np.testing.assert_allclose(cm.height_m, [1.2, 1.5])
    assert "scaled to it" in cm.describe()
    assert np.isnan(cm.without_heights().height_m).all()
    assert "no body heights" in cm.without_heights().describe()
    with pytest.raises(DataError, match="height_m in metres"):
        Cohort.from_arrays(angles, cols, ["a", "b"], meta=pd.DataFrame({"height_m": [47, 59]}))


def test_pace_check_flags_cycles_of_a_speed_the_models_did_not_learn(synthetic, tmp_path):
    """The angles are time-normalised, so only the cycle's duration shows its walking speed:
    calibration keeps the training cycles' durations, predict flags cycles far outside them
    (and says so), and the benchmark measures how well the pace score tells test cycles apart
    (pace_auroc)."""
    from gait2hip.inference.calibration import Calibration, spread_scores

    ref = np.array([1.0, 1.05, 1.1, 1.15])
    assert spread_scores(np.array([1.075]), ref)[0] < spread_scores(np.array([1.6]), ref)[0]
    middle = np.sqrt(1.05 * 1.1)  # the median in log duration
    assert spread_scores(np.array([0.72]), ref)[0] == pytest.approx(
        spread_scores(np.array([middle**2 / 0.72]), ref)[0]  # symmetric in log duration
    )
    ds = synthetic["forces"]
    t0 = np.arange(len(ds), dtype=float) * 2.0
    durations = 1.0 + 0.05 * (np.arange(len(ds)) % 4)
    ds = dataclasses.replace(ds, extra={**ds.extra, "cycle_t0": t0, "cycle_t1": t0 + durations})
    cfg = dataclasses.replace(tiny_config(models=("lstm",)), n_folds=2)
    benchmark(ds, cfg, tmp_path / "run", show_progress=False)
    unit = tmp_path / "run" / "split42" / "lstm-causal" / "seed2025"
    cal = Calibration.load(unit / "calibration.npz")
    final = TrainedModel.load(unit / "final.pt")
    pool = ~np.isin(ds.subject_id, final.meta["test_subjects"])
    np.testing.assert_allclose(cal.durations, np.sort(durations[pool]))
    assert 0.0 <= cal.test_pace_auroc <= 1.0
    assert "pace_auroc" in pd.read_csv(tmp_path / "run" / "summary.csv")
    predictors = find_predictors(tmp_path / "run")

    def predict_at(stride):
        df, strikes = make_trial(ds, stride=stride)
        return gait2hip.predict(df, strikes=strikes, predictors=predictors)

    usual = predict_at(1.075)
    assert not usual.pace_flags.any()
    assert not any("a pace the models" in w for w in usual.warnings)
    slow = predict_at(1.6)
    assert slow.pace_flags.all()
    assert any("1.60" in w and "a pace the models did not learn" in w for w in slow.warnings)
    assert slow.cycles_table()["pace_flag"].dropna().astype(bool).all()
    # models whose training data had no cycle times have no pace check
    old = find_predictors(tmp_path / "run")
    old["forces"].calibration.durations = np.zeros(0)
    df, strikes = make_trial(ds, stride=1.6)
    assert not gait2hip.predict(df, strikes=strikes, predictors=old).pace_flags.any()


def test_unreadable_files_are_refused_in_one_line_naming_the_file(synthetic, tmp_path):
    """Empty, header-only, binary and cut files, and bad --strikes: one line that names the
    file (or option) and the fix, never the parser's own message."""
    from typer.testing import CliRunner

    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("time,hip_flexion_r\n")
    (tmp_path / "binary.csv").write_bytes(b"PK\x03\x04\x80\x81\xfe\xff" * 30)
    df, _ = make_trial(synthetic["forces"])
    write_motion(tmp_path / "whole.mot", df, in_degrees=True)
    text = (tmp_path / "whole.mot").read_text()
    (tmp_path / "cut.mot").write_text(text[: len(text) // 2])
    lines = text.splitlines()
    (tmp_path / "short.mot").write_text("\n".join(lines[:-5]) + "\n")  # whole rows missing
    expected = {
        "empty.csv": "the file is empty",
        "header.csv": "a header but no rows",
        "binary.csv": "not a text CSV file",
        "cut.mot": "the file ends mid-row",
        "short.mot": "the file is cut or its header is wrong",
    }
    for name, message in expected.items():
        with pytest.raises(InputError, match=f"{name}: .*{message}") as err:
            read_angles(tmp_path / name, INPUT_COLS)
        assert "\n" not in str(err.value) and "usecols" not in str(err.value)
    res = CliRunner().invoke(
        app, ["predict", str(tmp_path / "whole.mot"), "--strikes", "0.6,abc", "--no-ensemble"]
    )
    assert res.exit_code == 2 and "--strikes: 'abc' is not a time" in res.output
    assert "could not convert" not in res.output


def test_figures_name_each_panel_unit_and_sign(synthetic, predictors, tmp_path):
    """Every panel says its own unit (a row mixes forces and moments) and, for moments, what
    + means; the R² bar chart is not squashed by one channel far below 0."""
    from gait2hip.conventions import channel_label
    from gait2hip.report.figures import R2_FLOOR, plot_channel_r2, plot_prediction

    assert channel_label("hip_flexion_r_moment") == "hip_flexion_r_moment (Nm/kg, + flexor)"
    assert channel_label("hip_rotation_l_moment").endswith("+ internal rotator)")
    assert channel_label("glmed_r") == "glmed_r (N/kg)"
    df, strikes = make_trial(synthetic["forces"])
    pred = gait2hip.predict(df, strikes=strikes, predictors=predictors)
    pred.label = "subject X"
    fig = plot_prediction(pred)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert "hip_flexion_r_moment (Nm/kg, + flexor)" in titles and "glmed_r (N/kg)" in titles
    assert fig._suptitle.get_text().startswith("subject X, right hip")
    per_channel = pd.DataFrame({"channel": ["a", "b", "c"], "model": "m", "r2": [0.9, 0.8, -5.7]})
    ax = plot_channel_r2(per_channel, None).axes[0]
    assert ax.get_ylim()[0] == R2_FLOOR
    assert [t.get_text() for t in ax.texts] == ["-5.7"]


def test_models_no_better_than_the_mean_curve_are_flagged(runs, synthetic, tmp_path):
    """A model whose test error is not 10 % below the training mean curve's is flagged where
    models are listed (`gait2hip models`), chosen (last) and used (a predict warning)."""
    import shutil

    from gait2hip.inference.calibration import Calibration
    from gait2hip.inference.predictor import FLAT_NOTE, list_trained
    from gait2hip.training.metrics import skill_vs_mean_curve

    rng = np.random.default_rng(0)
    y = rng.normal(size=(6, 20, 2))
    subj = np.repeat(["a", "b", "c"], 2)
    curve = y.mean(0)
    assert skill_vs_mean_curve(y, np.broadcast_to(curve, y.shape), curve, subj) == 0.0
    assert skill_vs_mean_curve(y, y, curve, subj) == 1.0
    run = tmp_path / "moments"
    shutil.copytree(runs / "moments", run)
    unit = run / "split42" / "lstm-causal" / "seed2025"
    # as a run folder written before the benchmark recorded the skill: measured from its files
    summary = pd.read_csv(run / "summary.csv")
    summary.drop(columns="skill_vs_mean_curve").to_csv(run / "summary.csv", index=False)
    with np.load(unit / "predictions.npz") as z:
        stored = {k: z[k] for k in z.files}
    # the unit as if it were exact on its test subjects, then as if it had learnt nothing
    # (its test predictions the training mean curve)
    np.savez(unit / "predictions.npz", **{**stored, "y_pred": stored["y_true"]})
    listed = list_trained(run)
    assert len(listed) == 1 and listed[0]["skill_vs_mean_curve"] == 1.0 and not listed[0]["flag"]
    curve = Calibration.load(unit / "calibration.npz").norm_mean
    stored["y_pred"] = np.broadcast_to(curve, stored["y_true"].shape).copy()
    np.savez(unit / "predictions.npz", **stored)
    assert list_trained(run)[0]["flag"] == FLAT_NOTE
    res = runner.invoke(app, ["models", str(run)])
    assert "warning: no better than the training mean curve" in res.output
    assert "Nm/kg" in res.output
    df, strikes = make_trial(synthetic["moments"])
    pred = gait2hip.predict(df, strikes=strikes, model=run)
    assert any("no better than the training mean curve" in w for w in pred.warnings)
    # where the benchmark recorded it, the summary's value is the one used
    summary.assign(skill_vs_mean_curve=0.5).to_csv(run / "summary.csv", index=False)
    assert list_trained(run)[0]["skill_vs_mean_curve"] == 0.5


def test_predicted_muscle_forces_are_never_negative(runs, synthetic):
    """Every forces model's output is clipped at 0 (a muscle cannot push), in one place: the
    benchmark's test predictions, calibration and predict all see the clipped values."""
    import torch

    final = TrainedModel.load(runs / "forces" / "split42" / "lstm-causal" / "seed2025" / "final.pt")
    X = synthetic["forces"].X[:4]
    before = final.predict_per_kg(X)
    assert (before >= 0).all()
    bias = final.model.head.proj.bias.detach().clone()
    with torch.no_grad():
        final.model.head.proj.bias.copy_(bias - 100.0)  # a read-out far below 0
    assert (final.predict_per_kg(X) == 0).all() and (final.predict_reference(X) == 0).all()
    with torch.no_grad():
        final.model.head.proj.bias.copy_(bias + 0.05)  # partly negative: clipped there only
    raw = final.model.eval()(torch.from_numpy(final.scaler.transform(X))).detach().numpy()
    np.testing.assert_allclose(final.predict_per_kg(X), np.maximum(raw, 0), atol=1e-6)
    assert (raw < 0).any() and (raw > 0).any()


def test_printing_a_prediction_is_a_summary(synthetic, predictors):
    df, strikes = make_trial(synthetic["forces"])
    pred = gait2hip.predict(df, strikes=strikes, predictors=predictors)
    text = repr(pred)
    assert "\n" not in text and len(text) < 400
    assert "4 of" in text and "forces (14 channels)" in text and "moments (3 channels)" in text
    assert "cycles x 40 frames x 3 channels in Nm/kg" in repr(pred.targets["moments"])


def test_prediction_filters_the_angles_as_labelling_did(synthetic, predictors):
    """The same angles reach a model the same way at training and prediction time: the
    trial's angles are low-pass filtered at the labelling cut-off (6 Hz) before each cycle is
    resampled, so 25 Hz noise does not reach the model; a gap left unfilled stays local."""
    from gait2hip.gait.signal import ANGLE_LOWPASS_HZ, lowpass_angles

    assert ANGLE_LOWPASS_HZ == 6.0
    t = np.arange(0, 4, 0.01)
    slow, noise = np.sin(2 * np.pi * 1.0 * t), np.sin(2 * np.pi * 25.0 * t)
    x = np.stack([slow + noise, slow], 1)
    x[200:203, 1] = np.nan  # an unfilled gap
    y = lowpass_angles(t, x)
    inner = slice(50, 150)
    assert np.abs(y[inner, 0] - slow[inner]).max() < 0.02  # the noise removed, 1 Hz kept
    assert np.isnan(y[200:203, 1]).all() and np.isfinite(np.delete(y[:, 1], [200, 201, 202])).all()
    df, strikes = make_trial(synthetic["forces"])
    noisy = df.copy()
    cols = list(INPUT_COLS)
    noisy[cols] += 3.0 * np.sin(2 * np.pi * 25.0 * df["time"].to_numpy())[:, None]
    clean = gait2hip.predict(df, strikes=strikes, predictors=predictors)
    shaken = gait2hip.predict(noisy, strikes=strikes, predictors=predictors)
    a = clean.targets["moments"].mean
    b = shaken.targets["moments"].mean
    # what the model receives: filtered, then resampled (computed here by hand)
    time = df["time"].to_numpy()
    values = lowpass_angles(time, noisy[cols].to_numpy())
    from gait2hip.gait.signal import resample

    X = np.stack([resample(time, values, w.t0, w.t1, 40) for w in shaken.kept]).astype(np.float32)
    expected, _, _ = predictors["moments"].predict(X)
    np.testing.assert_allclose(b, expected, atol=1e-5)
    assert np.abs(b - a).max() < 0.2 * np.abs(a).max()


# ----------------------------------------------------------------------------- anchor


def test_interval_adds_the_disagreement_with_an_anchor(runs, synthetic, tmp_path, monkeypatch):
    """A unit whose calibration names an anchor (a model of another population) draws
    mean ± z·sqrt(within² + (factor·|mean - anchor|)²), the anchor asked for the same walker;
    the unit's own anchor.pt is used first; without it or the published checkpoint, the
    interval says what it lacks and predict warns."""
    import shutil

    from gait2hip.inference.calibration import ANCHOR_FILE, Anchor

    unit = tmp_path / "unit"
    shutil.copytree(runs / "moments" / "split42" / "lstm-causal" / "seed2025", unit)
    cal = Calibration.load(unit / "calibration.npz")
    assert cal.anchor == ""  # 40-frame synthetic cycles: nothing of the study's to compare
    other = TrainedModel.load(unit / "fold1.pt")  # a stand-in for another population's model
    shutil.copy(unit / "fold1.pt", unit / ANCHOR_FILE)
    dataclasses.replace(cal, anchor="gait2hip60:lstm", anchor_factor=2.0).save(
        unit / "calibration.npz"
    )
    pred = load_predictor(unit)
    assert isinstance(pred.anchor, Anchor) and pred.anchor.factor == 2.0 and not pred.interval_note
    ds = synthetic["moments"]
    X, h = ds.X[:5], np.array([1.5, np.nan, 1.8, 1.7, 1.6])
    mean, sd, _ = pred.predict(X, h)
    within = dataclasses.replace(pred, anchor=None).predict(X, h)[1]
    # one pass gives both intervals
    one_pass = pred.predict_within(X, h)
    np.testing.assert_allclose(one_pass[1], sd, rtol=1e-6)
    np.testing.assert_allclose(one_pass[2], within, rtol=1e-6)
    f = pred.size_factors(h, len(X))
    ref_h = np.where(np.isfinite(h), h, pred.reference_height_m)
    between = 2.0 * np.abs(mean - other.predict_per_kg(X, ref_h) * f / pred.size_factors(ref_h, 5))
    np.testing.assert_allclose(sd**2, within**2 + between**2, rtol=1e-4, atol=1e-8)
    assert (sd >= within - 1e-7).all() and (sd > within).any()

    (unit / ANCHOR_FILE).unlink()
    monkeypatch.setenv("GAIT2HIP_DATA", str(tmp_path / "no-data"))
    alone = load_predictor(unit)
    assert alone.anchor is None and "between-population" in alone.interval_note
    df, strikes = make_trial(ds)
    res = gait2hip.predict(df, strikes=strikes, predictors={"moments": alone})
    assert any("lacks its between-population part" in w for w in res.warnings)


def test_calibration_measures_coverage_with_and_without_the_anchor(runs, synthetic):
    from gait2hip.inference.calibration import Anchor
    from gait2hip.training.calibrate import calibrate

    ds = synthetic["moments"]
    unit = runs / "moments" / "split42" / "lstm-causal" / "seed2025"
    final = TrainedModel.load(unit / "final.pt")
    folds_models = [TrainedModel.load(unit / f"fold{k}.pt") for k in range(3)]
    test = np.flatnonzero(np.isin(ds.subject_id, final.meta["test_subjects"]))
    pool = np.setdiff1d(np.arange(len(ds)), test)
    folds = []
    for m in folds_models:
        train = np.flatnonzero(np.isin(ds.subject_id, m.meta["train_subjects"]))
        folds.append((train, np.setdiff1d(pool, train)))
    args = (ds.X, ds.Y_per_kg, pool, folds, folds_models, final, test, ds.out_cols, ds.height_m)
    plain = calibrate(*args)
    anchored = calibrate(*args, anchor=Anchor(folds_models[0], "gait2hip60:lstm", 1.0))
    assert plain.anchor == "" and anchored.anchor == "gait2hip60:lstm"
    np.testing.assert_allclose(anchored.coverage_within, plain.coverage_all)
    assert np.all(anchored.coverage_all >= plain.coverage_all)
    assert anchored.width_90 > plain.width_90 == pytest.approx(plain.width_90_within)
    summary = anchored.summary()
    assert summary["anchor"] == "gait2hip60:lstm" and summary["interval_width_90"] > 0


def test_size_check_flags_bodies_unlike_the_training_subjects(runs, synthetic):
    """Calibrations keep the training subjects' heights; predict warns for a body far outside
    them (a child for adult models), not for one among them; the cohort evaluation measures
    how well heights tell a group from the training subjects (size_auroc)."""
    from gait2hip.data.cohort import Cohort
    from gait2hip.external.evaluate import EvalUnit, zero_shot
    from gait2hip.inference.calibration import spread_auroc

    ds = synthetic["moments"]
    unit = runs / "moments" / "split42" / "lstm-causal" / "seed2025"
    pred = load_predictor(unit)
    final = pred.final
    pool = ~np.isin(ds.subject_id, final.meta["test_subjects"])
    np.testing.assert_allclose(pred.calibration.heights, np.sort(ds.height_m[pool]))
    summary = json.loads((unit / "calibration.json").read_text())
    lo, hi = summary["training_heights_m"]
    assert 0.0 <= summary["test_size_auroc"] <= 1.0
    assert pred.size_percentile(None) is None
    assert pred.size_percentile(float(np.median(ds.height_m[pool]))) < 50
    child = 1.1
    assert child < lo and pred.size_percentile(child) == 100.0
    df, strikes = make_trial(ds)
    preds = {"moments": pred}
    usual = gait2hip.predict(df, strikes=strikes, predictors=preds, height_m=(lo + hi) / 2)
    assert not any("unlike the training subjects'" in w for w in usual.warnings)
    small = gait2hip.predict(df, strikes=strikes, predictors=preds, height_m=child)
    assert any("body height 1.1 m is unlike" in w and "Hof" in w for w in small.warnings)
    # without the height, a light body mass stands in: warned as a child's; the training
    # subjects' masses (the pool's cycles) are in the calibration
    np.testing.assert_allclose(pred.calibration.masses, np.sort(ds.weight_kg[pool]))
    assert summary["training_masses_kg"] == [
        round(float(m), 3) for m in pred.calibration.masses[[0, -1]]
    ]
    light = float(pred.calibration.masses[0]) * 0.4
    kid = gait2hip.predict(df, strikes=strikes, predictors=preds, mass_kg=light)
    assert any(f"body mass {light:g} kg is lighter" in w and "--height" in w for w in kid.warnings)
    assert not any("lighter" in w for w in usual.warnings)
    # a cohort of children: heights tell them apart completely
    kids = Cohort.from_arrays(
        ds.X[:6],
        ds.in_cols,
        [f"k{i}" for i in range(6)],
        targets={"moments": (ds.Y_per_kg[:6], ds.out_cols, "Nm/kg")},
        meta=pd.DataFrame({"height_m": np.linspace(1.0, 1.2, 6)}),
    )
    zs = zero_shot([EvalUnit(pred)], kids, healthy=False, n_boot=10)
    assert zs.summary["size_auroc"].iloc[0] == 1.0
    assert (zs.cycles["size_percentile"] == 100.0).all()
    assert np.isnan(spread_auroc(np.array([np.nan]), pred.calibration.heights))


def test_blend_weight_and_mixture_by_hand():
    from gait2hip.inference.calibration import (
        BLEND_FROM,
        BLEND_TO,
        BlendRule,
        blend_weight,
        mixture,
        shift_of,
    )

    assert BlendRule().name == "ramp50-95" and BlendRule(95, 95).name == "step95"
    assert BlendRule.parse("ramp80-95") == BlendRule(80.0, 95.0)
    assert BlendRule.parse("step95") == BlendRule(95.0, 95.0)
    no_pace = BlendRule.parse("step95/ood+size")
    assert no_pace == BlendRule(95.0, 95.0, ("ood", "size")) and no_pace.name == "step95/ood+size"
    assert BlendRule(95, 95, ("size", "ood")).name == "step95/ood+size"  # canonical order
    far = BlendRule.parse("step95/ood1.5+size")
    assert far == BlendRule(95.0, 95.0, ("ood", "size"), 1.5) and far.name == "step95/ood1.5+size"
    assert BlendRule.parse(far.name) == far and BlendRule.parse("step95/ood1+size") == no_pace
    for bad in ("cliff", "step", "ramp50", "step95/pace+speed", "step95/", "step95/ood0.5+size",
                "step95/oodx", "step95/size+pace1.5", "step95/ood1.5"):  # fmt: skip
        with pytest.raises(ValueError, match="unknown blend rule"):
            BlendRule.parse(bad)
    # the checks a rule heeds: the largest known percentile of them, per cycle
    checks = {"ood": np.array([10.0, 99.0, 20.0]), "pace": np.array([99.0, 10.0, np.nan]),
              "size": None}  # fmt: skip
    np.testing.assert_allclose(shift_of(checks), [99, 99, 20])
    np.testing.assert_allclose(BlendRule(95, 95).weight(checks), [1, 1, 0])
    np.testing.assert_allclose(no_pace.weight(checks), [0, 1, 0])
    assert BlendRule(95, 95, ("pace",)).weight({"ood": checks["ood"], "pace": None}) is None

    pct = np.array([0.0, BLEND_FROM, (BLEND_FROM + BLEND_TO) / 2, BLEND_TO, 100.0, np.nan])
    np.testing.assert_allclose(blend_weight(pct), [0, 0, 0.5, 1, 1, 0])
    np.testing.assert_allclose(blend_weight(pct, 95.0, 95.0), [0, 0, 0, 0, 1, 0])
    own = (np.zeros((2, 3, 1)), np.ones((2, 3, 1)))
    other = (np.full((2, 3, 1), 2.0), np.full((2, 3, 1), 3.0))
    mean, sd = mixture(np.array([0.0, 0.5]), own, other)
    np.testing.assert_allclose(mean[0], 0.0)
    np.testing.assert_allclose(sd[0], 1.0)
    # 0.5·1 + 0.5·9 + 0.25·(0 - 2)² = 6
    np.testing.assert_allclose(mean[1], 1.0)
    np.testing.assert_allclose(sd[1], np.sqrt(6.0))
    mean, sd = mixture(np.array([1.0, 1.0]), own, other)
    np.testing.assert_allclose(mean, 2.0)
    np.testing.assert_allclose(sd, 3.0)


def test_broad_model_takes_over_for_walkers_unlike_the_training(runs, synthetic, tmp_path):
    """A unit folder with a broad/ unit predicts, per cycle, the mixture of both by the
    cycle's shift percentile (the largest of its OOD, pace and size percentiles): a body far
    outside the training heights gets the broad model alone; predict reports the share per
    cycle; a broad model of other outputs is refused in one line."""
    import shutil

    from gait2hip.inference.calibration import (
        BlendRule,
        Calibration,
        blend_weight,
        mixture,
        shift_of,
    )

    src = runs / "moments" / "split42" / "lstm-causal" / "seed2025"
    unit = tmp_path / "unit"
    shutil.copytree(src, unit)
    (unit / "broad").mkdir()
    shutil.copy(src / "fold1.pt", unit / "broad" / "final.pt")  # another model of the target
    shutil.copy(src / "calibration.npz", unit / "broad" / "calibration.npz")
    pred = load_predictor(unit, ensemble=False)
    assert pred.broad is not None and pred.describe()["broad_model"] == pred.broad.label
    own, broad = dataclasses.replace(pred, broad=None), pred.broad
    ds = synthetic["moments"]
    X = ds.X[:6]
    child = np.full(len(X), 1.1)  # far below the training subjects: the broad model alone
    np.testing.assert_allclose(pred.broad_weight(X, child), 1.0)
    for a, b in zip(pred.predict(X, child), broad.predict(X, child), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    h = float(np.median(pred.calibration.heights))
    w = pred.broad_weight(X, h)
    pct = np.maximum(pred.ood_scores(X)[1], pred.calibration.size_percentile(h))
    np.testing.assert_allclose(w, blend_weight(pct))
    expected = mixture(w, own.predict(X, h)[:2], broad.predict(X, h)[:2])
    for a, b in zip(pred.predict(X, h)[:2], expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # a rule heeding the OOD check alone leaves the child's height out of the share, not out
    # of the shift percentile (which the widening follows); the rule survives save and load
    rule = BlendRule(checks=("ood",))
    cal = dataclasses.replace(pred.calibration, blend=rule)
    assert Calibration.load(cal.save(tmp_path / "cal.npz")).blend == rule
    ood_only = dataclasses.replace(pred, calibration=cal)
    p = ood_only.predict_cycles(X, child)
    np.testing.assert_allclose(p.broad_weight, blend_weight(p.ood[1]))
    assert (p.broad_weight < 1).any() and (p.shift_percentile == 100).all()
    np.testing.assert_allclose(p.shift_percentile, shift_of(p.checks))
    # a rule whose checks are all unknown (no durations for a pace-only rule) gives the share
    # to none of the cycles, rather than dropping the blend
    pace_only = dataclasses.replace(
        pred, calibration=dataclasses.replace(pred.calibration, blend=BlendRule(checks=("pace",)))
    )
    np.testing.assert_allclose(pace_only.broad_weight(X, child), 0.0)
    # a rule heeding the OOD check only beyond F times the warning level's score where the
    # height is known (the size check then tells a child): the share follows the percentile
    # of the scores over F; without the height, the OOD check at the warning level as before;
    # the factor survives save and load
    far = BlendRule(95, 95, ("ood", "size"), 1.5)
    cal = dataclasses.replace(pred.calibration, blend=far)
    assert Calibration.load(cal.save(tmp_path / "far.npz")).blend == far
    thr = pred.calibration.ood_threshold
    X_far = np.concatenate([X, X * 3.0])  # the same cycles, and exaggerated ones
    scores = pred.ood_scores(X_far)[0]
    beyond = (scores > thr) & (scores / 1.5 <= thr)
    assert beyond.any()  # some cycles beyond the warning level, not beyond 1.5 times it
    far_pred = dataclasses.replace(pred, calibration=cal)
    np.testing.assert_allclose(far_pred.broad_weight(X_far, h), scores / 1.5 > thr)
    unknown = far_pred.broad_weight(X_far)  # no height: as step95/ood+size
    np.testing.assert_allclose(unknown, blend_weight(pred.ood_scores(X_far)[1], 95, 95))
    assert (unknown[beyond] == 1).all()
    np.testing.assert_allclose(far_pred.broad_weight(X_far, np.full(len(X_far), 1.1)), 1.0)
    # keep-fast: a cycle the pace check flags on the fast side (shorter than the training
    # median, beyond the warning level) stays with the own model whatever the OOD check says,
    # unless the size check flags the body; slow cycles and unknown durations as before; the
    # rule's name parses back and it survives save and load
    keep = BlendRule(95, 95, ("ood", "size"), 1.5, keep_fast=True)
    assert keep.name == "step95/ood1.5+size/keep-fast" and BlendRule.parse(keep.name) == keep
    with pytest.raises(ValueError, match="keep-fast"):
        BlendRule(checks=("ood",), keep_fast=True)
    with pytest.raises(ValueError, match="unknown blend rule"):
        BlendRule.parse("step95/keep-fast")
    durs = np.linspace(0.9, 1.3, 41)  # the training cycles' durations, s
    cal = dataclasses.replace(pred.calibration, blend=keep, durations=durs)
    assert Calibration.load(cal.save(tmp_path / "keep.npz")).blend == keep
    keep_pred = dataclasses.replace(pred, calibration=cal)
    n = len(X_far)
    fast, slow = np.full(n, durs.min() * 0.6), np.full(n, durs.max() * 1.6)
    before = far_pred.broad_weight(X_far)  # no height: the OOD check at the warning level
    assert before.any()
    np.testing.assert_allclose(keep_pred.broad_weight(X_far), before)
    np.testing.assert_allclose(keep_pred.broad_weight(X_far, None, fast), 0.0)
    np.testing.assert_allclose(keep_pred.broad_weight(X_far, None, slow), before)
    mixed_pace = np.where(np.arange(n) % 2 == 0, fast, np.median(durs))
    np.testing.assert_allclose(
        keep_pred.broad_weight(X_far, None, mixed_pace), np.where(np.arange(n) % 2 == 0, 0, before)
    )
    np.testing.assert_allclose(keep_pred.broad_weight(X_far, np.full(n, 1.1), fast), 1.0)
    # keep-fast0: every cycle shorter than the training median, also those the pace check
    # does not flag (the pace of fast walkers), which /keep-fast leaves to the OOD check
    keep0 = dataclasses.replace(keep, keep_fast_from=0.0)
    assert keep0.name == "step95/ood1.5+size/keep-fast0" and BlendRule.parse(keep0.name) == keep0
    assert BlendRule.parse("step95/ood1.5+size/keep-fast95") == keep
    cal0 = dataclasses.replace(cal, blend=keep0)
    assert Calibration.load(cal0.save(tmp_path / "keep0.npz")).blend == keep0
    keep0_pred = dataclasses.replace(pred, calibration=cal0)
    brisk = np.full(n, np.median(durs) - 0.02)  # faster than the median, within the paces
    assert not keep_pred.calibration.faster_than_training(brisk, np.full(n, 10.0)).any()
    np.testing.assert_allclose(keep_pred.broad_weight(X_far, None, brisk), before)
    np.testing.assert_allclose(keep0_pred.broad_weight(X_far, None, brisk), 0.0)
    for other in (slow, np.full(n, np.median(durs) + 0.02), None):
        np.testing.assert_allclose(keep0_pred.broad_weight(X_far, None, other), before)
    np.testing.assert_allclose(keep0_pred.broad_weight(X_far, np.full(n, 1.1), brisk), 1.0)
    with pytest.raises(ValueError, match="percentile"):
        dataclasses.replace(keep, keep_fast_from=100.0)
    # without a height, a body mass lighter than the training subjects' (beyond the 95th
    # percentile of their spread, one-sided) stands in for the size check: a child's goes to
    # the broad model; a heavy or typical mass leaves the size unknown; a given height wins;
    # the training masses are kept by training and survive save and load
    assert len(pred.calibration.masses) and pred.calibration.masses.min() > 20
    masses = np.linspace(55.0, 90.0, 41)
    cal = dataclasses.replace(pred.calibration, masses=masses)
    np.testing.assert_allclose(Calibration.load(cal.save(tmp_path / "m.npz")).masses, masses)
    by_mass = dataclasses.replace(pred, calibration=cal)
    no_size = by_mass.broad_weight(X)
    np.testing.assert_allclose(by_mass.broad_weight(X, None, None, 25.0), 1.0)
    for typical in (70.0, 130.0):
        np.testing.assert_allclose(by_mass.broad_weight(X, None, None, typical), no_size)
    np.testing.assert_allclose(by_mass.broad_weight(X, h, None, 25.0), by_mass.broad_weight(X, h))
    assert by_mass.size_percentile(None, 25.0) > 95 and by_mass.size_percentile(None, 130.0) is None
    per_cycle = cal.size_percentile(None, np.array([25.0, 70.0, np.nan]))
    assert per_cycle[0] > 95 and np.isnan(per_cycle[1:]).all()

    df, strikes = make_trial(ds)
    res = gait2hip.predict(df, strikes=strikes, predictors={"moments": pred}, height_m=1.1)
    table = res.cycles_table()
    assert (table.dropna(subset=["cycle"])["broad_weight_moments"] == 1.0).all()
    assert " + " in res.targets["moments"].model

    # a broad model of another reference height predicts, for a walker of unknown height, the
    # walker the blend's own model refers to (the one its notes name), not its own
    tall = TrainedModel.load(unit / "broad" / "final.pt")
    ref = pred.reference_height_m
    assert ref is not None
    tall.meta["reference_height_m"] = ref * 1.1
    tall.save(unit / "broad" / "final.pt")
    mixed = load_predictor(unit, ensemble=False)
    far = X * 3.0  # unlike any training cycle: the broad model's alone
    p = mixed.predict_cycles(far, None)
    assert (p.broad_weight == 1.0).all()
    np.testing.assert_allclose(p.mean, mixed.broad.predict(far, ref)[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(p.mean, mixed.broad.predict(far, None)[0] / 1.1, rtol=1e-5)
    heights = np.array([np.nan, 1.6, np.nan, 1.9, 1.7, np.nan])
    np.testing.assert_allclose(
        mixed.predict_cycles(far, heights).mean,
        mixed.broad.predict(far, np.where(np.isnan(heights), ref, heights))[0],
        rtol=1e-5, atol=1e-7,
    )  # fmt: skip

    shutil.copy(runs / "forces" / "split42" / "lstm-causal" / "seed2025" / "final.pt",
                unit / "broad" / "final.pt")  # fmt: skip
    with pytest.raises(ModelNotFoundError, match="cannot be its broad model"):
        load_predictor(unit)


def test_interval_score_by_hand():
    """Width plus 20 times the miss for a 90 % interval; lowest near the true sd: too narrow
    or too wide an interval scores worse."""
    from gait2hip.inference.calibration import interval_score, z_value

    z = z_value(0.9)
    y, mean, sd = np.array([0.0, 3.0]), np.zeros(2), np.ones(2)
    assert interval_score(y, mean, sd) == pytest.approx((2 * z + 2 * z + 20 * (3 - z)) / 2)
    assert interval_score(y, mean, 1.0) == interval_score(y, mean, sd)  # sd broadcast
    rng = np.random.default_rng(1)
    y = rng.normal(size=(200, 50, 2)) * 2.0
    scores = {f: interval_score(y, 0 * y, np.full_like(y, f)) for f in (1.0, 2.0, 4.0)}
    assert scores[2.0] < scores[1.0] and scores[2.0] < scores[4.0]


def test_fit_widening_by_hand():
    """beta is the exact smallest widening that brings every held-out condition to the
    nominal coverage; 0 when already there; inf when the misses lie where the ramp is 0."""
    from gait2hip.inference.calibration import fit_widening, pooled_coverage, widening_factor

    rng = np.random.default_rng(0)
    y = rng.normal(size=(400, 50, 2)) * 2.0  # errors twice the sd: coverage 0.59
    mean, sd = np.zeros_like(y), np.ones_like(y)
    shifted = np.full(len(y), 100.0)  # ramp 1: the sd x (1 + beta)
    beta = fit_widening([(y, mean, sd, shifted)])
    assert 0.9 < beta < 1.1  # the 90 % quantile of |y| / 2 sd is ~1.645
    f = widening_factor(shifted, beta)[:, None, None]
    assert pooled_coverage(y, mean, sd * f, (0.9,))[0] >= 0.9
    assert pooled_coverage(y, mean, sd * f * 0.999, (0.9,))[0] < 0.9
    covered = (y / 10, mean, sd, shifted)  # already inside: 0
    assert fit_widening([covered]) == 0.0
    # the larger of two conditions; half the ramp needs twice the beta
    half = np.full(len(y), 72.5)  # halfway up the 50 -> 95 ramp
    assert fit_widening([covered, (y, mean, sd, half)]) == pytest.approx(2 * beta)
    assert fit_widening([(y, mean, sd, np.zeros(len(y)))]) == np.inf
    assert widening_factor(shifted, 0.0) is None and widening_factor(None, 0.5) is None


def test_fit_far_widening_by_hand():
    """r0 is the exact largest distance whose factor max(1, ratio / r0) brings every held-out
    condition to the nominal coverage; inf when already there; cycles within r0 of the
    warning level are never widened."""
    from gait2hip.inference.calibration import distance_factor, fit_far_widening, pooled_coverage

    rng = np.random.default_rng(0)
    y = rng.normal(size=(400, 50, 2)) * 2.0  # errors twice the sd: coverage 0.59
    mean, sd = np.zeros_like(y), np.ones_like(y)
    far = np.full(len(y), 4.0)  # four times the warning level's score
    r0 = fit_far_widening([(y, mean, sd, far)])
    assert 1.9 < r0 < 2.1  # needs the sd x ~2: 4 / r0
    f = distance_factor(far, r0)[:, None, None]
    assert pooled_coverage(y, mean, sd * f, (0.9,))[0] >= 0.9
    assert pooled_coverage(y, mean, sd * distance_factor(far, r0 * 1.001)[:, None, None],
                           (0.9,))[0] < 0.9  # fmt: skip
    covered = (y / 10, mean, sd, far)
    assert fit_far_widening([covered]) == np.inf
    # the smaller of two conditions; a condition twice as far asks for twice the r0
    assert fit_far_widening([covered, (y, mean, sd, far), (y, mean, sd, 2 * far)]) == r0
    assert fit_far_widening([(y, mean, sd, 2 * far)]) == pytest.approx(2 * r0)
    near = np.array([0.5, 1.0, r0, 1.5 * r0])
    np.testing.assert_allclose(distance_factor(near, r0), [1, 1, 1, 1.5])
    assert distance_factor(near, 0.0) is None and distance_factor(None, r0) is None
    np.testing.assert_allclose(distance_factor(near, r0, 1 / r0), distance_factor(near, r0))


def test_fit_far_slope_by_hand():
    """The slope from the warning level is the exact smallest whose factor 1 + s x (ratio -
    start) brings every held-out condition to the nominal coverage; 0 when already there;
    inf when the misses lie within the start; cycles within it never widened."""
    from gait2hip.inference.calibration import distance_factor, fit_far_slope, pooled_coverage

    rng = np.random.default_rng(0)
    y = rng.normal(size=(400, 50, 2)) * 2.0  # errors twice the sd: coverage 0.59
    mean, sd = np.zeros_like(y), np.ones_like(y)
    far = np.full(len(y), 3.0)  # three times the warning level's score
    s = fit_far_slope([(y, mean, sd, far)])
    assert 0.45 < s < 0.55  # needs the sd x ~2: 1 + s x (3 - 1)

    def cover(k):
        f = distance_factor(far, 1.0, k)[:, None, None]
        return pooled_coverage(y, mean, sd * f, (0.9,))[0]

    assert cover(s) >= 0.9 > cover(s * 0.999)
    assert fit_far_slope([(y / 10, mean, sd, far)]) == 0.0
    assert fit_far_slope([(y, mean, sd, np.full(len(y), 0.8))]) == np.inf
    # the larger of two conditions; one twice as far beyond the start asks for half the slope
    assert fit_far_slope([(y, mean, sd, far), (y, mean, sd, 1 + 2 * (far - 1))]) == s
    assert fit_far_slope([(y, mean, sd, 1 + 2 * (far - 1))]) == pytest.approx(s / 2)
    np.testing.assert_allclose(distance_factor(np.array([0.5, 1.0, 2.0]), 1.0, 0.5), [1, 1, 1.5])
    assert distance_factor(np.array([2.0]), 0.0, 0.5) is None  # far_widening 0: switched off


def test_interval_widens_under_shift_as_calibrated(runs, synthetic, tmp_path):
    """A calibration's widening multiplies the sd by 1 + beta x ramp(shift percentile): a
    child's body (shift 100) gets 1 + beta, the point prediction and the within-population
    sd stay; predict writes the factor per cycle; the calibration keeps it when saved."""
    import shutil

    from gait2hip.inference.calibration import Calibration

    src = runs / "moments" / "split42" / "lstm-causal" / "seed2025"
    unit = tmp_path / "unit"
    shutil.copytree(src, unit)
    plain = load_predictor(unit, ensemble=False)
    cal = Calibration.load(unit / "calibration.npz")
    cal.shift_widening, cal.shift_widening_source = 0.5, "a test"
    cal.save(unit / "calibration.npz")
    assert Calibration.load(unit / "calibration.npz").summary()["shift_widening"] == 0.5
    pred = load_predictor(unit, ensemble=False)
    X = synthetic["moments"].X[:6]
    child = np.full(len(X), 1.1)
    p, q = pred.predict_cycles(X, child), plain.predict_cycles(X, child)
    np.testing.assert_allclose(p.widening, 1.5)
    np.testing.assert_allclose(p.sd, 1.5 * q.sd, rtol=1e-6)
    np.testing.assert_allclose(p.mean, q.mean)
    np.testing.assert_allclose(p.within_sd, q.within_sd)
    assert q.widening is None
    h = float(np.median(pred.calibration.heights))
    p = pred.predict_cycles(X, h)
    expected = 1 + 0.5 * np.clip((p.shift_percentile - 50) / 45, 0, 1)
    np.testing.assert_allclose(p.widening, expected)
    df, strikes = make_trial(synthetic["moments"])
    res = gait2hip.predict(df, strikes=strikes, predictors={"moments": pred}, height_m=1.1)
    table = res.cycles_table().dropna(subset=["cycle"])
    assert (table["interval_widening_moments"] == 1.5).all()

    # far out: the sd further x max(1, OOD score / warning level's / r0); saved and loaded
    cal.far_widening, cal.far_widening_source = 1.0, "a test"
    cal.save(unit / "calibration.npz")
    assert Calibration.load(unit / "calibration.npz").summary()["far_widening"] == 1.0
    far = load_predictor(unit, ensemble=False)
    X_far = np.concatenate([X, X * 3.0])  # the same cycles, and exaggerated ones
    ratio = far.ood_scores(X_far)[0] / far.calibration.ood_threshold
    assert (ratio[: len(X)] < 1).all() and (ratio[len(X) :] > 1).all()
    kid = np.full(len(X_far), 1.1)
    p, q = far.predict_cycles(X_far, kid), pred.predict_cycles(X_far, kid)
    np.testing.assert_allclose(p.widening, 1.5 * np.maximum(1, ratio), rtol=1e-6)
    np.testing.assert_allclose(p.sd[: len(X)], q.sd[: len(X)])
    np.testing.assert_allclose(p.sd[len(X) :], q.sd[len(X) :] * ratio[len(X) :, None, None],
                               rtol=1e-5)  # fmt: skip
    np.testing.assert_allclose(p.mean, q.mean)
    # with a slope: the sd x (1 + slope x (ratio - r0)) beyond r0; saved and loaded
    cal.far_widening_slope = 0.25
    cal.save(unit / "calibration.npz")
    assert Calibration.load(unit / "calibration.npz").summary()["far_widening_slope"] == 0.25
    sloped = load_predictor(unit, ensemble=False).predict_cycles(X_far, kid)
    np.testing.assert_allclose(sloped.widening, 1.5 * (1 + 0.25 * np.maximum(0, ratio - 1)),
                               rtol=1e-6)  # fmt: skip


def test_broad_model_of_fewer_inputs_predicts_where_they_are_unknown(runs, synthetic, tmp_path):
    """A model that takes the cycle's duration may carry a broad model without it: cycles
    whose duration is known are blended as usual, a file without cycle times (NaN duration)
    gets the broad model alone; a forces model of the angles alone predicts beside it."""
    import shutil

    from gait2hip.conventions import resolve_inputs

    ds = synthetic["moments"]
    t0 = np.arange(len(ds), dtype=float) * 2.0
    durations = STRIDE + 0.05 * (np.arange(len(ds)) % 3 - 1)
    ds = dataclasses.replace(ds, extra={**ds.extra, "cycle_t0": t0, "cycle_t1": t0 + durations})
    cols = resolve_inputs("all,cycle_duration_s")
    cfg = tiny_config(models=("lstm",))
    cfg = dataclasses.replace(cfg, target="moments", inputs=cols, n_folds=2)
    benchmark(ds, cfg, tmp_path / "run", show_progress=False)
    unit = tmp_path / "run" / "split42" / "lstm-causal" / "seed2025"
    shutil.copytree(runs / "moments" / "split42" / "lstm-causal" / "seed2025", unit / "broad")
    pred = load_predictor(unit, ensemble=False)
    assert pred.broad is not None and pred.required_inputs == INPUT_COLS
    broad = pred.broad
    X = ds.select_inputs(cols).X[:4]
    known = pred.predict_cycles(X)
    assert known.pace_percentile is None  # durations not passed: the pace check stays out
    X_unknown = X.copy()
    X_unknown[1, :, -1] = np.nan  # one cycle of unknown duration
    p = pred.predict_cycles(X_unknown)
    np.testing.assert_allclose(p.broad_weight[1], 1.0)
    np.testing.assert_allclose(p.broad_weight[[0, 2, 3]], known.broad_weight[[0, 2, 3]])
    alone = broad.predict(X[:, :, :10])
    np.testing.assert_allclose(p.mean[1], alone[0][1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p.mean[0], known.mean[0], rtol=1e-5, atol=1e-6)
    X_unknown[2, 5, 0] = np.nan  # an angle the broad model needs too: refused
    with pytest.raises(ValueError, match="NaN in its inputs"):
        pred.predict_cycles(X_unknown)

    # through predict: a study NPZ without cycle times gives no durations
    npz = tmp_path / "cycles.npz"
    np.savez(npz, X=ds.X[:4], in_cols=np.array(INPUT_COLS))
    both = {"moments": pred, "forces": load_predictor(runs / "forces")}
    res = gait2hip.predict(npz, predictors=both)
    table = res.cycles_table().dropna(subset=["cycle"])
    assert (table["broad_weight_moments"] == 1.0).all()
    assert any("no cycle duration known" in n for n in res.notes), res.notes
    np.testing.assert_allclose(res.targets["moments"].mean, alone[0], rtol=1e-5, atol=1e-6)
    # a model that needs the duration alone is refused in one line
    with pytest.raises(InputError, match="cycle's duration"):
        gait2hip.predict(npz, predictors={"moments": dataclasses.replace(pred, broad=None)})
    # a cohort (no cycle times): the broad model alone; a model that needs them is refused
    from gait2hip.data.cohort import Cohort
    from gait2hip.data.dataset import DataError
    from gait2hip.external.evaluate import EvalUnit, zero_shot

    kids = Cohort.from_arrays(
        ds.X[:4],
        ds.in_cols,
        [f"k{i}" for i in range(4)],
        targets={"moments": (ds.Y_per_kg[:4], ds.out_cols, "Nm/kg")},
    )
    zs = zero_shot([EvalUnit(pred)], kids, healthy=False, n_boot=10)
    np.testing.assert_allclose(
        zs.cycles["rmse"].to_numpy(),
        np.sqrt(((alone[0] - ds.Y_per_kg[:4]) ** 2).mean(axis=(1, 2))),
        rtol=1e-4,
    )
    with pytest.raises(DataError, match="which the cohort does not give"):
        zero_shot([EvalUnit(dataclasses.replace(pred, broad=None))], kids, healthy=False)
    # few-shot adapts the model that predicts the cohort: the broad one (lr 0: unchanged)
    from gait2hip.external.few_shot import FewShotConfig, few_shot

    cfg = FewShotConfig(ks=(1,), draws=1, finetune_epochs=1, finetune_lr=0.0, scratch_epochs=1)
    draws = few_shot([EvalUnit(pred)], kids, zs.predictions, cfg)
    by = draws.set_index("method")["subject_rmse"]
    assert by["fine-tune"] == pytest.approx(by["zero-shot"], rel=1e-5)
    # its broad model must not take inputs it lacks
    shutil.rmtree(unit / "broad")
    shutil.copytree(unit, tmp_path / "wide")
    shutil.copytree(runs / "moments" / "split42" / "lstm-causal" / "seed2025", tmp_path / "narrow")
    shutil.copytree(tmp_path / "wide", tmp_path / "narrow" / "broad")
    with pytest.raises(ModelNotFoundError, match="takes inputs"):
        load_predictor(tmp_path / "narrow")


def test_a_unit_averages_the_final_models_of_other_architectures(runs, synthetic, tmp_path):
    """A unit folder's members/ holds final models of other architectures: the prediction is
    the mean of its own and theirs, their spread part of the sd, and the label names both;
    a member of other outputs is refused in one line."""
    import shutil

    import torch

    from gait2hip.inference.calibration import member_predictions
    from gait2hip.models import create_model

    src = runs / "moments" / "split42" / "lstm-causal" / "seed2025"
    unit = tmp_path / "unit"
    shutil.copytree(src, unit)
    final = TrainedModel.load(src / "final.pt")
    torch.manual_seed(0)
    other = dataclasses.replace(
        final,
        model=create_model(
            "transformer", in_dim=len(final.in_cols), out_dim=len(final.out_cols), d_model=8,
            ff=16, heads=2,
        ).eval(),
    )  # fmt: skip
    (unit / "members").mkdir()
    other.save(unit / "members" / "transformer.pt")
    pred = load_predictor(unit, ensemble=False)
    assert [m.name for m in pred.members] == ["lstm", "transformer"]
    assert pred.label == "lstm-causal + transformer-bidir"
    X = synthetic["moments"].X[:5]
    both = member_predictions([final, other], X)
    mean, _, ens_sd = pred.predict(X, float(final.reference_height_m or 1.7))
    f = pred.size_factors(float(final.reference_height_m or 1.7), len(X))
    np.testing.assert_allclose(mean, both.mean(0) * f, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ens_sd, both.std(0) * f, rtol=1e-5, atol=1e-7)
    alone = load_predictor(src, ensemble=False)
    assert (pred.predict(X)[1] >= alone.predict(X)[1] - 1e-6).all()  # the spread adds to the sd

    forces = TrainedModel.load(
        runs / "forces" / "split42" / "lstm-causal" / "seed2025" / "final.pt"
    )
    forces.save(unit / "members" / "forces.pt")
    with pytest.raises(ModelNotFoundError, match="cannot be averaged"):
        load_predictor(unit)


def test_every_file_of_the_default_model_is_package_data():
    """A wheel (a non-editable install) carries the whole default model: its broad/ and
    members/ models too, which setuptools' package-data globs only take if named."""
    import glob
    import tomllib

    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["gait2hip"]
    package = root / "src" / "gait2hip"
    taken = {Path(p) for pat in patterns for p in glob.glob(str(package / pat))}
    files = {p for p in (package / "default_model").rglob("*") if p.is_file()}
    assert files and not files - taken, sorted(str(p.relative_to(package)) for p in files - taken)
