"""The protocol end to end on small synthetic data: outputs, leakage, resume."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import gait2hip.training.protocol as protocol
from gait2hip.conventions import INPUT_COLS
from gait2hip.pipelines.benchmark import benchmark
from gait2hip.training.checkpoint import TrainedModel
from gait2hip.training.config import ModelSpec, make_config
from gait2hip.training.loop import fit
from gait2hip.training.protocol import RunConflictError

TINY = {
    "lstm": {"hidden": 8},
    "transformer": {"d_model": 8, "ff": 16, "heads": 2, "dropout": 0.0},
    "mamba": {"d_model": 8, "d_state": 4},
}


def tiny_config(models=("lstm", "transformer", "mamba"), **kw):
    cfg = make_config(
        "forces",
        list(models),
        "quick",
        train_overrides={"max_epochs": 3, "patience": 2, "lr": 3e-3},
        n_bootstrap=50,
        **kw,
    )
    return dataclasses.replace(cfg, model_overrides=TINY)


def test_benchmark_writes_every_output(forces, tmp_path):
    cfg = tiny_config()
    summary = benchmark(forces, cfg, tmp_path, command="test", show_progress=False)
    text = summary.read_text()
    for label in ("lstm-causal", "transformer-bidir", "mamba-causal"):
        assert label in text
        unit = tmp_path / "split42" / label / "seed2025"
        assert (unit / "final.pt").exists() and (unit / "predictions.npz").exists()
        assert len(list(unit.glob("fold*.json"))) == cfg.n_folds
        trained = TrainedModel.load(unit / "final.pt")
        meta = trained.meta
        assert not set(meta["train_subjects"]) & set(meta["test_subjects"])
        with np.load(unit / "predictions.npz") as z:
            assert set(z["subject_id"]) == set(meta["test_subjects"])
            np.testing.assert_allclose(
                trained.predict_per_kg(forces.X[np.isin(forces.subject_id, z["subject_id"])]),
                z["y_pred"],
                rtol=1e-5,
                atol=1e-5,
            )
    for name in (
        "summary.csv",
        "per_channel.csv",
        "per_condition.csv",
        "per_subject.csv",
        "metrics.json",
        "config.json",
        "figures/comparison.png",
        "figures/channel_r2.png",
        "figures/curves_mamba-causal.png",
    ):
        assert (tmp_path / name).exists(), name
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {r["model"] for r in metrics["headline"]} == {
        "lstm-causal",
        "transformer-bidir",
        "mamba-causal",
    }


def test_resume_redoes_only_missing_work(forces, tmp_path, monkeypatch):
    cfg = tiny_config(models=("lstm",))
    benchmark(forces, cfg, tmp_path, show_progress=False)
    unit = tmp_path / "split42" / "lstm-causal" / "seed2025"
    before = (unit / "fold0.json").read_text()
    (unit / "fold1.json").unlink()
    (unit / "final.pt").unlink()
    calls = []
    real = protocol._fold_fit

    def counting(*args, **kw):
        calls.append(args[5] is None)  # val is None -> final fit
        return real(*args, **kw)

    monkeypatch.setattr(protocol, "_fold_fit", counting)
    benchmark(forces, cfg, tmp_path, show_progress=False)
    assert calls == [False, True]  # fold 1 and the final fit, nothing else
    assert (unit / "fold0.json").read_text() == before
    assert not list(tmp_path.rglob("*.tmp"))


def test_resume_refuses_other_config(forces, tmp_path):
    from gait2hip.training.protocol import holds_other_run

    assert not holds_other_run(tmp_path, forces, tiny_config(models=("lstm",)))  # empty folder
    benchmark(forces, tiny_config(models=("lstm",)), tmp_path, show_progress=False)
    assert not holds_other_run(tmp_path, forces, tiny_config(models=("lstm",)))
    assert holds_other_run(tmp_path, forces, tiny_config(models=("mamba",)))
    with pytest.raises(RunConflictError, match="another config"):
        benchmark(forces, tiny_config(models=("mamba",)), tmp_path, show_progress=False)


def test_repeated_seeds_and_splits_give_sd(forces, tmp_path):
    cfg = tiny_config(models=("lstm",), seeds=(1, 2), split_seeds=(42, 7))
    summary = benchmark(forces, cfg, tmp_path, show_progress=False)
    assert "±" in summary.read_text()
    import pandas as pd

    runs = pd.read_csv(tmp_path / "summary.csv")
    assert len(runs) == 4 and set(runs["split_seed"]) == {42, 7}
    assert runs["coverage_90"].between(0, 1).all() and runs["ood_auroc"].between(0, 1).all()


def test_held_out_condition_trains_on_the_others_and_reports_the_shift(forces, tmp_path):
    """--hold-out-condition fast: no fast cycle in any fit, only fast cycles in the test
    predictions; the summary says so and carries the interval coverage and the OOD AUROC."""
    import json

    import pandas as pd

    cfg = tiny_config(models=("lstm",), holdout_condition="fast")
    summary = benchmark(forces, cfg, tmp_path, show_progress=False).read_text()
    assert "testing on `fast` only" in summary and "ood_auroc" in summary
    unit = tmp_path / "split42" / "lstm-causal" / "seed2025"
    with np.load(unit / "predictions.npz") as z:
        assert set(z["speed_label"]) == {"fast"}
    final = TrainedModel.load(unit / "final.pt")
    train = np.isin(forces.subject_id, final.meta["train_subjects"])
    fast = forces.speed_label == "fast"
    assert final.meta["n_train_cycles"] == int((train & ~fast).sum())
    cal = json.loads((unit / "calibration.json").read_text())
    assert 0 <= cal["test_ood_auroc"] <= 1
    assert json.loads((tmp_path / "config.json").read_text())["config"]["holdout_condition"] == (
        "fast"
    )
    runs = pd.read_csv(tmp_path / "summary.csv")
    assert np.isfinite(runs["coverage_90"]).all()


def test_auroc_by_hand():
    from gait2hip.inference.calibration import auroc

    assert auroc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert auroc(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 0.0
    assert auroc(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == 0.5
    assert np.isnan(auroc(np.array([]), np.array([1.0])))


def test_input_subset_recorded_and_enforced(forces, tmp_path):
    from gait2hip.conventions import INPUT_SETS
    from gait2hip.data.dataset import DataError

    ipsi = INPUT_SETS["ipsilateral"]
    cfg = tiny_config(models=("lstm",), inputs=ipsi)
    summary = benchmark(forces, cfg, tmp_path, show_progress=False)
    assert "inputs: `ipsilateral`" in summary.read_text()
    assert json.loads((tmp_path / "config.json").read_text())["config"]["inputs"] == list(ipsi)
    trained = TrainedModel.load(tmp_path / "split42" / "lstm-causal" / "seed2025" / "final.pt")
    assert trained.in_cols == ipsi and trained.model.config.in_dim == 5
    # named data: channels picked by name in any order; data lacking one is refused
    cols = list(forces.in_cols)[::-1]
    X = forces.X[:3][..., ::-1]
    ref = trained.predict_per_kg(forces.select_inputs(ipsi).X[:3])
    np.testing.assert_allclose(trained.predict_named(X, cols, "x.npz"), ref, rtol=1e-6)
    with pytest.raises(DataError, match=r"x\.npz: lacks input channels \['hip_flexion_r'\]"):
        trained.predict_named(X[..., :-1], cols[:-1], "x.npz")
    with pytest.raises(ValueError, match="takes \\(cycles, frames, 5\\)"):
        trained.predict_per_kg(forces.X[:3])


def test_all_inputs_keep_old_run_folders_resumable():
    cfg = tiny_config(models=("lstm",))
    assert "inputs" not in cfg.to_dict()  # config.json of runs made before input subsets


def test_resolve_inputs():
    from gait2hip.conventions import resolve_inputs

    assert resolve_inputs("all") == INPUT_COLS
    assert resolve_inputs("knee_angle_r, hip_flexion_r") == ("hip_flexion_r", "knee_angle_r")
    with pytest.raises(ValueError, match="unknown input channels"):
        resolve_inputs("hip_flexion")


def test_target_mismatch_refused(synthetic, tmp_path):
    with pytest.raises(ValueError, match="not the 'forces' target"):
        benchmark(synthetic["moments"], tiny_config(), tmp_path, show_progress=False)


def test_early_stopping_and_fixed_epochs(forces):
    from gait2hip.models import create_model
    from gait2hip.training.config import TrainConfig
    from gait2hip.training.normalize import InputScaler

    X = InputScaler.fit(forces.X).transform(forces.X)
    Y = forces.Y_per_kg
    cfg = TrainConfig(lr=1e-2, max_epochs=50, patience=2)
    model = create_model("lstm", hidden=8)
    res = fit(model, X[:20], Y[:20], cfg, seed=0, X_val=X[20:], Y_val=Y[20:])
    assert res.epochs_run < 50 or res.best_epoch >= 48
    assert res.epochs_run - res.best_epoch <= 2
    assert min(res.val_loss) == res.best_val_loss
    res2 = fit(create_model("lstm", hidden=8), X, Y, cfg, seed=0, epochs=4)
    assert res2.epochs_run == 4 and res2.val_loss == []
    with pytest.raises(ValueError, match="either"):
        fit(model, X, Y, cfg, seed=0)


def test_keep_start_keeps_weights_that_training_only_worsens(forces):
    """With keep_start the starting weights are epoch 0 of early stopping: a fit whose every
    epoch is worse on the validation data (a huge learning rate) returns them unchanged."""
    import copy

    from gait2hip.models import create_model
    from gait2hip.training.config import TrainConfig
    from gait2hip.training.normalize import InputScaler

    X = InputScaler.fit(forces.X).transform(forces.X)
    Y = forces.Y_per_kg
    good = create_model("lstm", hidden=8)
    fit(good, X[:20], Y[:20], TrainConfig(lr=1e-2, max_epochs=30), seed=0, epochs=30)
    start = copy.deepcopy(good.state_dict())
    cfg = TrainConfig(lr=50.0, grad_clip=0.0, max_epochs=5, patience=3)
    res = fit(good, X[:20], Y[:20], cfg, seed=0, X_val=X[20:], Y_val=Y[20:], keep_start=True)
    assert res.best_epoch == 0 and min(res.val_loss) > res.best_val_loss
    for name, value in good.state_dict().items():
        torch.testing.assert_close(value, start[name])
    worse = create_model("lstm", hidden=8)
    worse.load_state_dict(start)
    res = fit(worse, X[:20], Y[:20], cfg, seed=0, X_val=X[20:], Y_val=Y[20:])
    assert res.best_epoch >= 1  # without it an epoch is always kept


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fit_on_a_gpu_follows_the_cpu_and_leaves_the_model_on_the_cpu(forces):
    from gait2hip.models import create_model
    from gait2hip.training.config import TrainConfig
    from gait2hip.training.normalize import InputScaler

    X = InputScaler.fit(forces.X).transform(forces.X)
    Y, cfg = forces.Y_per_kg, TrainConfig(lr=1e-2, max_epochs=4, patience=10, time_warp=0.05)
    results = {}
    for device in ("cpu", "cuda"):
        torch.manual_seed(5)
        m = create_model("lstm", hidden=8)
        res = fit(m, X[:20], Y[:20], cfg, seed=1, X_val=X[20:], Y_val=Y[20:], device=device)
        assert all(p.device.type == "cpu" for p in m.parameters())
        results[device] = res
    # the same batches and warps (drawn on the CPU), only the kernels differ
    np.testing.assert_allclose(results["cuda"].train_loss, results["cpu"].train_loss, rtol=1e-3)
    np.testing.assert_allclose(results["cuda"].val_loss, results["cpu"].val_loss, rtol=1e-3)


def test_training_is_deterministic(forces):
    from gait2hip.models import create_model
    from gait2hip.training.config import TrainConfig

    cfg = TrainConfig(lr=1e-2)
    outs = []
    for _ in range(2):
        torch.manual_seed(5)
        m = create_model("transformer", d_model=8, ff=16, heads=2, dropout=0.1)
        fit(m, forces.X[:10] / 50, forces.Y_per_kg[:10], cfg, seed=1, epochs=2)
        outs.append([p.detach().clone() for p in m.parameters()])
    for a, b in zip(*outs, strict=True):
        assert torch.equal(a, b)


def test_loss_weighting_makes_small_channels_count():
    from gait2hip.training.loop import channel_weights

    Y = np.stack([np.random.default_rng(0).normal(0, s, (4, 30)) for s in (10.0, 1.0)], -1)
    w = channel_weights(Y, "inverse_variance")
    assert w.mean() == pytest.approx(1) and w[1] / w[0] == pytest.approx(
        Y[..., 0].var() / Y[..., 1].var(), rel=1e-4
    )
    assert (channel_weights(Y, "none") == 1).all()


def test_model_spec_parsing_and_variants():
    assert ModelSpec.parse("lstm") == ModelSpec("lstm", True)
    assert ModelSpec.parse("transformer") == ModelSpec("transformer", False)
    assert ModelSpec.parse("mamba:bidir") == ModelSpec("mamba", False)
    cfg = make_config("forces", ["lstm", "mamba"], "paper", both_variants=True)
    assert [m.label for m in cfg.models] == [
        "lstm-causal",
        "lstm-bidir",
        "mamba-causal",
        "mamba-bidir",
    ]
    assert cfg.train.lr == 1e-4 and cfg.train.patience == 30 and cfg.n_folds == 5
    with pytest.raises(ValueError, match="unknown model"):
        ModelSpec.parse("gru")


def test_recipe_options_recorded_and_old_configs_unchanged(forces, tmp_path):
    plain = tiny_config(models=("lstm",))
    d = plain.to_dict()  # settings added later stay out at their defaults (resumable folders)
    assert "velocities" not in d and "lr_schedule" not in d["train"]
    cfg = dataclasses.replace(
        plain, velocities=True, train=dataclasses.replace(plain.train, lr_schedule="cosine")
    )
    summary = benchmark(forces, cfg, tmp_path, show_progress=False)
    stored = json.loads((tmp_path / "config.json").read_text())["config"]
    assert stored["velocities"] is True and stored["train"]["lr_schedule"] == "cosine"
    assert "rates of change" in summary.read_text() and "(cosine)" in summary.read_text()
    model = TrainedModel.load(tmp_path / "split42" / "lstm-causal" / "seed2025" / "final.pt")
    assert model.model.config.velocities and model.model.features.out_dim == 20
    with pytest.raises(ValueError, match="lr_schedule"):
        dataclasses.replace(plain.train, lr_schedule="step")


def test_cosine_schedule_changes_only_later_epochs(forces):
    from gait2hip.models import create_model
    from gait2hip.training.config import TrainConfig

    X = (forces.X - forces.X.mean()) / forces.X.std()
    Y = forces.Y_per_kg

    def weights(schedule: str, epochs: int):
        torch.manual_seed(0)
        model = create_model("lstm", causal=True, hidden=8, out_dim=Y.shape[-1])
        cfg = TrainConfig(lr=1e-2, max_epochs=4, lr_schedule=schedule)
        fit(model, X, Y, cfg, seed=0, epochs=epochs)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(weights("constant", 1), weights("cosine", 1))  # epoch 1 at full lr
    assert not torch.allclose(weights("constant", 2), weights("cosine", 2))


def test_joint_model_predicts_both_and_reports_each_part(forces, tmp_path):
    """One model for forces and hip moments: non-negative forces by construction, the loss
    balanced between the parts by default, metrics per part in the report."""
    import pandas as pd

    from gait2hip.training.loop import channel_weights

    joint = forces.joint()
    cfg = tiny_config(models=("lstm",))
    balanced = dataclasses.replace(cfg.train, loss_weighting="balanced")
    cfg = dataclasses.replace(cfg, target="joint", train=balanced)
    assert make_config("joint", ["lstm"], "quick").train.loss_weighting == "balanced"
    summary = benchmark(joint, cfg, tmp_path, show_progress=False).read_text()
    assert "lstm-causal [forces]" in summary and "lstm-causal [moments]" in summary
    table = pd.read_csv(tmp_path / "summary.csv").set_index("part")
    assert table.loc["moments", "subject_rmse"] < 1.0 < table.loc["forces", "subject_rmse"]
    per_channel = pd.read_csv(tmp_path / "per_channel.csv")
    assert set(per_channel["model"]) == {"lstm-causal"} and len(per_channel) == 17
    with np.load(tmp_path / "split42" / "lstm-causal" / "seed2025" / "predictions.npz") as z:
        assert z["y_pred"].shape[-1] == 17 and (z["y_pred"][..., :14] >= 0).all()
    assert (tmp_path / "figures" / "curves_lstm-causal_moments.png").is_file()
    # balanced weights: each part divided by its mean channel variance (mean weight 1)
    Y = np.concatenate([np.full((2, 3, 2), 0.0), np.full((2, 3, 1), 0.0)], axis=2)
    Y[0, :, :2], Y[1, :, :2] = 10.0, -10.0  # variance 100 in the first part
    Y[0, :, 2], Y[1, :, 2] = 1.0, -1.0  # variance 1 in the second
    w = channel_weights(Y, "balanced", [(0, 1), (2,)])
    np.testing.assert_allclose(w / w[0], [1, 1, 100])
    np.testing.assert_allclose(channel_weights(Y, "balanced"), channel_weights(Y, "none"))


def test_time_warp_moves_inputs_and_labels_together():
    from gait2hip.training.config import TrainConfig
    from gait2hip.training.loop import time_warp

    gen = torch.Generator().manual_seed(0)
    frames = torch.linspace(0, 1, 50)
    X = torch.stack([torch.sin(2 * torch.pi * frames)] * 6)[..., None].repeat(1, 1, 2)
    Y = 3 * X[..., :1] + 1  # a frame-wise mapping the warp must keep
    arms = X[..., None].repeat(1, 1, 1, 3)  # 4-D extras (moment arms) warp alike
    same = time_warp([X, Y, arms], 0.0, gen)
    for a, b in zip(same, (X, Y, arms), strict=True):
        torch.testing.assert_close(a, b)
    wx, wy, wa = time_warp([X, Y, arms], 0.2, gen)
    torch.testing.assert_close(wy, 3 * wx[..., :1] + 1)
    torch.testing.assert_close(wa, wx[..., None].repeat(1, 1, 1, 3))
    assert not torch.allclose(wx, X)  # it did move frames
    torch.testing.assert_close(wx[:, [0, -1]], X[:, [0, -1]])  # the cycle's ends stay
    # the warp is monotone: a rising ramp stays rising
    ramp = frames.repeat(6, 1)[..., None]
    (warped,) = time_warp([ramp], 0.29, gen)
    assert (warped.diff(dim=1) > 0).all()
    with pytest.raises(ValueError, match="monotone"):
        TrainConfig(time_warp=0.4)


def test_time_warp_option_trains_and_is_recorded(forces, tmp_path):
    cfg = tiny_config(models=("lstm",))
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, time_warp=0.05))
    assert "time_warp" not in tiny_config().to_dict()["train"]  # older folders still resume
    summary = benchmark(forces, cfg, tmp_path, show_progress=False).read_text()
    assert "time warps up to 0.05 of the cycle" in summary
    stored = json.loads((tmp_path / "config.json").read_text())["config"]
    assert stored["train"]["time_warp"] == 0.05


def test_steps_per_epoch_sets_the_batch(forces, monkeypatch):
    from gait2hip.models import create_model
    from gait2hip.training.config import TrainConfig

    cfg = TrainConfig(batch_size=64, steps_per_epoch=4)
    assert [cfg.batch_for(n) for n in (10, 46, 100, 455, 1000)] == [8, 12, 25, 64, 64]
    assert TrainConfig(batch_size=64).batch_for(46) == 64  # off: the study's fixed batch
    with pytest.raises(ValueError, match="steps_per_epoch"):
        TrainConfig(steps_per_epoch=-1)
    # the recipe profile sets it; an explicit batch size switches it off
    recipe = make_config("forces", ["lstm"], "recipe")
    assert recipe.train.steps_per_epoch == 8 and recipe.train.lr == 1e-3
    explicit = make_config("forces", ["lstm"], "recipe", train_overrides={"batch_size": 16})
    assert explicit.train.steps_per_epoch == 0 and explicit.train.batch_for(400) == 16
    assert "steps_per_epoch" not in make_config("forces", ["lstm"], "paper").to_dict()["train"]
    # a profile may carry its inputs; given inputs win; the others keep the study's
    with_duration = make_config("forces", ["lstm"], "recipe-duration")
    assert with_duration.inputs == (*INPUT_COLS, "cycle_duration_s")
    assert with_duration.train == recipe.train
    assert with_duration.to_dict()["inputs"][-1] == "cycle_duration_s"
    assert (
        make_config("forces", ["lstm"], "recipe-duration", inputs=INPUT_COLS).inputs == INPUT_COLS
    )
    assert recipe.inputs == INPUT_COLS and "inputs" not in recipe.to_dict()

    steps = []
    real_step = torch.optim.AdamW.step
    monkeypatch.setattr(
        torch.optim.AdamW, "step", lambda self, *a, **k: steps.append(1) or real_step(self, *a, **k)
    )
    X = (forces.X[:40] - forces.X.mean()) / forces.X.std()
    fit(create_model("lstm", hidden=8, out_dim=14), X, forces.Y_per_kg[:40], cfg, seed=0, epochs=2)
    assert len(steps) == 2 * 4  # batch 10: four steps per epoch


def test_input_names_with_per_cycle_scalars():
    from gait2hip.conventions import input_set_name, resolve_inputs

    cols = resolve_inputs("cycle_duration_s,ipsilateral")
    assert cols[-1] == "cycle_duration_s" and len(cols) == 6
    assert input_set_name(cols) == "ipsilateral,cycle_duration_s"
    assert resolve_inputs("all") == resolve_inputs(",".join(resolve_inputs("all")))
    with pytest.raises(ValueError, match="at least one angle"):
        resolve_inputs("body_height_m")
    with pytest.raises(ValueError, match="unknown input channels"):
        resolve_inputs("all,cadence")


def test_summaries_measure_each_model_against_the_training_mean_curve(synthetic, tmp_path):
    """summary.csv carries skill_vs_mean_curve: 1 - subject RMSE / the RMSE of the training
    pool's mean curve predicted for every test cycle."""
    import dataclasses

    import pandas as pd

    from gait2hip.inference.calibration import Calibration
    from gait2hip.pipelines.benchmark import benchmark
    from gait2hip.training.metrics import subject_mean_metrics

    cfg = dataclasses.replace(tiny_config(models=("lstm",)), target="moments", n_folds=2)
    benchmark(synthetic["moments"], cfg, tmp_path, show_progress=False)
    row = pd.read_csv(tmp_path / "summary.csv").iloc[0]
    unit = tmp_path / "split42" / "lstm-causal" / "seed2025"
    with np.load(unit / "predictions.npz") as z:
        y, p, s = z["y_true"], z["y_pred"], z["subject_id"]
    curve = np.broadcast_to(Calibration.load(unit / "calibration.npz").norm_mean, y.shape)
    expected = 1 - subject_mean_metrics(y, p, s)["rmse"] / subject_mean_metrics(y, curve, s)["rmse"]
    assert row["skill_vs_mean_curve"] == pytest.approx(expected, rel=1e-6)


