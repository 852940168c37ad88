"""Would the hip moments help predict the hip muscle forces? The phase-linear model
(gait2hip.models.phaselinear: ridge regression per frame, fitted on frames t - 2 .. t + 2,
here at a fixed ridge strength) from the angles and the cycle's duration, then with each
cycle's hip moments added as inputs: the labelled ones (inverse dynamics, which knows the
ground reaction forces) and the ones a trained moments model predicts from the same angles.

The predicted moments are leak-free: on the training subjects those of the moments unit's
fold models for the subjects each fold held out (out of fold), on the test subjects those of
its final model; the unit must have been trained on the same split seed (the same test
subjects, checked). Scores on each split's held-out subjects: subject-mean R² (study
definition) and channel-mean R².

    .venv/bin/python benchmarks/bench_moments_as_inputs.py --splits 21,22,23 \\
        --moments-runs runs/transfer-moments-xarch --profile gait2hip60-finetune-duration
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transfer_runs import unit_folder

from gait2hip.conventions import get_target
from gait2hip.data.splits import holdout_subjects
from gait2hip.io.npz import read_npz
from gait2hip.models import create_model
from gait2hip.report.summary import markdown_table
from gait2hip.training.checkpoint import TrainedModel
from gait2hip.training.metrics import per_channel_metrics, per_subject_metrics

FORCES = ".cache/datasets/schreiber2019/schreiber2019_MF.npz"
RIDGE_STEP = 9  # ridge strength 0.1 per sample on the default path


def phase_linear(
    X: np.ndarray, Y: np.ndarray, train: np.ndarray, test: np.ndarray, clip: bool = True
) -> np.ndarray:
    """The phase-linear model fitted on ``train``, predicting ``test`` (clipped at 0 with
    ``clip``, as forces are)."""
    mean, std = X[train].mean((0, 1)), X[train].std((0, 1)) + 1e-9
    Z = ((X - mean) / std).astype(np.float32)
    model = create_model("phaselinear", in_dim=X.shape[-1], out_dim=Y.shape[-1])
    model.solve(torch.from_numpy(Z[train]), torch.from_numpy(Y[train]), RIDGE_STEP)
    with torch.no_grad():
        out = model(torch.from_numpy(Z[test]))
    return (out.clamp_min(0) if clip else out).numpy()


def predicted_moments(unit: Path, X: np.ndarray, subject: np.ndarray, test: np.ndarray):
    """(N, T, 3) hip moments per kg: out of fold on the unit's pool, its final model's on
    ``test``."""
    final = TrainedModel.load(unit / "final.pt")
    if set(subject[test]) != set(map(str, final.meta["test_subjects"])):
        raise SystemExit(f"{unit}: trained on another split than the forces' test subjects")
    out = np.zeros((len(X), X.shape[1], 3), np.float32)
    out[test] = final.predict_reference(X[test])
    for fold in sorted(unit.glob("fold*.json")):
        val = [str(s) for s in json.loads(fold.read_text())["val_subjects"]]
        rows = np.flatnonzero(np.isin(subject, val))
        out[rows] = TrainedModel.load(fold.with_suffix(".pt")).predict_reference(X[rows])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--splits", default="21,22,23")
    ap.add_argument("--moments-runs", type=Path, default=Path("runs/transfer-moments-xarch"))
    ap.add_argument("--profile", default="gait2hip60-finetune-duration")
    ap.add_argument("--model", default="lstm-causal")
    args = ap.parse_args()
    ds = read_npz(FORCES, expected_out=get_target("forces"))
    Y, subject = ds.Y_per_kg, ds.subject_id.astype(str)
    X = ds.select_inputs((*ds.in_cols, "cycle_duration_s")).X
    labelled = (np.asarray(ds.extra["hip_moments"], float) / ds.weight_kg[:, None, None]).astype(
        np.float32
    )
    rows = []
    for split in args.splits.split(","):
        sp = holdout_subjects(ds.subject_id, seed=int(split))
        unit = unit_folder(args.moments_runs, "in-lab", args.profile, args.model, split)
        inputs = {
            "angles + duration": X,
            "+ predicted hip moments": np.concatenate(
                [X, predicted_moments(unit, X, subject, sp.test)], -1
            ),
            "+ labelled hip moments": np.concatenate([X, labelled], -1),
        }
        for name, inp in inputs.items():
            p, y = phase_linear(inp, Y, sp.train, sp.test), Y[sp.test]
            rows.append({
                "inputs": name, "split": split,
                "R²": per_subject_metrics(y, p, subject[sp.test])["r2"].mean(),
                "channel R²": per_channel_metrics(y, p, ds.out_cols)["r2"].mean(),
            })  # fmt: skip
    df = pd.DataFrame(rows)
    table = df.pivot_table(index="inputs", columns="split", values=["R²", "channel R²"], sort=False)
    table.columns = [f"{m} split {s}" for m, s in table.columns]
    print(markdown_table(table.round(3).reset_index()))


if __name__ == "__main__":
    main()
