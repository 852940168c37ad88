"""Frame-to-frame jitter of the shipped models' predictions, and what a low-pass along the
gait cycle does to it (docs/predict_results.md, "Jitter from frame to frame").

For the shipped default's hip-moment and muscle-force models (their split seed's held-out
subjects, the cohort for the hip moments, and Hamner's running at each speed, which no model
learnt):

1. per averaged member, its read-out as the architecture gives it (the members' output
   low-pass off), and for the members' mean (the model's own prediction, before any blend):
   the roughness of the predicted curves (the mean absolute second difference along the
   cycle's frames, in the target's units per kg) against the labels', the RMSE against the
   labels, and the RMSE after a zero-phase low-pass of the prediction along the cycle
   (2nd-order Butterworth, forward and backward, at ``--harmonics`` cycles per gait cycle;
   none of the labels' content lies near it: they come from kinematics low-passed at 6 Hz
   in time, a few harmonics per cycle), and how far the same filter moves the labels
   themselves (what it would cost a prediction that were exact);
2. the model as ``predict`` runs it (blend, interval, widening) with the members' read-out
   low-passed at ``--lowpass`` cycles per gait cycle (the Transformer's output_lowpass,
   gait2hip.models.heads.FrameLowpass) and without: subject-mean R², 90 % coverage, the
   interval score and the roughness of the mean and of the interval's sd. No training.

    .venv/bin/python benchmarks/bench_roughness.py [--harmonics 30,20] [--lowpass 30] \\
        [--csv members.csv] [--model-csv model.csv]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from bench_far_widening import model_sources
from transfer_runs import model_inputs, subject_r2_of

from gait2hip.gait.signal import lowpass, resample_cycles
from gait2hip.inference.calibration import (
    DEFAULT_INTERVAL,
    interval_score,
    member_predictions,
    pooled_coverage,
)
from gait2hip.inference.predictor import default_model_dir, load_predictor
from gait2hip.report.summary import markdown_table


def roughness(curves: np.ndarray) -> float:
    """Mean absolute second difference along the frames (axis 1) of (N, T, K) curves."""
    return float(np.abs(np.diff(curves, 2, axis=1)).mean())


def lowpass_cycles(curves: np.ndarray, harmonics: float) -> np.ndarray:
    """(N, T, K) curves low-passed along the frames at ``harmonics`` cycles per gait cycle
    (:func:`gait2hip.gait.signal.lowpass` with the cycle's frames as its rate)."""
    frames_first = np.moveaxis(curves, 1, 0)
    return np.moveaxis(lowpass(frames_first, curves.shape[1], harmonics), 0, 1)


def rmse(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((resample_cycles(pred, y.shape[1]) - y) ** 2)))


def member_rows(pred, source: str, c, cuts: list[float], target: str) -> list[dict]:
    """Table 1's rows for one source: each member's read-out without its low-pass, and their
    mean."""
    pred = pred.with_output_lowpass(0)
    preds = member_predictions(pred.members, model_inputs(pred, c))
    scaled = [p * m.size_factors(c.height_m, len(p))
              for m, p in zip(pred.members, preds, strict=True)]  # fmt: skip
    curves = {type(m.model).__name__.removesuffix("Model").lower(): p
              for m, p in zip(pred.members, scaled, strict=True)}  # fmt: skip
    curves["mean of the members"] = np.mean(scaled, axis=0)
    frames = preds.shape[2]  # roughness compared at the models' frames
    base = {"target": target, "source": source, "cycles": len(c.y),
            "labels' roughness": roughness(resample_cycles(c.y, frames))}  # fmt: skip
    moved = {f"labels moved at {h:g}": rmse(lowpass_cycles(c.y, h), c.y) for h in cuts}
    rows = []
    for name, p in curves.items():
        row = {**base, "prediction": name, "roughness": roughness(p), "rmse": rmse(p, c.y)}
        for h in cuts:
            row[f"rmse low-passed at {h:g}"] = rmse(lowpass_cycles(p, h), c.y)
        rows.append({**row, **moved})
    return rows


def model_rows(pred, source: str, c, harmonics: float, target: str) -> list[dict]:
    """Table 2's rows for one source: the model as predict runs it, its members' read-out
    low-passed at ``harmonics`` and not (0)."""
    rows = []
    for h in (0.0, harmonics):
        p = pred.with_output_lowpass(h).predict_cycles(
            model_inputs(pred, c), c.height_m, c.durations, c.mass_kg
        )
        mean, sd = (resample_cycles(a, c.y.shape[1]) for a in (p.mean, p.sd))
        rows.append({"target": target, "source": source, "cycles": len(c.y),
                     "output low-pass": h, "r2": subject_r2_of(c, p.mean).mean(),
                     "coverage_90": pooled_coverage(c.y, mean, sd, (DEFAULT_INTERVAL,))[0],
                     "interval_score_90": interval_score(c.y, mean, sd),
                     "roughness mean": roughness(p.mean),
                     "roughness sd": roughness(p.sd)})  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--harmonics", default="30,20", help="comma list of low-pass cut-offs")
    ap.add_argument("--lowpass", type=float, default=30.0, help="the members' output low-pass")
    ap.add_argument("--split-seed", type=int, default=21, help="the shipped models' split")
    ap.add_argument("--csv", help="also write the members' table here")
    ap.add_argument("--model-csv", help="also write the model's table here")
    args = ap.parse_args()
    cuts = [float(h) for h in args.harmonics.split(",")]
    members, model = [], []
    for target in ("moments", "forces"):
        pred = load_predictor(default_model_dir() / target)
        for source, c in model_sources(pred, args.split_seed, target).items():
            model += model_rows(pred, source, c, args.lowpass, target)
            if c.durations is not None:  # the cohort: no durations for the duration members
                members += member_rows(pred, source, c, cuts, target)
    table = pd.DataFrame(members)
    if args.csv:
        table.to_csv(args.csv, index=False)
    for h in cuts:
        change = table[f"rmse low-passed at {h:g}"] / table["rmse"] - 1
        table[f"rmse change at {h:g}"] = [f"{v:+.1%}" for v in change]
    shown = table.drop(columns=[c for c in table if c.startswith("rmse low-passed")])
    print(markdown_table(shown.round(4)))
    print()
    model_table = pd.DataFrame(model)
    if args.model_csv:
        model_table.to_csv(args.model_csv, index=False)
    print(markdown_table(model_table.round(4)))


if __name__ == "__main__":
    main()
