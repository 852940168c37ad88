"""``gait2hip evaluate-external``: zero-shot tables, domain shift, the few-shot learning curve
and their figures for one cohort, written to one output folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gait2hip.conventions import get_target, input_set_name
from gait2hip.data.cohort import Cohort
from gait2hip.external.evaluate import HEALTHY, EvalUnit, domain_shift_table, find_units, zero_shot
from gait2hip.external.few_shot import FewShotConfig, few_shot, first_k_beating, learning_curve
from gait2hip.io.atomic import atomic_path, write_json, write_text
from gait2hip.report.figures import plot_curves, plot_learning_curve, plot_ood_vs_error
from gait2hip.report.summary import fmt, markdown_table

#: The study's zero-shot result on its patients (SPEC), for the summary's context.
STUDY_ZERO_SHOT = (
    "Transformer on 9 ONFH patients: moments RMSE 0.17 Nm/kg, R² 0.569; forces R² 0.537"
)


def _first_per_model(units: list[EvalUnit]) -> list[EvalUnit]:
    seen: dict[str, EvalUnit] = {}
    for u in units:
        seen.setdefault(u.label, u)
    return list(seen.values())


def _write_csv(path: Path, df: pd.DataFrame) -> Path:
    return write_text(path, df.to_csv(index=False))


def _ci(row, k: str) -> str:
    return f"{fmt(row[k])} ({fmt(row[f'{k}_ci_lo'])}–{fmt(row[f'{k}_ci_hi'])})"


def evaluate_external(
    models: str | Path | Sequence[str | Path],
    cohort: Cohort,
    out_dir: str | Path,
    *,
    target: str = "moments",
    healthy: bool = True,
    healthy_data: str | Path | None = None,
    few_shot_cfg: FewShotConfig | None = None,
    n_boot: int = 2000,
    command: str = "",
    show_progress: bool = True,
) -> Path:
    """Evaluate every trained ``target`` model under ``models`` on ``cohort``, and every joint
    model on its ``target`` outputs (few-shot too when ``few_shot_cfg`` is given); returns the
    path of ``summary.md`` in ``out_dir`` (see docs/external.md for every file)."""
    out_dir = Path(out_dir)
    tgt = get_target(target)
    cohort.reference(target)  # refuse early when the cohort has no reference for the target
    if few_shot_cfg is not None:
        few_shot_cfg.check(cohort)
    units = find_units(models, target)
    zs = zero_shot(units, cohort, healthy=healthy, healthy_data=healthy_data, n_boot=n_boot)
    shift = domain_shift_table(zs.cycles, zs.ood_reference)
    _write_csv(out_dir / "zero_shot.csv", zs.summary)
    _write_csv(out_dir / "zero_shot_per_channel.csv", zs.per_channel)
    _write_csv(out_dir / "zero_shot_per_subject.csv", zs.per_subject)
    _write_csv(out_dir / "cycles.csv", zs.cycles)
    _write_csv(out_dir / "domain_shift.csv", shift)
    ref = cohort.reference(target)
    for unit in units:
        with atomic_path(out_dir / "predictions" / f"{unit.key}.npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                y_pred=zs.predictions[unit.key],
                y_true=ref,
                subject=cohort.subject,
                group=cohort.group,
                out_cols=np.array(tgt.cols),
            )
    figs = out_dir / "figures"
    for unit in _first_per_model(units):
        for g in cohort.groups:
            m = cohort.group == g
            plot_curves(
                ref[m],
                zs.predictions[unit.key][m],
                list(tgt.cols),
                tgt.train_unit,
                f"{unit.label} zero-shot on {cohort.name} {g} ({len(cohort.subjects(g))} "
                f"subjects, {int(m.sum())} cycles): mean ± sd",
                figs / f"zero_shot_{unit.label}_{g}.png",
            )
    if "ood_score" in zs.cycles:
        thresholds = {
            u.label: u.predictor.calibration.ood_threshold
            for u in _first_per_model(units)
            if u.predictor.calibration is not None
        }
        first = {(u.label, u.split_seed, u.seed) for u in _first_per_model(units)}
        keep = [tuple(r) in first for r in zs.cycles[["model", "split_seed", "seed"]].to_numpy()]
        plot_ood_vs_error(
            zs.cycles[keep].dropna(subset=["ood_score"]),
            thresholds,
            tgt.train_unit,
            figs / "domain_shift.png",
        )

    curve = first_k = pd.DataFrame()
    if few_shot_cfg is not None:
        adapt_units = _first_per_model(units)
        progress = Progress(
            TextColumn("[bold]few-shot[/bold] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            disable=not show_progress,
        )
        with progress:
            task = progress.add_task("", total=few_shot_cfg.n_fits(cohort, len(adapt_units)))

            def on_fit(what: str) -> None:
                progress.update(task, advance=1, description=what)

            draws = few_shot(adapt_units, cohort, zs.predictions, few_shot_cfg, on_fit)
        curve = learning_curve(draws)
        first_k = first_k_beating(curve)
        _write_csv(out_dir / "few_shot_draws.csv", draws)
        _write_csv(out_dir / "few_shot.csv", curve)
        _write_csv(out_dir / "few_shot_first_k.csv", first_k)
        for g in curve["group"].unique() if len(curve) else []:
            plot_learning_curve(curve, g, tgt.train_unit, figs / f"few_shot_{g}.png")

    write_json(
        out_dir / "results.json",
        {
            "cohort": cohort.describe(),
            "models": [u.key for u in units],
            "zero_shot": zs.summary.to_dict(orient="records"),
            "domain_shift": shift.to_dict(orient="records"),
            "few_shot_config": few_shot_cfg.to_dict() if few_shot_cfg else None,
            "few_shot": curve.to_dict(orient="records"),
            "few_shot_first_k": first_k.to_dict(orient="records"),
            "notes": zs.notes,
        },
    )
    text = _summary_markdown(cohort, units, zs, shift, curve, first_k, few_shot_cfg, tgt, command)
    return write_text(out_dir / "summary.md", text)


def _summary_markdown(cohort, units, zs, shift, curve, first_k, fcfg, tgt, command) -> str:
    u = tgt.train_unit
    z = zs.summary
    zero = pd.DataFrame(
        {
            "model": z["model"] + " s" + z["split_seed"].astype(str) + "/" + z["seed"].astype(str),
            "group": z["group"],
            "subjects": z["n_subjects"],
            "cycles": z["n_cycles"],
            f"RMSE ({u}) (95% CI)": [_ci(r, "subject_rmse") for _, r in z.iterrows()],
            "MAE": z["subject_mae"],
            "R² study (95% CI)": [_ci(r, "subject_r2") for _, r in z.iterrows()],
            "pooled R²": z["pooled_r2"],
            **{f"R² {c}": z[f"r2_{c}"] for c in tgt.cols},
            "90% interval coverage": z["coverage_90"],
            "within-population interval": z["coverage_90_within"],
        }
    )
    inputs = sorted({input_set_name(x.predictor.in_cols) for x in units})
    lines = [
        f"# gait2hip zero-/few-shot evaluation on {cohort.name}",
        "",
        f"- cohort: {cohort.describe()} (`{cohort.source}`)",
        f"- models ({len(units)} units, inputs {', '.join(inputs)}): "
        + ", ".join(f"`{x.predictor.source}`" for x in units),
        f"- command: `{command}`",
        "- cycles are resampled (linear in phase, both ends kept) to each model's frame count "
        "for prediction, and predictions back to the cohort's frames, so metrics use the "
        "cohort's own reference samples",
        "",
        f"## Zero-shot ({u}; `{HEALTHY}` = the model's own healthy test subjects)",
        "",
        "Subject-mean metrics as the study defines them, 95% CI by bootstrap over subjects; "
        "pooled R² and per-channel R² (each channel around its own mean) are stricter. "
        f"Study, for context: {STUDY_ZERO_SHOT}.",
        "",
        markdown_table(zero),
        "",
    ]
    if not shift.empty:
        lines += [
            "## Domain shift",
            "",
            "OOD score of each cycle's angle curves (Mahalanobis distance from the training "
            "cycles), its percentile among unseen healthy cycles, the share of cycles above "
            "the 95th percentile (flagged by `gait2hip predict`), the Spearman correlation "
            "of the score with the cycle's RMSE, and the score's AUROC for telling the group's "
            "cycles from unseen cycles of the model's training population (its calibration's "
            "out-of-fold reference; 0.5: no separation, 1: complete).",
            "",
            markdown_table(
                shift.drop(columns=["split_seed", "seed"]).rename(
                    columns={
                        "ood_percentile_median": "pct_median",
                        "auroc_vs_unseen_healthy": "AUROC",
                    }
                )
            ),
            "",
        ]
    if not curve.empty:
        piv = curve[curve["method"] != "zero-shot"].copy()
        zs_rmse = curve[curve["method"] == "zero-shot"].set_index(["model", "group", "k"])["rmse"]
        at = list(zip(piv["model"], piv["group"], piv["k"], strict=True))
        table = pd.DataFrame(
            {
                "model": piv["model"],
                "group": piv["group"],
                "k": piv["k"],
                "draws": piv["n_draws"],
                "method": piv["method"],
                "zero-shot RMSE": zs_rmse.loc[at].to_numpy(),
                f"RMSE ({u}) (95% CI)": [_ci(r, "rmse") for _, r in piv.iterrows()],
                "R² (95% CI)": [_ci(r, "r2") for _, r in piv.iterrows()],
                "Δ RMSE vs zero-shot (95% CI)": [
                    _ci(r, "rmse_vs_zero_shot") for _, r in piv.iterrows()
                ],
                "beats zero-shot": piv["beats_zero_shot"].map({True: "yes", False: "no"}),
                "Δ RMSE vs scratch (95% CI)": [
                    _ci(r, "rmse_vs_scratch") if r["method"] != "scratch" else "—"
                    for _, r in piv.iterrows()
                ],
                "beats scratch": [
                    ("yes" if r["beats_scratch"] else "no") if r["method"] != "scratch" else "—"
                    for _, r in piv.iterrows()
                ],
            }
        )
        lines += [
            "## Few-shot adaptation",
            "",
            f"Per draw, k subjects of the group adapt the model and the group's other subjects "
            f"test it (whole subjects, no subject on both sides); {fcfg.draws} draws per k "
            "(fewer where the subjects allow fewer), the same draws for every model. Fine-tune: "
            f"the healthy model, {fcfg.finetune_epochs} epochs at lr {fcfg.finetune_lr:g}; "
            f"scratch: same architecture freshly initialised, {fcfg.scratch_epochs} epochs at "
            f"lr {fcfg.scratch_lr:g}. Mean over draws with a 95% t-interval (draws share "
            "subjects, so the intervals are approximate); Δ is paired on the same test "
            "subjects; `beats` = the Δ interval lies below 0. Only the first unit of each "
            "model adapts.",
            "",
            markdown_table(table),
            "",
            "First k at which each method beats zero-shot (`none`: at no k tried):",
            "",
            markdown_table(first_k.astype(object).fillna("none")),
            "",
        ]
    if zs.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in zs.notes] + [""]
    lines += [
        "Files: `zero_shot.csv`, `zero_shot_per_channel.csv`, `zero_shot_per_subject.csv`, "
        "`cycles.csv` (per-cycle RMSE and OOD score), `domain_shift.csv`, `few_shot_draws.csv`, "
        "`few_shot.csv`, `few_shot_first_k.csv`, `results.json`, `predictions/`, `figures/`.",
        "",
    ]
    return "\n".join(lines)
