"""What training under bfloat16 autocast (`--precision bf16`) changes in the models, against
float32: the same benchmark run twice, once per precision, compared unit by unit.

For every unit (architecture x split seed x seed) of the float32 run folder and the bf16 one
(each written by `gait2hip benchmark ... --precision P`), from their summary.csv: the test
subjects' subject-mean R² and RMSE (the study's definition), the channel-mean R², the
ensemble's subject-mean R², the final fit's epoch count and the folds' best epochs, and the
differences bf16 - float32; then, per architecture, the mean difference over split seeds. No
training: the runs are made first, e.g.

    for p in float32 bf16; do .venv/bin/gait2hip benchmark \\
        --data .cache/datasets/schreiber2019/schreiber2019_JM.npz --target moments \\
        --models lstm,transformer,mamba --profile paper --split-seeds 42 --precision $p \\
        --out runs/bf16-check/moments-$p; done
    .venv/bin/python benchmarks/bench_precision.py runs/bf16-check/moments-float32 \\
        runs/bf16-check/moments-bf16 [--pair FLOAT32_RUN BF16_RUN ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from gait2hip.report.summary import markdown_table

KEYS = ["model", "split_seed", "seed"]
COLUMNS = {
    "subject_r2": "R²",
    "subject_rmse": "RMSE",
    "channel_mean_r2": "channel-mean R²",
    "ensemble_subject_r2": "ensemble R²",
    "final_epochs": "final epochs",
}


def paired(float32_run: Path, bf16_run: Path) -> pd.DataFrame:
    """The units of both runs side by side (inner join on model, split seed and seed)."""
    a, b = (pd.read_csv(Path(r) / "summary.csv") for r in (float32_run, bf16_run))
    both = a.merge(b, on=KEYS, suffixes=(" float32", " bf16"))
    if both.empty:
        raise SystemExit(f"{float32_run} and {bf16_run} share no unit")
    return both


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("float32_run", type=Path)
    ap.add_argument("bf16_run", type=Path)
    ap.add_argument(
        "--pair",
        nargs=2,
        action="append",
        default=[],
        type=Path,
        metavar=("FLOAT32_RUN", "BF16_RUN"),
        help="more pairs (other split seeds)",
    )
    args = ap.parse_args()  # fmt: skip
    both = pd.concat(
        [paired(a, b) for a, b in [(args.float32_run, args.bf16_run), *args.pair]],
        ignore_index=True,
    )
    rows = []
    for _, r in both.iterrows():
        row = {"model": r["model"], "split": r["split_seed"]}
        for col, name in COLUMNS.items():
            lo, hi = r[f"{col} float32"], r[f"{col} bf16"]
            digits = 0 if col == "final_epochs" else 3
            row[f"{name} float32"] = round(lo, digits)
            row[f"{name} bf16"] = round(hi, digits)
            if col == "subject_rmse":
                row["Δ RMSE %"] = round(100 * (hi / lo - 1), 1)
            elif col != "final_epochs":
                row[f"Δ {name}"] = round(hi - lo, 3)
        row["fold best epochs float32 / bf16"] = (
            f"{r['fold_best_epochs float32']} / {r['fold_best_epochs bf16']}"
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    print(markdown_table(table))
    deltas = [c for c in table.columns if c.startswith("Δ")]
    print("\nmean over split seeds\n")
    print(markdown_table(table.groupby("model", sort=False)[deltas].mean().round(3).reset_index()))


if __name__ == "__main__":
    main()
