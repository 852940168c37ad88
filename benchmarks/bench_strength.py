"""How the muscle strength factor k (``strength_scale``) changes SO labels: saturation,
reserves and peak forces per condition, on a subset of a bundled dataset.

    python benchmarks/bench_strength.py schreiber2019 --subjects 2014001,2014004 --k 1,1.5,2
    python benchmarks/bench_strength.py hamner2013 --subjects subject01 --k 1,2,3

Labels are cached in ``$GAIT2HIP_CACHE/labels`` like ``gait2hip build-dataset``'s, so a k
already built is not recomputed. Prints a markdown table (from each build's qc.csv, all
labelled cycles whether QC keeps them or not).
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import pandas as pd

from gait2hip import settings
from gait2hip.conventions import FORCE_COLS
from gait2hip.labeling.build import build_dataset, load_cycles
from gait2hip.labeling.sources import SOURCES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", choices=sorted(SOURCES))
    ap.add_argument("--subjects", required=True, help="comma list")
    ap.add_argument("--k", default="1,2,3", help="strength factors, comma list")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    source = SOURCES[args.dataset](settings.data_root())
    rows = []
    for k in (float(v) for v in args.k.split(",")):
        with tempfile.TemporaryDirectory(prefix="g2h-strength-") as tmp:
            report = build_dataset(
                source,
                Path(tmp),
                settings.labels_dir(),
                workers=args.workers,
                settings=replace(source.settings, strength_scale=k),
                subjects=args.subjects.split(","),
                show_progress=False,
            )
            cycles = load_cycles(report.results)
        qc = pd.DataFrame([c.qc for c in cycles])
        qc["condition"] = [c.spec.condition for c in cycles]
        ilio, addl = FORCE_COLS.index("iliopsoas_r"), FORCE_COLS.index("addlong_r")
        qc["iliopsoas_peak"] = [c.forces[:, ilio].max() / c.spec.mass_kg for c in cycles]
        qc["addlong_peak"] = [c.forces[:, addl].max() / c.spec.mass_kg for c in cycles]
        for cond, g in qc.groupby("condition", sort=True):
            rows.append(
                {
                    "k": k,
                    "condition": cond,
                    "cycles": len(g),
                    "hip muscles at a>0.99 (mean/cycle)": round(g["n_saturated"].mean(), 2),
                    "hip+knee reserve % (max)": round(g["reserve_pct_max"].max(), 2),
                    "ankle reserve % (median)": round(g["ankle_reserve_pct"].median(), 2),
                    "iliopsoas peak N/kg (mean)": round(g["iliopsoas_peak"].mean(), 1),
                    "addlong peak N/kg (mean)": round(g["addlong_peak"].mean(), 1),
                }
            )
    print(f"\n{args.dataset}, subjects {args.subjects}\n")
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")


if __name__ == "__main__":
    main()
