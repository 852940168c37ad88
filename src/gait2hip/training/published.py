"""The Gait2Hip-60 study's published trained models as gait2hip models.

The study released six checkpoints (LSTM, Transformer and Mamba, for the 14 hip muscle
forces and the 3 hip moments; MIT licence), trained on 60 healthy adults walking at three
metronome cadences (713 trials). They are read from ``$GAIT2HIP_DATA/gait2hip60/`` and turned
into :class:`~gait2hip.training.checkpoint.TrainedModel` objects of gait2hip's own
architectures, so that every path that takes a gait2hip model (prediction, its outputs and
checks, fine-tuning under the protocol) takes them too.

Loading is safe: ``torch.load(..., weights_only=True)`` with only the numpy globals the files
need allowed (their input scaler is stored as numpy arrays); never a pickle of code.

Layouts (checked with ``load_state_dict(strict=True)``):

- LSTM: ``lstm.*`` (2 layers, 128 units, unidirectional, dropout 0.1) -> ``rnn.*``, ``fc`` ->
  ``head.proj``.
- Transformer: ``input_proj`` -> ``embed``, ``pos_encoder.pos_embed`` (an Embedding of 500
  positions) -> ``pos``, ``encoder.layers.*`` unchanged (PyTorch's post-norm encoder layer),
  ``output_proj`` -> ``head.proj``; bidirectional.
- Mamba: ``input_proj`` -> ``embed``; each block ``blocks.i`` is a ``mamba_ssm`` Mamba-1 mixer
  (``in_proj``, ``conv1d``, ``x_proj``, ``dt_proj``, ``A_log``, ``D``, ``out_proj``) summed into
  the residual without a norm -> ``blocks.i.mixer.*`` (its SSM in ``forward_branch``) with
  ``block_norm="none"``; ``norm`` is a LayerNorm (``final_norm="layer"``); causal.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gait2hip.conventions import CYCLE_FRAMES, INPUT_COLS, REFERENCE_HEIGHT_KEY, get_target
from gait2hip.models import model_from_config
from gait2hip.settings import data_root
from gait2hip.training.checkpoint import TrainedModel
from gait2hip.training.normalize import InputScaler

if TYPE_CHECKING:
    from gait2hip.inference.calibration import Anchor

#: The name that selects the published models (``--model gait2hip60``, ``--init gait2hip60``).
PUBLISHED = "gait2hip60"
#: Our architecture name -> the study's file-name prefix.
ARCHITECTURES: dict[str, str] = {"lstm": "LSTM", "transformer": "Transformer", "mamba": "Mamba"}
#: Target -> the study's file-name suffix.
TARGET_FILES: dict[str, str] = {"forces": "MF60", "moments": "JM60"}
#: The architecture used when none is named: the study's best on both targets (its Table:
#: subject-mean RMSE 1.328 N/kg and 0.110 Nm/kg on its held-out subjects).
DEFAULT_ARCHITECTURE = "transformer"
#: What the published models were trained on, recorded as their dataset.
TRAINING_DATA = "Gait2Hip-60 (60 healthy adults, 3 metronome cadences, 713 trials; not bundled)"
#: The body height their moments are taken to refer to (body-size scaling,
#: :func:`~gait2hip.conventions.size_factors`). The study publishes its subjects' heights only
#: in the dataset we do not have, so this is an assumed adult mean, fixed before measuring; the
#: cohort R² moves by at most 0.01 for 1.70 ± 0.05 m (docs/transfer_results.md).
ASSUMED_REFERENCE_HEIGHT_M = 1.70


class PublishedModelError(ValueError):
    """A published checkpoint that is missing, unreadable or not laid out as expected."""


def published_dir() -> Path:
    """Folder of the study's checkpoints: ``$GAIT2HIP_DATA/gait2hip60``."""
    return data_root() / PUBLISHED


def parse_published(text: str) -> str | None:
    """The architecture a ``gait2hip60`` / ``gait2hip60:<arch>`` spec names (the default
    architecture for plain ``gait2hip60``); None when ``text`` is not such a spec."""
    name, sep, arch = str(text).strip().partition(":")
    if name.lower() != PUBLISHED:
        return None
    arch = arch.strip().lower() if sep else DEFAULT_ARCHITECTURE
    arch = arch.split("-")[0]  # "lstm-causal" as the run folders label it
    if arch not in ARCHITECTURES:
        raise PublishedModelError(
            f"{text!r}: the study published {', '.join(ARCHITECTURES)}; use e.g. {PUBLISHED}:lstm"
        )
    return arch


def published_path(architecture: str, target: str) -> Path:
    if architecture not in ARCHITECTURES:
        raise PublishedModelError(
            f"no published {architecture!r} model; the study published {', '.join(ARCHITECTURES)}"
        )
    if target not in TARGET_FILES:
        raise PublishedModelError(
            f"no published model for target {target!r}; the study published "
            f"{' and '.join(TARGET_FILES)} models"
        )
    return published_dir() / f"{ARCHITECTURES[architecture]}_{TARGET_FILES[target]}.pt"


