"""Averaging architectures: the final models of several architectures trained on the same
subjects (one benchmark run: the same split, folds and training seed) predicting as one
model, the mean of their predictions, with a calibration of that average.

Architectures err differently, so their average is often closer to the labels than either
(docs/transfer_results.md, "Averaging architectures"). Its calibration is fitted as a unit's
is (:func:`~gait2hip.training.calibrate.calibrate`) on the same folds: the out-of-fold
residuals are those of the fold models averaged fold by fold, the ensemble spread is the
architectures' disagreement (what ``predict`` sees: the final models, no fold models), the
between-population part the disagreement with the anchor of the first architecture that has
one (the study's published model of it), and the coverage and OOD AUROC are measured once on
the run's held-out test cycles. The architectures may come from runs of other profiles on the
same split (``PROFILE/LABEL``) and read fewer inputs than the first (e.g. the angles without
the cycle's duration): each reads its own.

:func:`average_run` writes a run folder of its own (``config.json``, ``summary.csv`` and the
other tables, one unit per split seed and seed), whose units ``gait2hip predict`` and
``gait2hip models`` use like any: ``final.pt`` (the first architecture's final model),
``members/`` (the others'), the calibration and the averaged test predictions.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gait2hip.conventions import get_target
from gait2hip.inference.calibration import CALIBRATION_FILE, MEMBERS_DIR
from gait2hip.io.atomic import atomic_dir, write_json, write_text
from gait2hip.io.npz import read_npz
from gait2hip.training.calibrate import calibrate
from gait2hip.training.checkpoint import AveragedModel, TrainedModel, average_refusal
from gait2hip.training.config import ModelSpec
from gait2hip.training.metrics import evaluate, skill_vs_mean_curve
from gait2hip.training.protocol import UnitResult, interval_info, results_tables
from gait2hip.training.published import anchor_for

#: What an averaged unit records about the units it averages.
AVERAGE_FILE = "average.json"


class AverageError(ValueError):
    """Units that cannot be averaged (other subjects, folds, columns or data)."""


@dataclass(frozen=True)
class AverageSpec:
    """The architectures averaged, standing for one model in the run's tables."""

    specs: tuple[ModelSpec, ...]

    @property
    def name(self) -> str:
        return "+".join(s.name for s in self.specs)

    @property
    def causal(self) -> bool:
        return all(s.causal for s in self.specs)

    @property
    def label(self) -> str:
        return "+".join(s.label for s in self.specs)


def _identity(m: TrainedModel) -> dict[str, Any]:
    """What two final models must share besides what any averaged models must
    (:func:`~gait2hip.training.checkpoint.average_refusal`): the same data, split, seed and
    training subjects."""
    keys = ("dataset", "split_seed", "seed", "train_subjects", "test_subjects", "n_train_cycles")
    return {k.replace("_", " "): m.meta.get(k) for k in keys}


def _folds(unit: Path) -> list[dict[str, Any]]:
    """The unit's fold*.json records, in fold order."""
    paths = sorted(unit.glob("fold*.json"), key=lambda p: int(p.stem.removeprefix("fold")))
    return [json.loads(p.read_text()) for p in paths]


