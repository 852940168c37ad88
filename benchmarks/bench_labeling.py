"""Seconds per trial and per cycle for each OpenSim step (scale, IK, ID, SO) and the whole
build of a bundled dataset, labelled from scratch in a fresh cache.

    python benchmarks/bench_labeling.py schreiber2019 --workers 2
    python benchmarks/bench_labeling.py schreiber2019 --workers 2 --so-solver opensim
    python benchmarks/bench_labeling.py hamner2013 --workers 2 --subjects subject01,subject02

Step times are measured inside each worker (CPU of one process); the build time is wall
clock with ``--workers`` processes. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from gait2hip import runtime, settings
from gait2hip.labeling.build import build_dataset
from gait2hip.labeling.sources import SOURCES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", choices=sorted(SOURCES))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--subjects", default=None, help="comma list (default: all)")
    ap.add_argument("--out", type=Path, default=None, help="keep the dataset here")
    ap.add_argument(
        "--cache", type=Path, default=None, help="label cache (default: a fresh temp folder)"
    )
    ap.add_argument(
        "--so-solver", default=None, help="auto (the default), opensim or fast (docs/fast_so.md)"
    )
    args = ap.parse_args()

    source = SOURCES[args.dataset](settings.data_root())
    if args.so_solver:
        source = replace(source, settings=replace(source.settings, so_solver=args.so_solver))
    subjects = args.subjects.split(",") if args.subjects else None
    with tempfile.TemporaryDirectory(prefix="g2h-bench-") as tmp:
        out = args.out or Path(tmp) / "out"
        report = build_dataset(
            source, out, args.cache or Path(tmp) / "cache", workers=args.workers, subjects=subjects
        )
    ok = [r for r in report.results if r.ok and not r.cached]
    n_cycles = sum(len(r.cycles) for r in ok)
    order = ["scale", "ik", "id", "so", "moment_arms"]  # then any other step, by name
    steps = sorted(
        {s for r in ok for s in r.timings},
        key=lambda s: (order.index(s), "") if s in order else (len(order), s),
    )
    print(
        f"\n# {runtime.machine_summary()}\n"
        f"{args.dataset}: {len(report.results)} trials, {n_cycles} cycles labelled, "
        f"{report.n_kept} kept, {args.workers} workers\n"
    )
    print("| step | s/trial (mean) | s/trial (max) | s/cycle |")
    print("|---|---|---|---|")
    for step in steps:
        t = np.array([r.timings[step] for r in ok if step in r.timings])
        print(f"| {step} | {t.mean():.2f} | {t.max():.2f} | {t.sum() / max(n_cycles, 1):.2f} |")
    total = sum(sum(r.timings.values()) for r in ok)
    print(
        f"| all steps (CPU, one process) | {total / max(len(ok), 1):.2f} | | "
        f"{total / max(n_cycles, 1):.2f} |"
    )
    print(f"| **whole build, wall clock** | | | {report.seconds / max(n_cycles, 1):.2f} |")
    print(f"\nwhole build: {report.seconds:.0f} s wall ({report.seconds / 60:.1f} min)")


if __name__ == "__main__":
    main()
