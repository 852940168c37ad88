"""Fast static optimization vs OpenSim's, on every labelled trial in the label cache.

For each trial labelled with OpenSim's SO (``gait2hip build-dataset schreiber2019
--so-solver opensim`` fills the cache), the fast solver is run on the same model, kinematics and
inverse dynamics, and its hip muscle group forces are compared with OpenSim's over the kept
cycles (both sides, per kg). Speed is measured side by side: OpenSim's SO is re-run on the
first ``--opensim-trials`` trials in this same process.

    python benchmarks/bench_fast_so.py                      # all cached schreiber2019 trials
    python benchmarks/bench_fast_so.py --opensim-trials 5 --plot runs/bench_fast_so.png
    python benchmarks/bench_fast_so.py --labels .cache/labels/hamner2013   # running, Thelen
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from gait2hip import runtime, settings
from gait2hip.conventions import FORCE_COLS, HIP_COORDS, MUSCLE_GROUPS, muscle_family, side_name
from gait2hip.io.storage import read_motion
from gait2hip.labeling import fast_so
from gait2hip.labeling import opensim_steps as st


def trials(root: Path) -> list[Path]:
    """Cached trials labelled with OpenSim's SO (the reference; trials labelled with the fast
    solver, the default for these models, are left out)."""
    out = []
    for result in sorted(root.glob("*/*/*/result.json")):
        work = result.parent / "work"
        solver = json.loads(result.read_text())["settings"].get("so_solver", "opensim")
        if solver != "opensim":
            continue
        if (work / "so" / fast_so.FORCE_FILE).is_file() and (work / "id" / "id.sto").is_file():
            out.append(result.parent)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--labels", type=Path, default=None, help="label cache of one dataset")
    p.add_argument("--opensim-trials", type=int, default=3)
    p.add_argument("--limit", type=int, default=None, help="at most this many trials")
    p.add_argument("--plot", type=Path, default=None, help="overlay figure of the first trial")
    args = p.parse_args()
    runtime.configure()
    root = (args.labels or settings.labels_dir() / "schreiber2019").resolve()
    folders = trials(root)[: args.limit]
    if not folders:
        raise SystemExit(f"no labelled trial with OpenSim SO outputs under {root}")
    diffs = {g: [] for g in FORCE_COLS}
    refs = {g: [] for g in FORCE_COLS}
    balance = {c: [] for c in HIP_COORDS}
    fast_t, fast_cycles, parts = 0.0, 0, {}
    os_t, os_cycles, fast_same_t = 0.0, 0, 0.0
    failed = 0
    first = None
    warm_up = _warm_up(folders[0])
    for n, folder in enumerate(folders):
        res = json.loads((folder / "result.json").read_text())
        lowpass = res["settings"]["lowpass_hz"]
        mass = res["spec"]["mass_kg"]
        work = folder / "work"
        ref = read_motion(work / "so" / fast_so.FORCE_FILE).data
        t = ref["time"].to_numpy()
        with tempfile.TemporaryDirectory() as tmp:
            tic = time.perf_counter()
            out = fast_solve(work, t, lowpass, Path(tmp))
            elapsed = time.perf_counter() - tic
            fast = read_motion(out.forces).data
        groups = MUSCLE_GROUPS[muscle_family(out.inputs.muscles)]
        failed += out.failed_frames
        n_cycles = len(res["cycles"])
        fast_t += elapsed
        fast_cycles += n_cycles
        for k, v in out.timings.items():
            parts[k] = parts.get(k, 0.0) + v
        if n < args.opensim_trials:
            with tempfile.TemporaryDirectory() as tmp:
                tic = time.perf_counter()
                st.static_optimization(
                    work / "so_model.osim",
                    work / "ik" / "ik.mot",
                    work / "grf.xml",
                    Path(tmp),
                    t0=t[0],
                    t1=t[-1],
                    lowpass_hz=lowpass,
                    activation_exponent=res["settings"]["activation_exponent"],
                    convergence=res["settings"]["so_convergence"],
                )
                os_t += time.perf_counter() - tic
            os_cycles += n_cycles
            fast_same_t += elapsed
        for cyc in res["cycles"]:
            if cyc["exclude"]:
                continue
            inside = (t >= cyc["t0"]) & (t <= cyc["t1"])
            s = cyc["side"]
            for g in FORCE_COLS:
                cols = [side_name(m, s) for m in groups[g]]
                a = fast.loc[inside, cols].sum(axis=1).to_numpy() / mass
                b = ref.loc[inside, cols].sum(axis=1).to_numpy() / mass
                diffs[g].append(a - b)
                refs[g].append(b)
            # moment balance of the fast solution: muscles through their moment arms plus the
            # reserve against the inverse-dynamics generalized force it was solved for
            geo = out.inputs
            for c in HIP_COORDS:
                cs = side_name(c, s)
                ci = geo.coordinates.index(cs)
                tau = geo.tau[inside, ci]
                gen = (geo.moment_arm[inside, :, ci] * fast.loc[inside, geo.muscles]).sum(axis=1)
                gen = gen.to_numpy() + fast.loc[inside, f"reserve_{cs}"].to_numpy()
                balance[c].append(np.abs(gen - tau).max() / max(np.abs(tau).max(), 1e-9))
        if first is None:
            first = (folder, fast, ref, t, res, mass)

    print(f"# {runtime.machine_summary()}")
    print(
        f"{len(folders)} trials, {fast_cycles} cycles (kept ones compared), {failed} failed frames"
    )
    print(f"warm-up (first fast call in this process, not counted below): {warm_up:.2f} s")
    print()
    print("| group | RMSE (N/kg) | R² | max abs (N/kg) | peak (N/kg) |")
    print("|---|---|---|---|---|")
    for g in FORCE_COLS:
        d = np.concatenate(diffs[g])
        b = np.concatenate(refs[g])
        r2 = 1 - np.sum(d**2) / np.sum((b - b.mean()) ** 2)
        print(
            f"| {g} | {np.sqrt(np.mean(d**2)):.4f} | {r2:.5f} | {np.abs(d).max():.3f} | "
            f"{b.max():.2f} |"
        )
    print()
    print("| hip coordinate | moment residual, max over cycles (% of cycle peak) | median |")
    print("|---|---|---|")
    for c in HIP_COORDS:
        v = 100 * np.array(balance[c])
        print(f"| {c} | {v.max():.3f} | {np.median(v):.4f} |")
    print()
    per = {k: 1000 * v / fast_cycles for k, v in parts.items()}
    print(
        "fast, ms per cycle: "
        + ", ".join(f"{k} {v:.1f}" for k, v in per.items())
        + f"; total {1000 * fast_t / fast_cycles:.1f}"
    )
    if os_cycles:
        a, b = os_t / os_cycles, fast_same_t / os_cycles
        print(
            f"side by side on {min(args.opensim_trials, len(folders))} trials ({os_cycles} cycles):"
            f" OpenSim SO {a:.2f} s/cycle, fast {b:.3f} s/cycle, speed-up {a / b:.0f}x"
        )
    if args.plot and first is not None:
        plot_overlay(first, args.plot)
        print(f"overlay: {args.plot}")


def fast_solve(work: Path, t, lowpass_hz: float, out: Path):
    """The fast solver on a labelled trial's work folder, over the OpenSim SO frames ``t``."""
    return fast_so.fast_static_optimization(
        work / "so_model.osim",
        work / "ik" / "ik.mot",
        work / "id" / "id.sto",
        out,
        t0=t[0],
        t1=t[-1],
        lowpass_hz=lowpass_hz,
    )


