"""The benchmark protocol, one leak-proof procedure for every model.

For each holdout split seed, model and training seed:

1. hold out ``test_fraction`` of the subjects (whole subjects) as the test set;
2. GroupKFold by subject on the remaining pool; per fold, z-score inputs with the fold's
   training statistics, train with early stopping on the fold's validation subjects, and
   record the best epoch;
3. train on the whole pool (inputs z-scored with pool statistics) for the median best
   epoch, save the checkpoint, and predict the test subjects once.

Every fold and every final fit is a task (:mod:`gait2hip.executor`): run here one after
another by default, or in a process pool or on a Ray cluster, with the same results. Each is
written to the run folder as it completes, so an interrupted run resumes without redoing
them. The run folder's ``config.json`` pins the
config and the data fingerprint: resuming with anything else is refused.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from gait2hip import runtime
from gait2hip.conventions import REFERENCE_HEIGHT_KEY, get_target, target_parts
from gait2hip.data.dataset import GaitDataset
from gait2hip.data.splits import (
    assert_no_leak,
    group_kfold,
    hold_out_condition,
    holdout_subjects,
)
from gait2hip.executor import Executor, Task, TaskFailures, report
from gait2hip.inference.calibration import CALIBRATION_FILE, Calibration, member_predictions
from gait2hip.io.atomic import atomic_path, finite_json, number, write_json
from gait2hip.models import count_parameters, create_model, model_class, with_config
from gait2hip.runtime import TaskRuntime
from gait2hip.training.batched import Fold, batchable, fit_folds
from gait2hip.training.calibrate import calibrate
from gait2hip.training.checkpoint import TrainedModel
from gait2hip.training.config import BenchmarkConfig, ModelSpec
from gait2hip.training.loop import FitResult, fit
from gait2hip.training.metrics import evaluate, skill_vs_mean_curve, subject_mean_metrics
from gait2hip.training.normalize import InputScaler
from gait2hip.training.physics import has_physics, held_out_residuals, physics_arrays
from gait2hip.training.published import anchor_for


class RunConflictError(RuntimeError):
    """The run folder holds a run with another config or other data."""


def dataset_fingerprint(ds: GaitDataset) -> str:
    h = hashlib.sha1()
    for arr in (ds.X, ds.Y, ds.subject_id.astype(str), ds.weight_kg):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(json.dumps([ds.in_cols, ds.out_cols]).encode())
    return h.hexdigest()[:16]


@dataclass
class UnitResult:
    """One (split seed, model, seed): its predictions and metrics on the test subjects."""

    spec: ModelSpec
    split_seed: int
    seed: int
    unit_dir: Path
    metrics: dict[str, Any]
    info: dict[str, Any]
    # the part of a joint target these metrics cover ("forces" or "moments"; "" otherwise)
    part: str = ""

    @property
    def label(self) -> str:
        """The model's label, with the part for a joint model, e.g. ``lstm-causal [forces]``."""
        return f"{self.spec.label} [{self.part}]" if self.part else self.spec.label


#: The ``model_overrides`` a model started from the published weights takes: settings that
#: change none of its weights. The others (sizes, dropout) are the published model's own, as
#: the study trained it (a profile's small sizes do not apply).
PUBLISHED_SETTINGS = ("output_lowpass",)


def _starting_model(ds: GaitDataset, cfg: BenchmarkConfig, spec: ModelSpec, seed: int, train):
    """A fit's model before training, its input scaler, and the published weights it starts
    from (None: a random initialisation drawn after ``torch.manual_seed(seed)``)."""
    torch.manual_seed(seed)
    if cfg.init:  # the published weights and their input scaler (fitted on the study's data)
        start = initial_model(cfg.init, spec.name, cfg.target)
        extra = ds.in_cols[len(start.in_cols) :]  # per-cycle inputs it never had (config.py)
        if extra:  # they start with zero weight, z-scored with this fit's training data
            start = start.with_extra_inputs(extra, ds.X[train][..., len(start.in_cols) :])
        settings = {k: v for k, v in cfg.model_overrides.get(spec.name, {}).items()
                    if k in PUBLISHED_SETTINGS}  # fmt: skip
        if settings:
            start = replace(start, model=with_config(start.model, **settings))
        return copy.deepcopy(start.model), start.scaler, start
    scaler = InputScaler.fit(ds.X[train])
    model = create_model(spec.name, **cfg.model_config(spec, len(ds.in_cols), len(ds.out_cols)))
    return model, scaler, None


