"""How the default hip-moment model answers a change of pace, inside and outside the paces it
learnt from.

The shipped default's own model takes each cycle's duration as an input, and its blend hands a
cycle to the averaged (broad) model by the OOD and size checks only (not by the pace), so a
walker slower or faster than the training subjects gets the duration model's answer, with the
interval widened and the cycle flagged. No bundled data has slow walking to test that answer,
so this shows it: the bundled walking cycles (schreiber2019, every subject: the default learnt
from most of them, so this is the shape of the response, not its accuracy) predicted with their
durations scaled by each factor, the mean over cycles of the peak hip flexion moment (largest
value of the cycle, Nm/kg; the positive direction of `hip_flexion_r_moment`) and of the peak
extension moment (smallest), beside the labels' own change from comfortable to fast walking
and what the study's published models (learnt from another lab's 60 adults at three cadences,
never from these cycles; for their 1.70 m reference walker, about these subjects' median
height) predict for the same cycles, and the bundled children's cohort's own labels (another
lab): where other labs' hip flexion moments lie against ours.

    .venv/bin/python benchmarks/bench_pace_response.py [--scales 0.7,1,1.3,2] \
        [--csv runs/bench_pace.csv --labels-csv runs/bench_pace_labels.csv]
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pandas as pd

from gait2hip.conventions import get_target
from gait2hip.data.cohort import load_cohort
from gait2hip.data.dataset import with_static_channels
from gait2hip.inference.predictor import default_model_dir, load_predictor, published_predictors
from gait2hip.io.npz import read_npz
from gait2hip.report.summary import markdown_table
from gait2hip.training.published import ARCHITECTURES

DATA = ".cache/datasets/schreiber2019/schreiber2019_JM.npz"
DURATION = "cycle_duration_s"


def peaks(y: np.ndarray) -> tuple[float, float]:
    """Mean over cycles of the hip flexion moment's largest and smallest value (channel 0)."""
    return float(y[..., 0].max(axis=1).mean()), float(y[..., 0].min(axis=1).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", default="0.7,0.85,1,1.15,1.3,1.5,2", help="duration factors")
    ap.add_argument("--csv", help="also write the table here")
    ap.add_argument("--labels-csv", help="and the labels' table here")
    args = ap.parse_args()
    shipped = load_predictor(default_model_dir() / "moments")
    if DURATION not in shipped.in_cols:
        raise SystemExit("the shipped default moments model does not take the cycle duration")
    own = dataclasses.replace(shipped, broad=None)
    ds = read_npz(DATA, expected_out=get_target("moments"))
    durations = ds.cycle_durations()
    # the broad model takes the angles alone: its answer is the same at every pace
    broad = shipped.broad.predict(ds.X, ds.height_m)[0] if shipped.broad else None
    rows = []
    for scale in (float(s) for s in args.scales.split(",")):
        d = durations * scale
        X = with_static_channels(ds.X, [DURATION], {DURATION: d})
        p = shipped.predict_cycles(X, ds.height_m, d)
        alone = own.predict(X, ds.height_m, d)[0]
        rows.append({
            "duration factor": scale,
            "median duration s": float(np.median(d)),
            "median pace percentile": float(np.median(p.pace_percentile)),
            "flexion peak, duration model": peaks(alone)[0],
            "extension peak, duration model": peaks(alone)[1],
            "flexion peak, as shipped": peaks(p.mean)[0],
            "extension peak, as shipped": peaks(p.mean)[1],
            "broad share": float(np.mean(p.broad_weight)) if p.broad_weight is not None else 0,
            "interval widening": float(np.mean(p.widening)) if p.widening is not None else 1,
            **({"flexion peak, broad model": peaks(broad)[0]} if broad is not None else {}),
        })  # fmt: skip
    table = pd.DataFrame(rows)
    if args.csv:
        table.to_csv(args.csv, index=False)
    print(f"\nthe shipped default on the {len(ds)} bundled walking cycles, durations scaled\n")
    print(markdown_table(table.round(3)))
    published = {}
    for arch in ARCHITECTURES:
        pub = published_predictors(arch, ["moments"])["moments"]
        published[arch] = pub.predict(ds.select_inputs(pub.in_cols).X, None)[0]
    labels = [
        {"condition": c, "cycles": int(k.sum()),
         "median duration s": float(np.median(durations[k])),
         "flexion peak": peaks(ds.Y_per_kg[k])[0], "extension peak": peaks(ds.Y_per_kg[k])[1],
         **{f"{what} peak, gait2hip60:{arch}": peaks(y[k])[i]
            for arch, y in published.items() for i, what in enumerate(("flexion", "extension"))}}
        for c in sorted(set(ds.speed_label.tolist()))
        for k in [ds.speed_label == c]
    ]  # fmt: skip
    labels = pd.DataFrame(labels)
    if args.labels_csv:
        labels.to_csv(args.labels_csv, index=False)
    print(
        "\nthe labels (OpenSim inverse dynamics), per walking speed, and the study's published "
        "models on the same cycles\n"
    )
    print(markdown_table(labels.round(3)))
    cohort = load_cohort("spina_bifida_lee")
    y = cohort.reference("moments")
    kids = pd.DataFrame(
        [{"group": g, "cycles": int(k.sum()), "flexion peak": peaks(y[k])[0],
          "extension peak": peaks(y[k])[1]}
         for g in cohort.groups for k in [cohort.group == g]]
    )  # fmt: skip
    print(f"\n{cohort.name}'s labels (another lab's children; RRA), per group\n")
    print(markdown_table(kids.round(3)))


if __name__ == "__main__":
    main()
