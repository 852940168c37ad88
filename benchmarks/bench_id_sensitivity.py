"""How the forces model of the angles and the inverse-dynamics hip moments (profile
``recipe-moments``) answers errors in a lab's inverse dynamics: each unit's final model
predicts its held-out subjects' cycles with their hip moments as labelled, scaled (a body mass
or a model's segment inertias off by some percent), low-pass filtered harder than the labels'
inverse dynamics was, and shifted in time against the angles (a cycle's ID and IK out of
step). Subject-mean R² (study definition) and channel-mean R² against the static-optimisation
labels, per perturbation, mean over the splits.

    .venv/bin/python benchmarks/bench_id_sensitivity.py --runs runs/transfer-forces-plm \\
        --splits 21,22,23
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from transfer_runs import unit_folder

from gait2hip.conventions import get_target
from gait2hip.data.splits import holdout_subjects
from gait2hip.gait.signal import lowpass
from gait2hip.io.npz import read_npz
from gait2hip.report.summary import markdown_table
from gait2hip.training.checkpoint import TrainedModel
from gait2hip.training.metrics import per_channel_metrics, per_subject_metrics

FORCES = ".cache/datasets/schreiber2019/schreiber2019_MF.npz"


def lowpass_cycles(moments: np.ndarray, durations: np.ndarray, cutoff_hz: float) -> np.ndarray:
    """(N, T, S) cycles low-pass filtered (gait2hip.gait.signal.lowpass) at ``cutoff_hz`` at
    each cycle's own sampling rate; each cycle is filtered as three copies end to end, so its
    ends see their neighbours (a gait cycle repeats)."""
    T = moments.shape[1]
    return np.stack([
        lowpass(np.concatenate([m, m, m]), (T - 1) / d, cutoff_hz)[T : 2 * T]
        for m, d in zip(moments, durations, strict=True)
    ]).astype(moments.dtype)  # fmt: skip


def perturbations(m: np.ndarray, durations: np.ndarray) -> dict[str, np.ndarray]:
    """The labelled hip moments (N, T, 3) per kg and what a lab's inverse dynamics might give."""
    shift = max(1, round(0.02 * (m.shape[1] - 1)))
    return {
        "as labelled": m,
        "scaled x0.90": 0.90 * m,
        "scaled x0.95": 0.95 * m,
        "scaled x1.05": 1.05 * m,
        "scaled x1.10": 1.10 * m,
        "low-pass 6 Hz": lowpass_cycles(m, durations, 6.0),
        "low-pass 3 Hz": lowpass_cycles(m, durations, 3.0),
        f"{shift} frames late (2 % of the cycle)": np.roll(m, shift, axis=1),
        f"{shift} frames early": np.roll(m, -shift, axis=1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, default=Path("runs/transfer-forces-plm"))
    ap.add_argument("--profile", default="recipe-moments")
    ap.add_argument("--model", default="phaselinear-causal")
    ap.add_argument("--splits", default="21,22,23")
    args = ap.parse_args()
    ds = read_npz(FORCES, expected_out=get_target("forces"))
    Y, subject = ds.Y_per_kg, ds.subject_id.astype(str)
    durations = ds.cycle_durations()
    rows = []
    for split in args.splits.split(","):
        unit = unit_folder(args.runs, "in-lab", args.profile, args.model, split, "forces")
        final = TrainedModel.load(unit / "final.pt")
        test = holdout_subjects(ds.subject_id, seed=int(split)).test
        if set(subject[test]) != set(map(str, final.meta["test_subjects"])):
            raise SystemExit(f"{unit}: trained on another split than seed {split}'s")
        X = ds.select_inputs(final.in_cols).X[test]
        series = [j for j, c in enumerate(final.in_cols) if c.endswith("_moment")]
        for name, m in perturbations(X[..., series], durations[test]).items():
            Xp = X.copy()
            Xp[..., series] = m
            p, y = final.predict_reference(Xp), Y[test]
            rows.append({
                "ID hip moments": name, "split": split,
                "R²": per_subject_metrics(y, p, subject[test])["r2"].mean(),
                "channel R²": per_channel_metrics(y, p, ds.out_cols)["r2"].mean(),
            })  # fmt: skip
    df = pd.DataFrame(rows)
    table = df.groupby("ID hip moments", sort=False)[["R²", "channel R²"]].mean()
    table["splits"] = args.splits
    print(markdown_table(table.round(3).reset_index()))


if __name__ == "__main__":
    main()