def _trained(ds: GaitDataset, cfg: BenchmarkConfig, model, scaler, start) -> TrainedModel:
    """A fitted ``model`` as a :class:`TrainedModel` (averaged with its published start
    weights where the profile's ``wise_alpha`` says so)."""
    if start is not None and cfg.train.wise_alpha < 1:
        interpolate_weights(model, start.model, cfg.train.wise_alpha)
    return TrainedModel(
        model=model,
        scaler=scaler,
        in_cols=ds.in_cols,
        out_cols=ds.out_cols,
        target=cfg.target,
        meta={},
    )


def _fold_fit(
    ds: GaitDataset,
    cfg: BenchmarkConfig,
    spec: ModelSpec,
    seed: int,
    train: np.ndarray,
    val: np.ndarray | None,
    epochs: int | None,
    on_epoch,
    rt: TaskRuntime,
) -> tuple[TrainedModel, FitResult, float]:
    Y = ds.Y_per_kg
    physics = cfg.train.physics_weight > 0
    model, scaler, start = _starting_model(ds, cfg, spec, seed, train)
    t0 = time.perf_counter()
    result = fit(
        model,
        scaler.transform(ds.X[train]),
        Y[train],
        cfg.train,
        seed=seed,
        X_val=None if val is None else scaler.transform(ds.X[val]),
        Y_val=None if val is None else Y[val],
        epochs=epochs,
        on_epoch=on_epoch,
        physics=physics_arrays(ds, train) if physics else None,
        physics_val=physics_arrays(ds, val) if physics and val is not None else None,
        parts=list(target_parts(get_target(cfg.target)).values()),
        device=rt.device,
        keep_start=bool(cfg.init),
        precision=rt.precision,
    )
    return _trained(ds, cfg, model, scaler, start), result, time.perf_counter() - t0


def interpolate_weights(model: torch.nn.Module, start: torch.nn.Module, alpha: float) -> None:
    """Weight-space ensembling (WiSE-FT): ``model``'s floating-point weights become
    ``(1 - alpha) * start + alpha * model``, in place; other buffers stay ``model``'s."""
    ref = start.state_dict()
    with torch.no_grad():
        for name, value in model.state_dict().items():
            if value.is_floating_point():
                value.mul_(alpha).add_(ref[name].to(value.device), alpha=1 - alpha)


@functools.cache
def initial_model(init: str, architecture: str, target: str) -> TrainedModel:
    """The weights a ``--init`` run starts from (read once per process; callers copy them)."""
    from gait2hip.training.published import PUBLISHED, load_published

    if init != PUBLISHED:
        raise ValueError(f"unknown init {init!r}")
    return load_published(architecture, target)


def _model_meta(
    ds: GaitDataset,
    cfg: BenchmarkConfig,
    spec: ModelSpec,
    split_seed: int,
    seed: int,
    train: np.ndarray,
    role: str,
) -> dict[str, Any]:
    """What a checkpoint records about its training: data, protocol, subjects, cycle length."""
    return {
        "dataset": ds.source,
        "target": cfg.target,
        "train_unit": ds.target.train_unit if ds.target else "",
        "profile": cfg.profile,
        "split_seed": split_seed,
        "seed": seed,
        "role": role,
        "n_frames": ds.n_frames,
        "train_subjects": sorted(set(ds.subject_id[train].tolist())),
        "n_train_cycles": len(train),
        **reference_height(ds, train, cfg.init, spec.name, cfg.target),
        **({"init": cfg.init} if cfg.init else {}),
        **({"wise_alpha": cfg.train.wise_alpha} if cfg.train.wise_alpha < 1 else {}),
    }


def reference_height(
    ds: GaitDataset, train: np.ndarray, init: str = "", architecture: str = "", target: str = ""
) -> dict[str, float]:
    """The body height a model's per-kg moments refer to
    (:func:`~gait2hip.conventions.size_factors`), as checkpoint metadata: for a run from
    published weights (``init``), the height their outputs refer to; otherwise the mean
    height of the training subjects (each subject once), empty when the data give none."""
    if init:
        start = initial_model(init, architecture, target)
        return {REFERENCE_HEIGHT_KEY: start.reference_height_m}
    heights = {}
    for s, h in zip(ds.subject_id[train], ds.height_m[train], strict=True):
        if np.isfinite(h):
            heights[s] = float(h)
    return {REFERENCE_HEIGHT_KEY: float(np.mean(list(heights.values())))} if heights else {}


