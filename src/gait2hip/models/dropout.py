"""Dropout with cheaper random masks on the CPU.

``torch.nn.functional.dropout`` draws one random number per element; on the CPU that draw is
most of its cost (the Transformer's attention weights alone are batch x heads x 180 x 180
elements per layer). Here one 64-bit draw of PyTorch's generator gives four 16-bit numbers,
each deciding one element: an element is dropped when its number is among the lowest
``round(p * 65536)`` of the 65536 values, so the drop probability is p to within 1e-5
(0.100006 for p = 0.1), and the kept elements are scaled by 1 / (1 - that probability), so
the expectation is unchanged. The same model and the same kind of noise, a different random
stream; seeded runs stay reproducible. On other devices the native fused dropout is used.

The Transformer's dropouts run compiled (:mod:`gait2hip.models.scan_kernel`), each in one
pass with what surrounds it: the attention weights' after PyTorch's softmax
(:func:`softmax_dropout`), the residual add after the attention and feed-forward outputs
(:func:`dropout_add`) and the feed-forward hidden layer's ReLU (:func:`relu_dropout`); the
mask is drawn from a hash of (a seed drawn from PyTorch's generator, the element's index)
with the same drop probability, so the backward draws it again instead of storing it (the
ReLU's reads its output).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from gait2hip.models import scan_kernel
from gait2hip.models.scan import compiled_available
from gait2hip.models.switch import Switch

_LEVELS = 1 << 16
CHEAP_MASKS = Switch()
#: Within it, models use PyTorch's own dropout (and Transformer layers): for benchmarks
#: comparing the two (``benchmarks/bench_speed.py --plain-pytorch``).
torch_dropout = CHEAP_MASKS.off


def cheap_masks(x: torch.Tensor) -> bool:
    """Whether dropout on ``x`` draws the cheaper masks (CPU tensors, unless switched off)."""
    return CHEAP_MASKS.on and x.device.type == "cpu"


def keep_mask(shape: torch.Size, p: float, dtype: torch.dtype) -> torch.Tensor:
    """A CPU tensor of ``shape``: 0 where dropped, 1 / (1 - p') where kept (p' ~ p)."""
    n = shape.numel()
    r = _random_words((n + 3) // 4).view(torch.int16)[:n].view(shape)
    drop, scale_value = _drop_levels(p)
    scale = torch.tensor(scale_value, dtype=dtype)
    return torch.where(r >= drop - _LEVELS // 2, scale, torch.zeros((), dtype=dtype))


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Dropout of ``x`` (elements zeroed with probability p, the rest scaled by 1/(1-p))."""
    if not training or p == 0:
        return x
    if not cheap_masks(x) or not 0 < p < 1:
        return F.dropout(x, p, training=True)
    return x * keep_mask(x.shape, p, x.dtype)


def _random_words(*shape: int) -> torch.Tensor:
    """64-bit random integers from PyTorch's generator (seeded runs stay reproducible)."""
    return torch.randint(-(1 << 63), (1 << 63) - 1, shape, dtype=torch.int64)


def _drop_levels(p: float) -> tuple[int, float]:
    """(dropped levels of the 65536, the kept elements' scale) for drop probability ~p."""
    drop = round(p * _LEVELS)
    return drop, _LEVELS / (_LEVELS - drop)


class _SoftmaxDropout(torch.autograd.Function):
    """PyTorch's softmax over the last axis, then the compiled dropout with the mask of
    ``seed``; the backward draws the mask again and uses the stored probabilities."""

    @staticmethod
    def forward(ctx, scores, p, seed):  # type: ignore[override]
        drop, scale = _drop_levels(p)
        probs = torch.softmax(scores, dim=-1)
        ctx.save_for_backward(probs)
        ctx.mask = (drop, scale, seed)
        return scan_kernel.kernel().dropout_mask(probs, drop, scale, seed)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        (probs,) = ctx.saved_tensors
        g = scan_kernel.kernel().dropout_mask(g.contiguous(), *ctx.mask)
        return torch._softmax_backward_data(g, probs, -1, probs.dtype), None, None


def softmax_dropout(scores: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """``dropout(softmax(scores, -1), p, training)``; on the CPU the mask as
    :func:`dropout_add`'s (drawn again in the backward, not stored)."""
    if _fused(scores, p, training):
        return _SoftmaxDropout.apply(scores, p, int(_random_words()))
    return dropout(torch.softmax(scores, dim=-1), p, training)


class _DropoutAdd(torch.autograd.Function):
    """``res + dropout(x)`` with the mask of ``seed``, compiled; the backward draws it again."""

    @staticmethod
    def forward(ctx, x, res, p, seed):  # type: ignore[override]
        drop, scale = _drop_levels(p)
        ctx.mask = (drop, scale, seed)
        return scan_kernel.kernel().dropout_add_forward(x.contiguous(), res.contiguous(), drop,
                                                        scale, seed)  # fmt: skip

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        g = g.contiguous()
        return scan_kernel.kernel().dropout_mask(g, *ctx.mask), g, None, None


class _ReluDropout(torch.autograd.Function):
    """``dropout(relu(x))`` with the mask of ``seed``, compiled; the backward reads its output."""

    @staticmethod
    def forward(ctx, x, p, seed):  # type: ignore[override]
        drop, scale = _drop_levels(p)
        out = scan_kernel.kernel().relu_dropout_forward(x.contiguous(), drop, scale, seed)
        ctx.save_for_backward(out)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        (out,) = ctx.saved_tensors
        gx = scan_kernel.kernel().relu_dropout_backward(g.contiguous(), out, ctx.scale)
        return gx, None, None


def _fused(x: torch.Tensor, p: float, training: bool) -> bool:
    return training and 0 < p < 1 and cheap_masks(x) and compiled_available(x)


def dropout_add(x: torch.Tensor, res: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """``res + dropout(x, p, training)``; on the CPU in one compiled pass (the mask a hash of
    a seed from PyTorch's generator and the element's index, drop probability as
    :func:`dropout`'s)."""
    if _fused(x, p, training) and x.shape == res.shape and x.dtype == res.dtype:
        return _DropoutAdd.apply(x, res, p, int(_random_words()))
    return res + dropout(x, p, training)


def relu_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """``dropout(relu(x), p, training)``; on the CPU in one compiled pass (as
    :func:`dropout_add`)."""
    if _fused(x, p, training):
        return _ReluDropout.apply(x, p, int(_random_words()))
    return dropout(F.relu(x), p, training)
