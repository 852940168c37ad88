"""Fitting a trained unit's calibration (:class:`~gait2hip.inference.calibration.Calibration`:
residual sd, OOD reference, pace and size references, measured coverage), at training time
from the cross-validation folds (:func:`calibrate`), or for a model trained elsewhere from
labelled cycles of subjects it never saw (:func:`calibrate_elsewhere`). What the calibration
is and how prediction uses it: :mod:`gait2hip.inference.calibration`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gait2hip.inference.calibration import (
    NOMINAL,
    OOD_WARN_PERCENTILE,
    Anchor,
    Calibration,
    OODReference,
    auroc,
    coverage_of,
    cycle_features,
    interval_sd,
    mean_interval_width,
    member_predictions,
    pooled_coverage,
    spread_auroc,
)


def calibrate(
    X: np.ndarray,
    Y_per_kg: np.ndarray,
    pool: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    fold_models: Sequence,
    final,
    test: np.ndarray,
    out_cols: tuple[str, ...],
    height_m: np.ndarray | None = None,
    durations: np.ndarray | None = None,
    anchor: Anchor | None = None,
    ensemble: Sequence | None = None,
    mass_kg: np.ndarray | None = None,
) -> Calibration:
    """Build the calibration of one unit (see module doc).

    ``folds`` are (train, val) index arrays into the dataset (subsets of ``pool``);
    ``fold_models[k]`` was trained on ``folds[k][0]``; ``final`` on ``pool``; ``test`` holds
    subjects none of them saw. With body heights (N,), residuals, intervals and the reference
    curve are those of a walker of the final model's reference height (moments divided by
    its size factor), as :meth:`~gait2hip.inference.predictor.Predictor.predict` scales them.
    With an ``anchor``, the intervals include the between-population spread. ``ensemble``:
    the models whose mean and spread the predictor will use (default the fold models and
    ``final``, as on a run folder); e.g. the architectures an
    :class:`~gait2hip.training.checkpoint.AveragedModel` ``final`` averages, with averaged
    fold models for the out-of-fold residuals. With body masses (N,), the pool's are kept for
    the size check where a subject's height is not given.
    """
    Y_per_kg = Y_per_kg / final.size_factors(height_m, len(Y_per_kg))
    resid = np.zeros_like(Y_per_kg[pool])
    ref_scores = []
    pos = {int(i): j for j, i in enumerate(pool)}
    for (train, val), model in zip(folds, fold_models, strict=True):
        rows = [pos[int(i)] for i in val]
        resid[rows] = Y_per_kg[val] - model.predict_reference(X[val])
        feats = lambda idx, m=model: cycle_features(m.scaler.transform(X[idx]))  # noqa: E731
        ref_scores.append(OODReference.fit(feats(train)).score(feats(val)))
    resid_sd = np.sqrt((resid**2).mean(0))

    members = [*fold_models, final] if ensemble is None else list(ensemble)
    preds = member_predictions(members, X[test])
    mean = preds.mean(0)
    final_pred = preds[-1] if ensemble is None else final.predict_reference(X[test])
    within = interval_sd(preds.std(0), resid_sd)
    heights = None if height_m is None else np.asarray(height_m, float)[test]
    between = None if anchor is None else anchor.between_sd(final, mean, X[test], heights)
    sd = interval_sd(preds.std(0), resid_sd, between)
    cov = coverage_of(Y_per_kg[test], mean, sd)
    cov_all = pooled_coverage(Y_per_kg[test], mean, sd)

    ood = OODReference.fit(cycle_features(final.scaler.transform(X[pool])))
    ref = np.sort(np.concatenate(ref_scores))
    test_scores = ood.score(cycle_features(final.scaler.transform(X[test])))
    threshold = float(np.percentile(ref, OOD_WARN_PERCENTILE))
    rmse = lambda p: np.sqrt(((Y_per_kg[test] - p) ** 2).reshape(-1, len(out_cols)).mean(0))  # noqa: E731
    return Calibration(
        resid_sd=resid_sd.astype(np.float32),
        norm_mean=Y_per_kg[pool].mean(0).astype(np.float32),
        norm_sd=Y_per_kg[pool].std(0).astype(np.float32),
        ood=ood,
        ood_reference_scores=ref,
        coverage=cov,
        coverage_all=cov_all,
        test_ood_flagged=float((test_scores > threshold).mean()),
        test_rmse_ensemble=rmse(mean),
        test_rmse_final=rmse(final_pred),
        n_members=len(members),
        out_cols=tuple(out_cols),
        test_ood_auroc=auroc(test_scores, ref),
        **_spread("durations", "test_pace_auroc", durations, pool, test),
        **_spread("heights", "test_size_auroc", height_m, pool, test),
        masses=_finite_sorted(mass_kg, pool),
        anchor="" if anchor is None else anchor.name,
        anchor_factor=0.0 if anchor is None else anchor.factor,
        coverage_within=pooled_coverage(Y_per_kg[test], mean, within),
        width_90=mean_interval_width(sd) if len(test) else np.nan,
        width_90_within=mean_interval_width(within) if len(test) else np.nan,
    )


def _finite_sorted(values: np.ndarray | None, pool: np.ndarray) -> np.ndarray:
    """The pool's finite ``values``, sorted (empty without values)."""
    if values is None:
        return np.zeros(0)
    values = np.asarray(values, float)[pool]
    return np.sort(values[np.isfinite(values)])