def pin_folder(path: Path, stored: dict[str, Any], what: str) -> None:
    """Write ``stored`` to ``path`` the first time; later, refuse to go on with anything else
    (an output folder resumes only the run that created it)."""
    if path.exists():
        if _pinned_to_other(path, stored):
            raise RunConflictError(
                f"{path.parent} holds {what}; choose a new --out folder, or delete this one "
                "to start over"
            )
    else:
        write_json(path, stored)


def _pinned_to_other(path: Path, stored: dict[str, Any]) -> bool:
    """Whether the pin file ``path`` holds something other than ``stored`` (as JSON)."""
    return json.loads(path.read_text()) != finite_json(json.loads(json.dumps(stored)))


def _run_pin(ds: GaitDataset, cfg: BenchmarkConfig) -> dict[str, Any]:
    """What a run folder is pinned to (``ds`` with the config's inputs selected)."""
    return {"config": cfg.to_dict(), "data_fingerprint": dataset_fingerprint(ds)}


def holds_other_run(out_dir: str | Path, ds: GaitDataset, cfg: BenchmarkConfig) -> bool:
    """Whether ``out_dir`` holds a run of another config or other data (which
    :func:`run_benchmark` would refuse to resume)."""
    path = Path(out_dir) / "config.json"
    return path.exists() and _pinned_to_other(path, _run_pin(ds.select_inputs(cfg.inputs), cfg))


@dataclass(frozen=True)
class DataRef:
    """How a task finds the run's data: a study-format NPZ every node can read, the input
    set to select and the fingerprint the selected data must have."""

    path: str
    target: str
    inputs: tuple[str, ...]
    fingerprint: str


_LOADED: dict[str, GaitDataset] = {}  # fingerprint -> dataset, per process


def load_data(ref: DataRef) -> GaitDataset:
    """The run's dataset in a task (read once per process, checked against the run)."""
    ds = _LOADED.get(ref.fingerprint)
    if ds is None:
        from gait2hip.io.npz import read_npz

        ds = read_npz(ref.path, expected_out=get_target(ref.target)).select_inputs(ref.inputs)
        if dataset_fingerprint(ds) != ref.fingerprint:
            raise RunConflictError(
                f"{ref.path}: the data changed since this run started (fingerprint "
                f"{dataset_fingerprint(ds)} != {ref.fingerprint}); start a new --out folder"
            )
        _LOADED.clear()
        _LOADED[ref.fingerprint] = ds
    return ds


def task_data(
    full: GaitDataset, ds: GaitDataset, cfg: BenchmarkConfig, out_dir: Path, executor: Executor
) -> DataRef:
    """How tasks find ``ds`` (= ``full`` with the config's inputs): in memory when they run
    in this process; else a path every worker can read — the dataset's own file when it reads
    back identical, or a copy in ``out_dir``."""
    from gait2hip.io.npz import read_npz, write_npz

    ref = _memory_ref(ds, cfg)  # tasks in this process use it directly
    if executor.inline:
        return ref
    fp = ref.fingerprint
    candidates = [Path(full.source), out_dir / "dataset.npz"]
    for path in candidates:
        if path.is_file():
            try:
                back = read_npz(path, expected_out=full.target).select_inputs(cfg.inputs)
            except (ValueError, OSError):
                continue
            if dataset_fingerprint(back) == fp:
                return DataRef(str(path.resolve()), cfg.target, cfg.inputs, fp)
    path = write_npz(full, out_dir / "dataset.npz")  # float32, as the data are held
    return DataRef(str(path.resolve()), cfg.target, cfg.inputs, fp)


@dataclass(frozen=True)
class _Unit:
    split_seed: int
    spec: ModelSpec
    seed: int
    unit_dir: Path

    @property
    def name(self) -> str:
        return f"{self.spec.label} split{self.split_seed} seed{self.seed}"


