"""``gait2hip demo``: the main job on the bundled data, end to end.

Builds the bundled walking dataset (Schreiber 2019, OpenSim labels, cached), runs the quick
benchmark of LSTM, Transformer, Mamba and the phase-linear baseline on forces and moments,
and the phase-linear model of the angles and the inverse-dynamics hip moments on forces, and
predicts the trial of a subject the models never saw, as a user would: from its angles, then
with its inverse dynamics. Demo runs left by other data or settings are moved aside
(``<out>.previous-N``), never deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gait2hip import settings
from gait2hip.conventions import get_target

ARCHITECTURES = ["lstm", "transformer", "mamba", "phaselinear"]
PROFILE = "quick"
#: the forces model of the angles and the trial's inverse dynamics (run folder ``forces-id``)
ID_RUN, ID_ARCHITECTURES, ID_INPUTS = "forces-id", ["phaselinear"], "all,hip_moments"


@dataclass
class DemoResult:
    """What a demo wrote: one run folder per target, their reports and the prediction."""

    out: Path
    summaries: dict[str, Path] = field(default_factory=dict)  # target -> summary.md
    moved: Path | None = None  # where older demo runs were moved
    prediction: Any = None  # gait2hip.inference.result.Prediction (real data only)
    prediction_id: Any = None  # the same trial with its inverse dynamics
    written: list[Path] = field(default_factory=list)


def move_aside(folder: Path) -> Path:
    """Rename ``folder`` to the first free ``<name>.previous-<n>`` beside it (kept, not
    deleted: it may hold results someone wants)."""
    n = 1
    while (target := folder.with_name(f"{folder.name}.previous-{n}")).exists():
        n += 1
    folder.rename(target)
    return target


def run_demo(
    out: Path | None = None,
    *,
    synthetic: bool = False,
    workers: int = 2,
    log: Callable[[str], None] = print,
) -> DemoResult:
    """Run the demo into ``out`` (default ``<runs>/demo``); raises ValueError,
    FileNotFoundError or SourceError (one line each) when the bundled data cannot be built."""
    from gait2hip.conventions import resolve_inputs
    from gait2hip.io.npz import read_npz
    from gait2hip.pipelines.benchmark import benchmark
    from gait2hip.training.config import make_config
    from gait2hip.training.protocol import holds_other_run

    out = Path(out or settings.runs_dir() / "demo")
    result = DemoResult(out)
    report = None
    if synthetic:
        from gait2hip.data.synthetic import write_synthetic

        log("Synthetic demo data (not real biomechanics).")
        paths = write_synthetic(settings.cache_dir() / "demo")
    else:
        from gait2hip.labeling.build import build_dataset
        from gait2hip.labeling.sources import schreiber2019

        source = schreiber2019(settings.data_root())
        report = build_dataset(
            source, settings.dataset_dir(source.name), settings.labels_dir(), workers=workers
        )
        log(report.summary())
        paths = {"forces": report.paths["forces"], "moments": report.paths["moments"]}
    jobs = {}
    for target, path in paths.items():
        ds = read_npz(path, expected_out=get_target(target))
        jobs[target] = (ds, make_config(target, ARCHITECTURES, PROFILE))
    forces = jobs["forces"][0]
    jobs[ID_RUN] = (
        forces,
        make_config("forces", ID_ARCHITECTURES, PROFILE, inputs=resolve_inputs(ID_INPUTS)),
    )
    if any(holds_other_run(out / t, ds, cfg) for t, (ds, cfg) in jobs.items()):
        result.moved = move_aside(out)  # e.g. the data were relabelled since the last demo
        log(f"{out} held demo runs on other data or settings: moved to {result.moved}")
    for target, (ds, cfg) in jobs.items():
        log(f"{target}: {ds.describe()}")
        summary = benchmark(ds, cfg, out / target, command="gait2hip demo")
        result.summaries[target] = summary
        log(summary.read_text().split("## Pooled")[0])
    log(f"run folders: {', '.join(f'{out}/{t}' for t in jobs)}")
    if report is not None:
        from gait2hip.inference.api import predict_held_out_trial

        for with_id in (False, True):
            pred, written = predict_held_out_trial(
                report.results, out, out / "predictions", inverse_dynamics=with_id
            )
            files = [p for v in written.values() for p in (v if isinstance(v, list) else [v])]
            result.written += files
            if with_id:
                result.prediction_id = pred
            else:
                result.prediction = pred
            what = "with its inverse dynamics" if with_id else "from its angles"
            log(
                f"prediction for a held-out subject's trial {what} ({pred.source}): "
                f"{len(pred.kept)} cycle(s) -> {', '.join(map(str, files))}"
            )
            if pred.id_agreement is not None:  # the moments against the trial's own ID
                log(f"  check: {pred.id_agreement.note(pred.interval)}")
            for warning in pred.warnings:
                log(f"  warning: {warning}")
    return result
