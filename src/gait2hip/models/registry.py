"""Model registry and factory: adding a model is one file and one decorator.

Every model maps (batch, frames, inputs) -> (batch, frames, outputs) and carries a dataclass
config (``model.config``) from which :func:`model_from_config` rebuilds it, so a checkpoint
holding the config and the state dict alone restores the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
from torch import nn


@dataclass
class ModelConfig:
    """Fields shared by every architecture."""

    in_dim: int = 10
    out_dim: int = 14
    causal: bool = False  # True: output at frame t sees inputs up to t only
    nonnegative: bool = False  # softplus on the outputs (muscle forces cannot pull < 0)
    # with nonnegative: softplus on the first this many outputs only (0: all), e.g. the
    # forces of a joint forces + moments model
    nonnegative_outputs: int = 0
    # also feed each input's rate of change (gait2hip.models.heads.InputFeatures)
    velocities: bool = False


_REGISTRY: dict[str, tuple[type[ModelConfig], type[nn.Module]]] = {}


def register_model(name: str, config_cls: type[ModelConfig]) -> Callable[[type], type]:
    def deco(cls: type[nn.Module]) -> type[nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = (config_cls, cls)
        cls.model_name = name
        return cls

    return deco


def available_models() -> list[str]:
    return sorted(_REGISTRY)


def _lookup(name: str) -> tuple[type[ModelConfig], type[nn.Module]]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; available: {', '.join(available_models())}"
        ) from None


def model_class(name: str) -> type[nn.Module]:
    """The registered model class of ``name``."""
    return _lookup(name)[1]


def default_config(name: str, **overrides: Any) -> ModelConfig:
    """The model's reference-size config, with ``overrides`` applied (unknown keys raise)."""
    config_cls, _ = _lookup(name)
    known = {f.name for f in fields(config_cls)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"{name}: unknown config keys {sorted(unknown)}; known: {sorted(known)}")
    return config_cls(**overrides)


def create_model(name: str, **overrides: Any) -> nn.Module:
    """``create_model("transformer", causal=False, out_dim=3)``."""
    return model_from_config(name, default_config(name, **overrides))


def model_from_config(name: str, config: ModelConfig | dict[str, Any]) -> nn.Module:
    config_cls, model_cls = _lookup(name)
    if isinstance(config, dict):
        config = default_config(name, **config)
    if not isinstance(config, config_cls):
        raise TypeError(f"{name} needs a {config_cls.__name__}, got {type(config).__name__}")
    return model_cls(config)


def config_dict(model: nn.Module) -> dict[str, Any]:
    return asdict(model.config)


def solved_in_closed_form(model: nn.Module) -> bool:
    """A model fitted by its own ``solve(X, Y, step)`` along a regularisation path of
    ``path_length`` steps (gait2hip.models.phaselinear) rather than by gradient steps: the
    training loop walks the path in place of epochs."""
    return hasattr(model, "solve") and hasattr(model, "path_length")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def with_config(model: nn.Module, **changes: Any) -> nn.Module:
    """A copy of ``model`` with the config fields ``changes`` and the same weights, for fields
    that change what the model computes but none of its parameters (e.g. the Transformer's
    ``output_lowpass``); refused where the parameters would differ."""
    other = model_from_config(model.model_name, replace(model.config, **changes))
    own, new = model.state_dict(), other.state_dict()
    if {k: v.shape for k, v in own.items()} != {k: v.shape for k, v in new.items()}:
        raise ValueError(f"{model.model_name}: {sorted(changes)} would change its parameters")
    other.load_state_dict(own)
    return other.train(model.training)


def with_extra_inputs(model: nn.Module, extra: int) -> nn.Module:
    """A copy of ``model`` that takes ``extra`` more input channels (appended after its own)
    and ignores them to start with: every weight is copied, and the one input weight that
    reads the inputs (the only parameter whose shape depends on ``in_dim``) gets ``extra``
    zero columns, so the new model predicts exactly what ``model`` does until training moves
    them. For starting a pretrained model on inputs it never had (e.g. the cycle's duration)."""
    if extra <= 0:
        raise ValueError(f"extra input channels must be > 0, got {extra}")
    config = replace(model.config, in_dim=model.config.in_dim + extra)
    wider = model_from_config(model.model_name, config)
    old = model.state_dict()
    new = wider.state_dict()
    grown = [k for k in new if new[k].shape != old[k].shape]
    if len(grown) != 1 or new[grown[0]].shape[:-1] != old[grown[0]].shape[:-1]:
        raise ValueError(f"{model.model_name}: cannot tell its input weight apart ({grown})")
    k = grown[0]
    padded = torch.zeros(new[k].shape, dtype=old[k].dtype)
    padded[..., : old[k].shape[-1]] = old[k]
    wider.load_state_dict({**old, k: padded})
    return wider
