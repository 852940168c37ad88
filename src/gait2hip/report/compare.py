"""Tables and figures of a comparison of training profiles on the same splits and seeds.

Every run (model x split seed x seed) of the baseline profile is paired with the same run of
each other profile, so differences are paired and their 95% intervals are Student-t over runs.
With few runs those intervals are wide; a second pairing goes one level down, to each held-out
subject of each run (the same subject's cycles predicted by both profiles), its 95% interval
Student-t over those (run, subject) pairs: it holds the subjects' spread, not the spread between
training runs, so it is the sharper and the more optimistic of the two.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from gait2hip.conventions import get_target

KEYS = ["model", "split_seed", "seed"]
GOAL_PCT = -10.0  # the goal: subject-mean RMSE at least 10% below the study's recipe


def paired(delta: np.ndarray) -> tuple[float, float, float]:
    """Mean of paired differences and its 95% Student-t interval (nan with fewer than 2)."""
    delta = np.asarray(delta, float)
    m = float(delta.mean())
    if len(delta) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(delta) - 1) * delta.std(ddof=1) / np.sqrt(len(delta)))
    return m, m - half, m + half


def _fmt_ci(
    m: tuple[float, float, float], digits: int = 3, unit: str = "", signed: bool = True
) -> str:
    """``mean (lo to hi)``; the mean alone for one run (no interval), "—" without a value."""
    if np.isnan(m[0]):
        return "—"
    f = f"{'+' if signed else ''}.{digits}f"
    if np.isnan(m[1]):
        return f"{m[0]:{f}}{unit}"
    return f"{m[0]:{f}}{unit} ({m[1]:{f}} to {m[2]:{f}})"


def collect(folders: dict[str, list[Path]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-run test metrics and per-channel metrics of each profile's finished run folders
    (those with a summary.csv), with a ``profile`` column; the hip-moment residual of the
    model's forces (``residual_pct``, % of the moment range, all DOFs) where it was computed."""
    runs, channels = [], []
    for profile, dirs in folders.items():
        for folder in dirs:
            if not (folder / "summary.csv").exists():
                continue
            summary = pd.read_csv(folder / "summary.csv")
            if (folder / "physics.csv").exists():
                phys = pd.read_csv(folder / "physics.csv")
                phys = phys[(phys["source"] == "model") & (phys["dof"] == "all")]
                summary = summary.merge(
                    phys[[*KEYS, "rmse_pct_range"]].rename(
                        columns={"rmse_pct_range": "residual_pct"}
                    ),
                    on=KEYS,
                    how="left",
                )
            runs.append(summary.assign(profile=profile))
            channels.append(pd.read_csv(folder / "per_channel.csv").assign(profile=profile))
    if not runs:
        return pd.DataFrame(), pd.DataFrame()
    return pd.concat(runs, ignore_index=True), pd.concat(channels, ignore_index=True)