def test_summaries_score_the_ensemble_predict_uses(synthetic, tmp_path, monkeypatch):
    """summary.csv also scores the unit's ensemble (final and fold models averaged), exactly
    as `predict` on the run folder makes its predictions."""
    import dataclasses

    import pandas as pd

    from gait2hip.inference.predictor import load_predictor
    from gait2hip.pipelines.benchmark import benchmark
    from gait2hip.training.metrics import subject_mean_metrics

    cfg = dataclasses.replace(tiny_config(models=("lstm",)), target="moments", n_folds=2)
    benchmark(synthetic["moments"], cfg, tmp_path, show_progress=False)
    row = pd.read_csv(tmp_path / "summary.csv").iloc[0]
    pred = load_predictor(tmp_path)
    assert len(pred.members) == 3
    ds = synthetic["moments"]
    test = np.isin(ds.subject_id, pred.final.meta["test_subjects"])
    mean = pred.predict(ds.X[test], ds.height_m[test])[0]
    ens = subject_mean_metrics(ds.Y_per_kg[test], mean, ds.subject_id[test])
    assert row["ensemble_subject_rmse"] == pytest.approx(ens["rmse"], rel=1e-5)
    assert row["ensemble_subject_r2"] == pytest.approx(ens["r2"], rel=1e-5)
    assert row["ensemble_subject_rmse"] != pytest.approx(row["subject_rmse"], rel=1e-9)
    # kept beside the unit, so collecting the results again loads no checkpoint
    from gait2hip.training import protocol
    from gait2hip.training.checkpoint import TrainedModel

    unit = tmp_path / "split42" / "lstm-causal" / "seed2025"
    with np.load(unit / protocol.ENSEMBLE_FILE) as z:
        np.testing.assert_allclose(z["y_ens"], mean, rtol=1e-5, atol=1e-7)

    def refuse(*_):
        raise AssertionError("a checkpoint was loaded")

    with monkeypatch.context() as m:
        m.setattr(TrainedModel, "load", staticmethod(refuse))
        benchmark(synthetic["moments"], cfg, tmp_path, show_progress=False)
    again = pd.read_csv(tmp_path / "summary.csv").iloc[0]
    assert again["ensemble_subject_rmse"] == row["ensemble_subject_rmse"]
    # a checkpoint written again (retrained) is not served stale predictions
    (unit / "fold0.pt").touch()
    benchmark(synthetic["moments"], cfg, tmp_path, show_progress=False)
    with np.load(unit / protocol.ENSEMBLE_FILE) as z:
        assert json.loads(str(z["checkpoints"]))[1][2] == (unit / "fold0.pt").stat().st_mtime_ns


