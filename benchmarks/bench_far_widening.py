"""Widening far out: the interval's sd times ``max(1, ratio / r0)``, ``ratio`` the cycle's
OOD score over the warning level's (gait2hip.inference.calibration, "Widening far out"),
fitted on the sources a model did not learn from where it is known to be shifted, and tested
on running, which took no part in the fit.

For a trained model of ``--target`` (``--model``, default the shipped default's; its split
seed ``--split-seed`` gives its held-out subjects), per source: its held-out subjects
(in-lab), each group of the bundled cohort (hip moments only) and each running speed of
hamner2013 (zero-shot for every model: none learnt from running). ``r0`` is fitted with
:func:`fit_far_widening` on the ``--fit`` sources (default: the cohort's two groups and
the held-out subjects) and the report gives, per source, the cycles' OOD ratio, the 90 %
coverage and the 90 % interval's mean width before and after, and the share of cycles it
widens, and the 90 % interval score before and after (:func:`interval_score`: the width plus
20 times each miss, lower is better; it weighs what the widening costs in width against the
misses it saves). For the record it also gives the ``r0`` each running speed alone would
ask for, and with ``--score-path R0,R0,...`` each source's interval score along those r0. A
target without a held-out population (the forces: the cohort has hip moments
only) takes ``--r0`` fitted elsewhere, or is fitted on running itself (``--fit`` naming the
running speeds): then the table "leave one out" gives, per fitted source, the ``r0`` the
others ask for and that source's coverage and interval score with it, a test on a held-out
condition. ``--target forces-id`` is the forces model that takes the trial's inverse
dynamics (the datasets' hip moments as its further inputs); for it the report adds the factor
the widening would put on the cohort's children given their hip moments (no forces labels
there, so no coverage).

``--set RUNS TUNED_RUNS SPLITS`` (repeatable) tests the same ``r0`` on the shipped blend's
units of other split seeds (as benchmarks/bench_blend.py builds them: its own model
``--tuned-model`` of profile ``--tuned`` in TUNED_RUNS, its broad model in ``--broad-runs``),
under the shipped model's share rule and widening under shift: their held-out speeds, cohort
and running rows. No training.

    .venv/bin/python benchmarks/bench_far_widening.py [--csv runs/bench_far_widening.csv] \\
        [--fit-csv runs/bench_far_widening_fit.csv] [--target forces --r0 R0 FITTED_ON] \\
        [--broad-runs runs/transfer-wise-pubavg --broad-model lstm-causal+lstm-causal \\
         --set runs/transfer-pair2425 runs/transfer-moments-mix2425 24,25]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from transfer_runs import (
    LABELS,
    Cycles,
    cohort_sources,
    each_blend,
    model_inputs,
    running_sources,
    subject_r2_of,
)

from gait2hip.conventions import SERIES_INPUTS, STATIC_INPUTS, get_target
from gait2hip.data.cohort import load_cohort
from gait2hip.data.splits import holdout_subjects
from gait2hip.gait.signal import resample_cycles
from gait2hip.inference.calibration import (
    DEFAULT_INTERVAL,
    auroc,
    distance_factor,
    fit_far_slope,
    fit_far_widening,
    interval_score,
    mean_interval_width,
    pooled_coverage,
)
from gait2hip.inference.predictor import Predictor, default_model_dir, load_predictor
from gait2hip.io.npz import read_npz
from gait2hip.report.summary import markdown_table, span

FIT = ("cohort SB", "cohort TD", "in-lab")
OWN = "phaselinear-causal+lstm-causal+transformer-bidir"
#: the shipped models' labels, by the folder they ship in (forces-id: forces, from the angles
#: and the trial's inverse dynamics)
LABELLED = {"moments": "moments", "forces": "forces", "forces-id": "forces"}


class Far(NamedTuple):
    """A widening far out: from ``start`` times the warning level's OOD score, with
    ``slope`` (0: the form ``max(1, ratio / start)``; calibration.distance_factor)."""

    start: float
    slope: float = 0.0

    def factor(self, ratio: np.ndarray) -> np.ndarray:
        return distance_factor(ratio, self.start, self.slope)

    def __str__(self) -> str:
        return (
            f"slope {self.slope:.3f} from {self.start:g}" if self.slope else f"r0 {self.start:.3f}"
        )


def model_sources(pred: Predictor, split_seed: int, target: str) -> dict[str, Cycles]:
    """The model's held-out subjects (its split seed's), the cohort's groups (hip moments
    only) and running, with the ``target``'s labels: the angles, and the hip moments of the
    cycles' inverse dynamics where the model takes them."""
    labels = LABELLED[target]
    path = LABELS[labels][0]
    ds = read_npz(path, expected_out=get_target(labels))
    cols = [c for c in pred.in_cols if c not in STATIC_INPUTS]
    X = ds.select_inputs(cols).X
    test = np.zeros(len(ds.X), bool)
    test[holdout_subjects(ds.subject_id, seed=split_seed).test] = True
    dur = ds.cycle_durations()
    out = {"in-lab": Cycles(X[test], ds.Y_per_kg[test], ds.height_m[test],
                            ds.subject_id[test], None if dur is None else dur[test])}  # fmt: skip
    if target == "moments":
        out |= cohort_sources(ds, load_cohort("spina_bifida_lee").with_contralateral())
    return out | running_sources(cols, labels)


