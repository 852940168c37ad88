"""The study's metric definitions, pinned on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from gait2hip.training.metrics import (
    bootstrap_ci,
    evaluate,
    per_channel_metrics,
    per_condition_metrics,
    pooled_metrics,
    subject_mean_metrics,
)


def case():
    # 2 subjects; subject A: 1 trial, subject B: 2 trials; 2 frames, 2 channels
    y_true = np.array(
        [
            [[1.0, 10.0], [3.0, 14.0]],  # A
            [[0.0, 2.0], [2.0, 2.0]],  # B
            [[0.0, 4.0], [2.0, 4.0]],  # B
        ]
    )
    y_pred = y_true.copy()
    y_pred[0] += np.array([[1.0, -1.0], [1.0, -1.0]])  # A: every error 1
    y_pred[1, 0, 0] += 2.0  # B: a single error of 2
    return y_true, y_pred, np.array(["A", "B", "B"])


def test_subject_mean_by_hand():
    y_true, y_pred, sid = case()
    # A: values 1,10,3,14 (mean 7): SS_tot = 36+9+16+49 = 110; errors all 1: SS_res = 4
    a = {"rmse": 1.0, "mae": 1.0, "r2": 1 - 4 / 110}
    # B: values 0,2,2,2,0,4,2,4 (mean 2): SS_tot = 4+0+0+0+4+4+0+4 = 16; SS_res = 4 over 8
    b = {"rmse": np.sqrt(4 / 8), "mae": 2 / 8, "r2": 1 - 4 / 16}
    m = subject_mean_metrics(y_true, y_pred, sid)
    for k in ("rmse", "mae", "r2"):
        assert m[k] == pytest.approx((a[k] + b[k]) / 2)


def test_pooled_by_hand():
    y_true, y_pred, _ = case()
    t = y_true.ravel()
    ss_tot = np.sum((t - t.mean()) ** 2)
    m = pooled_metrics(y_true, y_pred)
    assert m["rmse"] == pytest.approx(np.sqrt(8 / 12))
    assert m["mae"] == pytest.approx(6 / 12)
    assert m["r2"] == pytest.approx(1 - 8 / ss_tot)


def test_per_channel_uses_each_channels_own_mean():
    y_true, y_pred, _ = case()
    pc = per_channel_metrics(y_true, y_pred, ["c0", "c1"]).set_index("channel")
    # channel 0: values 1,3,0,2,0,2 (mean 4/3), errors 1,1,2,0,0,0
    t0 = np.array([1, 3, 0, 2, 0, 2.0])
    assert pc.loc["c0", "rmse"] == pytest.approx(np.sqrt(6 / 6))
    assert pc.loc["c0", "r2"] == pytest.approx(1 - 6 / np.sum((t0 - t0.mean()) ** 2))
    assert pc.loc["c0", "nrmse_pct"] == pytest.approx(100 * 1.0 / 3.0)
    # channel 1: values 10,14,2,2,4,4; errors -1,-1,0,0,0,0
    assert pc.loc["c1", "rmse"] == pytest.approx(np.sqrt(2 / 6))
    assert pc.loc["c1", "nrmse_pct"] == pytest.approx(100 * np.sqrt(2 / 6) / 12)


def test_study_r2_flatters_compared_with_per_channel():
    """A model that predicts only each channel's mean scores R² 0 per channel but a high
    pooled R² when channels differ in magnitude: the reference's weakness."""
    rng = np.random.default_rng(0)
    y_true = np.stack([rng.normal(0, 1, (5, 50)), rng.normal(100, 1, (5, 50))], -1)
    y_pred = np.broadcast_to(y_true.mean(axis=(0, 1)), y_true.shape)
    sid = np.array(["S"] * 5)
    assert subject_mean_metrics(y_true, y_pred, sid)["r2"] > 0.99
    assert per_channel_metrics(y_true, y_pred, ["a", "b"])["r2"].max() == pytest.approx(0, abs=1e-9)


def test_per_condition_and_bootstrap():
    y_true, y_pred, sid = case()
    cond = np.array(["slow", "fast", "slow"])
    pc = per_condition_metrics(y_true, y_pred, sid, cond).set_index("condition")
    assert pc.loc["fast", "n_subjects"] == 1 and pc.loc["slow", "n_subjects"] == 2
    assert pc.loc["fast", "rmse"] == pytest.approx(np.sqrt(4 / 4))
    lo, hi = bootstrap_ci(np.array([1.0, 2.0, 3.0, 4.0]), n_boot=4000, seed=0)
    assert 1.0 <= lo < 2.5 < hi <= 4.0
    assert bootstrap_ci(np.array([5.0, 5.0, 5.0])) == (5.0, 5.0)


def test_evaluate_collects_everything():
    y_true, y_pred, sid = case()
    out = evaluate(y_true, y_pred, sid, np.array(["a", "a", "b"]), ["c0", "c1"], n_boot=200)
    s = out["summary"]
    assert s["subject_rmse_ci_lo"] <= s["subject_rmse"] <= s["subject_rmse_ci_hi"]
    assert {"pooled_r2", "channel_mean_r2", "channel_mean_nrmse_pct"} <= set(s)
    assert len(out["per_subject"]) == 2 and len(out["per_channel"]) == 2
