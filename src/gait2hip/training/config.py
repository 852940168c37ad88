"""Training and protocol configs, and the named profiles (``paper``, ``recipe``, ``quick``...)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from gait2hip.conventions import (
    FORCE_COLS,
    INPUT_COLS,
    JOINT,
    SERIES_INPUTS,
    SERIES_SETS,
    STATIC_INPUTS,
    is_angle,
    resolve_inputs,
)
from gait2hip.models import available_models, default_config

LOSS_WEIGHTINGS = ("none", "inverse_variance", "balanced")
#: Weights a benchmark's models may start from instead of a random initialisation: the
#: Gait2Hip-60 study's published models (gait2hip.training.published)
INITS = ("gait2hip60",)
MAX_TIME_WARP = 0.3  # u + a sin(pi u) is monotone for a < 1/pi
MIN_AUTO_BATCH = 8  # the smallest batch steps_per_epoch may choose


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one fit (the study's by default)."""

    lr: float = 1e-4
    weight_decay: float = 1e-5
    batch_size: int = 64
    grad_clip: float = 0.5
    max_epochs: int = 300
    patience: int = 30
    # "none": plain MSE (the study). "inverse_variance": each channel's squared error divided
    # by its training variance, so small muscles count as much as big ones. "balanced": each
    # part of a joint target (forces, moments) divided by its mean channel variance, so N/kg
    # do not drown Nm/kg while channels keep their relative scale within a part (= "none"
    # for a single target; the joint target's default).
    loss_weighting: str = "none"
    # "constant" (the study) or "cosine": cosine decay to 0 over max_epochs
    lr_schedule: str = "constant"
    # weight of the physical-consistency term (forces datasets with moment arms): mean squared
    # (Nm/kg)^2 of sum_g arm_g x predicted force_g - labelled hip moment, added to the MSE
    physics_weight: float = 0.0
    # augmentation: each training cycle (inputs and labels alike) is time-warped by a smooth
    # monotone map u -> u + a s sin(pi u), s ~ U(-1, 1), fresh every epoch: frames move by up
    # to a (a fraction of the cycle), the cycle's ends stay put. 0: off (the study)
    time_warp: float = 0.0
    # 0: every fit uses batch_size (the study). N > 0: the batch shrinks with the training
    # set so that an epoch has at least N optimiser steps (never below MIN_AUTO_BATCH nor
    # above batch_size): the study's 64 gave ~7 steps per epoch on its 455 fold-training
    # trials, but a single step on a 60-cycle pool
    steps_per_epoch: int = 0
    # runs from pretrained weights (--init): after each fit the weights become
    # (1 - a) x starting + a x fine-tuned, a = wise_alpha (weight-space ensembling, "WiSE-FT",
    # Wortsman et al. 2022, CVPR: keeps the pretrained model's breadth while gaining most of
    # the fine-tuning). 1: the fine-tuned weights as they are
    wise_alpha: float = 1.0

    def batch_for(self, n_train: int) -> int:
        """The batch size of a fit on ``n_train`` cycles."""
        if self.steps_per_epoch <= 0:
            return self.batch_size
        wanted = math.ceil(n_train / self.steps_per_epoch)
        return min(self.batch_size, max(MIN_AUTO_BATCH, wanted))

    def __post_init__(self) -> None:
        if self.loss_weighting not in LOSS_WEIGHTINGS:
            raise ValueError(
                f"loss_weighting must be one of {LOSS_WEIGHTINGS}, not {self.loss_weighting!r}"
            )
        if not 0 <= self.time_warp < MAX_TIME_WARP:
            raise ValueError(
                f"time_warp must be in [0, {MAX_TIME_WARP:.2f}) to keep the warp monotone, "
                f"not {self.time_warp!r}"
            )
        if not self.physics_weight >= 0:
            raise ValueError(f"physics_weight must be >= 0, not {self.physics_weight!r}")
        if self.steps_per_epoch < 0:
            raise ValueError(f"steps_per_epoch must be >= 0, not {self.steps_per_epoch!r}")
        if not 0 <= self.wise_alpha <= 1:
            raise ValueError(f"wise_alpha must be in [0, 1], not {self.wise_alpha!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(
                f"lr_schedule must be 'constant' or 'cosine', not {self.lr_schedule!r}"
            )


