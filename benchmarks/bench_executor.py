"""Wall time of one benchmark grid through each executor on this machine, and the time
projected for a cluster of N workers from the measured task times.

    python benchmarks/bench_executor.py                       # schreiber2019 moments grid
    python benchmarks/bench_executor.py --synthetic           # no labelled data needed
    python benchmarks/bench_executor.py --configs local1x2,ray2x1 --project 1,2,4,8,16,64

Every configuration runs the same grid (models x seeds x folds + final fits) from an empty
run folder; ``localWxT`` = local executor with W processes of T threads each (W = 1: in this
process), ``rayWxT`` = a fresh local Ray instance with W CPUs, T per task. The projection
schedules the measured one-thread task times (longest first, folds before final fits, a
unit's final fit after its folds) onto N workers and adds the measured per-task overhead of
Ray; it ignores data transfer (shared storage) and node start-up. Prints markdown tables and
writes a figure (``--figure``).
"""

from __future__ import annotations

import argparse
import heapq
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gait2hip import runtime, settings
from gait2hip.conventions import get_target
from gait2hip.data.synthetic import make_synthetic
from gait2hip.executor import Executor
from gait2hip.io.npz import read_npz
from gait2hip.pipelines.benchmark import benchmark
from gait2hip.training.config import make_config


def parse_config(text: str) -> tuple[str, int, int]:
    kind = "ray" if text.startswith("ray") else "local"
    workers, threads = text[len(kind) :].split("x")
    return kind, int(workers), int(threads)


def task_times(run_dir: Path) -> list[tuple[str, float, str]]:
    """(unit, seconds, 'fold'|'final') of every task of a finished run folder."""
    out = []
    for unit in sorted({p.parent for p in run_dir.rglob("final.json")}):
        for f in sorted(unit.glob("fold*.json")):
            out.append((str(unit), json.loads(f.read_text())["seconds"], "fold"))
        out.append(
            (str(unit), json.loads((unit / "final.json").read_text())["seconds_final"], "final")
        )
    return out


def _widen(tasks: list[tuple[str, float, str]], k: int) -> list[tuple[str, float, str]]:
    return [(f"{unit}#{i}", sec, kind) for i in range(k) for unit, sec, kind in tasks]