def cohort_widening(pred: Predictor, far: Far) -> pd.DataFrame:
    """For a model that reads the hip moments of inverse dynamics (``forces-id``): per group
    of the bundled cohort, given its angles (the other leg assumed) and its hip moments, how
    far its cycles lie (OOD ratio) and the factor the widening far out ``far`` puts on their
    sd (the cohort has no forces labels: no coverage)."""
    r0 = far.start
    cohort = load_cohort("spina_bifida_lee").with_contralateral()
    at = cohort.resampled(pred.n_frames)
    ref, moments = at.reference("moments"), get_target("moments").cols
    angle = list(at.angle_cols).index
    X = np.stack([ref[..., moments.index(c)] if c in SERIES_INPUTS else at.angles[..., angle(c)]
                  for c in pred.in_cols], -1)  # fmt: skip
    ood = pred.ood_scores(X.astype(np.float32))
    ratio = ood[0] / pred.calibration.ood_threshold
    factor = far.factor(ratio)
    return pd.DataFrame([{"group": g, "cycles": int(k.sum()),
                          "OOD ratio median": round(float(np.median(ratio[k])), 2),
                          "cycles widened": round(float(np.mean(ratio[k] > r0)), 3),
                          "factor median": round(float(np.median(factor[k])), 2),
                          "factor max": round(float(np.max(factor[k])), 2)}
                         for g in cohort.groups for k in [cohort.group == g]])  # fmt: skip


def scored(pred: Predictor, c: Cycles) -> dict:
    """Labels, mean and sd (every widening but the one far out) and OOD ratio per cycle."""
    cal = dataclasses.replace(pred.calibration, far_widening=0.0)
    p = dataclasses.replace(pred, calibration=cal).predict_cycles(
        model_inputs(pred, c), c.height_m, c.durations
    )
    mean, sd = (resample_cycles(a, c.y.shape[1]) for a in (p.mean, p.sd))
    return {"y": c.y, "mean": mean, "sd": sd, "ratio": p.ood[0] / cal.ood_threshold,
            "r2": subject_r2_of(c, p.mean).mean()}  # fmt: skip


def rows_of(r: dict, far: Far, in_lab: dict, **keys) -> list[dict]:
    """The source's rows before and after the widening far out: its subject R², how its OOD
    ratios compare with the held-out subjects' (``in_lab``: AUROC), coverage and width."""
    out = []
    auc = auroc(r["ratio"], in_lab["ratio"]) if r is not in_lab else float("nan")
    for on in (False, True):
        f = far.factor(r["ratio"]) if on else None
        sd = r["sd"] if f is None else r["sd"] * f[:, None, None]
        out.append({**keys, "far": on, "cycles": len(r["y"]), "r2": r["r2"], "auroc": auc,
                    "ratio_median": float(np.median(r["ratio"])),
                    "ratio_max": float(np.max(r["ratio"])),
                    "widened": float(np.mean(r["ratio"] > far.start)) if on else 0.0,
                    "coverage_90": float(pooled_coverage(r["y"], r["mean"], sd,
                                                         (DEFAULT_INTERVAL,))[0]),
                    "width_90": mean_interval_width(sd),
                    "interval_score_90": interval_score(r["y"], r["mean"], sd)})  # fmt: skip
    return out


def score_path(rows: dict[str, dict], r0s: list[float]) -> pd.DataFrame:
    """Per r0 of ``r0s`` (and none: inf), each source's 90 % interval score when widened far
    out from it."""
    table = []
    for r0 in [*r0s, np.inf]:
        scores = {}
        for name, r in rows.items():
            sd = r["sd"] * distance_factor(r["ratio"], r0)[:, None, None]
            scores[name] = round(interval_score(r["y"], r["mean"], sd), 3)
        table.append({"r0": r0, **scores})
    return pd.DataFrame(table)


