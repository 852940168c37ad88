"""The Transformer's dropouts compiled (their masks hashed from a seed and the element's
index, drawn again in the backward): the attention weights' after PyTorch's softmax, and the
residual adds' and the feed-forward ReLU's fused with them; against compiling the attention
weights' only and none (the cheap-mask dropout after softmax, ReLU and adds), in the same
process: seconds per training step (batch 64, the study's bidirectional Transformer, AdamW),
the variants alternated in rounds so that the machine's drift hits them alike; medians over
the rounds.

    .venv/bin/python benchmarks/bench_attention.py [--threads 2] [--rounds 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

import gait2hip.models.transformer as transformer
from gait2hip import runtime
from gait2hip.models import create_model
from gait2hip.models.dropout import dropout, dropout_add, relu_dropout, softmax_dropout

FUSED = {"softmax_dropout": softmax_dropout, "dropout_add": dropout_add,
         "relu_dropout": relu_dropout}  # fmt: skip
UNFUSED = {
    "softmax_dropout": lambda s, p, training: dropout(torch.softmax(s, dim=-1), p, training),
    "dropout_add": lambda x, res, p, training: res + dropout(x, p, training),
    "relu_dropout": lambda x, p, training: dropout(torch.relu(x), p, training),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--steps", type=int, default=4)
    args = ap.parse_args()
    runtime.configure(args.threads)
    torch.manual_seed(0)
    model = create_model("transformer", causal=False, out_dim=14).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    X, Y = torch.randn(64, 180, 10), torch.randn(64, 180, 14)

    def step() -> None:
        opt.zero_grad()
        ((model(X) - Y) ** 2).mean().backward()
        opt.step()

    for _ in range(3):
        step()
    variants = {
        "all three compiled": FUSED,
        "the attention weights' only": FUSED
        | {k: UNFUSED[k] for k in ("dropout_add", "relu_dropout")},
        "none compiled": UNFUSED,
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(args.rounds):
        for name in list(variants)[:: 1 if r % 2 else -1]:
            for fn, impl in variants[name].items():
                setattr(transformer, fn, impl)
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step()
            times[name].append((time.perf_counter() - t0) / args.steps)
    for fn, impl in FUSED.items():
        setattr(transformer, fn, impl)
    print(f"# {runtime.machine_summary()}, {torch.get_num_threads()} threads")
    print("| dropouts | s / step (median) | range |")
    print("|---|---|---|")
    for name, v in times.items():
        print(f"| {name} | {statistics.median(v):.3f} | {min(v):.3f}-{max(v):.3f} |")


if __name__ == "__main__":
    main()
