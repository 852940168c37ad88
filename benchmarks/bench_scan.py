"""Mamba selective-scan implementations: forward+backward seconds at the study's size:
autograd through a per-step loop (the tests' oracle), the fused PyTorch loop with its
hand-written backward, the scan compiled for the CPU (gait2hip.models.scan_kernel, what the
fused scan runs there where it could be built) and the parallel scan without a loop over
time steps (what it runs on a GPU).

(batch 64, 180 frames, d_inner 256, d_state 16), float32; on the CPU by default (the
parallel scan only with --parallel: it is bound by memory traffic there, ~50x the compiled
kernel's time, docs/speed.md), or on a GPU (--device cuda: the loops and the parallel scan).

    python benchmarks/bench_scan.py [--threads 2] [--no-malloc-tuning] [--parallel]
    python benchmarks/bench_scan.py --device cuda
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from gait2hip import runtime
from gait2hip.models import scan_kernel
from gait2hip.models.scan import scan_fused, scan_loop, scan_parallel, scan_reference


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-malloc-tuning", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--parallel", action="store_true", help="on the CPU, the parallel scan too")
    args = ap.parse_args()
    runtime.configure(args.threads, tune_malloc=not args.no_malloc_tuning)
    dev = torch.device(args.device)
    torch.manual_seed(0)
    b, length, e, n = args.batch, 180, 256, 16

    def leaf(t: torch.Tensor) -> torch.Tensor:
        return t.to(dev).requires_grad_()

    u = leaf(torch.randn(b, length, e))
    d = leaf(torch.rand(b, length, e) * 0.1)
    A = leaf(-torch.arange(1, n + 1.0).repeat(e, 1))
    Bm, Cm = leaf(torch.randn(b, length, n)), leaf(torch.randn(b, length, n))
    print(
        f"# {runtime.device_summary(dev)}, batch {b}, L {length}, E {e}, N {n}, "
        f"{torch.get_num_threads()} threads, "
        f"malloc tuning {'off' if args.no_malloc_tuning else 'on'}"
    )
    print("| scan | forward s | forward+backward s |")
    print("|---|---|---|")
    scans = [("reference (autograd loop)", scan_reference), ("fused PyTorch loop", scan_loop)]
    if dev.type == "cpu" and scan_kernel.kernel() is not None:
        scans.append(("compiled (C++)", scan_fused))
    if dev.type != "cpu" or args.parallel:
        scans.append(("parallel (no loop over time)", scan_parallel))

    def timed(step) -> float:
        t0 = time.perf_counter()
        for _ in range(args.repeats):
            step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return (time.perf_counter() - t0) / args.repeats

    for name, fn in scans:
        fn(u, d, A, Bm, Cm).sum().backward()  # warm-up
        with torch.no_grad():
            fwd = timed(lambda fn=fn: fn(u, d, A, Bm, Cm))
        both = timed(lambda fn=fn: fn(u, d, A, Bm, Cm).sum().backward())
        print(f"| {name} | {fwd:.4f} | {both:.4f} |", flush=True)


if __name__ == "__main__":
    main()
