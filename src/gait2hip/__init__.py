"""gait2hip: predict hip muscle forces and hip joint moments from walking joint angles."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from gait2hip.inference.lab import LabCorrection
    from gait2hip.inference.result import Prediction


def predict(angles: Any, **kwargs: Any) -> Prediction:
    """Predict hip muscle forces and moments for a trial; see
    :func:`gait2hip.inference.api.predict` (imported lazily: ``import gait2hip`` stays light)."""
    from gait2hip.inference.api import predict as _predict

    return _predict(angles, **kwargs)


def adapt(trials: Any, **kwargs: Any) -> tuple[LabCorrection, Any]:
    """Fit a lab correction of the predicted hip moments from the lab's own trials with their
    inverse dynamics; see :func:`gait2hip.inference.adapt.adapt` (``predict(...,
    lab_correction=...)`` applies it)."""
    from gait2hip.inference.adapt import adapt as _adapt

    return _adapt(trials, **kwargs)


__all__ = ["__version__", "adapt", "predict"]
