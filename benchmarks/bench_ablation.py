"""Ablation of training-recipe options: each variant is the baseline with one option switched
on, run through the same protocol, splits and seeds; prints a table of test metrics with the
paired difference to the baseline (same split, seed and model).

    python benchmarks/bench_ablation.py --data .cache/datasets/schreiber2019/schreiber2019_MF.npz \\
        --target forces --split-seeds 42,7 --batch-size 8 --max-epochs 100 --workers 2

Variants: ``baseline``, ``velocities`` (angular velocities as extra inputs), ``cosine``
(cosine learning-rate decay), ``inverse_variance`` (per-channel loss weighting),
``nonnegative`` (softplus outputs), ``physics:<w>`` (physical-consistency loss of weight w,
forces datasets with moment arms; the table then adds the hip-moment residual of the
predicted forces), ``timewarp:<a>`` (random smooth time warps of the training cycles, frames
moved by up to a of the cycle), ``static:<a>+<b>`` (per-cycle scalars as extra inputs:
``body_height_m``, ``cycle_duration_s``). Run folders go to ``--out`` (default
``runs/ablation/<data>-<target>/<variant>/split<seed>``) and resume, so adding split seeds
only runs the new ones. Markdown table on stdout and
``ablation.csv`` in the output folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import pandas as pd

from gait2hip import runtime
from gait2hip.conventions import get_target, resolve_inputs
from gait2hip.executor import Executor
from gait2hip.io.npz import read_npz
from gait2hip.pipelines.benchmark import benchmark
from gait2hip.report.compare import paired
from gait2hip.training.config import BenchmarkConfig, make_config

VARIANTS = ("baseline", "velocities", "cosine", "inverse_variance", "nonnegative")


def variant_config(base: BenchmarkConfig, name: str) -> BenchmarkConfig:
    if name == "baseline":
        return base
    if name == "velocities":
        return dataclasses.replace(base, velocities=True)
    if name == "cosine":
        return dataclasses.replace(
            base, train=dataclasses.replace(base.train, lr_schedule="cosine")
        )
    if name == "inverse_variance":
        return dataclasses.replace(
            base, train=dataclasses.replace(base.train, loss_weighting="inverse_variance")
        )
    if name == "nonnegative":
        return dataclasses.replace(base, nonnegative=True)
    if name.startswith("physics:"):
        weight = float(name.partition(":")[2])
        return dataclasses.replace(
            base, train=dataclasses.replace(base.train, physics_weight=weight)
        )
    if name.startswith("static:"):  # e.g. static:cycle_duration_s+body_height_m
        extra = tuple(n for n in name.partition(":")[2].split("+") if n)
        return dataclasses.replace(base, inputs=resolve_inputs((*base.inputs, *extra)))
    if name.startswith("timewarp:"):
        amount = float(name.partition(":")[2])
        return dataclasses.replace(base, train=dataclasses.replace(base.train, time_warp=amount))
    raise ValueError(
        f"unknown variant {name!r}; choose from {VARIANTS}, physics:<weight>, timewarp:<a> or "
        "static:<name>+<name> (per-cycle inputs: body_height_m, cycle_duration_s)"
    )


def train_overrides(args: argparse.Namespace) -> dict[str, int]:
    """The profile's training settings a script's --batch-size / --max-epochs override."""
    train = {}
    if args.batch_size:
        train["batch_size"] = args.batch_size
    if args.max_epochs:
        train["max_epochs"] = args.max_epochs
    return train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--target", default="forces")
    ap.add_argument("--models", default="lstm,transformer,mamba")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--variants", default=",".join(VARIANTS[:4]))
    ap.add_argument("--split-seeds", default="42,7")
    ap.add_argument("--seeds", default="2025")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--max-epochs", type=int, default=None)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    runtime.configure()
    ds = read_npz(args.data, expected_out=get_target(args.target))
    train = train_overrides(args)
    base = make_config(
        args.target,
        args.models.split(","),
        args.profile,
        train_overrides=train,
        split_seeds=tuple(int(s) for s in args.split_seeds.split(",")),
        seeds=tuple(int(s) for s in args.seeds.split(",")),
    )
    out = args.out or Path("runs/ablation") / f"{args.data.stem}-{args.target}"
    executor = Executor(workers=args.workers, show_progress=True)
    rows = []
    for name in args.variants.split(","):
        t0 = time.perf_counter()
        cfg = variant_config(base, name)
        for split_seed in cfg.split_seeds:  # one run folder per split: more splits resume
            one = dataclasses.replace(cfg, split_seeds=(split_seed,))
            folder = out / name / f"split{split_seed}"
            benchmark(ds, one, folder, executor=executor)
            summary = pd.read_csv(folder / "summary.csv").assign(variant=name)
            if (folder / "physics.csv").exists():  # residual of the model's forces, all DOFs
                phys = pd.read_csv(folder / "physics.csv")
                phys = phys[(phys["source"] == "model") & (phys["dof"] == "all")]
                summary = summary.merge(
                    phys[["model", "split_seed", "seed", "rmse_pct_range"]].rename(
                        columns={"rmse_pct_range": "physics_pct"}
                    ),
                    on=["model", "split_seed", "seed"],
                )
            rows.append(summary)
        print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
    table = pd.concat(rows, ignore_index=True)
    table.to_csv(out / "ablation.csv", index=False)

    keys = ["model", "split_seed", "seed"]
    baseline = table[table["variant"] == "baseline"].set_index(keys)
    unit = get_target(args.target).train_unit
    print(
        f"\n{ds.describe()}\nsplits {base.split_seeds}, seeds {base.seeds}, profile "
        f"{args.profile}, {train or 'profile training settings'}\n"
    )
    has_phys = "physics_pct" in table
    print(
        f"| model | variant | subject RMSE ({unit}) | Δ RMSE vs baseline (95% CI) | R² | "
        "channel-mean R² | Δ channel R² (95% CI) | folds at max epochs |"
        + (" hip-moment residual (% range) | Δ residual (95% CI) |" if has_phys else "")
    )
    print("|---|---|---|---|---|---|---|---|" + ("---|---|" if has_phys else ""))
    for (model, variant), d in table.groupby(["model", "variant"], sort=False):
        d = d.set_index(keys)
        common = d.index.intersection(baseline.index)
        dr = paired(
            (d.loc[common, "subject_rmse"] - baseline.loc[common, "subject_rmse"]).to_numpy()
        )
        dc = paired(
            (d.loc[common, "channel_mean_r2"] - baseline.loc[common, "channel_mean_r2"]).to_numpy()
        )
        ci = lambda m: f"{m[0]:+.3f} ({m[1]:+.3f} to {m[2]:+.3f})"  # noqa: E731
        print(
            f"| {model} | {variant} | {d['subject_rmse'].mean():.3f} | "
            f"{'—' if variant == 'baseline' else ci(dr)} | {d['subject_r2'].mean():.3f} | "
            f"{d['channel_mean_r2'].mean():.3f} | {'—' if variant == 'baseline' else ci(dc)} | "
            f"{int(d['folds_hit_max_epochs'].sum())} |",
            end="",
        )
        if has_phys:
            phys_delta = d.loc[common, "physics_pct"] - baseline.loc[common, "physics_pct"]
            dp = paired(phys_delta.to_numpy())
            print(
                f" {d['physics_pct'].mean():.1f} | {'—' if variant == 'baseline' else ci(dp)} |",
                end="",
            )
        print()
    print(f"\n{out / 'ablation.csv'}")


if __name__ == "__main__":
    main()
