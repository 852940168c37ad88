"""Ship trained units as the model `gait2hip predict` uses by default, with a model card.

    .venv/bin/python scripts/ship_default_model.py --transfer runs/transfer \
        --unit runs/transfer/in-lab/<data>-moments/<profile>/split21/split21/<model>/seed2025 \
        [--broad <another unit of that target> --blend runs/bench_blend.csv \
         --blend-paired runs/bench_blend_paired.csv]

A ``--broad`` unit ships as the target's broad model (``<target>/broad/``: blended in per cycle
for walkers unlike the training subjects, gait2hip.inference.calibration); its card rows then
come from benchmarks/bench_blend.py's tables (``--csv`` / ``--paired-csv``); ``--widening``
(benchmarks/bench_widening.py's ``--beta-csv`` and ``--csv``) sets its interval's widening
under shift (gait2hip.inference.calibration) and adds the widened coverage to those rows.
``--far-widening`` (benchmarks/bench_far_widening.py's ``--fit-csv`` and ``--csv``) sets the
widening far out and its card line; ``--running`` (bench_far_widening.py's ``--csv``, one per
target) writes each target's line on the bundled running instead of running rows in the
transfer tables; ``--blend-rule NEW OLD`` changes the broad model's share rule and states in
the card how the two compare (bench_blend.py's long tables, ``--blend-rows``). Given alone
(no ``--unit``), each does so in the shipped default as it is, as does
``--training-masses DATA`` (the training subjects' body masses, for the size check where a
height is not given, from the datasets in DATA) and ``--output-lowpass H LONG`` (every shipped
model that can be, the Transformers, anchors included, low-passed along the cycle at H cycles
per gait cycle: their ``output_lowpass``, gait2hip.models.heads.FrameLowpass; its card line
from benchmarks/bench_roughness.py's ``--model-csv``, measured with and without it):

    .venv/bin/python scripts/ship_default_model.py --far-widening \
        runs/bench_far_widening_fit.csv runs/bench_far_widening.csv
    .venv/bin/python scripts/ship_default_model.py --running runs/bench_far_widening.csv \
        runs/bench_far_widening_forces.csv
    .venv/bin/python scripts/ship_default_model.py --blend-rule \
        step95/ood1.5+size/keep-fast step95/ood1.5+size --blend-rows runs/bench_blend3435.csv \
        --blend-why "its test fixed in advance"
    .venv/bin/python scripts/ship_default_model.py --output-lowpass 30 \
        runs/bench_roughness_model.csv

A unit of `gait2hip average` (the final models of several architectures, its others in
``members/``) ships with its members; its card section names each. ``--keep`` ships only the
targets given and keeps the others' models, card sections and training commands as shipped.

A forces unit that reads the trial's inverse-dynamics hip moments (profile recipe-moments)
ships beside the target's own as ``<target>-id/``, which `predict --inverse-dynamics` uses.

Copies each unit's final model and calibration into src/gait2hip/default_model/<target>/ (the
fold models stay behind: the interval is the calibrated residual sd, with the disagreement with
the anchor its calibration names, shipped beside it as anchor.pt) and writes
src/gait2hip/default_model/MODEL_CARD.md from the checkpoint's metadata, its run folder's test
metrics and the transfer table. Nothing in the card is typed by hand.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from gait2hip.conventions import SERIES_INPUTS, STATIC_INPUTS, get_target, is_angle
from gait2hip.inference.calibration import (
    ANCHOR_FILE,
    BLEND_FROM,
    BLEND_TO,
    CALIBRATION_FILE,
    MEMBERS_DIR,
    OOD_WARN_PERCENTILE,
    SHIFT_CHECKS,
    BlendRule,
    Calibration,
)
from gait2hip.inference.predictor import (
    BROAD_DIR,
    MODEL_CARD,
    default_model_dir,
    mean_curve_skill,
    unit_name,
)
from gait2hip.io.atomic import write_json
from gait2hip.io.npz import read_npz
from gait2hip.models import solved_in_closed_form
from gait2hip.report.summary import and_join, fmt, span
from gait2hip.training.checkpoint import TrainedModel
from gait2hip.training.metrics import MIN_SKILL
from gait2hip.training.published import PUBLISHED, load_anchor, low_passed_as, published_dir

FILES = ("final.pt", "calibration.npz", "calibration.json", "final.json")


def unit_row(unit: Path) -> pd.Series:
    """The unit's row of its run folder's summary.csv."""
    run = unit.parents[2]
    df = pd.read_csv(run / "summary.csv")
    rows = df[
        (df["model"] == unit.parent.name)
        & (df["split_seed"].astype(str) == unit.parent.parent.name.removeprefix("split"))
        & (df["seed"].astype(str) == unit.name.removeprefix("seed"))
    ]
    if rows.empty:
        sys.exit(f"{unit}: no row in {run / 'summary.csv'}; is the run finished?")
    return rows.iloc[0]


def card_section(
    unit: Path, final: TrainedModel, transfer: pd.DataFrame | None, heading: str = "##"
) -> str:
    meta, row = final.meta, unit_row(unit)
    config = json.loads((unit.parents[2] / "config.json").read_text())["config"]
    cal = json.loads((unit / "calibration.json").read_text())
    label, profile = unit.parent.name, config["profile"]
    start = f", started from the `{meta['init']}` weights" if meta.get("init") else ""
    valid = (
        "healthy adults walking overground at comfortable to fast speeds (the data below), "
        "kinematics from an OpenSim Rajagopal/gait2392-convention IK"
    )
    if meta.get("init") and meta["epochs"] == 0:
        valid = (
            "healthy adults walking at 78-135 steps/min (the study's data, another lab), "
            "kinematics from an OpenSim Rajagopal/gait2392-convention IK; the rows below "
            "measure it on another lab's adults and on children"
        )
    models = [final, *members_of(unit)]
    weights = _weights(final, config)
    picked = "picked " + _picked(final)
    if len(models) > 1:
        # models of one architecture (e.g. fine-tuned and published) are named by profile
        names = [m.name for m in models]
        named = [f"{n} ({m.meta.get('profile', profile)})" if names.count(n) > 1 else n
                 for n, m in zip(names, models, strict=True)]  # fmt: skip
        kinds = "architectures'" if len(set(names)) == len(names) else "models'"
        weights = (
            f"the mean of {len(models)} {kinds} predictions (`gait2hip average`; their "
            "disagreement is part of the interval): "
            + "; ".join(
                f"the {n}: {_weights(m, config)}" for n, m in zip(named, models, strict=True)
            )
            + f" (chosen over {'either' if len(models) == 2 else 'each'} alone by "
            "docs/transfer_results.md)"
        )
        fewer = [m for m in models if len(m.in_cols) < len(final.in_cols)]
        if fewer:
            unread = [c for c in final.in_cols if any(c not in m.in_cols for m in fewer)]
            weights += (
                f"; a cycle whose {', '.join(unread)} is not known (e.g. a study NPZ without "
                f"cycle times) is predicted by the {and_join(m.name for m in fewer)} alone"
            )
        picked = "picked " + and_join(
            f"{_picked(m)} for the {n}" for n, m in zip(named, models, strict=True)
        )
    profiles = list(dict.fromkeys(m.meta.get("profile", profile) for m in models))
    if len(profiles) > 1:  # each model's weights line says where it started
        start = ""
    dofs = [c for c in final.out_cols]
    series = [c for c in final.in_cols if c in SERIES_INPUTS]
    if series:
        valid = valid.replace(
            "(the data below)",
            "(the data below), given the trial's hip "
            "moments from OpenSim inverse dynamics with force plates",
        )
    per_dof = ", ".join(f"{c} {fmt(row[f'r2_{c}'])}" for c in dofs if f"r2_{c}" in row)
    lines = [
        f"{heading} {unit_name(final)}: {label} ({and_join(f'`{p}`' for p in profiles)} "
        f"profile{'s' if len(profiles) > 1 else ''}{start})",
        "",
        f"- outputs: {', '.join(final.out_cols)} ({meta.get('train_unit', '')}, right side; "
        "the left by mirroring)",
        f"- inputs: {', '.join(c for c in final.in_cols if is_angle(c))} (degrees, "
        f"one gait cycle resampled to {meta.get('n_frames')} frames)"
        + (
            f"; the trial's inverse dynamics, {', '.join(series)} (Nm/kg, the same frames; "
            "`predict --inverse-dynamics`)"
            if series
            else ""
        )
        + "".join(
            f"; per cycle {c} ({STATIC_INPUTS[c]})" for c in final.in_cols if c in STATIC_INPUTS
        ),
        f"- weights: {weights}",
        f"- valid for: {valid}; outside it (pathological or slow gait, children, other "
        "labs) see the transfer rows, and `predict` flags cycles unlike the calibration data",
        f"- data: `{Path(meta['dataset']).name}`, {len(meta['train_subjects'])} subjects, "
        f"{meta['n_train_cycles']} cycles",
        f"- protocol: split seed {meta['split_seed']}, training seed {meta['seed']}; "
        f"{config['n_folds']}-fold CV on the pool {picked}",
        f"- held-out test subjects ({len(meta['test_subjects'])}: "
        f"{', '.join(map(str, meta['test_subjects']))}): subject-mean R² "
        f"{fmt(row['subject_r2'])} ({fmt(row['subject_r2_ci_lo'])} to "
        f"{fmt(row['subject_r2_ci_hi'])}), RMSE {fmt(row['subject_rmse'])} "
        f"({fmt(row['subject_rmse_ci_lo'])} to {fmt(row['subject_rmse_ci_hi'])}); "
        f"per-channel mean R² {fmt(row['channel_mean_r2'])}",
        f"- calibrated 90 % interval covered {fmt(cal['coverage_all_channels'][2])} of the "
        "test frames" + _anchor_text(cal),
    ]
    if per_dof:
        lines.append(f"- per-DOF R² on the test subjects: {per_dof}")
    skill = mean_curve_skill(unit)
    if skill is not None:
        lines.append(
            f"- against the training data's mean curve (the same curve for every cycle, no "
            f"angles): subject-mean RMSE {abs(skill):.0%} {'lower' if skill >= 0 else 'higher'} "
            "on these test subjects"
            + (
                " — in-lab this model is no better than the average; its value is in transfer "
                "(docs/transfer_results.md, Baseline)"
                if skill < MIN_SKILL
                else ""
            )
        )
    ref = final.reference_height_m
    if ref is not None and any(c.endswith("_moment") for c in final.out_cols):
        lines.append(
            f"- body size: its hip moments are those of a {ref:.2f} m walker "
            + (
                "(assumed for the study's adults, whose weights it started from)"
                if meta.get("reference_height_assumed") or meta.get("init")
                else "(the mean height of the subjects it learnt from)"
            )
            + "; `predict --height` (or the subject's scaled `.osim`: the height its leg length "
            "stands for) scales them to the subject (Hof 1996)"
        )
    if cal.get("training_durations_s"):
        lo, hi = cal["training_durations_s"]
        lines.append(
            f"- pace: learnt from cycles of {lo:.2f}-{hi:.2f} s; `predict` flags cycles whose "
            "duration lies outside them"
        )
    if cal.get("training_heights_m"):
        lo, hi = cal["training_heights_m"]
        lines.append(
            f"- body height: its training subjects measured {lo:.2f}-{hi:.2f} m; `predict "
            "--height` warns for a body far outside them (a child, for these adults)"
        )
    line = mass_line(cal)
    if line:
        lines.append(line)
    if final.target == "forces" and not final.model.config.nonnegative:
        lines.append(
            "- its read-out is linear, so its raw output can dip below zero where a muscle is "
            "silent; gait2hip clips every predicted force at 0 (a muscle cannot push)"
        )
    if transfer is not None:
        t = transfer[(transfer["profile"] == profile) & (transfer["model"] == label)]
        if not t.empty:
            lines += [
                "",
                (
                    "Transfer (these architectures averaged, mean over the transfer "
                    "run's split seeds; `gait2hip transfer`, then `gait2hip average` on it):"
                    if len(models) > 1
                    else "Transfer (this profile and architecture, mean over the transfer run's "
                    "split seeds; `gait2hip transfer`):"
                ),
                "",
                "| source | R² study (95% CI) | RMSE | 90% coverage | 90% coverage, "
                "within-population interval | OOD AUROC | pace AUROC |",
                "|---|---|---|---|---|---|---|",
            ]
            for _, r in t.iterrows():
                lines.append(
                    f"| {r['source']} | {fmt(r['subject_r2'])} ({fmt(r['subject_r2_ci_lo'])} "
                    f"to {fmt(r['subject_r2_ci_hi'])}) | {fmt(r['subject_rmse'])} | "
                    f"{fmt(r['coverage_90'])} | {fmt(r.get('coverage_90_within', float('nan')))} "
                    f"| {fmt(r['ood_auroc'])} | "
                    f"{fmt(r.get('pace_auroc', float('nan')))} |"
                )
    return "\n".join(lines) + "\n"


#: How a card's section starts: ``## <target>: ...``.
SECTION = re.compile(r"^## ([\w-]+): ", re.M)
#: The end of a card's one-line "Trained by" (written before it listed each target) that
#: names one target's command: `` and `command` (target)``.
TRAINED_TAIL = r" and `[^`]*` \((?:{})\)$"


def section_spans(text: str) -> dict[str, tuple[int, int]]:
    """Per target, where a card's ``text`` holds its section: (start, end) of ``## <target>:
    ...`` up to the next target's."""
    starts = [(m.group(1), m.start()) for m in SECTION.finditer(text)]
    ends = [start for _, start in starts[1:]] + [len(text)]
    return {target: (start, end) for (target, start), end in zip(starts, ends, strict=True)}


