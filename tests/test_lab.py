"""A lab correction (gait2hip.inference.lab, gait2hip adapt): fitted by leave-one-out, saved
and loaded, applied by predict; refused in one line where it cannot be."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import gait2hip
from gait2hip.cli import app
from gait2hip.inference.lab import LabCorrection, LabCorrectionError, fit_lab_correction
from gait2hip.io.storage import read_motion, write_motion

COLS = ("hip_flexion_r_moment", "hip_adduction_r_moment", "hip_rotation_r_moment")
runner = CliRunner()


def _lab(offsets: np.ndarray, cycles: int = 3, noise: float = 0.01, seed: int = 0):
    """Predictions, their sd, and inverse dynamics that differ from them by each subject's
    offset (a number per DOF, added over the whole cycle) and noise; subjects and trials."""
    rng = np.random.default_rng(seed)
    n, t = len(offsets) * cycles, 50
    phase = np.linspace(0, 2 * np.pi, t)
    pred = np.stack([np.sin(phase), 0.5 * np.cos(phase), 0.1 * np.sin(2 * phase)], -1)
    pred = np.broadcast_to(pred, (n, t, 3)) + rng.normal(0, 0.05, (n, 1, 3))
    subjects = np.repeat([f"s{i}" for i in range(len(offsets))], cycles)
    measured = pred + np.repeat(offsets, cycles, axis=0)[:, None, :]
    measured = measured + rng.normal(0, noise, measured.shape)
    sd = np.full_like(pred, 0.05)
    trials = np.array([f"{s}-{i % 2}" for i, s in enumerate(subjects)])
    return pred, sd, measured, subjects, trials


def test_a_lab_wide_offset_is_learnt_and_applied(tmp_path):
    """Every subject's hip flexion moment 0.3 Nm/kg above the predictions: leave-one-subject-
    out keeps the whole curve, the interval is widened only as the left-out residuals need,
    and apply adds it; the file gives the same correction back."""
    pred, sd, measured, subjects, trials = _lab(np.tile([0.3, 0.0, 0.0], (3, 1)))
    fit = fit_lab_correction(pred, sd, measured, subjects, trials, cols=COLS, model="m")
    assert fit.unit == "subject" and fit.subjects == 3 and fit.cycles == 9
    assert (fit.shrink, fit.gain) == (1.0, 1.0)  # the model shifted by the mean residual
    assert fit.dofs == ("flexion", "adduction", "rotation")
    np.testing.assert_allclose(fit.offset.mean(0), [0.3, 0.0, 0.0], atol=0.01)
    v = fit.validation
    assert v["rmse_corrected"] < 0.03 < 0.15 < v["rmse_model"]  # 0.3 on one DOF of three
    assert v["coverage_model"] < 0.7 < 0.85 < v["coverage_corrected"]  # flexion all outside
    assert not fit.warnings()
    with_heights = fit_lab_correction(pred, sd, measured, subjects, trials, cols=COLS,
                                      model="m", heights="all")  # fmt: skip
    assert "has none" in with_heights.height_warning(False)
    assert with_heights.height_warning(True) is None and fit.height_warning(False) is None
    from gait2hip.inference.result import TargetResult

    result = TargetResult(target="moments", cols=COLS, mean=pred[:2], sd=sd[:2],
                          ensemble_sd=sd[:2], model="m", model_source="m",
                          calibrated=True)  # fmt: skip
    done = fit.apply(result)
    np.testing.assert_allclose(done.mean - result.mean, np.broadcast_to(fit.offset, (2, 50, 3)))
    np.testing.assert_allclose(done.sd, result.sd * fit.sd_scale)
    back = LabCorrection.load(fit.save(tmp_path / "lab.json"))
    for name in ("offset", "lab_mean", "model_mean"):
        np.testing.assert_allclose(getattr(back, name), getattr(fit, name), atol=1e-6)
    np.testing.assert_allclose(fit.lab_mean - fit.model_mean, fit.offset, atol=1e-12)
    assert (back.shrink, back.gain, back.sd_scale, back.model, back.validation) == (
        fit.shrink, fit.gain, fit.sd_scale, fit.model, fit.validation)  # fmt: skip
    assert back.file == str(tmp_path / "lab.json")
    # a correction fitted for other hip moments is refused
    other = TargetResult(target="moments", cols=COLS[:2], mean=pred[:2, :, :2],
                         sd=sd[:2, :, :2], ensemble_sd=sd[:2, :, :2], model="m",
                         model_source="m", calibrated=True)  # fmt: skip
    with pytest.raises(LabCorrectionError, match="fit it for this model"):
        fit.apply(other)


def test_offsets_that_differ_by_subject_are_not_taught():
    """Each subject's own offset, around zero across subjects: the mean of a few would only
    move the predictions for the next person away, so leave-one-subject-out keeps little or
    none of it, and keeps the model's variation."""
    offsets = np.random.default_rng(3).normal(0, 0.3, (8, 3))
    offsets -= offsets.mean(0)
    pred, sd, measured, subjects, trials = _lab(offsets)
    fit = fit_lab_correction(pred, sd, measured, subjects, trials, cols=COLS, model="m")
    assert fit.shrink <= 0.25 and fit.gain == 1.0, fit
    assert np.abs(fit.offset).max() < 0.05
    assert fit.validation["rmse_corrected"] <= fit.validation["rmse_model"] + 1e-12


