"""Benchmark figures (matplotlib, Agg backend): curves, per-channel R², model comparison."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from gait2hip.io.atomic import atomic_path


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def plot_curves(
    y_true: np.ndarray, y_pred: np.ndarray, cols, unit: str, title: str, path: Path
) -> Path:
    """Reference vs predicted mean ± sd over test trials, one panel per channel."""
    k = len(cols)
    ncol = min(k, 4 if k > 3 else 3)
    nrow = int(np.ceil(k / ncol))
    fig, axes = plt.subplots(
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
        ax.set_title(cols[i], fontsize=9)
        ax.tick_params(labelsize=7)
        if i % ncol == 0:
            ax.set_ylabel(unit, fontsize=8)
        if i >= k - ncol:
            ax.set_xlabel("gait cycle (%)", fontsize=8)
    axes.ravel()[0].legend(fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_channel_r2(per_channel: pd.DataFrame, path: Path) -> Path:
    """Grouped bars: R² per channel (around its own mean) for every model."""
    pivot = per_channel.groupby(["channel", "model"], sort=False)["r2"].mean().unstack("model")
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(pivot) * max(1, pivot.shape[1] / 2)), 3.2))
    pivot.plot.bar(ax=ax, width=0.8)
    ax.set_ylabel("R² (per channel)")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_ylim(min(0, float(np.nanmin(pivot.to_numpy())) - 0.05), 1)
    ax.legend(fontsize=7, ncol=3, frameon=False)
    ax.tick_params(axis="x", labelsize=8)
    return _save(fig, path)


def plot_comparison(head: pd.DataFrame, unit: str, path: Path) -> Path:
    """Subject-mean RMSE and R² per model with bootstrap 95% CIs."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    x = np.arange(len(head))
    for ax, k, label in ((axes[0], "rmse", f"RMSE ({unit})"), (axes[1], "r2", "R² (study)")):
        lo = head[k] - head[f"{k}_ci_lo"]
        hi = head[f"{k}_ci_hi"] - head[k]
        ax.bar(x, head[k], yerr=[lo, hi], capsize=3, color="tab:blue", alpha=0.8)
        ax.set_xticks(x, head["model"], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(label)
    fig.suptitle("test subjects: subject-mean with bootstrap 95% CI", fontsize=10)
    return _save(fig, path)
