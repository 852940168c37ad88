"""The comparison in one call: the study's recipe (the ``paper`` profile) against other
training profiles on the bundled walking and running data, both targets, every architecture
in both time directions, over training seeds and holdout splits, on the same subject-level
splits, with one markdown report (``gait2hip compare``, docs/compare.md).

Each (dataset, target, profile, split seed) is one benchmark run folder, so an interrupted
comparison resumes and more split seeds add runs; the report is rewritten after every
finished run folder, so a partial comparison reports what it has.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gait2hip import settings
from gait2hip.conventions import INPUT_COLS, get_target, input_set_name
from gait2hip.data.dataset import GaitDataset
from gait2hip.executor import Executor
from gait2hip.io.atomic import write_text
from gait2hip.pipelines.benchmark import benchmark
from gait2hip.report.compare import (
    collect,
    collect_subjects,
    comparison_tables,
    section_markdown,
)
from gait2hip.report.figures import plot_profiles
from gait2hip.training.config import PROFILES, BenchmarkConfig, make_config


def check_datasets(names: tuple[str, ...], what: str = "datasets") -> None:
    """Refuse names that are not bundled datasets before anything is labelled or trained."""
    from gait2hip.labeling.sources import SOURCES

    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise ValueError(
            f"{what}: unknown {', '.join(map(repr, unknown))}; choose from {', '.join(SOURCES)}"
        )


@dataclass(frozen=True)
class CompareSetting:
    """What a comparison runs. The first profile is the baseline the others are paired with."""

    datasets: tuple[str, ...] = ("schreiber2019", "hamner2013")
    targets: tuple[str, ...] = ("forces", "moments")
    # recipe-duration: the only recipe that met the goal for walking moments (docs/compare.md)
    profiles: tuple[str, ...] = ("paper", "recipe", "recipe-duration")
    models: tuple[str, ...] = ("lstm", "transformer", "mamba")
    both_variants: bool = True
    seeds: tuple[int, ...] = (1, 2, 3)
    split_seeds: tuple[int, ...] = (1, 2, 3)
    # reductions for a smoke run (None / False: the profiles' own settings)
    max_epochs: int | None = None
    patience: int | None = None
    n_folds: int | None = None
    small_models: bool = False  # the quick profile's model sizes
    # label only these subjects of a bundled dataset (its own dataset folder)
    subjects: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # "" or a condition every run tests on while training on the others (a speed transfer)
    holdout_condition: str = ""

    def __post_init__(self) -> None:
        unknown = [p for p in self.profiles if p not in PROFILES]
        if unknown or len(self.profiles) < 2:
            raise ValueError(
                f"profiles: give a baseline and at least one other of {sorted(PROFILES)} "
                f"(got {list(self.profiles)})"
            )
        for target in self.targets:
            get_target(target)  # raises for unknown targets

    def config(self, target: str, profile: str, split_seed: int) -> BenchmarkConfig:
        """The benchmark config of one run folder."""
        train: dict[str, Any] = {}
        if self.max_epochs is not None:
            train["max_epochs"] = self.max_epochs
        if self.patience is not None:
            train["patience"] = self.patience
        cfg = make_config(
            target,
            self.models,
            profile,
            both_variants=self.both_variants,
            train_overrides=train,
            split_seeds=(split_seed,),
            seeds=self.seeds,
            holdout_condition=self.holdout_condition,
        )
        if self.n_folds is not None:
            cfg = dataclasses.replace(cfg, n_folds=self.n_folds)
        if self.small_models:
            cfg = dataclasses.replace(cfg, model_overrides=PROFILES["quick"]["model_overrides"])
        return cfg


# "full": the comparison (>= 3 seeds x >= 3 splits, both directions). "ci": the same
# command end to end in minutes on 2 cores (small models, few epochs, part of the running
# subjects) -- it checks the pipeline, its numbers say nothing about the profiles.
SETTINGS: dict[str, CompareSetting] = {
    "full": CompareSetting(),
    "ci": CompareSetting(
        both_variants=False,
        seeds=(1,),
        split_seeds=(1, 2),
        max_epochs=3,
        patience=2,
        n_folds=2,
        small_models=True,
        subjects={"hamner2013": ("subject01", "subject02", "subject03", "subject04", "subject08")},
    ),
}


def build_datasets(
    setting: CompareSetting,
    *,
    executor: Executor | None = None,
    workers: int = 2,
    show_progress: bool = True,
    so_solver: str | None = None,
) -> dict[str, dict[str, Path]]:
    """Label the setting's bundled datasets (cached per trial); {dataset: {target: NPZ}}.
    ``so_solver`` overrides the sources' static optimization (default: theirs, ``auto``)."""
    from dataclasses import replace

    from gait2hip.labeling.build import build_dataset
    from gait2hip.labeling.sources import SOURCES

    check_datasets(setting.datasets)  # every name before any labelling
    paths = {}
    for name in setting.datasets:
        subjects = setting.subjects.get(name)
        folder = settings.dataset_dir(name + ("-subset" if subjects else ""))
        source = SOURCES[name](settings.data_root())
        report = build_dataset(
            source,
            folder,
            settings.labels_dir(),
            workers=workers,
            settings=replace(source.settings, so_solver=so_solver) if so_solver else None,
            subjects=list(subjects) if subjects else None,
            show_progress=show_progress,
            executor=executor,
        )
        paths[name] = {t: report.paths[t] for t in ("forces", "moments")}
    return paths


