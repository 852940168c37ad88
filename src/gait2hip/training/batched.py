"""Batched folds: the K cross-validation folds of one architecture trained at once, as one
model whose parameters carry a leading fold dimension (``torch.func``: the models' parameters
stacked, their forward mapped over the folds with ``vmap``), each fold with its own data,
batches, time warps, early stopping and best state.

It gives each fold what :func:`gait2hip.training.loop.fit` gives it alone: the same batches
and time warps (each fold's generator seeded as ``fit`` seeds it), AdamW per fold (its own
step count, bias corrections and gradient-norm clipping), the same learning-rate schedule,
and early stopping per fold, a stopped fold frozen while the others go on. Folds whose
training sets differ in size take different numbers of steps per epoch: a fold without a
batch at a step, or whose last batch is shorter, is padded with rows that the loss leaves
out and its parameters are not updated. Without dropout the folds' results equal separate
fits to float rounding (tests/test_batched.py); with it, ``vmap`` draws each fold's masks
from PyTorch's generator in its own order, so the noise differs from a separate fit's (the
same kind of noise).

The point is the GPU, where one process fills the device with K folds' work instead of K
processes each leaving it idle (issue: tiny kernels, a host sync per step). On the CPU it
runs PyTorch's own layers (``vmap`` cannot map gait2hip's compiled dropout and scan kernels),
which are slower there than the compiled ones (docs/speed.md). The LSTM cannot be mapped
(PyTorch has no batching rule for ``aten::lstm``): its K folds run as one LSTM whose weights
are theirs on the diagonal blocks (:func:`gait2hip.models.lstm.stacked_lstm`), its input
features and read-out mapped. :func:`batchable` says which models can be batched.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from gait2hip.models import solved_in_closed_form
from gait2hip.models.dropout import torch_dropout
from gait2hip.models.lstm import LSTMModel, stacked_lstm
from gait2hip.models.scan_kernel import KERNEL
from gait2hip.models.transformer import TORCH_ENCODER
from gait2hip.training.config import TrainConfig
from gait2hip.training.loop import FitResult, channel_weights, time_warp

#: AdamW's defaults (torch.optim.AdamW), as :func:`gait2hip.training.loop.fit` uses them.
BETAS, EPS = (0.9, 0.999), 1e-8


@dataclass
class Fold:
    """One fold's normalised inputs and targets per kg, its validation cycles, and the seed
    :func:`gait2hip.training.loop.fit` would get for it."""

    X: np.ndarray
    Y: np.ndarray
    X_val: np.ndarray
    Y_val: np.ndarray
    seed: int


def batchable(model: nn.Module | type[nn.Module]) -> bool:
    """Whether :func:`fit_folds` can train folds of ``model`` (or a model of that class) at
    once."""
    cls = model if isinstance(model, type) else type(model)
    return not solved_in_closed_form(cls)


def _mapped(module: nn.Module) -> Callable:
    """``module``'s forward mapped over a leading fold dimension of its stacked parameters,
    buffers and input."""
    return vmap(lambda p, b, x: functional_call(module, (p, b), (x,)), randomness="different")


def _within(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {n.removeprefix(prefix): t for n, t in tensors.items() if n.startswith(prefix)}


def _batched_forward(base: nn.Module) -> Callable:
    """``forward(params, buffers, x)``: the K folds' predictions (K, B, T, out) for their
    (K, B, T, in) inputs; the LSTM's recurrence as one block-diagonal LSTM, the rest mapped."""
    if not isinstance(base, LSTMModel):
        return _mapped(base)
    features, head = _mapped(base.features), _mapped(base.head)

    def forward(params, buffers, x):
        f = features(_within("features.", params), _within("features.", buffers), x)
        h = stacked_lstm(_within("rnn.", params), f, base.rnn, base.training)
        return head(_within("head.", params), _within("head.", buffers), h)

    return forward


@contextlib.contextmanager
def _mappable(base: nn.Module) -> Iterator[None]:
    """PyTorch's own dropout, the Transformer's layers written out and Mamba's parallel scan,
    which ``vmap`` maps without a per-fold loop."""
    scans = [(m, m.scan) for m in base.modules() if hasattr(m, "scan") and isinstance(m.scan, str)]
    for m, _ in scans:
        m.scan = "parallel"
    try:
        with KERNEL.off(), torch_dropout(), TORCH_ENCODER.off():
            yield
    finally:
        for m, scan in scans:
            m.scan = scan


def _padded(tensors: Sequence[torch.Tensor | None], rows: int, like: torch.Tensor):
    """(K, rows, ...) of each fold's tensor (zeros for None) padded with zero rows, and the
    (K, rows) mask of the real ones."""
    out = torch.zeros((len(tensors), rows, *like.shape[1:]), dtype=like.dtype, device=like.device)
    mask = torch.zeros((len(tensors), rows), dtype=like.dtype, device=like.device)
    for k, t in enumerate(tensors):
        if t is not None:
            out[k, : len(t)] = t
            mask[k, : len(t)] = 1
    return out, mask