def kept_sections(card: Path, shipped: list[str]) -> dict[str, tuple[str, str]]:
    """Per target of the shipped ``card`` not in ``shipped``: its training command(s) and its
    section (``## <target>: ...`` up to the next target's), as the card has them."""
    if not card.is_file():
        sys.exit(f"{card}: no model card to keep sections of; ship every target")
    text = card.read_text()
    spans = section_spans(text)
    head = text[: min((start for start, _ in spans.values()), default=len(text))]
    listed = dict(re.findall(r"^- ([\w-]+(?:, [\w-]+)*): (.*)$", head, re.M))
    line = re.search(r"^Trained by: (.*)$", head, re.M)  # the one-line form
    out = {}
    for target, (start, end) in spans.items():
        if target in shipped:
            continue
        trained = next((c for t, c in listed.items() if target in t.split(", ")), "")
        if not trained and line:
            trained = re.sub(TRAINED_TAIL.format("|".join(shipped)), "", line.group(1))
        out[target] = (trained, text[start:end].rstrip("\n") + "\n")
    return out


def members_of(unit: Path) -> list[TrainedModel]:
    """The unit's other architectures (``members/``), averaged with its final model."""
    return [TrainedModel.load(p) for p in sorted((unit / MEMBERS_DIR).glob("*.pt"))]


