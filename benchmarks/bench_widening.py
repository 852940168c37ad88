"""Widening the interval under shift: fitted on held-out walking speeds, tested on every other
source and on fresh splits.

The default model's interval falls short where a walker is unlike the training subjects in a
way its parts do not see (a held-out walking speed). gait2hip can widen the sd by
``1 + beta · ramp(shift percentile)`` (gait2hip.inference.calibration, "Widening under
shift"). This benchmark fits ``beta`` per architecture with :func:`fit_widening` on the
leave-one-speed-out rows of the fitting splits (comfortable → fast and fast → comfortable:
the blend of each split's fine-tuned (``--tuned``, default `gait2hip60-finetune`) and
`gait2hip60-wise` units trained on the other speed, with the share rule ``--blend``, pooled
over splits), then reports, unwidened and widened, the share of
frames inside the nominal intervals and the 90 % interval's mean width on every source: the
fitting splits' in-lab, cohort and running rows (not used to fit) and every row of the test
splits (``--test``, trained after the choice; rows ``splits`` = test, by split seed).
``--beta`` widens the test rows by a given beta instead (e.g. the shipped model's under
another share rule). No training.

    .venv/bin/python benchmarks/bench_widening.py --fit-splits 21,22,23 \
        --test runs/transfer-fresh runs/transfer-fresh 24,25 --models lstm-causal \
        [--csv runs/bench_widening.csv --beta-csv runs/bench_widening_beta.csv]
    .venv/bin/python benchmarks/bench_widening.py --models lstm-causal \
        --blend step95/ood+size --tuned gait2hip60-finetune-duration \
        --tuned-fit-runs runs/transfer-duration \
        --test runs/transfer-fresh runs/transfer-fresh-duration 24,25 \
        --test runs/transfer-fresh2 runs/transfer-fresh2 26,27
    .venv/bin/python benchmarks/bench_widening.py --models lstm-causal \
        --blend step95/ood+size --tuned gait2hip60-finetune-duration \
        --tuned-model lstm-causal+transformer-bidir --broad-runs runs/transfer-wise \
        --fit runs/transfer-moments-xarch runs/transfer-moments-pair 21,22 \
        --fit runs/transfer-moments-lt2425 runs/transfer-moments-pair2425 24,25 \
        --test runs/transfer-pair2627 runs/transfer-pair2627-average 26,27
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pandas as pd
from transfer_runs import BROAD, HELD_OUT, MODELS, each_blend, model_inputs, unit_folder

from gait2hip.gait.signal import resample_cycles
from gait2hip.inference.calibration import (
    NOMINAL,
    BlendRule,
    fit_widening,
    mean_interval_width,
    pooled_coverage,
    widening_factor,
)
from gait2hip.report.summary import markdown_table

#: The rows beta is fitted on: each walking speed held out in turn.
SPEED_ROWS = tuple(name for name, held_out in HELD_OUT.items() if held_out)


def blended_rows(
    runs: str,
    splits: str,
    models: tuple[str, ...],
    tuned: tuple[str, str, str | None],
    blend: str,
    broad: tuple[str | None, str, str | None] = (None, BROAD, None),
) -> list[dict]:
    """Per model, split and source (running included): labels, the blend's mean and sd
    (unwidened, at the source's frames) and the shift percentile per cycle; the blend's own
    model is ``tuned`` (profile, transfer folder, unit label or None for the loop's), its
    broad model ``broad`` (transfer folder, default ``runs``; profile; unit label or None for
    the loop's), its share rule ``blend``."""
    rule = BlendRule.parse(blend)
    out = []
    blends = each_blend(runs, splits, models, *tuned, True, *broad)
    for model, split, _, name, c, blended in blends:
        cal = dataclasses.replace(blended.calibration, blend=rule)
        blended = dataclasses.replace(blended, calibration=cal)
        p = blended.predict_cycles(model_inputs(blended, c), c.height_m, c.durations)
        assert p.widening is None, "the transfer units carry no widening"
        mean, sd = (resample_cycles(a, c.y.shape[1]) for a in (p.mean, p.sd))
        out.append({"model": model, "split": split, "source": name, "y": c.y,
                    "mean": mean, "sd": sd, "pct": p.shift_percentile})  # fmt: skip
    return out


def fit_betas(rows: list[dict]) -> dict[str, float]:
    """Per model, beta from its leave-one-speed-out rows (each speed's cycles pooled over
    the splits)."""
    betas = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        conditions = []
        for name in SPEED_ROWS:
            mine = [r for r in rows if r["model"] == model and r["source"] == name]
            conditions.append(tuple(np.concatenate([r[k] for r in mine])
                                    for k in ("y", "mean", "sd", "pct")))  # fmt: skip
        # up to 4 decimals as shipped, rounded up so the fitted rows keep their coverage
        betas[model] = float(np.ceil(fit_widening(conditions) * 1e4) / 1e4)
    return betas


def scored(rows: list[dict], betas: dict[str, float], which: str) -> list[dict]:
    out = []
    for r in rows:
        for widened in (False, True):
            beta = betas[r["model"]] if widened else 0.0
            f = widening_factor(r["pct"], beta)
            sd = r["sd"] if f is None else r["sd"] * f[:, None, None]
            cov = dict(zip(NOMINAL, pooled_coverage(r["y"], r["mean"], sd), strict=True))
            out.append({"splits": which, "model": r["model"], "split": r["split"],
                        "source": r["source"], "widened": widened, "beta": beta,
                        "fitted_on": r["source"] in SPEED_ROWS and which == "fit",
                        **{f"coverage_{round(100 * p)}": float(c) for p, c in cov.items()},
                        "width_90": mean_interval_width(sd)})  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fit-runs", default="runs/transfer")
    ap.add_argument("--fit-splits", default="21,22,23")
    ap.add_argument("--models", default=",".join(MODELS), help="architectures (unit labels)")
    ap.add_argument(
        "--tuned", default="gait2hip60-finetune", help="the blend's own (fine-tuned) profile"
    )
    ap.add_argument("--tuned-fit-runs", help="its transfer folder on the fitting splits")
    ap.add_argument(
        "--fit",
        nargs=3,
        action="append",
        default=[],
        metavar=("RUNS", "TUNED_RUNS", "SPLITS"),
        help="fitting splits from several transfer folders, as --test (instead of --fit-runs, "
        "--tuned-fit-runs and --fit-splits); their rows pooled",
    )
    ap.add_argument(
        "--tuned-model", help="its unit label when not --models' (bench_blend.py --tuned-model)"
    )
    ap.add_argument(
        "--broad-runs", help="the transfer folder of the broad model's units, fitting and test "
        "splits (default: --fit-runs and each --test's RUNS)",
    )  # fmt: skip
    ap.add_argument("--broad-profile", default=BROAD, help="their profile (gait2hip60: the "
                    "published weights as they are)")  # fmt: skip
    ap.add_argument("--broad-model", help="their unit label when not --models' (e.g. an "
                    "average of `gait2hip average`)")  # fmt: skip
    ap.add_argument(
        "--test",
        nargs=3,
        action="append",
        default=[],
        metavar=("RUNS", "TUNED_RUNS", "SPLITS"),
        help="test splits trained after the choice: their transfer folder, that of --tuned "
        "(may be the same) and the split seeds; repeat for several",
    )
    ap.add_argument("--blend", default=BlendRule().name, help="share rule (BlendRule name)")
    ap.add_argument(
        "--beta",
        type=float,
        help="widen by this beta instead of fitting one (e.g. the shipped model's, under "
        "another share rule): no fitting splits, the --test rows only",
    )
    ap.add_argument("--csv", help="also write the long table here")
    ap.add_argument("--beta-csv", help="and the fitted beta per model here")
    args = ap.parse_args()
    models = tuple(args.models.split(","))
    fits = args.fit or [(args.fit_runs, args.tuned_fit_runs or args.fit_runs, args.fit_splits)]
    broad = (args.broad_runs, args.broad_profile, args.broad_model)
    if args.beta is None:
        fit_rows = []
        for runs, tuned_runs, splits in fits:
            tuned = (args.tuned, tuned_runs, args.tuned_model)
            fit_rows += blended_rows(runs, splits, models, tuned, args.blend, broad)
        fit_splits = ",".join(splits for *_, splits in fits)
        betas = fit_betas(fit_rows)
        long = scored(fit_rows, betas, "fit")
        fitted_on = f"the held-out speeds ({', '.join(SPEED_ROWS)}) of split seeds {fit_splits}"
    else:
        betas, long, fitted_on = {}, [], "given (--beta)"
    for runs, tuned_runs, splits in args.test:
        first = splits.split(",")[0]  # the models the test runs trained
        test_models = tuple(
            m for m in models if unit_folder(runs, "in-lab", "recipe", m, first).is_dir()
        )
        tuned = (args.tuned, tuned_runs, args.tuned_model)
        test_rows = blended_rows(runs, splits, test_models, tuned, args.blend, broad)
        if args.beta is not None:
            betas |= {r["model"]: args.beta for r in test_rows}
        long += scored(test_rows, betas, "test")
    df = pd.DataFrame(long)
    if args.csv:
        df.to_csv(args.csv, index=False)
    beta_table = pd.DataFrame(
        [{"model": m, "beta": b, "fitted_on": fitted_on} for m, b in betas.items()]
    )
    if args.beta_csv:
        beta_table.to_csv(args.beta_csv, index=False)
    print("\nfitted widening beta\n")
    print(markdown_table(beta_table))
    order = list(dict.fromkeys(df["source"]))
    means = df.groupby(["splits", "model", "widened", "source"], sort=False).mean(numeric_only=True)
    titles = {"coverage_90": "90 % coverage", "width_90": "90 % interval width",
              "coverage_50": "50 % coverage", "coverage_95": "95 % coverage"}  # fmt: skip
    for value, title in titles.items():
        wide = means[value].unstack("source")[order].round(3)
        print(f"\n{title} (mean over splits)\n")
        print(markdown_table(wide.reset_index()))


if __name__ == "__main__":
    main()
