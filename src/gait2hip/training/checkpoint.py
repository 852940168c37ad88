"""Checkpoints: config + weights + input scaler + column names, loadable with
``torch.load(..., weights_only=True)`` (plain dicts, lists, numbers and tensors; no pickled
code)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gait2hip.conventions import CYCLE_FRAMES, FORCE_COLS, REFERENCE_HEIGHT_KEY, size_factors
from gait2hip.data.dataset import input_columns_for
from gait2hip.io.atomic import atomic_path
from gait2hip.models import config_dict, model_from_config, with_config, with_extra_inputs
from gait2hip.training.loop import predict_array
from gait2hip.training.normalize import InputScaler

FORMAT = "gait2hip-checkpoint/1"


@dataclass
class TrainedModel:
    """A model ready to predict: network, input scaler and the columns it was trained on."""

    model: nn.Module
    scaler: InputScaler
    in_cols: tuple[str, ...]
    out_cols: tuple[str, ...]
    target: str
    meta: dict[str, Any]

    @property
    def name(self) -> str:
        return self.model.model_name

    @property
    def reference_height_m(self) -> float | None:
        """The body height its per-kg moments refer to (the mean height of the subjects it
        learnt from; :func:`~gait2hip.conventions.size_factors`), None if not recorded."""
        value = self.meta.get(REFERENCE_HEIGHT_KEY)
        return None if value is None else float(value)

    @property
    def n_frames(self) -> int:
        """Frames per gait cycle it was trained on (checkpoints without it: the study's)."""
        return int(self.meta.get("n_frames", CYCLE_FRAMES))

    def size_factors(self, height_m, n: int) -> np.ndarray:
        """(n, 1, K) factors from its outputs to those of subjects of ``height_m``."""
        return size_factors(self.out_cols, height_m, n, self.reference_height_m)

    def with_extra_inputs(self, cols: Sequence[str], X_extra: np.ndarray) -> TrainedModel:
        """This model taking the input channels ``cols`` after its own, their weights zero to
        start with (:func:`~gait2hip.models.registry.with_extra_inputs`: it predicts exactly
        as before) and their z-scoring fitted on ``X_extra`` (N, T, len(cols)), the training
        data's values of them. For fine-tuning pretrained weights with inputs they never had."""
        extra = InputScaler.fit(X_extra)
        scaler = InputScaler(
            np.concatenate([self.scaler.mean, extra.mean]),
            np.concatenate([self.scaler.std, extra.std]),
        )
        return TrainedModel(
            model=with_extra_inputs(self.model, len(cols)),
            scaler=scaler,
            in_cols=(*self.in_cols, *cols),
            out_cols=self.out_cols,
            target=self.target,
            meta=dict(self.meta),
        )

    @property
    def output_lowpass(self) -> float | None:
        """Cycles per gait cycle its read-out is low-passed at (0: not), None for a model that
        cannot be (one without the option, or a causal one: the filter reads later frames)."""
        config = self.model.config
        if not hasattr(config, "output_lowpass") or config.causal:
            return None
        return float(config.output_lowpass)

    def with_output_lowpass(self, harmonics: float) -> TrainedModel:
        """This model with its read-out low-passed along the cycle at ``harmonics`` cycles per
        gait cycle (0: not; :class:`~gait2hip.models.heads.FrameLowpass`), the same weights;
        itself where it cannot be (:attr:`output_lowpass` None)."""
        if self.output_lowpass is None:
            return self
        model = with_config(self.model, output_lowpass=float(harmonics))
        return replace(self, model=model, meta=dict(self.meta))

    def predict_per_kg(self, X_deg: np.ndarray, height_m=None) -> np.ndarray:
        """(N, T, C) angles in degrees, C = ``in_cols`` in order -> (N, T, K) targets per kg
        (N/kg or Nm/kg), moments scaled to the body height ``height_m`` (one, or one per
        cycle; NaN or None: the model's reference height)."""
        y = self.predict_reference(X_deg)
        return y * self.size_factors(height_m, len(y))

    def predict_reference(self, X_deg: np.ndarray) -> np.ndarray:
        """Like :meth:`predict_per_kg`, for a walker of the model's reference height."""
        if X_deg.ndim != 3 or X_deg.shape[-1] != len(self.in_cols):
            raise ValueError(
                f"{self.name} takes (cycles, frames, {len(self.in_cols)}) angles "
                f"{list(self.in_cols)}, got shape {X_deg.shape}; use predict_named() for data "
                "with other channels"
            )
        y = predict_array(self.model, self.scaler.transform(X_deg))
        # a muscle pulls and never pushes: negative tension (a linear read-out can give it
        # where a muscle is silent) is 0. As every label is >= 0, this never adds error.
        forces = [j for j, c in enumerate(self.out_cols) if c in FORCE_COLS]
        if forces:
            y[..., forces] = np.maximum(y[..., forces], 0.0)
        return y

    def predict_like(self, first: TrainedModel, X_deg: np.ndarray) -> np.ndarray:
        """Its per-kg predictions for cycles ``X_deg`` given in ``first``'s input columns, for
        a walker of ``first``'s reference height: how each model of an average led by
        ``first`` predicts (it reads its own inputs among them, e.g. the angles without the
        cycle's duration, and its moments are rescaled from its own reference height)."""
        if self.in_cols == first.in_cols and self.reference_height_m == first.reference_height_m:
            return self.predict_reference(X_deg)
        X = X_deg[..., [first.in_cols.index(c) for c in self.in_cols]]
        return self.predict_per_kg(X, first.reference_height_m)

    def predict_named(
        self, X_deg: np.ndarray, cols: Sequence[str], source: str = "<data>", height_m=None
    ) -> np.ndarray:
        """Like :meth:`predict_per_kg` for data whose channels ``cols`` include (in any order)
        the model's ``in_cols``; refuses data that lacks one, naming it."""
        X = X_deg[..., input_columns_for(self.in_cols, cols, source)]
        return self.predict_per_kg(X, height_m)

    def save(self, path: str | Path) -> Path:
        payload = {
            "format": FORMAT,
            "model_name": self.name,
            "model_config": config_dict(self.model),
            "state_dict": self.model.state_dict(),
            "input_mean": torch.from_numpy(self.scaler.mean),
            "input_std": torch.from_numpy(self.scaler.std),
            "in_cols": list(self.in_cols),
            "out_cols": list(self.out_cols),
            "target": self.target,
            "meta": self.meta,
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> TrainedModel:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no checkpoint there; train one with `gait2hip benchmark`"
            )
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError(f"{path}: not a gait2hip checkpoint ({FORMAT})")
        model = model_from_config(payload["model_name"], payload["model_config"])
        model.load_state_dict(payload["state_dict"])
        model.eval()
        scaler = InputScaler(payload["input_mean"].numpy(), payload["input_std"].numpy())
        return cls(
            model=model,
            scaler=scaler,
            in_cols=tuple(payload["in_cols"]),
            out_cols=tuple(payload["out_cols"]),
            target=payload["target"],
            meta=payload["meta"],
        )


def average_identity(m: TrainedModel) -> dict[str, Any]:
    """What two models must share for their predictions to be averaged (one :class:`AveragedModel`,
    or a unit folder's ``members/``), by name; besides, a member may read only inputs the
    first model reads (:func:`average_refusal`)."""
    return {
        "target": m.target,
        "out_cols": m.out_cols,
        "frames per cycle": m.n_frames,
    }


def average_refusal(first: TrainedModel, member: TrainedModel) -> str | None:
    """Why ``member`` cannot be averaged with ``first`` (which supplies the inputs), as a
    phrase ("its out_cols differ"); None when it can."""
    own = average_identity(first)
    for what, value in average_identity(member).items():
        if value != own[what]:
            return f"its {what} differ"
    extra = [c for c in member.in_cols if c not in first.in_cols]
    if extra:
        return f"it takes inputs {extra} that the first model does not"
    return None


@dataclass(frozen=True)
class AveragedModel:
    """Models of one target and outputs (e.g. several architectures trained on the same
    subjects) predicting as one: the mean of their predictions (:meth:`TrainedModel.predict_like`).
    Columns, scaler, reference walker and metadata are the first model's, which reads every
    input the others do (models trained on the same cycles z-score them alike)."""

    models: tuple[TrainedModel, ...]

    @property
    def first(self) -> TrainedModel:
        return self.models[0]

    @property
    def name(self) -> str:
        return "+".join(m.name for m in self.models)

    @property
    def in_cols(self) -> tuple[str, ...]:
        return self.first.in_cols

    @property
    def out_cols(self) -> tuple[str, ...]:
        return self.first.out_cols

    @property
    def target(self) -> str:
        return self.first.target

    @property
    def meta(self) -> dict[str, Any]:
        return self.first.meta

    @property
    def scaler(self) -> InputScaler:
        return self.first.scaler

    @property
    def reference_height_m(self) -> float | None:
        return self.first.reference_height_m

    def size_factors(self, height_m, n: int) -> np.ndarray:
        return self.first.size_factors(height_m, n)

    def predict_reference(self, X_deg: np.ndarray) -> np.ndarray:
        return np.mean([m.predict_like(self.first, X_deg) for m in self.models], axis=0)

    def predict_per_kg(self, X_deg: np.ndarray, height_m=None) -> np.ndarray:
        y = self.predict_reference(X_deg)
        return y * self.size_factors(height_m, len(y))