def _picked(model: TrainedModel) -> str:
    """The card's words for what cross-validation chose for one model."""
    meta = model.meta
    if solved_in_closed_form(model.model):  # its "epochs" are ridge steps
        return (
            f"step {meta['epochs']} of {model.model.path_length} of its ridge path (fold best "
            f"steps {meta['fold_best_epochs']})"
        )
    return f"{meta['epochs']} epochs (fold best epochs {meta['fold_best_epochs']})"


def _weights(model: TrainedModel, config: dict) -> str:
    """The card's words for where one model's weights come from (``config``: its run's, for
    checkpoints older than their own record of the WiSE-FT mixing weight)."""
    meta = model.meta
    if solved_in_closed_form(model.model):  # its "epochs" are ridge steps
        return (
            "a ridge regression per frame of the cycle fitted in closed form on the subjects "
            f"below (ridge strength {model.model.alpha(meta['epochs']):.3g} per sample, step "
            f"{meta['epochs']} of its path)"
        )
    if meta.get("init") and meta["epochs"] == 0:
        return (
            f"the Gait2Hip-60 study's published {model.name} unchanged (cross-validation chose 0 "
            "epochs of fine-tuning): trained by the study on 60 adults at 3 cadences; the "
            "subjects below only calibrated its interval and OOD score"
        )
    if meta.get("init"):
        weights = (
            f"the study's published {model.name} (60 adults, 3 cadences) fine-tuned for "
            f"{meta['epochs']} epochs on the subjects below"
        )
        alpha = meta.get("wise_alpha", config["train"].get("wise_alpha", 1.0))
        if alpha < 1:
            weights += (
                f", then averaged with the published weights ({alpha:g} x fine-tuned + "
                f"{1 - alpha:g} x published; WiSE-FT), so that it keeps their breadth"
            )
        return weights
    return f"trained from scratch for {meta['epochs']} epochs on the subjects below"


def blend_rows(
    blend: Path, paired: Path, label: str, variant: str
) -> tuple[pd.DataFrame, pd.Series, str]:
    """The shipped blend variant's rows of bench_blend.py's tables: per source means, the
    in-lab pairing with the recipe and the split seeds."""
    long = pd.read_csv(blend)
    rows = long[(long["model"] == label) & (long["variant"] == variant)]
    if rows.empty:
        sys.exit(f"{blend}: no {variant} rows for {label}; run benchmarks/bench_blend.py")
    means = rows.groupby("source", sort=False)[["r2", "coverage_90", "broad_share"]].mean()
    pair = pd.read_csv(paired)
    d = pair[(pair["model"] == label) & (pair["variant"] == variant)].iloc[0]
    return means, d, ", ".join(sorted({str(s) for s in rows["split"]}))


def widening_rows(long: Path, label: str, seeds: list[int]) -> pd.DataFrame:
    """bench_widening.py's per-source means over the split ``seeds`` (fitting or test splits)
    for ``label``: 90 % coverage widened and the widened interval's width over the unwidened
    one."""
    df = pd.read_csv(long)
    df = df[(df["model"] == label) & df["split"].isin(seeds)]
    if df.empty:
        sys.exit(f"{long}: no rows of split seeds {seeds} for {label}; run "
                 "benchmarks/bench_widening.py")  # fmt: skip
    m = df.groupby(["source", "widened"], sort=False)[["coverage_90", "width_90"]].mean()
    wide, plain = m.xs(True, level="widened"), m.xs(False, level="widened")
    return pd.DataFrame(
        {"coverage_90": wide["coverage_90"], "width_ratio": wide["width_90"] / plain["width_90"]}
    )


def blend_table(
    means: pd.DataFrame, d: pd.Series, widened: pd.DataFrame | None = None
) -> list[str]:
    head = "| source | R² study | 90% coverage | mean broad share |"
    rule = "|---|---|---|---|"
    if widened is not None:
        head += " 90% coverage, widened | width, widened / not |"
        rule += "---|---|"
    lines = [head, rule]
    for src, r in means.iterrows():
        line = f"| {src} | {fmt(r['r2'])} | {fmt(r['coverage_90'])} | {fmt(r['broad_share'])} |"
        if widened is not None:
            w = widened.loc[src]
            line += f" {fmt(w['coverage_90'])} | {w['width_ratio']:.2f}x |"
        lines.append(line)
    return [
        *lines,
        "",
        f"In-lab against the recipe (training from scratch), subject by subject over "
        f"{int(d['pairs'])} pairs: Δ R² {d['delta_r2']:+.3f} ({d['delta_r2_lo']:+.3f} to "
        f"{d['delta_r2_hi']:+.3f}, bootstrap 95 % CI).",
    ]


def blend_rule(variant: str, own: tuple[str, ...], broad: tuple[str, ...]) -> str:
    """The card's words for the broad model's share rule ``variant`` (a
    :class:`~gait2hip.inference.calibration.BlendRule` name)."""
    rule = BlendRule.parse(variant)
    lo, hi = rule.lo, rule.hi
    names, needs = (
        {"ood": "OOD", "pace": "pace", "size": "size"},
        {"pace": "its duration", "size": "the body height"},
    )
    if rule.ood_factor != 1.0:
        names["ood"] = (f"OOD (where the body height is known, of its score over "
                        f"{rule.ood_factor:g}: the OOD check counts beyond {rule.ood_factor:g} "
                        "times the warning level's score; without the height, at the warning "
                        "level, as it alone can then tell a child)")  # fmt: skip
    known = [needs[c] for c in rule.checks if c in needs]
    checks = and_join(names[c] for c in rule.checks)
    shift = f"shift percentile (the largest of the cycle's {checks} "
    shift += "percentile" + ("s" if len(rule.checks) > 1 else "")
    if known:
        shift += f", as far as {and_join(known)} {'are' if len(known) > 1 else 'is'} known"
    left = [names[c] for c in SHIFT_CHECKS if c not in rule.checks]
    if left:
        shift += f"; the {and_join(left)} check{'s' if len(left) > 1 else ''} left out of the share"
    shift += ")"
    text = (
        f"the broad model below predicts alone where the {shift} passes the {lo:.0f}th, the "
        "model above alone elsewhere"
        if hi <= lo
        else f"the broad model below takes a share that grows from none at the {lo:.0f}th to "
        f"all at the {hi:.0f}th {shift}; the prediction is the two models' mixture, its "
        "interval holds both and their disagreement"
    )
    if rule.keep_fast:
        fast = (
            "a cycle faster than the training walks (its duration flagged by the pace check on "
            "the fast side, e.g. running)"
            if rule.keep_fast_from >= OOD_WARN_PERCENTILE
            else "a cycle faster than the median training walk (shorter than the training "
            "cycles' median duration: running, also at the pace of fast walkers)"
            if rule.keep_fast_from <= 0
            else f"a cycle shorter than the training cycles' median duration and beyond the "
            f"{rule.keep_fast_from:g}th pace percentile"
        )
        text += (
            f"; {fast} stays with the model above, which takes the duration, unless the size "
            "check flags the body (a child with such cycles whose height is not given and "
            "whose mass does not flag them would stay with it too)"
        )
    missing = [c for c in own if c not in broad]
    if missing:
        text += (
            f"; a cycle without its {', '.join(missing)} (a file without cycle times) is the "
            "broad model's alone, which does not take it"
        )
    return text + "; `predict` writes the share per cycle (`broad_weight_<target>`)"


