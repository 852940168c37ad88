"""Batched folds (gait2hip.training.batched): K folds of one architecture trained at once
give each fold what a separate fit gives it."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from gait2hip.models import create_model
from gait2hip.models.dropout import torch_dropout
from gait2hip.models.scan_kernel import KERNEL
from gait2hip.models.transformer import TORCH_ENCODER
from gait2hip.training.batched import Fold, batchable, fit_folds
from gait2hip.training.config import TrainConfig
from gait2hip.training.loop import fit


def _folds(sizes, frames=30, seed=0):
    rng = np.random.default_rng(seed)

    def cycles(n):
        X = rng.normal(size=(n, frames, 10)).astype(np.float32)
        return X, (np.cumsum(X[..., :3], axis=1) * 0.1).astype(np.float32)

    return [Fold(*cycles(n), *cycles(9), seed=100 + k) for k, n in enumerate(sizes)]


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("transformer", {"causal": False, "dropout": 0.0}),
        ("transformer", {"causal": False, "dropout": 0.0, "output_lowpass": 5.0}),
        ("mamba", {"scan": "parallel", "d_model": 32, "d_state": 8}),
        ("lstm", {"causal": True, "hidden": 12, "layers": 2}),
        ("lstm", {"causal": False, "hidden": 12, "layers": 2}),
    ],
)
def test_batched_folds_equal_separate_fits(name, overrides):
    """Folds of different sizes (different steps per epoch, a shorter last batch), time
    warps, a cosine schedule, clipping and early stopping: each fold's validation losses, best
    epoch and final weights are those of a separate fit (same seed, PyTorch's layers) to float
    rounding; one fold stops early while the others go on."""
    cfg = TrainConfig(max_epochs=6, patience=1, batch_size=8, lr=1e-2, grad_clip=0.5,
                      lr_schedule="cosine", time_warp=0.05)  # fmt: skip
    folds = _folds((20, 27, 13))
    torch.manual_seed(0)
    models = [create_model(name, in_dim=10, out_dim=3, **overrides) for _ in folds]
    alone = [copy.deepcopy(m) for m in models]
    seen = []
    results = fit_folds(models, folds, cfg, on_epoch=lambda e, t, v: seen.append(v))
    with KERNEL.off(), torch_dropout(), TORCH_ENCODER.off():
        separate = [fit(m, f.X, f.Y, cfg, seed=f.seed, X_val=f.X_val, Y_val=f.Y_val)
                    for m, f in zip(alone, folds, strict=True)]  # fmt: skip
    runs = [r.epochs_run for r in separate]
    assert min(runs) < max(runs), runs  # the case of a fold stopping before the others
    for got, want, a, b in zip(results, separate, models, alone, strict=True):
        assert (got.epochs_run, got.best_epoch) == (want.epochs_run, want.best_epoch)
        np.testing.assert_allclose(got.val_loss, want.val_loss, rtol=2e-4)
        np.testing.assert_allclose(got.train_loss, want.train_loss, rtol=2e-4)
        for (n, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            np.testing.assert_allclose(x.numpy(), y.numpy(), atol=2e-3, err_msg=n)
    assert len(seen) == max(runs) and any(v is None for v in seen[-1]) == (min(runs) < max(runs))


def test_batched_folds_with_dropout_train_and_what_they_refuse():
    """With dropout (masks drawn under vmap, and the LSTM's between its layers) the folds
    train; a closed-form model and the physics term are refused, with why."""
    cfg = TrainConfig(max_epochs=2, patience=5, batch_size=8, lr=3e-3)
    folds = _folds((16, 16))
    models = [create_model("transformer", in_dim=10, out_dim=3, causal=True) for _ in folds]
    lstms = [create_model("lstm", in_dim=10, out_dim=3, hidden=8, dropout=0.3) for _ in folds]
    for group in (models, lstms):
        results = fit_folds(group, folds, cfg)
        assert all(np.isfinite(r.val_loss).all() and r.epochs_run == 2 for r in results)
    ridge = create_model("phaselinear", in_dim=10, out_dim=3)
    assert not batchable(ridge) and batchable(models[0]) and batchable(lstms[0])
    with pytest.raises(ValueError, match="cannot be trained as batched folds"):
        fit_folds([ridge, copy.deepcopy(ridge)], folds, cfg)
    with pytest.raises(ValueError, match="physics"):
        fit_folds(models, folds, TrainConfig(physics_weight=1.0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_batched_folds_on_cuda_follow_the_cpu():
    """On the GPU the batched folds reach the CPU's validation losses (float rounding apart),
    the Transformer's and the LSTM's."""
    cfg = TrainConfig(max_epochs=2, patience=5, batch_size=8, lr=3e-3)
    folds = _folds((16, 20))
    for name in ("transformer", "lstm"):  # the LSTM's block-diagonal recurrence on cuDNN
        torch.manual_seed(0)
        models = [create_model(name, in_dim=10, out_dim=3, dropout=0.0) for _ in folds]
        on_gpu = [copy.deepcopy(m) for m in models]
        cpu = fit_folds(models, folds, cfg)
        gpu = fit_folds(on_gpu, folds, cfg, device="cuda")
        for a, b in zip(cpu, gpu, strict=True):
            np.testing.assert_allclose(a.val_loss, b.val_loss, rtol=1e-3, err_msg=name)
