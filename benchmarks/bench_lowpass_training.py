"""Low-pass the Transformer's read-out after training, or train with it?

The shipped default's Transformers were fine-tuned without ``output_lowpass`` and low-passed
after (docs/predict_results.md, "Jitter from frame to frame"). This compares, on the same
split seeds, a Transformer trained without it (``--without``: a benchmark run folder) as it
is and low-passed after (``Predictor.with_output_lowpass``), against one trained with it from
the start (``--with``: the same benchmark with ``--params`` holding
``{"model.output_lowpass": H}``), each unit's final model on its split's held-out subjects:
subject-mean R² and RMSE, 90 % coverage of its calibrated interval, the interval score and
the roughness of the predicted curves (mean absolute second difference along the frames), and
the paired per-subject difference in R² (trained with it minus low-passed after; 95 %
bootstrap interval over the subjects of every split). No training here.

    .venv/bin/gait2hip benchmark --data .cache/datasets/schreiber2019/schreiber2019_JM.npz \\
        --target moments --models transformer --profile gait2hip60-finetune-duration \\
        --split-seeds 36,37 --out runs/lp-after            # and --params lp30.json --out ...
    .venv/bin/python benchmarks/bench_lowpass_training.py --without runs/lp-after \\
        --with runs/lp-train [--harmonics 30] [--csv runs/bench_lowpass_training.csv]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from bench_roughness import roughness

from gait2hip.conventions import get_target
from gait2hip.inference.calibration import DEFAULT_INTERVAL, interval_score, pooled_coverage
from gait2hip.inference.predictor import load_predictor, run_folders, unit_folders
from gait2hip.io.npz import read_npz
from gait2hip.report.summary import markdown_table
from gait2hip.settings import find_dataset
from gait2hip.training.metrics import per_subject_metrics


def units_by_split(runs: list[Path]) -> dict[str, Path]:
    """Each Transformer unit folder of ``runs`` by its split folder's name."""
    found = {}
    for run in runs:
        for folder in run_folders(run):
            for unit in unit_folders(folder):
                if "transformer" in unit.parent.name:
                    found[unit.parents[1].name] = unit
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--without", type=Path, nargs="+", required=True, help="trained without it")
    ap.add_argument("--with", dest="with_", type=Path, nargs="+", required=True,
                    help="trained with output_lowpass")  # fmt: skip
    ap.add_argument("--harmonics", type=float, default=30.0, help="the low-pass after training")
    ap.add_argument("--csv", help="also write the table here")
    args = ap.parse_args()
    plain, trained = units_by_split(args.without), units_by_split(args.with_)
    splits = sorted(set(plain) & set(trained))
    if not splits:
        raise SystemExit("no split seed holds a Transformer unit in both run sets")
    rows, paired = [], []
    for split in splits:
        a = load_predictor(plain[split], ensemble=False)
        b = load_predictor(trained[split], ensemble=False)
        if b.final.output_lowpass is None:
            raise SystemExit(f"{trained[split]}: trained without output_lowpass")
        ds = read_npz(find_dataset(a.final.meta["dataset"]), expected_out=get_target(a.target))
        test = np.isin(ds.subject_id, a.final.meta["test_subjects"])
        X = ds.select_inputs(a.in_cols).X[test]
        y, subj = ds.Y_per_kg[test], ds.subject_id[test]
        durations = ds.cycle_durations()
        durations = None if durations is None else durations[test]
        r2 = {}
        for name, pred in (
            ("as trained", a),
            (f"low-passed after at {args.harmonics:g}", a.with_output_lowpass(args.harmonics)),
            (f"trained with it at {b.final.output_lowpass:g}", b),
        ):
            out = pred.predict_cycles(X, ds.height_m[test], durations)
            per = per_subject_metrics(y, out.mean, subj).set_index("subject")
            r2[name] = per["r2"]
            rows.append({
                "split": split, "model": name, "subjects": len(per),
                "r2": per["r2"].mean(), "rmse": per["rmse"].mean(),
                "coverage_90": float(pooled_coverage(y, out.mean, out.sd, (DEFAULT_INTERVAL,))[0]),
                "interval_score": interval_score(y, out.mean, out.sd),
                "roughness": roughness(out.mean),
            })  # fmt: skip
        after, with_ = list(r2)[1:]
        paired.append(r2[with_] - r2[after])
    table = pd.DataFrame(rows)
    means = table.groupby("model", sort=False)[
        ["r2", "rmse", "coverage_90", "interval_score", "roughness"]
    ].mean()
    print(markdown_table(table.round(4)))
    print()
    print(markdown_table(means.round(4).reset_index()))
    diff = pd.concat(paired).to_numpy()
    rng = np.random.default_rng(0)
    boot = [rng.choice(diff, len(diff)).mean() for _ in range(2000)]
    print(
        f"\nsubject R², trained with it minus low-passed after: {diff.mean():+.4f} "
        f"({np.percentile(boot, 2.5):+.4f} to {np.percentile(boot, 97.5):+.4f}; "
        f"{len(diff)} subjects of {len(splits)} splits, lower for {int((diff < 0).sum())})"
    )
    if args.csv:
        table.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