def blend_section(
    blend: Path,
    paired: Path,
    label: str,
    fresh: list[tuple[Path, Path, str]],
    widening: tuple[float, str, Path] | None = None,
    variant: str = "",
    inputs: tuple[tuple[str, ...], tuple[str, ...]] = ((), ()),
) -> str:
    """The card's account of the blend with the broad model and its rows in the transfer
    sources (benchmarks/bench_blend.py; its shipped variant), on the splits it was chosen
    on and on each of ``fresh`` (long and paired tables, and what the splits test), splits
    trained afterwards; with ``widening`` (beta, where it was fitted, bench_widening.py's long
    table), the widened interval's coverage beside them."""
    variant = variant or BlendRule().name
    means, d, splits = blend_rows(blend, paired, label, variant)
    wide = widening_rows(widening[2], label, _seeds(splits)) if widening else None
    lines = [
        f"- blend (`{variant}`): per cycle, {blend_rule(variant, *inputs)}",
        *(
            [
                f"- widening under shift: the interval's sd is multiplied by 1 + {widening[0]:.3f}"
                " x a ramp of the shift percentile of every check "
                f"(x1 up to the {BLEND_FROM:.0f}th, x{1 + widening[0]:.2f} from the "
                f"{BLEND_TO:.0f}th); {widening[0]:.3f} is the "
                "smallest factor that brings each held-out walking speed to 90 % coverage, "
                f"fitted on {widening[1]} (`benchmarks/bench_widening.py`); `predict` writes "
                "the factor per cycle (`interval_widening_<target>`)"
            ]
            if widening
            else []
        ),
        "",
        f"Transfer (this model and its broad model, blended; mean over split seeds {splits}, "
        "rows seen when it was chosen, so not a test of it; `benchmarks/bench_blend.py`, "
        "docs/transfer_results.md):",
        "",
        *blend_table(means, d, wide),
        "",
    ]
    for long, pairs, role in fresh:
        means, d, splits = blend_rows(long, pairs, label, variant)
        wide = widening_rows(widening[2], label, _seeds(splits)) if widening else None
        lines += [
            f"On split seeds {splits}, trained after the models above ({role}):",
            "",
            *blend_table(means, d, wide),
            "",
        ]
    return "\n".join(lines) + "\n"


def _seeds(splits: str) -> list[int]:
    """The split seeds of :func:`blend_rows`' ``"21, 22"``."""
    return [int(s) for s in splits.split(", ")]


def _anchor_text(cal: dict) -> str:
    """How the card states the interval's between-population part."""
    if not cal.get("anchor"):
        return ""
    within = cal["coverage_all_channels_within_population"][2]
    return (
        f" (the interval adds the disagreement with the study's published model "
        f"`{cal['anchor']}`, x{cal['anchor_factor']:g}, shipped as `{ANCHOR_FILE}`, which "
        f"widens it {cal['interval_width_90'] / cal['interval_width_90_within_population']:.2f}x; "
        f"without it {fmt(within)}; docs/transfer.md, intervals)"
    )


def widening_of(beta_csv: Path, label: str) -> tuple[float, str]:
    """The fitted beta for ``label`` and where it was fitted (bench_widening.py --beta-csv)."""
    df = pd.read_csv(beta_csv)
    row = df[df["model"] == label]
    if row.empty:
        sys.exit(f"{beta_csv}: no beta for {label}; run benchmarks/bench_widening.py")
    return float(row["beta"].iloc[0]), str(row["fitted_on"].iloc[0])


def put_line(card: Path, text: str, target: str, line: str, prefix: str, after) -> str:
    """The ``card``'s ``text`` with ``line`` in ``target``'s section, in place of the lines
    starting with ``prefix`` (a previous run's), inserted after the index ``after(lines)``
    picks among the section's lines."""
    span = section_spans(text).get(target)
    if span is None:
        sys.exit(f"{card}: no section for {target}")
    start, end = span
    lines = [x for x in text[start:end].split("\n") if not x.startswith(prefix)]
    lines.insert(after(lines) + 1, line)
    return text[:start] + "\n".join(lines) + text[end:]


FAR_LINE = "- widening far out:"


def far_widening_line(
    target: str, r0: float, fitted_on: str, long: Path, slope: float = 0.0
) -> str:
    """The card's line for the ``target``'s widening far out (bench_far_widening.py's fit
    and long tables): the rule, where it was fitted and the coverage it gives the running
    rows (a test where they took no part in the fit; where they did, ``fitted_on`` holds the
    test, each speed held out in turn). ``slope``: the widening grows from ``r0`` at that
    rate (0: in proportion to the distance, from ``r0``)."""
    df = pd.read_csv(long)
    run = df[df["source"].str.startswith("hamner") & (df["target"] == target)]
    fitted = run["fitted_on"].astype(bool).any()
    own = df[(df["set"] == "the model") & (df["source"] == "in-lab") & (df["target"] == target)]
    before, after = (own[own["far"].astype(bool) == f].iloc[0] for f in (False, True))
    in_lab = (
        f"; on its held-out test subjects it widens {after['widened']:.0%} of the cycles (90 % "
        f"coverage {before['coverage_90']:.3f} -> {after['coverage_90']:.3f}, mean width "
        f"x{after['width_90'] / before['width_90']:.2f})"
    )
    by = run.groupby(["set", "far"], sort=False)
    lo, hi = by.min().unstack("far"), by.max().unstack("far")

    def between(col: str, s: str, far: bool) -> str:
        return f"{lo.loc[s, (col, far)]:.2f}-{hi.loc[s, (col, far)]:.2f}"

    rows = "; ".join(
        f"{'this model' if s == 'the model' else f'split seeds {s}'} R² "
        f"{between('r2', s, False)}, coverage {between('coverage_90', s, False)} -> "
        f"{between('coverage_90', s, True)}"
        for s in lo.index
    )
    level = "the warning level" if r0 == 1 else f"{r0:g} times the warning level"
    fit = (
        f"beyond {level}'s OOD score the interval's sd is further multiplied by 1 + "
        f"{slope:.3f} x (the cycle's OOD score over the warning level's - {r0:g}) (errors grow "
        f"with the distance, and a cycle within {level} keeps its interval); {slope:.3f} is "
        "the smallest slope that brings each of these to 90 % coverage"
        if slope
        else f"beyond {r0:.3f} times the warning level's OOD score the interval's sd is "
        f"further multiplied by the cycle's OOD score over {r0:.3f} times it (errors grow "
        f"about in proportion to the distance); {r0:.3f} is the largest distance that brings "
        "each of these to 90 % coverage"
    )
    return (
        f"{FAR_LINE} {fit}: {fitted_on} (`benchmarks/bench_far_widening.py`); the "
        f"running speeds, {'which it was fitted on' if fitted else 'which took no part in it'} "
        f"(range over speeds and splits; subject R², 90 % coverage without and with it): {rows}"
        f"{in_lab}"
    )


