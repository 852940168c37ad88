"""Training and inference speed of every model at the study's sizes, on the CPU or a GPU.

Prints, per model and time direction: parameters, seconds per training epoch over 713
trials x 180 frames x 10 angles (random values; batch 64, AdamW, grad-clip 0.5, the paper
profile's step), and inference milliseconds per gait cycle at batch 1 and batch 256; then the
matrix-multiply work of a training epoch, the rate it ran at, and that rate against this
machine's float32 matrix-multiply rate (a large sgemm), which bounds what any implementation
of the same models could reach here.

The epochs are timed in ``--rounds`` rounds, the models in turn within each (the order
reversed every other round), so that the shared machine's drift hits them alike; the table
gives the median over rounds and each model's epoch against the causal LSTM's of the same
round (median and range): the ratios the speed targets are set in.

    python benchmarks/bench_speed.py [--threads 2] [--rounds 3] [--models lstm,transformer,mamba]
    python benchmarks/bench_speed.py --device cuda --inference-batch 8192   # on a GPU
    python benchmarks/bench_speed.py --precision float32,bf16   # both side by side: training
                                               # as `--precision bf16` trains (bfloat16
                                               # autocast of the step), inference under it
    python benchmarks/bench_speed.py --plain-pytorch   # the models as PyTorch alone runs
                                               # them: its dropout masks and Transformer layers,
                                               # the PyTorch Mamba scan (the defaults: cheaper
                                               # masks, gait2hip.models.dropout; the compiled
                                               # scan, gait2hip.models.scan_kernel)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from gait2hip import runtime
from gait2hip.models import count_parameters, create_model
from gait2hip.models.dropout import torch_dropout
from gait2hip.models.scan_kernel import pytorch_scan
from gait2hip.training.config import TrainConfig
from gait2hip.training.loop import fit, predict_array


def time_epoch(
    name: str,
    causal: bool,
    X: np.ndarray,
    Y: np.ndarray,
    epochs: int,
    device: str = "cpu",
    precision: str = "float32",
) -> float:
    """Seconds per training epoch at ``precision`` (fit leaves the model on the CPU: the
    time includes moving it there and back once)."""
    model = create_model(name, causal=causal, out_dim=Y.shape[-1])
    cfg = TrainConfig()
    fit(model, X[:64], Y[:64], cfg, seed=0, epochs=1, device=device, precision=precision)
    t0 = time.perf_counter()
    fit(model, X, Y, cfg, seed=0, epochs=epochs, device=device, precision=precision)
    return (time.perf_counter() - t0) / epochs


def time_inference(
    name: str, causal: bool, batch: int, frames: int, repeats: int, device: str = "cpu"
) -> float:
    model = create_model(name, causal=causal).eval().to(device)
    X = np.random.default_rng(0).normal(size=(batch, frames, 10)).astype(np.float32)
    predict_array(model, X, batch_size=batch)
    t0 = time.perf_counter()
    for _ in range(repeats):
        predict_array(model, X, batch_size=batch)
    return 1000 * (time.perf_counter() - t0) / (repeats * batch)


MATMUL_OPS = ("mm", "addmm", "bmm", "baddbmm")


def train_flops(name: str, causal: bool, frames: int = 180, batch: int = 64) -> float:
    """Matrix-multiply FLOPs of one training step (forward + backward) per cycle. PyTorch's
    counter sees the matmuls of the Transformer and Mamba; the CPU LSTM is one fused op it
    does not see, counted here as 2 FLOPs per weight per frame, x3 for the backward pass.
    Only matrix multiplies are summed: the counter also scores a depthwise convolution's
    backward as if it were a dense one (~86x its work; Mamba's on PyTorch's path)."""
    model = create_model(name, causal=causal, out_dim=14).train()
    X, Y = torch.randn(batch, frames, 10), torch.randn(batch, frames, 14)
    with FlopCounterMode(display=False) as counter:
        ((model(X) - Y) ** 2).mean().backward()
    lstm = sum(
        2 * p.numel()
        for m in model.modules()
        if isinstance(m, nn.LSTM)
        for n, p in m.named_parameters()
        if n.startswith("weight_")
    )
    counts = counter.get_flop_counts()["Global"]
    matmul = sum(v for op, v in counts.items() if str(op).split(".")[-1] in MATMUL_OPS)
    return matmul / batch + 3 * frames * lstm


def sgemm_rate(n: int = 2048, repeats: int = 10, device: str = "cpu") -> float:
    """The device's float32 matrix-multiply rate (FLOP/s; on the CPU at the current thread
    count)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else lambda: None
    a @ b
    sync()
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync()
    return 2 * n**3 * repeats / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--epochs", type=int, default=1, help="epochs per timing")
    ap.add_argument("--rounds", type=int, default=3, help="timings per model, interleaved")
    ap.add_argument("--trials", type=int, default=713)
    ap.add_argument("--models", default="lstm,transformer,mamba")
    ap.add_argument("--variants", default="causal,bidir")
    ap.add_argument("--no-malloc-tuning", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--inference-batch", type=int, default=256)
    ap.add_argument(
        "--precision",
        default="float32",
        help="comma list of float32 and bf16: training as `--precision` trains (bf16: "
        "bfloat16 autocast of the step), inference under the same autocast; several are timed "
        "side by side in every round",
    )
    ap.add_argument(
        "--plain-pytorch",
        action="store_true",
        help="PyTorch's dropout masks and Transformer layers, the PyTorch Mamba scan",
    )
    args = ap.parse_args()

    precisions = [runtime.resolve_precision(p) for p in args.precision.split(",") if p.strip()]

    def settings(prec: str = "float32", inference: bool = False) -> contextlib.ExitStack:
        """The dropout and scan settings asked for (and for inference the autocast: training
        takes the precision itself), entered afresh for each model."""
        stack = contextlib.ExitStack()
        if inference:
            stack.enter_context(runtime.autocast(args.device, prec))
        if args.plain_pytorch:
            stack.enter_context(torch_dropout())
            stack.enter_context(pytorch_scan())
        return stack

    runtime.configure(args.threads, tune_malloc=not args.no_malloc_tuning)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.trials, 180, 10)).astype(np.float32)
    Y = rng.normal(size=(args.trials, 180, 14)).astype(np.float32)
    print(
        f"# {runtime.device_summary(args.device)}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {args.trials} trials x 180 x 10, "
        f"malloc tuning {'off' if args.no_malloc_tuning else 'on'}, "
        f"precision {', '.join(precisions)}"
        f"{', plain PyTorch' if args.plain_pytorch else ''}"
    )
    peak = sgemm_rate(device=args.device)
    print(f"# float32 sgemm 2048x2048: {peak / 1e9:.0f} GFLOP/s")
    units = [
        (name, v, p)
        for name in args.models.split(",")
        for v in args.variants.split(",")
        for p in precisions
    ]
    epochs_s: dict[tuple[str, str, str], list[float]] = {u: [] for u in units}
    for r in range(args.rounds):
        for name, variant, prec in units[:: -1 if r % 2 else 1]:
            with settings():
                epochs_s[name, variant, prec].append(
                    time_epoch(name, variant == "causal", X, Y, args.epochs, args.device, prec)
                )
    print(
        "| model | direction | precision | params | s / epoch | x LSTM causal | x float32 "
        f"| ms / cycle (batch 1) | ms / cycle (batch {args.inference_batch}) | GFLOP / epoch "
        "| GFLOP/s (% of sgemm) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")

    def against(mine: list[float], base: list[float] | None) -> str:
        """Median (range) of ``mine`` over ``base`` round by round."""
        if base is None:
            return "-"
        ratios = [a / b for a, b in zip(mine, base, strict=True)]
        return f"{np.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"

    total = {p: 0.0 for p in precisions}
    for name, variant, prec in units:
        causal = variant == "causal"
        n = count_parameters(create_model(name, causal=causal))
        with settings(prec, inference=True):
            b1 = time_inference(name, causal, 1, 180, 20, args.device)
            b_big = time_inference(name, causal, args.inference_batch, 180, 2, args.device)
        mine = epochs_s[name, variant, prec]
        ep = float(np.median(mine))
        lstm = against(mine, epochs_s.get(("lstm", "causal", prec)))
        fp32 = against(mine, epochs_s.get((name, variant, "float32")))
        work = train_flops(name, causal) * args.trials
        rate = work / ep
        total[prec] += work
        print(
            f"| {name} | {variant} | {prec} | {n:,} | {ep:.2f} | {lstm} | {fp32} | {b1:.2f} "
            f"| {b_big:.3f} | {work / 1e9:.0f} | {rate / 1e9:.0f} ({100 * rate / peak:.0f} %) |",
            flush=True,
        )
    # the paper profile at its cap, in epochs of all the trials: 5 folds x 300 epochs of
    # training on 4/5 of the 80 % pool plus a validation pass on the other 1/5 (forward only,
    # ~1/3 of a training step's work), then the final fit of 300 epochs on the pool
    epochs = 5 * 300 * (0.8 * 0.8 + 0.8 * 0.2 / 3) + 300 * 0.8
    work = next(iter(total.values()))
    print(
        f"# paper profile, every model above, every fold at 300 epochs: {epochs:.0f} epochs of "
        f"{args.trials} trials, {work * epochs / 1e12:.0f} TFLOP of matrix multiplies: "
        f"{work * epochs / 3600 / 1e9:.0f} GFLOP/s needed for 60 min, "
        f"{work * epochs / peak / 3600:.1f} h at the sgemm rate"
    )
    study = [("lstm", "causal"), ("transformer", "bidir"), ("mamba", "causal")]
    for prec in precisions:
        if all((m, v, prec) in epochs_s for m, v in study):
            per_epoch = sum(float(np.median(epochs_s[m, v, prec])) for m, v in study)
            print(
                f"# the study's three models (LSTM causal, Transformer bidirectional, Mamba "
                f"causal), {prec}: {per_epoch:.2f} s per epoch of the three, the paper profile "
                f"at the cap {per_epoch * epochs / 3600:.2f} h in one process"
            )


if __name__ == "__main__":
    main()
