"""Selective scan of Mamba (S6) in plain PyTorch, CPU friendly.

Computes, for every batch b, channel e and state n::

    h[t] = exp(delta[t] * A) * h[t-1] + delta[t] * B[t] * u[t]
    y[t] = sum_n C[t, n] * h[t, :, n]

Shapes: u, delta (B, L, E); A (E, N); Bm, Cm (B, L, N); returns y (B, L, E).

Three implementations (``benchmarks/bench_scan.py``, ``docs/speed.md``):

* ``scan_reference``: autograd through a per-step loop (a graph node per op per step). The
  oracle for tests.
* ``scan_parallel``: no loop over time steps: the recurrence as a two-level parallel scan in
  whole-tensor PyTorch operations (within chunks of 16 steps a log-depth scan of the
  decays and inputs, then the states entering each chunk, one small step per chunk), autograd
  for the backward. It materialises (b, L, E, N) tensors, so it is bound by memory traffic:
  slower than the loop on the CPU, meant for a GPU, where the loop's ~6 small kernels per
  step leave the device idle.
* ``scan_fused``, what the models run: on the CPU, the compiled kernel of
  :mod:`gait2hip.models.scan_kernel` (forward and backward in C++, one pass over time per
  batch row, no per-step Python loop); where it cannot be built, a hand-written autograd
  Function looping over time with a few in-place ops per step on a cache-sized (b, N, E)
  slice, forward and backward (the adjoint of a linear recurrence is the same recurrence run
  backwards in time); on other devices (a GPU), ``scan_parallel``. Variants that materialise
  (L, b, N, E) tensors measured slower than the loop on the CPU: they are bound by memory
  bandwidth and page faults. See :func:`gait2hip.runtime.configure`.

``causal_conv_silu``: the branch's causal depthwise convolution and SiLU before the scan,
compiled with it on the CPU (PyTorch's conv1d elsewhere).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from gait2hip.models import scan_kernel

SCANS = ("fused", "parallel", "reference")
#: steps per chunk of the parallel scan (a power of 2)
CHUNK = 16
#: at most this many (batch, time, channel, state) elements per slice of the parallel
#: scan without gradients (inference at large batches runs slice by slice)
NO_GRAD_ELEMENTS = 1 << 27


def at_least_float32(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``tensors`` with those in a floating type narrower than float32 (bfloat16, float16:
    from an autocast's matrix products) cast to float32; float32 and float64 as they are."""
    return tuple(
        t.float() if t.is_floating_point() and torch.finfo(t.dtype).bits < 32 else t
        for t in tensors
    )


