"""Phase-linear model: at each frame of the normalised gait cycle, the outputs are a linear
function of that frame's inputs, with coefficients of their own per frame (a time-varying
linear regression, the classic baseline of gait biomechanics).

It is fitted in closed form, not by gradient steps: ridge regression per frame, the
coefficients of frame t fitted on the cycles' frames t - ``window`` .. t + ``window``
(cyclically: a gait cycle ends where the next begins), each input standardised over those
frames. The ridge strength walks down a path of ``path_steps`` values from ``alpha_max`` to
``alpha_min`` (relative to the number of samples), and the training loop treats the path's
steps as it treats epochs (:func:`gait2hip.training.loop.fit`): the cross-validation folds
choose the step with the lowest validation loss, the final fit uses their median, so the
protocol chooses the regularisation the way it chooses a network's epoch count.

The output at frame t reads the inputs at frame t only (with ``velocities``, also frame
t - 1): the model is causal. Non-negative outputs (forces) are clipped at zero, which only
moves predictions towards labels that cannot be negative (a softplus would bend the linear
fit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gait2hip.models.heads import InputFeatures, bound_leading, nonnegative_count
from gait2hip.models.registry import ModelConfig, register_model


@dataclass
class PhaseLinearConfig(ModelConfig):
    causal: bool = True  # frame t's outputs read frame t's inputs only
    n_frames: int = 180  # set by the data it is fitted on
    window: int = 2  # frame t's coefficients are fitted on frames t - window .. t + window
    alpha_max: float = 10.0  # the path's first (strongest) ridge strength, per sample
    alpha_min: float = 1e-3  # and its last
    path_steps: int = 17

    def __post_init__(self) -> None:
        if not self.causal:
            raise ValueError("phaselinear reads each frame's own inputs: it is causal only")
        if self.window < 0 or self.path_steps < 1 or not 0 < self.alpha_min <= self.alpha_max:
            raise ValueError(
                "phaselinear needs window >= 0, path_steps >= 1, 0 < alpha_min <= alpha_max"
            )


@register_model("phaselinear", PhaseLinearConfig)
class PhaseLinear(nn.Module):
    def __init__(self, config: PhaseLinearConfig) -> None:
        super().__init__()
        self.config = config
        self.features = InputFeatures(config.in_dim, config.velocities, causal=True)
        T, C, K = config.n_frames, self.features.out_dim, config.out_dim
        # nn.Linear's initialisation, per frame, until solve() sets the fit
        bound = 1.0 / C**0.5
        self.weight = nn.Parameter(torch.empty(T, C, K).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(T, K).uniform_(-bound, bound))
        self.n_nonnegative = nonnegative_count(K, config.nonnegative, config.nonnegative_outputs)

    @property
    def path_length(self) -> int:
        return self.config.path_steps

    def alpha(self, step: int) -> float:
        """The ridge strength (per sample) of the path's ``step`` (1-based)."""
        c = self.config
        if not 1 <= step <= c.path_steps:
            raise ValueError(f"path step must be 1..{c.path_steps}, got {step}")
        if c.path_steps == 1:
            return c.alpha_max
        return float(np.geomspace(c.alpha_max, c.alpha_min, c.path_steps)[step - 1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.config.n_frames:
            raise ValueError(
                f"phaselinear was fitted on cycles of {self.config.n_frames} frames, "
                f"got {x.shape[1]}"
            )
        y = torch.einsum("btc,tck->btk", self.features(x), self.weight) + self.bias
        return bound_leading(y, self.n_nonnegative, torch.relu)

    @torch.no_grad()
    def solve(self, X: torch.Tensor, Y: torch.Tensor, step: int) -> None:
        """Set the coefficients to the ridge fit of (normalised) inputs ``X`` (N, T, C) to
        ``Y`` (N, T, K) at the path's ``step``; the frame count becomes ``X``'s."""
        alpha = self.alpha(step)
        F = self.features(X.detach().to("cpu", torch.float64))
        Yd = Y.detach().to("cpu", torch.float64)
        T, C = F.shape[1:]
        K = Yd.shape[-1]
        w = self.config.window
        frames = (torch.arange(T)[:, None] + torch.arange(-w, w + 1)[None]) % T  # (T, 2w+1)
        A = F[:, frames].permute(1, 0, 2, 3).reshape(T, -1, C)  # (T, samples, C)
        B = Yd[:, frames].permute(1, 0, 2, 3).reshape(T, -1, K)
        mu, sd = A.mean(1, keepdim=True), A.std(1, keepdim=True, correction=0)
        sd = torch.where(sd > 1e-8, sd, torch.ones_like(sd))  # a constant input reads as 0
        Z, b0 = (A - mu) / sd, B.mean(1, keepdim=True)
        n = Z.shape[1]
        gram = Z.transpose(1, 2) @ Z + alpha * n * torch.eye(C, dtype=Z.dtype)
        coef = torch.linalg.solve(gram, Z.transpose(1, 2) @ (B - b0))  # (T, C, K)
        weight = coef / sd.transpose(1, 2)
        bias = b0[:, 0] - (mu @ weight)[:, 0]
        self.config.n_frames = T
        self.weight = nn.Parameter(weight.to(torch.float32))
        self.bias = nn.Parameter(bias.to(torch.float32))
