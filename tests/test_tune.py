"""Hyper-parameter search: inside the pool only, resumable, its result usable by benchmark."""

from __future__ import annotations

import dataclasses
import json
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from gait2hip.cli import app
from gait2hip.executor import Executor
from gait2hip.training.checkpoint import TrainedModel
from gait2hip.training.config import ModelSpec
from gait2hip.training.tune import TuneConfig, trial_config, tune
from tests.test_protocol import tiny_config

pytest.importorskip("optuna")


def test_tune_searches_the_pool_only_and_resumes(forces, tmp_path):
    base = dataclasses.replace(tiny_config(models=("lstm",)), model_overrides={})
    spec = ModelSpec("lstm", True)
    ex = Executor(show_progress=False)
    best = tune(forces, base, spec, tmp_path, TuneConfig(n_trials=3, parallel=2), executor=ex)
    info = json.loads(best.read_text())
    held_out = set(info["test_subjects_excluded"])
    assert held_out and info["n_trials_complete"] == 3
    trials = pd.read_csv(tmp_path / "trials.csv")
    assert list(trials["state"]) == ["COMPLETE"] * 3
    assert trials["cv_val_loss"].min() == pytest.approx(info["cv_val_loss"])
    folds = sorted(tmp_path.glob("trials/*/fold*.pt"))
    assert len(folds) == 3 * base.n_folds
    for path in folds:  # no held-out subject trained or validated any trial
        meta = TrainedModel.load(path).meta
        val = json.loads(path.with_suffix(".json").read_text())["val_subjects"]
        assert not held_out & set(meta["train_subjects"]) and not held_out & set(val)
        assert meta["n_train_cycles"] > 0
    # sizes from the search space, not the config's overrides
    hidden = {TrainedModel.load(p).model.config.hidden for p in folds}
    assert hidden == set(trials["model.hidden"])
    # a rerun with a larger budget adds trials with new settings, keeping the finished ones
    tune(forces, base, spec, tmp_path, TuneConfig(n_trials=4, parallel=2), executor=ex)
    again = pd.read_csv(tmp_path / "trials.csv")
    assert len(again) == 4 and (again["state"] == "COMPLETE").all()
    cols = [c for c in again.columns if c.startswith(("train.", "model."))]
    assert not again[cols].duplicated().any()
    assert "never used" in (tmp_path / "summary.md").read_text()
    # the study folder is pinned to its data: other data (one cycle's labels changed) refuse
    from gait2hip.training.protocol import RunConflictError

    other = dataclasses.replace(forces, Y=forces.Y.copy())
    other.Y[0] *= 1.01
    with pytest.raises(RunConflictError, match="other data"):
        tune(other, base, spec, tmp_path, TuneConfig(n_trials=4, parallel=2), executor=ex)


def test_params_apply_and_are_checked(forces, tmp_path):
    base = tiny_config(models=("lstm",))
    cfg = trial_config(base, ModelSpec("lstm", True), {"train.lr": 0.01, "model.hidden": 16})
    assert cfg.train.lr == 0.01 and cfg.model_overrides["lstm"]["hidden"] == 16
    with pytest.raises(ValueError, match="unknown settings"):
        trial_config(base, ModelSpec("lstm", True), {"lr": 0.01})
    from gait2hip.io.npz import write_npz

    data = write_npz(forces, tmp_path / "mf.npz")
    params = tmp_path / "best.json"
    params.write_text(json.dumps({"params": {"train.lr": 0.004, "model.hidden": 8}}))
    runner = CliRunner()
    common = ["benchmark", "--data", str(data), "--profile", "quick", "--no-progress"]
    common += ["--max-epochs", "1", "--params", str(params)]
    res = runner.invoke(app, [*common, "--models", "lstm,mamba"])
    assert res.exit_code == 2 and "one architecture" in res.output
    res = runner.invoke(app, [*common, "--models", "lstm", "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    stored = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert stored["train"]["lr"] == 0.004 and stored["model_overrides"]["lstm"]["hidden"] == 8


def test_tune_without_optuna_is_a_clear_error(forces, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(RuntimeError, match=r"pip install 'gait2hip\[tune\]'"):
        tune(forces, tiny_config(models=("lstm",)), ModelSpec("lstm", True), tmp_path)