def _fold_losses(pred, y, w, mask) -> torch.Tensor:
    """(K,): each fold's channel-weighted MSE over its real rows (``loop._weighted_mse``)."""
    per_row = ((pred - y).pow(2) * w[:, None, None, :]).mean(dim=(2, 3))
    kept = torch.where(mask > 0, per_row, torch.zeros((), dtype=per_row.dtype))
    return kept.sum(1) / mask.sum(1).clamp(min=1)


def _adamw(params, grads, state, lr: float, cfg: TrainConfig, active: Sequence[bool]) -> None:
    """One AdamW step (PyTorch's single-tensor algorithm) for the ``active`` folds, each with
    its own step count and gradient-norm clipping; the others left as they are. The step
    counts live on the host, so a step waits for the device nowhere."""
    K, dev = len(active), next(iter(params.values())).device
    if cfg.grad_clip > 0:
        sq = sum(g.reshape(K, -1).pow(2).sum(1) for g in grads.values())
        coef = (cfg.grad_clip / (sq.sqrt() + 1e-6)).clamp(max=1.0)
    else:
        coef = torch.ones(K, device=dev)
    steps = state["step"]
    for k, on in enumerate(active):
        steps[k] += int(on)
    b1, b2 = BETAS
    host = [(1 - b1**s, (1 - b2**s) ** 0.5) if s else (1.0, 1.0) for s in steps]
    step_size = torch.tensor([lr / c1 for c1, _ in host], device=dev)
    bc2_sqrt = torch.tensor([c2 for _, c2 in host], device=dev)
    on_mask = torch.tensor(list(active), device=dev)
    with torch.no_grad():
        for name, p in params.items():
            shape = (K,) + (1,) * (p.dim() - 1)
            on = on_mask.reshape(shape)
            g = grads[name] * coef.reshape(shape).to(p.dtype)
            m, v = state["m"][name], state["v"][name]
            m_new = m.lerp(g, 1 - b1)
            v_new = v.mul(b2).addcmul(g, g, value=1 - b2)
            decayed = p.mul(1 - lr * cfg.weight_decay)
            denom = (v_new.sqrt() / bc2_sqrt.reshape(shape).to(p.dtype)).add(EPS)
            update = step_size.reshape(shape).to(p.dtype) * m_new / denom
            p.copy_(torch.where(on, decayed - update, p))
            m.copy_(torch.where(on, m_new, m))
            v.copy_(torch.where(on, v_new, v))


