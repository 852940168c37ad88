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


def _block_diagonal(w: torch.Tensor, hidden: int, directions_in: int) -> torch.Tensor:
    """(K, 4H, D_in·F) weights of K LSTM layers -> (4KH, D_in·K·F), the weight of one LSTM
    layer of hidden size KH that is the K side by side: gate g's unit a of fold k at row
    g·KH + k·H + a, input f of fold k (direction d of the layer below) at column d·KF + k·F
    + f, every other entry 0. An exact selection (multiplied by 0 or 1), forward and backward."""
    K, _, width = w.shape
    f = width // directions_in
    blocks = w.reshape(K, 4, hidden, directions_in, f)
    eye = torch.eye(K, dtype=w.dtype, device=w.device)
    return torch.einsum("kgadf,kl->gkadlf", blocks, eye).reshape(4 * K * hidden, -1)


def stacked_lstm(
    weights: dict[str, torch.Tensor], x: torch.Tensor, rnn: nn.LSTM, training: bool
) -> torch.Tensor:
    """K LSTMs shaped like ``rnn`` run as one: ``weights`` are ``rnn``'s parameters stacked
    with a leading dimension of K (``torch.func.stack_module_state``), ``x`` is (K, B, T, F)
    and the result (K, B, T, D·H), each fold's output that of its own LSTM. One LSTM of
    hidden size K·H whose weights are the K folds' on the diagonal blocks (zero between
    folds) does it in one call of PyTorch's LSTM (cuDNN's on a GPU), where ``torch.func.vmap``
    has no batching rule for it; the zero blocks cost K times the recurrent multiplies.
    Dropout between layers (``rnn.dropout`` when ``training``) draws its masks for the K
    folds together."""
    K, B, T, _ = x.shape
    H, D = rnn.hidden_size, 2 if rnn.bidirectional else 1
    flat: list[torch.Tensor] = []
    for layer in range(rnn.num_layers):
        for suffix in ("", "_reverse")[:D]:
            name = f"l{layer}{suffix}"
            flat += [
                _block_diagonal(weights[f"weight_ih_{name}"], H, 1 if layer == 0 else D),
                _block_diagonal(weights[f"weight_hh_{name}"], H, 1),
                *(weights[f"bias_{kind}_{name}"].reshape(K, 4, H).transpose(0, 1).reshape(-1)
                  for kind in ("ih", "hh") if rnn.bias),
            ]  # fmt: skip
    h0 = x.new_zeros(rnn.num_layers * D, B, K * H)
    joined = x.permute(1, 2, 0, 3).reshape(B, T, -1)
    out, _, _ = torch.lstm(
        joined, (h0, h0), flat, rnn.bias, rnn.num_layers, rnn.dropout, training, D == 2, True
    )
    return out.reshape(B, T, D, K, H).permute(3, 0, 1, 2, 4).reshape(K, B, T, D * H)
