"""Write a benchmark's tables (CSV, JSON) and its markdown summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gait2hip.conventions import SERIES_INPUTS, STATIC_INPUTS, get_target, input_set_name
from gait2hip.io.atomic import write_json, write_text
from gait2hip.training.config import MIN_AUTO_BATCH, BenchmarkConfig


def _input_counts(cols: tuple[str, ...]) -> str:
    """ "10 angles", "10 angles + 1 per-cycle scalar" or "10 angles + 3 ID series"."""
    n_series = sum(c in SERIES_INPUTS for c in cols)
    n_static = sum(c in STATIC_INPUTS for c in cols)
    text = f"{len(cols) - n_static - n_series} angles"
    text += f" + {n_series} ID series" if n_series else ""
    return text + (f" + {n_static} per-cycle scalar{'s' * (n_static > 1)}" if n_static else "")


def fmt(x: float, digits: int = 3) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def span(values, digits: int = 2) -> str:
    """``lo-hi`` of ``values`` to ``digits`` decimals (one value where both round alike)."""
    lo, hi = f"{np.nanmin(values):.{digits}f}", f"{np.nanmax(values):.{digits}f}"
    return lo if lo == hi else f"{lo}-{hi}"


def and_join(items) -> str:
    """``a``, ``a and b``, ``a, b and c``: a list in prose."""
    items = list(items)
    return " and ".join([", ".join(items[:-1]), items[-1]] if len(items) > 1 else items)


def headline_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per model: subject-mean metrics (mean ± sd over runs), CI, pooled, per-channel."""
    rows = []
    for model, g in summary.groupby("model", sort=False):
        row = {"model": model, "runs": len(g), "params": int(g["n_params"].iloc[0])}
        for k in ("rmse", "mae", "r2"):
            row[k] = g[f"subject_{k}"].mean()
            row[f"{k}_sd"] = g[f"subject_{k}"].std(ddof=1) if len(g) > 1 else np.nan
            row[f"{k}_ci_lo"] = g[f"subject_{k}_ci_lo"].mean()
            row[f"{k}_ci_hi"] = g[f"subject_{k}_ci_hi"].mean()
            row[f"pooled_{k}"] = g[f"pooled_{k}"].mean()
        row["channel_mean_r2"] = g["channel_mean_r2"].mean()
        row["channel_mean_nrmse_pct"] = g["channel_mean_nrmse_pct"].mean()
        row["final_epochs"] = " / ".join(map(str, g["final_epochs"]))
        row["folds_hit_max"] = int(g["folds_hit_max_epochs"].sum())
        row["s_per_epoch"] = g["seconds_per_epoch"].mean()
        row["coverage_90"] = g["coverage_90"].mean()
        # columns absent from run folders written before they were measured
        late = ("coverage_90_within", "ood_auroc", "pace_auroc", "size_auroc",
                "skill_vs_mean_curve", "ensemble_subject_rmse", "ensemble_subject_r2")  # fmt: skip
        for k in late:
            row[k] = g[k].mean() if k in g else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(df: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a markdown table, floats with ``digits`` decimals."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = [fmt(v, digits) if isinstance(v, float) else str(v) for v in r.tolist()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(
    out_dir: Path,
    cfg: BenchmarkConfig,
    tables: dict[str, pd.DataFrame],
    command: str,
    dataset: str,
) -> Path:
    out_dir = Path(out_dir)
    for name, df in tables.items():
        tmp = df.to_csv(index=False)
        write_text(out_dir / f"{name}.csv", tmp)
    head = headline_table(tables["summary"])
    write_json(
        out_dir / "metrics.json",
        {
            "headline": head.to_dict(orient="records"),
            "runs": tables["summary"].to_dict(orient="records"),
        },
    )
    target = get_target(cfg.target)
    u = target.train_unit
    paper = pd.DataFrame(
        {
            "model": head["model"],
            "params": head["params"],
            f"RMSE ({u})": [
                f"{fmt(r.rmse)}" + (f" ± {fmt(r.rmse_sd)}" if np.isfinite(r.rmse_sd) else "")
                for r in head.itertuples()
            ],
            f"MAE ({u})": [
                f"{fmt(r.mae)}" + (f" ± {fmt(r.mae_sd)}" if np.isfinite(r.mae_sd) else "")
                for r in head.itertuples()
            ],
            "R²": [
                f"{fmt(r.r2)}" + (f" ± {fmt(r.r2_sd)}" if np.isfinite(r.r2_sd) else "")
                for r in head.itertuples()
            ],
            "RMSE 95% CI": [f"{fmt(r.rmse_ci_lo)}–{fmt(r.rmse_ci_hi)}" for r in head.itertuples()],
            "R² 95% CI": [f"{fmt(r.r2_ci_lo)}–{fmt(r.r2_ci_hi)}" for r in head.itertuples()],
        }
    )
    honest = head[
        [
            "model",
            "pooled_rmse",
            "pooled_r2",
            "channel_mean_r2",
            "channel_mean_nrmse_pct",
            "final_epochs",
            "folds_hit_max",
            "s_per_epoch",
            "coverage_90",
            "coverage_90_within",
            "ood_auroc",
            "pace_auroc",
            "size_auroc",
            "skill_vs_mean_curve",
            "ensemble_subject_rmse",
            "ensemble_subject_r2",
        ]
    ]
    pc = tables["per_channel"].groupby(["channel", "model"], sort=False)[["rmse", "r2"]].mean()
    per_channel = pc.unstack("model")
    per_channel.columns = [
        f"{m} {k.upper() if k == 'rmse' else 'R²'}" for k, m in per_channel.columns
    ]
    per_channel = per_channel.reset_index()
    cond = (
        tables["per_condition"]
        .groupby(["condition", "model"], sort=False)[["rmse", "r2"]]
        .mean()
        .reset_index()
    )
    physics = _physics_section(tables.get("physics"))
    text = f"""# gait2hip benchmark: {cfg.target} ({u})

- data: `{dataset}`
- profile: `{cfg.profile}`; models: {", ".join(m.label for m in cfg.models)}
- inputs: `{input_set_name(cfg.inputs)}` ({_input_counts(cfg.inputs)}: {", ".join(cfg.inputs)}){
        " + their rates of change" if cfg.velocities else ""
    }
- training: lr {cfg.train.lr:g} ({cfg.train.lr_schedule}), batch {cfg.train.batch_size}{
        f" or less, >= {cfg.train.steps_per_epoch} steps per epoch (at least {MIN_AUTO_BATCH})"
        if cfg.train.steps_per_epoch
        else ""
    }, loss
  weighting {cfg.train.loss_weighting}{", non-negative outputs" if cfg.nonnegative else ""}{
        f", physical-consistency weight {cfg.train.physics_weight:g}"
        if cfg.train.physics_weight
        else ""
    }{f", time warps up to {cfg.train.time_warp:g} of the cycle" if cfg.train.time_warp else ""}
- protocol: {cfg.test_fraction:.0%} of subjects held out (split seeds {list(cfg.split_seeds)}),
  GroupKFold({cfg.n_folds}) by subject on the pool with early stopping (patience
  {cfg.train.patience}, max {cfg.train.max_epochs} epochs), final fit on the pool at the median
  best epoch; training seeds {list(cfg.seeds)}{
        f"; models start from the {cfg.init} weights" if cfg.init else ""
    }{
        f"; held-out condition: training on the others, testing on `{cfg.holdout_condition}` only"
        if cfg.holdout_condition
        else ""
    }
- command: `{command}`

## Test subjects, the study's metrics (subject-mean)

Mean over runs (± sd when there are several runs); 95% CI: bootstrap over test subjects
({cfg.n_bootstrap} resamples), averaged over runs. The study's R² pools all channels around
one mean; see the per-channel R² below for a stricter view.

{markdown_table(paper)}

## Pooled and per-channel summaries

`channel_mean_r2`: R² of each channel around its own mean, averaged over channels.
`channel_mean_nrmse_pct`: RMSE in % of each channel's reference range, averaged.
`folds_hit_max`: folds whose early stopping never triggered (under-trained).
`coverage_90`: share of test frames inside the nominal 90 % prediction interval (calibrated on
the pool's out-of-fold errors, widened by the disagreement with the study's published model of
the architecture where there is one); `coverage_90_within`: the same without that part.
`ood_auroc`: how well the out-of-distribution score tells the
test cycles from unseen cycles of the training population (0.5: not at all, as expected when
both come from one population; towards 1 under a shift, e.g. a held-out condition).
`pace_auroc`: the same for the pace check (each cycle's duration against the training
cycles'), which sees a change of walking speed that the time-normalised angles hide.
`size_auroc`: the same for the size check (the test subjects' body heights against the
training subjects').
`skill_vs_mean_curve`: 1 - the subject-mean RMSE over that of the training pool's mean curve
predicted for every test cycle (0: no better than ignoring the angles; flagged below 0.1).
`ensemble_subject_rmse` / `_r2`: the subject-mean metrics of the final and fold models
averaged, which `gait2hip predict` uses on a run folder (the tables above score the final
model alone, as the study does).

{markdown_table(honest)}

## Per channel (RMSE in {u}, R² around the channel's own mean)

{markdown_table(per_channel)}

## Per condition (subject-mean)

{markdown_table(cond)}
{physics}
Files: `summary.csv` (one row per run), `per_channel.csv`, `per_condition.csv`,
`per_subject.csv`, `metrics.json`, `figures/`, checkpoints in `split*/<model>/seed*/final.pt`.
"""
    return write_text(out_dir / "summary.md", text)


