"""Two models of `gait2hip transfer` (or `gait2hip average`) runs against each other on the
same held-out cycles, source by source (in-lab, comfortable → fast, fast → comfortable) and
split by split: subject-mean R² and RMSE (study definitions), channel-mean R², the 90 %
interval's coverage of the test frames (each unit's calibration, from its run's
summary.csv), and the paired subject-by-subject Δ R² of A against B (mean over subjects,
Student-t 95 % interval over the subjects of all splits together); also the mean of the two
models' predictions, scored the same way (no calibration of its own, so no coverage).

Each of --a and --b is ``RUNS:PROFILE:MODEL``, RUNS a transfer folder (several may be given
with commas, e.g. the run folders of different split seeds); units missing in either are
skipped.

    B=runs/transfer-forces-xarch-average,runs/transfer-forces-xarch23-average
    .venv/bin/python benchmarks/bench_versus.py --target forces \\
        --a runs/transfer-forces-pl:recipe-duration:phaselinear-causal \\
        --b $B:gait2hip60-finetune:transformer-bidir+mamba-causal
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from bench_cross_arch import _scores, print_paired, summary_row
from transfer_runs import DATASETS, FOLDERS, unit_folder

from gait2hip.report.summary import markdown_table


class Side(NamedTuple):
    runs: tuple[Path, ...]
    profile: str
    model: str

    @classmethod
    def parse(cls, text: str) -> Side:
        runs, profile, model = text.rsplit(":", 2)
        return cls(tuple(Path(r) for r in runs.split(",")), profile, model)

    def unit(self, source: str, split: str, target: str) -> Path | None:
        for runs in self.runs:
            u = unit_folder(runs, source, self.profile, self.model, split, target)
            if (u / "predictions.npz").exists():
                return u
        return None

    def splits(self, source: str, target: str) -> set[str]:
        return {
            p.name.removeprefix("split")
            for runs in self.runs
            for p in (runs / FOLDERS[source] / DATASETS[target] / self.profile).glob("split*")
        }


def _coverage(unit: Path, model: str, split: str) -> float:
    row = summary_row(unit.parents[2], model, split)
    return float("nan") if row is None else float(row["coverage_90"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", choices=tuple(DATASETS), default="forces")
    ap.add_argument("--a", required=True, help="RUNS:PROFILE:MODEL")
    ap.add_argument("--b", required=True, help="RUNS:PROFILE:MODEL")
    ap.add_argument("--csv", type=Path, help="also write the per-split rows here")
    args = ap.parse_args()
    a, b = Side.parse(args.a), Side.parse(args.b)
    rows, deltas = [], {}
    for source in FOLDERS:
        for split in sorted(a.splits(source, args.target) & b.splits(source, args.target)):
            ua, ub = a.unit(source, split, args.target), b.unit(source, split, args.target)
            if ua is None or ub is None:
                continue
            with np.load(ua / "predictions.npz") as za, np.load(ub / "predictions.npz") as zb:
                if not (np.allclose(za["y_true"], zb["y_true"], atol=1e-4)
                        and np.array_equal(za["subject_id"], zb["subject_id"])):  # fmt: skip
                    raise SystemExit(f"{ua} and {ub} differ in test cycles")
                y, subj, cols = za["y_true"], za["subject_id"], za["out_cols"]
                pa, pb = za["y_pred"], zb["y_pred"]
            scored = {
                "A": (_scores(y, pa, subj, cols), _coverage(ua, a.model, split)),
                "B": (_scores(y, pb, subj, cols), _coverage(ub, b.model, split)),
                "mean of A and B": (_scores(y, (pa + pb) / 2, subj, cols), float("nan")),
            }
            for name, ((s, _), cov) in scored.items():
                rows.append({"source": source, "split": split, "model": name, **s,
                             "90% cov": cov})  # fmt: skip
            for name in ("A", "mean of A and B"):
                deltas.setdefault((source, name), []).append(
                    (scored[name][0][1] - scored["B"][0][1]).to_numpy()
                )
    if not rows:
        raise SystemExit("no split and source has finished units of both A and B")
    df = pd.DataFrame(rows)
    if args.csv:
        df.to_csv(args.csv, index=False)
    print(f"A: {a.profile} {a.model} ({', '.join(map(str, a.runs))})")
    print(f"B: {b.profile} {b.model} ({', '.join(map(str, b.runs))})\n")
    keys = ["source", "model"]
    table = df.groupby(keys, sort=False)[["R²", "RMSE", "channel R²", "90% cov"]].mean()
    table["splits"] = df.groupby(keys, sort=False)["split"].agg(",".join)
    print(markdown_table(table.reset_index()))
    print()
    print_paired(["source", "model", "against B, subject R² (95 % CI)"], deltas)


if __name__ == "__main__":
    main()