def test_one_subject_is_measured_by_trial_and_said_so():
    """One subject's trials: left out a trial at a time, and the correction says it is that
    subject's; one trial: a cycle at a time; one cycle: refused, with the fix."""
    pred, sd, measured, subjects, trials = _lab(np.array([[0.2, 0.0, 0.0]]), cycles=4)
    fit = fit_lab_correction(pred, sd, measured, subjects, trials, cols=COLS, model="m")
    assert fit.unit == "trial" and fit.trials == 2
    assert any("fitted on one subject" in w for w in fit.warnings())
    one = fit_lab_correction(pred, sd, measured, subjects, subjects, cols=COLS, model="m")
    assert one.unit == "cycle"
    with pytest.raises(LabCorrectionError, match="needs at least 2"):
        fit_lab_correction(pred[:1], sd[:1], measured[:1], subjects[:1], trials[:1],
                           cols=COLS, model="m")  # fmt: skip


def test_the_lab_mean_curve_when_the_model_adds_nothing():
    """Inverse dynamics unrelated to the predictions (the same curve for everyone, the
    predictions varying): leave-one-subject-out gives the model's variation no weight, the
    correction is the lab's mean curve for every cycle, and it says so."""
    pred, sd, _, subjects, trials = _lab(np.zeros((4, 3)))
    rng = np.random.default_rng(1)
    pred = pred + rng.normal(0, 0.3, (len(pred), 1, 3))
    measured = np.broadcast_to(pred.mean(0), pred.shape) + rng.normal(0, 0.01, pred.shape)
    fit = fit_lab_correction(pred, sd, measured, subjects, trials, cols=COLS, model="m")
    assert (fit.shrink, fit.gain) == (1.0, 0.0), fit
    assert fit.validation["rmse_corrected"] == fit.validation["rmse_lab_mean_curve"]
    assert any("adds nothing to the lab's average curve" in w for w in fit.warnings())


@pytest.mark.parametrize(
    "text, match",
    [
        (None, "no such lab correction"),
        ("angles,inverse_dynamics\n", "not JSON"),
        ('{"kind": "something else"}', "not a lab correction"),
        ('{"kind": "gait2hip lab correction", "version": 99}', "version 99"),
        ('{"kind": "gait2hip lab correction", "version": 1, "dofs": []}', "damaged"),
    ],
)
def test_a_file_that_is_no_lab_correction_is_refused_in_one_line(tmp_path, text, match):
    path = tmp_path / "lab.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(LabCorrectionError, match=match) as err:
        LabCorrection.load(path)
    assert "\n" not in str(err.value) and "gait2hip adapt" in str(err.value)


