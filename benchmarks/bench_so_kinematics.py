"""SO kinematics by OpenSim's own calls (the fast path before 2026-12-02) against the numpy
path the fast solver now uses, on cached trials labelled with OpenSim's SO.

OpenSim's path: ``Storage`` pad, ``lowpassIIR`` (which resamples through GCV splines when the
time steps are not uniform), ``convertDegreesToRadians``, then speeds from
``GCVSplineSet(5, ·)``. Ours: ``fast_so.so_kinematics`` (the same file read by OpenSim, then
``opensim_signal``'s pad, resampling and filter, and scipy's natural quintic spline). The
table gives each path's time per trial, how many trials OpenSim resampled, and the largest
differences of the coordinates and speeds at the solved frames.

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


def opensim_kinematics(model, ik: Path, lowpass_hz: float, times: np.ndarray, columns: list[str]):
    """Coordinates and speeds at ``times`` by OpenSim's calls, as the fast path computed them
    before 2026-12-02."""
    os_ = fast_so.st.osim()
    sto = os_.Storage(str(ik))
    sto.pad(sto.getSize() // 2)
    sto.lowpassIIR(lowpass_hz)
    model.getSimbodyEngine().convertDegreesToRadians(sto)
    q = fast_so._frame(sto)[columns]
    splines, order, x = os_.GCVSplineSet(5, sto), os_.StdVectorInt(), os_.Vector(1, 0.0)
    order.push_back(0)
    labels = sto.getColumnLabels()
    index = {labels.get(i + 1): i for i in range(splines.getSize())}
    u = np.empty((len(times), len(columns)))
    for j, name in enumerate(columns):
        derivative = splines.get(index[name]).calcDerivative
        for k, tk in enumerate(times):
            x.set(0, float(tk))
            u[k, j] = derivative(order, x)
    return q.reindex(times).to_numpy(), u


def resampled_by_opensim(ik: Path, lowpass_hz: float) -> bool:
    """Whether ``lowpassIIR`` moved the padded storage's time grid (it resampled)."""
    sto = fast_so.st.osim().Storage(str(ik))
    sto.pad(sto.getSize() // 2)
    before = fast_so._frame(sto).index.to_numpy()
    sto.lowpassIIR(lowpass_hz)
    after = fast_so._frame(sto).index.to_numpy()
    return len(before) != len(after) or not np.array_equal(before, after)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("labels", type=Path, nargs="+", help="label caches of datasets")
    p.add_argument("--limit", type=int, default=12, help="trials per dataset")
    args = p.parse_args()
    print(
        "| label cache | trials | cycles | resampled by OpenSim | OpenSim, ms per trial "
        "| gait2hip, ms per trial | max q difference (rad) | max speed difference (rad/s) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for root in args.labels:
        folders = trials(root)[: args.limit]
        t_old = t_new = err_q = err_u = 0.0
        cycles = resampled = 0
        for folder in folders:
            work, result = folder / "work", json.loads((folder / "result.json").read_text())
            lowpass = result["settings"]["lowpass_hz"]
            t = read_motion(work / "so" / fast_so.FORCE_FILE).data["time"].to_numpy()
            sm = fast_so._so_model(work / "so_model.osim")
            cycles += len(result.get("cycles", []))
            tic = time.perf_counter()
            times, q, u = fast_so.so_kinematics(
                sm.model, work / "ik" / "ik.mot", lowpass, t[0], t[-1]
            )
            t_new += time.perf_counter() - tic
            tic = time.perf_counter()
            ref_q, ref_u = opensim_kinematics(
                sm.model, work / "ik" / "ik.mot", lowpass, times, list(u.columns)
            )
            t_old += time.perf_counter() - tic
            resampled += resampled_by_opensim(work / "ik" / "ik.mot", lowpass)
            err_q = max(err_q, float(np.abs(ref_q - q[list(u.columns)].to_numpy()).max()))
            err_u = max(err_u, float(np.abs(ref_u - u.to_numpy()).max()))
        n = max(len(folders), 1)
        print(
            f"| {root} | {len(folders)} | {cycles} | {resampled} | {1000 * t_old / n:.1f} "
            f"| {1000 * t_new / n:.1f} | {err_q:.1e} | {err_u:.1e} |"
        )


if __name__ == "__main__":
    main()
