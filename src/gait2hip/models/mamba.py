"""Mamba (selective state space) in plain PyTorch, CPU only: no ``mamba-ssm`` needed.

The study's Mamba: d_model 128, d_state 16, conv 4, expand 2, 2 residual blocks, ~236k
params, causal. By default each block is pre-normed (RMSNorm) and so is the read-out; the
study's published checkpoints have no norm inside the residual, a LayerNorm before the
read-out and dropout 0.1 on each block's output (``block_norm="none"``, ``final_norm="layer"``,
``dropout=0.1``: :mod:`gait2hip.training.published`).

``causal=False`` adds a backward-in-time SSM branch per block (as in Vision Mamba: shared
in/out projections, its own conv, projections, A and D), so the bidirectional variant costs
~18k extra parameters per block, not a second model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from gait2hip.models.heads import InputFeatures, OutputHead
from gait2hip.models.registry import ModelConfig, register_model
from gait2hip.models.scan import causal_conv_silu, selective_scan


@dataclass
class MambaConfig(ModelConfig):
    causal: bool = True  # the study's Mamba scans forward in time only
    d_model: int = 128
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    layers: int = 2
    dt_min: float = 0.001
    dt_max: float = 0.1
    scan: str = "fused"  # see gait2hip.models.scan
    block_norm: str = "rms"  # norm inside each residual block: "rms" or "none"
    final_norm: str = "rms"  # norm before the read-out: "rms" or "layer"
    dropout: float = 0.0  # on each block's output, before the residual sum

    def __post_init__(self) -> None:
        if self.block_norm not in ("rms", "none"):
            raise ValueError(f"block_norm must be 'rms' or 'none', not {self.block_norm!r}")
        if self.final_norm not in ("rms", "layer"):
            raise ValueError(f"final_norm must be 'rms' or 'layer', not {self.final_norm!r}")


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class SSMBranch(nn.Module):
    """Causal depthwise conv + input-dependent (selective) SSM over one time direction."""

    def __init__(self, c: MambaConfig) -> None:
        super().__init__()
        d_inner = c.expand * c.d_model
        self.dt_rank = math.ceil(c.d_model / 16)
        self.d_state = c.d_state
        self.scan = c.scan
        self.conv = nn.Conv1d(d_inner, d_inner, c.d_conv, groups=d_inner, padding=c.d_conv - 1)
        self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * c.d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, d_inner)
        # initialisation as in Mamba: dt in [dt_min, dt_max] log-uniformly, A = -(1..N)
        nn.init.uniform_(self.dt_proj.weight, -(self.dt_rank**-0.5), self.dt_rank**-0.5)
        dt = torch.exp(
            torch.rand(d_inner) * (math.log(c.dt_max) - math.log(c.dt_min)) + math.log(c.dt_min)
        ).clamp(min=1e-4)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)
        A = torch.arange(1, c.d_state + 1, dtype=torch.float32).repeat(d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(d_inner))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, L, E)
        x = causal_conv_silu(x, self.conv.weight, self.conv.bias)
        dt, Bm, Cm = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt))
        A = -torch.exp(self.A_log)
        y = selective_scan(x, delta, A, Bm.contiguous(), Cm.contiguous(), impl=self.scan)
        return y + x * self.D


class MambaMixer(nn.Module):
    def __init__(self, c: MambaConfig) -> None:
        super().__init__()
        d_inner = c.expand * c.d_model
        self.in_proj = nn.Linear(c.d_model, 2 * d_inner, bias=False)
        self.forward_branch = SSMBranch(c)
        self.backward_branch = None if c.causal else SSMBranch(c)
        self.out_proj = nn.Linear(d_inner, c.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # in_proj's two halves as two products: each output contiguous (a chunk of one product
        # is a strided view, copied by the branch) and no cat of their gradients in the backward
        xi_w, z_w = self.in_proj.weight.chunk(2, dim=0)
        xi, z = F.linear(x, xi_w), F.linear(x, z_w)
        y = self.forward_branch(xi)
        if self.backward_branch is not None:
            y = y + self.backward_branch(xi.flip(1)).flip(1)
        return self.out_proj(y * F.silu(z))


class MambaBlock(nn.Module):
    def __init__(self, c: MambaConfig) -> None:
        super().__init__()
        self.norm = RMSNorm(c.d_model) if c.block_norm == "rms" else nn.Identity()
        self.mixer = MambaMixer(c)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(self.mixer(self.norm(x)))


@register_model("mamba", MambaConfig)
class MambaModel(nn.Module):
    def __init__(self, config: MambaConfig) -> None:
        super().__init__()
        self.config = config
        self.features = InputFeatures(config.in_dim, config.velocities, config.causal)
        self.embed = nn.Linear(self.features.out_dim, config.d_model)
        self.blocks = nn.ModuleList(MambaBlock(config) for _ in range(config.layers))
        self.norm = (
            RMSNorm(config.d_model) if config.final_norm == "rms" else nn.LayerNorm(config.d_model)
        )
        self.head = OutputHead.for_config(config.d_model, config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(self.features(x))
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))
