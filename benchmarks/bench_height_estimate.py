"""Body height from a scaled OpenSim model: how well the leg length tells it, and what the
estimate does to the shipped default's hip moments (docs/transfer_results.md, "Body height
from the scaled model").

``predict`` given a scaled ``.osim`` as the subject file and no height takes the height its
leg length stands for (:func:`gait2hip.inference.api.estimated_height_m`: leg length over
``LEG_PER_HEIGHT``). This measures, with nothing fitted to what it reports:

1. the ratio leg length / measured height on the scaled models of the labelled walking
   subjects (labelling's own, found in the labels cache), and the error of each subject's
   height estimated with the ratio of the others (leave one out); the bundled runners' models
   (hamner2013, 10 men; the paper gives their mean height, 1.77 ± 0.04 m) and the generic
   Rajagopal model (1.70 m by its documentation) as models the ratio was not taken from;
2. the shipped default (hip moments) on its held-out subjects (split seed ``--split-seed``):
   subject R², 90 % coverage, broad share and size flags with the height measured, estimated
   (leave one out) and not given (body mass given); and on all labelled adults, how many the
   estimated height's size check flags;
3. the bundled children (the cohort gives no models): the same with their measured heights,
   with those heights off by the adults' leave-one-out errors (relative, drawn per subject,
   ``--draws`` draws; the spread an estimate of that quality gives), not given (mass given),
   and, as sensitivity, with every height 5 % and 10 % low (what a child's leg, shorter for its
   height than an adult's, would give);
4. running (hamner2013, no measured heights): the shipped default with no height, as the
   running rows elsewhere, and with the height each runner's scaled model stands for, as
   ``predict`` now takes it given the model.

    .venv/bin/python benchmarks/bench_height_estimate.py [--draws 50]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from transfer_runs import Cycles, cohort_sources, model_inputs, running_sources, subject_r2_of

from gait2hip import settings
from gait2hip.conventions import get_target
from gait2hip.data.cohort import load_cohort
from gait2hip.data.splits import holdout_subjects
from gait2hip.gait.signal import resample_cycles
from gait2hip.inference.api import LEG_PER_HEIGHT
from gait2hip.inference.calibration import DEFAULT_INTERVAL, OOD_WARN_PERCENTILE, pooled_coverage
from gait2hip.inference.predictor import default_model_dir, load_predictor
from gait2hip.io.npz import read_npz
from gait2hip.io.osim import leg_length_m
from gait2hip.report.summary import markdown_table
from gait2hip.runtime import machine_summary

DATASET = "schreiber2019"


def scaled_model(subject) -> str | None:
    """Labelling's scaled model of ``subject`` (its first labelled trial's), if cached."""
    found = sorted(
        (settings.labels_dir() / DATASET / str(subject)).glob("*/*/work/scale/scaled.osim")
    )
    return str(found[0]) if found else None


def leg_table(ds) -> pd.DataFrame:
    """Per labelled subject: leg length, measured height, ratio, leave-one-out estimate."""
    rows = []
    for s in np.unique(ds.subject_id):
        path = scaled_model(s)
        leg = None if path is None else leg_length_m(path)
        if leg is not None:
            height = float(ds.height_m[ds.subject_id == s][0])
            rows.append({"subject": s, "leg_m": leg, "height_m": height, "ratio": leg / height})
    d = pd.DataFrame(rows)
    loo = (d.ratio.sum() - d.ratio) / (len(d) - 1)
    return d.assign(estimate_m=d.leg_m / loo, error_m=d.leg_m / loo - d.height_m)


def scored(pred, c: Cycles, height, mass=None) -> dict:
    """Subject R², 90 % coverage, broad share and size-flag share of ``pred`` on ``c`` with
    ``height`` (per cycle, or None) and ``mass``."""
    X = model_inputs(pred, c._replace(height_m=height))
    p = pred.predict_cycles(X, height, c.durations, mass)
    mean, sd = (resample_cycles(a, c.y.shape[1]) for a in (p.mean, p.sd))
    size = p.size_percentile
    return {
        "r2": float(subject_r2_of(c, p.mean).mean()),
        "coverage_90": float(pooled_coverage(c.y, mean, sd, (DEFAULT_INTERVAL,))[0]),
        "broad_share": float(np.mean(p.broad_weight)) if p.broad_weight is not None else 0.0,
        "size_flagged": 0.0 if size is None else float(np.mean(size > OOD_WARN_PERCENTILE)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split-seed", type=int, default=21, help="the shipped model's split seed")
    ap.add_argument("--draws", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(machine_summary())
    ds = read_npz(settings.dataset_file(DATASET, "moments"), expected_out=get_target("moments"))
    legs = leg_table(ds)
    if len(legs) < 3:
        raise SystemExit(f"no scaled models in {settings.labels_dir() / DATASET}: run "
                         f"`gait2hip build-dataset {DATASET}` first")  # fmt: skip
    r, err = legs.ratio, legs.error_m
    print(f"\n1. leg length / height on {len(legs)} labelled adults' scaled models: mean "
          f"{r.mean():.4f}, sd {r.std():.4f} (CV {r.std() / r.mean():.3f}); leave-one-out "
          f"height error: mean {err.mean():+.3f} m, sd {err.std():.3f} m, largest "
          f"{err.abs().max():.3f} m (LEG_PER_HEIGHT in gait2hip: {LEG_PER_HEIGHT})\n")  # fmt: skip
    print(markdown_table(legs.round(3)))
    others = sorted((settings.data_root() / "hamner2013").glob("*/model/*.osim"))
    runners = [leg_length_m(p) for p in others]
    est = np.array([r for r in runners if r is not None]) / LEG_PER_HEIGHT
    generic = leg_length_m(settings.data_root() / "models" / "Rajagopal2016.osim")
    print(f"\nhamner2013's {len(est)} runners: estimated heights "
          f"{est.min():.2f}-{est.max():.2f} m, "
          f"mean {est.mean():.3f} m (paper: 1.77 ± 0.04 m); generic Rajagopal2016: "
          f"{generic / LEG_PER_HEIGHT:.3f} m (documented 1.70 m)")  # fmt: skip

    pred = load_predictor(default_model_dir() / "moments")
    test = np.zeros(len(ds.X), bool)
    test[holdout_subjects(ds.subject_id, seed=args.split_seed).test] = True
    dur = ds.cycle_durations()
    estimate = dict(zip(legs.subject, legs.estimate_m, strict=True))
    c = Cycles(ds.X[test], ds.Y_per_kg[test], ds.height_m[test], ds.subject_id[test],
               None if dur is None else dur[test], ds.weight_kg[test])  # fmt: skip
    est_h = np.array([estimate.get(s, np.nan) for s in c.subject])
    rows = [{"height": "measured", **scored(pred, c, c.height_m)},
            {"height": "estimated (leave one out)", **scored(pred, c, est_h)},
            {"height": "not given (mass given)", **scored(pred, c, None, c.mass_kg)}]  # fmt: skip
    held = sorted(set(zip(c.subject, c.height_m, est_h, strict=True)))
    print(f"\n2. the shipped default's hip moments on its {len(held)} held-out subjects "
          f"(split seed {args.split_seed}; "
          + ", ".join(f"{s}: {h:.2f} m measured, {e:.2f} estimated" for s, h, e in held)
          + ")\n")  # fmt: skip
    print(markdown_table(pd.DataFrame(rows).round(3)))
    cal = pred.calibration
    flags = {}
    for name, h in (("estimated", legs.estimate_m), ("measured", legs.height_m)):
        pct = cal.size_percentile(h.to_numpy(), None)
        flags[name] = [f"{s} ({x:.2f} m)" for s, x, p in zip(legs.subject, h, pct, strict=True)
                       if p > OOD_WARN_PERCENTILE]  # fmt: skip
    print(f"\nall {len(legs)} labelled adults: the size check flags "
          f"{len(flags['estimated'])} by their estimated heights "
          f"({', '.join(flags['estimated']) or 'none'}), {len(flags['measured'])} by their "
          f"measured heights ({', '.join(flags['measured']) or 'none'})")  # fmt: skip

    cohort = load_cohort("spina_bifida_lee").with_contralateral()
    rel = (legs.error_m / legs.height_m).to_numpy()
    rng = np.random.default_rng(args.seed)
    rows = []
    for name, c in cohort_sources(ds, cohort).items():
        rows.append({"source": name, "height": "measured", **scored(pred, c, c.height_m)})
        subjects = np.unique(c.subject)
        draws = []
        for _ in range(args.draws):
            off = dict(zip(subjects, rng.choice(rel, len(subjects)), strict=True))
            h = c.height_m * (1 + np.array([off[s] for s in c.subject]))
            draws.append(scored(pred, c, h))
        d = pd.DataFrame(draws)
        off = f"off by the adults' LOO errors (mean of {args.draws} draws)"
        rows.append({"source": name, "height": off, **d.mean().to_dict()})
        rows.append({"source": name, "height": "  (draws: R² min)", "r2": d.r2.min()})
        rows.append({"source": name, "height": "  (draws: R² max)", "r2": d.r2.max()})
        for low in (0.05, 0.10):
            rows.append({"source": name, "height": f"{low:.0%} low",
                         **scored(pred, c, c.height_m * (1 - low))})  # fmt: skip
        rows.append({"source": name, "height": "not given (mass given)",
                     **scored(pred, c, None, c.mass_kg)})  # fmt: skip
    print("\n3. the shipped default's hip moments on the bundled children, by the height it is "
          "given\n")  # fmt: skip
    print(markdown_table(pd.DataFrame(rows).round(3)))

    runner_h = {p.parent.parent.name: leg_length_m(p) / LEG_PER_HEIGHT for p in others}
    rows = []
    for name, c in running_sources(ds.in_cols).items():
        est = np.array([runner_h[s] for s in c.subject])
        for height, h in (("not given", None), ("estimated from the runner's model", est)):
            rows.append({"source": name, "height": height, **scored(pred, c, h, c.mass_kg)})
    print("\n4. the shipped default's hip moments on running, without a height and with the "
          "height each runner's scaled model stands for\n")  # fmt: skip
    print(markdown_table(pd.DataFrame(rows).round(3)))


if __name__ == "__main__":
    main()
