"""SO kinematics, speeds from OpenSim's ``GCVSplineSet`` (before 2026-12-02) against the
natural quintic spline the fast path now uses, on cached trials labelled with OpenSim's SO.

Both read, pad and low-pass the same coordinates with OpenSim; the table gives each path's
time per trial (the new one includes the reading and filtering; the old one repeats them) and
the largest difference of the speeds.

    python benchmarks/bench_so_kinematics.py .cache/labels/hamner2013 .cache/labels/schreiber2019
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from bench_fast_so import trials

from gait2hip.io.storage import read_motion
from gait2hip.labeling import fast_so


def gcv_speeds(model, ik: Path, lowpass_hz: float, times: np.ndarray, columns: list[str]):
    """The speeds as computed before 2026-12-02: OpenSim's GCVSplineSet(5, ·)."""
    os_ = fast_so.st.osim()
    sto = os_.Storage(str(ik))
    sto.pad(sto.getSize() // 2)
    sto.lowpassIIR(lowpass_hz)
    model.getSimbodyEngine().convertDegreesToRadians(sto)
    q = fast_so._frame(sto)[columns]
    sub, labels = os_.Storage(len(q) + 1), os_.ArrayStr()
    for name in ("time", *columns):
        labels.append(name)
    sub.setColumnLabels(labels)
    for t, row in zip(q.index.to_numpy(), q.to_numpy(), strict=True):
        sub.append(float(t), os_.Vector.createFromMat(row))
    splines, order, x = os_.GCVSplineSet(5, sub), os_.StdVectorInt(), os_.Vector(1, 0.0)
    order.push_back(0)
    out = np.empty((len(times), len(columns)))
    for i in range(splines.getSize()):
        derivative = splines.get(i).calcDerivative
        for k, tk in enumerate(times):
            x.set(0, float(tk))
            out[k, i] = derivative(order, x)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("labels", type=Path, nargs="+", help="label caches of datasets")
    p.add_argument("--limit", type=int, default=12, help="trials per dataset")
    args = p.parse_args()
    print(
        "| label cache | trials | cycles | GCVSplineSet, ms per trial | scipy, ms per trial "
        "| max speed difference (rad/s) |"
    )
    print("|---|---|---|---|---|---|")
    for root in args.labels:
        folders = trials(root)[: args.limit]
        t_old = t_new = err = 0.0
        cycles = 0
        for folder in folders:
            work, result = folder / "work", json.loads((folder / "result.json").read_text())
            lowpass = result["settings"]["lowpass_hz"]
            t = read_motion(work / "so" / fast_so.FORCE_FILE).data["time"].to_numpy()
            sm = fast_so._so_model(work / "so_model.osim")
            cycles += len(result.get("cycles", []))
            tic = time.perf_counter()
            times, _, u = fast_so.so_kinematics(
                sm.model, work / "ik" / "ik.mot", lowpass, t[0], t[-1], speeds_of=sm.spanned
            )
            t_new += time.perf_counter() - tic
            tic = time.perf_counter()
            ref = gcv_speeds(sm.model, work / "ik" / "ik.mot", lowpass, times, list(u.columns))
            t_old += time.perf_counter() - tic
            err = max(err, float(np.abs(ref - u.to_numpy()).max()))
        n = max(len(folders), 1)
        print(
            f"| {root} | {len(folders)} | {cycles} | {1000 * t_old / n:.1f} "
            f"| {1000 * t_new / n:.1f} | {err:.1e} |"
        )


if __name__ == "__main__":
    main()