def collect_subjects(folders: dict[str, list[Path]]) -> pd.DataFrame:
    """Per held-out subject and run: the study's metrics (per_subject.csv) of each profile's
    finished run folders, with a ``profile`` column."""
    frames = [
        pd.read_csv(folder / "per_subject.csv", dtype={"subject": str}).assign(profile=profile)
        for profile, dirs in folders.items()
        for folder in dirs
        if (folder / "summary.csv").exists() and (folder / "per_subject.csv").exists()
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def subject_paired(subjects: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Each profile against the baseline subject by subject: Δ subject R² and Δ subject RMSE
    in % of the baseline's, means over the (run, subject) pairs with 95% t-intervals."""
    if subjects.empty:
        return pd.DataFrame()
    keys = [*KEYS, "subject"]
    base = subjects[subjects["profile"] == baseline].set_index(keys)
    rows = []
    others = subjects[subjects["profile"] != baseline]
    for (model, profile), d in others.groupby(["model", "profile"], sort=False):
        d = d.set_index(keys)
        common = d.index.intersection(base.index)
        if not len(common):
            continue
        b = base.loc[common]
        r2 = paired((d.loc[common, "r2"] - b["r2"]).to_numpy())
        pct = paired((100 * (d.loc[common, "rmse"] - b["rmse"]) / b["rmse"]).to_numpy())
        rows.append(
            {"model": model, "profile": profile, "pairs": len(common)}
            | {"delta_r2": r2[0], "delta_r2_lo": r2[1], "delta_r2_hi": r2[2]}
            | {"delta_pct": pct[0], "delta_pct_lo": pct[1], "delta_pct_hi": pct[2]}
        )
    return pd.DataFrame(rows)


def _paired_rows(
    table: pd.DataFrame, baseline: str, column: str, by: tuple[str, ...] = ()
) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
    """{(model, profile, *by): (differences, baseline values)} of ``column`` for every run
    of a non-baseline profile that has a baseline run with the same keys (model, split
    seed, seed, *by)."""
    keys = [*KEYS, *by]
    base = table[table["profile"] == baseline].set_index(keys)[column]
    out = {}
    others = table[table["profile"] != baseline]
    for group, d in others.groupby(["model", "profile", *by], sort=False):
        d = d.set_index(keys)[column]
        common = d.index.intersection(base.index)
        if len(common):
            out[group] = (
                (d.loc[common] - base.loc[common]).to_numpy(),
                base.loc[common].to_numpy(),
            )
    return out


def comparison_tables(
    runs: pd.DataFrame,
    channels: pd.DataFrame,
    baseline: str,
    n_folds: dict[str, int],
    subjects: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """``metrics``: each model and profile's mean test metrics over its runs with 95%
    intervals; ``paired``: each profile against the baseline (Δ RMSE in % of the baseline's,
    whether the goal is met, the channels that got significantly worse); ``channels``: the
    paired Δ of every channel's RMSE in % of the baseline's; ``channel_r2``: each channel's
    R² per model and profile, mean over runs; ``subject_paired``: each profile against the
    baseline subject by subject (:func:`subject_paired`, from ``subjects``)."""
    metrics = []
    for (model, profile), d in runs.groupby(["model", "profile"], sort=False):
        row = {"model": model, "profile": profile, "runs": len(d)}
        for col in ("subject_rmse", "subject_r2", "channel_mean_r2", "residual_pct"):
            if col in d and d[col].notna().any():
                m = paired(d[col].dropna().to_numpy())
                row |= {col: m[0], f"{col}_lo": m[1], f"{col}_hi": m[2]}
        row["folds_hit_max"] = int(d["folds_hit_max_epochs"].sum())
        row["folds"] = len(d) * n_folds[profile]
        if "train_seconds" in d:  # every fold and final fit of the runs, as the tasks timed them
            row["train_min"] = float(d["train_seconds"].sum() / 60)
        metrics.append(row)

    chan_rows = []
    for (model, profile, channel), (delta, base) in _paired_rows(
        channels, baseline, "rmse", ("channel",)
    ).items():
        m = paired(100 * delta / base)
        chan_rows.append(
            {"model": model, "profile": profile, "channel": channel, "runs": len(delta)}
            | {"delta_pct": m[0], "delta_pct_lo": m[1], "delta_pct_hi": m[2]}
        )
    chans = pd.DataFrame(chan_rows)

    residuals = _paired_rows(runs, baseline, "residual_pct") if "residual_pct" in runs else {}
    rows = []
    for (model, profile), (delta, base) in _paired_rows(runs, baseline, "subject_rmse").items():
        pct = paired(100 * delta / base)
        worse = (
            chans[
                (chans["model"] == model)
                & (chans["profile"] == profile)
                & (chans["delta_pct_lo"] > 0)
            ]["channel"].tolist()
            if len(chans)
            else []
        )
        row = (
            {"model": model, "profile": profile, "runs": len(delta)}
            | {"delta_rmse": paired(delta)[0]}
            | {"delta_pct": pct[0], "delta_pct_lo": pct[1], "delta_pct_hi": pct[2]}
            | {"goal_met": bool(pct[2] < GOAL_PCT) and not worse, "worse_channels": worse}
        )
        res = residuals.get((model, profile), (np.array([np.nan]), None))[0]
        if not np.isnan(res).all():
            m = paired(res[~np.isnan(res)])
            row |= {"delta_residual": m[0], "delta_residual_lo": m[1], "delta_residual_hi": m[2]}
        rows.append(row)
    channel_r2 = (
        channels.groupby(["model", "profile", "channel"], sort=False)["r2"].mean().reset_index()
    )
    return {
        "metrics": pd.DataFrame(metrics),
        "paired": pd.DataFrame(rows),
        "channels": chans,
        "channel_r2": channel_r2,
        "subject_paired": subject_paired(
            pd.DataFrame() if subjects is None else subjects, baseline
        ),
    }


def _verdict(row: pd.Series) -> str:
    if np.isnan(row["delta_pct_hi"]):
        return "one run: no interval"
    if row["goal_met"]:
        return "**goal met** (≥ 10 % better, no channel worse)"
    if row["delta_pct_hi"] < 0:
        return "better, goal not shown" + (
            f"; worse: {', '.join(row['worse_channels'])}" if row["worse_channels"] else ""
        )
    if row["delta_pct_lo"] > 0:
        return "worse"
    return "no significant difference"


def _channel_table(frame: pd.DataFrame, cells: list[str]) -> list[str]:
    """Markdown rows: one per channel, one column per model and profile."""
    columns = frame["model"] + " " + frame["profile"]
    wide = frame.assign(cell=cells, column=columns).pivot(
        index="channel", columns="column", values="cell"
    )
    wide = wide.reindex(
        index=list(dict.fromkeys(frame["channel"])), columns=list(dict.fromkeys(columns))
    )
    rows = ["| channel | " + " | ".join(wide.columns) + " |", "|---|" + "---|" * wide.shape[1]]
    return rows + [f"| {ch} | " + " | ".join(r.fillna("—")) + " |" for ch, r in wide.iterrows()]


def section_markdown(title: str, tables: dict[str, pd.DataFrame], target: str) -> str:
    """One dataset-and-target section of the comparison report."""
    unit = get_target(target).train_unit
    metrics, paired_t, chans = tables["metrics"], tables["paired"], tables["channels"]
    has_res = "residual_pct" in metrics
    has_time = "train_min" in metrics
    lines = [
        f"## {title}",
        "",
        "Test subjects, mean over runs (model × split seed × seed) with 95% t-intervals"
        + (
            "; training time summed over every fold and final fit (one thread each)"
            if has_time
            else ""
        )
        + ":",
        "",
        f"| model | profile | runs | subject RMSE ({unit}) | R² | channel-mean R² | "
        "folds at max epochs |"
        + (" hip-moment residual (% range) |" if has_res else "")
        + (" training (min) |" if has_time else ""),
        "|---|---|---|---|---|---|---|"
        + ("---|" if has_res else "")
        + ("---|" if has_time else ""),
    ]

    def ci(row: pd.Series, col: str, digits: int = 3, unit: str = "") -> str:
        values = tuple(row.get(c, np.nan) for c in (col, f"{col}_lo", f"{col}_hi"))
        return _fmt_ci(values, digits, unit, signed=col.startswith("delta"))

    for _, r in metrics.iterrows():
        lines.append(
            f"| {r['model']} | {r['profile']} | {r['runs']} | {ci(r, 'subject_rmse')} | "
            f"{ci(r, 'subject_r2')} | {ci(r, 'channel_mean_r2')} | "
            f"{r['folds_hit_max']}/{r['folds']} |"
            + (f" {ci(r, 'residual_pct', 1)} |" if has_res else "")
            + (f" {r['train_min']:.1f} |" if has_time else "")
        )
    if len(paired_t):
        res = "delta_residual" in paired_t
        lines += [
            "",
            "Paired against the baseline (same model, split and seed):",
            "",
            f"| model | profile | runs | Δ RMSE ({unit}) | Δ RMSE % (95% CI) | verdict |"
            + (" Δ residual (% range, 95% CI) |" if res else ""),
            "|---|---|---|---|---|---|" + ("---|" if res else ""),
        ]
        for _, r in paired_t.iterrows():
            lines.append(
                f"| {r['model']} | {r['profile']} | {r['runs']} | {r['delta_rmse']:+.3f} | "
                f"{ci(r, 'delta_pct', 1, ' %')} | {_verdict(r)} |"
                + (f" {ci(r, 'delta_residual', 1)} |" if res else "")
            )
    by_subject = tables.get("subject_paired", pd.DataFrame())
    if len(by_subject):
        lines += [
            "",
            "Paired subject by subject (each held-out subject of each run, predicted by both; "
            "95% t-intervals over those pairs, which hold the subjects' spread but not the "
            "spread between training runs):",
            "",
            "| model | profile | pairs | Δ subject R² (95% CI) | Δ subject RMSE % (95% CI) |",
            "|---|---|---|---|---|",
        ]
        for _, r in by_subject.iterrows():
            lines.append(
                f"| {r['model']} | {r['profile']} | {r['pairs']} | {ci(r, 'delta_r2')} | "
                f"{ci(r, 'delta_pct', 1, ' %')} |"
            )
    if len(chans):
        cells = [
            f"{d:+.1f}{'*' if (lo > 0 or hi < 0) else ''}"
            for d, lo, hi in zip(
                chans["delta_pct"], chans["delta_pct_lo"], chans["delta_pct_hi"], strict=True
            )
        ]
        lines += [
            "",
            "Per channel: Δ RMSE in % of the baseline's (paired mean; * the 95% interval "
            "excludes 0):",
            "",
            *_channel_table(chans, cells),
        ]
    r2 = tables["channel_r2"]
    lines += [
        "",
        "Per-channel R² (each channel around its own mean; mean over runs):",
        "",
        *_channel_table(r2, [f"{v:.2f}" for v in r2["r2"]]),
    ]
    return "\n".join(lines) + "\n"
