"""One model for both targets against one model per target, on the same subject splits.

Runs (or resumes) single-task forces, single-task moments and joint (forces + hip moments,
non-negative forces, balanced loss; optionally the physical-consistency term) models through
the same protocol, holdout splits and seeds, and prints each part's test metrics with the
paired difference to the single-task model of the same architecture, split and seed, plus the
hip-moment residual of the predicted forces.

    python benchmarks/bench_joint.py --data .cache/datasets/schreiber2019/schreiber2019_MF.npz \\
        --split-seeds 42,7,1,2,3 --batch-size 8 --max-epochs 100 --workers 2 \\
        --forces-runs runs/ablation-physics/baseline

The MF file must carry the cycles' hip moments (``gait2hip build-dataset`` writes them); the
moments single-task models are trained on them too, so all three see the same cycles. Run
folders: ``--out`` (default ``runs/joint/<data>``)/{forces,moments,joint[-physics<w>]}/
split<seed>; ``--forces-runs`` reuses finished single-task forces folders of the same settings
(e.g. bench_ablation's baseline). Markdown table on stdout, ``joint.csv`` in ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import pandas as pd
from bench_ablation import paired, train_overrides

from gait2hip import runtime
from gait2hip.conventions import EXTRA_HIP_MOMENTS, MOMENT_COLS, TARGETS
from gait2hip.data.dataset import GaitDataset
from gait2hip.executor import Executor
from gait2hip.io.npz import read_npz
from gait2hip.pipelines.benchmark import benchmark
from gait2hip.training.config import make_config

KEYS = ["model", "split_seed", "seed"]


def moments_of(forces: GaitDataset) -> GaitDataset:
    """The moments dataset of the same cycles (the forces file's hip moments as outputs)."""
    return forces.with_outputs(
        forces.extra[EXTRA_HIP_MOMENTS], MOMENT_COLS, source=f"{forces.source} (hip_moments)"
    )


def run(name, ds, cfg, folder: Path, executor) -> pd.DataFrame:
    """Every split of ``cfg`` in its own folder (more splits resume); summary + residual."""
    rows = []
    for split_seed in cfg.split_seeds:
        one = dataclasses.replace(cfg, split_seeds=(split_seed,))
        out = folder / f"split{split_seed}"
        benchmark(ds, one, out, executor=executor)
        summary = pd.read_csv(out / "summary.csv")
        if (out / "physics.csv").exists():
            phys = pd.read_csv(out / "physics.csv")
            phys = phys[(phys["source"] == "model") & (phys["dof"] == "all")]
            summary = summary.merge(
                phys[[*KEYS, "rmse_pct_range"]].rename(columns={"rmse_pct_range": "physics_pct"}),
                on=KEYS,
                how="left",
            )
        rows.append(summary.assign(variant=name))
    return pd.concat(rows, ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="forces NPZ with hip moments")
    ap.add_argument("--models", default="lstm,transformer,mamba")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--split-seeds", default="42,7")
    ap.add_argument("--seeds", default="2025")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--max-epochs", type=int, default=None)
    ap.add_argument("--physics-loss", type=float, default=0.0, help="joint: consistency weight")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--forces-runs", type=Path, default=None, help="finished forces folders")
    args = ap.parse_args()

    runtime.configure()
    forces = read_npz(args.data, expected_out=TARGETS["forces"])
    data = {"forces": forces, "moments": moments_of(forces), "joint": forces.joint()}
    train = train_overrides(args)
    common = dict(
        split_seeds=tuple(int(s) for s in args.split_seeds.split(",")),
        seeds=tuple(int(s) for s in args.seeds.split(",")),
    )
    models = args.models.split(",")
    out = args.out or Path("runs/joint") / args.data.stem
    joint_name = f"joint-physics{args.physics_loss:g}" if args.physics_loss else "joint"
    folders = {
        "forces": args.forces_runs or out / "forces",
        "moments": out / "moments",
        "joint": out / joint_name,
    }
    executor = Executor(workers=args.workers, show_progress=True)
    tables = {}
    for target, folder in folders.items():
        t0 = time.perf_counter()
        extra = {"physics_weight": args.physics_loss} if target == "joint" else {}
        cfg = make_config(
            target, models, args.profile, train_overrides={**train, **extra}, **common
        )
        tables[target] = run(target, data[target], cfg, folder, executor)
        print(f"{target}: {time.perf_counter() - t0:.0f} s", flush=True)
    table = pd.concat(tables.values(), ignore_index=True)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / f"{joint_name}.csv", index=False)

    print(f"\n{forces.describe()}\nsplits {common['split_seeds']}, seeds {common['seeds']}, "
          f"profile {args.profile}, {train or 'profile training settings'}, joint physics "
          f"weight {args.physics_loss:g}\n")  # fmt: skip
    print(
        "| part | model | single-task RMSE | joint RMSE | Δ RMSE (95% CI) | single-task "
        "channel R² | joint channel R² | Δ channel R² (95% CI) | forces' hip-moment residual, "
        "single → joint (% range) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    joint = tables["joint"]
    for part in ("forces", "moments"):
        single = tables[part].set_index(KEYS)
        mine = joint[joint["part"] == part].copy()
        mine["model"] = mine["model"].str.replace(f" [{part}]", "", regex=False)
        mine = mine.set_index(KEYS)
        common_idx = mine.index.intersection(single.index)
        for model in dict.fromkeys(m for m, _, _ in common_idx):
            idx = [i for i in common_idx if i[0] == model]
            a, b = single.loc[idx], mine.loc[idx]
            dr = paired((b["subject_rmse"] - a["subject_rmse"]).to_numpy())
            dc = paired((b["channel_mean_r2"] - a["channel_mean_r2"]).to_numpy())
            ci = lambda m: f"{m[0]:+.3f} ({m[1]:+.3f} to {m[2]:+.3f})"  # noqa: E731
            phys = (
                f"{a['physics_pct'].mean():.1f} → {b['physics_pct'].mean():.1f}"
                if part == "forces" and "physics_pct" in a and "physics_pct" in b
                else "—"
            )
            print(
                f"| {part} | {model} | {a['subject_rmse'].mean():.3f} | "
                f"{b['subject_rmse'].mean():.3f} | {ci(dr)} | {a['channel_mean_r2'].mean():.3f} | "
                f"{b['channel_mean_r2'].mean():.3f} | {ci(dc)} | {phys} |"
            )
    print(f"\n{out / f'{joint_name}.csv'}")


if __name__ == "__main__":
    main()
