"""What a model that reads the cycle's duration predicts for the bundled children at an assumed
duration (`gait2hip transfer --assume-durations`, `evaluate-external --assume-durations`).

The cohort's files carry no cycle times. For each unit of the given run folders whose model
takes the duration (e.g. the `gait2hip60-finetune-duration` units of a transfer run) and each
assumption (seconds, or froude: the model's median training cycle scaled to each child's
height), per cohort group: the durations assumed (range and median) and the mean over cycles
of the predicted peak hip flexion moment (largest value of the cycle, Nm/kg, scaled to the
child's height as the zero-shot rows are), beside the group's own labels. No training.

    .venv/bin/python benchmarks/bench_assumed_durations.py \\
        runs/transfer-pair3637/in-lab/schreiber2019_JM-moments/gait2hip60-finetune-duration \\
        [--durations 0.9,1.2,froude] [--csv runs/bench_assumed_durations.csv]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from bench_pace_response import DURATION, peaks

from gait2hip.data.cohort import load_cohort
from gait2hip.external.evaluate import FROUDE, cycle_durations, find_units, predict_cohort
from gait2hip.report.summary import markdown_table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", type=Path, nargs="+", help="run folders (or folders of them)")
    ap.add_argument("--durations", default="0.9,1.2,froude", help="assumptions, comma list")
    ap.add_argument("--cohort", default="spina_bifida_lee")
    ap.add_argument("--csv", help="also write the table here")
    args = ap.parse_args()
    cohort = load_cohort(args.cohort).with_contralateral()
    y = cohort.reference("moments")
    units = [u for u in find_units(args.runs, "moments") if DURATION in u.predictor.in_cols]
    if not units:
        raise SystemExit("no unit there takes the cycle's duration")
    rows = []
    for unit in units:
        for assume in args.durations.split(","):
            assumed = FROUDE if assume == FROUDE else float(assume)
            d = cycle_durations(unit.predictor, cohort, assumed)
            mean, *_ = predict_cohort(unit, cohort, d)
            for g in cohort.groups:
                k = cohort.group == g
                rows.append({
                    "model": unit.label, "split": unit.split_seed, "assumed": assume, "group": g,
                    "durations s": f"{d[k].min():.2f}-{d[k].max():.2f}",
                    "median duration s": float(np.median(d[k])),
                    "flexion peak, predicted": peaks(mean[k])[0],
                    "flexion peak, labels": peaks(y[k])[0],
                })  # fmt: skip
    table = pd.DataFrame(rows)
    if args.csv:
        table.to_csv(args.csv, index=False)
    print(markdown_table(table.round(3)))


if __name__ == "__main__":
    main()