def run_benchmark(
    ds: GaitDataset,
    cfg: BenchmarkConfig,
    out_dir: str | Path,
    *,
    show_progress: bool = True,
    executor: Executor | None = None,
) -> list[UnitResult]:
    """Run (or resume) the protocol for every split seed x model x seed; see module doc.

    Folds of every unit are independent tasks; a unit's final fit follows once its folds are
    done. ``executor`` decides where tasks run (default: one after another in this process).
    """
    out_dir = Path(out_dir).resolve()
    if ds.target is None or ds.target.name != cfg.target:
        raise ValueError(
            f"{ds.source}: its outputs {list(ds.out_cols)[:3]}... are not the {cfg.target!r} "
            "target; pass the matching file (MF for forces, JM for moments)"
        )
    if cfg.train.physics_weight > 0 and (cfg.target == "moments" or not has_physics(ds)):
        raise ValueError(
            f"{ds.source}: --physics-loss needs a forces dataset with per-frame moment arms and "
            "hip moments (the MF file gait2hip build-dataset writes; target forces or joint)"
        )
    full, ds = ds, ds.select_inputs(cfg.inputs)
    out_dir.mkdir(parents=True, exist_ok=True)
    pin_folder(
        out_dir / "config.json", _run_pin(ds, cfg), "a run with another config or other data"
    )
    executor = executor or Executor(show_progress=show_progress)
    ref = task_data(full, ds, cfg, out_dir, executor)
    rt = executor.task_runtime()

    splits = {s: holdout_subjects(ds.subject_id, cfg.test_fraction, s) for s in cfg.split_seeds}
    if cfg.holdout_condition:
        splits = {
            s: hold_out_condition(sp, ds.speed_label, cfg.holdout_condition)
            for s, sp in splits.items()
        }
    # per split: each fold's (train, validation) indices into the dataset
    fold_index = {
        s: [
            (sp.train[f.train], sp.train[f.test])
            for f in group_kfold(ds.subject_id[sp.train], cfg.n_folds)
        ]
        for s, sp in splits.items()
    }
    units = [
        _Unit(s, spec, seed, out_dir / f"split{s}" / spec.label / f"seed{seed}")
        for s in cfg.split_seeds
        for spec in cfg.models
        for seed in cfg.seeds
    ]
    unit_folds = {
        u: fold_tasks(
            ref,
            cfg,
            u.spec,
            u.seed,
            u.split_seed,
            fold_index[u.split_seed],
            splits[u.split_seed].test,
            u.unit_dir,
            rt,
            u.name,
        )
        for u in units
    }
    outcomes = executor.run([t for u in units for t in unit_folds[u]], "benchmark folds")
    failed = [o for o in outcomes if not o.ok]
    bad = {o.key for o in failed}
    ready = [u for u in units if not any(t.key in bad for t in unit_folds[u])]
    final_tasks = [
        Task(
            f"{u.name} final",
            final_task,
            (
                ref,
                cfg,
                u.spec,
                u.seed,
                u.split_seed,
                splits[u.split_seed].train,
                splits[u.split_seed].test,
                fold_index[u.split_seed],
                u.unit_dir,
                rt,
            ),
            tuple(u.unit_dir / f for f in FINAL_FILES),
        )
        for u in ready
    ]
    failed += [o for o in executor.run(final_tasks, "benchmark final fits") if not o.ok]
    if failed:
        raise TaskFailures("benchmark", failed)
    return [
        r
        for u in units
        for r in _unit_results(ds, cfg, u, len(fold_index[u.split_seed]), splits[u.split_seed].test)
    ]


FINAL_FILES = ("final.pt", "predictions.npz", "final.json", CALIBRATION_FILE)


def _memory_ref(ds: GaitDataset, cfg: BenchmarkConfig) -> DataRef:
    """Tasks in this process: the dataset in memory, no file needed."""
    fp = dataset_fingerprint(ds)
    _LOADED.clear()
    _LOADED[fp] = ds
    return DataRef(ds.source, cfg.target, cfg.inputs, fp)


