"""Accuracy metrics, the study's and more honest ones.

Study definition ("subject-mean"): for each test subject, flatten all its trials, frames
and channels into one vector; RMSE, MAE and R² = 1 - SS_res / SS_tot with SS_tot around
that vector's single mean (so all channels share one mean, which flatters R² when channels
differ in magnitude); then average over subjects.

Added here: pooled metrics (all test data at once), per-channel RMSE / MAE / R² (each
channel around its own mean) and normalised RMSE (% of the channel's reference range),
per-condition subject-means, and bootstrap 95% CIs over test subjects.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

METRICS = ("rmse", "mae", "r2")


def _flat_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    err = p - t
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": float(1.0 - np.sum(err**2) / ss_tot) if ss_tot > 0 else float("nan"),
    }


def per_subject_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, subject_id: np.ndarray
) -> pd.DataFrame:
    """One row per subject: the study's flattened RMSE / MAE / R² over its trials."""
    subject_id = np.asarray(subject_id)
    rows = []
    for s in np.unique(subject_id):
        m = subject_id == s
        rows.append({"subject": s, "n_trials": int(m.sum()), **_flat_metrics(y_true[m], y_pred[m])})
    return pd.DataFrame(rows)


def subject_mean_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, subject_id: np.ndarray
) -> dict[str, float]:
    """The study's headline numbers: per-subject metrics averaged over subjects."""
    per = per_subject_metrics(y_true, y_pred, subject_id)
    return {k: float(per[k].mean()) for k in METRICS}


#: A model whose subject-mean RMSE is not at least this fraction below the training mean
#: curve's (the same curve predicted for every cycle) has learnt little from the angles: it
#: is flagged wherever models are listed or chosen.
MIN_SKILL = 0.1


def skill_vs_mean_curve(
    y_true: np.ndarray, y_pred: np.ndarray, mean_curve: np.ndarray, subject_id: np.ndarray
) -> float:
    """1 - subject-mean RMSE of ``y_pred`` / that of the training mean curve ``mean_curve``
    (T, K) predicted for every cycle: 0 = no better than the mean curve, 1 = perfect."""
    base = np.broadcast_to(mean_curve, y_true.shape)
    rmse = subject_mean_metrics(y_true, y_pred, subject_id)["rmse"]
    return float(1.0 - rmse / subject_mean_metrics(y_true, base, subject_id)["rmse"])


def pooled_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """All test trials, frames and channels flattened together."""
    return _flat_metrics(y_true, y_pred)


def per_channel_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, cols: Sequence[str]
) -> pd.DataFrame:
    """Per channel over all test frames: RMSE, MAE, R² (around the channel's own mean) and
    normalised RMSE in % of the channel's reference range (max - min)."""
    rows = []
    for k, col in enumerate(cols):
        t, p = y_true[..., k], y_pred[..., k]
        m = _flat_metrics(t, p)
        rng = float(np.max(t) - np.min(t))
        m["nrmse_pct"] = 100.0 * m["rmse"] / rng if rng > 0 else float("nan")
        rows.append({"channel": col, **m})
    return pd.DataFrame(rows)


def per_condition_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, subject_id: np.ndarray, condition: np.ndarray
) -> pd.DataFrame:
    """Subject-mean metrics within each condition (e.g. cadence / speed label)."""
    condition = np.asarray(condition)
    rows = []
    for c in sorted(np.unique(condition).tolist()):
        m = condition == c
        rows.append(
            {
                "condition": c,
                "n_subjects": len(np.unique(subject_id[m])),
                "n_trials": int(m.sum()),
                **subject_mean_metrics(y_true[m], y_pred[m], subject_id[m]),
            }
        )
    return pd.DataFrame(rows)


def bootstrap_ci(
    per_subject_values: np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile CI of the subject mean, resampling subjects with replacement."""
    v = np.asarray(per_subject_values, dtype=np.float64)
    if len(v) < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def evaluate(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    subject_id: np.ndarray,
    condition: np.ndarray,
    cols: Sequence[str],
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, object]:
    """Every metric of one model on one test set (targets per kg)."""
    per_subject = per_subject_metrics(y_true, y_pred, subject_id)
    summary: dict[str, float] = {}
    for k in METRICS:
        summary[f"subject_{k}"] = float(per_subject[k].mean())
        lo, hi = bootstrap_ci(per_subject[k].to_numpy(), n_boot=n_boot, seed=seed)
        summary[f"subject_{k}_ci_lo"], summary[f"subject_{k}_ci_hi"] = lo, hi
    for k, v in pooled_metrics(y_true, y_pred).items():
        summary[f"pooled_{k}"] = v
    per_channel = per_channel_metrics(y_true, y_pred, cols)
    summary["channel_mean_r2"] = float(per_channel["r2"].mean())
    summary["channel_mean_nrmse_pct"] = float(per_channel["nrmse_pct"].mean())
    return {
        "summary": summary,
        "per_subject": per_subject,
        "per_channel": per_channel,
        "per_condition": per_condition_metrics(y_true, y_pred, subject_id, condition),
    }
