"""``gait2hip transfer``: how well models carry over to people and speeds unlike their
training data, in one table.

Sources (the table's rows):

- ``in-lab``: held-out subjects of the bundled walking data (the benchmark's test set);
- ``<others> → <condition>``: trained on the other walking speeds only, tested on
  ``condition`` of held-out subjects (``--hold-out-condition``), once per condition;
- the external cohort's groups (the spina bifida and typically developing children): the
  in-lab models zero-shot. The cohort has one leg; for models of both legs' angles the other
  leg is *assumed* to be the analysed leg half a cycle later (a symmetric gait), and every
  cohort row says so;
- other bundled labelled datasets (``--zero-shot-data hamner2013``: running at 2-5 m/s,
  another lab, treadmill): the in-lab models zero-shot, one row per condition.

Columns: every training profile and architecture, by default training from scratch
(``recipe``), the Gait2Hip-60 study's published models as they are (``gait2hip60``) and
fine-tuned from them (``gait2hip60-finetune``). Each cell: subject-mean R² and RMSE (the
study's definitions) with bootstrap 95% CIs, per-DOF R², the calibrated 90 % interval's
coverage and the OOD score's AUROC against unseen cycles of the training population. The same
splits and seeds for every profile; runs are benchmark run folders, so an interrupted
command resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from gait2hip.conventions import get_target, input_set_name
from gait2hip.data.cohort import DURATION_COL, Cohort
from gait2hip.data.dataset import DataError
from gait2hip.executor import Executor
from gait2hip.external.evaluate import (
    check_assumable,
    domain_shift_table,
    find_units,
    lacking_inputs,
    zero_shot,
)
from gait2hip.io.atomic import write_text
from gait2hip.pipelines.compare import (
    CompareSetting,
    build_datasets,
    check_datasets,
    run_comparison,
)
from gait2hip.report.compare import collect
from gait2hip.report.transfer import aggregate, write_transfer_report
from gait2hip.training.checkpoint import TrainedModel

IN_LAB = "in-lab"


@dataclass(frozen=True)
class TransferSetting:
    """What ``gait2hip transfer`` runs."""

    target: str = "moments"
    dataset: str = "schreiber2019"
    profiles: tuple[str, ...] = ("recipe", "gait2hip60", "gait2hip60-finetune", "gait2hip60-wise")
    models: tuple[str, ...] = ("lstm", "transformer", "mamba")
    seeds: tuple[int, ...] = (2025,)
    split_seeds: tuple[int, ...] = (21, 22, 23)
    # each held out in turn (trained on the dataset's other conditions)
    conditions: tuple[str, ...] = ("fast", "comfortable")
    # bundled datasets the in-lab models predict zero-shot (one row per condition)
    zero_shot: tuple[str, ...] = ()
    # reductions for a smoke run (None / False: the profiles' own settings)
    max_epochs: int | None = None
    patience: int | None = None
    n_folds: int | None = None
    small_models: bool = False

    def __post_init__(self) -> None:  # bundled datasets, labelled by build_zero_shot
        check_datasets(self.zero_shot, "--zero-shot-data")

    def comparison(self, holdout_condition: str = "") -> CompareSetting:
        """The comparison setting of one source (the first profile is the paired baseline)."""
        return CompareSetting(
            datasets=(self.dataset,),
            targets=(self.target,),
            profiles=self.profiles,
            models=self.models,
            both_variants=False,
            seeds=self.seeds,
            split_seeds=self.split_seeds,
            max_epochs=self.max_epochs,
            patience=self.patience,
            n_folds=self.n_folds,
            small_models=self.small_models,
            holdout_condition=holdout_condition,
        )

    def sources(self, conditions: list[str]) -> list[tuple[str, str]]:
        """(row name, held-out condition) of the in-lab and cross-condition sources."""
        out = [(IN_LAB, "")]
        for c in self.conditions:
            others = "+".join(x for x in conditions if x != c)
            out.append((f"{others} → {c}", c))
        return out


def _folder(name: str) -> str:
    return name.replace(" → ", "-to-").replace("+", "_")


def _benchmark_rows(source: str, folders: dict[str, list[Path]]) -> pd.DataFrame:
    """One row per run of the source's run folders: metrics, per-DOF R², coverage, AUROC."""
    runs, channels = collect(folders)
    if runs.empty:
        return pd.DataFrame()
    r2 = channels.pivot_table(
        index=["profile", "model", "split_seed", "seed"], columns="channel", values="r2"
    )
    r2.columns = [f"r2_{c}" for c in r2.columns]
    runs = runs.merge(r2.reset_index(), on=["profile", "model", "split_seed", "seed"])
    return runs.assign(source=source)


