"""The physical check: sum of group moment arm x force against the hip moment."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from gait2hip.conventions import EXTRA_HIP_MOMENTS, EXTRA_MOMENT_ARMS, HIP_COORDS
from gait2hip.pipelines.benchmark import benchmark
from gait2hip.training.physics import has_physics, muscle_hip_moment, residual_table
from tests.test_protocol import tiny_config


def test_muscle_hip_moment_by_hand():
    forces = np.array([[[10.0, 20.0]]])  # 1 cycle, 1 frame, 2 groups (N/kg)
    arms = np.array([[[[0.05, 0.0, -0.01], [-0.02, 0.03, 0.0]]]])  # m, about 3 hip DOFs
    # flexion 10*0.05 + 20*-0.02 = 0.1; adduction 0 + 0.6; rotation -0.1 + 0
    np.testing.assert_allclose(muscle_hip_moment(forces, arms)[0, 0], [0.1, 0.6, -0.1])
    with pytest.raises(ValueError, match="do not match"):
        muscle_hip_moment(forces, arms[:, :, :1])


def test_residual_table_zero_for_consistent_labels_and_known_error(rng):
    F = rng.uniform(0, 5, size=(4, 30, 14))
    arms = rng.normal(0, 0.03, size=(4, 30, 14, 3))
    M = muscle_hip_moment(F, arms)
    off = F.copy()
    off[..., 0] += 1.0  # +1 N/kg on group 0 moves each DOF's moment by arm_0
    table = residual_table({"labels": F, "model": off}, arms, M).set_index(["source", "dof"])
    assert np.allclose(table.loc["labels", "rmse"], 0.0, atol=1e-12)
    for k, dof in enumerate(HIP_COORDS):
        expected = np.sqrt((arms[..., 0, k] ** 2).mean())
        assert table.loc[("model", dof), "rmse"] == pytest.approx(expected)
        span = M[..., k].max() - M[..., k].min()
        assert table.loc[("model", dof), "rmse_pct_range"] == pytest.approx(100 * expected / span)


def test_benchmark_reports_physical_residual(forces, tmp_path, rng):
    """A forces dataset with moment arms and hip moments (made consistent with its labels)
    gets a physics table: the labels' residual is 0, the models' is not."""
    arms = rng.normal(0, 0.03, size=(*forces.Y.shape, 3)).astype(np.float32)
    moments = muscle_hip_moment(forces.Y, arms).astype(np.float32)  # N·m, as the labels
    ds = dataclasses.replace(
        forces, extra={**forces.extra, EXTRA_MOMENT_ARMS: arms, EXTRA_HIP_MOMENTS: moments}
    )
    assert has_physics(ds) and not has_physics(forces)
    summary = benchmark(ds, tiny_config(models=("lstm",)), tmp_path, show_progress=False)
    assert "## Physical consistency" in summary.read_text()
    phys = pd.read_csv(tmp_path / "physics.csv").set_index(["source", "dof"])
    assert phys.loc[("labels", "all"), "rmse"] < 1e-4  # float32 storage
    assert phys.loc[("model", "all"), "rmse"] > 10 * phys.loc[("labels", "all"), "rmse"]
    # without the extras: no section, no file
    other = tmp_path / "plain"
    text = benchmark(forces, tiny_config(models=("lstm",)), other, show_progress=False)
    assert "Physical consistency" not in text.read_text()
    assert not (other / "physics.csv").exists()


def _consistent(forces, rng):
    """``forces`` with moment arms (one per group and DOF, as structured as real arms, which
    change smoothly and alike from cycle to cycle) and hip moments consistent with its labels.
    (Arms drawn afresh for every frame would make the residual a random projection of the
    force error, which the MSE alone already minimises.)"""
    per_group = rng.normal(0, 0.03, size=(1, 1, forces.Y.shape[-1], 3))
    arms = np.broadcast_to(per_group, (*forces.Y.shape, 3)).astype(np.float32)
    moments = muscle_hip_moment(forces.Y, arms).astype(np.float32)  # N·m, as the labels
    return dataclasses.replace(
        forces, extra={**forces.extra, EXTRA_MOMENT_ARMS: arms, EXTRA_HIP_MOMENTS: moments}
    )


def test_consistency_loss_by_hand():
    import torch

    from gait2hip.training.loop import _loss

    pred = torch.tensor([[[10.0, 20.0]]])
    y = torch.tensor([[[11.0, 20.0]]])
    arms = torch.tensor([[[[0.05, 0.0, -0.01], [-0.02, 0.03, 0.0]]]])
    moments = torch.tensor([[[0.0, 0.6, 0.2]]])  # the forces give (0.1, 0.6, -0.1)
    mse = (1.0**2 + 0.0) / 2
    resid = (0.1**2 + 0.0 + 0.3**2) / 3
    w = torch.ones(2)
    assert float(_loss(pred, y, w, (arms, moments), 0.0)) == pytest.approx(mse)
    assert float(_loss(pred, y, w, (arms, moments), 4.0)) == pytest.approx(mse + 4 * resid)


def test_physics_loss_lowers_the_residual_and_is_checked(forces, tmp_path, rng):
    from gait2hip.training.loop import fit

    ds = _consistent(forces, rng)
    base = tiny_config(models=("lstm",))
    small = dataclasses.replace(base.train, max_epochs=25, patience=25, batch_size=4)
    base = dataclasses.replace(base, train=small)
    strong = dataclasses.replace(base, train=dataclasses.replace(small, physics_weight=1e3))
    assert "physics_weight" not in base.to_dict()["train"]  # older run folders still resume
    assert strong.to_dict()["train"]["physics_weight"] == 1e3
    residual = {}
    for name, cfg in (("plain", base), ("physics", strong)):
        summary = benchmark(ds, cfg, tmp_path / name, show_progress=False)
        phys = pd.read_csv(tmp_path / name / "physics.csv").set_index(["source", "dof"])
        residual[name] = phys.loc[("model", "all"), "rmse"]
    assert "physical-consistency weight 1000" in summary.read_text()
    assert residual["physics"] < 0.75 * residual["plain"], residual  # measured 0.61
    with pytest.raises(ValueError, match="physics-loss needs a forces dataset"):
        benchmark(forces, strong, tmp_path / "no-arms", show_progress=False)
    with pytest.raises(ValueError, match="moment arms and hip moments"):
        fit(None, ds.X, ds.Y_per_kg, strong.train, seed=0, epochs=1)
    with pytest.raises(ValueError, match="physics_weight"):
        dataclasses.replace(base.train, physics_weight=-1.0)


def test_joint_model_checks_its_forces_against_both_moments(forces, tmp_path, rng):
    ds = _consistent(forces, rng).joint()  # the labels' moments are the arms' sum exactly
    cfg = tiny_config(models=("lstm",))
    train = dataclasses.replace(cfg.train, loss_weighting="balanced", physics_weight=1.0)
    joint_cfg = dataclasses.replace(cfg, target="joint", train=train)
    summary = benchmark(ds, joint_cfg, tmp_path, show_progress=False)
    phys = pd.read_csv(tmp_path / "physics.csv")
    assert set(phys["source"]) == {"labels", "model", "model_vs_own_moments"}
    assert set(phys["model"]) == {"lstm-causal [forces]"}
    assert "vs its own predicted moments" in summary.read_text()