def _physics_section(physics: pd.DataFrame | None) -> str:
    """Σ moment arm × force against the labelled hip moment on the test cycles, per model,
    beside the labels' own residual (empty when the dataset has no moment arms)."""
    if physics is None or physics.empty:
        return ""
    who = np.where(physics["source"] == "labels", "labels (static optimization)", physics["model"])
    own = physics["source"] == "model_vs_own_moments"  # a joint model's forces vs its moments
    physics = physics.assign(who=np.where(own, who + " vs its own predicted moments", who))
    mean = physics.groupby(["who", "dof"], sort=False)[["rmse", "rmse_pct_range"]].mean()
    rmse = mean["rmse"].unstack("dof")
    table = pd.DataFrame({"forces from": rmse.index})
    for dof in rmse.columns:
        if dof != "all":
            table[f"{dof} (Nm/kg)"] = rmse[dof].to_numpy()
    table["all DOFs (Nm/kg)"] = rmse["all"].to_numpy()
    table["% of moment range"] = mean["rmse_pct_range"].unstack("dof")["all"].to_numpy()
    order = ["labels (static optimization)"] + [
        w for w in table["forces from"] if not w.startswith("labels")
    ]
    table = table.set_index("forces from").loc[order].reset_index()
    return f"""
## Physical consistency (test cycles)

RMSE of the hip moment the forces produce, Σ over the 14 groups of moment arm × force (the
dataset's per-frame arms), against the labelled hip moment (inverse dynamics), mean over runs
(a joint model's forces also against its own predicted moments).
The labels' own residual is the floor: reserve actuators, force-weighted group arms and
resampling. `physics.csv` has every run.

{markdown_table(table)}
"""