def _cohort_rows(
    cohort: Cohort,
    folders: dict[str, list[Path]],
    target: str,
    n_boot: int,
    log: Callable[[str], None] = print,
    assume_durations: str | float | None = None,
) -> pd.DataFrame:
    """The in-lab units of every profile zero-shot on each cohort group (none for a profile
    whose models take inputs besides the angles which the cohort does not give, e.g. the
    cycle's duration unless ``assume_durations`` gives it: :func:`zero_shot`)."""
    rows = []
    for profile, dirs in folders.items():
        done = [d for d in dirs if (d / "summary.csv").exists()]
        if not done:
            continue
        units = find_units(done, target)
        try:
            lacking = sorted(
                {c for u in units for c in lacking_inputs(u.predictor, cohort, assume_durations)}
            )
        except DataError as err:  # durations it cannot assume (after hours of training)
            log(f"transfer: {profile}: {err}; no rows")
            continue
        if lacking:
            hint = assume_durations is None and DURATION_COL in lacking
            log(
                f"transfer: {profile} takes {lacking}, which {cohort.name} does not give; no "
                "rows" + (" (--assume-durations gives durations)" if hint else "")
            )
            continue
        zs = zero_shot(
            units, cohort, healthy=False, n_boot=n_boot, assume_durations=assume_durations
        )
        shift = domain_shift_table(zs.cycles, zs.ood_reference)
        # uncalibrated units have no OOD score, so no row in the shift table
        keys = ["model", "split_seed", "seed", "group"]
        auroc = shift.set_index(keys)["auroc_vs_unseen_healthy"] if not shift.empty else pd.Series()
        table = zs.summary.copy()
        table["ood_auroc"] = [auroc.get(tuple(k), np.nan) for k in table[keys].to_numpy()]
        table["profile"] = profile
        table["source"] = [f"{cohort.name} {g}" for g in table["group"]]
        rows.append(table)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def run_transfer(
    setting: TransferSetting,
    data: Path,
    cohort: Cohort | None,
    out: Path,
    *,
    executor: Executor | None = None,
    command: str = "",
    show_progress: bool = True,
    n_boot: int = 2000,
    log: Callable[[str], None] = print,
    zero_shot_data: dict[str, Path] | None = None,
    assume_durations: str | float | None = None,
) -> Path:
    """Run (or resume) every source's runs on the built dataset ``data`` (an NPZ of the
    setting's target), evaluate the in-lab units on ``cohort`` (one leg: the other assumed;
    its cycles without a duration given one as ``assume_durations`` says, for the models
    that read it: :func:`~gait2hip.external.evaluate.cycle_durations`) and on each of
    ``zero_shot_data`` (name -> built NPZ of the target, :func:`build`; their own cycle
    durations), and write ``transfer.md`` / ``transfer.csv`` and the figure into ``out``."""
    from gait2hip.io.npz import read_npz

    out = Path(out)
    if cohort is not None:
        check_assumable(cohort, assume_durations)  # before any training
    ds = read_npz(data, expected_out=get_target(setting.target))
    conditions = sorted(set(ds.speed_label.tolist()))
    frames, in_lab = [], {}
    for name, held_out in setting.sources(conditions):
        cs = setting.comparison(held_out)
        folder = out / _folder(name)
        log(f"transfer source {name}: {folder}")
        run_comparison(
            cs,
            {setting.dataset: {setting.target: Path(data)}},
            folder,
            executor=executor,
            command=command,
            show_progress=show_progress,
            log=log,
        )
        key = f"{Path(data).stem}-{setting.target}"
        folders = {p: [folder / key / p / f"split{s}" for s in cs.split_seeds] for p in cs.profiles}
        frames.append(_benchmark_rows(name, folders))
        if not held_out:
            in_lab = folders
    if cohort is not None and setting.target not in cohort.targets:
        log(f"transfer: {cohort.name} has no {setting.target} reference; no cohort rows")
        cohort = None
    if cohort is not None:
        log(f"transfer: the in-lab models on {cohort.name} ({len(cohort)} cycles)")
        cohort = cohort.with_contralateral()  # the other leg assumed where it is missing
        frames.append(_cohort_rows(cohort, in_lab, setting.target, n_boot, log, assume_durations))
    for name, path in (zero_shot_data or {}).items():
        other = Cohort.from_dataset(read_npz(path, expected_out=get_target(setting.target)), name)
        log(f"transfer: the in-lab models on {name} ({len(other)} cycles)")
        frames.append(_cohort_rows(other, in_lab, setting.target, n_boot, log))
    runs = pd.concat([f for f in frames if not f.empty], ignore_index=True)
    return write_transfer_report(
        runs,
        setting.profiles,
        get_target(setting.target),
        out,
        command=command,
        cohort=None if cohort is None else cohort.describe() + _assumed(cohort, assume_durations),
        describe=ds.describe() + _profile_inputs(setting, tuple(ds.in_cols)),
    )


