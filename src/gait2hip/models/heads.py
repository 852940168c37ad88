"""Output heads shared by every architecture."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class OutputHead(nn.Module):
    """Per-frame linear read-out; softplus makes outputs non-negative when asked."""

    def __init__(self, d_model: int, out_dim: int, nonnegative: bool = False) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, out_dim)
        self.nonnegative = nonnegative

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        y = self.proj(h)
        return F.softplus(y) if self.nonnegative else y