def fold_tasks(
    ref: DataRef,
    cfg: BenchmarkConfig,
    spec: ModelSpec,
    seed: int,
    split_seed: int,
    folds: list[tuple[np.ndarray, np.ndarray]],
    test: np.ndarray,
    unit_dir: Path,
    rt: TaskRuntime,
    name: str,
) -> list[Task]:
    """One :func:`fold_task` per (train, validation) fold, done when its files exist; with
    ``rt.batched_folds`` and a model that can be batched (:func:`batches_folds`), one
    :func:`batched_folds_task` for them all."""
    outputs = [(unit_dir / f"fold{k}.json", unit_dir / f"fold{k}.pt") for k in range(len(folds))]
    if rt.batched_folds and batches_folds(cfg, spec):
        args = (ref, cfg, spec, seed, split_seed, folds, test, unit_dir, rt)
        return [Task(f"{name} folds", batched_folds_task, args, sum(outputs, ()))]
    return [
        Task(
            f"{name} fold {k}",
            fold_task,
            (ref, cfg, spec, seed, split_seed, k, train, val, test, unit_dir, rt),
            outputs[k],
        )
        for k, (train, val) in enumerate(folds)
    ]


def batches_folds(cfg: BenchmarkConfig, spec: ModelSpec) -> bool:
    """Whether ``spec``'s folds can train as one batched model (not a closed-form model or a
    fit with the physics term)."""
    if cfg.train.physics_weight > 0:
        return False
    return batchable(model_class(spec.name))


def fold_task(
    ref: DataRef,
    cfg: BenchmarkConfig,
    spec: ModelSpec,
    seed: int,
    split_seed: int,
    k: int,
    train: np.ndarray,
    val: np.ndarray,
    test: np.ndarray,
    unit_dir: Path,
    rt: TaskRuntime,
) -> dict[str, Any]:
    """One cross-validation fold: fit with early stopping on ``val``; writes fold{k}.pt and
    fold{k}.json (last, as the done marker) in ``unit_dir``."""
    runtime.configure(rt.threads)
    ds = load_data(ref)
    _check_fold(ds, spec, seed, split_seed, k, train, val, test)
    trained, res, secs = _fold_fit(
        ds, cfg, spec, seed, train, val, None, _epoch_reporter(cfg.train.max_epochs), rt
    )
    return _write_fold(ds, cfg, spec, seed, split_seed, k, train, val, trained, res, secs,
                       unit_dir, rt)  # fmt: skip


def batched_folds_task(
    ref: DataRef,
    cfg: BenchmarkConfig,
    spec: ModelSpec,
    seed: int,
    split_seed: int,
    folds: list[tuple[np.ndarray, np.ndarray]],
    test: np.ndarray,
    unit_dir: Path,
    rt: TaskRuntime,
) -> list[dict[str, Any]]:
    """Every cross-validation fold of a unit at once (:func:`gait2hip.training.batched.
    fit_folds`), each started as :func:`fold_task` starts it; writes the same files."""
    runtime.configure(rt.threads)
    ds = load_data(ref)
    starts, data = [], []
    for k, (train, val) in enumerate(folds):
        _check_fold(ds, spec, seed, split_seed, k, train, val, test)
        model, scaler, start = _starting_model(ds, cfg, spec, seed, train)
        starts.append((model, scaler, start))
        data.append(Fold(scaler.transform(ds.X[train]), ds.Y_per_kg[train],
                         scaler.transform(ds.X[val]), ds.Y_per_kg[val], seed))  # fmt: skip
    total = cfg.train.max_epochs

    def on_epoch(epoch: int, train_loss: list[float], val_loss: list[float | None]) -> None:
        running = sum(v is not None for v in val_loss)
        report(epoch, total, f"{running} of {len(folds)} folds training")

    t0 = time.perf_counter()
    results = fit_folds(
        [m for m, _, _ in starts],
        data,
        cfg.train,
        parts=list(target_parts(get_target(cfg.target)).values()),
        device=rt.device,
        on_epoch=on_epoch,
        keep_start=bool(cfg.init),
    )
    secs = (time.perf_counter() - t0) / len(folds)  # each fold's share of the batched fit
    return [
        _write_fold(ds, cfg, spec, seed, split_seed, k, train, val,
                    _trained(ds, cfg, *starts[k]), results[k], secs, unit_dir, rt, batched=True)
        for k, (train, val) in enumerate(folds)
    ]  # fmt: skip


def _check_fold(ds, spec, seed, split_seed, k, train, val, test) -> None:
    name = f"{spec.label} split{split_seed} seed{seed} fold {k}"
    assert_no_leak(ds.subject_id[train], ds.subject_id[val], name)
    assert_no_leak(ds.subject_id[train], ds.subject_id[test], name)


