"""Run the protocol and write every output of a benchmark run folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gait2hip.conventions import get_target, target_parts
from gait2hip.data.dataset import GaitDataset
from gait2hip.executor import Executor
from gait2hip.report.figures import plot_channel_r2, plot_comparison, plot_curves
from gait2hip.report.summary import headline_table, write_report
from gait2hip.training.config import BenchmarkConfig
from gait2hip.training.protocol import results_tables, run_benchmark


def benchmark(
    ds: GaitDataset,
    cfg: BenchmarkConfig,
    out_dir: str | Path,
    *,
    command: str = "",
    show_progress: bool = True,
    executor: Executor | None = None,
) -> Path:
    """Run (or resume) ``cfg`` on ``ds`` into ``out_dir``; returns the summary.md path.
    ``executor``: where the folds and final fits run (default: here, one after another)."""
    out_dir = Path(out_dir)
    results = run_benchmark(ds, cfg, out_dir, show_progress=show_progress, executor=executor)
    tables = results_tables(results)
    summary = write_report(out_dir, cfg, tables, command=command, dataset=ds.source)
    target = get_target(cfg.target)
    parts = target_parts(target)
    figs = out_dir / "figures"
    first_split, first_seed = cfg.split_seeds[0], cfg.seeds[0]
    for r in results:
        if r.split_seed == first_split and r.seed == first_seed:
            idx = list(parts[r.part or target.name])
            name = r.spec.label + (f"_{r.part}" if r.part else "")
            with np.load(r.unit_dir / "predictions.npz") as z:
                plot_curves(
                    z["y_true"][..., idx],
                    z["y_pred"][..., idx],
                    [ds.out_cols[i] for i in idx],
                    get_target(r.part).train_unit if r.part else target.train_unit,
                    f"{r.label}: test subjects, mean ± sd",
                    figs / f"curves_{name}.png",
                )
    plot_channel_r2(tables["per_channel"], figs / "channel_r2.png")
    plot_comparison(headline_table(tables["summary"]), target.train_unit, figs / "comparison.png")
    return summary