def _numpy_globals() -> list[Any]:
    """The numpy globals a checkpoint's numpy arrays need (and nothing else)."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    return [_reconstruct, np.ndarray, np.dtype, type(np.dtype(np.float32))]


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The raw checkpoint dict, loaded without running code."""
    if not path.is_file():
        raise PublishedModelError(
            f"{path}: published checkpoint not found; GAIT2HIP_DATA must point to the folder "
            f"holding {PUBLISHED}/ (the study's six .pt files)"
        )
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PublishedModelError(
            f"{path}: not a readable Gait2Hip-60 checkpoint ({first[:200]}); restore the file "
            f"from the study's release"
        ) from None
    missing = {"state_dict", "model_type", "hparams", "mu_x", "sd_x", "in_cols", "out_cols"}
    missing -= set(payload) if isinstance(payload, dict) else set()
    if missing:
        raise PublishedModelError(f"{path}: not a Gait2Hip-60 checkpoint (no {sorted(missing)})")
    return payload


def _config(arch: str, hp: dict[str, Any], n_in: int, n_out: int) -> dict[str, Any]:
    """Our model config equal to the study's ``hparams``."""
    base = {"in_dim": n_in, "out_dim": n_out, "dropout": float(hp.get("dropout", 0.1))}
    if arch == "lstm":
        return {**base, "causal": True, "hidden": int(hp["hidden"]), "layers": int(hp["layers"])}
    if arch == "transformer":
        return {
            **base,
            "causal": False,
            "d_model": int(hp["d_model"]),
            "heads": int(hp["nhead"]),
            "layers": int(hp["num_layers"]),
            "ff": int(hp["dim_feedforward"]),
            "max_len": int(hp.get("max_len", 500)),
        }
    return {
        **base,
        "causal": True,
        "d_model": int(hp["d_model"]),
        "d_state": int(hp["d_state"]),
        "d_conv": int(hp["d_conv"]),
        "expand": int(hp["expand"]),
        "layers": int(hp["layers"]),
        "block_norm": "none",
        "final_norm": "layer",
    }


#: (study's key pattern, our key) per architecture, tried in order; \1 etc. are kept
_RENAMES: dict[str, list[tuple[str, str]]] = {
    "lstm": [(r"^lstm\.", "rnn."), (r"^fc\.", "head.proj.")],
    "transformer": [
        (r"^input_proj\.", "embed."),
        (r"^pos_encoder\.pos_embed\.weight$", "pos"),
        (r"^output_proj\.", "head.proj."),
    ],
    "mamba": [
        (r"^input_proj\.", "embed."),
        (r"^output_proj\.", "head.proj."),
        (r"^blocks\.(\d+)\.(in_proj|out_proj)\.", r"blocks.\1.mixer.\2."),
        (r"^blocks\.(\d+)\.conv1d\.", r"blocks.\1.mixer.forward_branch.conv."),
        (r"^blocks\.(\d+)\.(x_proj|dt_proj)\.", r"blocks.\1.mixer.forward_branch.\2."),
        (r"^blocks\.(\d+)\.(A_log|D)$", r"blocks.\1.mixer.forward_branch.\2"),
    ],
}