def test_batched_folds_give_the_folds_separate_fits_give(forces, tmp_path):
    """`--batched-folds`: each architecture's folds train as one model in one task (marked
    so); without dropout every fold's best epoch and validation losses are those of the run
    without it (float rounding apart), and the final fits follow."""
    from gait2hip.executor import Executor

    cfg = tiny_config()
    runs = {}
    for batched in (False, True):
        out = tmp_path / ("batched" if batched else "separate")
        ex = Executor(show_progress=False, batched_folds=batched)
        benchmark(forces, cfg, out, command="test", show_progress=False, executor=ex)
        runs[batched] = out
    for label in ("lstm-causal", "transformer-bidir", "mamba-causal"):
        for k in range(cfg.n_folds):
            a, b = (json.loads((runs[x] / "split42" / label / "seed2025" / f"fold{k}.json")
                               .read_text()) for x in (False, True))  # fmt: skip
            assert b["batched"] and "batched" not in a
            assert a["best_epoch"] == b["best_epoch"], (label, k)
            np.testing.assert_allclose(a["val_loss"], b["val_loss"], rtol=1e-3, err_msg=label)
        assert (runs[True] / "split42" / label / "seed2025" / "final.pt").exists()


def test_bfloat16_autocast_trains_every_architecture_close_to_float32(forces, tmp_path):
    """`--precision bf16`: every architecture trains under bfloat16 autocast (Mamba's scan
    in float32 inside it), its weights stay float32, the fold and final files say so, and
    the validation losses stay near the float32 run's without being identical."""
    from gait2hip.executor import Executor

    cfg = tiny_config()
    runs = {}
    for precision in ("float32", "bf16"):
        out = tmp_path / precision
        ex = Executor(show_progress=False, precision=precision)
        benchmark(forces, cfg, out, command="test", show_progress=False, executor=ex)
        runs[precision] = out
    for label in ("lstm-causal", "transformer-bidir", "mamba-causal"):
        unit = {p: runs[p] / "split42" / label / "seed2025" for p in runs}
        a, b = (json.loads((unit[p] / "fold0.json").read_text()) for p in ("float32", "bf16"))
        assert "precision" not in a and b["precision"] == "bfloat16"
        final = json.loads((unit["bf16"] / "final.json").read_text())
        assert final["precision"] == "bfloat16"
        np.testing.assert_allclose(a["val_loss"], b["val_loss"], rtol=0.1, err_msg=label)
        assert a["train_loss"] != b["train_loss"], label
        model = TrainedModel.load(unit["bf16"] / "final.pt").model
        assert all(p.dtype == torch.float32 for p in model.parameters())
