"""The fit loop: AdamW, MSE (optionally channel-weighted, optionally plus a physical-
consistency term), gradient clipping, early stopping. Knows nothing of files, splits or
models' internals."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from gait2hip.models import solved_in_closed_form
from gait2hip.runtime import autocast
from gait2hip.training.config import TrainConfig


@dataclass
class FitResult:
    epochs_run: int
    # 1-based epoch with the lowest validation loss (= epochs_run if none); 0 when the
    # starting weights (a candidate with ``keep_start``) stayed the best
    best_epoch: int
    best_val_loss: float | None
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)


def channel_weights(
    Y: np.ndarray, mode: str, parts: Sequence[Sequence[int]] | None = None
) -> np.ndarray:
    """Loss weight per output channel, mean 1 (``parts``: the channel indices of each part of
    a joint target, for ``balanced``)."""
    k = Y.shape[-1]
    if mode == "none":
        return np.ones(k, dtype=np.float32)
    var = np.maximum(Y.reshape(-1, k).var(axis=0), 1e-8)
    if mode == "balanced":
        w = np.ones(k)
        for idx in parts or [range(k)]:
            w[list(idx)] = 1.0 / var[list(idx)].mean()
    else:
        w = 1.0 / var
    return (w / w.mean()).astype(np.float32)


def _weighted_mse(pred: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return ((pred - y).pow(2) * w).mean()


#: (moment arms (N, T, G, 3) m, labelled hip moments per kg (N, T, 3)) of a fit's cycles
Physics = tuple[np.ndarray, np.ndarray]


def _loss(
    pred: torch.Tensor,
    y: torch.Tensor,
    w: torch.Tensor,
    physics: tuple[torch.Tensor, torch.Tensor] | None,
    weight: float,
) -> torch.Tensor:
    """Channel-weighted MSE, plus ``weight`` x the mean squared hip-moment residual of the
    predicted forces, ``sum_g arm_g F_g - M`` (Nm/kg), when ``physics`` is given."""
    loss = _weighted_mse(pred, y, w)
    if physics is not None and weight > 0:
        arms, moments = physics  # the forces are the first G outputs (all, or a joint's)
        resid = torch.einsum("ntg,ntgc->ntc", pred[..., : arms.shape[2]], arms) - moments
        loss = loss + weight * resid.pow(2).mean()
    return loss


def time_warp(tensors: Sequence[torch.Tensor], amount: float, gen: torch.Generator):
    """The same random smooth time warp per cycle applied to every tensor (cycles first,
    frames second): frame u of the warped cycle reads the original at u + a s sin(pi u)
    (u in [0, 1], s ~ U(-1, 1) per cycle), linearly interpolated. Ends fixed, monotone."""
    n, frames = tensors[0].shape[:2]
    # drawn on the CPU (the generator's stream whatever the device), applied where the data are
    s = (torch.rand(n, 1, generator=gen) * 2 - 1).to(tensors[0].device)
    u = torch.linspace(0, 1, frames, device=s.device).unsqueeze(0)
    pos = (u + amount * s * torch.sin(torch.pi * u)).clamp(0, 1) * (frames - 1)
    lo = pos.floor().long().clamp(max=frames - 2)
    frac = pos - lo
    out = []
    for t in tensors:
        shape = (n, frames) + (1,) * (t.dim() - 2)
        i0 = lo.reshape(shape).expand_as(t)
        f = frac.reshape(shape).to(t.dtype)
        out.append(t.gather(1, i0) * (1 - f) + t.gather(1, i0 + 1) * f)
    return out


@torch.no_grad()
def _predict(model: nn.Module, X: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """``model`` in eval mode over (N, T, C) normalised inputs on its device, in batches."""
    model.eval()
    # .float(): float32 even when run under a bfloat16 autocast
    return torch.cat([model(X[i : i + batch_size]).float() for i in range(0, len(X), batch_size)])


def predict_array(model: nn.Module, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Run ``model`` in eval mode over (N, T, C) normalised inputs."""
    device = next(model.parameters()).device
    return _predict(model, torch.from_numpy(X).to(device), batch_size).cpu().numpy()