def _write_fold(
    ds,
    cfg,
    spec,
    seed,
    split_seed,
    k,
    train,
    val,
    trained,
    res,
    secs,
    unit_dir,
    rt,
    batched: bool = False,
) -> dict[str, Any]:
    """fold{k}.pt, then fold{k}.json (the done marker) in ``unit_dir``."""
    trained.meta = _model_meta(ds, cfg, spec, split_seed, seed, train, f"fold {k}")
    trained.save(unit_dir / f"fold{k}.pt")  # an ensemble member for prediction
    info = {
        "fold": k,
        "best_epoch": res.best_epoch,
        "epochs_run": res.epochs_run,
        # a zero-epoch run (published weights as they are) never ran into a cap
        "hit_max_epochs": 0 < cfg.train.max_epochs <= res.epochs_run,
        "best_val_loss": res.best_val_loss,
        "train_loss": res.train_loss,
        "val_loss": res.val_loss,
        "seconds": secs,
        "device": rt.device,
        "val_subjects": sorted(set(ds.subject_id[val].tolist())),
    }
    if batched:
        info["batched"] = True  # trained with the unit's other folds as one model
    if rt.precision != "float32":
        info["precision"] = rt.precision
    write_json(unit_dir / f"fold{k}.json", info)
    return info


def _epoch_reporter(total: int):
    def on_epoch(epoch: int, train_loss: float, val_loss: float | None) -> None:
        status = f"train {train_loss:.4g}" + ("" if val_loss is None else f" val {val_loss:.4g}")
        report(epoch, total, status)

    return on_epoch


def final_task(
    ref: DataRef,
    cfg: BenchmarkConfig,
    spec: ModelSpec,
    seed: int,
    split_seed: int,
    pool: np.ndarray,
    test: np.ndarray,
    fold_splits: list[tuple[np.ndarray, np.ndarray]],
    unit_dir: Path,
    rt: TaskRuntime,
) -> None:
    """A unit's final fit on the whole pool for the folds' median best epoch, its one
    prediction of the test subjects, and the calibration of its uncertainty from the folds.
    Each output is skipped when present, so older run folders gain only what they lack."""
    runtime.configure(rt.threads)
    ds = load_data(ref)
    name = f"{spec.label} split{split_seed} seed{seed}"
    n_folds = len(fold_splits)
    fold_info = [json.loads((unit_dir / f"fold{k}.json").read_text()) for k in range(n_folds)]
    best_epochs = [f["best_epoch"] for f in fold_info]
    # a run from published weights may keep them (0 epochs); from scratch, at least one
    final_epochs = max(0 if cfg.init else 1, round(float(np.median(best_epochs))))
    ckpt_path, pred_path = unit_dir / "final.pt", unit_dir / "predictions.npz"
    info_path = unit_dir / "final.json"
    if not (ckpt_path.exists() and pred_path.exists() and info_path.exists()):
        assert_no_leak(ds.subject_id[pool], ds.subject_id[test], f"{name} final")
        trained, _, secs = _fold_fit(
            ds, cfg, spec, seed, pool, None, final_epochs, _epoch_reporter(final_epochs), rt
        )
        n_params = count_parameters(trained.model)
        trained.meta = {
            **_model_meta(ds, cfg, spec, split_seed, seed, pool, "final"),
            "epochs": final_epochs,
            "fold_best_epochs": best_epochs,
            "test_subjects": sorted(set(ds.subject_id[test].tolist())),
            "n_params": n_params,
        }
        t0 = time.perf_counter()
        y_pred = trained.predict_per_kg(ds.X[test], ds.height_m[test])
        infer_ms = 1000.0 * (time.perf_counter() - t0) / len(test)
        with atomic_path(pred_path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                y_pred=y_pred,
                y_true=ds.Y_per_kg[test],
                subject_id=ds.subject_id[test],
                speed_label=ds.speed_label[test],
                out_cols=np.array(ds.out_cols),
            )
        trained.save(ckpt_path)
        fold_secs = sum(f["seconds"] for f in fold_info)
        fold_epochs = sum(f["epochs_run"] for f in fold_info)
        write_json(
            info_path,
            {
                "epochs": final_epochs,
                "n_params": n_params,
                "seconds_final": secs,
                "seconds_total": secs + fold_secs,
                "seconds_per_epoch": (
                    (secs + fold_secs) / (final_epochs + fold_epochs)
                    if final_epochs + fold_epochs
                    else None  # published weights evaluated as they are
                ),
                "inference_ms_per_cycle": infer_ms,
                "device": rt.device,  # of the training; inference ran on the CPU
                **({} if rt.precision == "float32" else {"precision": rt.precision}),
            },
        )
    cal_path = unit_dir / CALIBRATION_FILE
    if not cal_path.exists():
        final = TrainedModel.load(ckpt_path)
        cal = calibrate(
            ds.X,
            ds.Y_per_kg,
            pool,
            fold_splits,
            [TrainedModel.load(unit_dir / f"fold{k}.pt") for k in range(n_folds)],
            final,
            test,
            ds.out_cols,
            ds.height_m,
            ds.cycle_durations(),
            anchor_for(final),
            mass_kg=ds.weight_kg,
        )
        cal.save(cal_path)
        write_json(unit_dir / "calibration.json", cal.summary())


