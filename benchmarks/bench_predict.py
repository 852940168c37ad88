"""Prediction: speed against OpenSim static optimization, calibration, and gait events.

Three tables (each optional):

1. ``--speed``: end-to-end seconds for a 10-cycle IK trial (load models + read + predict +
   write .sto/CSV, and the figure separately), and cycles per second in batch for the
   trained demo models (ensemble and final model alone) and for reference-size models;
   side by side with OpenSim static optimization of one right gait cycle of the bundled
   walking data, run here in the same process (``--so-trials`` trials).
2. ``--calibration``: the calibration of every trained unit under ``--runs``: measured
   coverage of nominal 50/80/90/95 % intervals on held-out test subjects, and the share of
   test cycles flagged out-of-distribution (nominal 5 %).
3. ``--events``: heel strikes from joint angles alone vs c3d events (Schreiber walking,
   IK from the labelling cache) and vs force plates (Hamner running, bundled IK + GRF).

    python benchmarks/bench_predict.py [--speed] [--calibration] [--events] [--runs runs/demo]

With no table named, all three run. Needs `gait2hip demo` to have run (models, labels).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd

from gait2hip import runtime, settings
from gait2hip.gait.events import strikes_from_angles
from gait2hip.inference.api import predict
from gait2hip.inference.events import strikes_from_grf
from gait2hip.inference.inputs import read_angles
from gait2hip.inference.predictor import Predictor, find_predictors, run_folders
from gait2hip.io.storage import write_motion
from gait2hip.report.summary import markdown_table


def _print(df: pd.DataFrame, title: str, digits: int = 3) -> None:
    print(f"\n## {title}\n")
    print(markdown_table(df, digits))


# ------------------------------------------------------------------------------ speed


def ten_cycle_trial(ds_path: Path, folder: Path) -> tuple[Path, np.ndarray]:
    """A 10-cycle IK-like .mot at 100 Hz made of one subject's consecutive real cycles."""
    with np.load(ds_path) as z:
        X, cols = z["X"], [str(c) for c in z["in_cols"]]
        dur = z["cycle_t1"] - z["cycle_t0"]
    idx = np.arange(10) % len(X)
    strikes = np.concatenate([[0.2], 0.2 + np.cumsum(dur[idx])])
    time_ = np.round(np.arange(0.0, strikes[-1] + 0.2, 0.01), 6)
    data = {"time": time_}
    for j, c in enumerate(cols):
        t_c = np.concatenate([np.linspace(a, b, X.shape[1]) for a, b in pairwise(strikes)])
        data[c] = np.interp(time_, t_c, np.concatenate([X[i, :, j] for i in idx]))
    path = folder / "ten_cycles.mot"
    write_motion(path, pd.DataFrame(data), in_degrees=True)
    return path, strikes


def labelled_trials() -> list[Path]:
    """The newest cached labelling result (result.json) of each Schreiber trial."""
    newest: dict[tuple[str, str], Path] = {}
    for path in settings.labels_dir().glob("schreiber2019/*/*/*/result.json"):
        key = (path.parts[-4], path.parts[-3])
        if key not in newest or path.stat().st_mtime > newest[key].stat().st_mtime:
            newest[key] = path
    return [newest[k] for k in sorted(newest)]


def opensim_so_seconds(n_trials: int) -> list[float]:
    """OpenSim SO seconds per right gait cycle, run now on cached labelled trials."""
    from gait2hip.labeling import opensim_steps as st

    out = []
    for result in labelled_trials()[:n_trials]:
        res = json.loads(result.read_text())
        cyc = next((c for c in res.get("cycles", []) if c.get("side") == "r"), None)
        work = (result.parent / "work").resolve()
        if cyc is None or not (work / "so_model.osim").exists():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            st.static_optimization(
                work / "so_model.osim",
                work / "ik" / "ik.mot",
                work / "grf.xml",
                Path(tmp),
                t0=cyc["t0"],
                t1=cyc["t1"],
                lowpass_hz=res["settings"]["lowpass_hz"],
            )
            out.append(time.perf_counter() - t0)
    return out