@dataclass(frozen=True)
class ModelSpec:
    """An architecture and its time direction, e.g. ``lstm`` or ``transformer:causal``."""

    name: str
    causal: bool

    @property
    def label(self) -> str:
        return f"{self.name}-{'causal' if self.causal else 'bidir'}"

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """``name`` (the study's direction), ``name:causal`` or ``name:bidir``."""
        name, _, variant = text.strip().partition(":")
        if name not in available_models():
            raise ValueError(f"unknown model {name!r}; available: {', '.join(available_models())}")
        if variant == "":
            return cls(name, default_config(name).causal)
        if variant not in ("causal", "bidir"):
            raise ValueError(f"{text!r}: variant must be 'causal' or 'bidir'")
        default_config(name, causal=variant == "causal")  # a direction it cannot take raises
        return cls(name, variant == "causal")


@dataclass(frozen=True)
class BenchmarkConfig:
    """Everything that defines a benchmark run; saved as config.json in the run folder."""

    target: str
    models: tuple[ModelSpec, ...]
    profile: str = "paper"
    train: TrainConfig = field(default_factory=TrainConfig)
    model_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    test_fraction: float = 0.2
    split_seeds: tuple[int, ...] = (42,)
    seeds: tuple[int, ...] = (2025,)
    n_folds: int = 5
    nonnegative: bool = False  # softplus outputs (only meaningful for forces)
    n_bootstrap: int = 2000
    # input channels the models see (a subset of INPUT_COLS, e.g. one leg for cohorts that
    # only have the analysed leg); recorded in every checkpoint
    inputs: tuple[str, ...] = INPUT_COLS
    # also feed every model the inputs' rates of change (derived inside the model)
    velocities: bool = False
    # "" (random initialisation) or one of INITS: every model starts from those weights, with
    # their sizes and input scaler; the unchanged weights compete with each epoch in early
    # stopping (epoch 0), so a fold may keep them
    init: str = ""
    # "" or a condition (speed_label) whose cycles form the test set while the models train
    # on the others only: a transfer across conditions on top of the subject holdout
    holdout_condition: str = ""

    def __post_init__(self) -> None:
        leaked = [c for c in self.inputs if c in SERIES_INPUTS]
        if leaked and self.target != "forces":
            raise ValueError(
                f"inputs {leaked} are the hip moments of inverse dynamics, what a {self.target} "
                "model predicts: only forces models can take them (--target forces)"
            )
        if not self.init:
            if self.train.wise_alpha != 1:
                raise ValueError(
                    "wise_alpha averages fine-tuned with starting weights: it needs --init "
                    f"({', '.join(INITS)})"
                )
            return
        if self.init not in INITS:
            raise ValueError(f"unknown --init {self.init!r}; choose one of {list(INITS)}")
        problems = []
        if self.target not in ("forces", "moments"):
            problems.append(f"target {self.target!r} (the study published forces and moments)")
        extra = self.inputs[len(INPUT_COLS) :]
        if self.inputs[: len(INPUT_COLS)] != INPUT_COLS or any(is_angle(c) for c in extra):
            problems.append(
                f"inputs {list(self.inputs)} (its models take the 10 angles, to which only "
                f"the hip moments ({', '.join(SERIES_SETS)}) and per-cycle inputs "
                f"({', '.join(STATIC_INPUTS)}) can be added)"
            )
        if self.velocities or self.nonnegative:
            problems.append("--velocities/--nonnegative (its models have neither)")
        from gait2hip.training.published import ARCHITECTURES  # (it imports this one, indirectly)

        problems += [
            f"model {m.label} (the study published {', '.join(ARCHITECTURES)} only)"
            if m.name not in ARCHITECTURES
            else f"model {m.label} (it published {m.name} in the study's direction only)"
            for m in self.models
            if m.name not in ARCHITECTURES or m.causal != default_config(m.name).causal
        ]
        if problems:
            raise ValueError(f"--init {self.init}: cannot start {'; '.join(problems)}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["models"] = [m.label for m in self.models]
        d["inputs"] = list(self.inputs)
        # settings added later are left out at their defaults, so older run folders resume
        if self.inputs == INPUT_COLS:
            del d["inputs"]
        if not self.velocities:
            del d["velocities"]
        if not self.init:
            del d["init"]
        if not self.holdout_condition:
            del d["holdout_condition"]
        if self.train.lr_schedule == "constant":
            del d["train"]["lr_schedule"]
        if self.train.physics_weight == 0:
            del d["train"]["physics_weight"]
        if self.train.time_warp == 0:
            del d["train"]["time_warp"]
        if self.train.steps_per_epoch == 0:
            del d["train"]["steps_per_epoch"]
        if self.train.wise_alpha == 1:
            del d["train"]["wise_alpha"]
        return d

    def model_config(self, spec: ModelSpec, in_dim: int, out_dim: int) -> dict[str, Any]:
        joint = self.target == JOINT  # its forces are non-negative by construction
        return {
            **self.model_overrides.get(spec.name, {}),
            "in_dim": in_dim,
            "out_dim": out_dim,
            "causal": spec.causal,
            "nonnegative": self.nonnegative or joint,
            **({"nonnegative_outputs": len(FORCE_COLS)} if joint else {}),
            "velocities": self.velocities,
        }


# The study's protocol (SPEC): AdamW 1e-4, wd 1e-5, batch 64, clip 0.5, MSE, patience 30,
# max 300 epochs, 5 folds, 20% test subjects with seed 42, training seed 2025.
PAPER = dict(train=TrainConfig(), n_folds=5, model_overrides={})

# A few minutes for all three models on 2 cores on the demo data: smaller models, a higher
# learning rate, fewer epochs and folds. For smoke tests and demos, not for results.
QUICK = dict(
    train=TrainConfig(lr=2e-3, max_epochs=40, patience=8),
    n_folds=3,
    model_overrides={
        "lstm": {"hidden": 48},
        "transformer": {"d_model": 48, "ff": 96, "heads": 4, "dropout": 0.0},
        "mamba": {"d_model": 32, "d_state": 8},
    },
)

# The study's protocol and model sizes with an optimiser set for the data's size: the batch
# shrinks so that every epoch has at least the study's ~8 optimiser steps (batch 8 on the
# walking data's ~46 fold-training cycles, ~40-50 on the running data's ~310-390), and a 10x
# learning rate (1e-3, Adam's usual default; the pool-only tuning in docs/tuning.md chose
# 2.9e-3 at batch 8), so that 300 epochs suffice. Chosen before any comparison on test subjects.
RECIPE = dict(train=TrainConfig(lr=1e-3, steps_per_epoch=8), n_folds=5, model_overrides={})

# The recipe plus each cycle's duration as a constant input channel. An ablation chose it on
# test splits earlier comparisons share; on fresh split seeds (11-13) it beat `paper` on walking
# moments by 12-29 % and on forces by 33-44 % (docs/compare.md), but against `recipe` it
# lowered the forces' subject RMSE for Mamba only (docs/recipe.md), so it is a profile of its
# own in the default comparison rather than part of `recipe`.
RECIPE_DURATION = dict(RECIPE, inputs=resolve_inputs("all,cycle_duration_s"))

# The study's published models (60 adults, 3 cadences) as they are: zero epochs, so every fold
# model and the final model are the published weights, evaluated on the same splits and with
# the same metrics and calibration as any trained model. The zero-shot baseline.
GAIT2HIP60 = dict(train=TrainConfig(max_epochs=0), n_folds=5, model_overrides={}, init="gait2hip60")

# Fine-tuning the published models under the protocol: the recipe's batch (>= 8 steps per
# epoch) at the study's own learning rate (1e-4, a tenth of the recipe's, so that the first
# epochs refine the published weights rather than overwrite them). Chosen before any run.
GAIT2HIP60_FINETUNE = dict(
    train=TrainConfig(lr=1e-4, steps_per_epoch=8), n_folds=5, model_overrides={}, init="gait2hip60"
)

# Fine-tuned as above, then the weights averaged with the published ones (wise_alpha 0.5, the
# WiSE-FT paper's default): fine-tuning on our 18 adults at two speeds lost the published
# models' transfer to children (docs/transfer_results.md); the average keeps both. The
# mixing weight was the paper's default, set before any run, not tuned on any source.
GAIT2HIP60_WISE = dict(
    GAIT2HIP60_FINETUNE, train=replace(GAIT2HIP60_FINETUNE["train"], wise_alpha=0.5)
)

# Fine-tuned as above with each cycle's duration as an eleventh input, which the published
# models never had: its input weights start at zero (the published model's predictions to
# start with) and its z-scoring comes from each fit's training cycles. The duration is the
# only input that lowered the recipe's hip-moment error (docs/recipe_results.md).
GAIT2HIP60_FINETUNE_DURATION = dict(
    GAIT2HIP60_FINETUNE, inputs=resolve_inputs("all,cycle_duration_s")
)

# The recipe with the hip moments of the lab's inverse dynamics (per kg) as three more input
# series, for forces models: what the forces lack beside the angles lies in the ground
# reaction forces (benchmarks/bench_moments_as_inputs.py), and a lab with force plates has
# the moments from OpenSim ID in seconds. With and without the cycle's duration.
RECIPE_MOMENTS = dict(RECIPE, inputs=resolve_inputs("all,hip_moments"))
RECIPE_MOMENTS_DURATION = dict(RECIPE, inputs=resolve_inputs("all,hip_moments,cycle_duration_s"))
# The published models fine-tuned with the inverse-dynamics hip moments as three more inputs
# (zero weights to start with, as the duration above).
GAIT2HIP60_FINETUNE_MOMENTS = dict(GAIT2HIP60_FINETUNE, inputs=resolve_inputs("all,hip_moments"))

PROFILES: dict[str, dict[str, Any]] = {
    "paper": PAPER,
    "quick": QUICK,
    "recipe": RECIPE,
    "recipe-duration": RECIPE_DURATION,
    "recipe-moments": RECIPE_MOMENTS,
    "recipe-moments-duration": RECIPE_MOMENTS_DURATION,
    "gait2hip60": GAIT2HIP60,
    "gait2hip60-finetune": GAIT2HIP60_FINETUNE,
    "gait2hip60-wise": GAIT2HIP60_WISE,
    "gait2hip60-finetune-duration": GAIT2HIP60_FINETUNE_DURATION,
    "gait2hip60-finetune-moments": GAIT2HIP60_FINETUNE_MOMENTS,
}


def profile_inputs(profile: str) -> tuple[str, ...]:
    """The input channels a profile trains on unless told otherwise."""
    return PROFILES[profile].get("inputs", INPUT_COLS)


def explicit_batch(train: dict[str, Any]) -> dict[str, Any]:
    """Training overrides where a batch size given explicitly is used as given: it switches
    the profile's ``steps_per_epoch`` off unless that is given too."""
    if "batch_size" in train and "steps_per_epoch" not in train:
        return {**train, "steps_per_epoch": 0}
    return train


def make_config(
    target: str,
    models: list[str] | tuple[str, ...],
    profile: str = "paper",
    *,
    both_variants: bool = False,
    train_overrides: dict[str, Any] | None = None,
    **overrides: Any,
) -> BenchmarkConfig:
    """Build a config from a profile, model names and overrides."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}")
    base = PROFILES[profile]
    specs: list[ModelSpec] = []
    for text in models:
        spec = ModelSpec.parse(text)
        variants = (
            [ModelSpec(spec.name, True), ModelSpec(spec.name, False)]
            if (both_variants and ":" not in text)
            else [spec]
        )
        specs += [v for v in variants if v not in specs]
    train = replace(base["train"], **explicit_batch(train_overrides or {}))
    overrides.setdefault("inputs", profile_inputs(profile))  # the profile's unless given
    overrides.setdefault("init", base.get("init", ""))
    if target == JOINT and "loss_weighting" not in (train_overrides or {}):
        train = replace(train, loss_weighting="balanced")
    return BenchmarkConfig(
        target=target,
        models=tuple(specs),
        profile=profile,
        train=train,
        model_overrides=base["model_overrides"],
        n_folds=base["n_folds"],
        **overrides,
    )