def ship_far_widening(dest: Path, fit: Path, long: Path) -> None:
    """Set the shipped targets' widening far out (bench_far_widening.py's ``--fit-csv``)
    and put its line in their card sections, after the widening under shift (replacing the
    line a previous run wrote)."""
    card = dest / MODEL_CARD
    text = card.read_text()
    for row in pd.read_csv(fit).itertuples():
        folder = dest / str(row.target)
        if not (folder / CALIBRATION_FILE).is_file():
            sys.exit(f"{fit}: no shipped {row.target} model in {dest}")
        slope = float(getattr(row, "slope", 0.0))
        slope = 0.0 if np.isnan(slope) else slope  # fits from before the slope form
        set_calibration(folder, far_widening=float(row.r0), far_widening_slope=slope,
                        far_widening_source=str(row.fitted_on))  # fmt: skip
        line = far_widening_line(str(row.target), float(row.r0), str(row.fitted_on), long, slope)
        text = put_line(card, text, str(row.target), line, FAR_LINE, after_shift_widening)
    card.write_text(text)


def line_starting(lines: list[str], prefix: str) -> int | None:
    """The index of the first of ``lines`` starting with ``prefix`` (None: none does)."""
    return next((i for i, x in enumerate(lines) if x.startswith(prefix)), None)


def after_shift_widening(lines: list[str]) -> int:
    """The widening under shift's line, else the section's last list line."""
    at = line_starting(lines, "- widening under")
    return max(i for i, x in enumerate(lines) if x.startswith("- ")) if at is None else at


def end_of_first_list(lines: list[str]) -> int:
    """The last line of the section's first list (a broad model's list follows it)."""
    last = next(i for i, x in enumerate(lines) if x.startswith("- "))
    while last + 1 < len(lines) and lines[last + 1].startswith("- "):
        last += 1
    return last


RUNNING_LINE = "- running (outside its validity):"


def running_line(long: pd.DataFrame, target: str, far: bool = False) -> str | None:
    """The card's line for how the shipped ``target`` model does on the bundled running
    (bench_far_widening.py's long table, its ``the model`` rows; with the widening far out
    where the model carries one, ``far``): ranges over the running speeds. None when the
    table has no such rows."""
    every = long[
        (long["set"] == "the model")
        & (long["target"] == target)
        & long["source"].str.startswith("hamner")
    ]
    run, widened = (every[every["far"].astype(bool) == f] for f in (False, True))
    if run.empty:
        return None

    def of(col: str, digits: int = 2, rows: pd.DataFrame = run) -> str:
        return span(rows[col], digits)

    coverage = f"{of('coverage_90')} of the frames"
    if far:
        fitted = "fitted on them" if widened["fitted_on"].astype(bool).any() else "fitted elsewhere"
        coverage = (
            f"{of('coverage_90', rows=widened)} of the frames with the widening far out "
            f"({fitted}; {of('coverage_90')} without)"
        )
    speeds = sorted(float(x.split()[1]) for x in run["source"])
    return (
        f"{RUNNING_LINE} on Hamner's running at {speeds[0]:g}-{speeds[-1]:g} m/s "
        f"({int(run['cycles'].sum())} cycles, knees in the study's convention) this model "
        f"reaches subject-mean R² {of('r2')}, its 90 % interval covers {coverage}, "
        f"and `predict` flags every cycle (OOD AUROC against the in-lab test "
        f"cycles {of('auroc', 3)}; median OOD score {of('ratio_median', 1)} times the warning "
        "level's) (`benchmarks/bench_far_widening.py`, docs/transfer_results.md)"
    )


def ship_running(dest: Path, longs: list[Path]) -> None:
    """Put each shipped target's running line (:func:`running_line`, from bench_far_widening.py's
    long tables) at the end of its card section's list, replacing the line a previous run
    wrote, and drop the running rows of the card's transfer tables: the line measures the
    shipped model itself."""
    card = dest / MODEL_CARD
    text = card.read_text()
    long = pd.concat([pd.read_csv(p) for p in longs], ignore_index=True)
    targets = sorted(set(long["target"]))
    for target in targets:
        far = Calibration.load(dest / target / CALIBRATION_FILE).far_widening > 0
        line = running_line(long, target, far)
        if line is None:
            sys.exit(f"{', '.join(map(str, longs))}: no running rows of a shipped {target} model")
        text = put_line(card, text, target, line, RUNNING_LINE, end_of_first_list)
    card.write_text("\n".join(x for x in text.split("\n") if not x.startswith("| hamner")))


TIMED_COHORT_LINE = "- children with timed trials:"


def timed_cohort_line(folders: list[Path]) -> tuple[str, str]:
    """The target and the card's line for the shipped default on the bundled cohort with its
    cycles' durations assumed, as a timed trial gives them (``gait2hip evaluate-external
    --models default ... --assume-durations D``, its output ``folders``: with and without the
    body heights): the cohort's files have none, so its rows in the card's tables are the
    broad model's alone."""
    runs = []
    for folder in folders:
        meta = json.loads((folder / "results.json").read_text())
        if meta.get("assume_durations") is None:
            sys.exit(f"{folder}: no durations assumed; run evaluate-external --assume-durations")
        z = pd.read_csv(folder / "zero_shot.csv")
        z = z[z["group"] != "healthy held-out"].assign(
            assumed=str(meta["assume_durations"]), heights=meta["body_heights"]
        )
        runs.append((meta["target"], meta["command"], z))
    targets = {t for t, _, _ in runs}
    if len(targets) != 1:
        sys.exit(f"{', '.join(map(str, folders))}: one target's runs, not {sorted(targets)}")
    rows = pd.concat([z for _, _, z in runs], ignore_index=True)

    def part(heights: bool) -> str:
        sub = rows[rows["heights"] == heights]
        if sub.empty:
            return ""
        groups = []
        for g, gr in sub.groupby("group"):
            froude = gr[gr["assumed"] == "froude"]["subject_r2"]
            at = f" ({fmt(froude.iloc[0])} at froude)" if len(froude) else ""
            groups.append(
                f"{g} R² {span(gr['subject_r2'], 2)}{at}, broad share {span(gr['broad_share'], 2)}"
            )
        seconds = sorted(float(a) for a in set(sub["assumed"]) if a != "froude")
        said = ", ".join(f"{x:g}" for x in seconds) + " s" if seconds else ""
        froude_too = "froude" if (sub["assumed"] == "froude").any() else ""
        said = and_join([x for x in (said, froude_too) if x])
        return (
            f"{'with the body heights' if heights else 'with the body masses alone'} "
            f"(durations {said}): {'; '.join(groups)}; 90 % coverage "
            f"{span(sub['coverage_90'], 2)}"
        )

    parts = [p for p in (part(True), part(False)) if p]
    command = runs[0][1] or "gait2hip evaluate-external --models default --assume-durations D"
    return targets.pop(), (
        f"{TIMED_COHORT_LINE} the cohort's files carry no cycle times, so its rows in the "
        "tables below are the broad model's alone; a timed trial gives `predict` its cycles' "
        "durations, and the model above then keeps the children its checks do not hand over. "
        f"With the durations assumed: {'; '.join(parts)} (froude: the median training cycle's "
        f"duration scaled to each child's height; `{command}` and the like; "
        "docs/external_results.md)"
    )


def ship_timed_cohort(dest: Path, folders: list[Path]) -> None:
    """Put the line of :func:`timed_cohort_line` at the end of its target's card list,
    replacing the line a previous run wrote."""
    card = dest / MODEL_CARD
    target, line = timed_cohort_line(folders)
    card.write_text(put_line(card, card.read_text(), target, line, TIMED_COHORT_LINE,
                             end_of_first_list))  # fmt: skip


