"""Sequence models: registry, factory and one module per architecture."""

from gait2hip.models import lstm, mamba, phaselinear, transformer  # noqa: F401  (register the models)
from gait2hip.models.registry import (
    ModelConfig,
    available_models,
    config_dict,
    count_parameters,
    create_model,
    default_config,
    model_class,
    model_from_config,
    register_model,
    solved_in_closed_form,
    with_config,
    with_extra_inputs,
)

__all__ = [
    "ModelConfig",
    "available_models",
    "config_dict",
    "count_parameters",
    "create_model",
    "default_config",
    "model_class",
    "model_from_config",
    "register_model",
    "solved_in_closed_form",
    "with_config",
    "with_extra_inputs",
]
