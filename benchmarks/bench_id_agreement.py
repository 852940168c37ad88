"""How often ``predict``'s check against the trial's own inverse dynamics warns, and where
(docs/predict.md, "Against the trial's inverse dynamics").

Every labelled trial of the bundled walking data (schreiber2019: our IK, c3d events, the
measured mass and height) and running data (hamner2013: its IK with its scaled model as the
subject file, which also gives the height, and its force plates' GRF for the strikes), each
predicted with the shipped default as a user would, given the trial's inverse dynamics from
labelling (right side): the check's interval coverage and R² per degree of freedom, and
whether it warns. The walking trials are split into the default's held-out subjects (split
seed 21), which test it, and those it learnt from; every running trial is another gait the
default never learnt, where the check should warn. Then, per running speed, a lab correction
(`gait2hip.adapt`, docs/predict.md "Adapting to your lab") fitted on the trials of
``--adapt-runners`` runners drawn at random (``--adapt-draws`` draws), and the other runners'
trials predicted with it: the same check, before and after, through the same files and
options. Needs both datasets built (`gait2hip build-dataset schreiber2019`, `...
hamner2013`). No training.

    .venv/bin/python benchmarks/bench_id_agreement.py [--adapt-draws 5 --adapt-runners 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

import gait2hip
from gait2hip import settings
from gait2hip.inference.api import MIN_ID_COVERAGE
from gait2hip.inference.predictor import default_model_dir, find_predictors
from gait2hip.labeling.sources import hamner2013, schreiber2019
from gait2hip.report.summary import markdown_table
from gait2hip.runtime import machine_summary


def work_folder(dataset: str, spec) -> Path | None:
    """Labelling's work folder of ``spec`` in the labels cache (its newest), if any."""
    found = sorted((settings.labels_dir() / dataset / spec.subject / spec.trial).glob("*/work"),
                   key=lambda p: p.stat().st_mtime)  # fmt: skip
    return found[-1] if found else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--adapt-draws", type=int, default=5)
    ap.add_argument("--adapt-runners", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(machine_summary())
    predictors = find_predictors(default_model_dir(), inverse_dynamics=True)
    held_out = set(predictors["moments"].final.meta["test_subjects"])
    root = settings.data_root()
    rows, running = [], []
    for dataset, source in (
        ("schreiber2019", schreiber2019(root)),
        ("hamner2013", hamner2013(root)),
    ):
        for spec in source.specs:
            work = work_folder(dataset, spec)
            if work is None or not (work / "id" / "id.sto").is_file():
                continue
            if dataset == "schreiber2019":
                group = "walking, held out" if spec.subject in held_out else "walking, learnt from"
                kwargs = {"c3d": spec.c3d, "mass_kg": spec.mass_kg, "height_m": spec.height_m}
                angles = work / "ik" / "ik.mot"
            else:
                group = f"running {spec.condition}"
                kwargs = {"subject": spec.model, "grf": work / "grf.mot"}
                angles = Path(spec.ik)
                running.append({"speed": spec.condition, "subject_id": spec.subject,
                                "angles": str(angles), "inverse_dynamics": str(work / "id/id.sto"),
                                "subject": str(spec.model), "grf": str(work / "grf.mot"),
                                "side": "r"})  # fmt: skip
            try:
                pred = gait2hip.predict(angles, inverse_dynamics=work / "id" / "id.sto",
                                        predictors=predictors, **kwargs)  # fmt: skip
            except ValueError as err:
                print(f"{spec.label}: {err}")
                continue
            a = pred.id_agreement
            if a is None:
                continue
            r2 = {f"r2_{d}": r for d, r in zip(a.dofs, a.r2, strict=True)}
            rows.append({"group": group, "trial": spec.label, "cycles": a.cycles,
                         "coverage": a.coverage, **r2,
                         "warned": a.coverage < MIN_ID_COVERAGE})  # fmt: skip
    df = pd.DataFrame(rows)
    summary = df.groupby("group", sort=False).agg(
        trials=("trial", "size"), cycles=("cycles", "sum"),
        coverage_median=("coverage", "median"), coverage_min=("coverage", "min"),
        r2_flexion_median=("r2_flexion", "median"), warned=("warned", "sum"),
    )  # fmt: skip
    summary["warned_share"] = summary.warned / summary.trials
    print(f"\nthe check per trial (right side; warning below {MIN_ID_COVERAGE:.0%} of the frames "
          "in the 90 % interval)\n")  # fmt: skip
    print(markdown_table(summary.round(3).reset_index()))
    print("\nthe walking trials it warned for\n")
    walking = df[df.group.str.startswith("walking") & df.warned]
    print(markdown_table(walking.round(3)) if len(walking) else "none")
    walking_cov = df[df.group.str.startswith("walking")].coverage
    print(f"\ncoverage over every walking trial: {walking_cov.round(3).describe().to_dict()}")
    adapted(pd.DataFrame(running), predictors, args)


def adapted(trials: pd.DataFrame, predictors, args) -> None:
    """Per running speed and draw: a lab correction from ``args.adapt_runners`` runners'
    trials, the other runners' trials checked against their ID with it and without."""
    rng = np.random.default_rng(args.seed)
    rows = []
    for speed, group in trials.groupby("speed", sort=True):
        runners = np.unique(group.subject_id)
        for draw in range(args.adapt_draws):
            lab = rng.choice(runners, args.adapt_runners, replace=False)
            fit, _ = gait2hip.adapt(group[group.subject_id.isin(lab)].drop(columns="speed"))
            for t in group[~group.subject_id.isin(lab)].itertuples():
                common = dict(subject=t.subject, grf=t.grf, inverse_dynamics=t.inverse_dynamics,
                              predictors=predictors)  # fmt: skip
                for name, corr in (("as it is", None), ("corrected", fit)):
                    a = gait2hip.predict(t.angles, lab_correction=corr, **common).id_agreement
                    rows.append({"speed": speed, "draw": draw, "trial": t.angles, "model": name,
                                 "coverage": a.coverage, "r2_flexion": a.r2[0],
                                 "rmse_flexion": a.rmse[0],
                                 "warned": a.coverage < MIN_ID_COVERAGE})  # fmt: skip
    df = pd.DataFrame(rows)
    summary = df.groupby(["speed", "model"], sort=True).agg(
        checks=("trial", "size"), coverage_median=("coverage", "median"),
        coverage_min=("coverage", "min"), r2_flexion_median=("r2_flexion", "median"),
        rmse_flexion_median=("rmse_flexion", "median"), warned=("warned", "mean"),
    )  # fmt: skip
    print(f"\nrunning with a lab correction from {args.adapt_runners} runners' trials "
          f"({args.adapt_draws} draws per speed), the other runners' trials checked (right "
          "side; warned: share of the checks below the threshold)\n")  # fmt: skip
    print(markdown_table(summary.round(3).reset_index()))


if __name__ == "__main__":
    main()