def batch_ms(pred: Predictor, n: int, ensemble: bool) -> float:
    members = pred.members if ensemble else pred.members[:1]
    p = Predictor(members, pred.calibration, pred.source, {})
    X = np.random.default_rng(0).normal(20, 15, (n, pred.n_frames, len(pred.in_cols)))
    X = X.astype(np.float32)
    p.predict(X[:8])
    t0 = time.perf_counter()
    p.predict(X)
    return 1000 * (time.perf_counter() - t0) / n


def reference_predictor(name: str, template: Predictor) -> Predictor:
    from gait2hip.models import create_model
    from gait2hip.training.checkpoint import TrainedModel

    model = create_model(name, out_dim=len(template.out_cols)).eval()
    final = template.final
    trained = TrainedModel(model, final.scaler, final.in_cols, final.out_cols, final.target, {})
    return Predictor([trained], None, Path(f"<reference {name}>"), {})


def speed_table(runs: Path, so_trials: int, n_batch: int) -> None:
    ds = settings.dataset_dir("schreiber2019") / "schreiber2019_MF.npz"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        trial, strikes = ten_cycle_trial(ds, Path(tmp))
        for fig in (False, True):
            t0 = time.perf_counter()
            preds = find_predictors(runs)
            t1 = time.perf_counter()
            p = predict(trial, mass_kg=70.0, predictors=preds, strikes=strikes)
            t2 = time.perf_counter()
            p.to_sto(tmp, "x")
            p.to_csv(Path(tmp) / "x.csv")
            t3 = time.perf_counter()
            if fig:
                p.plot(Path(tmp) / "x.png")
            t4 = time.perf_counter()
            rows.append(
                {
                    "end to end (10 cycles, forces + moments)": "with figure" if fig else "files",
                    "load models s": t1 - t0,
                    "read + events + predict s": t2 - t1,
                    "write .sto + csv s": t3 - t2,
                    "figure s": t4 - t3 if fig else 0.0,
                    "total s": t4 - t0,
                    "cycles": len(p.kept),
                }
            )
    _print(pd.DataFrame(rows), "End to end, one 10-cycle trial (demo models, ensembles)")

    so = opensim_so_seconds(so_trials)
    so_cycle = float(np.mean(so)) if so else float("nan")
    preds = find_predictors(runs)
    rows = []
    for target, pred in preds.items():
        for ens in (True, False):
            ms = batch_ms(pred, n_batch, ens)
            rows.append(
                {
                    "target": target,
                    "model": f"{pred.label} (demo, quick size)",
                    "members": len(pred.members) if ens else 1,
                    "ms per cycle": ms,
                    "cycles per s": 1000 / ms,
                    "x faster than OpenSim SO": 1000 * so_cycle / ms,
                }
            )
    template = preds["forces"]
    for name in ("lstm", "transformer", "mamba"):
        ms = batch_ms(reference_predictor(name, template), n_batch, False)
        rows.append(
            {
                "target": "forces",
                "model": f"{name} (reference size)",
                "members": 1,
                "ms per cycle": ms,
                "cycles per s": 1000 / ms,
                "x faster than OpenSim SO": 1000 * so_cycle / ms,
            }
        )
    _print(
        pd.DataFrame(rows),
        f"Batch of {n_batch} cycles vs OpenSim static optimization, measured now: "
        f"{so_cycle:.2f} s per right cycle (mean of {len(so)} trials: "
        f"{', '.join(f'{s:.1f}' for s in so)} s)",
    )


# ------------------------------------------------------------------------------ calibration


def calibration_table(runs: Path) -> None:
    rows = []
    for run in run_folders(runs):
        for path in sorted(run.glob("split*/*/seed*/calibration.json")):
            d = json.loads(path.read_text())
            cov = d["coverage_all_channels"]
            rows.append(
                {
                    "run": run.name,
                    "model": path.parent.parent.name,
                    "members": d["n_members"],
                    **{f"cov {int(100 * p)}%": c for p, c in zip(d["nominal"], cov, strict=True)},
                    "test cycles OOD (nominal 5%)": d["test_cycles_flagged_ood"],
                    "RMSE ensemble": d["test_rmse_ensemble_mean"],
                    "RMSE final": d["test_rmse_final_mean"],
                }
            )
    _print(pd.DataFrame(rows), "Interval coverage and OOD flags on held-out test subjects")