#: The interval's columns in summary.csv: coverage of the 90 % interval on the test frames and
#: its mean width, with and without the between-population part (calibration module doc).
INTERVAL_COLUMNS = (
    "coverage_90",
    "coverage_90_within",
    "interval_width_90",
    "interval_width_90_within",
)


def interval_info(cal: dict[str, Any]) -> dict[str, float]:
    """A unit's summary.csv columns from its calibration.json (:meth:`Calibration.summary`)."""
    at_90 = list(cal["nominal"]).index(0.9)
    within = cal.get("coverage_all_channels_within_population")
    return {
        # the nominal 90 % interval's share of test frames inside it, and the OOD score's
        # AUROC for test cycles against unseen cycles of the training population
        "coverage_90": cal["coverage_all_channels"][at_90],
        # the same without the between-population part, and the intervals' mean widths (NaN
        # in calibrations written before they were measured)
        "coverage_90_within": number(within[at_90] if within else None),
        "interval_width_90": number(cal.get("interval_width_90")),
        "interval_width_90_within": number(cal.get("interval_width_90_within_population")),
        "ood_auroc": number(cal.get("test_ood_auroc")),
        "pace_auroc": number(cal.get("test_pace_auroc")),
        "size_auroc": number(cal.get("test_size_auroc")),
    }


def _unit_results(
    ds: GaitDataset, cfg: BenchmarkConfig, u: _Unit, n_folds: int, test: np.ndarray
) -> list[UnitResult]:
    """The unit's test metrics: one result, or one per part for a joint model (its forces
    and its moments are measured on their own, each in its unit)."""
    fold_info = [json.loads((u.unit_dir / f"fold{k}.json").read_text()) for k in range(n_folds)]
    with np.load(u.unit_dir / "predictions.npz") as z:
        y_pred, y_true = z["y_pred"], z["y_true"]
        subj, cond = z["subject_id"], z["speed_label"]
    info = json.loads((u.unit_dir / "final.json").read_text())
    info.update(
        fold_best_epochs=[f["best_epoch"] for f in fold_info],
        folds_hit_max_epochs=sum(f["hit_max_epochs"] for f in fold_info),
        **interval_info(json.loads((u.unit_dir / "calibration.json").read_text())),
    )
    parts = target_parts(get_target(cfg.target))
    curve = Calibration.load(u.unit_dir / CALIBRATION_FILE).norm_mean
    y_ens = _ensemble_test_predictions(u.unit_dir, n_folds, ds.X[test], ds.height_m[test])
    out = []
    for part, idx in parts.items():
        idx = list(idx)
        metrics = evaluate(
            y_true[..., idx],
            y_pred[..., idx],
            subj,
            cond,
            [ds.out_cols[i] for i in idx],
            n_boot=cfg.n_bootstrap,
            seed=u.split_seed,
        )
        # the bar: the training pool's mean curve predicted for every test cycle
        metrics["summary"]["skill_vs_mean_curve"] = skill_vs_mean_curve(
            y_true[..., idx], y_pred[..., idx], curve[..., idx], subj
        )
        # the metrics are the final model's; predict on a run folder averages the ensemble
        ens = subject_mean_metrics(y_true[..., idx], y_ens[..., idx], subj)
        metrics["summary"]["ensemble_subject_r2"] = ens["r2"]
        metrics["summary"]["ensemble_subject_rmse"] = ens["rmse"]
        if part == "forces" and has_physics(ds):
            own = y_pred[..., list(parts["moments"])] if "moments" in parts else None
            metrics["physics"] = held_out_residuals(ds, test, y_pred[..., idx], own)
        label = part if len(parts) > 1 else ""
        out.append(UnitResult(u.spec, u.split_seed, u.seed, u.unit_dir, metrics, info, label))
    return out