def convert_state_dict(arch: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The study's weights under our module's parameter names (unmatched keys unchanged)."""
    out = {}
    for key, value in state.items():
        new = key
        for pattern, repl in _RENAMES[arch]:
            new, n = re.subn(pattern, repl, key)
            if n:
                break
        out[new] = value
    return out


def from_checkpoint(payload: dict[str, Any], source: str) -> TrainedModel:
    """A :class:`TrainedModel` of our architecture from a raw published checkpoint."""
    arch = str(payload["model_type"]).lower()
    if arch not in ARCHITECTURES:
        raise PublishedModelError(f"{source}: unknown model_type {payload['model_type']!r}")
    in_cols = tuple(str(c) for c in payload["in_cols"])
    out_cols = tuple(str(c) for c in payload["out_cols"])
    if in_cols != INPUT_COLS:
        raise PublishedModelError(f"{source}: inputs {list(in_cols)} are not the study's 10")
    target = next((t for t in TARGET_FILES if get_target(t).cols == out_cols), None)
    if target is None:
        raise PublishedModelError(f"{source}: outputs {list(out_cols)} are not a study target")
    config = _config(arch, payload["hparams"], len(in_cols), len(out_cols))
    model = model_from_config(arch, config)
    try:
        model.load_state_dict(convert_state_dict(arch, payload["state_dict"]), strict=True)
    except RuntimeError as err:
        raise PublishedModelError(
            f"{source}: weights do not fit the study's {arch} layout ({str(err)[:300]})"
        ) from None
    model.eval()
    scaler = InputScaler(
        np.asarray(payload["mu_x"], np.float32), np.asarray(payload["sd_x"], np.float32)
    )
    meta = {
        "dataset": TRAINING_DATA,
        "source": source,
        "profile": PUBLISHED,
        "role": "published",
        "target": target,
        "train_unit": get_target(target).train_unit,
        "n_frames": int(payload["hparams"].get("T", CYCLE_FRAMES)),
        REFERENCE_HEIGHT_KEY: ASSUMED_REFERENCE_HEIGHT_M,
        "reference_height_assumed": True,
        "seed": int(payload.get("global_seed", 0)),
        "test_subjects": [str(s) for s in payload.get("test_subjects", [])],
        "study_test_metrics": {
            k: float(v) for k, v in dict(payload.get("test_metrics_subject_mean", {})).items()
        },
    }
    return TrainedModel(model, scaler, in_cols, out_cols, target, meta)


def load_published(architecture: str, target: str) -> TrainedModel:
    """The study's ``architecture`` model for ``target`` (``forces`` or ``moments``)."""
    path = published_path(architecture, target)
    trained = from_checkpoint(read_checkpoint(path), str(path))
    if trained.target != target or trained.name != architecture:
        raise PublishedModelError(
            f"{path}: holds a {trained.name} {trained.target} model, not {architecture} {target}"
        )
    return trained


def available_published() -> list[tuple[str, str]]:
    """(architecture, target) of every published checkpoint present."""
    try:
        folder = published_dir()
    except FileNotFoundError:
        return []
    return [
        (arch, target)
        for arch in ARCHITECTURES
        for target in TARGET_FILES
        if (folder / f"{ARCHITECTURES[arch]}_{TARGET_FILES[target]}.pt").is_file()
    ]


def wise_alpha(model: TrainedModel) -> float:
    """The share of fine-tuned weights in a model averaged with its starting weights (WiSE-FT;
    1 for any other model): recorded in its metadata, else its training profile's."""
    alpha = model.meta.get("wise_alpha")
    if alpha is None and model.meta.get("init"):
        from gait2hip.training.config import PROFILES

        train = PROFILES.get(str(model.meta.get("profile", "")), {}).get("train")
        alpha = getattr(train, "wise_alpha", None)
    return 1.0 if alpha is None else float(alpha)


def anchor_for(model: TrainedModel) -> Anchor | None:
    """The study's published model of ``model``'s architecture and target as its anchor
    (:class:`~gait2hip.inference.calibration.Anchor`): a model of another population to
    compare its predictions with. None for the published models themselves (also as run
    units that kept their weights, 0 epochs), for targets the
    study did not publish, when the checkpoint is not in ``$GAIT2HIP_DATA``, or when it takes
    inputs ``model`` does not have or cycles of another frame count."""
    from gait2hip.inference.calibration import Anchor

    unchanged = model.meta.get("init") == PUBLISHED and model.meta.get("epochs") == 0
    if model.meta.get("role") == "published" or unchanged or model.target not in TARGET_FILES:
        return None
    if (model.name, model.target) not in available_published():
        return None
    other = load_published(model.name, model.target)
    if not set(other.in_cols) <= set(model.in_cols):
        return None
    if model.n_frames != other.n_frames:
        return None  # cycles of another length: the two do not predict the same thing
    return low_passed_as(
        Anchor(other, f"{PUBLISHED}:{model.name}", 1.0 / wise_alpha(model)), [model]
    )


def low_passed_as(anchor: Anchor | None, models) -> Anchor | None:
    """``anchor`` with its read-out low-passed along the cycle as the model of its
    architecture among ``models`` has it (:attr:`TrainedModel.output_lowpass`; unchanged where
    none of them has one): the disagreement that widens an interval compares the two models'
    curves, not a published Transformer's frame-to-frame jitter. One rule for calibration
    (:func:`anchor_for`) and prediction (the predictor's anchor)."""
    if anchor is None:
        return None
    own = next((m for m in models if m.name == anchor.model.name), None)
    harmonics = None if own is None else own.output_lowpass
    if not harmonics:
        return anchor
    return replace(anchor, model=anchor.model.with_output_lowpass(harmonics))


def load_anchor(name: str, factor: float, target: str, unit: Path | None = None) -> Anchor | None:
    """The anchor a calibration names (``gait2hip60:<architecture>``) for ``target``: the unit
    folder's own copy (``anchor.pt``, as the shipped default model carries) or the published
    checkpoint; None when neither is there (the interval then lacks its between-population
    part, and the predictor says so)."""
    from gait2hip.inference.calibration import ANCHOR_FILE, Anchor

    if unit is not None and (unit / ANCHOR_FILE).is_file():
        return Anchor(TrainedModel.load(unit / ANCHOR_FILE), name, factor)
    arch = parse_published(name)
    if arch is None or (arch, target) not in available_published():
        return None
    return Anchor(load_published(arch, target), name, factor)
