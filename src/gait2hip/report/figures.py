"""Benchmark figures: curves, per-channel R², model comparison. Drawn on matplotlib
``Figure`` objects, not pyplot, so that importing this module never changes the backend of a
notebook or an application that imports gait2hip."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from gait2hip.conventions import channel_label
from gait2hip.io.atomic import atomic_path


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    return path


def subplots(nrows: int = 1, ncols: int = 1, *, figsize, layout=None, **kw):
    """Like ``pyplot.subplots`` without pyplot: a Figure (saved with the Agg renderer) and
    its axes."""
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, **kw)


def plot_curves(
    y_true: np.ndarray, y_pred: np.ndarray, cols, unit: str, title: str, path: Path
) -> Path:
    """Reference vs predicted mean ± sd over test trials, one panel per channel."""
    k = len(cols)
    ncol = min(k, 4 if k > 3 else 3)
    nrow = int(np.ceil(k / ncol))
    fig, axes = subplots(
        nrow, ncol, figsize=(3.2 * ncol, 2.4 * nrow), squeeze=False, layout="constrained"
    )
    pct = np.linspace(0, 100, y_true.shape[1])
    for i, ax in enumerate(axes.ravel()):
        if i >= k:
            ax.axis("off")
            continue
        for arr, color, label in ((y_true, "k", "reference"), (y_pred, "tab:red", "predicted")):
            m, s = arr[..., i].mean(0), arr[..., i].std(0)
            ax.plot(pct, m, color=color, lw=1.4, label=label)
            ax.fill_between(pct, m - s, m + s, color=color, alpha=0.15, lw=0)
        ax.set_title(channel_label(cols[i], None if "|" in unit else unit), fontsize=8)
        ax.tick_params(labelsize=7)
        if i >= k - ncol:
            ax.set_xlabel("gait cycle (%)", fontsize=8)
    axes.ravel()[0].legend(fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


#: The lowest R² a bar chart shows; bars below are clipped and labelled with their value.
R2_FLOOR = -1.0


def plot_channel_r2(per_channel: pd.DataFrame, path: Path | None):
    """Grouped bars: R² per channel (around its own mean) for every model; the path when
    saved, else the figure."""
    pivot = per_channel.groupby(["channel", "model"], sort=False)["r2"].mean().unstack("model")
    fig, ax = subplots(figsize=(max(6, 0.55 * len(pivot) * max(1, pivot.shape[1] / 2)), 3.2))
    pivot.plot.bar(ax=ax, width=0.8)
    ax.set_ylabel("R² (per channel)")
    ax.axhline(0, color="k", lw=0.6)
    # one channel far below 0 would squash every other bar: clip the axis at R2_FLOOR and
    # write the clipped values on their bars
    low = float(np.nanmin(pivot.to_numpy()))
    ax.set_ylim(max(R2_FLOOR, min(0.0, low - 0.05)), 1)
    for i, (_, row) in enumerate(pivot.iterrows()):
        for j, value in enumerate(row):
            if value < R2_FLOOR:
                xpos = i - 0.4 + 0.8 * (j + 0.5) / len(row)
                ax.text(xpos, R2_FLOOR, f"{value:.1f}", rotation=90, fontsize=6,
                        ha="center", va="bottom")  # fmt: skip
    ax.legend(fontsize=7, ncol=3, frameon=False)
    ax.tick_params(axis="x", labelsize=8)
    return fig if path is None else _save(fig, path)


def plot_comparison(head: pd.DataFrame, unit: str, path: Path) -> Path:
    """Subject-mean RMSE and R² per model with bootstrap 95% CIs."""
    fig, axes = subplots(1, 2, figsize=(8, 3))
    x = np.arange(len(head))
    for ax, k, label in ((axes[0], "rmse", f"RMSE ({unit})"), (axes[1], "r2", "R² (study)")):
        lo = head[k] - head[f"{k}_ci_lo"]
        hi = head[f"{k}_ci_hi"] - head[k]
        ax.bar(x, head[k], yerr=[lo, hi], capsize=3, color="tab:blue", alpha=0.8)
        ax.set_xticks(x, head["model"], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(label)
    fig.suptitle("test subjects: subject-mean with bootstrap 95% CI", fontsize=10)
    return _save(fig, path)


#: The legend of the trial's own inverse-dynamics hip moments in a prediction's figure.
ID_LABEL = "inverse dynamics (mean)"


def plot_prediction(pred, path: str | Path | None = None):
    """Figure of a :class:`gait2hip.inference.result.Prediction` (see its ``plot``): one
    panel per channel of every target over the gait cycle; where the trial's own inverse
    dynamics was given, its mean hip moments over the cycles it covers on the moments'
    panels. Returns the path when saved, else the figure."""
    panels = [(t, j) for t in pred.targets.values() for j in range(len(t.cols))]
    ncol = 5 if len(panels) > 6 else 3
    nrow = int(np.ceil(len(panels) / ncol))
    fig, axes = subplots(
        nrow, ncol, figsize=(3.0 * ncol, 2.3 * nrow), squeeze=False, layout="constrained"
    )
    pct_label = f"{round(100 * pred.interval)}% interval"
    flags = pred.ood_flags
    measured = pred.measured_moments  # the trial's own inverse dynamics, where given
    if measured is not None:
        covered = np.isfinite(measured).all(axis=(1, 2))
        measured = measured[covered].mean(0) if covered.any() else None
    for i, ax in enumerate(axes.ravel()):
        if i >= len(panels):
            ax.axis("off")
            continue
        t, j = panels[i]
        x = np.linspace(0, 100, t.mean.shape[1])
        if t.norm_mean is not None and t.norm_sd is not None:
            m, s = t.norm_mean[:, j], t.norm_sd[:, j]
            ax.fill_between(x, m - s, m + s, color="0.8", lw=0, label=t.norm_label)
        for k in range(t.mean.shape[0]):
            ax.plot(
                x,
                t.mean[k, :, j],
                lw=0.6,
                color="tab:orange" if flags[k] else "tab:blue",
                alpha=0.5,
            )
        lo, hi = t.bounds(pred.interval)
        ax.fill_between(
            x,
            lo[..., j].mean(0),
            hi[..., j].mean(0),
            color="tab:red",
            alpha=0.2,
            lw=0,
            label=pct_label,
        )
        ax.plot(x, t.mean[..., j].mean(0), color="tab:red", lw=1.4, label="predicted mean")
        if t.target == "moments" and measured is not None:
            ax.plot(x, measured[:, j], color="black", lw=1.2, ls="--", label=ID_LABEL)
        # each panel names its own unit (a row may mix forces and moments) and sign
        ax.set_title(channel_label(t.cols[j], t.unit), fontsize=8)
        ax.tick_params(labelsize=7)
        if i >= len(panels) - ncol:
            ax.set_xlabel("gait cycle (%)", fontsize=8)
    # one legend for every panel's entries (the inverse dynamics' are on the moments' panels)
    entries = {}
    for ax in axes.ravel():
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    axes.ravel()[0].legend(entries.values(), entries.keys(), fontsize=6, frameon=False)
    n_ood = int(flags.sum())
    side = "right" if pred.side == "r" else "left"
    title = f"{pred.label or Path(pred.source).name}, {side} hip: {len(pred.kept)} cycles"
    if n_ood:
        title += f", {n_ood} outside the training distribution (orange)"
    fig.suptitle(title, fontsize=10)
    if path is None:
        return fig
    return _save(fig, Path(path))


def plot_lab_correction(correction, path: str | Path | None = None):
    """Figure of a :class:`gait2hip.inference.lab.LabCorrection` (see its ``plot``): per
    degree of freedom over the gait cycle, the lab's measured mean hip moment, the model's mean
    prediction for the same cycles, and the corrected mean prediction. Returns the path when
    saved, else the figure."""
    n = len(correction.dofs)
    fig, axes = subplots(1, n, figsize=(3.3 * n, 2.6), squeeze=False, layout="constrained")
    x = np.linspace(0, 100, correction.lab_mean.shape[0])
    corrected = correction.correct(correction.model_mean[None])[0]
    for j, ax in enumerate(axes[0]):
        ax.plot(x, correction.lab_mean[:, j], color="k", lw=1.6, label="lab's inverse dynamics")
        ax.plot(x, correction.model_mean[:, j], color="tab:blue", lw=1.2, label="model")
        ax.plot(x, corrected[:, j], color="tab:red", lw=1.2, ls="--", label="corrected")
        ax.axhline(0, color="0.7", lw=0.5)
        ax.set_title(channel_label(f"hip_{correction.dofs[j]}_r_moment", "Nm/kg"), fontsize=8)
        ax.set_xlabel("gait cycle (%)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=6, frameon=False)
    fig.suptitle(
        f"lab correction: means over {correction.cycles} cycles of {correction.subjects} "
        f"subject(s); {correction.weights()}",
        fontsize=9,
    )
    if path is None:
        return fig
    return _save(fig, Path(path))


def _model_panels(n: int, width: float = 3.6, height: float = 2.8):
    fig, axes = subplots(
        1, n, figsize=(width * n, height), squeeze=False, layout="constrained", sharey=True
    )
    return fig, axes.ravel()


METHOD_COLORS = {"zero-shot": "k", "fine-tune": "tab:red", "scratch": "tab:blue"}


def plot_learning_curve(curve: pd.DataFrame, group: str, unit: str, path: Path) -> Path:
    """Few-shot learning curve of one cohort group: subject-mean RMSE on the held-out
    subjects against k adaptation subjects, per method, mean and 95% CI over draws; one panel
    per model."""
    d = curve[curve["group"] == group]
    models = list(dict.fromkeys(d["model"]))
    fig, axes = _model_panels(len(models))
    for ax, model in zip(axes, models, strict=True):
        dm = d[d["model"] == model]
        for method, color in METHOD_COLORS.items():
            m = dm[dm["method"] == method].sort_values("k")
            if m.empty:
                continue
            ax.plot(m["k"], m["rmse"], "o-", color=color, lw=1.4, ms=4, label=method)
            ax.fill_between(m["k"], m["rmse_ci_lo"], m["rmse_ci_hi"], color=color, alpha=0.15)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(dm["k"].unique()), [str(k) for k in sorted(dm["k"].unique())])
        ax.set_title(model, fontsize=9)
        ax.set_xlabel(f"k {group} subjects used for adaptation", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel(f"subject-mean RMSE ({unit}), other subjects", fontsize=8)
    axes[0].legend(fontsize=7, frameon=False)
    fig.suptitle(f"few-shot adaptation, {group}: mean and 95% CI over draws", fontsize=10)
    return _save(fig, path)


def plot_ood_vs_error(cycles: pd.DataFrame, threshold: dict[str, float], unit: str, path: Path):
    """Per-cycle OOD score against per-cycle RMSE, coloured by group; one panel per model,
    the dashed line at the model's OOD warning threshold."""
    models = list(dict.fromkeys(cycles["model"]))
    fig, axes = _model_panels(len(models))
    groups = sorted(cycles["group"].unique())
    colors = dict(zip(groups, matplotlib.colormaps["tab10"].colors, strict=False))
    for ax, model in zip(axes, models, strict=True):
        dm = cycles[cycles["model"] == model]
        for g in groups:
            d = dm[dm["group"] == g]
            ax.scatter(d["ood_score"], d["rmse"], s=12, alpha=0.7, color=colors[g], label=g)
        if model in threshold:
            ax.axvline(threshold[model], color="0.4", ls="--", lw=0.8)
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("OOD score (Mahalanobis)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel(f"per-cycle RMSE ({unit})", fontsize=8)
    axes[0].legend(fontsize=7, frameon=False)
    fig.suptitle(
        "domain shift: OOD score vs error (dashed: 95th pct of unseen healthy)", fontsize=10
    )
    return _save(fig, path)


def plot_profiles(metrics: pd.DataFrame, unit: str, title: str, path: Path) -> Path:
    """Grouped bars: each model's subject-mean RMSE per profile with its 95% interval."""
    models = list(dict.fromkeys(metrics["model"]))
    profiles = list(dict.fromkeys(metrics["profile"]))
    width = 0.8 / len(profiles)
    fig, ax = subplots(figsize=(1.2 + 1.3 * len(models), 3.6))
    for i, profile in enumerate(profiles):
        d = metrics[metrics["profile"] == profile].set_index("model").reindex(models)
        err = np.vstack(
            [d["subject_rmse"] - d["subject_rmse_lo"], d["subject_rmse_hi"] - d["subject_rmse"]]
        )
        ax.bar(
            np.arange(len(models)) + (i - (len(profiles) - 1) / 2) * width,
            d["subject_rmse"],
            width,
            yerr=np.nan_to_num(err),
            capsize=3,
            label=profile,
        )
    ax.set_xticks(np.arange(len(models)), models, rotation=20, ha="right")
    ax.set_ylabel(f"subject-mean RMSE ({unit})")
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False)
    return _save(fig, path)