def fit_folds(
    models: Sequence[nn.Module],
    folds: Sequence[Fold],
    cfg: TrainConfig,
    *,
    parts: Sequence[Sequence[int]] | None = None,
    device: str = "cpu",
    on_epoch: Callable[[int, list[float], list[float | None]], None] | None = None,
    val_batch: int = 256,
    keep_start: bool = False,
) -> list[FitResult]:
    """Train ``models`` (one per fold, one architecture and config, :func:`batchable`) on
    their ``folds`` at once, in place, with early stopping as
    :func:`gait2hip.training.loop.fit` does with validation data; each model is left at its
    best epoch, on the CPU. ``on_epoch(epoch, train_losses, val_losses)`` after every epoch
    (None for a fold stopped before it). ``keep_start``: the starting weights compete in
    early stopping as epoch 0, as in ``fit``. In float32 only: an autocast does not reach
    the operations ``torch.func.vmap`` maps (measured: a mapped linear layer's output stays
    float32 under a bfloat16 autocast), so the executor refuses ``--precision bf16`` with
    batched folds."""
    if len(models) != len(folds) or not models:
        raise ValueError("give one model per fold")
    if not all(batchable(m) for m in models):
        raise ValueError(f"{type(models[0]).__name__} cannot be trained as batched folds")
    if cfg.physics_weight > 0:
        raise ValueError("batched folds do not take the physics term (physics_weight > 0)")
    K, dev = len(models), torch.device(device)
    torch.manual_seed(folds[0].seed)  # dropout's masks (vmap draws them for every fold)
    gens = [torch.Generator().manual_seed(f.seed) for f in folds]
    base = copy.deepcopy(models[0]).to("meta")
    params, buffers = stack_module_state([m.to(dev) for m in models])
    w = torch.stack([torch.from_numpy(channel_weights(f.Y, cfg.loss_weighting, parts))
                     for f in folds]).to(dev)  # fmt: skip
    data = [(torch.from_numpy(f.X).to(dev), torch.from_numpy(f.Y).to(dev)) for f in folds]
    val = [(torch.from_numpy(f.X_val).to(dev), torch.from_numpy(f.Y_val).to(dev)) for f in folds]
    sizes = [cfg.batch_for(len(X)) for X, _ in data]
    # the learning rate per epoch exactly as fit's scheduler gives it
    holder = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    sched = (
        torch.optim.lr_scheduler.CosineAnnealingLR(holder, T_max=cfg.max_epochs)
        if cfg.lr_schedule == "cosine"
        else None
    )
    state = {
        "step": [0] * K,
        "m": {n: torch.zeros_like(p) for n, p in params.items()},
        "v": {n: torch.zeros_like(p) for n, p in params.items()},
    }
    forward = _batched_forward(base)
    results = [FitResult(epochs_run=0, best_epoch=0, best_val_loss=None) for _ in folds]
    best = [None] * K
    since = [0] * K
    running = [True] * K
    with _mappable(base):
        if keep_start:
            base.eval()
            with torch.no_grad():
                start = _val_losses(forward, params, buffers, val, w, val_batch)
            for k, r in enumerate(results):
                r.best_val_loss = start[k]
                best[k] = {n: t[k].detach().clone() for n, t in (params | buffers).items()}
        for epoch in range(1, cfg.max_epochs + 1):
            lr = holder.param_groups[0]["lr"]
            base.train()
            batches: list[list[torch.Tensor]] = []
            for k in range(K):
                perm = torch.randperm(len(data[k][0]), generator=gens[k]) if running[k] else []
                batches.append([perm[i : i + sizes[k]] for i in range(0, len(perm), sizes[k])])
            totals = torch.zeros(K, dtype=torch.float64, device=dev)
            for s in range(max(len(b) for b in batches)):
                xs, ys = [], []
                for k in range(K):
                    if s < len(batches[k]):
                        idx = batches[k][s].to(dev)
                        pair = [data[k][0][idx], data[k][1][idx]]
                        if cfg.time_warp > 0:
                            pair = time_warp(pair, cfg.time_warp, gens[k])
                        xs.append(pair[0])
                        ys.append(pair[1])
                    else:
                        xs.append(None)
                        ys.append(None)
                real = next(x for x in xs if x is not None)
                rows = max(len(x) for x in xs if x is not None)
                xb, mask = _padded(xs, rows, real)
                yb, _ = _padded(ys, rows, next(y for y in ys if y is not None))
                losses = _fold_losses(forward(params, buffers, xb), yb, w, mask)
                grads = torch.autograd.grad(losses.sum(), list(params.values()))
                active = [x is not None for x in xs]
                _adamw(params, dict(zip(params, grads, strict=True)), state, lr, cfg, active)
                counts = torch.tensor([0 if x is None else len(x) for x in xs], device=dev)
                totals += losses.detach().to(totals.dtype) * counts.to(totals.dtype)
            if sched is not None:
                holder.step()
                sched.step()
            base.eval()
            with torch.no_grad():
                vals = _val_losses(forward, params, buffers, val, w, val_batch)
            train_out: list[float] = []
            val_out: list[float | None] = []
            for k, r in enumerate(results):
                if not running[k]:
                    train_out.append(float("nan"))
                    val_out.append(None)
                    continue
                r.train_loss.append(float(totals[k]) / len(data[k][0]))
                r.epochs_run = epoch
                r.val_loss.append(vals[k])
                if r.best_val_loss is None or vals[k] < r.best_val_loss:
                    r.best_val_loss, r.best_epoch, since[k] = vals[k], epoch, 0
                    best[k] = {n: t[k].detach().clone()
                               for n, t in (params | buffers).items()}  # fmt: skip
                else:
                    since[k] += 1
                running[k] = since[k] < cfg.patience
                train_out.append(r.train_loss[-1])
                val_out.append(vals[k])
            if on_epoch is not None:
                on_epoch(epoch, train_out, val_out)
            if not any(running):
                break
    for k, model in enumerate(models):
        state_k = best[k] or {n: t[k].detach() for n, t in (params | buffers).items()}
        keys = model.state_dict().keys()  # non-persistent buffers are stacked, not saved
        model.load_state_dict({n: t for n, t in state_k.items() if n in keys})
        model.to("cpu")
    return results


def _val_losses(forward, params, buffers, val, w, batch: int) -> list[float]:
    """Each fold's loss over all its validation cycles (``loop._mean_loss``), the folds'
    cycles mapped together ``batch`` rows at a time."""
    longest = max(len(X) for X, _ in val)
    preds = []
    for i in range(0, longest, batch):
        xs = [X[i : i + batch] if i < len(X) else None for X, _ in val]
        real = next(x for x in xs if x is not None)
        xb, _ = _padded(xs, max(len(x) for x in xs if x is not None), real)
        preds.append(forward(params, buffers, xb).float())
    pred = torch.cat(preds, dim=1)
    y, mask = _padded([Y for _, Y in val], longest, val[0][1])
    return [float(v) for v in _fold_losses(pred, y, w, mask)]