def _needs_grad(*tensors: torch.Tensor) -> bool:
    """Whether autograd will want gradients of an op on ``tensors``."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def scan_reference(
    u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, Bm: torch.Tensor, Cm: torch.Tensor
) -> torch.Tensor:
    b, length, e = u.shape
    h = u.new_zeros(b, e, A.shape[1])
    ys = []
    for t in range(length):
        dA = torch.exp(delta[:, t, :, None] * A)
        h = dA * h + (delta[:, t] * u[:, t])[:, :, None] * Bm[:, t, None, :]
        ys.append(torch.einsum("ben,bn->be", h, Cm[:, t]))
    return torch.stack(ys, dim=1)


def _parallel(
    u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, Bm: torch.Tensor, Cm: torch.Tensor
) -> torch.Tensor:
    b, length, e = u.shape
    n = A.shape[1]
    chunks = -(-length // CHUNK)
    pad = chunks * CHUNK - length
    a = torch.exp(delta.unsqueeze(-1) * A)  # (b, L, E, N) decays
    h = (delta * u).unsqueeze(-1) * Bm.unsqueeze(2)  # (b, L, E, N) inputs
    if pad:  # steps after the end: decay 1, input 0
        a = F.pad(a, (0, 0, 0, 0, 0, pad), value=1.0)
        h = F.pad(h, (0, 0, 0, 0, 0, pad))
    a = a.view(b, chunks, CHUNK, e, n)
    h = h.view(b, chunks, CHUNK, e, n)
    # within each chunk, an inclusive scan of (decay, input) pairs: step k then holds the state
    # from a zero state at the chunk's start, and the product of the decays up to k
    d = 1
    while d < CHUNK:
        h = torch.cat([h[:, :, :d], torch.addcmul(h[:, :, d:], a[:, :, d:], h[:, :, :-d])], 2)
        a = torch.cat([a[:, :, :d], a[:, :, d:] * a[:, :, :-d]], 2)
        d *= 2
    # the state entering each chunk, chunk after chunk (small tensors), then added in
    entering = [h.new_zeros(b, e, n)]
    for c in range(chunks - 1):
        entering.append(torch.addcmul(h[:, c, -1], a[:, c, -1], entering[-1]))
    h = torch.addcmul(h, a, torch.stack(entering, 1).unsqueeze(2))
    h = h.view(b, chunks * CHUNK, e, n)[:, :length]
    return torch.einsum("blen,bln->ble", h, Cm)


def scan_parallel(
    u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, Bm: torch.Tensor, Cm: torch.Tensor
) -> torch.Tensor:
    """The scan without a loop over time steps (see the module's docstring); without
    gradients, the batch in slices of at most :data:`NO_GRAD_ELEMENTS` elements of state."""
    needs_grad = _needs_grad(u, delta, A, Bm, Cm)
    b, length, e = u.shape
    rows = max(1, NO_GRAD_ELEMENTS // (length * e * A.shape[1]))
    if needs_grad or b <= rows:
        return _parallel(u, delta, A, Bm, Cm)
    return torch.cat([
        _parallel(u[i : i + rows], delta[i : i + rows], A, Bm[i : i + rows], Cm[i : i + rows])
        for i in range(0, b, rows)
    ])  # fmt: skip


def _time_major(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(B, L, ...) -> contiguous (L, B, ...), so each time step is one contiguous block."""
    return tuple(t.transpose(0, 1).contiguous() for t in tensors)


class _FusedScan(torch.autograd.Function):
    """Per-step recurrence with a hand-written backward.

    Layout (L, b, N, E): time-major so each step's slice is contiguous, the state axis
    before the channel axis so the read-out over N is a batched matmul. Each step's working
    set (b, N, E) stays in cache; the decays and states are kept for the backward pass.
    """

    @staticmethod
    def forward(ctx, u, delta, A, Bm, Cm):  # type: ignore[override]
        uT, dT, BT, CT = _time_major(u, delta, Bm, Cm)
        length, b, e = uT.shape
        n = A.shape[1]
        At = A.t().contiguous()  # (N, E)
        du = dT * uT
        hs = u.new_empty(length, b, n, e)
        dA = u.new_empty(length, b, n, e)
        y = u.new_empty(length, b, 1, e)
        for t in range(length):
            h = hs[t]
            torch.mul(BT[t].unsqueeze(-1), du[t].unsqueeze(1), out=h)
            if t:
                a = dA[t]
                torch.mul(dT[t].unsqueeze(1), At, out=a)
                a.exp_()
                h.addcmul_(a, hs[t - 1])
            torch.bmm(CT[t].unsqueeze(1), h, out=y[t])
        ctx.save_for_backward(uT, dT, At, BT, CT, hs, dA, du)
        return y.view(length, b, e).transpose(0, 1)

    @staticmethod
    def backward(ctx, gy):  # type: ignore[override]
        uT, dT, At, BT, CT, hs, dA, du = ctx.saved_tensors
        (gyT,) = _time_major(gy)
        length, b, e = uT.shape
        g_du = uT.new_empty(length, b, 1, e)
        g_B, g_C = torch.empty_like(BT), torch.empty_like(CT)
        g_d, g_A = torch.empty_like(dT), torch.zeros_like(At)
        lam = uT.new_zeros(b, At.shape[0], e)  # dL/dh[t], run backwards in time
        gz = torch.empty_like(lam)
        for t in range(length - 1, -1, -1):
            # y[t] = C[t] . h[t]
            lam.addcmul_(CT[t].unsqueeze(-1), gyT[t].unsqueeze(1))
            torch.sum(hs[t] * gyT[t].unsqueeze(1), -1, out=g_C[t])
            # h[t] = dA[t] h[t-1] + B[t] (d u)[t]
            torch.bmm(BT[t].unsqueeze(1), lam, out=g_du[t])
            torch.sum(lam * du[t].unsqueeze(1), -1, out=g_B[t])
            if t:
                # dA[t] = exp(d[t] A): dL/d(d[t] A) = lam[t] h[t-1] dA[t]
                a = dA[t]
                torch.mul(lam, hs[t - 1], out=gz)
                gz.mul_(a)
                torch.sum(gz * At, 1, out=g_d[t])
                g_A.add_((gz * dT[t].unsqueeze(1)).sum(0))
                lam.mul_(a)
            else:
                g_d[t].zero_()
        g_du = g_du.view(length, b, e)
        g_d += g_du * uT
        return (
            (g_du * dT).transpose(0, 1),
            g_d.transpose(0, 1),
            g_A.t(),
            g_B.transpose(0, 1),
            g_C.transpose(0, 1),
        )


def _scan_no_grad(
    u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, Bm: torch.Tensor, Cm: torch.Tensor
) -> torch.Tensor:
    """Inference: the same recurrence keeping only the running state (b, N, E)."""
    uT, dT, BT, CT = _time_major(u, delta, Bm, Cm)
    length, b, e = uT.shape
    At = A.t().contiguous()
    du = dT * uT
    h = u.new_zeros(b, At.shape[0], e)
    dA, inp = torch.empty_like(h), torch.empty_like(h)
    y = u.new_empty(length, b, 1, e)
    for t in range(length):
        torch.mul(dT[t].unsqueeze(1), At, out=dA)
        h.mul_(dA.exp_())
        torch.mul(BT[t].unsqueeze(-1), du[t].unsqueeze(1), out=inp)
        h.add_(inp)
        torch.bmm(CT[t].unsqueeze(1), h, out=y[t])
    return y.view(length, b, e).transpose(0, 1)


def _compiled_forward(u, delta, A, Bm, Cm, keep_states: bool):
    """The compiled kernel's forward on its layout: returns (its inputs: u, delta, A^T, B, C,
    contiguous), y and the states (empty unless ``keep_states``)."""
    inputs = (
        u.contiguous(),
        delta.contiguous(),
        A.t().contiguous(),
        Bm.contiguous(),
        Cm.contiguous(),
    )
    y, hs = scan_kernel.kernel().scan_forward(*inputs, keep_states)
    return inputs, y, hs


class _CompiledScan(torch.autograd.Function):
    """The same recurrence and adjoint as :class:`_FusedScan`, in the compiled CPU kernel
    (batch-major: one batch row's whole sequence at a time, no transposes)."""

    @staticmethod
    def forward(ctx, u, delta, A, Bm, Cm):  # type: ignore[override]
        inputs, y, hs = _compiled_forward(u, delta, A, Bm, Cm, keep_states=True)
        ctx.save_for_backward(*inputs, hs)
        return y

    @staticmethod
    def backward(ctx, gy):  # type: ignore[override]
        u, delta, At, Bm, Cm, hs = ctx.saved_tensors
        g_u, g_d, g_At, g_B, g_C = scan_kernel.kernel().scan_backward(
            gy.contiguous(), u, delta, At, Bm, Cm, hs
        )
        return g_u, g_d, g_At.t(), g_B, g_C


def compiled_available(*tensors: torch.Tensor, compile: bool = True) -> bool:
    """Whether the compiled kernel takes these tensors (CPU, float32/64; built on demand, or
    with ``compile`` False only if already built: inference never waits for a build)."""
    return (
        all(t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) for t in tensors)
        and len({t.dtype for t in tensors}) == 1
        and scan_kernel.enabled(compile)
    )