def _spread(
    name: str, auroc_name: str, values: np.ndarray | None, pool: np.ndarray, test: np.ndarray
) -> dict[str, Any]:
    """A spread check's reference (the pool's finite ``values``: durations, heights) as
    ``name`` and the test cycles' AUROC against it as ``auroc_name``."""
    if values is None:
        return {}
    ref = _finite_sorted(values, pool)
    return {name: ref, auroc_name: spread_auroc(np.asarray(values, float)[test], ref)}


def calibrate_elsewhere(
    model,
    X: np.ndarray,
    Y_per_kg: np.ndarray,
    subject_id: np.ndarray,
    out_cols: tuple[str, ...],
    n_folds: int = 5,
    height_m: np.ndarray | None = None,
    durations: np.ndarray | None = None,
) -> Calibration:
    """Calibration of a model trained on other data (e.g. another lab's published model),
    from labelled cycles of subjects it never saw.

    Cross-fitted by subject (GroupKFold): for each fold, the residual sd and the OOD
    reference come from the other folds' subjects only, and the fold's cycles measure the
    coverage and give the out-of-fold OOD reference scores; the calibration kept is then fitted
    on all of them. The model is a single member, so its interval is the residual sd alone.
    """
    from gait2hip.data.splits import group_kfold

    Y_per_kg = Y_per_kg / model.size_factors(height_m, len(Y_per_kg))  # as in calibrate()
    pred = model.predict_reference(X)
    resid = Y_per_kg - pred
    feats = cycle_features(model.scaler.transform(X))
    covered = np.zeros((len(NOMINAL), len(out_cols)))
    covered_all = np.zeros(len(NOMINAL))
    ref_scores = []
    for split in group_kfold(subject_id, n_folds):
        tr, te = split.train, split.test
        sd = np.broadcast_to(np.sqrt((resid[tr] ** 2).mean(0)), pred[te].shape)
        covered += coverage_of(Y_per_kg[te], pred[te], sd) * len(te)
        covered_all += pooled_coverage(Y_per_kg[te], pred[te], sd) * len(te)
        ref_scores.append(OODReference.fit(feats[tr]).score(feats[te]))
    ref = np.sort(np.concatenate(ref_scores))
    rmse = np.sqrt((resid**2).reshape(-1, len(out_cols)).mean(0))
    return Calibration(
        resid_sd=np.sqrt((resid**2).mean(0)).astype(np.float32),
        norm_mean=Y_per_kg.mean(0).astype(np.float32),
        norm_sd=Y_per_kg.std(0).astype(np.float32),
        ood=OODReference.fit(feats),
        ood_reference_scores=ref,
        coverage=covered / len(X),
        coverage_all=covered_all / len(X),
        test_ood_flagged=float((ref > np.percentile(ref, OOD_WARN_PERCENTILE)).mean()),
        test_rmse_ensemble=rmse,
        test_rmse_final=rmse,
        n_members=1,
        out_cols=tuple(out_cols),
        durations=np.zeros(0) if durations is None else np.sort(np.asarray(durations, float)),
    )
