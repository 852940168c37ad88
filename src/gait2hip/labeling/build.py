"""Build a labelled dataset: label every trial (in parallel, cached), apply QC, write the
study-format NPZ files, the QC table and a plot of all cycles.

Outputs in ``out_dir``: ``<name>_MF.npz`` (14 hip muscle group forces, N) and
``<name>_JM.npz`` (3 right-hip moments, N·m), ``qc.csv`` (every cycle, kept or excluded, and
every rejected cycle or failed trial with its reason), ``cycles.png`` and ``build.json``.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from gait2hip.conventions import (
    EXTRA_HIP_MOMENTS,
    EXTRA_MOMENT_ARMS,
    FORCE_COLS,
    INPUT_COLS,
    MOMENT_COLS,
    TARGETS,
)
from gait2hip.data.dataset import GaitDataset
from gait2hip.executor import Executor, Task
from gait2hip.io.atomic import atomic_path, write_json
from gait2hip.io.npz import write_npz
from gait2hip.labeling.sources import Source
from gait2hip.labeling.trial import (
    LabelSettings,
    TrialResult,
    TrialSpec,
    cache_key,
    label_trial,
    read_cached,
    resolve_settings,
    trial_dir,
)
from gait2hip.settings import DATASET_SUFFIX, dataset_file


@dataclass
class BuildReport:
    name: str
    out_dir: Path
    results: list[TrialResult]
    qc: pd.DataFrame
    seconds: float
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def n_kept(self) -> int:
        return int((self.qc["status"] == "kept").sum()) if len(self.qc) else 0

    def summary(self) -> str:
        failed = [r for r in self.results if not r.ok]
        cached = sum(r.cached for r in self.results)
        counts = self.qc["status"].value_counts().to_dict() if len(self.qc) else {}
        lines = [
            f"{self.name}: {len(self.results)} trials ({cached} from cache, {len(failed)} failed)"
            f" in {self.seconds:.0f} s",
            "cycles: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())),
        ]
        lines += [f"  failed {r.spec.label}: {r.error.splitlines()[0]}" for r in failed]
        return "\n".join(lines)


def _result_file(spec: TrialSpec, settings: LabelSettings, cache_root: Path) -> tuple[Path, ...]:
    """The file whose presence means the trial is labelled (none when its inputs are
    missing: the task then runs and reports why)."""
    try:
        return (trial_dir(spec, cache_root) / cache_key(spec, settings) / "result.json",)
    except Exception:
        return ()


def run_trials(
    specs: list[TrialSpec],
    settings: LabelSettings,
    cache_root: Path,
    *,
    workers: int = 1,
    executor: Executor | None = None,
) -> list[TrialResult]:
    """Label ``specs`` through ``executor`` (default: a local pool of ``workers`` processes;
    1 = this process). Trials already in the cache are read here, not sent to a worker; a
    trial whose worker died or raised (after the executor's retries) comes back failed."""
    cache_root = Path(cache_root).resolve()  # every worker and node sees the same folder
    executor = executor or Executor(workers=workers, show_progress=False)
    tasks = [
        Task(
            f"{s.dataset} {s.label}",
            label_trial,
            (s, settings, cache_root),
            _result_file(s, settings, cache_root),
        )
        for s in specs
    ]
    results = []
    for spec, task, outcome in zip(specs, tasks, executor.run(tasks, "labelling"), strict=True):
        if outcome.status == "done":
            results.append(outcome.value)
        elif outcome.status == "skipped":  # read here from the cache folder found above
            results.append(read_cached(spec, settings, task.outputs[0].parent))
        else:
            results.append(
                TrialResult(
                    spec,
                    ok=False,
                    error=f"worker failed {outcome.attempts} time(s): {outcome.error}",
                )
            )
    return results


def qc_table(results: list[TrialResult]) -> pd.DataFrame:
    """One row per cycle (kept or excluded by QC), rejected cycle and failed trial."""
    rows = []
    for r in results:
        base = {
            "subject": r.spec.subject,
            "trial": r.spec.trial,
            "condition": r.spec.condition,
        }
        if not r.ok:
            rows.append({**base, "status": "trial failed", "reason": r.error.splitlines()[0]})
            continue
        for c in r.cycles:
            status = "excluded" if c["exclude"] else "kept"
            rows.append({**base, **c, "status": status, "reason": c["exclude"]})
        for rej in r.rejected:
            rows.append(
                {
                    **base,
                    "side": rej["side"],
                    "t0": rej["t0"],
                    "status": "rejected",
                    "reason": rej["reason"],
                }
            )
        if not r.cycles and not r.rejected:
            rows.append({**base, "status": "rejected", "reason": "no gait cycle found"})
    df = pd.DataFrame(rows)
    if "exclude" in df:
        df = df.drop(columns="exclude")
    return df


@dataclass(frozen=True)
class LabelledCycle:
    """One labelled cycle: its trial, its QC row and its arrays (N, N·m, degrees)."""

    spec: TrialSpec
    qc: dict
    X: np.ndarray  # (T, 10)
    forces: np.ndarray  # (T, 14)
    moments: np.ndarray  # (T, 3)
    moment_arms: np.ndarray | None = None  # (T, 14, 3) group moment arms about the hip, m

    @property
    def kept(self) -> bool:
        return not self.qc["exclude"]


def load_cycles(results: list[TrialResult]) -> list[LabelledCycle]:
    """Every labelled cycle of the successful trials, kept or excluded by QC."""
    cycles = []
    for r in results:
        if not r.ok or not r.cycles:
            continue
        with np.load(r.labels_path()) as z:
            arrays = {k: z[k] for k in z.files}
        if tuple(arrays["in_cols"]) != INPUT_COLS:
            raise ValueError(f"{r.labels_path()}: unexpected input columns")
        for i, c in enumerate(r.cycles):
            arms = arrays[EXTRA_MOMENT_ARMS][i] if EXTRA_MOMENT_ARMS in arrays else None
            cycles.append(
                LabelledCycle(
                    r.spec, c, arrays["X"][i], arrays["forces"][i], arrays["moments"][i], arms
                )
            )
    return cycles


def assemble(cycles: list[LabelledCycle]) -> dict[str, GaitDataset]:
    """The kept cycles as two validated datasets (forces, moments)."""
    kept = [c for c in cycles if c.kept]
    if not kept:
        raise ValueError("no cycle passed QC; see qc.csv for the reasons")
    common = {
        "subject_id": [c.spec.subject for c in kept],
        "weight_kg": [c.spec.mass_kg for c in kept],
        "height_m": [c.spec.height_m for c in kept],
        "speed_label": [c.spec.condition for c in kept],
    }
    extra = {
        "trial": np.array([c.spec.trial for c in kept]),
        "side": np.array([c.qc["side"] for c in kept]),
        "cycle_t0": np.array([c.qc["t0"] for c in kept]),
        "cycle_t1": np.array([c.qc["t1"] for c in kept]),
    }
    # trials labelled before moment arms were recorded have none: then the dataset has none
    if all(c.moment_arms is not None for c in kept):
        extra[EXTRA_MOMENT_ARMS] = np.stack([c.moment_arms for c in kept])
    X = np.stack([c.X for c in kept])
    F = np.stack([c.forces for c in kept])
    M = np.stack([c.moments for c in kept])
    # the forces dataset carries the same cycles' hip moments for the physical check
    extras = {"forces": {**extra, EXTRA_HIP_MOMENTS: M}, "moments": extra}
    out = {}
    for target, Y, cols in (("forces", F, FORCE_COLS), ("moments", M, MOMENT_COLS)):
        ds = GaitDataset.from_arrays(
            X,
            Y,
            in_cols=INPUT_COLS,
            out_cols=cols,
            expected_out=TARGETS[target],
            **common,
        )
        out[target] = replace(ds, extra=extras[target])
    return out


def plot_cycles(cycles: list[LabelledCycle], path: Path) -> Path:
    """Every labelled cycle per channel (per kg) over the gait cycle: kept cycles in grey with
    their mean in black, cycles excluded by QC in red, so outliers stand out."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

    if not cycles:
        raise ValueError("no labelled cycle to plot")
    data = {
        "forces": np.stack([c.forces / c.spec.mass_kg for c in cycles]),
        "moments": np.stack([c.moments / c.spec.mass_kg for c in cycles]),
    }
    keep = np.array([c.kept for c in cycles])
    channels = [("moments", i, c) for i, c in enumerate(MOMENT_COLS)]
    channels += [("forces", i, c) for i, c in enumerate(FORCE_COLS)]
    ncols = 6
    nrows = int(np.ceil(len(channels) / ncols))
    fig = Figure(figsize=(3 * ncols, 2.3 * nrows))
    axes = fig.subplots(nrows, ncols, sharex=True)
    pct = np.linspace(0, 100, data["forces"].shape[1])
    for ax, (target, k, col) in zip(axes.flat, channels, strict=False):
        y = data[target][:, :, k]
        if keep.any():
            ax.plot(pct, y[keep].T, color="0.6", lw=0.6, alpha=0.7)
            ax.plot(pct, y[keep].mean(0), color="k", lw=1.5)
        if (~keep).any():
            ax.plot(pct, y[~keep].T, color="tab:red", lw=0.7, alpha=0.7)
        ax.set_title(f"{col} ({TARGETS[target].train_unit})", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(channels) :]:
        ax.axis("off")
    fig.suptitle(
        f"{int(keep.sum())} kept cycles (grey, mean black), {int((~keep).sum())} excluded by QC "
        "(red), over % gait cycle; reasons in qc.csv"
    )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


def build_dataset(
    source: Source,
    out_dir: Path,
    cache_root: Path,
    *,
    workers: int = 2,
    settings: LabelSettings | None = None,
    subjects: list[str] | None = None,
    show_progress: bool = True,
    executor: Executor | None = None,
) -> BuildReport:
    """Label, QC and write ``source`` as a study-format dataset in ``out_dir``.
    ``executor``: where trials are labelled (default: a local pool of ``workers``)."""
    settings = settings or source.settings
    specs = [s for s in source.specs if subjects is None or s.subject in subjects]
    if not specs:
        raise ValueError(f"{source.name}: no trials selected (subjects={subjects})")
    t0 = time.perf_counter()
    executor = executor or Executor(workers=workers, show_progress=show_progress)
    results = run_trials(specs, settings, cache_root, executor=executor)
    qc = qc_table(results)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = BuildReport(source.name, out_dir, results, qc, time.perf_counter() - t0)
    with atomic_path(out_dir / "qc.csv") as tmp:
        qc.to_csv(tmp, index=False)
    report.paths["qc"] = out_dir / "qc.csv"
    cycles = load_cycles(results)
    datasets = assemble(cycles)
    for target in DATASET_SUFFIX:
        report.paths[target] = write_npz(
            datasets[target], dataset_file(source.name, target, out_dir)
        )
    report.paths["plot"] = plot_cycles(cycles, out_dir / "cycles.png")
    timings: dict[str, list[float]] = {}
    for r in results:
        if r.ok and not r.cached:
            for step, sec in r.timings.items():
                timings.setdefault(step, []).append(sec)
    write_json(
        out_dir / "build.json",
        {
            "source": source.name,
            "description": source.description,
            "settings": asdict(settings),
            "so_solver_trials": dict(
                Counter(resolve_settings(r.spec, settings).so_solver for r in results if r.ok)
            ),
            "trials": len(results),
            "trials_failed": sum(not r.ok for r in results),
            "trials_cached": sum(r.cached for r in results),
            "cycles_kept": report.n_kept,
            "cycles_by_status": qc["status"].value_counts().to_dict() if len(qc) else {},
            "seconds": report.seconds,
            "executor": executor.describe(),
            "step_seconds_mean": {k: float(np.mean(v)) for k, v in timings.items()},
        },
    )
    report.paths["build"] = out_dir / "build.json"
    return report
