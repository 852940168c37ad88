"""A lab correction fitted on a few subjects of a source, measured on that source's other
subjects (docs/predict_results.md, "Adapting to your lab").

``gait2hip adapt`` fits, from a lab's trials with inverse dynamics, the mean residual curve of
the shipped default's hip moments (shrunk by leave-one-subject-out) and the factor on its
interval (:func:`gait2hip.inference.lab.fit_lab_correction`): the lab's mean curve's share
(``shrink``) and the model's variation's weight (``gain``). Here each source plays the lab: per
draw, ``k`` of its subjects are the lab's trials with inverse dynamics and the rest are
predicted, by the default as it is, corrected, and by the lab's mean curve (the mean of the
``k`` subjects' hip moments: the same curve for every cycle, no model). Subject-mean R² (study
definition) and RMSE on the untouched subjects, the 90 % interval's coverage, the weights
leave-one-out picked (means over draws) and the share of draws where the corrected predictions'
RMSE was lower than the model's as it is. Sources: the default's held-out adults (its in-lab
test subjects), the bundled cohort (children with spina bifida, typically developing; measured
heights) and running (hamner2013, 2-5 m/s; no heights, as elsewhere). The cohort gives no trial
of a cycle, so each subject's cycles count as one trial (a single subject's correction is
measured by leave one cycle out; for k = 1 the subject is drawn among those with 2 cycles or
more). Second, within one subject (what a lab with a few force-plate trials of each patient
would do): m of a subject's cycles fitted, the subject's other cycles predicted (for the cohort
these include the other side of the same trials). Nothing here is fitted to what it reports.

    .venv/bin/python benchmarks/bench_lab_correction.py [--draws 50]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from transfer_runs import Cycles, cohort_sources, model_inputs, running_sources

from gait2hip import settings
from gait2hip.conventions import get_target
from gait2hip.data.cohort import load_cohort
from gait2hip.gait.signal import resample_cycles
from gait2hip.inference.calibration import DEFAULT_INTERVAL, z_value
from gait2hip.inference.lab import fit_lab_correction
from gait2hip.inference.predictor import default_model_dir, load_predictor
from gait2hip.io.npz import read_npz
from gait2hip.report.summary import markdown_table
from gait2hip.runtime import machine_summary
from gait2hip.training.metrics import per_subject_metrics

KS = (1, 2, 4, 8)  # subjects of a source that are the lab's
MS = (2, 4)  # cycles of one subject that are the lab's, within a subject
WITHIN_DRAWS = 5
COLS = tuple(get_target("moments").cols)


def held_out_adults(pred, ds) -> Cycles:
    test = np.isin(ds.subject_id, pred.final.meta["test_subjects"])
    dur = ds.cycle_durations()
    return Cycles(ds.X[test], ds.Y_per_kg[test], ds.height_m[test], ds.subject_id[test],
                  None if dur is None else dur[test], ds.weight_kg[test])  # fmt: skip


def scores(y, point, sd, subject) -> dict:
    per = per_subject_metrics(y, point, subject)
    out = {"r2": float(per.r2.mean()), "rmse": float(per.rmse.mean())}
    if sd is not None:
        out["coverage"] = float((np.abs(y - point) <= z_value(DEFAULT_INTERVAL) * sd).mean())
    return out


def draw(c: Cycles, mean, sd, lab: np.ndarray, other: np.ndarray, trials, model: str) -> dict:
    """One draw: the correction fitted on the ``lab`` cycles of ``c`` (the model's ``mean``
    and ``sd`` for them, ``trials`` per cycle), scored with the model as it is and the lab's
    mean curve on the ``other`` cycles."""
    fit = fit_lab_correction(mean[lab], sd[lab], c.y[lab], c.subject[lab], trials[lab],
                             cols=COLS, model=model)  # fmt: skip
    y, s = c.y[other], c.subject[other]
    zero = scores(y, mean[other], sd[other], s)
    corr = scores(y, fit.correct(mean[other]), sd[other] * fit.sd_scale, s)
    curve = np.stack([c.y[lab & (c.subject == u)].mean(0) for u in np.unique(c.subject[lab])])
    curve = scores(y, np.broadcast_to(curve.mean(0), y.shape), None, s)
    return {
        "R² as it is": zero["r2"], "R² corrected": corr["r2"], "R² lab mean curve": curve["r2"],
        "RMSE as it is": zero["rmse"], "RMSE corrected": corr["rmse"],
        "RMSE lab mean curve": curve["rmse"],
        "coverage as it is": zero["coverage"], "coverage corrected": corr["coverage"],
        "shrink": fit.shrink, "gain": fit.gain, "interval x": fit.sd_scale,
        "corrected better": float(corr["rmse"] < zero["rmse"]),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(machine_summary())
    ds = read_npz(settings.dataset_file("schreiber2019", "moments"),
                  expected_out=get_target("moments"))  # fmt: skip
    pred = load_predictor(default_model_dir() / "moments")
    cohort = load_cohort("spina_bifida_lee").with_contralateral()
    srcs = {"in-lab (held-out adults)": held_out_adults(pred, ds)}
    srcs |= cohort_sources(ds, cohort) | running_sources(ds.in_cols)
    # the two parts draw from their own streams: one's draws do not move the other's
    rng, rng_within = np.random.default_rng(args.seed), np.random.default_rng(args.seed + 1)
    rows, within = [], []
    for name, c in srcs.items():
        running = name.startswith("hamner")
        h = None if running else c.height_m
        X = model_inputs(pred, c._replace(height_m=np.full(len(c.X), np.nan) if running else h))
        p = pred.predict_cycles(X, h, c.durations, c.mass_kg)
        mean, sd = (resample_cycles(a, c.y.shape[1]) for a in (p.mean, p.sd))
        subjects, counts = np.unique(c.subject, return_counts=True)
        for k in KS:
            if k >= len(subjects):
                continue
            draws = []
            for _ in range(args.draws):
                # one subject's correction needs 2 of its cycles (left out in turn)
                pool = subjects if k > 1 else subjects[counts > 1]
                lab = np.isin(c.subject, rng.choice(pool, k, replace=False))
                draws.append(draw(c, mean, sd, lab, ~lab, c.subject, pred.label))
            d = pd.DataFrame(draws)
            rows.append({"source": name, "k subjects": k, **d.mean().to_dict()})
            print(f"{name} k={k}: R² {d['R² as it is'].mean():.3f} -> "
                  f"{d['R² corrected'].mean():.3f} (lab mean curve "
                  f"{d['R² lab mean curve'].mean():.3f})", flush=True)  # fmt: skip
        # one subject's own cycles: m of them fitted (left out a cycle at a time), the
        # subject's others predicted
        cycle = np.arange(len(c.y)).astype(str)
        for m in MS:
            draws = []
            for u in subjects[counts > m]:
                idx = np.flatnonzero(c.subject == u)
                for _ in range(WITHIN_DRAWS):
                    lab = np.isin(np.arange(len(c.y)), rng_within.choice(idx, m, replace=False))
                    other = (c.subject == u) & ~lab
                    draws.append(draw(c, mean, sd, lab, other, cycle, pred.label))
            if draws:
                d = pd.DataFrame(draws)
                within.append({"source": name, "m cycles": m, "subjects": int((counts > m).sum()),
                               **d.mean().to_dict()})  # fmt: skip
    print(f"\nMeans over {args.draws} draws of k subjects per source (the lab's trials); "
          "scored on the source's other subjects\n")  # fmt: skip
    print(markdown_table(pd.DataFrame(rows).round(3)))
    print(f"\nWithin one subject: m of a subject's cycles fitted, its other cycles predicted; "
          f"means over {WITHIN_DRAWS} draws per subject with more than m cycles\n")  # fmt: skip
    print(markdown_table(pd.DataFrame(within).round(3)))


if __name__ == "__main__":
    main()