RULE_CHANGE = "Rule since "
#: How the paragraph of a rule change reads once a later change replaced its rule.
EARLIER_RULE = "Rule before that: "


def rule_change_table(longs: list[Path], label: str, old: str, new: str) -> list[str]:
    """Per source, the means over bench_blend.py's long tables ``longs`` (every split seed in
    them) of the ``old`` and ``new`` variants for ``label``: R², 90 % coverage and broad
    share, old -> new."""
    long = pd.concat([pd.read_csv(p) for p in longs], ignore_index=True)
    rows = long[long["model"] == label]
    found = set(rows["variant"])
    if not {old, new} <= found:
        sys.exit(f"{', '.join(map(str, longs))}: no {old} and {new} rows for {label}; run "
                 "benchmarks/bench_blend.py")  # fmt: skip
    means = rows.groupby(["variant", "source"], sort=False)[
        ["r2", "coverage_90", "broad_share"]
    ].mean()
    seeds = ", ".join(str(s) for s in sorted(set(rows["split"])))
    lines = [
        f"On split seeds {seeds} (`benchmarks/bench_blend.py`, means; 90 % coverage without "
        f"the widening under shift), `{old}` -> `{new}`:",
        "",
        "| source | R² study | 90% coverage | mean broad share |",
        "|---|---|---|---|",
    ]
    for src in dict.fromkeys(rows["source"]):
        a, b = means.loc[(old, src)], means.loc[(new, src)]
        cells = [f"{fmt(a[c])} -> {fmt(b[c])}" for c in ("r2", "coverage_90", "broad_share")]
        if src.startswith("hamner"):  # not a transfer table's running row (ship_running)
            data, speed = src.split(" ", 1)
            src = f"running {speed} ({data})"
        lines.append(f"| {src} | " + " | ".join(cells) + " |")
    return lines


def ship_blend_rule(dest: Path, new: str, old: str, longs: list[Path], why: str) -> None:
    """Set the share rule of the shipped target that has a broad model to ``new`` (replacing
    ``old``), rewrite its card's blend line and put before its blend tables a paragraph
    comparing the two rules on bench_blend.py's long tables ``longs``. A paragraph of an
    earlier change to ``old`` stays below it (it names the rule the tables were measured
    under); one that set ``new`` is replaced (a run repeated)."""
    card = dest / MODEL_CARD
    targets = [f.name for f in sorted(dest.iterdir()) if (f / BROAD_DIR / "final.pt").is_file()]
    if len(targets) != 1:
        sys.exit(f"{dest}: {len(targets)} shipped targets with a broad model; expected one")
    target = targets[0]
    folder = dest / target
    own, broad = (
        TrainedModel.load(folder / "final.pt"),
        TrainedModel.load(folder / BROAD_DIR / "final.pt"),
    )
    rule = BlendRule.parse(new)
    text = card.read_text()
    line = f"- blend (`{new}`): per cycle, {blend_rule(new, own.in_cols, broad.in_cols)}"
    text = put_line(card, text, target, line, "- blend (", after_shift_widening_or_blend)
    start, end = section_spans(text)[target]
    section = text[start:end]
    label = section.split(": ", 1)[1].split(" ", 1)[0]  # "## <target>: <label> (...": its units'
    table = rule_change_table(longs, label, old, new)  # refuses before anything is written
    mine = f"{RULE_CHANGE}`{new}` "
    if mine in section:  # this change's paragraph and table, from a previous run
        i = section.index(mine)
        nxt = [section.find(m, i) for m in ("\n" + EARLIER_RULE, "\nTransfer (")]
        j = min(k for k in nxt if k >= 0)
        section = section[:i] + section[j + 1 :]
    earlier = f"{RULE_CHANGE}`{old}` "
    if earlier in section:  # the change to the rule replaced now: kept, below this one
        section = section.replace(earlier, f"{EARLIER_RULE}`{old}` ", 1)
    if f"{EARLIER_RULE}`{old}` " in section:
        measured = f", which replaced `{old}` (below)"
    else:
        measured = f"; the tables below were measured under `{old}`, which it replaced"
    faster = (
        "faster than the training walks"
        if rule.keep_fast_from >= OOD_WARN_PERCENTILE
        else "faster than the median training walk"
    )
    paragraph = [
        f"{RULE_CHANGE}`{new}` ({why}){measured}. The two differ only on cycles {faster} "
        "(never the cohort's, which have no cycle times).",
        "",
        *table,
        "",
        "",
    ]
    at = [section.find(m) for m in (EARLIER_RULE, "Transfer (")]
    k = min(i for i in at if i >= 0)
    section = section[:k] + "\n".join(paragraph) + section[k:]
    set_calibration(folder, blend=rule)
    card.write_text(text[:start] + section + text[end:])


def after_shift_widening_or_blend(lines: list[str]) -> int:
    """Where the blend line goes: before the widening under shift's line (it follows the
    blend's), else after the section's first list."""
    at = line_starting(lines, "- widening under")
    return end_of_first_list(lines) if at is None else at - 1


MASS_LINE = "- body mass:"


def mass_line(cal: dict) -> str:
    """The card's line on the training subjects' body masses (from a calibration's summary;
    "" without them)."""
    if not cal.get("training_masses_kg"):
        return ""
    lo, hi = cal["training_masses_kg"]
    return (
        f"{MASS_LINE} its training subjects weighed {lo:.1f}-{hi:.1f} kg; without a height, "
        "`predict` flags a body lighter than theirs (a child, most likely) as the size check "
        "does (the mass never scales the moments)"
    )


def after_body_height(lines: list[str]) -> int:
    """The body height's line, else the section's first list's last line."""
    at = line_starting(lines, "- body height:")
    return end_of_first_list(lines) if at is None else at


def ship_training_masses(dest: Path, data: Path) -> None:
    """Set the training subjects' body masses in every shipped calibration (the size check's
    stand-in where a subject's height is not given): the masses of the cycles of the dataset
    its final model names (in the folder ``data``) whose subjects it did not hold out for
    testing; refused unless their heights are the calibration's own. Each target's card
    section gets its line (:func:`mass_line`) after the body height's. Every calibration is
    checked before any is written."""
    card = dest / MODEL_CARD
    masses = {}
    for path in sorted(dest.glob(f"**/{CALIBRATION_FILE}")):
        meta = TrainedModel.load(path.parent / "final.pt").meta
        ds = read_npz(data / meta["dataset"], expected_in_cols=None)
        pool = ~np.isin(ds.subject_id, meta["test_subjects"])
        if not np.allclose(np.sort(ds.height_m[pool]), Calibration.load(path).heights):
            sys.exit(
                f"{path.parent}: the pool of {data / meta['dataset']} is not its training data"
            )
        masses[path.parent] = np.sort(ds.weight_kg[pool])
    text = card.read_text()
    for folder, kg in masses.items():
        set_calibration(folder, masses=kg)
        if folder.parent == dest:  # a target's own model (not its broad model)
            line = mass_line(json.loads((folder / "calibration.json").read_text()))
            text = put_line(card, text, folder.name, line, MASS_LINE, after_body_height)
    card.write_text(text)


LOWPASS_LINE = "- output low-pass:"


