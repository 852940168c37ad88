"""``gait2hip evaluate-external``: zero-shot tables, domain shift, the few-shot learning curve
and their figures for one cohort, written to one output folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from gait2hip.conventions import get_target
from gait2hip.data.cohort import Cohort
from gait2hip.external.evaluate import EvalUnit, domain_shift_table, find_units, zero_shot
from gait2hip.external.few_shot import FewShotConfig, few_shot, first_k_beating, learning_curve
from gait2hip.io.atomic import atomic_path, write_json, write_text
from gait2hip.report.external import summary_markdown
from gait2hip.report.figures import plot_curves, plot_learning_curve, plot_ood_vs_error


def _first_per_model(units: list[EvalUnit]) -> list[EvalUnit]:
    seen: dict[str, EvalUnit] = {}
    for u in units:
        seen.setdefault(u.label, u)
    return list(seen.values())


def _write_csv(path: Path, df: pd.DataFrame) -> Path:
    return write_text(path, df.to_csv(index=False))


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
    assume_durations: str | float | None = None,
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
    zs = zero_shot(
        units,
        cohort,
        healthy=healthy,
        healthy_data=healthy_data,
        n_boot=n_boot,
        assume_durations=assume_durations,
    )
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
            TextColumn("left ~"),
            TimeRemainingColumn(),  # from the fits so far: the k = 8 fits are the slow ones
            disable=not show_progress,
        )
        n_fits = few_shot_cfg.n_fits(cohort, len(adapt_units))
        with progress:
            if show_progress:
                progress.console.print(
                    f"few-shot: {n_fits} fits ({len(adapt_units)} models x groups x k x "
                    f"{few_shot_cfg.draws} draws x fine-tune and scratch); --no-few-shot skips "
                    "them, --draws and --k make fewer",
                    markup=False,
                )
            task = progress.add_task("", total=n_fits)

            def on_fit(what: str) -> None:
                progress.update(task, advance=1, description=what)

            draws = few_shot(
                adapt_units, cohort, zs.predictions, few_shot_cfg, on_fit, assume_durations
            )
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
            "command": command,
            "target": target,
            # what cycles without their duration were given (None: nothing assumed)
            "assume_durations": assume_durations,
            "body_heights": bool(np.isfinite(cohort.height_m).any()),
            "models": [u.key for u in units],
            "zero_shot": zs.summary.to_dict(orient="records"),
            "domain_shift": shift.to_dict(orient="records"),
            "few_shot_config": few_shot_cfg.to_dict() if few_shot_cfg else None,
            "few_shot": curve.to_dict(orient="records"),
            "few_shot_first_k": first_k.to_dict(orient="records"),
            "notes": zs.notes,
        },
    )
    text = summary_markdown(cohort, units, zs, shift, curve, first_k, few_shot_cfg, tgt, command)
    return write_text(out_dir / "summary.md", text)
