"""Averaging architectures: the final models of several architectures of one `gait2hip
transfer` run, their test predictions averaged cycle by cycle, against each alone.

For each source the run trained (in-lab, comfortable → fast, fast → comfortable), each split
seed and each profile given: subject-mean R² and RMSE (study definitions), channel-mean R²,
for every architecture alone and for their average (the same held-out cycles; each unit's
`predictions.npz`); and the average's paired subject-by-subject Δ R² against the best single
architecture of that split, or the ``--against`` one (mean over subjects, Student-t 95 %
interval over the subjects of all splits together). With ``--averaged`` (the folder
`gait2hip average` wrote for these runs), each model's calibrated 90 % interval coverage on
the test frames (with and without the between-population part) and OOD AUROC beside them, the
average's from its own calibration.

    .venv/bin/python benchmarks/bench_cross_arch.py --runs runs/transfer-forces-xarch \\
        --target forces --profiles recipe,gait2hip60-finetune \\
        --models transformer-bidir,mamba-causal \\
        --averaged runs/transfer-forces-xarch-average
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from transfer_runs import DATASETS, FOLDERS, unit_folder

from gait2hip.report.compare import paired
from gait2hip.report.summary import markdown_table
from gait2hip.training.metrics import per_channel_metrics, per_subject_metrics


def _scores(y: np.ndarray, p: np.ndarray, subj: np.ndarray, cols) -> tuple[dict, pd.Series]:
    per = per_subject_metrics(y, p, subj).set_index("subject")
    channel = per_channel_metrics(y, p, cols)["r2"].mean()
    return {"R²": per["r2"].mean(), "RMSE": per["rmse"].mean(), "channel R²": channel}, per["r2"]


#: summary.csv columns shown with --averaged
INTERVAL = {
    "coverage_90": "90% cov",
    "coverage_90_within": "90% cov within",
    "ood_auroc": "OOD AUROC",
}


def summary_row(run: Path, label: str, split: str) -> pd.Series | None:
    """A unit's row of its run folder's summary.csv (None: not there)."""
    df = pd.read_csv(run / "summary.csv")
    rows = df[(df["model"] == label) & (df["split_seed"].astype(str) == split)]
    return rows.iloc[0] if len(rows) else None


def _interval(run: Path, label: str, split: str) -> dict:
    """A unit's interval columns from its run folder's summary.csv."""
    row = summary_row(run, label, split)
    if row is None:
        raise SystemExit(f"{run}: no {label} split {split} row in summary.csv")
    return {name: row[col] for col, name in INTERVAL.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, required=True)
    ap.add_argument("--target", choices=tuple(DATASETS), default="forces")
    ap.add_argument("--profiles", default="gait2hip60-finetune")
    ap.add_argument("--models", default="transformer-bidir,mamba-causal")
    ap.add_argument("--splits", default="", help="comma list (default: every split found)")
    ap.add_argument("--csv", type=Path, help="also write the per-split rows here")
    ap.add_argument("--averaged", type=Path, help="`gait2hip average`'s folder for --runs")
    ap.add_argument(
        "--against", help="pair the average with this model (default: the best single per split)"
    )
    args = ap.parse_args()
    models = args.models.split(",")
    rows, deltas = [], {}
    for profile in args.profiles.split(","):
        for source, folder in FOLDERS.items():
            base = args.runs / folder / DATASETS[args.target] / profile
            splits = args.splits.split(",") if args.splits else sorted(
                p.name.removeprefix("split") for p in base.glob("split*")
            )  # fmt: skip
            for split in splits:
                units = [
                    unit_folder(args.runs, source, profile, m, split, args.target) for m in models
                ]
                if not all((u / "predictions.npz").exists() for u in units):
                    continue
                preds = []
                for u in units:
                    with np.load(u / "predictions.npz") as z:
                        preds.append((z["y_true"], z["y_pred"], z["subject_id"], z["out_cols"]))
                y, _, subj, cols = preds[0]
                for other in preds[1:]:  # the same held-out cycles in the same order
                    if not (np.array_equal(other[0], y) and np.array_equal(other[2], subj)):
                        raise SystemExit(f"{units[0]} and another unit differ in test cycles")
                alone = {
                    m: _scores(y, p[1], subj, cols) for m, p in zip(models, preds, strict=True)
                }
                avg = _scores(y, np.mean([p[1] for p in preds], axis=0), subj, cols)
                best = args.against or max(models, key=lambda m: alone[m][0]["R²"])
                key = (profile, source)
                deltas.setdefault(key, []).append((avg[1] - alone[best][1]).to_numpy())
                extra = {}
                if args.averaged:
                    run = units[0].parents[2]
                    extra = {m: _interval(run, m, split) for m in models}
                    extra["average"] = _interval(
                        args.averaged / run.relative_to(args.runs), "+".join(models), split
                    )
                for name, (s, _) in [*alone.items(), ("average", avg)]:
                    rows.append({"profile": profile, "source": source, "split": split,
                                 "model": name, **s, **extra.get(name, {})})  # fmt: skip
    if not rows:
        raise SystemExit(f"no finished units of {models} under {args.runs}")
    df = pd.DataFrame(rows)
    if args.csv:
        df.to_csv(args.csv, index=False)
    keys = ["profile", "source", "model"]
    shown = ["R²", "RMSE", "channel R²", *(INTERVAL.values() if args.averaged else ())]
    table = df.groupby(keys, sort=False)[shown].mean()
    table["splits"] = df.groupby(keys, sort=False).size()
    print(markdown_table(table.reset_index()))
    print()
    against = args.against or "best single"
    print_paired(["profile", "source", f"average − {against}, subject R² (95 % CI)"], deltas)


def print_paired(columns: list[str], deltas: dict[tuple, list[np.ndarray]]) -> None:
    """The paired table: per key of ``deltas`` (its parts the first ``columns``), the mean
    of the subjects' differences with its Student-t 95 % interval, and how many subjects."""
    print("| " + " | ".join(columns) + " | subjects |")
    print("|" + "---|" * (len(columns) + 1))
    for key, d in deltas.items():
        d = np.concatenate(d)
        m, lo, hi = paired(d)
        cells = " | ".join(map(str, key))
        print(f"| {cells} | {m:+.3f} ({lo:+.3f} to {hi:+.3f}) | {len(d)} |")


if __name__ == "__main__":
    main()
