"""Averaging architectures (gait2hip.training.average, `gait2hip average`): one model from
the final models of several architectures of one run, calibrated as one on the run's folds."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gait2hip.cli import app
from gait2hip.inference.calibration import CALIBRATION_FILE, Calibration, pooled_coverage
from gait2hip.inference.predictor import list_trained, load_predictor
from gait2hip.io.npz import read_npz, write_npz
from gait2hip.pipelines.benchmark import benchmark
from gait2hip.training.average import AverageError, average_run, average_runs
from gait2hip.training.checkpoint import TrainedModel
from gait2hip.training.metrics import per_subject_metrics

from .test_protocol import tiny_config

MODELS = ["lstm-causal", "transformer-bidir"]
LABEL = "+".join(MODELS)


@pytest.fixture(scope="module")
def two_archs(synthetic, tmp_path_factory):
    """Runs of two architectures on one file: in-lab, and trained on the other speeds with
    `fast` held out."""
    root = tmp_path_factory.mktemp("avg")
    ds = read_npz(write_npz(synthetic["forces"], root / "forces.npz"))
    cfg = dataclasses.replace(tiny_config(models=("lstm", "transformer")), n_folds=3)
    benchmark(ds, cfg, root / "runs" / "in-lab", show_progress=False)
    held = dataclasses.replace(cfg, holdout_condition="fast")
    benchmark(ds, held, root / "runs" / "to-fast", show_progress=False)
    return root, ds


def _unit(run, label=LABEL):
    return run / "split42" / label / "seed2025"


def test_the_average_predicts_the_mean_and_is_calibrated_as_predict_uses_it(two_archs):
    root, ds = two_archs
    run, out = root / "runs" / "in-lab", root / "avg-in-lab"
    summary = pd.read_csv(average_run(run, MODELS, out, log=lambda _: None))
    unit = _unit(out)
    # the mean of the two architectures' test predictions, as each unit wrote them
    preds = []
    for m in MODELS:
        with np.load(_unit(run, m) / "predictions.npz") as z:
            preds.append(z["y_pred"])
            y, subj = z["y_true"], z["subject_id"]
    with np.load(unit / "predictions.npz") as z:
        np.testing.assert_allclose(z["y_pred"], np.mean(preds, 0), rtol=1e-5, atol=1e-6)
    row = summary.iloc[0]
    assert row["model"] == LABEL and len(summary) == 1
    per = per_subject_metrics(y, np.mean(preds, 0), subj)
    assert row["subject_r2"] == pytest.approx(per["r2"].mean(), abs=1e-6)

    # out-of-fold residuals: each fold's two models averaged, on that fold's own subjects
    cal = Calibration.load(unit / CALIBRATION_FILE)
    meta = TrainedModel.load(unit / "final.pt").meta
    pool = np.flatnonzero(np.isin(ds.subject_id, meta["train_subjects"]))
    resid = np.zeros_like(ds.Y_per_kg[pool])
    for k in range(3):
        val = json.loads((_unit(run, MODELS[0]) / f"fold{k}.json").read_text())["val_subjects"]
        rows = np.isin(ds.subject_id[pool], val)
        folds = [TrainedModel.load(_unit(run, m) / f"fold{k}.pt") for m in MODELS]
        avg = np.mean([f.predict_reference(ds.X[pool[rows]]) for f in folds], 0)
        resid[rows] = ds.Y_per_kg[pool[rows]] - avg
    np.testing.assert_allclose(cal.resid_sd, np.sqrt((resid**2).mean(0)), rtol=1e-4, atol=1e-6)

    # the predictor of the folder: both final models (no fold models), and the coverage its
    # calibration reports is that of its own interval on the test cycles
    pred = load_predictor(unit)
    assert [m.name for m in pred.members] == ["lstm", "transformer"]
    test = np.flatnonzero(np.isin(ds.subject_id, meta["test_subjects"]))
    mean, sd, _ = pred.predict(ds.X[test], ds.height_m[test])
    at_90 = 2  # NOMINAL (0.5, 0.8, 0.9, 0.95)
    assert pooled_coverage(ds.Y_per_kg[test], mean, sd)[at_90] == pytest.approx(
        cal.coverage_all[at_90], abs=1e-4
    )
    assert row["coverage_90"] == pytest.approx(cal.coverage_all[at_90], abs=1e-4)
    listed = [r for r in list_trained(out) if r["model"] == LABEL]
    assert listed and listed[0]["members"] == 2


def test_a_held_out_condition_run_averages_on_its_own_cycles(two_archs):
    """Trained on the other speeds: the pool and the test cycles are rebuilt as the run had
    them (the test only the held-out speed)."""
    root, _ = two_archs
    paths = average_runs(root / "runs", MODELS, root / "avg-all", log=lambda _: None)
    assert sorted(p.parent.name for p in paths) == ["in-lab", "to-fast"]
    with np.load(_unit(root / "avg-all" / "to-fast") / "predictions.npz") as z:
        assert set(z["speed_label"].astype(str)) == {"fast"}


def test_units_that_cannot_be_averaged_are_refused_in_one_line(two_archs, tmp_path):
    root, _ = two_archs
    run = tmp_path / "run"
    shutil.copytree(root / "runs" / "in-lab", run)
    with pytest.raises(AverageError, match="at least two"):
        average_run(run, MODELS[:1], tmp_path / "out")
    # another split's model in place of the transformer's: other test subjects
    other = _unit(run, MODELS[1])
    held = _unit(root / "runs" / "to-fast", MODELS[1])
    shutil.copyfile(held / "final.pt", other / "final.pt")
    with pytest.raises(AverageError, match="differ from"):
        average_run(run, MODELS, tmp_path / "out")
    assert not (tmp_path / "out" / "summary.csv").exists()
    result = CliRunner().invoke(
        app, ["average", str(run), "--models", ",".join(MODELS), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "differ from" in result.output and "Traceback" not in result.output


def test_models_of_other_profiles_and_inputs_are_averaged_each_on_its_own(two_archs, tmp_path):
    """A model of another profile's run on the same split (``PROFILE/LABEL``, here the
    phase-linear model that also reads the body height, in another transfer folder) averaged
    with the LSTM of the first run: each reads its own inputs, the one that reads the most
    leads, and `predict` uses the average as written."""
    root, ds = two_archs
    lstm_root, pl_root = tmp_path / "a", tmp_path / "b"
    shutil.copytree(root / "runs" / "in-lab", lstm_root / "in-lab" / "d" / "recipe" / "split42")
    cfg = dataclasses.replace(
        tiny_config(models=("phaselinear",)), n_folds=3, inputs=(*ds.in_cols, "body_height_m")
    )
    pl_run = pl_root / "in-lab" / "d" / "height" / "split42"
    benchmark(ds, cfg, pl_run, show_progress=False)
    models = ["height/phaselinear-causal", "recipe/lstm-causal"]
    out = tmp_path / "avg"
    paths = average_runs(pl_root, models, out, log=lambda _: None, others=[lstm_root])
    assert paths == [out / "in-lab" / "d" / "height" / "split42" / "summary.csv"]
    unit = paths[0].parent / "split42" / "phaselinear-causal+lstm-causal" / "seed2025"
    pl_unit = pl_run / "split42" / "phaselinear-causal" / "seed2025"
    lstm_unit = _unit(lstm_root / "in-lab" / "d" / "recipe" / "split42", "lstm-causal")
    preds = []
    for u in (pl_unit, lstm_unit):
        with np.load(u / "predictions.npz") as z:
            preds.append(z["y_pred"])
    with np.load(unit / "predictions.npz") as z:
        np.testing.assert_allclose(z["y_pred"], np.mean(preds, 0), rtol=1e-5, atol=1e-6)
    pred = load_predictor(unit)
    assert [m.name for m in pred.members] == ["phaselinear", "lstm"]
    assert "body_height_m" in pred.in_cols
    meta = TrainedModel.load(unit / "final.pt").meta
    test = np.flatnonzero(np.isin(ds.subject_id, meta["test_subjects"]))
    X = ds.select_inputs(pred.in_cols).X[test]
    mean, _, _ = pred.predict(X, ds.height_m[test])
    np.testing.assert_allclose(mean, np.mean(preds, 0), rtol=1e-4, atol=1e-5)
    # a cycle whose height is not known: the members that do not read it predict it alone
    assert pred.required_inputs == tuple(ds.in_cols)
    X[:2, :, pred.in_cols.index("body_height_m")] = np.nan
    mean, _, spread = pred.predict(X, ds.height_m[test])
    np.testing.assert_allclose(mean[:2], preds[1][:2], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mean[2:], np.mean(preds, 0)[2:], rtol=1e-4, atol=1e-5)
    assert (spread[:2] == 0).all() and (spread[2:] > 0).any()
    # led by the model that reads fewer inputs: refused, naming the fix
    with pytest.raises(AverageError, match="the most inputs first"):
        average_runs(lstm_root, models[::-1], tmp_path / "o", others=[pl_root])
    # a profile no folder has: one line from the command
    result = CliRunner().invoke(
        app,
        ["average", str(pl_root), str(lstm_root), "--models", "height/phaselinear-causal,"
         "nosuch/lstm-causal", "--out", str(tmp_path / "o2")],
    )  # fmt: skip
    assert result.exit_code == 2 and "no run folder with finished units" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "o2").exists()


def test_models_of_one_architecture_from_other_profiles_are_each_kept(two_archs, tmp_path):
    """Averaging the same architecture from two profiles' runs (as the shipped broad model
    averages the wise and the published LSTM) keeps every model: the members are not named
    by architecture alone, and the label counts them."""
    root, _ = two_archs
    for profile in ("a", "b"):
        shutil.copytree(root / "runs" / "in-lab", tmp_path / profile / "in-lab" / "d" / profile
                        / "split42")  # fmt: skip
    models = ["a/transformer-bidir", "a/lstm-causal", "b/lstm-causal"]
    out = tmp_path / "avg"
    paths = average_runs(tmp_path / "a", models, out, log=lambda _: None, others=[tmp_path / "b"])
    unit = paths[0].parent / "split42" / "transformer-bidir+lstm-causal+lstm-causal" / "seed2025"
    assert len(list((unit / "members").glob("*.pt"))) == 2
    pred = load_predictor(unit)
    assert [m.name for m in pred.members] == ["transformer", "lstm", "lstm"]
    assert pred.label == "transformer-bidir + lstm-causal (2 averaged)"
