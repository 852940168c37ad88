"""The benchmark protocol, one leak-proof procedure for every model.

For each holdout split seed, model and training seed:

1. hold out ``test_fraction`` of the subjects (whole subjects) as the test set;
2. GroupKFold by subject on the remaining pool; per fold, z-score inputs with the fold's
   training statistics, train with early stopping on the fold's validation subjects, and
   record the best epoch;
3. train on the whole pool (inputs z-scored with pool statistics) for the median best
   epoch, save the checkpoint, and predict the test subjects once.

Every finished fold and final fit is written to the run folder as it completes, so an
interrupted run resumes without redoing them. The run folder's ``config.json`` pins the
config and the data fingerprint: resuming with anything else is refused.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gait2hip.data.dataset import GaitDataset
from gait2hip.data.splits import Split, assert_no_leak, group_kfold, holdout_subjects
from gait2hip.inference.calibration import CALIBRATION_FILE, calibrate
from gait2hip.io.atomic import atomic_path, write_json
from gait2hip.models import count_parameters, create_model
from gait2hip.training.checkpoint import TrainedModel
from gait2hip.training.config import BenchmarkConfig, ModelSpec
from gait2hip.training.loop import FitResult, fit
from gait2hip.training.metrics import evaluate
from gait2hip.training.normalize import InputScaler


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


def _fold_fit(
    ds: GaitDataset,
    cfg: BenchmarkConfig,
    spec: ModelSpec,
    seed: int,
    train: np.ndarray,
    val: np.ndarray | None,
    epochs: int | None,
    on_epoch,
) -> tuple[TrainedModel, FitResult, float]:
    scaler = InputScaler.fit(ds.X[train])
    Y = ds.Y_per_kg
    torch.manual_seed(seed)
    model = create_model(spec.name, **cfg.model_config(spec, len(ds.in_cols), len(ds.out_cols)))
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
    )
    trained = TrainedModel(
        model=model,
        scaler=scaler,
        in_cols=ds.in_cols,
        out_cols=ds.out_cols,
        target=cfg.target,
        meta={},
    )
    return trained, result, time.perf_counter() - t0


def _model_meta(
    ds: GaitDataset, cfg: BenchmarkConfig, split_seed: int, seed: int, train: np.ndarray, role: str
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
    }


def _check_run_folder(out_dir: Path, cfg: BenchmarkConfig, fingerprint: str) -> None:
    stored = {"config": cfg.to_dict(), "data_fingerprint": fingerprint}
    path = out_dir / "config.json"
    if path.exists():
        previous = json.loads(path.read_text())
        if previous != json.loads(json.dumps(stored)):
            raise RunConflictError(
                f"{out_dir} holds a run with another config or other data; choose a new "
                "--out folder, or delete this one to start over"
            )
    else:
        write_json(path, stored)


def run_benchmark(
    ds: GaitDataset,
    cfg: BenchmarkConfig,
    out_dir: str | Path,
    *,
    show_progress: bool = True,
) -> list[UnitResult]:
    """Run (or resume) the protocol for every split seed x model x seed; see module doc."""
    out_dir = Path(out_dir)
    if ds.target is None or ds.target.name != cfg.target:
        raise ValueError(
            f"{ds.source}: its outputs {list(ds.out_cols)[:3]}... are not the {cfg.target!r} "
            "target; pass the matching file (MF for forces, JM for moments)"
        )
    ds = ds.select_inputs(cfg.inputs)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_run_folder(out_dir, cfg, dataset_fingerprint(ds))

    splits = {s: holdout_subjects(ds.subject_id, cfg.test_fraction, s) for s in cfg.split_seeds}
    folds = {s: group_kfold(ds.subject_id[sp.train], cfg.n_folds) for s, sp in splits.items()}
    units = [(s, spec, seed) for s in cfg.split_seeds for spec in cfg.models for seed in cfg.seeds]
    results: list[UnitResult] = []
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        disable=not show_progress,
    )
    with progress:
        overall = progress.add_task("benchmark", total=len(units) * (cfg.n_folds + 1), status="")
        for split_seed, spec, seed in units:
            unit_dir = out_dir / f"split{split_seed}" / spec.label / f"seed{seed}"
            results.append(
                _run_unit(
                    ds,
                    cfg,
                    spec,
                    seed,
                    split_seed,
                    splits[split_seed],
                    folds[split_seed],
                    unit_dir,
                    progress,
                    overall,
                )
            )
    return results


def _run_unit(
    ds: GaitDataset,
    cfg: BenchmarkConfig,
    spec: ModelSpec,
    seed: int,
    split_seed: int,
    split: Split,
    folds: list[Split],
    unit_dir: Path,
    progress: Progress,
    overall,
) -> UnitResult:
    pool = split.train
    name = f"{spec.label} split{split_seed} seed{seed}"
    epoch_task = progress.add_task(name, total=cfg.train.max_epochs, status="")

    def on_epoch(epoch: int, train_loss: float, val_loss: float | None) -> None:
        status = f"train {train_loss:.4g}" + ("" if val_loss is None else f" val {val_loss:.4g}")
        progress.update(epoch_task, completed=epoch, status=status)

    fold_info = []
    for k, fold in enumerate(folds):
        path = unit_dir / f"fold{k}.json"
        train, val = pool[fold.train], pool[fold.test]
        if path.exists() and (unit_dir / f"fold{k}.pt").exists():
            fold_info.append(json.loads(path.read_text()))
        else:
            assert_no_leak(ds.subject_id[train], ds.subject_id[val], f"{name} fold {k}")
            assert_no_leak(ds.subject_id[train], ds.subject_id[split.test], f"{name} fold {k}")
            progress.update(
                epoch_task,
                description=f"{name} fold {k + 1}/{len(folds)}",
                completed=0,
                total=cfg.train.max_epochs,
            )
            trained, res, secs = _fold_fit(ds, cfg, spec, seed, train, val, None, on_epoch)
            trained.meta = _model_meta(ds, cfg, split_seed, seed, train, f"fold {k}")
            trained.save(unit_dir / f"fold{k}.pt")  # an ensemble member for prediction
            info = {
                "fold": k,
                "best_epoch": res.best_epoch,
                "epochs_run": res.epochs_run,
                "hit_max_epochs": res.epochs_run >= cfg.train.max_epochs,
                "best_val_loss": res.best_val_loss,
                "train_loss": res.train_loss,
                "val_loss": res.val_loss,
                "seconds": secs,
                "val_subjects": sorted(set(ds.subject_id[val].tolist())),
            }
            write_json(path, info)
            fold_info.append(info)
        progress.advance(overall)

    best_epochs = [f["best_epoch"] for f in fold_info]
    final_epochs = max(1, round(float(np.median(best_epochs))))
    ckpt_path, pred_path = unit_dir / "final.pt", unit_dir / "predictions.npz"
    info_path = unit_dir / "final.json"
    test = split.test
    if not (ckpt_path.exists() and pred_path.exists() and info_path.exists()):
        assert_no_leak(ds.subject_id[pool], ds.subject_id[test], f"{name} final")
        progress.update(
            epoch_task, description=f"{name} final fit", completed=0, total=final_epochs
        )
        trained, res, secs = _fold_fit(ds, cfg, spec, seed, pool, None, final_epochs, on_epoch)
        n_params = count_parameters(trained.model)
        trained.meta = {
            **_model_meta(ds, cfg, split_seed, seed, pool, "final"),
            "epochs": final_epochs,
            "fold_best_epochs": best_epochs,
            "test_subjects": sorted(set(ds.subject_id[test].tolist())),
            "n_params": n_params,
        }
        t0 = time.perf_counter()
        y_pred = trained.predict_per_kg(ds.X[test])
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
                "seconds_per_epoch": (secs + fold_secs) / (final_epochs + fold_epochs),
                "inference_ms_per_cycle": infer_ms,
            },
        )
    cal_path = unit_dir / CALIBRATION_FILE
    fold_paths = [unit_dir / f"fold{k}.pt" for k in range(len(folds))]
    if not cal_path.exists() and all(p.exists() for p in fold_paths):
        cal = calibrate(
            ds.X,
            ds.Y_per_kg,
            pool,
            [(pool[f.train], pool[f.test]) for f in folds],
            [TrainedModel.load(p) for p in fold_paths],
            TrainedModel.load(ckpt_path),
            test,
            ds.out_cols,
        )
        cal.save(cal_path)
        write_json(unit_dir / "calibration.json", cal.summary())
    progress.advance(overall)
    progress.remove_task(epoch_task)

    with np.load(pred_path) as z:
        y_pred, y_true = z["y_pred"], z["y_true"]
        subj, cond = z["subject_id"], z["speed_label"]
    metrics = evaluate(
        y_true, y_pred, subj, cond, ds.out_cols, n_boot=cfg.n_bootstrap, seed=split_seed
    )
    info = json.loads(info_path.read_text())
    info.update(
        fold_best_epochs=best_epochs,
        folds_hit_max_epochs=sum(f["hit_max_epochs"] for f in fold_info),
    )
    return UnitResult(spec, split_seed, seed, unit_dir, metrics, info)


def results_tables(results: list[UnitResult]) -> dict[str, pd.DataFrame]:
    """Long tables over all units: summary, per_channel, per_condition, per_subject."""
    keys = lambda r: {  # noqa: E731
        "model": r.spec.label,
        "architecture": r.spec.name,
        "causal": r.spec.causal,
        "split_seed": r.split_seed,
        "seed": r.seed,
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
            }
            for r in results
        ]
    )
    tables = {"summary": summary}
    for name in ("per_channel", "per_condition", "per_subject"):
        tables[name] = pd.concat(
            [r.metrics[name].assign(**keys(r)) for r in results], ignore_index=True
        )
    return tables