# ------------------------------------------------------------------------------ events


def _match(kin: np.ndarray, ref: np.ndarray, tol: float = 0.15):
    errors, missed = [], 0
    for r in ref:
        d = kin - r if len(kin) else np.array([np.inf])
        j = int(np.argmin(np.abs(d)))
        if abs(d[j]) > tol:
            missed += 1
        else:
            errors.append(d[j])
    extra = sum(1 for k in kin if len(ref) == 0 or np.min(np.abs(ref - k)) > tol)
    return errors, missed, extra


def _row(name: str, errors, missed, extra) -> dict:
    e = 1000 * np.asarray(errors)
    return {
        "data": name,
        "strikes": len(e) + missed,
        "missed": missed,
        "extra": extra,
        "mean ms": e.mean(),
        "sd ms": e.std(),
        "max |err| ms": np.abs(e).max(),
    }


def events_table() -> None:
    from gait2hip.io.c3d import read_c3d

    cols = ["hip_flexion_r", "knee_angle_r", "hip_flexion_l", "knee_angle_l"]
    data = settings.data_root()
    rows = []
    errors, missed, extra = [], 0, 0
    for result in labelled_trials():
        ik = result.parent / "work" / "ik" / "ik.mot"
        if not ik.exists():
            continue
        subject, trial = result.parts[-4], result.parts[-3]
        tr = read_angles(ik, cols)
        c3d = read_c3d(
            data / "schreiber2019" / subject / "dynamic" / f"{subject}_{trial}.c3d",
            force_plates=False,
        )
        for side, name in (("r", "right"), ("l", "left")):
            kin = strikes_from_angles(
                tr.time,
                tr.angles[f"hip_flexion_{side}"].to_numpy(),
                tr.angles[f"knee_angle_{side}"].to_numpy(),
            )
            ref = c3d.strikes(name)
            ref = ref[(ref >= tr.time[0]) & (ref <= tr.time[-1])]
            e, m, x = _match(kin, ref)
            errors += e
            missed += m
            extra += x
    if errors:
        rows.append(_row("schreiber2019 walking vs c3d events", errors, missed, extra))
    errors, missed, extra = [], 0, 0
    for ik in sorted((data / "hamner2013").glob("subject*/ik/*.mot")):
        grf = ik.parent.parent / "expData" / f"{ik.stem}_grf.mot"
        tr = read_angles(ik, cols)
        for side in ("r", "l"):
            ref = strikes_from_grf(grf, side)
            kin = strikes_from_angles(
                tr.time,
                tr.angles[f"hip_flexion_{side}"].to_numpy(),
                tr.angles[f"knee_angle_{side}"].to_numpy(),
            )
            kin = kin[(kin > ref.min() - 0.1) & (kin < ref.max() + 0.1)] if len(ref) else kin
            e, m, x = _match(kin, ref)
            errors += e
            missed += m
            extra += x
    rows.append(_row("hamner2013 running vs force plates (20 N)", errors, missed, extra))
    _print(pd.DataFrame(rows), "Heel strikes from joint angles alone")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--calibration", action="store_true")
    ap.add_argument("--events", action="store_true")
    ap.add_argument("--runs", type=Path, default=Path("runs/demo"))
    ap.add_argument("--so-trials", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    runtime.configure(args.threads)
    every = not (args.speed or args.calibration or args.events)
    import torch

    print(
        f"# {runtime.machine_summary()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    if args.events or every:
        events_table()
    if args.calibration or every:
        calibration_table(args.runs)
    if args.speed or every:
        speed_table(args.runs, args.so_trials, args.batch)


if __name__ == "__main__":
    main()
