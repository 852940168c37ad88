"""The default model's blend: fine-tuned where a walker is like the training subjects, the
averaged (WiSE) model where not, measured on every transfer source.

Reads the moments run folders of `gait2hip transfer` (runs/transfer). For each architecture
and split, the `gait2hip60-finetune` unit's final model carries the `gait2hip60-wise` unit's
final model as its broad model (`Predictor.broad`, as the shipped default is built), trained
for the same source. Per cycle, the shift percentile (the largest of the fine-tuned model's
OOD, pace and size percentiles) sets the broad model's share, and the prediction is the two
models' mixture (gait2hip.inference.calibration). ``--tuned`` (and ``--tuned-runs``) puts
another fine-tuned profile in the first model's place, e.g. `gait2hip60-finetune-duration`,
which also takes each cycle's duration: a cycle of unknown duration (the cohort's) is then the
broad model's alone in every variant, as gait2hip predicts it. Variants of the share:

- `finetune`: 0 for every cycle (the fine-tuned model alone);
- `wise`: 1 for every cycle (the averaged model alone, the previous default);
- `half`: 0.5 for every cycle (no checks);
- `step95`: 1 above the 95th shift percentile (the warning level), else 0;
- `ramp80-95`: linear from the 80th to the 95th;
- `ramp50-95`: linear from the 50th to the 95th (BLEND_FROM, BLEND_TO; the default rule);
- `step95/ood+size`: as `step95`, the shift percentile of the OOD and size checks only (not
  the pace: a model that takes the cycle's duration sees the pace itself);
- `step95/ood1.5+size`: as `step95/ood+size`, the OOD check heeded only beyond 1.5 times the
  warning level's score (`BlendRule.ood_factor`).
- `step95/ood1.5+size/keep-fast`: as `step95/ood1.5+size`, and a cycle faster than the
  training walks (the pace check flags it on the fast side) stays with the fine-tuned model
  unless the size check flags the body (`BlendRule.keep_fast`).
- `step95/ood1.5+size/keep-fast0`: as `step95/ood1.5+size/keep-fast`, every cycle shorter than
  the training median kept, also those the pace check does not flag
  (`BlendRule.keep_fast_from` 0).

Per source, subject-mean R² (study definition; moments scaled to each subject's height),
the 90 % interval's coverage, the mean broad share and the AUROC of the shift percentile
against the in-lab test cycles (how well the checks together tell the cohort and running
cycles, which the in-lab models predict, from the in-lab ones); in-lab,
each is paired with the `recipe` model of the same split subject by subject (bootstrap 95 %
CI over the held-out (split, subject) pairs). The running rows (`--running`, hamner2013, no
heights) took no part in choosing. Means over split seeds. ``--no-heights`` predicts every
source as for a walker whose height is not given (the share's OOD check then at the warning
level, no size check from a height; the recipe's rows it is paired with keep their heights).

    .venv/bin/python benchmarks/bench_blend.py --splits 21,22,23 --running \
        [--csv long.csv --paired-csv paired.csv]
    .venv/bin/python benchmarks/bench_blend.py --runs runs/transfer-fresh --splits 24,25 \
        --models lstm-causal      # fresh splits, the shipped variant's independent test
    .venv/bin/python benchmarks/bench_blend.py --splits 21,22,23 --models lstm-causal \
        --running --tuned gait2hip60-finetune-duration --tuned-runs runs/transfer-duration
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pandas as pd
from transfer_runs import BROAD, FOLDERS, MODELS, each_blend, model_inputs, subject_r2_of

from gait2hip.gait.signal import resample_cycles
from gait2hip.inference.calibration import BlendRule, auroc, mixture, pooled_coverage
from gait2hip.inference.predictor import height_or_reference
from gait2hip.report.summary import markdown_table
from gait2hip.training.metrics import bootstrap_ci

#: Per variant, the broad share per cycle from the blend's calibration, its prediction's
#: checks (percentiles by name, OOD scores) and the cycles' durations (s; None: unknown).
VARIANTS = {
    "finetune": lambda cal, p, d: np.zeros(len(p.ood[0])),
    "wise": lambda cal, p, d: np.ones(len(p.ood[0])),
    "half": lambda cal, p, d: np.full(len(p.ood[0]), 0.5),
    **{
        name: (lambda rule: lambda cal, p, d: dataclasses.replace(cal, blend=rule).blend_share(
            p.checks, p.ood[0], d))(BlendRule.parse(name))
        for name in ("step95", "ramp80-95", BlendRule().name, "step95/ood+size",
                     "step95/ood1.5+size", "step95/ood1.5+size/keep-fast",
                     "step95/ood1.5+size/keep-fast0")
    },
}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default="runs/transfer")
    ap.add_argument("--splits", default="21,22,23")
    ap.add_argument("--models", default=",".join(MODELS), help="architectures (unit labels)")
    ap.add_argument("--running", action="store_true", help="add the hamner2013 running rows")
    ap.add_argument(
        "--tuned", default="gait2hip60-finetune", help="the blend's own (fine-tuned) profile"
    )
    ap.add_argument("--tuned-runs", help="the transfer folder of --tuned (default --runs)")
    ap.add_argument(
        "--tuned-model",
        help="its architecture (unit label; the rows carry it), when not --models' (whose "
        "averaged model, recipe and test subjects the rows keep), e.g. an average of "
        "`gait2hip average` (lstm-causal+transformer-bidir)",
    )
    ap.add_argument("--broad-runs", help="the transfer folder of the averaged (wise) units "
                    "(default --runs)")  # fmt: skip
    ap.add_argument("--broad-profile", default=BROAD, help="their profile (gait2hip60: the "
                    "published weights as they are)")  # fmt: skip
    ap.add_argument("--broad-model", help="their unit label when not --models' (e.g. an "
                    "average of `gait2hip average`)")  # fmt: skip
    ap.add_argument(
        "--no-heights",
        action="store_true",
        help="predict every source as for a walker of unknown height (no size check from a "
        "height: the OOD check at the warning level; the own model's reference walker)",
    )
    ap.add_argument("--csv", help="also write the long table here")
    ap.add_argument("--paired-csv", help="and the in-lab pairing with the recipe here")
    ap.add_argument("--shift-csv", help="and the shift percentile's AUROCs here")
    args = ap.parse_args()
    rows, paired = [], []
    models = tuple(args.models.split(","))
    pcts: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    blends = each_blend(args.runs, args.splits, models, args.tuned, args.tuned_runs,
                        args.tuned_model, args.running, args.broad_runs,
                        args.broad_profile, args.broad_model)  # fmt: skip
    for model, split, base, name, c, blended in blends:
        if args.no_heights:
            c = c._replace(height_m=np.full(len(c.height_m), np.nan))
        tuned, broad = dataclasses.replace(blended, broad=None), blended.broad
        X = model_inputs(blended, c)
        # a cycle lacking an input only the tuned model takes is the broad model's alone
        filled, unknown = blended.filled_inputs(X)
        own = tuned.predict(filled, c.height_m)[:2]
        # a walker of unknown height: the blend's own model's reference walker
        h = height_or_reference(c.height_m, blended.reference_height_m)
        other = broad.predict(model_inputs(broad, c), h)[:2]
        shipped = blended.predict_cycles(X, c.height_m, c.durations)
        pcts.setdefault((model, split), {})[name] = shipped.shift_percentile
        for variant, weight in VARIANTS.items():
            w = np.where(unknown, 1.0, weight(blended.calibration, shipped, c.durations))
            mean, sd = mixture(w, own, other)
            if variant == blended.calibration.blend.name:  # as gait2hip predicts
                assert np.allclose(mean, shipped.mean) and np.allclose(sd, shipped.sd)
            r2 = subject_r2_of(c, mean)
            mean, sd = (resample_cycles(a, c.y.shape[1]) for a in (mean, sd))
            cov = float(pooled_coverage(c.y, mean, sd, (0.9,))[0])
            rows.append({"model": model, "variant": variant, "source": name,
                         "split": split, "r2": float(r2.mean()), "coverage_90": cov,
                         "broad_share": float(w.mean())})  # fmt: skip
            if name == "in-lab":
                paired += [{"model": model, "variant": variant, "delta": d}
                           for d in (r2 - base).to_numpy()]  # fmt: skip
    # how well the shift percentile tells each source's cycles from the in-lab test cycles
    # (the sources the in-lab models predict: the speed sources' models are others)
    shift = [{"model": model, "source": name, "split": split, "auroc": auroc(p, by["in-lab"])}
             for (model, split), by in pcts.items()
             for name, p in by.items() if name not in FOLDERS]  # fmt: skip
    long = pd.DataFrame(rows)
    if args.csv:
        long.to_csv(args.csv, index=False)
    order = list(dict.fromkeys(long["source"]))
    means = long.groupby(["model", "variant", "source"], sort=False).mean(numeric_only=True)
    walking = [s for s in order if not s.startswith("hamner")]
    for value, title in (("r2", "subject-mean R²"), ("coverage_90", "90 % coverage"),
                         ("broad_share", "mean broad share")):  # fmt: skip
        wide = means[value].unstack("source")[order].round(3)
        if value == "broad_share":  # the constant shares say nothing new
            wide = wide[~wide.index.get_level_values("variant").isin(["finetune", "wise", "half"])]
        if value == "r2":
            wide["mean (walking, cohort)"] = wide[walking].mean(axis=1).round(3)
        print(f"\n{title}\n")
        print(markdown_table(wide.reset_index()))
    deltas = pd.DataFrame(paired).groupby(["model", "variant"], sort=False)["delta"]
    table = pd.DataFrame([
        {"model": m, "variant": v, "pairs": len(d), "delta_r2": d.mean(), "delta_r2_lo": lo,
         "delta_r2_hi": hi}
        for (m, v), d in deltas
        for lo, hi in [bootstrap_ci(d.to_numpy())]
    ])  # fmt: skip
    if args.paired_csv:
        table.to_csv(args.paired_csv, index=False)
    table["in-lab Δ R² vs recipe (95% CI)"] = [
        f"{r.delta_r2:+.3f} ({r.delta_r2_lo:+.3f} to {r.delta_r2_hi:+.3f})"
        for r in table.itertuples()
    ]
    aurocs = pd.DataFrame(shift).groupby(["model", "source"], sort=False)["auroc"].mean()
    print("\nshift percentile: AUROC against the in-lab test cycles\n")
    if args.shift_csv:
        aurocs.reset_index().to_csv(args.shift_csv, index=False)
    print(markdown_table(aurocs.unstack("source").round(3).reset_index()))
    print("\nin-lab, paired with the recipe\n")
    print(markdown_table(table.drop(columns=["delta_r2", "delta_r2_lo", "delta_r2_hi"])))


if __name__ == "__main__":
    main()
