"""The phase-linear model: its closed-form ridge fit per frame, the regularisation path the
training loop walks in place of epochs, and the protocol end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gait2hip.models import create_model
from gait2hip.pipelines.benchmark import benchmark
from gait2hip.training.checkpoint import TrainedModel
from gait2hip.training.config import ModelSpec, TrainConfig, make_config
from gait2hip.training.loop import fit


def reference_ridge(X, Y, alpha, window):
    """Frame by frame in numpy: inputs standardised over the cycles' frames t - window ..
    t + window (cyclic), ridge of strength alpha per sample, intercept unpenalised."""
    T, C = X.shape[1:]
    pred_w, pred_b = np.empty((T, C, Y.shape[-1])), np.empty((T, Y.shape[-1]))
    for t in range(T):
        frames = [(t + d) % T for d in range(-window, window + 1)]
        A = X[:, frames].reshape(-1, C)
        B = Y[:, frames].reshape(-1, Y.shape[-1])
        mu, sd = A.mean(0), A.std(0)
        Z = (A - mu) / sd
        coef = np.linalg.solve(Z.T @ Z + alpha * len(A) * np.eye(C), Z.T @ (B - B.mean(0)))
        pred_w[t] = coef / sd[:, None]
        pred_b[t] = B.mean(0) - mu @ pred_w[t]
    return pred_w, pred_b


def data(rng, n=30, frames=16, c=4, k=3, noise=0.1):
    X = rng.normal(size=(n, frames, c))
    true_w = rng.normal(size=(frames, c, k))
    Y = np.einsum("ntc,tck->ntk", X, true_w) + 2.0 + noise * rng.normal(size=(n, frames, k))
    return X.astype(np.float32), Y.astype(np.float32), true_w


def test_solve_is_ridge_per_frame(rng):
    X, Y, _ = data(rng)
    model = create_model("phaselinear", in_dim=4, out_dim=3, window=2)
    model.solve(torch.from_numpy(X), torch.from_numpy(Y), step=5)
    w, b = reference_ridge(X.astype(float), Y.astype(float), model.alpha(5), window=2)
    assert model.config.n_frames == 16  # the data's frame count
    np.testing.assert_allclose(model.weight.detach().numpy(), w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.bias.detach().numpy(), b, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        y = model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(y, np.einsum("ntc,tck->ntk", X, w) + b, rtol=1e-4, atol=1e-4)


def test_weak_ridge_recovers_a_time_varying_linear_map(rng):
    X, Y, true_w = data(rng, n=60, noise=0.0)
    model = create_model("phaselinear", in_dim=4, out_dim=3, window=0, alpha_min=1e-9)
    model.solve(torch.from_numpy(X), torch.from_numpy(Y), step=model.path_length)
    np.testing.assert_allclose(model.weight.detach().numpy(), true_w, atol=1e-3)
    np.testing.assert_allclose(model.bias.detach().numpy(), 2.0, atol=1e-3)


def test_fit_walks_the_path_as_epochs(rng):
    """With validation data every step is solved and the best kept (its number the best
    epoch); without, the step given as the epoch count; training loss falls along the path."""
    X, Y, _ = data(rng, n=60, noise=3.0)
    X, Y, Xv, Yv = X[:40], Y[:40], X[40:], Y[40:]
    cfg = TrainConfig(max_epochs=300)
    model = create_model("phaselinear", in_dim=4, out_dim=3, window=0)
    res = fit(model, X, Y, cfg, seed=0, X_val=Xv, Y_val=Yv)
    assert res.epochs_run == model.path_length == len(res.val_loss) == len(res.train_loss)
    # fitted frame by frame on the frame itself (window 0): a weaker ridge fits closer
    assert np.all(np.diff(res.train_loss) <= 1e-5)
    assert 1 < res.best_epoch < model.path_length  # noisy data: neither end of the path
    assert res.best_epoch == 1 + int(np.argmin(res.val_loss))
    again = create_model("phaselinear", in_dim=4, out_dim=3, window=0)
    fixed = fit(again, X, Y, cfg, seed=0, epochs=res.best_epoch)
    assert fixed.epochs_run == res.best_epoch and fixed.val_loss == []
    torch.testing.assert_close(again.weight, model.weight)
    capped = fit(create_model("phaselinear", in_dim=4, out_dim=3), X, Y,
                 TrainConfig(max_epochs=3), seed=0, X_val=Xv, Y_val=Yv)  # fmt: skip
    assert capped.epochs_run == 3  # the epoch cap caps the path
    with pytest.raises(ValueError, match="closed form"):
        fit(again, X, Y, TrainConfig(time_warp=0.1), seed=0, epochs=1)


def test_forces_are_clipped_at_zero_not_bent(rng):
    X, Y, _ = data(rng)
    Y = np.abs(Y)
    plain = create_model("phaselinear", in_dim=4, out_dim=3)
    clipped = create_model("phaselinear", in_dim=4, out_dim=3, nonnegative=True)
    for m in (plain, clipped):
        m.solve(torch.from_numpy(X), torch.from_numpy(Y), step=3)
    with torch.no_grad():
        a, b = plain(torch.from_numpy(X)), clipped(torch.from_numpy(X))
    torch.testing.assert_close(b, a.clamp_min(0))


def test_only_causal_and_only_its_frame_count():
    with pytest.raises(ValueError, match="causal only"):
        ModelSpec.parse("phaselinear:bidir")
    assert ModelSpec.parse("phaselinear").label == "phaselinear-causal"
    model = create_model("phaselinear", n_frames=10)
    with pytest.raises(ValueError, match="10 frames"):
        model(torch.zeros(1, 12, 10))


def test_protocol_end_to_end(forces, tmp_path):
    cfg = make_config("forces", ["phaselinear"], "recipe", n_bootstrap=50)
    benchmark(forces, cfg, tmp_path, command="test", show_progress=False)
    unit = tmp_path / "split42" / "phaselinear-causal" / "seed2025"
    folds = [json.loads((unit / f"fold{k}.json").read_text()) for k in range(cfg.n_folds)]
    steps = [f["best_epoch"] for f in folds]
    assert all(1 <= s <= 17 for s in steps)
    final = TrainedModel.load(unit / "final.pt")
    assert final.meta["epochs"] == max(1, round(float(np.median(steps))))
    assert final.model.config.n_frames == forces.n_frames
    test = np.isin(forces.subject_id, final.meta["test_subjects"])
    y = final.predict_per_kg(forces.X[test])
    with np.load(unit / "predictions.npz") as z:
        np.testing.assert_allclose(y, z["y_pred"], rtol=1e-5, atol=1e-5)
    assert (unit / "calibration.npz").exists()


def test_no_published_weights_to_start_from():
    with pytest.raises(ValueError, match="the study published lstm, transformer, mamba only"):
        make_config("forces", ["phaselinear", "lstm"], "gait2hip60-finetune")
