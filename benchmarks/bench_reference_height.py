"""How much the published models' assumed reference height moves their cohort results.

The Gait2Hip-60 study does not publish its subjects' heights with the weights, so gait2hip
takes their hip moments to be those of a 1.70 m walker (``ASSUMED_REFERENCE_HEIGHT_M``) and
scales them to each child's height. This prints the subject-mean R² (the study's definition)
of each published moments model on the bundled cohort's groups, the other leg assumed (as
``evaluate-external --contralateral``), without scaling and with reference heights around the
assumed one.

    .venv/bin/python benchmarks/bench_reference_height.py --heights 1.65,1.70,1.75
"""

from __future__ import annotations

import argparse
import dataclasses

import pandas as pd

from gait2hip.conventions import REFERENCE_HEIGHT_KEY
from gait2hip.data.cohort import load_cohort
from gait2hip.external.evaluate import EvalUnit, zero_shot
from gait2hip.inference.predictor import published_predictors
from gait2hip.report.summary import markdown_table
from gait2hip.training.published import ARCHITECTURES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--heights", default="1.65,1.70,1.75", help="reference heights (m)")
    ap.add_argument("--cohort", default="spina_bifida_lee")
    args = ap.parse_args()
    cohort = load_cohort(args.cohort).with_contralateral()
    rows = []
    for arch in ARCHITECTURES:
        pred = published_predictors(arch, ["moments"])["moments"]
        for ref in [None, *(float(h) for h in args.heights.split(","))]:
            final = dataclasses.replace(pred.final, meta={**pred.final.meta})
            final.meta[REFERENCE_HEIGHT_KEY] = ref
            unit = EvalUnit(dataclasses.replace(pred, members=[final]), "moments")
            data = cohort if ref is not None else cohort.without_heights()
            zs = zero_shot([unit], data, healthy=False, n_boot=200)
            for _, r in zs.summary.iterrows():
                rows.append(
                    {
                        "model": arch,
                        "reference_height_m": "none (unscaled)" if ref is None else ref,
                        "group": r["group"],
                        "subject_r2": round(r["subject_r2"], 3),
                        "subject_rmse": round(r["subject_rmse"], 3),
                    }
                )
    table = pd.DataFrame(rows).pivot_table(
        index=["model", "reference_height_m"], columns="group", values="subject_r2", sort=False
    )
    print(markdown_table(table.reset_index()))


if __name__ == "__main__":
    main()
