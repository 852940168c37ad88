"""Mamba selective-scan implementations: forward+backward seconds at the study's size:
autograd through a per-step loop (the tests' oracle), the fused PyTorch loop with its
hand-written backward, and the scan compiled for the CPU (gait2hip.models.scan_kernel, what
the fused scan runs where it could be built).

(batch 64, 180 frames, d_inner 256, d_state 16), float32, CPU.

    python benchmarks/bench_scan.py [--threads 2] [--no-malloc-tuning]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from gait2hip import runtime
from gait2hip.models import scan_kernel
from gait2hip.models.scan import scan_fused, scan_reference


def pytorch_loop(*args: torch.Tensor) -> torch.Tensor:
    with scan_kernel.pytorch_scan():
        return scan_fused(*args)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-malloc-tuning", action="store_true")
    args = ap.parse_args()
    runtime.configure(args.threads, tune_malloc=not args.no_malloc_tuning)
    torch.manual_seed(0)
    b, length, e, n = args.batch, 180, 256, 16
    u = torch.randn(b, length, e, requires_grad=True)
    d = (torch.rand(b, length, e) * 0.1).requires_grad_()
    A = (-torch.arange(1, n + 1.0).repeat(e, 1)).requires_grad_()
    Bm = torch.randn(b, length, n, requires_grad=True)
    Cm = torch.randn(b, length, n, requires_grad=True)
    print(
        f"# {runtime.machine_summary()}, batch {b}, L {length}, E {e}, N {n}, "
        f"{torch.get_num_threads()} threads, "
        f"malloc tuning {'off' if args.no_malloc_tuning else 'on'}"
    )
    print("| scan | forward s | forward+backward s |")
    print("|---|---|---|")
    scans = [("reference (autograd loop)", scan_reference), ("fused PyTorch loop", pytorch_loop)]
    if scan_kernel.kernel() is not None:
        scans.append(("compiled (C++)", scan_fused))
    for name, fn in scans:
        fn(u, d, A, Bm, Cm).sum().backward()  # warm-up
        t0 = time.perf_counter()
        for _ in range(args.repeats):
            with torch.no_grad():
                fn(u, d, A, Bm, Cm)
        fwd = (time.perf_counter() - t0) / args.repeats
        t0 = time.perf_counter()
        for _ in range(args.repeats):
            fn(u, d, A, Bm, Cm).sum().backward()
        both = (time.perf_counter() - t0) / args.repeats
        print(f"| {name} | {fwd:.3f} | {both:.3f} |", flush=True)


if __name__ == "__main__":
    main()
