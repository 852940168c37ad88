"""Transformer encoder (the study's: d_model 128, 4 heads, 2 layers, ff 256, learned
positional embedding, bidirectional, ~332k params with ``max_len`` 500)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gait2hip.models.heads import InputFeatures, OutputHead
from gait2hip.models.registry import ModelConfig, register_model


@dataclass
class TransformerConfig(ModelConfig):
    causal: bool = False  # the study's Transformer sees the whole cycle
    d_model: int = 128
    heads: int = 4
    layers: int = 2
    ff: int = 256
    dropout: float = 0.1
    max_len: int = 500  # rows of the learned positional table (500 matches the ~332k count)


@register_model("transformer", TransformerConfig)
class TransformerModel(nn.Module):
    """causal=True masks attention to frames <= t."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.features = InputFeatures(config.in_dim, config.velocities, config.causal)
        self.embed = nn.Linear(self.features.out_dim, config.d_model)
        self.pos = nn.Parameter(torch.zeros(config.max_len, config.d_model))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d_model=config.d_model,
            nhead=config.heads,
            dim_feedforward=config.ff,
            dropout=config.dropout,
            batch_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.head = OutputHead.for_config(config.d_model, config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        if t > self.config.max_len:
            raise ValueError(f"sequence of {t} frames exceeds max_len {self.config.max_len}")
        h = self.embed(self.features(x)) + self.pos[:t]
        mask = None
        if self.config.causal:
            mask = nn.Transformer.generate_square_subsequent_mask(t, device=x.device)
        h = self.encoder(h, mask=mask, is_causal=self.config.causal)
        return self.head(h)
