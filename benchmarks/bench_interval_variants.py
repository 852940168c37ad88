"""Which widening makes the 90 % interval hold on people and paces a model never saw.

Reads the moments run folders of `gait2hip transfer` (runs/transfer) and, for every model
trained here (profiles recipe, gait2hip60-finetune, gait2hip60-wise), measures the share of
frames inside the 90 % interval on each source under four intervals, all from the same final
model's prediction:

- `within`: the calibrated residual sd of unseen subjects of the training population alone;
- `ensemble`: the ensemble mean ± the residual sd and the fold models' spread;
- `speed-shift`: `within` widened by one constant, the conformal 90 % quantile of the
  normalised errors on both held-out-speed sources (the same profile, model and split); on a
  speed source itself the constant comes from the other speed only;
- `between`: `within` plus the disagreement with the study's published model (x2 for
  gait2hip60-wise), what gait2hip draws (docs/transfer.md, intervals).

The cohort's other leg is assumed (as `gait2hip transfer` does). Means over split seeds.

    .venv/bin/python benchmarks/bench_interval_variants.py --splits 21,22 [--summary]
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pandas as pd
from transfer_runs import DATA, MODELS, sources, unit_folder

from gait2hip.conventions import get_target
from gait2hip.data.cohort import load_cohort
from gait2hip.gait.signal import resample_cycles
from gait2hip.inference.calibration import z_value
from gait2hip.inference.predictor import load_predictor
from gait2hip.io.npz import read_npz
from gait2hip.report.summary import markdown_table

PROFILES = ("recipe", "gait2hip60-finetune", "gait2hip60-wise")
Z = z_value(0.9)


def conformal(scores: np.ndarray, p: float = 0.9) -> float:
    """The constant widening that puts a share ``p`` of normalised errors inside ±z."""
    s = np.sort(scores.ravel())
    k = min(int(np.ceil((len(s) + 1) * p)) - 1, len(s) - 1)
    return float(s[k] / Z)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default="runs/transfer")
    ap.add_argument("--splits", default="21,22")
    ap.add_argument("--summary", action="store_true", help="per source: range over the models")
    args = ap.parse_args()
    ds = read_npz(DATA, expected_out=get_target("moments"))
    cohort = load_cohort("spina_bifida_lee").with_contralateral()
    rows = []
    for profile in PROFILES:
        for model in MODELS:
            for split in args.splits.split(","):

                def unit_of(name, profile=profile, model=model, split=split):
                    return unit_folder(args.runs, name, profile, model, split)

                scores, cov = {}, {}
                for name, (X, y, h, *_) in sources(unit_of, ds, cohort).items():
                    unit = unit_of(name)
                    ens = load_predictor(unit)  # its anchor: the one its calibration names
                    single = dataclasses.replace(ens, members=ens.members[:1])
                    n = y.shape[1]
                    point, between, within = (
                        resample_cycles(a, n) for a in single.predict_within(X, h)
                    )
                    # the ensemble's mean and its within-population sd (spread + residual)
                    mean, _, sd_ens = (resample_cycles(a, n) for a in ens.predict_within(X, h))
                    err = np.abs(y - point)
                    scores[name] = err / within
                    cov[name] = {
                        "within": float((err <= Z * within).mean()),
                        "ensemble": float((np.abs(y - mean) <= Z * sd_ens).mean()),
                        "between": float((err <= Z * between).mean()),
                    }
                speeds = {"comf → fast": "fast → comf", "fast → comf": "comf → fast"}
                both = np.concatenate([scores[k].ravel() for k in speeds])
                for name, s in scores.items():
                    m = conformal(scores[speeds[name]]) if name in speeds else conformal(both)
                    cov[name]["speed-shift"] = float((s <= Z * m).mean())
                    rows.append({"profile": profile, "model": model, "source": name, **cov[name]})
    table = pd.DataFrame(rows).groupby(["profile", "model", "source"], sort=False).mean()
    cols = ["within", "ensemble", "speed-shift", "between"]
    long = table[cols].reset_index()
    if args.summary:  # per source, the range over the models
        rng = lambda v: f"{v.min():.2f}-{v.max():.2f}"  # noqa: E731
        long = long.groupby("source", sort=False)[cols].agg(rng).reset_index()
    print(markdown_table(long))


if __name__ == "__main__":
    main()