def lowpass_line(target: str, harmonics: float, changed: list[str], long: Path, unit: str) -> str:
    """The card's line for the ``target``'s output low-pass at ``harmonics`` (the models it
    was set on, ``changed``), from bench_roughness.py's ``--model-csv`` ``long``: its rows
    with and without it (the curves in ``unit``)."""
    rows = pd.read_csv(long)
    rows = rows[rows["target"] == target]
    off, on = (rows[np.isclose(rows["output low-pass"], h)] for h in (0.0, harmonics))
    if off.empty or on.empty:
        sys.exit(f"{long}: no {target} rows with output low-pass 0 and {harmonics:g}")

    def arrow(col: str, source, digits: int = 3) -> str:
        a, b = (r.loc[source(r["source"]), col] for r in (off, on))
        return f"{span(a, digits)} -> {span(b, digits)}"

    lab = lambda s: s == "in-lab"  # noqa: E731
    running = lambda s: s.str.startswith("hamner")  # noqa: E731
    text = (
        f"{LOWPASS_LINE} {and_join(changed)} low-passed along the cycle at {harmonics:g} cycles "
        "per gait cycle (a zero-phase Butterworth, gait2hip.models.heads.FrameLowpass; set "
        "after training: a Transformer's learned per-frame positions give its curves a "
        "frame-to-frame jitter no label has; docs/predict_results.md); on its held-out test "
        "subjects (without -> with it) the roughness of the predicted curves (mean absolute "
        f"second difference, {unit} per frame) {arrow('roughness mean', lab)}, of the "
        f"interval's sd {arrow('roughness sd', lab)}, subject-mean R² {arrow('r2', lab)}, 90 % "
        f"coverage {arrow('coverage_90', lab)}"
    )
    if running(rows["source"]).any():
        text += (
            f"; on running (range over speeds) roughness {arrow('roughness mean', running)}, "
            f"R² {arrow('r2', running)}, 90 % coverage {arrow('coverage_90', running)}"
        )
    return text + (
        " (`benchmarks/bench_roughness.py`); the card's other figures were measured without it"
    )


def role_words(role: Path, name: str) -> str:
    """The card's words for a shipped checkpoint of architecture ``name`` at ``role`` (its
    path in the target's folder, no suffix)."""
    if role.parts[0] == BROAD_DIR:
        return "its broad model's " + role_words(Path(*role.parts[1:]), name).removeprefix("its ")
    if role.parts[0] == MEMBERS_DIR:
        return f"its {name} member"
    if role.name == ANCHOR_FILE.removesuffix(".pt"):
        return f"its anchor (the study's published {name}, whose disagreement is in the interval)"
    return f"its final model ({name})"


def after_weights(lines: list[str]) -> int:
    """The section's first ``- weights:`` line (its own model's, not its broad model's)."""
    return line_starting(lines, "- weights:") or end_of_first_list(lines)


def ship_output_lowpass(dest: Path, harmonics: float, long: Path) -> None:
    """Low-pass every shipped model that can be (:meth:`TrainedModel.with_output_lowpass`:
    final, members, anchor and broad model alike, as
    :meth:`~gait2hip.inference.predictor.Predictor.with_output_lowpass` does) at
    ``harmonics`` cycles per gait cycle, and put each changed target's line in its card
    section after its weights (replacing the line a previous run wrote)."""
    card = dest / MODEL_CARD
    text = card.read_text()
    for folder in sorted(p.parent for p in dest.glob(f"*/{CALIBRATION_FILE}")):
        changed = []
        for path in sorted(folder.glob("**/*.pt")):
            model = TrainedModel.load(path)
            if model.output_lowpass is None:
                continue
            model.with_output_lowpass(harmonics).save(path)
            changed.append(role_words(path.relative_to(folder).with_suffix(""), model.name))
        if changed:
            unit = get_target(TrainedModel.load(folder / "final.pt").target).train_unit
            line = lowpass_line(folder.name, harmonics, changed, long, unit)
            text = put_line(card, text, folder.name, line, LOWPASS_LINE, after_weights)
    card.write_text(text)


def set_calibration(folder: Path, **fields) -> None:
    """Set fields of the shipped calibration (calibration.npz and .json): its widening under
    shift, its blend rule."""
    cal = dataclasses.replace(Calibration.load(folder / CALIBRATION_FILE), **fields)
    cal.save(folder / CALIBRATION_FILE)
    write_json(folder / "calibration.json", cal.summary())


