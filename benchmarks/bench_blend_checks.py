"""What the blend's checks see, per transfer source: the facts behind the broad model's rule
(docs/transfer_results.md, "Which walkers the broad model takes").

For the shipped three-model blend's units on each set of split seeds (its own model, and the
broad model given as in bench_blend.py), per source:

- the OOD score over the warning level's score (the 95th percentile of unseen healthy
  cycles): range and median per cycle;
- the body height's size score over the 95th percentile of the training subjects' own
  scores (where heights are known);
- the share of cycles the own model predicts better than the broad model (RMSE per cycle);
- which of our walkers lie beyond the warning level (the OOD or size check above the 95th
  percentile: the previous rule's broad model's cycles);

and, for the children, how each rule would hand their cycles to the broad model in a lab's
own files, which give the cycle durations (the cohort has none: the training cycles' median
stands in) with and without the body height (and without it but with the body mass, which
then stands in for the size check where it flags a light body): the broad share and the
subject R² of the blend; and how many of our walkers their mass alone would flag.
`step95/ood1.5+size, factor without height` applies the OOD factor whatever the height (the
rule before the shipped one heeded the height; not shipped). No training.

    .venv/bin/python benchmarks/bench_blend_checks.py --broad-runs runs/transfer-wise \\
        --set runs/transfer-moments-xarch runs/transfer-moments-mix 21,22 \\
        --set runs/transfer-moments-lt2425 runs/transfer-moments-mix2425 24,25
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pandas as pd
from transfer_runs import BROAD, each_blend, model_inputs, subject_r2_of, with_training_masses

from gait2hip.gait.signal import resample_cycles
from gait2hip.inference.calibration import (
    OOD_WARN_PERCENTILE,
    BlendRule,
    mixture,
    shift_of,
    spread_scores,
)
from gait2hip.inference.predictor import height_or_reference
from gait2hip.report.summary import markdown_table

OWN = "phaselinear-causal+lstm-causal+transformer-bidir"
RULES = ("step95/ood+size", "step95/ood1.5+size")


def per_cycle(blended, c) -> pd.DataFrame:
    """Per cycle: OOD and size score ratios, and whether the own model beats the broad one."""
    X = model_inputs(blended, c)
    filled, _ = blended.filled_inputs(X)
    cal = blended.calibration
    shipped = blended.predict_cycles(X, c.height_m, c.durations)
    scores, checks = shipped.ood[0], shipped.checks
    size = np.full(len(X), np.nan)
    if len(cal.heights) and c.height_m is not None:
        ref = np.percentile(spread_scores(cal.heights, cal.heights), 95)
        size = spread_scores(np.asarray(c.height_m, float), cal.heights) / ref
    own = dataclasses.replace(blended, broad=None).predict(filled, c.height_m)[0]
    h = height_or_reference(c.height_m, blended.reference_height_m)
    broad = blended.broad.predict(model_inputs(blended.broad, c), h)[0]
    err = [np.sqrt(((resample_cycles(p, c.y.shape[1]) - c.y) ** 2).mean(axis=(1, 2)))
           for p in (own, broad)]  # fmt: skip
    beyond = shift_of(checks, ("ood", "size")) > OOD_WARN_PERCENTILE
    return pd.DataFrame({"ood_ratio": scores / cal.ood_threshold, "size_ratio": size,
                         "own_better": err[0] < err[1], "beyond": beyond,
                         "subject": c.subject, "height_m": c.height_m})  # fmt: skip


def cohort_routing(blended, c) -> list[dict]:
    """The children's broad share and subject R² per rule, their cycle durations known (the
    training median standing in), with their heights, without them, and without them but with
    their body masses (the training subjects' masses set in the calibration where its unit
    predates them)."""
    dur = np.full(len(c.X), float(np.median(blended.calibration.durations)))
    X = model_inputs(blended, c._replace(durations=dur))
    X_broad = model_inputs(blended.broad, c)
    with_masses = with_training_masses(blended)  # read once, for every rule
    out = []
    for height in ("known", "not given", "not given, mass given"):
        h = c.height_m if height == "known" else None
        mass = c.mass_kg if height.endswith("mass given") else None
        own = dataclasses.replace(blended, broad=None).predict(X, h)[:2]
        other = blended.broad.predict(X_broad, height_or_reference(h, blended.reference_height_m))
        for rule in (*RULES, f"{RULES[1]}, factor without height"):
            parsed = BlendRule.parse(rule.split(",")[0])
            cal = dataclasses.replace(with_masses, blend=parsed)
            p = dataclasses.replace(blended, calibration=cal).predict_cycles(X, h, dur, mass)
            share = p.broad_weight
            if rule.endswith("without height"):  # the factor on every cycle
                scaled = cal.ood_percentile(p.ood[0] / parsed.ood_factor)
                share = parsed.weight({**p.checks, "ood": scaled})
            mean = mixture(share, own, other[:2])[0]
            out.append({"rule": rule, "height": height,
                        "broad_share": float(np.mean(share)),
                        "r2": float(subject_r2_of(c, mean).mean())})  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", nargs=3, action="append", required=True,
                    metavar=("RUNS", "TUNED_RUNS", "SPLITS"),
                    help="a set of split seeds: its transfer folder (recipe and test subjects), "
                    "the blend's own units' folder, the split seeds")  # fmt: skip
    ap.add_argument("--tuned", default="recipe-duration")
    ap.add_argument("--tuned-model", default=OWN)
    ap.add_argument("--broad-runs", required=True)
    ap.add_argument("--broad-profile", default=BROAD)
    ap.add_argument("--broad-model")
    args = ap.parse_args()
    cycles, routing, flagged = [], [], []
    for runs, tuned_runs, splits in args.set:
        blends = each_blend(runs, splits, ("lstm-causal",), args.tuned, tuned_runs,
                            args.tuned_model, True, args.broad_runs, args.broad_profile,
                            args.broad_model)  # fmt: skip
        for _, split, _, name, c, blended in blends:
            source = "running" if name.startswith("hamner") else name
            cycles.append(per_cycle(blended, c).assign(split=split, source=source))
            if name.startswith("cohort"):
                routing += [{"source": name, "split": split, **r}
                            for r in cohort_routing(blended, c)]  # fmt: skip
            elif c.mass_kg is not None and not name.startswith("hamner"):
                light = with_training_masses(blended).size_percentile(None, c.mass_kg)
                flagged += [{"source": name, "cycles": len(c.X),
                             "flagged_by_mass": int(np.isfinite(light).sum())}]  # fmt: skip
    d = pd.concat(cycles)
    table = d.groupby("source", sort=False).agg(
        cycles=("ood_ratio", "size"),
        ood_min=("ood_ratio", "min"), ood_median=("ood_ratio", "median"),
        ood_max=("ood_ratio", "max"), size_median=("size_ratio", "median"),
        size_max=("size_ratio", "max"), own_better=("own_better", "mean"),
    )  # fmt: skip
    print("\nper source: OOD score / warning level's, size score / training 95th, share of "
          "cycles the own model predicts better (RMSE)\n")  # fmt: skip
    print(markdown_table(table.round(2).reset_index()))
    walkers = d[d.beyond & ~d.source.str.startswith(("cohort", "running"))]
    print("\nour walkers beyond the warning level (OOD or size check): cycles per subject\n")
    print(markdown_table(walkers.groupby(["split", "source", "subject"], sort=False).agg(
        cycles=("beyond", "size"), height_m=("height_m", "first"),
        ood_max=("ood_ratio", "max"), size_max=("size_ratio", "max"),
    ).round(2).reset_index()))  # fmt: skip
    print("\nour walkers whose body mass alone flags them (lighter than the training subjects', "
          "height not given)\n")  # fmt: skip
    print(markdown_table(pd.DataFrame(flagged).groupby("source", sort=False).sum().reset_index()))
    r = pd.DataFrame(routing).groupby(["source", "rule", "height"], sort=False)
    print("\nthe children with their cycle durations known (median stand-in): broad share "
          "and subject R² of the blend\n")  # fmt: skip
    print(markdown_table(r[["broad_share", "r2"]].mean().round(3).reset_index()))


if __name__ == "__main__":
    main()
