"""Input features and output heads shared by every architecture."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from gait2hip.gait.signal import lowpass_operator


class InputFeatures(nn.Module):
    """The (normalised) inputs, optionally followed by their rate of change per gait cycle.

    Velocities are finite differences along the frames scaled by ``(T - 1) / 2π`` (a unit
    sinusoid over the cycle gets rates of order 1): backward differences for causal models
    (frame t sees t and t - 1 only; frame 0 gets 0), central differences otherwise. Derived
    inside the model, so checkpoints and prediction need nothing else.
    """

    def __init__(self, in_dim: int, velocities: bool, causal: bool) -> None:
        super().__init__()
        self.velocities = velocities
        self.causal = causal
        self.out_dim = in_dim * (2 if velocities else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.velocities:
            return x
        frames = x.shape[1]
        scale = max(frames - 1, 1) / (2 * math.pi)
        if self.causal or frames < 3:
            d = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)
        else:
            d = torch.gradient(x, dim=1)[0]
        return torch.cat([x, d * scale], dim=-1)


def nonnegative_count(out_dim: int, nonnegative: bool, n_nonnegative: int = 0) -> int:
    """How many leading outputs are kept non-negative: none without ``nonnegative``, else the
    first ``n_nonnegative`` of them, or all when 0."""
    if not 0 <= n_nonnegative <= out_dim:
        raise ValueError(f"n_nonnegative must be 0..{out_dim}, got {n_nonnegative}")
    if not nonnegative:
        return 0
    return n_nonnegative if 0 < n_nonnegative < out_dim else out_dim


def bound_leading(y: torch.Tensor, n: int, fn) -> torch.Tensor:
    """``fn`` (softplus, a clip at 0) on the first ``n`` outputs of ``y``, the rest as they are."""
    if n == 0:
        return y
    if n == y.shape[-1]:
        return fn(y)
    return torch.cat([fn(y[..., :n]), y[..., n:]], dim=-1)


class FrameLowpass(nn.Module):
    """Zero-phase low-pass along the frames of (batch, frames, channels) at ``harmonics``
    cycles per gait cycle (the frames spanning one cycle): the same filter as
    :func:`gait2hip.gait.signal.lowpass` with the cycle's frame count as its rate, applied as a
    fixed matrix (:func:`~gait2hip.gait.signal.lowpass_operator`; no parameters, nothing in
    the state dict). It reads later frames: for models that see the whole cycle."""

    def __init__(self, harmonics: float) -> None:
        super().__init__()
        if harmonics <= 0:
            raise ValueError(f"a low-pass needs harmonics > 0, got {harmonics}")
        self.harmonics = harmonics
        self._operators: dict[tuple, torch.Tensor] = {}

    def operator(self, frames: int, like: torch.Tensor) -> torch.Tensor:
        key = (frames, like.device, like.dtype)
        if key not in self._operators:
            m = lowpass_operator(frames, frames, self.harmonics)
            self._operators[key] = torch.as_tensor(m, dtype=like.dtype, device=like.device)
        return self._operators[key]

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return torch.einsum("st,btk->bsk", self.operator(y.shape[1], y), y)


class OutputHead(nn.Module):
    """Per-frame linear read-out; softplus makes outputs non-negative when asked (the first
    ``n_nonnegative`` of them, or all when 0); with ``lowpass`` (cycles per gait cycle, 0:
    none) the read-out is low-passed along the frames first (:class:`FrameLowpass`), so the
    curves carry no frame-to-frame jitter the labels do not have."""

    def __init__(
        self,
        d_model: int,
        out_dim: int,
        nonnegative: bool = False,
        n_nonnegative: int = 0,
        lowpass: float = 0.0,
    ) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, out_dim)
        self.n_nonnegative = nonnegative_count(out_dim, nonnegative, n_nonnegative)
        self.lowpass = FrameLowpass(lowpass) if lowpass > 0 else None

    @classmethod
    def for_config(cls, d_model: int, config) -> OutputHead:
        """The head a model's config asks for (``out_dim``, ``nonnegative[_outputs]``, and
        ``output_lowpass`` where the architecture has it)."""
        return cls(
            d_model,
            config.out_dim,
            config.nonnegative,
            config.nonnegative_outputs,
            getattr(config, "output_lowpass", 0.0),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        y = self.proj(h)
        if self.lowpass is not None:
            y = self.lowpass(y)
        return bound_leading(y, self.n_nonnegative, F.softplus)


class OutputSubset(nn.Module):
    """A trained model seen through some of its outputs: ``model(x)[..., channels]``, so a
    joint (forces + moments) model can be trained further on, or compared with, data that
    has only one of its parts. Training the subset trains the shared layers too."""

    def __init__(self, model: nn.Module, channels: tuple[int, ...] | list[int]) -> None:
        super().__init__()
        self.model = model
        self.channels = list(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[..., self.channels]