def ship_unit(unit: Path, folder: Path, same_anchor: str = "") -> Calibration:
    """Copy the unit's final model and calibration into ``folder`` with the anchor its
    interval compares with (unless it is ``same_anchor``, shipped beside it one level up)."""
    final = TrainedModel.load(unit / "final.pt")
    folder.mkdir(parents=True)
    for name in FILES:
        shutil.copyfile(unit / name, folder / name)
    if (unit / MEMBERS_DIR).is_dir():  # the other architectures it averages
        shutil.copytree(unit / MEMBERS_DIR, folder / MEMBERS_DIR)
    cal = Calibration.load(unit / CALIBRATION_FILE)
    if cal.anchor and cal.anchor != same_anchor:  # the model it compares with travels with it
        anchor = load_anchor(cal.anchor, cal.anchor_factor, final.target, unit)
        anchor = low_passed_as(anchor, [final, *members_of(unit)])  # as calibrated
        if anchor is None:
            sys.exit(f"{unit}: its anchor {cal.anchor} is not in $GAIT2HIP_DATA")
        anchor.model.save(folder / ANCHOR_FILE)
    # the shipped checkpoint names its training data by file name, not this machine's path
    for path in [folder / "final.pt", *sorted(folder.glob(f"{MEMBERS_DIR}/*.pt"))]:
        shipped = TrainedModel.load(path)
        shipped.meta["dataset"] = Path(shipped.meta["dataset"]).name
        shipped.save(path)
    return cal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--unit", type=Path, action="append", default=[], help="unit folder, one per target"
    )
    parser.add_argument(
        "--transfer", type=Path, action="append", default=[], help="gait2hip transfer folder(s)"
    )
    parser.add_argument(
        "--broad", type=Path, action="append", default=[], help="broad unit of a --unit's target"
    )
    parser.add_argument("--blend", type=Path, help="bench_blend.py's long table (with --broad)")
    parser.add_argument("--blend-paired", type=Path, help="and its in-lab pairing table")

    parser.add_argument(
        "--blend-fresh",
        nargs=3,
        action="append",
        default=[],
        metavar=("LONG", "PAIRED", "ROLE"),
        help="bench_blend.py's tables on splits trained later, and what they test (words for "
        "the card); repeat for several",
    )
    parser.add_argument(
        "--blend-variant",
        default=BlendRule().name,
        help="the broad model's share rule (bench_blend.py's variant: rampLO-HI or stepP, "
        "optionally /CHECK+CHECK)",
    )
    parser.add_argument(
        "--widening",
        type=Path,
        nargs=2,
        metavar=("BETA", "LONG"),
        help="bench_widening.py's --beta-csv and --csv: widen the blended target's interval",
    )
    parser.add_argument(
        "--far-widening",
        type=Path,
        nargs=2,
        metavar=("FIT", "LONG"),
        help="bench_far_widening.py's --fit-csv and --csv: widen those targets' intervals far "
        "out; without --unit, in the shipped default as it is",
    )
    parser.add_argument(
        "--running",
        type=Path,
        nargs="+",
        metavar="LONG",
        help="bench_far_widening.py's --csv of the shipped models (one per target): their "
        "running line in the card, instead of running rows in its tables; without --unit, in "
        "the shipped default as it is",
    )
    parser.add_argument(
        "--timed-cohort",
        type=Path,
        nargs="+",
        metavar="FOLDER",
        help="without --unit: `gait2hip evaluate-external --models default ... "
        "--assume-durations D` output folders: the card's line on the cohort as timed trials",
    )
    parser.add_argument(
        "--training-masses",
        type=Path,
        metavar="DATA",
        help="without --unit: set every shipped calibration's training body masses from the "
        "datasets in folder DATA (the one its model names)",
    )
    parser.add_argument(
        "--blend-rule",
        nargs=2,
        metavar=("NEW", "OLD"),
        help="without --unit: set the shipped broad model's share rule to NEW (a BlendRule "
        "name), replacing OLD, compared in the card on --blend-rows' tables",
    )
    parser.add_argument(
        "--blend-rows",
        type=Path,
        nargs="+",
        default=[],
        metavar="LONG",
        help="bench_blend.py's long tables holding both rules' rows (with --blend-rule)",
    )
    parser.add_argument("--blend-why", default="", help="why the rule changed (words for the card)")
    parser.add_argument(
        "--output-lowpass",
        nargs=2,
        metavar=("HARMONICS", "LONG"),
        help="without --unit: low-pass every shipped model that can be along the cycle at "
        "HARMONICS cycles per gait cycle; its card line from bench_roughness.py's --model-csv",
    )
    parser.add_argument("--command", default="", help="the command that trained the units")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the shipped models of the targets without a --unit, with their card "
        "sections and training commands",
    )
    parser.add_argument("--dest", type=Path, default=default_model_dir(), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.unit:
        alone = (args.far_widening, args.running, args.blend_rule, args.training_masses,
                 args.output_lowpass, args.timed_cohort)  # fmt: skip
        if not any(alone):
            parser.error(
                "give --unit (one per target), or --far-widening, --running, --blend-rule, "
                "--training-masses, --output-lowpass or --timed-cohort alone"
            )
        if args.training_masses:
            ship_training_masses(args.dest, args.training_masses)
            print(f"set the training masses in {args.dest}")
        if args.blend_rule:
            if not (args.blend_rows and args.blend_why):
                parser.error("--blend-rule needs --blend-rows and --blend-why")
            ship_blend_rule(args.dest, *args.blend_rule, args.blend_rows, args.blend_why)
            print(f"set the blend rule {args.blend_rule[0]} in {args.dest}")
        if args.far_widening:
            ship_far_widening(args.dest, *args.far_widening)
            print(f"set the widening far out in {args.dest}")
        if args.running:
            ship_running(args.dest, args.running)
            print(f"set the running lines in {args.dest / MODEL_CARD}")
        if args.timed_cohort:
            ship_timed_cohort(args.dest, args.timed_cohort)
            print(f"set the timed cohort's line in {args.dest / MODEL_CARD}")
        if args.output_lowpass:
            harmonics, long = float(args.output_lowpass[0]), Path(args.output_lowpass[1])
            ship_output_lowpass(args.dest, harmonics, long)
            print(f"set the output low-pass at {harmonics:g} in {args.dest}")
        return
    tables = [pd.read_csv(t / "transfer_table.csv") for t in args.transfer]
    dest = args.dest
    dest.mkdir(parents=True, exist_ok=True)
    shipped = [unit_name(TrainedModel.load(u / "final.pt")) for u in args.unit]
    kept = kept_sections(dest / MODEL_CARD, shipped) if args.keep else {}
    order = [m.group(1) for m in SECTION.finditer((dest / MODEL_CARD).read_text())] if kept else []
    if not args.keep:
        for old in dest.glob("LICENSE-*"):
            old.unlink()
    broad = {TrainedModel.load(b / "final.pt").target: b for b in args.broad}
    if broad and not (args.blend and args.blend_paired):
        sys.exit("--broad needs --blend and --blend-paired (benchmarks/bench_blend.py's tables)")
    sections = []
    for unit in args.unit:
        final = TrainedModel.load(unit / "final.pt")
        folder = dest / unit_name(final)
        if folder.exists():
            shutil.rmtree(folder)
        cal = ship_unit(unit, folder)
        # the transfer table of this unit's target (its per-channel R² columns)
        transfer = next((t for t in tables if f"r2_{final.out_cols[0]}" in t), None)
        other = broad.pop(final.target, None)
        if other is None:
            sections.append(card_section(unit, final, transfer))
        else:
            broad_cal = ship_unit(other, folder / BROAD_DIR, same_anchor=cal.anchor)
            heading = f"### its broad model (`{BROAD_DIR}/`),"
            label = unit.parent.name
            fields: dict = {"blend": BlendRule.parse(args.blend_variant)}
            widening = None
            if args.widening:
                beta, fitted_on = widening_of(args.widening[0], label)
                fields |= {"shift_widening": beta, "shift_widening_source": fitted_on}
                widening = (beta, fitted_on, args.widening[1])
            set_calibration(folder, **fields)
            broad_final = TrainedModel.load(other / "final.pt")
            inputs = (final.in_cols, broad_final.in_cols)
            sections.append(
                card_section(unit, final, None)
                + blend_section(
                    args.blend,
                    args.blend_paired,
                    label,
                    args.blend_fresh,
                    widening,
                    args.blend_variant,
                    inputs,
                )
                + card_section(other, broad_final, None, heading)
            )
            cal = broad_cal if broad_cal.anchor else cal
        if final.meta.get("init") == PUBLISHED or cal.anchor.startswith(PUBLISHED):
            # the study's weights are MIT: their copyright notice travels with them
            shutil.copyfile(published_dir() / "LICENSE", dest / "LICENSE-gait2hip60")
    if broad:
        sys.exit(f"--broad unit(s) of {sorted(broad)} without a --unit of that target")
    trained = {t: text for t, (text, _) in kept.items()}
    if args.command:
        trained[", ".join(shipped)] = args.command
    # the targets in the order the card had them (a kept card's), new ones after
    rank = {t: i for i, t in enumerate(order)}

    def first(names: str) -> int:
        return rank.get(names.split(", ")[0], len(rank))

    trained = {t: trained[t] for t in sorted(trained, key=first)}
    by_target = {t: section for t, (_, section) in kept.items()}
    by_target |= dict(zip(shipped, sections, strict=True))
    sections = [by_target[t] for t in sorted(by_target, key=first)]
    text = (
        "# gait2hip's default model\n\n"
        "What `gait2hip predict` uses when no `--model` is given. Written by "
        "`scripts/ship_default_model.py` from the units below; every number is read from "
        "their run folders.\n\n"
        + (
            "Trained by:\n\n" + "".join(f"- {t}: {c}\n" for t, c in trained.items()) + "\n"
            if trained
            else ""
        )
        + "Chosen by docs/transfer_results.md (the highest subject-mean R² over the transfer "
        "table's walking and cohort sources, among its profiles, averages of architectures and "
        "the blends of a fine-tuned with its averaged model; running tests its intervals and OOD "
        "score only).\n\n" + "\n".join(sections)
    )
    (dest / MODEL_CARD).write_text(text)
    if args.far_widening:
        ship_far_widening(dest, *args.far_widening)
    if args.running:
        ship_running(dest, args.running)
    print(f"shipped {len(args.unit)} unit(s) to {dest}")


if __name__ == "__main__":
    main()
