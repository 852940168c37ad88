"""Few-shot adaptation to an external cohort: fine-tune on k of its subjects, test on the rest.

For each cohort group, k and draw (:func:`gait2hip.data.splits.few_shot_splits`: whole
subjects, no subject on both sides), three predictions of the same test subjects:

* ``zero-shot``: the healthy-trained final model, unchanged;
* ``fine-tune``: that model (and its input scaler) trained further on the k subjects' cycles;
* ``scratch``: the same architecture and size, freshly initialised, input scaler fitted on the
  k subjects, trained on their cycles only.

A joint (forces + moments) model is fitted through the outputs the cohort has labels for
(e.g. its moments; its shared layers change with them), its scratch twin likewise.

There is no validation data to early-stop on with k = 1, so both recipes run a fixed number
of epochs with fixed learning rates (:class:`FewShotConfig`), chosen before looking at any
result and the same for every k. Draws use the same seed for every model, so models are
compared on identical splits.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from scipy.stats import t as student_t

from gait2hip.data.cohort import Cohort
from gait2hip.data.splits import few_shot_splits
from gait2hip.external.evaluate import EvalUnit, cohort_inputs, cycle_durations
from gait2hip.gait.signal import resample_cycles
from gait2hip.models import config_dict, model_from_config
from gait2hip.models.heads import OutputSubset
from gait2hip.training.config import TrainConfig
from gait2hip.training.loop import fit, predict_array
from gait2hip.training.metrics import pooled_metrics, subject_mean_metrics
from gait2hip.training.normalize import InputScaler

METHODS = ("zero-shot", "fine-tune", "scratch")


@dataclass(frozen=True)
class FewShotConfig:
    """Adaptation settings. ``groups`` None: every cohort group, each on its own."""

    ks: tuple[int, ...] = (1, 2, 4, 8)
    draws: int = 10
    groups: tuple[str, ...] | None = None
    finetune_epochs: int = 100
    finetune_lr: float = 3e-4
    scratch_epochs: int = 300
    scratch_lr: float = 2e-3
    weight_decay: float = 1e-5
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self, cohort: Cohort) -> None:
        """Refuse groups the cohort lacks and any k that leaves a group no test subject."""
        from gait2hip.data.splits import SplitError

        for g in self.groups or cohort.groups:
            n = len(cohort.subjects(g))
            if n == 0:
                raise SplitError(f"{cohort.source}: no group {g!r} (has {cohort.groups})")
            bad = [k for k in self.ks if not 1 <= k < n]
            if bad:
                raise SplitError(
                    f"few-shot k = {bad} leaves no test subject among the {n} subjects of "
                    f"group {g!r}; choose k from 1 to {n - 1} (--k) or other --groups"
                )

    def n_fits(self, cohort: Cohort, n_units: int) -> int:
        """Trainings this config runs (two per draw: fine-tune and scratch)."""
        from math import comb

        total = 0
        for g in self.groups or cohort.groups:
            n = len(cohort.subjects(g))
            total += sum(min(self.draws, comb(n, k)) for k in self.ks)
        return 2 * total * n_units


def _train(model, scaler: InputScaler, X, Y, epochs: int, lr: float, wd: float, seed: int):
    cfg = TrainConfig(lr=lr, weight_decay=wd, max_epochs=epochs)
    fit(model, scaler.transform(X), Y, cfg, seed=seed, epochs=epochs)
    return model


def few_shot(
    units: list[EvalUnit],
    cohort: Cohort,
    zero_shot_predictions: dict[str, np.ndarray],
    cfg: FewShotConfig,
    on_fit: Callable[[str], None] | None = None,
    assume_durations: str | float | None = None,
) -> pd.DataFrame:
    """One row per unit, group, k, draw and method: subject-mean and pooled metrics on the
    draw's test subjects (per kg, at the cohort's frames); a model that takes the cycle's
    duration reads the one the zero-shot evaluation gave it (``assume_durations``,
    :func:`~gait2hip.external.evaluate.cycle_durations`)."""
    cfg.check(cohort)
    rows = []
    for unit in units:
        pred = unit.predictor
        if pred.broad is not None and not set(pred.in_cols) <= set(cohort.angle_cols):
            # an input only the blend's own model takes (a cycle's duration) is missing: the
            # broad model predicts the cohort alone, and is the model fine-tuned
            pred = pred.broad
        final = pred.final
        at_model = cohort.resampled(pred.n_frames)
        X_all = cohort_inputs(pred, cohort, cycle_durations(pred, cohort, assume_durations))
        Y_all = at_model.reference(unit.target)  # training targets at the model's frames
        ref = cohort.reference(unit.target)  # test references at the cohort's own frames
        zs = zero_shot_predictions[unit.key]
        # fine-tuning continues in the model's own units: moments of its reference-height
        # walker (targets divided by each cycle's size factor, predictions multiplied back),
        # as the zero-shot predictions are scaled (gait2hip.conventions.size_factors)
        size = pred.size_factors(cohort.height_m, len(cohort))[..., unit.channels]
        for group in cfg.groups or cohort.groups:
            in_group = np.flatnonzero(cohort.group == group)
            subj = cohort.subject[in_group]
            for k in cfg.ks:
                for d, split in enumerate(few_shot_splits(subj, k, cfg.draws, cfg.seed + k)):
                    train, test = in_group[split.train], in_group[split.test]
                    seed = cfg.seed + 1000 * k + d
                    tuned = _train(
                        _outputs(copy.deepcopy(final.model), unit), final.scaler, X_all[train],
                        Y_all[train] / size[train], cfg.finetune_epochs, cfg.finetune_lr,
                        cfg.weight_decay, seed,
                    )  # fmt: skip
                    if on_fit:
                        on_fit(f"{unit.label} {group} k={k} draw {d + 1}: fine-tune")
                    torch.manual_seed(seed)
                    fresh = _outputs(model_from_config(final.name, config_dict(final.model)), unit)
                    scaler = InputScaler.fit(X_all[train])
                    fresh = _train(
                        fresh, scaler, X_all[train], Y_all[train],
                        cfg.scratch_epochs, cfg.scratch_lr, cfg.weight_decay, seed,
                    )  # fmt: skip
                    if on_fit:
                        on_fit(f"{unit.label} {group} k={k} draw {d + 1}: scratch")
                    preds = {
                        "zero-shot": zs[test],
                        "fine-tune": _predict(tuned, final.scaler, X_all[test], cohort.n_frames)
                        * size[test],
                        "scratch": _predict(fresh, scaler, X_all[test], cohort.n_frames),
                    }
                    base = {
                        **unit.ids(),
                        "group": group,
                        "k": k,
                        "draw": d,
                        "train_subjects": " ".join(sorted(set(cohort.subject[train]))),
                        "n_train_cycles": len(train),
                        "n_test_subjects": len(np.unique(cohort.subject[test])),
                    }
                    for method, yp in preds.items():
                        sm = subject_mean_metrics(ref[test], yp, cohort.subject[test])
                        pm = pooled_metrics(ref[test], yp)
                        rows.append(
                            {
                                **base,
                                "method": method,
                                **{f"subject_{m}": v for m, v in sm.items()},
                                **{f"pooled_{m}": v for m, v in pm.items()},
                            }
                        )
    return pd.DataFrame(rows)


def _outputs(model: torch.nn.Module, unit: EvalUnit) -> torch.nn.Module:
    """The model as trained and tested on the unit's target (a joint model: on that part of
    its outputs, the only labels the cohort has)."""
    if unit.target == unit.predictor.target:
        return model
    return OutputSubset(model, unit.channels)


def _predict(model, scaler: InputScaler, X: np.ndarray, n_frames: int) -> np.ndarray:
    return resample_cycles(predict_array(model, scaler.transform(X)), n_frames)


def _mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    v = np.asarray(values, dtype=np.float64)
    m = float(v.mean())
    if len(v) < 2:
        return m, float("nan"), float("nan")
    half = float(student_t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return m, m - half, m + half


def learning_curve(draws: pd.DataFrame) -> pd.DataFrame:
    """Per model, group, k and method: mean and 95% CI over draws (t-interval) of
    subject-mean RMSE and R², and the paired RMSE differences to zero-shot and to training
    from scratch on the same draws (same test subjects); ``beats_zero_shot`` /
    ``beats_scratch`` when that difference's CI lies below 0."""
    if draws.empty:
        return pd.DataFrame()
    keys = ["model", "split_seed", "seed", "group", "k", "draw"]
    refs = {
        name: draws[draws["method"] == method].set_index(keys)["subject_rmse"]
        for name, method in (("zero_shot", "zero-shot"), ("scratch", "scratch"))
    }
    rows = []
    for (model, split_seed, seed, group, k, method), d in draws.groupby(
        ["model", "split_seed", "seed", "group", "k", "method"], sort=False
    ):
        row = {
            "model": model,
            "split_seed": split_seed,
            "seed": seed,
            "group": group,
            "k": k,
            "method": method,
            "n_draws": len(d),
        }
        for metric in ("rmse", "r2"):
            m, lo, hi = _mean_ci(d[f"subject_{metric}"].to_numpy())
            row.update({metric: m, f"{metric}_ci_lo": lo, f"{metric}_ci_hi": hi})
        own = d.set_index(keys)["subject_rmse"]
        for name, ref in refs.items():
            common = own.index.intersection(ref.index)
            diff = (own.loc[common] - ref.loc[common]).to_numpy()
            m, lo, hi = _mean_ci(diff) if len(diff) else (float("nan"),) * 3
            row.update(
                {f"rmse_vs_{name}": m, f"rmse_vs_{name}_ci_lo": lo, f"rmse_vs_{name}_ci_hi": hi}
            )
            other = name.replace("_", "-")
            row[f"beats_{name}"] = bool(method != other and np.isfinite(hi) and hi < 0)
        rows.append(row)
    return pd.DataFrame(rows)


def first_k_beating(
    curve: pd.DataFrame, methods: tuple[str, ...] = ("fine-tune", "scratch")
) -> pd.DataFrame:
    """Per model, group and method: the smallest k at which it beats zero-shot (or none)."""
    rows = []
    for (model, group, method), d in curve[curve["method"].isin(methods)].groupby(
        ["model", "group", "method"], sort=False
    ):
        beating = d[d["beats_zero_shot"]]["k"]
        rows.append(
            {
                "model": model,
                "group": group,
                "method": method,
                "first_k_beating_zero_shot": int(beating.min()) if len(beating) else None,
            }
        )
    return pd.DataFrame(rows)
