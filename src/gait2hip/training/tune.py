"""Hyper-parameter search with Optuna, inside the training pool only.

The holdout split is the benchmark's (same ``test_fraction`` and split seed), so the test
subjects a later ``gait2hip benchmark`` reports on never enter the search: every trial is
scored by subject-level GroupKFold cross-validation on the pool (mean over folds of the best
validation loss with early stopping), and each fold is a task of the executor (local or Ray).
The study lives in ``study.db`` (SQLite) in the output folder, and finished folds in
``trials/<n>/``, so an interrupted search resumes. ``best.json`` holds the winning settings,
which ``gait2hip benchmark --params best.json`` applies.

Search space (:data:`SPACE`): learning rate, weight decay and batch size for every
architecture, plus its size (LSTM hidden units and layers; Transformer width, heads, layers,
feed-forward width and dropout; Mamba width, state size and layers).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gait2hip.data.dataset import GaitDataset
from gait2hip.data.splits import assert_no_leak, group_kfold, holdout_subjects
from gait2hip.executor import Executor
from gait2hip.io.atomic import number as json_number
from gait2hip.io.atomic import write_json, write_text
from gait2hip.training.config import BenchmarkConfig, ModelSpec, explicit_batch
from gait2hip.training.protocol import dataset_fingerprint, fold_tasks, pin_folder, task_data

# name -> ("float", low, high, log) | ("int", low, high, step) | ("cat", choices)
TRAIN_SPACE: dict[str, tuple] = {
    "lr": ("float", 1e-4, 3e-3, True),
    "weight_decay": ("float", 1e-6, 1e-3, True),
    "batch_size": ("cat", (8, 16, 32, 64)),
}
SPACE: dict[str, dict[str, tuple]] = {
    "lstm": {"hidden": ("int", 32, 256, 32), "layers": ("int", 1, 3, 1)},
    "transformer": {
        "d_model": ("cat", (32, 64, 128)),
        "heads": ("cat", (2, 4)),
        "layers": ("int", 1, 3, 1),
        "ff": ("cat", (64, 128, 256, 512)),
        "dropout": ("float", 0.0, 0.3, False),
    },
    "mamba": {
        "d_model": ("cat", (32, 64, 128)),
        "d_state": ("cat", (8, 16)),
        "layers": ("int", 1, 3, 1),
    },
}


@dataclass(frozen=True)
class TuneConfig:
    n_trials: int = 20
    parallel: int = 2  # trials asked at once (their folds run as tasks together)
    sampler_seed: int = 0


def _import_optuna():
    try:
        import optuna
    except ImportError as err:
        raise RuntimeError(
            "hyper-parameter search needs Optuna: pip install 'gait2hip[tune]'"
        ) from err
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _suggest(trial, space: dict[str, tuple], prefix: str) -> dict[str, Any]:
    out = {}
    for name, spec in space.items():
        key = f"{prefix}{name}"
        if spec[0] == "float":
            out[name] = trial.suggest_float(key, spec[1], spec[2], log=spec[3])
        elif spec[0] == "int":
            out[name] = trial.suggest_int(key, spec[1], spec[2], step=spec[3])
        else:
            out[name] = trial.suggest_categorical(key, list(spec[1]))
    return out


def trial_config(base: BenchmarkConfig, spec: ModelSpec, params: dict[str, Any]) -> BenchmarkConfig:
    """``base`` with a trial's (or best.json's) ``train.*`` and ``model.*`` settings."""
    train = {k[6:]: v for k, v in params.items() if k.startswith("train.")}
    model = {k[6:]: v for k, v in params.items() if k.startswith("model.")}
    unknown = [k for k in params if not k.startswith(("train.", "model."))]
    if unknown:
        raise ValueError(f"unknown settings {unknown}: expected train.* or model.* keys")
    overrides = {
        **base.model_overrides,
        spec.name: {**base.model_overrides.get(spec.name, {}), **model},
    }
    return dataclasses.replace(
        base,
        models=(spec,),
        train=dataclasses.replace(base.train, **explicit_batch(train)),
        model_overrides=overrides,
    )


def tune(
    ds: GaitDataset,
    base: BenchmarkConfig,
    spec: ModelSpec,
    out_dir: str | Path,
    tcfg: TuneConfig = TuneConfig(),
    *,
    executor: Executor | None = None,
    command: str = "",
) -> Path:
    """Search ``spec``'s hyper-parameters on ``ds``'s pool; returns the best.json path."""
    optuna = _import_optuna()
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    full, ds = ds, ds.select_inputs(base.inputs)
    executor = executor or Executor()
    split_seed = base.split_seeds[0]
    split = holdout_subjects(ds.subject_id, base.test_fraction, split_seed)
    pool, test = split.train, split.test
    folds = [(pool[f.train], pool[f.test]) for f in group_kfold(ds.subject_id[pool], base.n_folds)]
    for train, val in folds:  # the test subjects never enter any trial
        assert_no_leak(ds.subject_id[train], ds.subject_id[test], "tuning fold")
        assert_no_leak(ds.subject_id[val], ds.subject_id[test], "tuning fold")
    pin_folder(  # a resumed study must search the same problem on the same data
        out_dir / "tune_config.json",
        {
            "config": base.to_dict(),
            "model": spec.label,
            "data_fingerprint": dataset_fingerprint(ds),
        },
        "a search with another config or other data",
    )
    seed = base.seeds[0]
    ref = task_data(full, ds, base, out_dir, executor)
    rt = executor.task_runtime()

    storage = f"sqlite:///{out_dir / 'study.db'}"
    name = f"{spec.label}-{base.target}"
    # a resumed study continues with another random stream (the same seed would repeat the
    # first trials' suggestions)
    previous = (
        len(optuna.load_study(study_name=name, storage=storage).trials)
        if (out_dir / "study.db").exists()
        else 0
    )
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        load_if_exists=True,
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=tcfg.sampler_seed + previous),
    )
    # trials asked before an interruption and never told: run them again with their params
    pending = [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    while True:
        done = sum(t.state.is_finished() for t in study.trials)
        if done >= tcfg.n_trials and not pending:
            break
        batch = pending or [study.ask() for _ in range(min(tcfg.parallel, tcfg.n_trials - done))]
        pending = []
        tasks, configs = [], {}
        for trial in batch:
            if trial.params:  # resumed: reuse its suggested params
                params = dict(trial.params)
                cfg = trial_config(base, spec, params)
            else:
                params = {
                    **{f"train.{k}": v for k, v in _suggest(trial, TRAIN_SPACE, "train.").items()},
                    **{
                        f"model.{k}": v
                        for k, v in _suggest(trial, SPACE[spec.name], "model.").items()
                    },
                }
                cfg = trial_config(base, spec, params)
            configs[trial.number] = (trial, cfg)
            unit_dir = out_dir / "trials" / f"{trial.number:04d}"
            tasks += fold_tasks(
                ref, cfg, spec, seed, split_seed, folds, test, unit_dir, rt,
                f"trial {trial.number}",
            )  # fmt: skip
        if not tasks:
            continue
        outcomes = executor.run(tasks, f"tuning {spec.label} ({done}/{tcfg.n_trials} done)")
        by_trial: dict[int, list] = {}
        for task, outcome in zip(tasks, outcomes, strict=True):
            number = int(task.key.split()[1])
            by_trial.setdefault(number, []).append(outcome)
        for number, outs in by_trial.items():
            trial, _ = configs[number]
            if all(o.ok for o in outs):
                unit_dir = out_dir / "trials" / f"{number:04d}"
                losses = [
                    json.loads((unit_dir / f"fold{k}.json").read_text())["best_val_loss"]
                    for k in range(len(folds))
                ]
                study.tell(trial.number, float(np.mean([json_number(x) for x in losses])))
            else:
                study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    return _write_results(study, out_dir, base, spec, split, ds, command)


def _write_results(study, out_dir, base, spec, split, ds, command) -> Path:
    rows = []
    for t in study.trials:
        rows.append({"trial": t.number, "state": t.state.name, "cv_val_loss": t.value, **t.params})
    trials = pd.DataFrame(rows)
    write_text(out_dir / "trials.csv", trials.to_csv(index=False))
    complete = trials[trials["state"] == "COMPLETE"]
    if complete.empty:
        raise RuntimeError(f"{out_dir}: no trial finished; see the errors above")
    best = study.best_trial
    best_path = out_dir / "best.json"
    write_json(
        best_path,
        {
            "model": spec.label,
            "target": base.target,
            "params": best.params,
            "cv_val_loss": best.value,
            "trial": best.number,
            "n_trials_complete": len(complete),
            "split_seed": base.split_seeds[0],
            "test_fraction": base.test_fraction,
            "test_subjects_excluded": sorted(set(ds.subject_id[split.test].tolist())),
            "n_folds": base.n_folds,
            "max_epochs": base.train.max_epochs,
        },
    )
    from gait2hip.report.summary import markdown_table

    top = complete.sort_values("cv_val_loss").head(10).drop(columns="state")
    top = top.astype(object).map(lambda v: f"{v:.3g}" if isinstance(v, float) else v)
    n_pool_subjects = len(set(ds.subject_id[split.train].tolist()))
    weighting = ", inverse-variance weighted" if base.train.loss_weighting != "none" else ""
    text = f"""# gait2hip tune: {spec.label}, {base.target}

- data: `{ds.source}`; inputs: {len(base.inputs)} angles
- searched inside the training pool only ({len(split.train)} cycles of {n_pool_subjects}
  subjects); the {len(split.test)} cycles of the held-out subjects (split seed
  {base.split_seeds[0]}, {base.test_fraction:.0%} of subjects) were never used
- objective: mean over GroupKFold({base.n_folds}) folds of the best validation loss (MSE per
  kg{weighting}) with early stopping (patience {base.train.patience}, max
  {base.train.max_epochs} epochs)
- trials: {len(complete)} complete of {len(trials)}; TPE sampler
- command: `{command}`

## Best 10

{markdown_table(top)}

Best: trial {best.number}, CV loss {best.value:.4g}. Use it:
`gait2hip benchmark ... --models {spec.label.replace("-", ":")} --params {best_path}`
"""
    write_text(out_dir / "summary.md", text)
    return best_path


def load_params(path: str | Path) -> dict[str, Any]:
    """The ``params`` of a best.json (or a plain {"train.lr": ..., "model.hidden": ...})."""
    data = json.loads(Path(path).read_text())
    return data.get("params", data)
