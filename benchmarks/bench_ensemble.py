"""The final model alone against the ensemble `predict` uses on a run folder.

Benchmark reports (and the study) score each unit's final model; `gait2hip predict` on a run
folder averages the final and fold models. For every finished unit under the given folders
of runs (default: the in-lab runs of `gait2hip transfer`, hip moments and forces), the
subject-mean R² and RMSE (study definitions) of both on the unit's held-out test subjects;
means over the split seeds per target, profile and model.

    .venv/bin/python benchmarks/bench_ensemble.py [--runs runs/transfer/in-lab ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from gait2hip.inference.predictor import run_folders, unit_folders
from gait2hip.io.npz import read_npz
from gait2hip.report.summary import markdown_table
from gait2hip.training.checkpoint import TrainedModel
from gait2hip.training.metrics import subject_mean_metrics
from gait2hip.training.protocol import ensemble_predictions

RUNS = ("runs/transfer/in-lab", "runs/transfer-forces/in-lab")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", nargs="+", default=list(RUNS))
    args = ap.parse_args()
    rows, data = [], {}
    for root in args.runs:
        for run in run_folders(Path(root)):
            for unit in unit_folders(run):
                final = TrainedModel.load(unit / "final.pt")
                path = final.meta["dataset"]
                if path not in data:
                    data[path] = read_npz(path)
                ds = data[path]
                test = np.isin(ds.subject_id, final.meta["test_subjects"])
                X = ds.select_inputs(final.in_cols).X[test]
                n_folds = len(list(unit.glob("fold*.pt")))
                with np.load(unit / "predictions.npz") as z:
                    y, alone, subj = z["y_true"], z["y_pred"], z["subject_id"]
                both = ensemble_predictions(unit, n_folds, X, ds.height_m[test])
                a, e = (subject_mean_metrics(y, p, subj) for p in (alone, both))
                rows.append({"target": final.target, "profile": final.meta.get("profile"),
                             "model": unit.parent.name, "members": n_folds + 1,
                             "final R²": a["r2"], "ensemble R²": e["r2"],
                             "final RMSE": a["rmse"], "ensemble RMSE": e["rmse"]})  # fmt: skip
    df = pd.DataFrame(rows)
    keys = ["target", "profile", "model"]
    table = df.groupby(keys, sort=False).mean(numeric_only=True)
    table["members"] = table["members"].astype(int)
    table["runs"] = df.groupby(keys, sort=False).size()
    table["Δ RMSE %"] = 100 * (table["ensemble RMSE"] / table["final RMSE"] - 1)
    print(markdown_table(table.reset_index()))


if __name__ == "__main__":
    main()
