"""What a constant angle offset costs: the shipped default on its held-out subjects with one
joint angle shifted by a few degrees on both sides (docs/transfer_results.md, "Angle
offsets between labs").

Another lab's model (its pelvis and thigh frames, its knee axis, its foot's neutral) can put a
joint angle a constant few degrees from where Rajagopal's model, scaled to Schreiber's markers,
puts it for the same motion. Per target (hip moments, forces from the angles), per angle
(both sides at once) and offset: the subject-mean R² against the labels, the 90 % interval's
coverage, the share of cycles the OOD check flags and, for the blended moments model, the
broad model's share. The labels stay those of the unshifted motion (a frame's definition
changes the angle, not the hip's loads). No training.

    .venv/bin/python benchmarks/bench_angle_offsets.py [--offsets -10,-5,5,10,15]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from gait2hip import settings
from gait2hip.conventions import get_target, mirror_name
from gait2hip.inference.calibration import DEFAULT_INTERVAL, OOD_WARN_PERCENTILE, pooled_coverage
from gait2hip.inference.predictor import default_model_dir, load_predictor
from gait2hip.io.npz import read_npz
from gait2hip.report.summary import markdown_table
from gait2hip.runtime import machine_summary
from gait2hip.training.metrics import per_subject_metrics

ANGLES = ("hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_angle_r", "ankle_angle_r")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--offsets", default="-10,-5,5,10,15", help="degrees, comma list")
    args = ap.parse_args()
    offsets = sorted({0.0, *(float(x) for x in args.offsets.split(","))})
    print(machine_summary())
    rows = []
    for target in ("moments", "forces"):
        pred = load_predictor(default_model_dir() / target)
        path = settings.dataset_file("schreiber2019", target)
        ds = read_npz(path, expected_out=get_target(target), expected_in_cols=None)
        test = np.isin(ds.subject_id, pred.final.meta["test_subjects"])
        X = ds.select_inputs(pred.in_cols).X[test]
        y, subjects = ds.Y_per_kg[test], ds.subject_id[test]
        heights, durations = ds.height_m[test], ds.cycle_durations()[test]
        for angle in ANGLES:
            cols = [list(pred.in_cols).index(c) for c in (angle, mirror_name(angle))]
            for off in offsets:
                shifted = X.copy()
                shifted[..., cols] += off
                p = pred.predict_cycles(shifted, heights, durations)
                rows.append({
                    "target": target, "angle": angle.removesuffix("_r"), "offset_deg": off,
                    "r2": per_subject_metrics(y, p.mean, subjects)["r2"].mean(),
                    "coverage_90": pooled_coverage(y, p.mean, p.sd, (DEFAULT_INTERVAL,))[0],
                    "ood_flagged": np.mean(p.ood[1] > OOD_WARN_PERCENTILE),
                    "broad_share": np.nan if p.broad_weight is None else np.mean(p.broad_weight),
                })  # fmt: skip
    df = pd.DataFrame(rows)
    print(f"\nthe shipped default on its {len(np.unique(subjects))} held-out subjects, one angle "
          "shifted on both sides\n")  # fmt: skip
    print(markdown_table(df.round(3)))


if __name__ == "__main__":
    main()
