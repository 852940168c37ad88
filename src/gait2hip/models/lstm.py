"""LSTM sequence model (the study's: hidden 128, 2 layers, unidirectional, ~206k params)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gait2hip.models.heads import InputFeatures, OutputHead
from gait2hip.models.registry import ModelConfig, register_model


@dataclass
class LSTMConfig(ModelConfig):
    causal: bool = True  # the study's LSTM is unidirectional
    hidden: int = 128  # per direction
    layers: int = 2
    dropout: float = 0.0


@register_model("lstm", LSTMConfig)
class LSTMModel(nn.Module):
    """causal=False gives a bidirectional LSTM (``hidden`` units per direction)."""

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.features = InputFeatures(config.in_dim, config.velocities, config.causal)
        self.rnn = nn.LSTM(
            input_size=self.features.out_dim,
            hidden_size=config.hidden,
            num_layers=config.layers,
            batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
            bidirectional=not config.causal,
        )
        width = config.hidden * (1 if config.causal else 2)
        self.head = OutputHead.for_config(width, config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(self.features(x))
        return self.head(h)