def _assumed(cohort: Cohort, assume_durations: str | float | None) -> str:
    """The report's note on the cycle durations assumed for ``cohort`` (none where it gives
    every cycle's or nothing is assumed)."""
    if assume_durations is None or np.isfinite(cohort.duration_s).all():
        return ""
    how = (
        f"{assume_durations} s each"
        if not isinstance(assume_durations, str)
        else f"{assume_durations}: the model's median training cycle scaled to each body height"
    )
    return (
        f"; cycle durations ASSUMED (not measured) where it gives none, for the models that read "
        f"them or check the pace ({how})"
    )


def _profile_inputs(setting: TransferSetting, data_cols: tuple[str, ...]) -> str:
    """What the profiles that read other inputs than the dataset's take (the report's data
    line counts the dataset's)."""
    cs = setting.comparison()
    cols = {p: tuple(cs.config(setting.target, p, 0).inputs) for p in setting.profiles}
    other = {p: c for p, c in cols.items() if c != data_cols}
    return "".join(f"; `{p}` reads {len(c)} inputs ({input_set_name(c)})" for p, c in other.items())


def average_transfer(
    root: Path,
    models: Sequence[str],
    out: Path,
    log: Callable[[str], None] = print,
    others: Sequence[Path] = (),
) -> Path:
    """``gait2hip average`` on a transfer folder: the architectures ``models`` of every
    source's runs averaged (:func:`~gait2hip.training.average.average_runs`; ``others``: more
    transfer folders holding some of them) into the same places below ``out``, with their
    ``transfer.csv`` and ``transfer_table.csv`` (the in-lab and cross-condition rows; a cohort
    or other dataset is not re-evaluated); returns the table's path."""
    from gait2hip.training.average import AverageError, average_runs

    root, out = Path(root), Path(out)
    done = pd.read_csv(root / "transfer.csv")
    names = {_folder(s): s for s in dict.fromkeys(done["source"])}
    summaries = average_runs(root, models, out, log, others)
    folders: dict[str, dict[str, list[Path]]] = {}
    for path in summaries:
        run = path.parent  # <source folder>/<data>-<target>/<profile>/split<s>
        source = names.get(run.relative_to(out).parts[0])
        if source is not None:
            folders.setdefault(source, {}).setdefault(run.parent.name, []).append(run)
    if not folders:
        raise AverageError(f"{root}: no source of its transfer.csv has units to average")
    order = [s for s in names.values() if s in folders]  # as the transfer ran them
    runs = pd.concat([_benchmark_rows(s, folders[s]) for s in order], ignore_index=True)
    target = get_target(TrainedModel.load(next(out.rglob("final.pt"))).target)
    write_text(out / "transfer.csv", runs.to_csv(index=False))
    table = aggregate(runs, tuple(dict.fromkeys(done["profile"])), target)
    return write_text(out / "transfer_table.csv", table.to_csv(index=False))


def build(setting: TransferSetting, **kwargs) -> Path:
    """Label the setting's bundled dataset (cached) and return its NPZ for the target."""
    check_datasets((setting.dataset,), "dataset")
    return build_datasets(setting.comparison(), **kwargs)[setting.dataset][setting.target]


def build_zero_shot(setting: TransferSetting, **kwargs) -> dict[str, Path]:
    """Label the setting's zero-shot datasets (cached); {name: NPZ of the target}."""
    if not setting.zero_shot:
        return {}
    cs = replace(setting.comparison(), datasets=setting.zero_shot)
    return {name: paths[setting.target] for name, paths in build_datasets(cs, **kwargs).items()}
