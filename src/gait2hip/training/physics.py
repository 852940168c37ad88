"""Physical consistency of hip muscle forces: the hip moment the forces produce,
``sum_g r_g(t) F_g(t)`` with the dataset's per-frame group moment arms ``r_g`` (m), against the
labelled hip moment of the same frames.

For the labels themselves the residual is not zero: static optimization's reserve actuators
carry part of the moment, the group arms are force-weighted averages of their muscles' arms,
and cycles are resampled to 180 points. That label residual is the floor a model's residual is
compared with. Units: forces N/kg and moments Nm/kg (both per kg), arms m.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gait2hip.conventions import EXTRA_HIP_MOMENTS, EXTRA_MOMENT_ARMS, HIP_COORDS
from gait2hip.data.dataset import GaitDataset


def muscle_hip_moment(forces: np.ndarray, arms: np.ndarray) -> np.ndarray:
    """(N, T, G) forces and (N, T, G, 3) arms -> (N, T, 3) hip moments of the muscles."""
    if forces.shape != arms.shape[:3] or arms.shape[-1] != len(HIP_COORDS):
        raise ValueError(
            f"forces {forces.shape} and moment arms {arms.shape} do not match "
            f"(expected (N, T, G) and (N, T, G, {len(HIP_COORDS)}))"
        )
    return np.einsum("ntg,ntgc->ntc", forces.astype(np.float64), arms.astype(np.float64))


def physics_arrays(ds: GaitDataset, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(moment arms (n, T, G, 3) m, labelled hip moments per kg (n, T, 3)) of cycles ``idx``,
    float32, for the consistency term of training (:func:`gait2hip.training.loop.fit`)."""
    if not has_physics(ds):
        raise ValueError(
            f"{ds.source}: a physics-consistency loss needs a forces dataset with per-frame "
            f"'{EXTRA_MOMENT_ARMS}' and '{EXTRA_HIP_MOMENTS}' (gait2hip build-dataset writes "
            "them); this file has neither"
        )
    mass = ds.weight_kg[idx][:, None, None]
    arms = ds.extra[EXTRA_MOMENT_ARMS][idx].astype(np.float32)
    return arms, (ds.extra[EXTRA_HIP_MOMENTS][idx] / mass).astype(np.float32)


def has_physics(ds: GaitDataset) -> bool:
    """Whether ``ds`` (a forces dataset) carries moment arms and hip moments."""
    return EXTRA_MOMENT_ARMS in ds.extra and EXTRA_HIP_MOMENTS in ds.extra


def residual_table(
    forces: dict[str, np.ndarray], arms: np.ndarray, moments: np.ndarray
) -> pd.DataFrame:
    """Per source of forces (e.g. ``labels``, a model) and hip DOF: RMSE of
    ``sum_g r_g F_g - M`` (Nm/kg) and that RMSE in % of the DOF's labelled moment range (peak
    to peak over the cycles given), plus an ``all`` row over the three DOFs."""
    moments = moments.astype(np.float64)
    span = moments.max(axis=(0, 1)) - moments.min(axis=(0, 1))
    rows = []
    for source, F in forces.items():
        resid = muscle_hip_moment(F, arms) - moments
        rmse = np.sqrt((resid**2).mean(axis=(0, 1)))
        for k, dof in enumerate(HIP_COORDS):
            rows.append(
                {
                    "source": source,
                    "dof": dof,
                    "rmse": float(rmse[k]),
                    "rmse_pct_range": float(100 * rmse[k] / span[k]) if span[k] > 0 else np.nan,
                }
            )
        rows.append(
            {
                "source": source,
                "dof": "all",
                "rmse": float(np.sqrt((resid**2).mean())),
                "rmse_pct_range": float(np.mean(100 * rmse / np.where(span > 0, span, np.nan))),
            }
        )
    return pd.DataFrame(rows)


def held_out_residuals(
    ds: GaitDataset,
    test: np.ndarray,
    y_pred: np.ndarray,
    own_moments: np.ndarray | None = None,
) -> pd.DataFrame:
    """The physical residual of predicted forces ``y_pred`` (per kg) on the cycles ``test`` of
    the forces (or joint) dataset ``ds``, beside that of the labels on the same cycles. A
    joint model also gives ``own_moments`` (its predicted hip moments, per kg): the residual
    of its forces against them is added as source ``model_vs_own_moments``."""
    mass = ds.weight_kg[test][:, None, None]
    arms = ds.extra[EXTRA_MOMENT_ARMS][test]
    moments = ds.extra[EXTRA_HIP_MOMENTS][test] / mass
    labels = ds.Y_per_kg[test][..., : arms.shape[2]]  # a joint dataset's forces come first
    table = residual_table({"labels": labels, "model": y_pred}, arms, moments)
    if own_moments is None:
        return table
    own = residual_table({"model_vs_own_moments": y_pred}, arms, own_moments)
    return pd.concat([table, own], ignore_index=True)