def scan_fused(
    u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, Bm: torch.Tensor, Cm: torch.Tensor
) -> torch.Tensor:
    needs_grad = _needs_grad(u, delta, A, Bm, Cm)
    if compiled_available(u, delta, A, Bm, Cm, compile=needs_grad):
        if needs_grad:
            return _CompiledScan.apply(u, delta, A, Bm, Cm)
        return _compiled_forward(u, delta, A, Bm, Cm, keep_states=False)[1]
    if u.device.type != "cpu":
        return scan_parallel(u, delta, A, Bm, Cm)
    return scan_loop(u, delta, A, Bm, Cm)


def scan_loop(
    u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, Bm: torch.Tensor, Cm: torch.Tensor
) -> torch.Tensor:
    """The fused PyTorch loop over time steps (its hand-written backward), on any device."""
    if _needs_grad(u, delta, A, Bm, Cm):
        return _FusedScan.apply(u, delta, A, Bm, Cm)
    return _scan_no_grad(u, delta, A, Bm, Cm)


class _CompiledConvSilu(torch.autograd.Function):
    """:func:`causal_conv_silu` in the compiled kernel, with its gradients."""

    @staticmethod
    def forward(ctx, x, weight, bias):  # type: ignore[override]
        x, wT, bias = _conv_layout(x, weight, bias)
        ctx.save_for_backward(x, wT, bias)
        return scan_kernel.kernel().conv_silu_forward(x, wT, bias)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        x, wT, bias = ctx.saved_tensors
        g_x, g_wT, g_b = scan_kernel.kernel().conv_silu_backward(g.contiguous(), x, wT, bias)
        return g_x, g_wT.t().unsqueeze(1), g_b


