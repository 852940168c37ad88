"""Transformer encoder (the study's: d_model 128, 4 heads, 2 layers, ff 256, learned
positional embedding, bidirectional, ~332k params with ``max_len`` 500).

The layers are PyTorch's post-norm ``TransformerEncoderLayer`` (their parameters are what
checkpoints hold). Evaluation runs PyTorch's own forward. Training with dropout on the CPU
runs the same layer written out here, so that its four dropouts per layer (attention weights,
attention output, feed-forward hidden and output) draw their masks the cheaper way of
:mod:`gait2hip.models.dropout`, each fused with the softmax, residual add or ReLU beside it;
PyTorch's path draws one random number per element, which was a fifth of a training step
(docs/speed.md). Without dropout both paths give the same numbers to float rounding
(tests/test_models.py).

The learned positional table gives every frame a row of its own, and the outputs jitter from
frame to frame as no label does (the study's published Transformer too;
docs/predict_results.md). ``output_lowpass`` (cycles per gait cycle; 0, the study's
architecture: none) low-passes the read-out along the cycle with a fixed zero-phase filter
(:class:`~gait2hip.models.heads.FrameLowpass`), in training and prediction alike; it adds no
parameter, so a trained model can take it (``TrainedModel.with_output_lowpass``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from gait2hip.models.dropout import cheap_masks, dropout_add, relu_dropout, softmax_dropout
from gait2hip.models.heads import InputFeatures, OutputHead
from gait2hip.models.registry import ModelConfig, register_model
from gait2hip.models.switch import Switch

#: On: evaluation (and training without the compiled dropouts) runs PyTorch's encoder layers.
#: Within ``TORCH_ENCODER.off()`` every forward runs the layers as written out here, whose
#: attention is two matrix products: what ``torch.func.vmap`` maps over stacked models without
#: a per-model loop (PyTorch's fused attention has no batching rule; gait2hip.training.batched).
TORCH_ENCODER = Switch()


@dataclass
class TransformerConfig(ModelConfig):
    causal: bool = False  # the study's Transformer sees the whole cycle
    d_model: int = 128
    heads: int = 4
    layers: int = 2
    ff: int = 256
    dropout: float = 0.1
    max_len: int = 500  # rows of the learned positional table (500 matches the ~332k count)
    # > 0: the read-out low-passed along the cycle at this many cycles per gait cycle
    # (gait2hip.models.heads.FrameLowpass): the learned table gives each frame a row of its
    # own, which shows as frame-to-frame jitter in the outputs (docs/predict_results.md);
    # zero-phase, so for the bidirectional model only. 0: the study's architecture
    output_lowpass: float = 0.0

    def __post_init__(self) -> None:
        if self.output_lowpass < 0:
            raise ValueError(f"output_lowpass must be >= 0, got {self.output_lowpass}")
        if self.output_lowpass and self.causal:
            raise ValueError(
                "output_lowpass filters along the whole cycle (zero-phase), so frame t would "
                "see later frames: a causal Transformer cannot have it"
            )


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
        # post-norm with ReLU: what _train_layer writes out
        assert not layer.norm_first and layer.activation_relu_or_gelu == 1
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
        written_out = not TORCH_ENCODER.on
        if written_out or (self.training and self.config.dropout > 0 and cheap_masks(h)):
            for layer in self.encoder.layers:
                h = _train_layer(layer, h, mask, self.training)
        else:
            h = self.encoder(h, mask=mask, is_causal=self.config.causal)
        return self.head(h)


def _train_layer(
    layer: nn.TransformerEncoderLayer,
    x: torch.Tensor,
    mask: torch.Tensor | None,
    training: bool = True,
) -> torch.Tensor:
    """``layer``'s forward (post-norm, ReLU, batch first), its dropouts (``training``) drawn
    by :func:`gait2hip.models.dropout.dropout`."""
    attn = layer.self_attn
    b, t, d = x.shape
    heads = attn.num_heads
    qkv = F.linear(x, attn.in_proj_weight, attn.in_proj_bias)
    # (b, heads, t, .) each, contiguous: keeps the gradients of the attention weights
    # contiguous too, which softmax's backward needs to be fast
    q, k, v = qkv.view(b, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4).contiguous()
    scores = torch.matmul(q * (d // heads) ** -0.5, k.transpose(-2, -1))
    if mask is not None:
        scores = scores + mask
    weights = softmax_dropout(scores, attn.dropout, training)
    a = torch.matmul(weights, v).transpose(1, 2).reshape(b, t, d)
    a = attn.out_proj(a)
    x = layer.norm1(dropout_add(a, x, layer.dropout1.p, training))
    hidden = relu_dropout(layer.linear1(x), layer.dropout.p, training)
    return layer.norm2(dropout_add(layer.linear2(hidden), x, layer.dropout2.p, training))
