"""The transfer report: one table of every model on every source (see
:mod:`gait2hip.pipelines.transfer`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gait2hip.conventions import Target
from gait2hip.io.atomic import write_text
from gait2hip.report.figures import plot_transfer
from gait2hip.report.summary import fmt, markdown_table

#: Columns averaged over a cell's runs (split seeds x seeds).
MEANS = (
    "subject_r2",
    "subject_r2_ci_lo",
    "subject_r2_ci_hi",
    "subject_rmse",
    "subject_rmse_ci_lo",
    "subject_rmse_ci_hi",
    "pooled_r2",
    "channel_mean_r2",
    "coverage_90",
    "coverage_90_within",
    "interval_width_90",
    "interval_width_90_within",
    "ood_auroc",
    "pace_auroc",
    "size_auroc",
    "skill_vs_mean_curve",
)


def aggregate(runs: pd.DataFrame, profiles: tuple[str, ...], target: Target) -> pd.DataFrame:
    """One row per (source, profile, model): the mean of each metric over its runs."""
    cols = [c for c in (*MEANS, *(f"r2_{c}" for c in target.cols)) if c in runs]
    table = (
        runs.groupby(["source", "profile", "model"], sort=False)[cols]
        .mean()
        .join(runs.groupby(["source", "profile", "model"], sort=False).size().rename("runs"))
        .reset_index()
    )
    # sources in the order they were run, profiles in the given order
    ranks = {
        "source": {s: i for i, s in enumerate(dict.fromkeys(runs["source"]))},
        "profile": {p: i for i, p in enumerate(profiles)},
    }
    return table.sort_values(
        ["source", "model", "profile"],
        key=lambda c: c.map(ranks[c.name]) if c.name in ranks else c,
        kind="stable",
    ).reset_index(drop=True)


def ci_text(row, k: str) -> str:
    return f"{fmt(row[k])} ({fmt(row[f'{k}_ci_lo'])} to {fmt(row[f'{k}_ci_hi'])})"


def compact_table(table: pd.DataFrame, profiles: tuple[str, ...]) -> pd.DataFrame:
    """Subject-mean R² (study definition): one row per source and model, one column per
    profile (in the given order)."""
    compact = table.pivot_table(
        index=["source", "model"], columns="profile", values="subject_r2", sort=False
    )
    return compact[[p for p in profiles if p in compact.columns]].reset_index()


def detail_table(table: pd.DataFrame, target: Target) -> pd.DataFrame:
    """Every metric of the aggregated table (:func:`aggregate`), for markdown."""
    return pd.DataFrame(
        {
            "source": table["source"],
            "profile": table["profile"],
            "model": table["model"],
            "runs": table["runs"],
            "R² study (95% CI)": [ci_text(r, "subject_r2") for _, r in table.iterrows()],
            f"RMSE {target.train_unit} (95% CI)": [
                ci_text(r, "subject_rmse") for _, r in table.iterrows()
            ],
            **{f"R² {c}": table.get(f"r2_{c}", np.nan) for c in target.cols},
            "90% coverage": table["coverage_90"],
            "90% coverage, within-population interval": table.get("coverage_90_within", np.nan),
            "90% width ratio": table.get("interval_width_90", np.nan)
            / table.get("interval_width_90_within", np.nan),
            "OOD AUROC": table["ood_auroc"],
            "pace AUROC": table.get("pace_auroc", np.nan),
            "size AUROC": table.get("size_auroc", np.nan),
            "skill vs mean curve": table.get("skill_vs_mean_curve", np.nan),
        }
    )


def write_transfer_report(
    runs: pd.DataFrame,
    profiles: tuple[str, ...],
    target: Target,
    out: Path,
    *,
    command: str = "",
    cohort: str | None = None,
    describe: str = "",
) -> Path:
    """transfer.csv (every run), transfer_table.csv (aggregated), transfer.md and
    figures/transfer.png in ``out``; returns transfer.md."""
    out = Path(out)
    write_text(out / "transfer.csv", runs.to_csv(index=False))
    table = aggregate(runs, profiles, target)
    write_text(out / "transfer_table.csv", table.to_csv(index=False))
    fig = plot_transfer(table, out / "figures" / "transfer.png")
    u = target.train_unit
    compact = compact_table(table, profiles)
    detail = detail_table(table, target)
    text = f"""# gait2hip transfer: {target.name} ({u})

- command: `{command or "(library call)"}`
- training data: {describe}
- sources: `in-lab` = held-out subjects of the training data; `A → B` = trained on condition A
  only, tested on condition B of held-out subjects; cohort groups = the in-lab models
  zero-shot{f" on {cohort}" if cohort else ""}
- profiles: {", ".join(f"`{p}`" for p in profiles)} (same splits and seeds for all); each cell
  is the mean over its runs (split seeds x seeds); CIs: bootstrap over test subjects, averaged
- R² study: subject-mean R² around one pooled mean (the study's definition; flattering);
  per-DOF R²: each DOF around its own mean. 90% coverage: share of test frames inside the
  calibrated 90 % interval; within-population interval: the same without the disagreement
  with the study's published model (residuals of unseen subjects of the training population
  only), and the width ratio of the two (docs/transfer.md, intervals). OOD AUROC: how well
  the out-of-distribution score tells the test cycles from unseen cycles of the training
  population (~0.5 in-lab, the higher the better under a shift); pace AUROC: the same for
  the pace check (measured cycle durations against the training cycles'; none where the data
  give none or they were assumed); size AUROC: the same for the size check (body heights
  against the training subjects'); skill vs mean
  curve: 1 - subject RMSE / that of the training data's mean curve predicted for every cycle
  (0: no better than ignoring the angles)

## Subject-mean R² (study definition) per source and model

{markdown_table(compact)}

## Every metric

{markdown_table(detail)}

![transfer](figures/{fig.name})
"""
    return write_text(out / "transfer.md", text)