def _conv_layout(x, weight, bias):
    """The kernel's layout: x (B, L, E), taps (K, E), bias (E,), contiguous."""
    return x.contiguous(), weight[:, 0, :].t().contiguous(), bias.contiguous()


def causal_conv_silu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """SiLU of the causal depthwise convolution of ``x`` (B, L, E) with a depthwise Conv1d's
    ``weight`` (E, 1, K) and ``bias`` (E,): the input of a Mamba branch's scan, in the scan's
    layout. Compiled on the CPU like the scan (no transposes); PyTorch's conv1d elsewhere.
    In float32 at least (:func:`at_least_float32`), under a bfloat16 autocast too."""
    x, weight, bias = at_least_float32(x, weight, bias)
    needs_grad = _needs_grad(x, weight, bias)
    if compiled_available(x, weight, bias, compile=needs_grad):
        if needs_grad:
            return _CompiledConvSilu.apply(x, weight, bias)
        return scan_kernel.kernel().conv_silu_forward(*_conv_layout(x, weight, bias))
    length, taps = x.shape[1], weight.shape[-1]
    y = F.conv1d(x.transpose(1, 2), weight, bias, padding=taps - 1, groups=x.shape[-1])
    return F.silu(y[..., :length].transpose(1, 2))


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    Bm: torch.Tensor,
    Cm: torch.Tensor,
    impl: str = "fused",
) -> torch.Tensor:
    """Mamba's selective scan by ``impl`` (:data:`SCANS`), in float32 at least (the
    recurrence's decays compound over the cycle's frames; a bfloat16 autocast's inputs are
    cast up, :func:`at_least_float32`)."""
    u, delta, A, Bm, Cm = at_least_float32(u, delta, A, Bm, Cm)
    if impl == "fused":
        return scan_fused(u, delta, A, Bm, Cm)
    if impl == "parallel":
        return scan_parallel(u, delta, A, Bm, Cm)
    if impl == "reference":
        return scan_reference(u, delta, A, Bm, Cm)
    raise ValueError(f"unknown scan {impl!r}; choose one of {SCANS}")