#: A unit's ensemble predictions of its test cycles, kept so that collecting results again
#: (every resume) does not reload its checkpoints; valid for the checkpoints it names.
ENSEMBLE_FILE = "ensemble_predictions.npz"


def _ensemble_test_predictions(
    unit_dir: Path, n_folds: int, X: np.ndarray, height_m: np.ndarray
) -> np.ndarray:
    """:func:`ensemble_predictions` of the unit's test cycles, from :data:`ENSEMBLE_FILE` when
    it was written for the same checkpoints (their names, sizes and modification times)."""
    names = ["final.pt", *(f"fold{k}.pt" for k in range(n_folds))]
    stats = [(n, (unit_dir / n).stat()) for n in names]
    stamp = json.dumps([(n, st.st_size, st.st_mtime_ns) for n, st in stats])
    path = unit_dir / ENSEMBLE_FILE
    if path.is_file():
        with np.load(path) as z:
            if str(z["checkpoints"]) == stamp and z["y_ens"].shape[0] == len(X):
                return z["y_ens"]
    y = ensemble_predictions(unit_dir, n_folds, X, height_m)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, y_ens=y, checkpoints=np.array(stamp))
    return y


def ensemble_predictions(
    unit_dir: Path, n_folds: int, X: np.ndarray, height_m: np.ndarray
) -> np.ndarray:
    """Per-kg predictions of the unit's ensemble (final and fold models averaged, moments
    scaled to ``height_m`` by the final model's reference height), as ``predict`` on a run
    folder makes them (:class:`gait2hip.inference.predictor.Predictor`)."""
    members = [TrainedModel.load(unit_dir / "final.pt")]
    members += [TrainedModel.load(unit_dir / f"fold{k}.pt") for k in range(n_folds)]
    mean = member_predictions(members, X).mean(0)
    return mean * members[0].size_factors(height_m, len(X))


def results_tables(results: list[UnitResult]) -> dict[str, pd.DataFrame]:
    """Long tables over all units: summary, per_channel, per_condition, per_subject."""
    keys = lambda r: {  # noqa: E731
        "model": r.label,
        "architecture": r.spec.name,
        "causal": r.spec.causal,
        "split_seed": r.split_seed,
        "seed": r.seed,
        **({"part": r.part} if r.part else {}),
    }
    summary = pd.DataFrame(
        [
            {
                **keys(r),
                **r.metrics["summary"],
                "n_params": r.info["n_params"],
                "final_epochs": r.info["epochs"],
                "fold_best_epochs": " ".join(map(str, r.info["fold_best_epochs"])),
                "folds_hit_max_epochs": r.info["folds_hit_max_epochs"],
                "train_seconds": r.info["seconds_total"],
                "seconds_per_epoch": r.info["seconds_per_epoch"],
                **{k: r.info[k] for k in INTERVAL_COLUMNS},
                "ood_auroc": r.info["ood_auroc"],
                "pace_auroc": r.info["pace_auroc"],
                "size_auroc": r.info["size_auroc"],
            }
            for r in results
        ]
    )
    tables = {"summary": summary}
    for name in ("per_channel", "per_condition", "per_subject"):
        tables[name] = pd.concat(
            [r.metrics[name].assign(**keys(r)) for r in results], ignore_index=True
        )
    # channels are unique across a joint model's parts: one column per model
    tables["per_channel"]["model"] = [
        label.split(" [")[0] for label in tables["per_channel"]["model"]
    ]
    physics = [r.metrics["physics"].assign(**keys(r)) for r in results if "physics" in r.metrics]
    if physics:
        tables["physics"] = pd.concat(physics, ignore_index=True)
    return tables