@dataclass
class Section:
    """One dataset and target: its data and each profile's run folders."""

    title: str
    target: str
    data: GaitDataset
    folders: dict[str, list[Path]]
    n_folds: dict[str, int]


def run_comparison(
    setting: CompareSetting,
    datasets: dict[str, dict[str, Path]],
    out: Path,
    *,
    executor: Executor | None = None,
    command: str = "",
    show_progress: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Run (or resume) every run folder of ``setting`` on ``datasets`` ({dataset: {target:
    NPZ}}) into ``out``; returns the report's path (rewritten after every run folder)."""
    from gait2hip.io.npz import read_npz

    t0 = time.perf_counter()
    sections = []
    for name, by_target in datasets.items():
        for target in setting.targets:
            ds = read_npz(by_target[target], expected_out=get_target(target))
            key = f"{Path(by_target[target]).stem}-{target}"
            sections.append(
                Section(
                    f"{name}, {target}",
                    target,
                    ds,
                    {
                        p: [out / key / p / f"split{s}" for s in setting.split_seeds]
                        for p in setting.profiles
                    },
                    {p: setting.config(target, p, 0).n_folds for p in setting.profiles},
                )
            )
    report = out / "report.md"
    for section in sections:
        for i, split_seed in enumerate(setting.split_seeds):
            for profile in setting.profiles:
                cfg = setting.config(section.target, profile, split_seed)
                folder = section.folders[profile][i]
                log(f"{section.title}: {profile}, split {split_seed} -> {folder}")
                benchmark(
                    section.data,
                    cfg,
                    folder,
                    command=command,
                    show_progress=show_progress,
                    executor=executor,
                )
                write_comparison_report(setting, sections, out, command, time.perf_counter() - t0)
    return report


def write_comparison_report(
    setting: CompareSetting,
    sections: list[Section],
    out: Path,
    command: str = "",
    seconds: float | None = None,
) -> Path:
    """report.md, comparison / paired / channels / channel_r2 .csv and a figure per section, from
    the run folders finished so far."""
    baseline = setting.profiles[0]
    parts: list[str] = []
    frames: dict[str, list[pd.DataFrame]] = {}
    for section in sections:
        runs, channels = collect(section.folders)
        if runs.empty:
            continue
        tables = comparison_tables(
            runs, channels, baseline, section.n_folds, collect_subjects(section.folders)
        )
        for name, frame in tables.items():
            frames.setdefault(name, []).append(frame.assign(section=section.title))
        slug = section.title.replace(", ", "-")
        fig = plot_profiles(
            tables["metrics"],
            get_target(section.target).train_unit,
            section.title,
            out / "figures" / f"{slug}.png",
        )
        parts.append(
            section_markdown(section.title, tables, section.target)
            + f"\n{section.data.describe()}\n\n![{section.title}](figures/{fig.name})\n"
        )
    for name, chunks in frames.items():
        pd.concat(chunks, ignore_index=True).to_csv(
            out / f"{'comparison' if name == 'metrics' else name}.csv", index=False
        )
    header = f"""# gait2hip comparison: {", ".join(setting.profiles[1:])} against `{baseline}`

- command: `{command or "(library call)"}`{
        f" ({seconds / 60:.1f} min in this invocation)" if seconds is not None else ""
    }
- setting: datasets {", ".join(setting.datasets)}; targets {", ".join(setting.targets)};
  models {", ".join(setting.models)}{" in both directions" if setting.both_variants else ""};
  seeds {_ints(setting.seeds)} x split seeds {_ints(setting.split_seeds)}{_reductions(setting)}{
        f"; tested on held-out condition `{setting.holdout_condition}` only, trained on the others"
        if setting.holdout_condition
        else ""
    }
- every profile runs on the same subject-level splits and seeds; no profile is tuned on the
  test subjects (equal tuning budget: none); goal: subject-mean RMSE at least 10 % below the
  baseline's (upper end of the paired 95% interval below -10 %) with no channel significantly
  worse
- profiles: {"; ".join(f"`{p}` {_profile_text(setting, p)}" for p in setting.profiles)}

"""
    return write_text(out / "report.md", header + "\n".join(parts))


def _reductions(setting: CompareSetting) -> str:
    bits = [
        f"{k} {v}"
        for k, v in (
            ("max epochs", setting.max_epochs),
            ("patience", setting.patience),
            ("folds", setting.n_folds),
        )
        if v is not None
    ]
    if setting.small_models:
        bits.append("the quick profile's model sizes")
    bits += [f"{name} subjects {', '.join(ids)}" for name, ids in setting.subjects.items()]
    return f"; reduced: {', '.join(bits)}" if bits else ""


def _ints(values: tuple[int, ...]) -> str:
    return ",".join(map(str, values))


def _profile_text(setting: CompareSetting, profile: str) -> str:
    cfg = setting.config(setting.targets[0], profile, 0)
    t = cfg.train
    batch = (
        f"batch <= {t.batch_size} with >= {t.steps_per_epoch} steps per epoch"
        if t.steps_per_epoch
        else f"batch {t.batch_size}"
    )
    inputs = "" if cfg.inputs == INPUT_COLS else f", inputs {input_set_name(cfg.inputs)}"
    init = f", starting from the {cfg.init} weights" if cfg.init else ""
    return f"(lr {t.lr:g}, {batch}, max {t.max_epochs} epochs, patience {t.patience}{inputs}{init})"