def test_adapt_and_predict_with_the_lab_correction(labelled_trial, tmp_path):
    """A lab whose inverse dynamics puts the hip flexion moment 0.4 Nm/kg higher than the
    training data's: the shipped model's predictions disagree with it (the ID check warns);
    `gait2hip adapt` on two subjects' trials learns the shift, and `predict
    --lab-correction` brings the predictions back inside their interval, the check quiet; a
    correction for another model, and a trials table without its columns, are refused."""
    _, spec, _, result = labelled_trial
    work = result.labels_path().parent / "work"
    ik, id_sto = work / "ik" / "ik.mot", work / "id" / "id.sto"
    table = read_motion(id_sto).data
    shifted = table.assign(hip_flexion_r_moment=table.hip_flexion_r_moment + 0.4 * spec.mass_kg)
    lab_id = write_motion(tmp_path / "lab_id.sto", shifted, in_degrees=False)
    trials = pd.DataFrame({
        "angles": [str(ik)] * 2, "inverse_dynamics": ["lab_id.sto"] * 2,
        "subject_id": ["a", "b"], "mass_kg": [spec.mass_kg] * 2, "c3d": [spec.c3d] * 2,
        "side": ["r", "r"],
    })  # fmt: skip
    trials.to_csv(tmp_path / "trials.csv", index=False)
    out = tmp_path / "lab" / "lab_correction.json"
    res = runner.invoke(app, ["adapt", str(tmp_path / "trials.csv"), "--out", str(out),
                              "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "leave-one-subject-out RMSE" in res.output
    fit = LabCorrection.load(out)
    # the two cycles alike: every pair with the lab's mean whole predicts the other exactly,
    # and the least change of them is the model shifted by the mean residual
    assert fit.subjects == 2 and fit.cycles == 2 and (fit.shrink, fit.gain) == (1, 1), fit
    assert 0.3 < fit.offset[:, 0].mean() < 0.5, fit.offset[:, 0].mean()
    assert out.with_suffix(".png").stat().st_size > 10_000  # the figure of the mean curves
    listing = pd.read_csv(out.with_name("lab_correction_trials.csv"))
    assert list(listing.with_id) == [1, 1]
    common = dict(c3d=spec.c3d, mass_kg=spec.mass_kg, inverse_dynamics=lab_id)
    plain = gait2hip.predict(ik, **common)
    assert plain.id_agreement.coverage < 0.8
    fixed = gait2hip.predict(ik, lab_correction=out, **common)
    assert fixed.id_agreement.coverage >= 0.8 and fixed.lab_correction == str(out)
    assert fixed.id_agreement.rmse[0] < 0.5 * plain.id_agreement.rmse[0]
    assert any("corrected for this lab" in n for n in fixed.notes)
    # fitted without heights: a trial predicted with one is warned about, one without is not
    assert fit.heights == "none" and not any("body height" in w for w in fixed.warnings)
    tall = gait2hip.predict(ik, lab_correction=out, height_m=1.8, **common)
    assert any("fitted on trials predicted without a body height" in w for w in tall.warnings)
    assert not any("disagree with this trial's own inverse dynamics" in w
                   for w in fixed.warnings)  # fmt: skip
    np.testing.assert_allclose(
        fixed.targets["forces"].mean, plain.targets["forces"].mean, rtol=1e-6, atol=1e-6
    )
    sto = fixed.save(tmp_path / "pred", "trial")["sto"]
    assert any("lab_correction=" in p.read_text() for p in sto if "moments" in p.name)
    # the CLI applies it the same way
    res = runner.invoke(app, ["predict", str(ik), "--c3d", spec.c3d, "--mass",
                              str(spec.mass_kg), "--lab-correction", str(out), "--out",
                              str(tmp_path / "cli")])  # fmt: skip
    assert res.exit_code == 0 and "corrected for this lab" in res.output, res.output
    # the same label with other weights: refused
    from gait2hip.inference.predictor import default_model_dir, find_predictors

    fresh = find_predictors(default_model_dir(), inverse_dynamics=True)["moments"]
    assert fit.model_fingerprint == fresh.fingerprint  # the weights, loaded again
    touched = find_predictors(default_model_dir())["moments"]
    with torch.no_grad():
        next(touched.members[-1].model.parameters()).add_(1e-3)
    assert touched.fingerprint != fresh.fingerprint  # one weight moved
    retrained = json.loads(out.read_text()) | {"model_fingerprint": "0" * 16}
    (tmp_path / "retrained.json").write_text(json.dumps(retrained))
    with pytest.raises(LabCorrectionError, match="the same label, other weights"):
        gait2hip.predict(ik, lab_correction=tmp_path / "retrained.json", **common)
    # for another model: refused, naming the model it was fitted for
    other = json.loads(out.read_text()) | {"model": "lstm-causal"}
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(LabCorrectionError, match="fitted for the model lstm-causal"):
        gait2hip.predict(ik, lab_correction=tmp_path / "other.json", **common)
    # a table without the inverse dynamics: one line, no file written
    trials.drop(columns="inverse_dynamics").to_csv(tmp_path / "bad.csv", index=False)
    bad = tmp_path / "bad" / "lab.json"
    res = runner.invoke(app, ["adapt", str(tmp_path / "bad.csv"), "--out", str(bad)])
    assert res.exit_code == 2 and "no column inverse_dynamics" in res.output, res.output
    assert not bad.exists()


def test_a_trials_table_is_read_or_refused_in_one_line(tmp_path):
    """Paths relative to the table's folder; a subject from its file's name where no
    subject_id is given; a row without a subject, an unknown column or side, refused."""
    from gait2hip.inference.adapt import read_trials, trial_sides
    from gait2hip.inference.inputs import InputError

    rows = {
        "angles": ["a.mot", "/abs/b.mot"], "inverse_dynamics": ["a_id.sto", "b_id.sto"],
        "subject": ["p1.osim", None], "subject_id": [None, "p2"], "side": [None, "l"],
    }  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    t = read_trials(tmp_path / "t.csv")
    assert list(t.angles) == [str(tmp_path / "a.mot"), "/abs/b.mot"]
    assert list(t.subject_id) == ["p1", "p2"] and list(t.side) == ["both", "l"]
    assert trial_sides(t) == 3
    for change, match in (
        ({"subject_id": [None, None], "subject": [None, "p.osim"]}, "row 1 .* names no subject"),
        ({"weight": [1, 2]}, "unknown column"),
        ({"side": ["x", "r"], "subject_id": ["a", "b"]}, "side 'x'"),
        ({"mass_kg": ["70 kg", None]}, "mass_kg '70 kg' is not a number"),
    ):
        pd.DataFrame(rows | change).to_csv(tmp_path / "bad.csv", index=False)
        with pytest.raises(InputError, match=match) as err:
            read_trials(tmp_path / "bad.csv")
        assert "\n" not in str(err.value)
