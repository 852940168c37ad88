"""OpenSim's example walking subject, as a new user would run it: another lab, another model
(gait2392 family), a walker of 72.6 kg; the hip moments ``predict`` gives against that
subject's inverse dynamics (docs/transfer_results.md, "OpenSim's example subject").

The files are not bundled (third-party; not in $GAIT2HIP_DATA): the subject's kinematics and
its inverse dynamics over one trial (OpenSim's ``subject01_walk1``), e.g. ``Kinematics_q.sto``
and ``inverse_dynamics.sto`` of GitHub mrrezaie/CustomStaticOptimization (the kinematics and
the ID computed from them, 0.492-2.492 s), or any table with the same columns (a CSV with
time and the angles; one with time and ``hip_*_r_moment`` in N·m). Per model (the shipped
default, its broad model and the study's three published models): the right hip's moments
over every kept right cycle against the ID's, per kg: Pearson r, R² and RMSE over the frames,
the 90 % interval's coverage, the mean difference (predicted - ID; over the first 60 % of the
cycle: stance), the peaks, and the cycle's OOD percentile and broad share. The
gait2392 family flexes the knee negative, so the knees are flipped (``--flip-sign``); no
height is given (the subject's scaled model would give one, ``--model-file``). The labels the
models learnt from are inverse dynamics of kinematics and forces low-pass filtered at 6 Hz
(docs/labeling.md), which has no heel-strike impact peaks; the rows "ID low-passed" compare
with the trial's inverse dynamics filtered the same way (4th-order zero-lag Butterworth at
``--lowpass-hz``, on the moments rather than on the forces before them, an approximation).

    .venv/bin/python benchmarks/bench_opensim_example.py KINEMATICS ID [--mass 72.6]
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import butter, filtfilt

import gait2hip
from gait2hip import settings
from gait2hip.conventions import get_target
from gait2hip.inference.predictor import default_model_dir
from gait2hip.io.npz import read_npz
from gait2hip.io.storage import read_motion
from gait2hip.report.summary import markdown_table
from gait2hip.runtime import machine_summary

MODELS = {
    "the default (shipped)": None,
    "its broad model": "broad",
    "gait2hip60:lstm": "gait2hip60:lstm",
    "gait2hip60:transformer": "gait2hip60:transformer",
    "gait2hip60:mamba": "gait2hip60:mamba",
}
DOFS = ("flexion", "adduction", "rotation")


def table(path: str | Path) -> pd.DataFrame:
    """A motion file (.mot/.sto) or a CSV with a time column, as a DataFrame."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    return read_motion(path).data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kinematics", help="the trial's joint angles (.mot/.sto or CSV), degrees")
    ap.add_argument("inverse_dynamics", help="its inverse dynamics (.sto or CSV), N·m")
    ap.add_argument("--mass", type=float, default=72.6, help="body mass, kg")
    ap.add_argument("--model-file", help="the subject's scaled .osim (its height, knees)")
    ap.add_argument("--lowpass-hz", type=float, default=6.0, help="the labels' cut-off")
    args = ap.parse_args()
    print(machine_summary())
    raw = table(args.inverse_dynamics)
    rate = 1.0 / float(np.median(np.diff(raw.time)))
    b, a = butter(2, args.lowpass_hz / (rate / 2))
    low = raw.assign(**{c: filtfilt(b, a, raw[c]) for c in raw.columns if c != "time"})
    subject = {"subject": args.model_file} if args.model_file else {"mass_kg": args.mass}
    flips = [] if args.model_file else ["knee_angle_r", "knee_angle_l"]
    rows = []
    for label, model in MODELS.items():
        if model == "broad":
            model = str(default_model_dir() / "moments" / "broad")
        pred = gait2hip.predict(args.kinematics, model=model, flip_sign=flips, **subject)
        kept = pred.cycles_table().dropna(subset=["cycle"])
        t = pred.targets["moments"]
        predicted = pred.to_dataframe("frame")
        for (reference, ref), dof in itertools.product(
            (("ID", raw), (f"ID low-passed {args.lowpass_hz:g} Hz", low)), DOFS
        ):
            frames = predicted.merge(ref, on="time")
            col = f"hip_{dof}_r_moment"
            y = frames[col].to_numpy() / pred.mass_kg
            p = frames[f"{col}_Nm_per_kg"].to_numpy()
            lo, hi = (frames[f"{col}_Nm_per_kg_{b}90"].to_numpy() for b in ("lo", "hi"))
            rows.append({
                "model": label, "reference": reference, "dof": dof, "frames": len(y),
                "r": np.corrcoef(y, p)[0, 1],
                "r2": 1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum(),
                "rmse": float(np.sqrt(((y - p) ** 2).mean())),
                "coverage_90": float(((y >= lo) & (y <= hi)).mean()),
                "bias": float(np.mean(p - y)),
                "bias_stance": float(np.mean((p - y)[frames.phase_pct.to_numpy() < 60])),
                "peak_pred": p.max(), "peak_id": y.max(),
                "trough_pred": p.min(), "trough_id": y.min(),
                "ood_pct": np.nan if t.ood_percentile is None else float(t.ood_percentile.max()),
                "broad_share": kept.get("broad_weight_moments", pd.Series([np.nan])).mean(),
            })  # fmt: skip
    durations = ", ".join(f"{d:.3f}" for d in kept.duration_s)
    print(f"\nright hip moments (Nm/kg) over the kept right cycles ({durations} s) against the "
          f"trial's inverse dynamics over {args.mass:g} kg\n")  # fmt: skip
    print(markdown_table(pd.DataFrame(rows).round(3)))
    # for comparison: the labels of our own walking cycles of about the same pace
    ds = read_npz(settings.dataset_file("schreiber2019", "moments"),
                  expected_out=get_target("moments"), expected_in_cols=None)  # fmt: skip
    durations = ds.cycle_durations()
    near = np.flatnonzero(np.abs(durations - kept.duration_s.mean()) <= 0.1)
    flexion = ds.Y_per_kg[near, :, 0]
    print(f"\nour labelled walking cycles within 0.1 s of that pace ({len(near)}), hip flexion "
          "moment (Nm/kg)\n")  # fmt: skip
    print(markdown_table(pd.DataFrame({
        "subject": ds.subject_id[near], "speed": ds.speed_label[near],
        "duration_s": durations[near], "peak": flexion.max(axis=1), "trough": flexion.min(axis=1),
    }).sort_values("duration_s").round(3)))  # fmt: skip


if __name__ == "__main__":
    main()