def _mean_loss(
    model: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    w: torch.Tensor,
    physics: tuple[torch.Tensor, torch.Tensor] | None = None,
    weight: float = 0.0,
) -> float:
    """The loss over every cycle of ``X``, all tensors on the model's device."""
    return float(_loss(_predict(model, X), Y, w, physics, weight))


def _tensors(
    physics: Physics | None, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor] | None:
    if physics is None:
        return None
    arms, moments = physics
    return (
        torch.from_numpy(np.asarray(arms, np.float32)).to(device),
        torch.from_numpy(np.asarray(moments, np.float32)).to(device),
    )


def fit(
    model: nn.Module,
    X: np.ndarray,
    Y: np.ndarray,
    cfg: TrainConfig,
    *,
    seed: int,
    X_val: np.ndarray | None = None,
    Y_val: np.ndarray | None = None,
    epochs: int | None = None,
    on_epoch: Callable[[int, float, float | None], None] | None = None,
    physics: Physics | None = None,
    physics_val: Physics | None = None,
    parts: Sequence[Sequence[int]] | None = None,
    device: str = "cpu",
    keep_start: bool = False,
    precision: str = "float32",
) -> FitResult:
    """Train in place. With validation data: early stopping (``cfg.patience``, at most
    ``cfg.max_epochs``), and the model is left at its best epoch. Without: exactly
    ``epochs`` epochs (the protocol's final fit at the median best epoch).

    X: normalised inputs (N, T, C); Y: targets per kg (N, T, K). ``physics`` (and
    ``physics_val`` for the validation cycles): the cycles' moment arms and hip moments, for
    the consistency term weighted by ``cfg.physics_weight`` (forces only; needed when > 0).
    ``device``: where the model trains; the data move there once, and the batches' cycles
    and time warps are drawn on the CPU with the same random streams whatever the device,
    the loss summed there, so a step waits for the device only once per epoch (fused AdamW
    on CUDA); the model is left on the CPU.
    ``keep_start``: the starting weights (pretrained ones) compete in early stopping as
    epoch 0, so a fit that only makes them worse on the validation data keeps them.
    ``precision``: ``bfloat16`` runs each step's forward pass and loss under bfloat16
    autocast (:func:`gait2hip.runtime.autocast`); the weights, gradients, optimiser and the
    validation loss stay float32.
    """
    if solved_in_closed_form(model):
        return _fit_path(model, X, Y, cfg, X_val, Y_val, epochs, on_epoch, parts)
    lam = cfg.physics_weight
    if lam > 0 and (physics is None or (X_val is not None and physics_val is None)):
        raise ValueError("physics_weight > 0 needs the cycles' moment arms and hip moments")
    if (X_val is None) == (epochs is None):
        raise ValueError("give either validation data (early stopping) or a fixed epoch count")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    dev = torch.device(device)
    w = torch.from_numpy(channel_weights(Y, cfg.loss_weighting, parts)).to(dev)
    model.to(dev)
    opt = torch.optim.AdamW(
        model.parameters(),
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        fused=True if dev.type == "cuda" else None,
    )
    # cosine decay over max_epochs in every fit, so the final fit's first E epochs follow the
    # same learning rates as the cross-validation folds whose best epochs chose E
    sched = (
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.max_epochs)
        if cfg.lr_schedule == "cosine"
        else None
    )
    Xt, Yt = torch.from_numpy(X).to(dev), torch.from_numpy(Y).to(dev)
    Pt = _tensors(physics, dev) if lam > 0 else None
    # validation data and physics arrays as tensors on the device once, not every epoch
    Xv = None if X_val is None else torch.from_numpy(X_val).to(dev)
    Yv = None if Y_val is None else torch.from_numpy(Y_val).to(dev)
    Pv = _tensors(physics_val, dev) if lam > 0 else None
    n_epochs = cfg.max_epochs if epochs is None else epochs
    batch_size = cfg.batch_for(len(Xt))
    result = FitResult(epochs_run=0, best_epoch=0, best_val_loss=None)
    best_state, since_best = None, 0
    if keep_start and Xv is not None and Yv is not None:
        result.best_val_loss = _mean_loss(model, Xv, Yv, w, Pv, lam)
        best_state = copy.deepcopy(model.state_dict())
    for epoch in range(1, n_epochs + 1):
        model.train()
        perm = torch.randperm(len(Xt), generator=gen)
        # the epoch's loss summed on the device (float64 as Python's float sum was)
        total = torch.zeros((), dtype=torch.float64 if dev.type != "mps" else None, device=dev)
        for i in range(0, len(perm), batch_size):
            idx = perm[i : i + batch_size].to(dev)
            opt.zero_grad(set_to_none=True)
            batch = [Xt[idx], Yt[idx]] + ([] if Pt is None else [Pt[0][idx], Pt[1][idx]])
            if cfg.time_warp > 0:
                batch = time_warp(batch, cfg.time_warp, gen)
            xb, yb = batch[:2]
            batch_physics = None if Pt is None else (batch[2], batch[3])
            with autocast(device, precision):
                loss = _loss(model(xb).float(), yb, w, batch_physics, lam)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            total += loss.detach().to(total.dtype) * len(idx)
        result.train_loss.append(float(total) / len(perm))
        if sched is not None:
            sched.step()
        result.epochs_run = epoch
        val = None
        if Xv is not None and Yv is not None:
            val = _mean_loss(model, Xv, Yv, w, Pv, lam)
            result.val_loss.append(val)
            if result.best_val_loss is None or val < result.best_val_loss:
                result.best_val_loss, result.best_epoch, since_best = val, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                since_best += 1
        if on_epoch is not None:
            on_epoch(epoch, result.train_loss[-1], val)
        if X_val is not None and since_best >= cfg.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        result.best_epoch = result.epochs_run
    model.to("cpu")
    return result