def plot_transfer(table: pd.DataFrame, path: Path) -> Path:
    """Subject-mean R² (study definition) with its 95% CI per source, one panel per
    architecture, one bar per profile (``table``: the transfer report's aggregated rows)."""
    models = list(dict.fromkeys(table["model"]))
    sources = list(dict.fromkeys(table["source"]))
    profiles = list(dict.fromkeys(table["profile"]))
    width = 0.8 / len(profiles)
    fig, axes = _model_panels(len(models), width=0.9 + 0.75 * len(sources), height=3.4)
    for ax, model in zip(axes, models, strict=True):
        for i, profile in enumerate(profiles):
            d = table[(table["model"] == model) & (table["profile"] == profile)]
            d = d.set_index("source").reindex(sources)
            err = np.vstack(
                [d["subject_r2"] - d["subject_r2_ci_lo"], d["subject_r2_ci_hi"] - d["subject_r2"]]
            )
            ax.bar(
                np.arange(len(sources)) + (i - (len(profiles) - 1) / 2) * width,
                d["subject_r2"].clip(lower=-0.5),
                width,
                yerr=np.nan_to_num(np.clip(err, 0, None)),
                capsize=2,
                label=profile,
            )
        ax.axhline(0, color="k", lw=0.6)
        ax.set_ylim(-0.5, 1)
        ax.set_xticks(np.arange(len(sources)), sources, rotation=30, ha="right", fontsize=8)
        ax.set_title(model, fontsize=10)
    axes[0].set_ylabel("subject-mean R² (study; clipped at -0.5)")
    axes[0].legend(frameon=False, fontsize=7)
    return _save(fig, path)
