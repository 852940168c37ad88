"""gait2hip: predict hip muscle forces and hip joint moments from walking joint angles."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from gait2hip.inference.result import Prediction


def predict(angles: Any, **kwargs: Any) -> Prediction:
    """Predict hip muscle forces and moments for a trial; see
    :func:`gait2hip.inference.api.predict` (imported lazily: ``import gait2hip`` stays light)."""
    from gait2hip.inference.api import predict as _predict

    return _predict(angles, **kwargs)


__all__ = ["__version__", "predict"]