def _fit_path(
    model: nn.Module,
    X: np.ndarray,
    Y: np.ndarray,
    cfg: TrainConfig,
    X_val: np.ndarray | None,
    Y_val: np.ndarray | None,
    epochs: int | None,
    on_epoch: Callable[[int, float, float | None], None] | None,
    parts: Sequence[Sequence[int]] | None,
) -> FitResult:
    """:func:`fit` for a model solved in closed form along a regularisation path
    (:func:`~gait2hip.models.solved_in_closed_form`): the path's steps
    (at most ``cfg.max_epochs``) stand for epochs. With validation data every step is solved
    and the one with the lowest validation loss kept (its number is the best epoch); without,
    step ``epochs``. No gradient steps, so no physics term, time warps or device."""
    if cfg.physics_weight > 0 or cfg.time_warp > 0:
        raise ValueError(
            f"{model.model_name} is solved in closed form: no physics_weight or time_warp"
        )
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    val = None
    if X_val is not None and Y_val is not None:
        val = torch.from_numpy(X_val), torch.from_numpy(Y_val)
    w = torch.from_numpy(channel_weights(Y, cfg.loss_weighting, parts))
    n_steps = min(model.path_length, max(cfg.max_epochs, 1))
    steps = range(1, n_steps + 1) if epochs is None else [min(max(epochs, 1), n_steps)]
    result = FitResult(epochs_run=0, best_epoch=0, best_val_loss=None)
    best_state = None
    for step in steps:
        model.solve(Xt, Yt, step)
        result.train_loss.append(_mean_loss(model, Xt, Yt, w))
        result.epochs_run = step
        loss = None
        if val is not None:
            loss = _mean_loss(model, *val, w)
            result.val_loss.append(loss)
            if result.best_val_loss is None or loss < result.best_val_loss:
                result.best_val_loss, result.best_epoch = loss, step
                best_state = copy.deepcopy(model.state_dict())
        if on_epoch is not None:
            on_epoch(step, result.train_loss[-1], loss)
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        result.best_epoch = result.epochs_run
    return result