def project(tasks: list[tuple[str, float, str]], n: int, overhead: float) -> float:
    """Makespan of list scheduling (longest first) on ``n`` workers; a unit's final fit starts
    when its folds are done and a worker is free."""
    free = [0.0] * n
    heapq.heapify(free)
    unit_ready: dict[str, float] = {}
    for unit, sec, _ in sorted((t for t in tasks if t[2] == "fold"), key=lambda t: -t[1]):
        start = heapq.heappop(free)
        end = start + sec + overhead
        heapq.heappush(free, end)
        unit_ready[unit] = max(unit_ready.get(unit, 0.0), end)
    finals = sorted((t for t in tasks if t[2] == "final"), key=lambda t: unit_ready[t[0]])
    end_all = max(free)
    for unit, sec, _ in finals:
        start = max(heapq.heappop(free), unit_ready[unit])
        end = start + sec + overhead
        heapq.heappush(free, end)
        end_all = max(end_all, end)
    return end_all


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="study-format NPZ")
    ap.add_argument("--synthetic", action="store_true", help="synthetic data (no labels needed)")
    ap.add_argument("--target", default="moments")
    ap.add_argument("--models", default="lstm,transformer,mamba")
    ap.add_argument("--seeds", default="2025,2026")
    ap.add_argument("--max-epochs", type=int, default=40)
    ap.add_argument("--configs", default="local1x2,local1x1,local2x1,ray2x1")
    ap.add_argument("--project", default="1,2,4,8,16,32,64")
    ap.add_argument(
        "--widen",
        default="1,9",
        help="also project grids K times wider (K x the units, the same task times), e.g. 9 = "
        "3 holdout splits x 3 times the seeds",
    )
    ap.add_argument("--figure", type=Path, default=Path("runs/bench_executor/scaling.png"))
    args = ap.parse_args()

    runtime.configure()
    if args.synthetic:
        ds = make_synthetic(n_subjects=18, trials_per_speed=2, seed=0)[args.target]
    else:
        path = args.data or settings.dataset_dir("schreiber2019") / "schreiber2019_JM.npz"
        ds = read_npz(path, expected_out=get_target(args.target))
    cfg = make_config(
        args.target,
        args.models.split(","),
        "quick",
        train_overrides={"max_epochs": args.max_epochs},
        seeds=tuple(int(s) for s in args.seeds.split(",")),
    )
    n_tasks = len(cfg.models) * len(cfg.seeds) * (cfg.n_folds + 1)
    print(
        f"# {runtime.machine_summary()}\n{ds.describe()}\n"
        f"grid: {len(cfg.models)} models x {len(cfg.seeds)} seeds x "
        f"({cfg.n_folds} folds + final) = {n_tasks} tasks, quick profile, "
        f"max {args.max_epochs} epochs\n"
    )
    rows, one_thread = [], None
    with tempfile.TemporaryDirectory(prefix="g2h-bench-ex-") as tmp:
        for text in args.configs.split(","):
            kind, workers, threads = parse_config(text)
            torch.set_num_threads(threads)
            ex = Executor(kind, workers=workers, cpus_per_task=threads, show_progress=False)
            run_dir = Path(tmp) / text
            with ex:
                ex.start()  # a Ray instance starts outside the timing
                t0 = time.perf_counter()
                benchmark(ds, cfg, run_dir, show_progress=False, executor=ex)
                wall = time.perf_counter() - t0
            times = task_times(run_dir)
            busy = sum(t[1] for t in times)
            rows.append((text, workers, threads, wall, busy))
            if threads == 1 and workers == 1:
                one_thread = times
            print(f"{text}: {wall:.1f} s wall, task time {busy:.1f} s", flush=True)
    torch.set_num_threads(2)

    print("\n| executor | workers x threads | wall s | sum of task s | speed-up vs local1x2 |")
    print("|---|---|---|---|---|")
    base = next((r[3] for r in rows if r[0] == "local1x2"), rows[0][3])
    for text, w, t, wall, busy in rows:
        print(f"| {text} | {w} x {t} | {wall:.1f} | {busy:.1f} | {base / wall:.2f} |")

    ray_rows = [r for r in rows if r[0].startswith("ray")]
    proj = []
    if one_thread is not None:
        overhead = 0.0
        if ray_rows:  # per-task overhead of Ray beyond the tasks' own time, per worker
            text, w, _, wall, _ = ray_rows[0]
            overhead = max(0.0, (wall - project(one_thread, w, 0.0)) / (n_tasks / w))
        print(f"\nprojection from local1x1 task times (+ {overhead:.2f} s Ray overhead per task)")
        widen = [int(v) for v in args.widen.split(",")]
        grids = {k: _widen(one_thread, k) for k in widen}
        head = " | ".join(f"grid x{k}: wall s (speed-up)" for k in widen)
        print(f"\n| workers (1 thread each) | {head} |")
        print("|---|" + "---|" * len(widen))
        ones = {k: project(g, 1, overhead) for k, g in grids.items()}
        for n in (int(v) for v in args.project.split(",")):
            cells = []
            for k, g in grids.items():
                p = project(g, n, overhead)
                cells.append(f"{p:.1f} ({ones[k] / p:.2f})")
                if k == widen[0]:
                    proj.append((n, p))
            print(f"| {n} | " + " | ".join(cells) + " |")
        print(
            f"\n(at most {sum(t[2] == 'fold' for t in one_thread)} fold tasks run at once; "
            "more seeds or holdout splits widen the grid)"
        )
    if args.figure:
        _figure(rows, proj, args.figure)
        print(f"\nfigure: {args.figure}")


def _figure(rows, proj, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    ax = axes[0]
    ax.bar([r[0] for r in rows], [r[3] for r in rows], color="tab:blue")
    ax.set_ylabel("wall time (s)")
    ax.set_title("measured on this machine")
    for i, r in enumerate(rows):
        ax.text(i, r[3], f"{r[3]:.0f}", ha="center", va="bottom", fontsize=8)
    ax = axes[1]
    if proj:
        n, p = np.array(proj).T
        ax.plot(n, p, "o-", color="tab:red")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("workers (1 thread each)")
        ax.set_ylabel("projected wall time (s)")
        ax.set_title("projected cluster sizes")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
