"""Accuracy of trained models under bfloat16 autocast inference, against float32.

For every trained unit of the given run folders, the test cycles of its holdout split are
predicted in float32 (what gait2hip does) and under ``torch.autocast("cpu", bfloat16)``
(which docs/speed.md measured faster for the LSTM and the bidirectional Transformer), and the
test metrics of both are printed: subject-mean RMSE, its change, and the mean and largest
deviation of a bf16 prediction from the float32 one (target units per kg).

    python benchmarks/bench_bf16.py --data .cache/datasets/schreiber2019/schreiber2019_MF.npz \\
        --runs runs/compare/schreiber2019_MF-forces/recipe
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from gait2hip import runtime
from gait2hip.conventions import get_target
from gait2hip.data.splits import holdout_subjects
from gait2hip.inference.predictor import run_folders, unit_folders
from gait2hip.io.npz import read_npz
from gait2hip.training.checkpoint import TrainedModel
from gait2hip.training.metrics import subject_mean_metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="the dataset the runs trained on")
    ap.add_argument("--runs", type=Path, nargs="+", required=True, help="run folders or parents")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    runtime.configure(args.threads)
    print(f"# {args.data}")
    print(
        "| run | unit | test cycles | subject RMSE fp32 | subject RMSE bf16 | Δ (%) | "
        "mean abs Δ prediction | max abs Δ prediction | max abs Δ / channel sd (%) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for run in [r for root in args.runs for r in run_folders(root)]:
        cfg = json.loads((run / "config.json").read_text())["config"]
        ds = read_npz(args.data, expected_out=get_target(cfg["target"]))
        for unit in unit_folders(run):
            split_seed = int(unit.parent.parent.name.removeprefix("split"))
            test = holdout_subjects(ds.subject_id, cfg["test_fraction"], split_seed).test
            trained = TrainedModel.load(unit / "final.pt")
            X = ds.select_inputs(trained.in_cols).X[test]
            y_true, subjects = ds.Y_per_kg[test], ds.subject_id[test]
            with np.load(unit / "predictions.npz") as z:
                if not np.allclose(z["y_true"], y_true, atol=1e-5):
                    raise SystemExit(f"{unit}: {args.data} is not the data this run tested on")
            fp32 = trained.predict_per_kg(X)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                bf16 = trained.predict_per_kg(X)
            a = subject_mean_metrics(y_true, fp32, subjects)["rmse"]
            b = subject_mean_metrics(y_true, bf16, subjects)["rmse"]
            dev = np.abs(bf16 - fp32)
            sd = y_true.reshape(-1, y_true.shape[-1]).std(axis=0)
            rel = 100 * (dev.reshape(-1, dev.shape[-1]).max(axis=0) / np.maximum(sd, 1e-9)).max()
            print(
                f"| {run.name} | {unit.parent.name} | {len(test)} | {a:.4f} | {b:.4f} | "
                f"{100 * (b - a) / a:+.2f} | {dev.mean():.4f} | {dev.max():.4f} | {rel:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