def _warm_up(folder: Path) -> float:
    """One untimed fast solve: the process's first call pays one-time costs (imports, OpenSim's
    libraries); its duration is reported. The kept model is dropped, so the first trial
    still loads its model inside the timed run."""
    res = json.loads((folder / "result.json").read_text())
    work = folder / "work"
    t = read_motion(work / "so" / fast_so.FORCE_FILE).data["time"].to_numpy()
    tic = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        fast_solve(work, t, res["settings"]["lowpass_hz"], Path(tmp))
    fast_so._release_models()
    return time.perf_counter() - tic


def plot_overlay(first, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder, fast, ref, t, res, mass = first
    cyc = next(c for c in res["cycles"] if not c["exclude"])
    inside = (t >= cyc["t0"]) & (t <= cyc["t1"])
    pct = 100 * (t[inside] - cyc["t0"]) / (cyc["t1"] - cyc["t0"])
    groups = MUSCLE_GROUPS[muscle_family(list(fast.columns))]
    fig, axes = plt.subplots(3, 5, figsize=(16, 8), sharex=True)
    for ax, g in zip(axes.flat, FORCE_COLS, strict=False):
        cols = [side_name(m, cyc["side"]) for m in groups[g]]
        ax.plot(pct, ref.loc[inside, cols].sum(axis=1) / mass, "k", lw=2.5, label="OpenSim SO")
        ax.plot(pct, fast.loc[inside, cols].sum(axis=1) / mass, "C1--", lw=1.5, label="fast SO")
        ax.set_title(g, fontsize=9)
    axes.flat[-1].axis("off")
    axes.flat[0].legend(fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("% gait cycle")
    fig.suptitle(f"{folder.parent.parent.name} {folder.parent.name} ({cyc['side']}), N/kg")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