def conditions(rows: dict[str, dict], names) -> list[tuple]:
    return [tuple(rows[n][k] for k in ("y", "mean", "sd", "ratio")) for n in names]


def fitted(rows: dict[str, dict], names, start: float | None = None) -> Far:
    """The widening fitted on the sources ``names``: r0 (``start`` None), to 3 decimals
    rounded down, or the slope from ``start``, rounded up (so they keep their coverage)."""
    if start is None:
        return Far(float(np.floor(fit_far_widening(conditions(rows, names)) * 1e3) / 1e3))
    return Far(start, float(np.ceil(fit_far_slope(conditions(rows, names), start) * 1e3) / 1e3))


def what(start: float | None) -> str:
    return "r0" if start is None else "slope"


def leave_one_out(rows: dict[str, dict], fit: list[str], start: float | None) -> pd.DataFrame:
    """Per source of ``fit``, the widening fitted on the others (r0, or the slope from
    ``start``) and that source's 90 % coverage and interval score without and with it: the
    widening tested on a condition it was not fitted on."""
    out = []
    for name in fit:
        far = fitted(rows, [n for n in fit if n != name], start)
        before, after = rows_of(rows[name], far, rows[name])
        value = far.start if start is None else far.slope
        out.append({"held out": name, f"{what(start)} of the others": value,
                    "cycles widened": after["widened"],
                    "90 % coverage before": round(before["coverage_90"], 3),
                    "after": round(after["coverage_90"], 3),
                    "90 % interval score before": round(before["interval_score_90"], 3),
                    "after ": round(after["interval_score_90"], 3),
                    "width x": round(after["width_90"] / before["width_90"], 2)})  # fmt: skip
    return pd.DataFrame(out)


