"""The external-cohort evaluation's report: zero-shot, domain-shift and few-shot tables."""

from __future__ import annotations

import pandas as pd

from gait2hip.conventions import input_set_name
from gait2hip.external.evaluate import HEALTHY
from gait2hip.report.summary import fmt, markdown_table

#: The study's zero-shot result on its patients (SPEC), for the summary's context.
STUDY_ZERO_SHOT = (
    "Transformer on 9 ONFH patients: moments RMSE 0.17 Nm/kg, R² 0.569; forces R² 0.537"
)


def _ci(row, k: str) -> str:
    return f"{fmt(row[k])} ({fmt(row[f'{k}_ci_lo'])}–{fmt(row[f'{k}_ci_hi'])})"


def summary_markdown(cohort, units, zs, shift, curve, first_k, fcfg, tgt, command) -> str:
    """``summary.md`` of ``gait2hip evaluate-external`` (:mod:`gait2hip.pipelines.external`)."""
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
            **({"broad share": z["broad_share"]} if z["broad_share"].notna().any() else {}),
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
