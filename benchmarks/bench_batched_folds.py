"""Batched folds against separate fits: one epoch of the K folds of the study's protocol
(docs/speed.md, "Batched folds").

K folds of ``--cycles`` random cycles (each fold training on (K-1)/K of them, validating on
the rest, 180 frames x 10 angles -> 10 forces; batch 64, AdamW, clipping 0.5: the paper
profile's step), one epoch each, timed three ways in one process, in turn over ``--rounds``
rounds (medians):

- ``batched``: :func:`gait2hip.training.batched.fit_folds`, the K folds as one model mapped
  with ``torch.func.vmap`` (PyTorch's dropout, the Transformer's layers written out, Mamba's
  parallel scan; the LSTM's recurrence as one block-diagonal LSTM);
- ``separate, same layers``: K calls of :func:`gait2hip.training.loop.fit` under the same
  switches (what batching is to be compared with, op for op);
- ``separate, gait2hip's path``: K calls of ``fit`` as the protocol runs them (the compiled
  dropouts and scan on the CPU; on CUDA the same as the previous).

    .venv/bin/python benchmarks/bench_batched_folds.py [--models transformer] [--device cuda]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import time

import numpy as np
import pandas as pd
import torch

from gait2hip.models import create_model
from gait2hip.models.dropout import torch_dropout
from gait2hip.models.scan_kernel import KERNEL
from gait2hip.models.transformer import TORCH_ENCODER
from gait2hip.report.summary import markdown_table
from gait2hip.runtime import machine_summary
from gait2hip.training.batched import Fold, fit_folds
from gait2hip.training.config import TrainConfig
from gait2hip.training.loop import fit

#: The study's models' directions (docs/speed.md); Mamba's scan as vmap can map it.
SPECS = {
    "lstm": {"causal": True},
    "transformer": {"causal": False},
    "mamba": {"causal": True, "scan": "parallel"},
}


def folds(n: int, k: int, frames: int, seed: int = 0) -> list[Fold]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, frames, 10)).astype(np.float32)
    Y = rng.normal(size=(n, frames, 10)).astype(np.float32)
    parts = np.array_split(np.arange(n), k)
    out = []
    for i, val in enumerate(parts):
        train = np.setdiff1d(np.arange(n), val)
        out.append(Fold(X[train], Y[train], X[val], Y[val], seed=100 + i))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="transformer", help="comma list of " + ",".join(SPECS))
    ap.add_argument("--cycles", type=int, default=713)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--frames", type=int, default=180)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_summary(), f"| device {args.device}, {args.threads} threads")
    cfg = TrainConfig(max_epochs=1, patience=10, batch_size=64, grad_clip=0.5)
    data = folds(args.cycles, args.folds, args.frames)
    plain = lambda: contextlib.ExitStack()  # noqa: E731

    def mapped():
        stack = contextlib.ExitStack()
        for c in (KERNEL.off(), torch_dropout(), TORCH_ENCODER.off()):
            stack.enter_context(c)
        return stack

    rows = []
    for name in args.models.split(","):
        start = [create_model(name, in_dim=10, out_dim=10, **SPECS[name]) for _ in data]
        times: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for way in ("batched", "separate, same layers", "separate, gait2hip's path"):
                models = [copy.deepcopy(m) for m in start]
                if args.device == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                if way == "batched":
                    fit_folds(models, data, cfg, device=args.device)
                else:
                    with mapped() if way == "separate, same layers" else plain():
                        for m, f in zip(models, data, strict=True):
                            fit(m, f.X, f.Y, cfg, seed=f.seed, X_val=f.X_val, Y_val=f.Y_val,
                                device=args.device)  # fmt: skip
                if args.device == "cuda":
                    torch.cuda.synchronize()
                times.setdefault(way, []).append(time.perf_counter() - t0)
        base = float(np.median(times["separate, same layers"]))
        for way, t in times.items():
            rows.append({"model": name, "way": way, "s per epoch of the K folds": np.median(t),
                         "x separate, same layers": np.median(t) / base})  # fmt: skip
    print(f"\n{args.folds} folds of {args.cycles} cycles x {args.frames} frames, one epoch each "
          f"(medians of {args.rounds} rounds)\n")  # fmt: skip
    print(markdown_table(pd.DataFrame(rows).round(3)))


if __name__ == "__main__":
    main()