def upsert(path: str, df: pd.DataFrame, target: str) -> None:
    """Write ``df`` (this target's rows) to ``path``, keeping the other targets' rows there."""
    if Path(path).is_file():
        old = pd.read_csv(path)
        df = pd.concat([old[old["target"] != target], df], ignore_index=True)
    df.to_csv(path, index=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="moments", choices=sorted(LABELLED))
    ap.add_argument("--model", type=Path, help="default: the shipped default's of --target")
    ap.add_argument("--split-seed", type=int, default=21, help="the model's split seed")
    ap.add_argument("--fit", default=",".join(FIT), help="the sources r0 is fitted on")
    ap.add_argument("--start", type=float, help="fit the slope of a widening from this many "
                    "times the warning level's OOD score (e.g. 1) instead of r0")  # fmt: skip
    ap.add_argument("--slope", type=float, default=0.0, help="with --r0: a widening from R0 "
                    "with this slope (fitted elsewhere) instead of the form r0")  # fmt: skip
    ap.add_argument("--r0", nargs=2, metavar=("R0", "FITTED_ON"),
                    help="take this r0 (fitted elsewhere, e.g. the moments model's, for a "
                    "target without a held-out population) instead of fitting it")  # fmt: skip
    ap.add_argument("--set", nargs=3, action="append", default=[],
                    metavar=("RUNS", "TUNED_RUNS", "SPLITS"),
                    help="test on the blend's units of other split seeds")  # fmt: skip
    ap.add_argument("--tuned", default="recipe-duration")
    ap.add_argument("--tuned-model", default=OWN)
    ap.add_argument("--broad-runs")
    ap.add_argument("--broad-profile", default="gait2hip60-wise")
    ap.add_argument("--broad-model")
    ap.add_argument("--score-path", help="comma list of r0: the model's 90 %% interval score "
                    "per source for each (where each source's score is lowest)")  # fmt: skip
    ap.add_argument("--csv", help="also write the long table here (other targets' rows kept)")
    ap.add_argument("--fit-csv", help="and the widening here (scripts/ship_default_model.py)")
    args = ap.parse_args()
    pred = load_predictor(args.model or default_model_dir() / args.target)
    srcs = model_sources(pred, args.split_seed, args.target)
    rows = {name: scored(pred, c) for name, c in srcs.items()}
    fit = [] if args.r0 else args.fit.split(",")
    if args.r0:
        far, fitted_on = Far(float(args.r0[0]), args.slope), args.r0[1]
    else:
        far = fitted(rows, fit, args.start)
        if all(n.startswith("hamner") for n in fit):
            speeds = [n.split()[1] for n in fit]
            fitted_on = (f"Hamner's running at {', '.join(speeds)} m/s (another lab; the "
                         "model learnt from no running)")  # fmt: skip
        else:
            fitted_on = (f"{', '.join(fit)} (split seed {args.split_seed}'s; its models learnt "
                         "from none of them)")  # fmt: skip
        if len(fit) > 1:
            loo = leave_one_out(rows, fit, args.start)
            name = what(args.start)
            print(f"leave one out: {name} fitted on the other sources, tested on the one held "
                  "out\n")  # fmt: skip
            print(markdown_table(loo) + "\n")
            values = span(loo[f"{name} of the others"], 3)
            fitted_on += (f"; each held out in turn, {name} fitted on the others ({values}) "
                          "gives it "
                          f"90 % coverage {span(loo['after'])} "
                          f"({span(loo['90 % coverage before'])} unwidened)")  # fmt: skip
    print(f"\n{args.target}: {far} ({'fitted ' if fit else ''}on {fitted_on})\n")
    running = [n for n in rows if n.startswith("hamner")]
    asks = (lambda c: fit_far_widening(c)) if args.start is None else (
        lambda c: fit_far_slope(c, args.start))  # fmt: skip
    alone = pd.DataFrame([{"source": n, f"{what(args.start)} it alone asks for":
                           round(asks(conditions(rows, [n])), 3)}
                          for n in dict.fromkeys([*fit, *running])])  # fmt: skip
    print(markdown_table(alone))
    if any(c in SERIES_INPUTS for c in pred.in_cols):
        print("\nthe cohort given its hip moments: the factor on the sd far out\n")
        print(markdown_table(cohort_widening(pred, far)))
    if args.score_path:
        print("\n90 % interval score of the model's sources by r0 (–: no widening)\n")
        print(markdown_table(score_path(rows, [float(x) for x in args.score_path.split(",")])))
    long = []
    for name, r in rows.items():
        long += rows_of(r, far, rows["in-lab"], set="the model", split=args.split_seed,
                        source=name, fitted_on=name in fit)  # fmt: skip
    ship = pred.calibration
    in_lab: dict[str, dict] = {}
    for runs, tuned_runs, splits in args.set:
        blends = each_blend(runs, splits, ("lstm-causal",), args.tuned, tuned_runs,
                            args.tuned_model, True, args.broad_runs, args.broad_profile,
                            args.broad_model)  # fmt: skip
        for _, split, _, name, c, blended in blends:
            cal = dataclasses.replace(blended.calibration, blend=ship.blend,
                                      shift_widening=ship.shift_widening)  # fmt: skip
            r = scored(dataclasses.replace(blended, calibration=cal), c)
            in_lab[split] = in_lab.get(split, r)  # each split's sources start with in-lab
            long += rows_of(r, far, in_lab[split], set=splits, split=split, source=name,
                            fitted_on=False)  # fmt: skip
    df = pd.DataFrame(long).assign(target=args.target)
    if args.csv:
        upsert(args.csv, df, args.target)
    if args.fit_csv:
        row = {"target": args.target, "r0": far.start, "slope": far.slope, "fitted_on": fitted_on}
        upsert(args.fit_csv, pd.DataFrame([row]), args.target)
    means = df.groupby(["set", "source", "far"], sort=False).agg(
        cycles=("cycles", "sum"), r2=("r2", "mean"), auroc=("auroc", "mean"),
        ratio_median=("ratio_median", "mean"),
        ratio_max=("ratio_max", "max"), widened=("widened", "mean"),
        coverage_90=("coverage_90", "mean"), width_90=("width_90", "mean"),
        score_90=("interval_score_90", "mean"),
    )  # fmt: skip
    wide = means.unstack("far")
    table = pd.DataFrame({
        "cycles": wide[("cycles", False)],
        "R² study": wide[("r2", False)].round(3),
        "OOD AUROC vs in-lab": wide[("auroc", False)].round(3),
        "OOD ratio median": wide[("ratio_median", False)].round(2),
        "OOD ratio max": wide[("ratio_max", False)].round(2),
        "cycles widened": wide[("widened", True)].round(3),
        "90 % coverage before": wide[("coverage_90", False)].round(3),
        "after": wide[("coverage_90", True)].round(3),
        "90 % width before": wide[("width_90", False)].round(3),
        "width after": wide[("width_90", True)].round(3),
        "90 % interval score before": wide[("score_90", False)].round(3),
        "score after": wide[("score_90", True)].round(3),
        "score change": (wide[("score_90", True)] / wide[("score_90", False)] - 1).map(
            "{:+.1%}".format),
    })  # fmt: skip
    print("\nper source (sets of split seeds: mean over their splits)\n")
    print(markdown_table(table.reset_index()))


if __name__ == "__main__":
    main()