def average_unit(
    units: Sequence[Path], out: Path, n_boot: int = 2000
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Average the final models of ``units`` (unit folders of one run: same split and folds)
    into the unit folder ``out``; returns its test metrics (as
    :func:`~gait2hip.training.metrics.evaluate`) and its training and interval facts (as
    summary.csv has them)."""
    units = [Path(u) for u in units]
    finals = [TrainedModel.load(u / "final.pt") for u in units]
    records = [_folds(u) for u in units]
    subjects = [[f["val_subjects"] for f in r] for r in records]
    own, folds = _identity(finals[0]), subjects[0]
    if not folds:
        raise AverageError(f"{units[0]}: no fold models; average units of a finished benchmark")
    for u, m, theirs in zip(units[1:], finals[1:], subjects[1:], strict=True):
        why = average_refusal(finals[0], m)
        if why is not None:
            raise AverageError(
                f"{u}: {why} ({units[0]} leads the average); average models of one target, "
                "the one that reads the most inputs first"
            )
        for what, value in _identity(m).items():
            if value != own[what]:
                raise AverageError(
                    f"{u}: its {what} differ from {units[0]}'s; average units of one run "
                    "(the same split, seed and data)"
                )
        if theirs != folds:
            raise AverageError(f"{u}: its folds differ from {units[0]}'s; average units of one run")
    meta = finals[0].meta
    ds = read_npz(meta["dataset"], expected_out=get_target(meta["target"]))
    ds = ds.select_inputs(finals[0].in_cols)
    with np.load(units[0] / "predictions.npz") as z:
        stored = {k: z[k] for k in z.files}
    subject = ds.subject_id.astype(str)
    held_out = np.isin(ds.speed_label, np.unique(stored["speed_label"]))
    test = np.flatnonzero(np.isin(subject, meta["test_subjects"]) & held_out)
    pool = np.isin(subject, meta["train_subjects"])
    if pool.sum() != meta["n_train_cycles"]:  # a held-out condition: trained on the others
        pool &= ~held_out
    pool = np.flatnonzero(pool)
    if len(pool) != meta["n_train_cycles"] or not np.array_equal(
        stored["y_true"], ds.Y_per_kg[test]
    ):
        raise AverageError(
            f"{meta['dataset']}: its cycles are not those {units[0]} was trained and tested on; "
            "average with the data the run used"
        )
    fold_splits = [
        (pool[~np.isin(subject[pool], val)], pool[np.isin(subject[pool], val)]) for val in folds
    ]
    fold_models = [
        AveragedModel(tuple(TrainedModel.load(u / f"fold{k}.pt") for u in units))
        for k in range(len(folds))
    ]
    final = AveragedModel(tuple(finals))
    cal = calibrate(
        ds.X,
        ds.Y_per_kg,
        pool,
        fold_splits,
        fold_models,
        final,
        test,
        ds.out_cols,
        ds.height_m,
        ds.cycle_durations(),
        next(filter(None, map(anchor_for, finals)), None),  # the first architecture's with one
        ensemble=finals,
        mass_kg=ds.weight_kg,
    )
    y_pred = final.predict_per_kg(ds.X[test], ds.height_m[test])
    info = _combined_info(units, records)
    # written into a fresh folder, moved into place whole
    with atomic_dir(out) as tmp:
        shutil.copyfile(units[0] / "final.pt", tmp / "final.pt")
        (tmp / MEMBERS_DIR).mkdir()
        names: list[str] = []
        for k, u in enumerate(units[1:], start=1):
            # one file per model: a label already taken (models of one architecture from
            # other profiles) gets the model's place in the average
            name = u.parent.name if u.parent.name not in names else f"{u.parent.name}-{k}"
            names.append(name)
            shutil.copyfile(u / "final.pt", tmp / MEMBERS_DIR / f"{name}.pt")
        cal.save(tmp / CALIBRATION_FILE)
        write_json(tmp / "calibration.json", cal.summary())
        with open(tmp / "predictions.npz", "wb") as fh:
            np.savez_compressed(fh, **{**stored, "y_pred": y_pred})
        write_json(tmp / AVERAGE_FILE, {"units": [str(u) for u in units]})
        write_json(tmp / "final.json", info)
    metrics = evaluate(
        stored["y_true"],
        y_pred,
        stored["subject_id"],
        stored["speed_label"],
        ds.out_cols,
        n_boot=n_boot,
        seed=int(meta["split_seed"]),
    )
    metrics["summary"]["skill_vs_mean_curve"] = skill_vs_mean_curve(
        stored["y_true"], y_pred, cal.norm_mean, stored["subject_id"]
    )
    return metrics, {**info, **interval_info(cal.summary())}


def model_runs(
    run: Path, models: Sequence[str], elsewhere: Sequence[Path] = ()
) -> list[Path] | None:
    """The run folder holding each of ``models`` beside ``run``, or None where one has no
    finished unit: a label (``transformer-bidir``) is a model of ``run`` itself, a
    ``PROFILE/LABEL`` one of the run folder of that profile beside it (a transfer folder's
    ``<profile>/split<N>``); each is looked for in ``run`` and then at the same place in
    ``elsewhere`` (the same folder in other transfer folders)."""
    out = []
    for model in models:
        profile, _, label = model.rpartition("/")
        places = [run, *elsewhere]
        if profile:
            places = [p.parent.parent / profile / p.name for p in places]
        found = [p for p in places if any(p.glob(f"split*/{label}/seed*/{CALIBRATION_FILE}"))]
        if not found:
            return None
        out.append(found[0])
    return out


def average_run(
    run: Path,
    models: Sequence[str],
    out: Path,
    log: Callable[[str], None] = print,
    elsewhere: Sequence[Path] = (),
) -> Path:
    """Average the final models of ``models`` (labels, e.g. ``transformer-bidir``, or
    ``PROFILE/LABEL`` for a model of the same split trained under another profile:
    :func:`model_runs`) in every split seed and seed of the benchmark run folder ``run`` where
    each has a finished unit, into the run folder ``out`` (module doc); returns its
    summary.csv."""
    run, out = Path(run), Path(out)
    if len(models) < 2:
        raise AverageError(f"{run}: name at least two models to average (e.g. --models a,b)")
    if not (run / "config.json").is_file():
        raise AverageError(f"{run}: not a benchmark run folder (no config.json)")
    places = model_runs(run, models, elsewhere)
    if places is None:
        raise AverageError(f"{run}: no split with finished units of every model in {list(models)}")
    labels = [m.rpartition("/")[2] for m in models]
    first = places[0]
    config = json.loads((first / "config.json").read_text())
    n_boot = int(config["config"].get("n_bootstrap", 2000))
    spec = AverageSpec(tuple(ModelSpec(*_split_label(m, run)) for m in labels))
    results = []
    for split_dir in sorted(first.glob("split*")):
        for seed_dir in sorted((split_dir / labels[0]).glob("seed*")):
            units = [
                p / split_dir.name / m / seed_dir.name for p, m in zip(places, labels, strict=True)
            ]
            if not all((u / CALIBRATION_FILE).is_file() for u in units):
                continue
            target = out / split_dir.name / spec.label / seed_dir.name
            log(f"average: {spec.label} {split_dir.name} {seed_dir.name}")
            metrics, info = average_unit(units, target, n_boot)
            results.append(
                UnitResult(
                    spec,  # type: ignore[arg-type]
                    int(split_dir.name.removeprefix("split")),
                    int(seed_dir.name.removeprefix("seed")),
                    target,
                    metrics,
                    info,
                )
            )
    if not results:
        raise AverageError(f"{run}: no split with finished units of every model in {list(models)}")
    # pinned to the averaging: `gait2hip benchmark` refuses to resume into it
    averaged = {"run": str(first), "models": list(models), "runs": sorted(set(map(str, places)))}
    write_json(out / "config.json", {**config, "averaged_from": averaged})
    for name, df in results_tables(results).items():
        write_text(out / f"{name}.csv", df.to_csv(index=False))
    return out / "summary.csv"


def average_runs(
    root: Path,
    models: Sequence[str],
    out: Path,
    log: Callable[[str], None] = print,
    others: Sequence[Path] = (),
) -> list[Path]:
    """:func:`average_run` for the run folder ``root`` or every run folder below it (e.g. a
    ``gait2hip transfer`` folder: each source, dataset, profile and split), each into the same
    place below ``out`` as the first model's run folder; ``others``: more transfer folders,
    where models are also looked for at the same places. Returns their summary.csv paths."""
    root, out = Path(root), Path(out)
    if (root / "config.json").is_file():
        return [average_run(root, models, out, log, others)]
    done, paths = set(), []
    for config in sorted(root.rglob("config.json")):
        run = config.parent
        rel = run.relative_to(root)
        places = model_runs(run, models, [o / rel for o in others])
        if places is None or places[0] in done or not places[0].is_relative_to(root):
            continue  # the first model's run folder names the average's place, once
        done.add(places[0])
        where = out / places[0].relative_to(root)
        paths.append(average_run(run, models, where, log, [o / rel for o in others]))
    if not paths:
        raise AverageError(
            f"{root}: no run folder with finished units of every model in {list(models)}"
        )
    return paths


def _split_label(label: str, run: Path) -> tuple[str, bool]:
    name, _, direction = label.rpartition("-")
    if not name or direction not in ("causal", "bidir"):
        raise AverageError(
            f"{run}: {label!r} is not a model label of the run (e.g. transformer-bidir)"
        )
    return name, direction == "causal"


def _combined_info(units: Sequence[Path], folds: Sequence[list[dict]]) -> dict[str, Any]:
    """The training facts of the averaged units (``folds``: each one's fold records), summed
    or joined (``a+b``)."""
    infos = [json.loads((u / "final.json").read_text()) for u in units]
    join = lambda vals: "+".join(str(v) for v in vals)  # noqa: E731
    return {
        "n_params": sum(i["n_params"] for i in infos),
        "epochs": join(i["epochs"] for i in infos),
        "fold_best_epochs": [
            join(f["best_epoch"] for f in per_fold) for per_fold in zip(*folds, strict=True)
        ],
        "folds_hit_max_epochs": sum(f["hit_max_epochs"] for fs in folds for f in fs),
        "seconds_total": sum(i["seconds_total"] for i in infos),
        "seconds_per_epoch": None,
    }
