"""Would the pelvis's motion help predict the hip muscle forces and moments? Every IK of a
full-body model (a marker lab's, OpenCap's) gives the pelvis's translations besides the joint
angles; the pelvis's acceleration is close to the body's, whose mass times it (plus gravity)
is the sum of the ground reaction forces that inverse dynamics needs and the angles lack
(benchmarks/bench_moments_as_inputs.py).

Per walking cycle of the labelled dataset, from the IK that labelled it (the label cache of
`gait2hip build-dataset schreiber2019`): the pelvis's forward speed (m/s) and its forward,
vertical and lateral accelerations (m/s², forward along the walking direction, lateral towards
the predicted side: a left cycle's is mirrored like its angles), the translations low-pass
filtered at 6 Hz before differentiating, resampled over the cycle like the angles. Models:

- the phase-linear model (gait2hip.models.phaselinear, ridge 0.1 per sample as in
  bench_moments_as_inputs.py) from the angles and the cycle's duration, then with the pelvis
  series: in-lab (the split's held-out subjects) and leave one speed out (trained on one
  speed of the training subjects, tested on the other speed of the held-out ones);
- with ``--networks``: the recipe's networks from scratch, in-lab, early-stopped on one
  GroupKFold fold of the training subjects, two seeds' predictions averaged (not the full
  protocol: a quick paired look, the same folds and seeds with and without the pelvis), and
  the phase-linear model and the networks averaged (``phaselinear+lstm+...``).

Scores on each split's held-out subjects: subject-mean R² (study definition) and channel-mean
R² (forces clipped at 0).

    .venv/bin/python benchmarks/bench_pelvis_inputs.py --splits 21,22,23,24,25 \\
        [--networks lstm,transformer --network-splits 21,22,23] [--csv runs/bench_pelvis.csv]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from bench_moments_as_inputs import phase_linear
from sklearn.model_selection import GroupKFold

from gait2hip.conventions import get_target
from gait2hip.data.splits import holdout_subjects
from gait2hip.gait.signal import lowpass, resample
from gait2hip.io.npz import read_npz
from gait2hip.io.storage import read_motion
from gait2hip.labeling.sources import SOURCES
from gait2hip.labeling.trial import cache_key, trial_dir
from gait2hip.models import create_model
from gait2hip.report.summary import markdown_table
from gait2hip.runtime import machine_summary
from gait2hip.settings import data_root, labels_dir
from gait2hip.training.config import make_config
from gait2hip.training.loop import fit
from gait2hip.training.metrics import per_channel_metrics, per_subject_metrics
from gait2hip.training.normalize import InputScaler

DATA = ".cache/datasets/schreiber2019/schreiber2019_{}.npz"
SUFFIX = {"forces": "MF", "moments": "JM"}
CUTOFF_HZ = 6.0
SPEEDS = {"comfortable": "comf → fast", "fast": "fast → comf"}


def pelvis_series(ik: Path, t0: float, t1: float, side: str, n: int) -> np.ndarray:
    """(n, 4) pelvis speed and accelerations over one cycle of the IK motion ``ik``."""
    motion = read_motion(ik)
    t = motion.time
    rate = 1.0 / float(np.median(np.diff(t)))
    tx, ty, tz = (lowpass(motion.data[c].to_numpy(float), rate, CUTOFF_HZ) for c in
                  ("pelvis_tx", "pelvis_ty", "pelvis_tz"))  # fmt: skip
    vx = np.gradient(tx, t)
    forward = np.sign(vx.mean())  # walking along +x or -x
    lateral = forward * (1.0 if side == "r" else -1.0)  # OpenSim's z points right of +x
    ax, ay, az = (np.gradient(np.gradient(s, t), t) for s in (tx, ty, tz))
    series = np.stack([forward * vx, forward * ax, ay, lateral * az], 1)
    return resample(t, series, t0, t1, n)


def cycle_pelvis(path: str) -> np.ndarray:
    """(N, T, 4) pelvis series of every cycle of the dataset ``path``, from the label cache."""
    z = np.load(path, allow_pickle=False)
    source = SOURCES["schreiber2019"](data_root())
    specs = {(s.subject, s.trial): s for s in source.specs}
    out = []
    for subject, trial, side, t0, t1 in zip(
        z["subject_id"], z["trial"], z["side"], z["cycle_t0"], z["cycle_t1"], strict=True
    ):
        spec = specs[str(subject), str(trial)]
        folder = trial_dir(spec, labels_dir()) / cache_key(spec, source.settings)
        cycles = json.loads((folder / "result.json").read_text())["cycles"]
        if not any(abs(c["t0"] - t0) < 1e-6 and c["side"] == side for c in cycles):
            raise SystemExit(f"{folder}: no cycle at {t0} s ({side}); rebuild the dataset")
        ik = folder / "work" / "ik" / "ik.mot"
        out.append(pelvis_series(ik, float(t0), float(t1), str(side), z["X"].shape[1]))
    return np.stack(out).astype(np.float32)


def network(arch: str, target: str, X, Y, train, test, subject) -> np.ndarray:
    """The recipe's ``arch`` early-stopped on one GroupKFold fold of ``train``, two seeds'
    predictions of ``test`` averaged."""
    cfg = make_config(target, [arch], "recipe")
    spec = cfg.models[0]
    fit_rows, val_rows = next(GroupKFold(5).split(train, groups=subject[train]))
    a, v = train[fit_rows], train[val_rows]
    preds = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        scaler = InputScaler.fit(X[a])
        model = create_model(spec.name, **cfg.model_config(spec, X.shape[-1], Y.shape[-1]))
        fit(model, scaler.transform(X[a]), Y[a], cfg.train, seed=seed,
            X_val=scaler.transform(X[v]), Y_val=Y[v])  # fmt: skip
        model.eval()
        with torch.no_grad():
            out = model(torch.from_numpy(scaler.transform(X[test]).astype(np.float32)))
        preds.append((out.clamp_min(0) if target == "forces" else out).numpy())
    return np.mean(preds, 0)


def target_rows(target: str, args: argparse.Namespace) -> list[dict]:
    """Every score of ``target``: the phase-linear model on every split and source, the
    networks in-lab."""
    path = DATA.format(SUFFIX[target])
    ds = read_npz(path, expected_out=get_target(target))
    Y, subject = ds.Y_per_kg, ds.subject_id.astype(str)
    speed = ds.speed_label.astype(str)
    X = ds.select_inputs((*ds.in_cols, "cycle_duration_s")).X
    inputs = {"angles + duration": X, "+ pelvis": np.concatenate([X, cycle_pelvis(path)], -1)}
    rows, preds = [], {}

    def score(model: str, inp: str, tr: np.ndarray, te: np.ndarray, split: int, source: str):
        if model == "phaselinear":
            p = phase_linear(inputs[inp], Y, tr, te, target == "forces")
        elif "+" in model:  # the mean of models already scored on this split and source
            p = np.mean([preds[m, inp, split, source] for m in model.split("+")], 0)
        else:
            p = network(model, target, inputs[inp], Y, tr, te, subject)
        preds[model, inp, split, source] = p
        rows.append({
            "target": target, "model": model, "inputs": inp, "source": source, "split": split,
            "R²": per_subject_metrics(Y[te], p, subject[te])["r2"].mean(),
            "channel R²": per_channel_metrics(Y[te], p, ds.out_cols)["r2"].mean(),
        })  # fmt: skip

    for split in map(int, args.splits.split(",")):
        sp = holdout_subjects(ds.subject_id, seed=split)
        for inp in inputs:
            score("phaselinear", inp, sp.train, sp.test, split, "in-lab")
            for cond, source in SPEEDS.items():
                tr, te = sp.train[speed[sp.train] == cond], sp.test[speed[sp.test] != cond]
                score("phaselinear", inp, tr, te, split, source)
    networks = [a for a in args.networks.split(",") if a] if target == "forces" else []
    for split in map(int, args.network_splits.split(",")) if networks else []:
        sp = holdout_subjects(ds.subject_id, seed=split)
        for inp in inputs:
            for arch in networks:
                t0 = time.perf_counter()
                score(arch, inp, sp.train, sp.test, split, "in-lab")
                print(f"{arch} split {split} {inp}: {time.perf_counter() - t0:.0f} s",
                      file=sys.stderr, flush=True)  # fmt: skip
            score("+".join(["phaselinear", *networks]), inp, sp.train, sp.test, split, "in-lab")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--splits", default="21,22,23,24,25")
    ap.add_argument("--targets", default="forces,moments")
    ap.add_argument("--networks", default="", help="e.g. lstm,transformer (forces, in-lab)")
    ap.add_argument("--network-splits", default="21,22,23")
    ap.add_argument("--csv", type=Path, help="write every score here")
    ap.add_argument("--from-csv", type=Path, help="print the tables of an earlier --csv")
    args = ap.parse_args()
    if args.from_csv:
        df = pd.read_csv(args.from_csv)
    else:
        print(machine_summary(), file=sys.stderr)
        torch.set_num_threads(1)
        df = pd.DataFrame([r for t in args.targets.split(",") for r in target_rows(t, args)])
    if args.csv:
        df.to_csv(args.csv, index=False)
    print(tables(df))


def tables(df: pd.DataFrame) -> str:
    """The mean scores per target, model, source and inputs, and the pelvis's gain split by
    split (mean and range)."""
    keys = ["target", "model", "source"]
    means = df.groupby([*keys, "inputs"], sort=False).agg(
        splits=("split", lambda s: ",".join(map(str, s))),
        r2=("R²", "mean"), channel=("channel R²", "mean"),
    ).reset_index()  # fmt: skip
    means = means.rename(columns={"r2": "R²", "channel": "channel R²"})
    wide = df.pivot_table(index=[*keys, "split"], columns="inputs", values=["R²", "channel R²"])
    gain = pd.DataFrame({
        m: wide[m]["+ pelvis"] - wide[m]["angles + duration"] for m in ("R²", "channel R²")
    }).reset_index()  # fmt: skip
    order = {k: i for i, k in enumerate(means[keys].apply(tuple, axis=1).drop_duplicates())}
    rows = []
    for key, g in sorted(gain.groupby(keys), key=lambda kv: order[kv[0]]):
        row = dict(zip(keys, key, strict=True)) | {"splits": len(g)}
        for m in ("R²", "channel R²"):
            v = g[m]
            row[f"+ pelvis Δ {m} (range)"] = f"{v.mean():+.3f} ({v.min():+.3f} to {v.max():+.3f})"
        rows.append(row)
    return markdown_table(means.round(3)) + "\n\n" + markdown_table(pd.DataFrame(rows))


if __name__ == "__main__":
    main()
