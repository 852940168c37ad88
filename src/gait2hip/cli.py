"""The ``gait2hip`` command line: parses options and calls the library, nothing more."""

from __future__ import annotations

import dataclasses
import errno
import functools
import inspect
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gait2hip import runtime, settings
from gait2hip.conventions import (
    INPUT_SETS,
    STATIC_INPUTS,
    TARGETS,
    get_target,
    input_set_name,
    resolve_inputs,
)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="gait2hip: hip muscle forces and hip moments from walking joint angles, in "
    "milliseconds. Start with `gait2hip predict TRIAL.mot` or `gait2hip demo`.",
)
console = Console()


def _show_version(value: bool) -> None:
    if value:
        from gait2hip import __version__

        console.print(f"gait2hip {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """gait2hip's options before any command (--version)."""


def _strike_times(text: str) -> list[float]:
    """``--strikes`` as times in s, refused in one line naming the value that is not one."""
    import math

    times = []
    for value in (v.strip() for v in text.split(",")):
        try:
            time = float(value)
        except ValueError:
            time = math.nan
        if not math.isfinite(time):
            raise ValueError(
                f"--strikes: {value!r} is not a time; give the heel strikes in s as a comma "
                "list, e.g. --strikes 0.61,1.72"
            )
        times.append(time)
    return times


def _csv_ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def _inputs(spec: str | None) -> dict[str, tuple[str, ...]]:
    """``inputs=`` for make_config from an --inputs option; none given: the profile's."""
    return {} if spec is None else {"inputs": resolve_inputs(spec)}


def _fail(err: Exception) -> None:
    console.print("[red]error:[/red]", end=" ")
    _log(str(err))
    raise typer.Exit(2)


ThreadsOpt = Annotated[int | None, typer.Option(help="torch threads (default: all cores)")]
ProgressOpt = Annotated[bool, typer.Option(help="show progress bars")]
HoldOutConditionOpt = Annotated[
    str | None,
    typer.Option(
        help="a condition (speed_label, e.g. fast) to test on while the models train on the "
        "other conditions only: a transfer across speeds on top of the subject holdout"
    ),
]
ExecutorOpt = Annotated[
    str, typer.Option("--executor", help="where tasks run: local (default) or ray")
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        help="--executor ray: auto (the running cluster), ray://host:port, or local (a fresh "
        "instance); default $GAIT2HIP_RAY_ADDRESS, else local"
    ),
]
RetriesOpt = Annotated[int, typer.Option(help="retries of a task that raised or whose worker died")]
SoSolverOpt = Annotated[
    str | None,
    typer.Option(
        help="static optimization: auto (default: fast where the model's muscles allow it, "
        "else opensim), opensim, or fast (same problem, all frames at once; Millard2012 and "
        "Thelen2003 muscles; docs/fast_so.md)"
    ),
]
CpusPerTaskOpt = Annotated[
    int, typer.Option(help="CPUs (torch threads) per task in pool or Ray workers")
]
LossWeightingOpt = Annotated[
    str | None,
    typer.Option(
        help="none (the study), inverse_variance or balanced (default: none; balanced for "
        "the joint target)"
    ),
]

PROFILE_HELP = (
    "paper (the study's recipe), recipe (its models and protocol, batch and learning rate "
    "set for the data's size; docs/compare.md), recipe-duration (recipe + each cycle's "
    "duration as an input; docs/recipe.md), gait2hip60 (the study's published models as "
    "they are, zero-shot), gait2hip60-finetune (fine-tuned from them; docs/published.md) or "
    "quick (small models, minutes)"
)

DeviceOpt = Annotated[
    str,
    typer.Option(
        help="where models train: cpu (default; runs are deterministic there), cuda, cuda:N, "
        "or auto (cuda when PyTorch sees a GPU; cpu under --executor ray); --workers "
        "processes share the GPU"
    ),
]
BatchedFoldsOpt = Annotated[
    bool,
    typer.Option(
        "--batched-folds",
        help="train each unit's cross-validation folds as one batched model in one task "
        "(torch.func; for a GPU, slower on a CPU; closed-form models train fold by fold; "
        "docs/speed.md, Batched folds)",
    ),
]
PrecisionOpt = Annotated[
    str,
    typer.Option(
        help="training precision: float32 (default) or bf16 (bfloat16 autocast of the forward "
        "pass and loss; weights, optimiser and the validation loss in float32; docs/speed.md)",
    ),
]

WorkersOpt = Annotated[
    int,
    typer.Option(
        help="local: parallel processes (1 = this process, all threads); ray: CPUs of a fresh "
        "local instance"
    ),
]


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """The options every training command shares: threads, progress and where tasks run."""

    threads: int | None = None
    progress: bool = True
    executor: str = "local"
    workers: int = 1
    ray_address: str | None = None
    retries: int = 2
    cpus_per_task: int = 1
    device: str = "cpu"
    batched_folds: bool = False
    precision: str = "float32"

    def make_executor(self):
        return _executor(
            self.executor,
            self.workers,
            self.ray_address,
            self.retries,
            self.cpus_per_task,
            self.progress,
            self.device,
            self.batched_folds,
            self.precision,
        )


_RUN_OPTION_TYPES = {
    "threads": ThreadsOpt,
    "progress": ProgressOpt,
    "executor": ExecutorOpt,
    "workers": WorkersOpt,
    "ray_address": RayAddressOpt,
    "retries": RetriesOpt,
    "cpus_per_task": CpusPerTaskOpt,
    "device": DeviceOpt,
    "batched_folds": BatchedFoldsOpt,
    "precision": PrecisionOpt,
}


def _run_options(fn):
    """Give a command the shared :class:`RunOptions` (as CLI options after its own) and pass
    them to it as ``run``, with torch's threads already configured."""
    own = inspect.signature(fn, eval_str=True)
    params = [p for name, p in own.parameters.items() if name != "run"]
    params += [
        inspect.Parameter(
            f.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=f.default,
            annotation=_RUN_OPTION_TYPES[f.name],
        )
        for f in dataclasses.fields(RunOptions)
    ]

    @functools.wraps(fn)
    def command(**kwargs):
        run = RunOptions(**{f.name: kwargs.pop(f.name) for f in dataclasses.fields(RunOptions)})
        runtime.configure(run.threads)
        return fn(**kwargs, run=run)

    command.__signature__ = own.replace(parameters=params)
    command.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
    del command.__wrapped__  # typer must read the signature above, not fn's
    return command


def _command_line() -> str:
    """This invocation as a shell line, for reports."""
    return "gait2hip " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _log(message: str) -> None:
    """Print text as it is: never broken across lines (nor a file path in it), no markup."""
    console.print(message, soft_wrap=True, markup=False)


def _with_params(cfg, path: Path):
    """``cfg`` with a tuned architecture's settings (best.json of `gait2hip tune`)."""
    from gait2hip.training.tune import load_params, trial_config

    names = {m.name for m in cfg.models}
    if len(names) != 1:
        raise ValueError(
            f"--params tunes one architecture; give only it in --models (got {sorted(names)})"
        )
    params = load_params(path)
    return dataclasses.replace(trial_config(cfg, cfg.models[0], params), models=cfg.models)


def _executor(
    kind: str,
    workers: int,
    address,
    retries: int,
    cpus: int,
    progress: bool,
    device: str = "cpu",
    batched_folds: bool = False,
    precision: str = "float32",
):
    from gait2hip.executor import ExecutorError, make_executor

    try:
        return make_executor(
            kind,
            workers=workers,
            address=address,
            retries=retries,
            cpus_per_task=cpus,
            show_progress=progress,
            device=device,
            batched_folds=batched_folds,
            precision=precision,
        )
    except ExecutorError as err:
        _fail(err)


@app.command("demo-data")
def demo_data(
    out: Annotated[
        Path, typer.Option(help="folder for synthetic_MF.npz and synthetic_JM.npz")
    ] = Path(".cache/demo"),
    subjects: Annotated[int, typer.Option(help="number of synthetic subjects")] = 24,
    trials_per_speed: Annotated[int, typer.Option(help="trials per cadence per subject")] = 2,
    seed: int = 0,
) -> None:
    """Write a SYNTHETIC dataset in the Gait2Hip-60 NPZ format (not real biomechanics)."""
    from gait2hip.data.synthetic import write_synthetic

    paths = write_synthetic(out, n_subjects=subjects, trials_per_speed=trials_per_speed, seed=seed)
    for target, path in paths.items():
        console.print(f"{target}: {path}")


@app.command()
@_run_options
def benchmark(
    data: Annotated[
        Path, typer.Option(help="Gait2Hip-60 format NPZ (MF for forces, JM for moments)")
    ],
    target: Annotated[str, typer.Option(help=f"one of {', '.join(TARGETS)}")] = "forces",
    models: Annotated[
        str, typer.Option(help="comma list: lstm, transformer, mamba; add :causal or :bidir")
    ] = "lstm,transformer,mamba",
    profile: Annotated[str, typer.Option(help=PROFILE_HELP)] = "paper",
    out: Annotated[
        Path | None, typer.Option(help="run folder (default runs/<target>-<profile>)")
    ] = None,
    both_variants: Annotated[
        bool, typer.Option(help="run causal and bidirectional variants")
    ] = False,
    seeds: Annotated[str, typer.Option(help="training seeds, comma list")] = "2025",
    split_seeds: Annotated[str, typer.Option(help="holdout split seeds, comma list")] = "42",
    test_fraction: float = 0.2,
    max_epochs: Annotated[
        int | None, typer.Option(help="override the profile's max epochs")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(help="override the profile's batch size (64; smaller for small datasets)"),
    ] = None,
    nonnegative: Annotated[bool, typer.Option(help="softplus outputs (forces >= 0)")] = False,
    loss_weighting: LossWeightingOpt = None,
    lr_schedule: Annotated[str, typer.Option(help="constant (the study) or cosine")] = "constant",
    physics_loss: Annotated[
        float,
        typer.Option(
            help="forces: weight of the consistency term, mean squared (Nm/kg) of Σ moment arm × "
            "predicted force - labelled hip moment (needs a built MF dataset; docs/physics.md)"
        ),
    ] = 0.0,
    time_warp: Annotated[
        float,
        typer.Option(
            help="augmentation: random smooth time warps of training cycles, frames moved by "
            "up to this fraction of the cycle (e.g. 0.05; 0 = off)"
        ),
    ] = 0.0,
    velocities: Annotated[
        bool, typer.Option(help="also feed the angles' rates of change (derived in the model)")
    ] = False,
    init: Annotated[
        str | None,
        typer.Option(
            help="start every model from published weights: gait2hip60 (the study's models, "
            "their sizes and input scaler; forces or moments, the 10 angles, the study's "
            "directions); default: the profile's (random for all but gait2hip60*)"
        ),
    ] = None,
    hold_out_condition: HoldOutConditionOpt = None,
    inputs: Annotated[
        str | None,
        typer.Option(
            help=f"input channels: a set ({', '.join(INPUT_SETS)}) or a comma list of angles; "
            "'ipsilateral' = right hip, knee, ankle (for one-leg cohorts); add per-cycle "
            f"scalars as constant channels: {', '.join(STATIC_INPUTS)} (e.g. all,cycle_duration_s)"
            "; default: the profile's (all angles, recipe-duration adds cycle_duration_s)"
        ),
    ] = None,
    params: Annotated[
        Path | None,
        typer.Option(
            help="best.json of `gait2hip tune` (or a JSON of train.*/model.* settings) for the "
            "one architecture in --models"
        ),
    ] = None,
    *,
    run: RunOptions,
) -> None:
    """Train and compare models under the leak-proof protocol; resumes an interrupted run.

    Every fold and final fit is a task: --workers N or --executor ray run them in parallel
    with the same results (docs/ray.md)."""
    from gait2hip.io.npz import read_npz
    from gait2hip.pipelines.benchmark import benchmark as run_benchmark
    from gait2hip.training.config import make_config, profile_inputs

    try:
        ds = read_npz(data, expected_out=get_target(target))
        train_overrides = {
            "lr_schedule": lr_schedule,
            "physics_weight": physics_loss,
            "time_warp": time_warp,
        }
        if loss_weighting is not None:
            train_overrides["loss_weighting"] = loss_weighting
        if max_epochs is not None:
            train_overrides["max_epochs"] = max_epochs
        if batch_size is not None:
            train_overrides["batch_size"] = batch_size
        cfg = make_config(
            target,
            [m for m in models.split(",") if m.strip()],
            profile,
            both_variants=both_variants,
            train_overrides=train_overrides,
            seeds=_csv_ints(seeds),
            split_seeds=_csv_ints(split_seeds),
            test_fraction=test_fraction,
            nonnegative=nonnegative,
            velocities=velocities,
            **_inputs(inputs),
            **({} if init is None else {"init": init}),
            **({} if hold_out_condition is None else {"holdout_condition": hold_out_condition}),
        )
        if params is not None:
            cfg = _with_params(cfg, params)
    except (ValueError, FileNotFoundError) as err:
        _fail(err)
    suffix = "" if cfg.inputs == profile_inputs(profile) else f"-{input_set_name(cfg.inputs)}"
    suffix += "-tuned" if params is not None else ""
    out = out or settings.runs_dir() / f"{target}-{profile}{suffix}"
    console.print(f"[bold]{ds.describe()}[/bold]")
    command = _command_line()
    ex = run.make_executor()
    try:
        with ex:
            summary = run_benchmark(
                ds, cfg, out, command=command, show_progress=run.progress, executor=ex
            )
    except (ValueError, RuntimeError) as err:
        _fail(err)
    _log(summary.read_text().split("## Pooled")[0])
    console.print(f"[green]run folder:[/green] {out}")


@app.command()
@_run_options
def tune(
    data: Annotated[Path, typer.Option(help="study-format NPZ (MF for forces, JM for moments)")],
    target: Annotated[str, typer.Option(help=f"one of {', '.join(TARGETS)}")] = "forces",
    model: Annotated[
        str, typer.Option(help="one architecture: lstm, transformer or mamba (:causal/:bidir)")
    ] = "transformer",
    trials: Annotated[int, typer.Option(help="trials in the study (a rerun adds up to it)")] = 20,
    parallel: Annotated[int, typer.Option(help="trials evaluated at once")] = 2,
    profile: Annotated[
        str, typer.Option(help="base settings (folds, epochs, patience): a --profile of benchmark")
    ] = "paper",
    max_epochs: Annotated[int | None, typer.Option(help="override the profile's")] = None,
    split_seed: Annotated[int, typer.Option(help="the benchmark's holdout split seed")] = 42,
    test_fraction: float = 0.2,
    seed: Annotated[int, typer.Option(help="training seed of every trial")] = 2025,
    inputs: Annotated[
        str | None, typer.Option(help="input set or comma list (as in benchmark)")
    ] = None,
    loss_weighting: LossWeightingOpt = None,
    out: Annotated[
        Path | None, typer.Option(help="study folder (default runs/tune-<target>-<model>)")
    ] = None,
    *,
    run: RunOptions,
) -> None:
    """Search one architecture's hyper-parameters with Optuna, by cross-validation inside the
    training pool (the benchmark's test subjects never enter); writes best.json for
    `benchmark --params`. Resumes an interrupted study."""
    from gait2hip.io.npz import read_npz
    from gait2hip.training.config import ModelSpec, make_config
    from gait2hip.training.tune import TuneConfig
    from gait2hip.training.tune import tune as run_tune

    try:
        ds = read_npz(data, expected_out=get_target(target))
        spec = ModelSpec.parse(model)
        overrides = {} if loss_weighting is None else {"loss_weighting": loss_weighting}
        if max_epochs is not None:
            overrides["max_epochs"] = max_epochs
        cfg = make_config(
            target,
            [model],
            profile,
            train_overrides=overrides,
            seeds=(seed,),
            split_seeds=(split_seed,),
            test_fraction=test_fraction,
            **_inputs(inputs),
        )
    except (ValueError, FileNotFoundError) as err:
        _fail(err)
    out = out or settings.runs_dir() / f"tune-{target}-{spec.label}"
    console.print(f"[bold]{ds.describe()}[/bold]")
    command = _command_line()
    ex = run.make_executor()
    try:
        with ex:
            best = run_tune(
                ds, cfg, spec, out, TuneConfig(trials, parallel), executor=ex, command=command
            )
    except (ValueError, RuntimeError) as err:
        _fail(err)
    _log((out / "summary.md").read_text())
    console.print(f"[green]best settings:[/green] {best}")


@app.command()
def demo(
    out: Annotated[
        Path | None,
        typer.Option(help="parent folder of the two run folders (default: <runs>/demo)"),
    ] = None,
    synthetic: Annotated[
        bool, typer.Option(help="use SYNTHETIC data instead of the bundled real walking data")
    ] = False,
    workers: Annotated[int, typer.Option(help="parallel trials while labelling")] = 2,
    threads: Annotated[int | None, typer.Option(help="torch threads")] = None,
) -> None:
    """The main job: build the bundled walking dataset (Schreiber 2019, OpenSim labels,
    cached) and run the quick benchmark of LSTM, Transformer, Mamba and the phase-linear
    baseline on forces and moments. Demo runs left by other data or settings are moved aside
    (``runs/demo.previous-N``).
    """
    from gait2hip.labeling.sources import SourceError
    from gait2hip.pipelines.demo import run_demo

    runtime.configure(threads)
    try:
        run_demo(
            out,
            synthetic=synthetic,
            workers=workers,
            log=_log,
        )
    except (ValueError, FileNotFoundError, SourceError) as err:
        _fail(err)


@app.command()
@_run_options
def compare(
    setting: Annotated[
        str,
        typer.Option(
            help="full: the comparison (both datasets and targets, 6 models, 3 seeds x 3 "
            "splits; hours on 2 cores, docs/compare.md); ci: the same pipeline in minutes "
            "(small models, 3 epochs, part of the running subjects; numbers mean nothing)"
        ),
    ] = "full",
    profiles: Annotated[
        str | None,
        typer.Option(help="comma list, the baseline first (default paper,recipe,recipe-duration)"),
    ] = None,
    datasets: Annotated[
        str | None, typer.Option(help="bundled datasets (default schreiber2019,hamner2013)")
    ] = None,
    targets: Annotated[str | None, typer.Option(help="default forces,moments")] = None,
    models: Annotated[str | None, typer.Option(help="default lstm,transformer,mamba")] = None,
    both_variants: Annotated[
        bool | None,
        typer.Option(help="causal and bidirectional variants (default: the setting's)"),
    ] = None,
    seeds: Annotated[
        str | None, typer.Option(help="training seeds (default: the setting's)")
    ] = None,
    split_seeds: Annotated[
        str | None, typer.Option(help="holdout split seeds (default: the setting's)")
    ] = None,
    hold_out_condition: HoldOutConditionOpt = None,
    out: Annotated[
        Path | None, typer.Option(help="parent of the run folders (default runs/compare[-ci])")
    ] = None,
    so_solver: SoSolverOpt = None,
    *,
    run: RunOptions,
) -> None:
    """Compare training profiles (the study's `paper` recipe first) on the bundled walking and
    running data under one protocol: same splits and seeds, paired differences with 95%
    intervals, per-channel changes, physical residuals; writes report.md. Resumes."""
    from dataclasses import replace

    from gait2hip.labeling.sources import SourceError
    from gait2hip.pipelines.compare import SETTINGS, build_datasets, run_comparison

    try:
        if setting not in SETTINGS:
            raise ValueError(f"unknown setting {setting!r}; choose one of {list(SETTINGS)}")
        given = {
            "profiles": profiles,
            "datasets": datasets,
            "targets": targets,
            "models": models,
        }
        chosen = replace(
            SETTINGS[setting],
            **{k: tuple(x for x in v.split(",") if x) for k, v in given.items() if v},
            **({"seeds": _csv_ints(seeds)} if seeds else {}),
            **({"split_seeds": _csv_ints(split_seeds)} if split_seeds else {}),
            **({"both_variants": both_variants} if both_variants is not None else {}),
            **({"holdout_condition": hold_out_condition} if hold_out_condition else {}),
        )
    except ValueError as err:
        _fail(err)
    out = out or settings.runs_dir() / ("compare" if setting == "full" else f"compare-{setting}")
    command = _command_line()
    ex = run.make_executor()
    try:
        with ex:
            paths = build_datasets(
                chosen,
                executor=ex,
                workers=run.workers,
                show_progress=run.progress,
                so_solver=so_solver,
            )
            report = run_comparison(
                chosen,
                paths,
                out,
                executor=ex,
                command=command,
                show_progress=run.progress,
                log=_log,
            )
    except (ValueError, RuntimeError, FileNotFoundError, SourceError) as err:
        _fail(err)
    console.print(f"[green]report:[/green] {report}")


@app.command()
@_run_options
def transfer(
    target: Annotated[str, typer.Option(help="moments (the cohort's reference) or forces")] = (
        "moments"
    ),
    profiles: Annotated[
        str,
        typer.Option(
            help="comma list, the paired baseline first: scratch (recipe), the study's "
            "published models as they are (gait2hip60), fine-tuned (gait2hip60-finetune), "
            "fine-tuned then averaged with them (gait2hip60-wise); also e.g. "
            "gait2hip60-finetune-duration (fine-tuned with the cycle's duration as an input; "
            "cohort rows only with --assume-durations: the bundled cohort has no durations)"
        ),
    ] = "recipe,gait2hip60,gait2hip60-finetune,gait2hip60-wise",
    models: Annotated[str, typer.Option(help="architectures, comma list")] = (
        "lstm,transformer,mamba"
    ),
    seeds: Annotated[str, typer.Option(help="training seeds")] = "2025",
    split_seeds: Annotated[str, typer.Option(help="holdout split seeds")] = "21,22,23",
    conditions: Annotated[
        str, typer.Option(help="conditions held out in turn (each: trained on the others)")
    ] = "fast,comfortable",
    cohort: Annotated[
        str | None,
        typer.Option(help="external cohort for zero-shot rows (bundled name or file); 'none'"),
    ] = "spina_bifida_lee",
    zero_shot_data: Annotated[
        str,
        typer.Option(
            help="bundled labelled datasets the in-lab models predict zero-shot, one row per "
            "condition (hamner2013: running at 2-5 m/s in another lab); comma list"
        ),
    ] = "",
    assume_durations: Annotated[
        str | None,
        typer.Option(
            help="the cohort's cycles without a duration: assume one for models that read it "
            "or check the pace, seconds or froude (as for evaluate-external); reported as an "
            "assumption"
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="output folder (default runs/transfer)")] = None,
    n_bootstrap: int = 2000,
    *,
    run: RunOptions,
) -> None:
    """One table of how models transfer: in-lab, across walking speeds (trained on one, tested
    on another) and zero-shot on the external cohort, for scratch, published and fine-tuned
    models (docs/transfer.md)."""
    from gait2hip.data.cohort import load_cohort
    from gait2hip.data.dataset import DataError
    from gait2hip.labeling.sources import SourceError
    from gait2hip.pipelines.transfer import TransferSetting, build, build_zero_shot, run_transfer

    try:
        setting = TransferSetting(
            target=get_target(target).name,
            profiles=tuple(p for p in profiles.split(",") if p),
            models=tuple(m for m in models.split(",") if m),
            seeds=_csv_ints(seeds),
            split_seeds=_csv_ints(split_seeds),
            conditions=tuple(c for c in conditions.split(",") if c),
            zero_shot=tuple(d for d in zero_shot_data.split(",") if d),
        )
        setting.comparison()  # refuses unknown profiles early
        data = None if cohort in (None, "none") else load_cohort(cohort)
        durations = _assumed_durations(assume_durations)
    except (ValueError, FileNotFoundError) as err:
        _fail(err)
    out = out or settings.runs_dir() / "transfer"
    command = _command_line()
    ex = run.make_executor()
    try:
        with ex:
            npz = build(setting, executor=ex, workers=run.workers, show_progress=run.progress)
            others = build_zero_shot(
                setting, executor=ex, workers=run.workers, show_progress=run.progress
            )
            report = run_transfer(
                setting,
                npz,
                data,
                out,
                executor=ex,
                command=command,
                show_progress=run.progress,
                n_boot=n_bootstrap,
                log=_log,
                zero_shot_data=others,
                assume_durations=durations,
            )
    except (ValueError, RuntimeError, FileNotFoundError, SourceError, DataError) as err:
        _fail(err)
    text = report.read_text()
    _log(text.split("## Every metric")[0])
    console.print(f"[green]report:[/green] {report}")


@app.command()
def average(
    runs: Annotated[
        list[Path],
        typer.Argument(
            help="a benchmark run folder, or a folder of them (e.g. a transfer run); more "
            "transfer folders after it are searched for the models too, at the same places"
        ),
    ],
    models: Annotated[
        str,
        typer.Option(
            help="model labels of the runs to average, comma list (the first: final.pt, the "
            "one that reads the most inputs); PROFILE/LABEL for a model trained under another "
            "profile of a transfer folder (e.g. recipe-duration/phaselinear-causal)"
        ),
    ] = "transformer-bidir,mamba-causal",
    out: Annotated[
        Path | None, typer.Option(help="output folder (default: <runs>-average beside it)")
    ] = None,
) -> None:
    """Average the final models of several architectures of finished benchmark runs (the same
    subjects and folds) into one model per split and seed, calibrated as one on the run's folds
    and measured on its test subjects; a run folder of its own for `predict` and `models`, and
    for a transfer folder its transfer table (docs/predict.md)."""
    from gait2hip.pipelines.transfer import average_transfer
    from gait2hip.training.average import AverageError, average_runs

    root, others = runs[0].resolve(), [r.resolve() for r in runs[1:]]
    out = out or root.with_name(f"{root.name}-average")
    labels = [m for m in models.split(",") if m]
    try:
        if (root / "transfer.csv").is_file():  # a transfer folder: its table too
            paths = [average_transfer(root, labels, out, log=_log, others=others)]
        else:
            paths = average_runs(root, labels, out, log=_log, others=others)
    except (AverageError, FileNotFoundError, ValueError) as err:
        _fail(err)
    for p in paths:
        console.print(f"[green]written:[/green] {p}", soft_wrap=True)


@app.command("build-dataset")
def build_dataset(
    dataset: Annotated[
        str | None, typer.Argument(help="bundled dataset: schreiber2019 or hamner2013")
    ] = None,
    from_folder: Annotated[
        Path | None,
        typer.Option("--from", help="your own lab folder (layout: docs/labeling.md)"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="output folder (default .cache/datasets/<name>)")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(help="parallel trials (local processes; ray: CPUs of a fresh instance)"),
    ] = 2,
    subjects: Annotated[
        str | None, typer.Option(help="comma list of subject ids (default: all)")
    ] = None,
    strength_scale: Annotated[
        float | None, typer.Option(help="multiply muscles' max isometric force in SO")
    ] = None,
    so_solver: SoSolverOpt = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    retries: RetriesOpt = 2,
) -> None:
    """Label raw motion capture with OpenSim (scale, IK, ID, SO) into study-format NPZ files.

    Results are cached per trial (keyed by input files and settings): a rerun redoes only what
    changed.
    """
    from dataclasses import replace

    from gait2hip.labeling.build import build_dataset as build
    from gait2hip.labeling.sources import SOURCES, SourceError
    from gait2hip.labeling.sources import from_folder as folder_source

    try:
        if (dataset is None) == (from_folder is None):
            raise ValueError(
                f"give a bundled dataset ({', '.join(SOURCES)}) or --from PATH, not both"
            )
        if dataset is not None:
            if dataset not in SOURCES:
                raise ValueError(f"unknown dataset {dataset!r}; choose one of {list(SOURCES)}")
            source = SOURCES[dataset](settings.data_root())
        else:
            source = folder_source(from_folder)
        label_settings = source.settings
        if strength_scale is not None:
            label_settings = replace(label_settings, strength_scale=strength_scale)
        if so_solver is not None:
            label_settings = replace(label_settings, so_solver=so_solver)
        with _executor(executor, workers, ray_address, retries, 1, progress) as ex:
            report = build(
                source,
                out or settings.dataset_dir(source.name),
                settings.labels_dir(),
                workers=workers,
                settings=label_settings,
                subjects=[s for s in subjects.split(",") if s] if subjects else None,
                show_progress=progress,
                executor=ex,
            )
    except (ValueError, FileNotFoundError, SourceError) as err:
        _fail(err)
    _log(report.summary())
    for what, path in report.paths.items():
        _log(f"{what}: {path}")


@app.command("evaluate-external")
def evaluate_external(
    models: Annotated[
        list[Path],
        typer.Option(
            "--models",
            help="run folder(s) of models trained on healthy data (repeatable), e.g. "
            "runs/moments-quick-ipsilateral, default (the model predict uses when none is "
            "given), or gait2hip60[:lstm|transformer|mamba] (the study's published models; "
            "plain gait2hip60: all three)",
        ),
    ],
    cohort: Annotated[
        str,
        typer.Option(help="bundled cohort (spina_bifida_lee) or a cohort file (.npz/.csv)"),
    ] = "spina_bifida_lee",
    target: Annotated[
        str,
        typer.Option(
            help="moments or forces: models of it, and joint models on that part of their outputs"
        ),
    ] = "moments",
    out: Annotated[
        Path | None, typer.Option(help="output folder (default runs/external/<cohort>-<target>)")
    ] = None,
    moment_unit: Annotated[
        str | None, typer.Option(help="unit of the cohort's moments if its file does not say")
    ] = None,
    force_unit: Annotated[
        str | None, typer.Option(help="unit of the cohort's forces if its file does not say")
    ] = None,
    healthy_data: Annotated[
        Path | None,
        typer.Option(help="the models' healthy dataset (default: the path in the checkpoint)"),
    ] = None,
    healthy: Annotated[
        bool, typer.Option(help="also evaluate on the models' held-out healthy subjects")
    ] = True,
    contralateral: Annotated[
        bool,
        typer.Option(
            help="one-leg cohorts: assume the other leg's angles (the analysed leg half a cycle "
            "later, a symmetric gait) for models of both legs, e.g. --models gait2hip60; "
            "reported as an assumption with every result"
        ),
    ] = False,
    size_scaling: Annotated[
        bool,
        typer.Option(
            help="scale predicted hip moments to each cycle's body height (the cohort's "
            "height_m/height_cm; Hof 1996); --no-size-scaling: as for the models' reference "
            "height"
        ),
    ] = True,
    assume_durations: Annotated[
        str | None,
        typer.Option(
            help="cycles without a duration (cycle_duration_s; the bundled cohort has none): "
            "assume one, as a timed trial gives `predict`, for models that read it (the "
            "default's own model and its pace check): seconds, or froude (the pace of the "
            "model's median training cycle, scaled to each body height); reported as an "
            "assumption"
        ),
    ] = None,
    few_shot: Annotated[bool, typer.Option(help="run the few-shot adaptation")] = True,
    k: Annotated[str, typer.Option(help="few-shot: adaptation subjects per draw, comma list")] = (
        "1,2,4,8"
    ),
    draws: Annotated[int, typer.Option(help="few-shot: random draws per k")] = 10,
    groups: Annotated[
        str | None, typer.Option(help="few-shot: cohort groups, comma list (default: each)")
    ] = None,
    finetune_epochs: int = 100,
    finetune_lr: float = 3e-4,
    scratch_epochs: int = 300,
    scratch_lr: float = 2e-3,
    n_bootstrap: int = 2000,
    threads: ThreadsOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Zero-shot and few-shot evaluation of healthy-trained models on an external cohort (e.g.
    children with spina bifida): tables, learning curve, domain shift and figures."""
    from gait2hip.data.cohort import load_cohort
    from gait2hip.data.dataset import DataError
    from gait2hip.external.few_shot import FewShotConfig
    from gait2hip.inference.predictor import ModelNotFoundError
    from gait2hip.pipelines.external import evaluate_external as run

    runtime.configure(threads)
    try:
        get_target(target)
        data = load_cohort(cohort, moment_unit=moment_unit, force_unit=force_unit)
        if contralateral:
            data = data.with_contralateral()
        if not size_scaling:
            data = data.without_heights()
        durations = _assumed_durations(assume_durations)
        cfg = (
            FewShotConfig(
                ks=_csv_ints(k),
                draws=draws,
                groups=tuple(g for g in groups.split(",") if g) if groups else None,
                finetune_epochs=finetune_epochs,
                finetune_lr=finetune_lr,
                scratch_epochs=scratch_epochs,
                scratch_lr=scratch_lr,
            )
            if few_shot
            else None
        )
    except (ValueError, FileNotFoundError) as err:
        _fail(err)
    console.print(f"[bold]{data.describe()}[/bold]", soft_wrap=True)
    out = out or settings.runs_dir() / "external" / f"{data.name}-{target}"
    command = _command_line()
    try:
        summary = run(
            models,
            data,
            out,
            target=target,
            healthy=healthy,
            healthy_data=healthy_data,
            few_shot_cfg=cfg,
            n_boot=n_bootstrap,
            assume_durations=durations,
            command=command,
            show_progress=progress,
        )
    except (DataError, ModelNotFoundError, ValueError) as err:
        _fail(err)
    text = summary.read_text()
    _log(text.split("## Domain shift")[0])
    console.print(f"[green]results:[/green] {out}")


def _assumed_durations(value: str | None) -> str | float | None:
    """``--assume-durations``: froude or seconds (0.4-2.5, a stride's plausible range)."""
    from gait2hip.external.evaluate import FROUDE
    from gait2hip.gait.events import STRIDE_RANGE_S

    if value is None or value.strip().lower() == FROUDE:
        return None if value is None else FROUDE
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    lo, hi = STRIDE_RANGE_S
    if not lo <= seconds <= hi:
        raise ValueError(
            f"--assume-durations {value!r}: {FROUDE}, or a cycle's duration in s ({lo}-{hi})"
        )
    return seconds


@app.command("architectures")
def architectures() -> None:
    """List the registered architectures with their reference sizes."""
    from rich.table import Table

    from gait2hip.models import available_models, count_parameters, create_model, default_config

    table = Table("model", "default direction", "params (14 outputs)", "config")
    for name in available_models():
        cfg = default_config(name)
        n = count_parameters(create_model(name))
        table.add_row(name, "causal" if cfg.causal else "bidirectional", f"{n:,}", str(cfg))
    console.print(table)


@app.command("models")
def list_models(
    runs: Annotated[Path | None, typer.Argument(help="folder to search (default: runs/)")] = None,
) -> None:
    """List trained models (for `gait2hip predict`) with their training data and test metrics,
    and the Gait2Hip-60 study's published models (`--model gait2hip60:<architecture>`)."""
    from gait2hip.inference.predictor import list_default, list_published, list_trained

    root = runs or settings.runs_dir()
    rows = list_trained(root) if root.exists() else []
    published = list_default() + list_published()
    if not rows and not published:
        console.print(
            f"no trained models under {root}; train with `gait2hip demo` or `gait2hip benchmark`"
            " (architectures: `gait2hip architectures`)",
            soft_wrap=True,
        )
        raise typer.Exit(1)
    if not rows:
        console.print(f"no trained models under {root} (`gait2hip demo` trains some)")
    for r in rows + published:
        study = str(r["model"]).startswith("gait2hip60:")  # the study's own files
        what = "the study's test" if study else "test"
        unit = get_target(r["target"]).train_unit
        metrics = (
            f"{what} subject-mean RMSE {r['subject_rmse']:.3f} {unit}, R² {r['subject_r2']:.3f}"
            if r.get("subject_rmse") is not None
            else f"metrics in {r['card']}"
            if "card" in r
            else "no test metrics"
        )
        calibration = "calibrated" if r["calibrated"] else "not calibrated"
        if study:
            calibration += (
                " on the bundled walking data of another lab"
                if r["calibrated"]
                else " (`gait2hip build-dataset schreiber2019` calibrates it)"
            )
        console.print(
            f"[bold]{r['target']}[/bold] {r['model']} ({r['profile']} profile): "
            f"{Path(r['dataset']).name}, inputs {r['inputs']}, {r['train_subjects']} training "
            "subjects, "
            f"{r['members']} ensemble member(s), "
            f"{calibration}, {metrics}\n  {r['path']}",
            soft_wrap=True,
        )
        if r.get("flag"):
            console.print(f"  [yellow]warning: {r['flag']}[/yellow]", soft_wrap=True)


@app.command()
def predict(
    angles: Annotated[
        list[Path], typer.Argument(help="IK .mot/.sto, .csv/.parquet (time + angles) or .npz")
    ],
    mass: Annotated[float | None, typer.Option(help="body mass in kg (adds N and N·m)")] = None,
    height: Annotated[
        float | None,
        typer.Option(help="body height in m (needed by models trained with body_height_m)"),
    ] = None,
    subject: Annotated[
        Path | None,
        typer.Option(
            help="subject file: .json/.csv with mass_kg (and height_m), or the scaled .osim the "
            "IK ran with (its mass, knee convention and, without --height, the height its leg "
            "length stands for)"
        ),
    ] = None,
    model: Annotated[
        list[Path] | None,
        typer.Option(
            help="checkpoint, unit/run folder or folder of runs (e.g. runs/demo), or the study's "
            "published models: gait2hip60 (its Transformer) or gait2hip60:lstm|mamba; default: "
            "the model shipped with gait2hip (its MODEL_CARD.md: `gait2hip models`)"
        ),
    ] = None,
    architecture: Annotated[
        str | None, typer.Option(help="model of a run folder, e.g. lstm or transformer-bidir")
    ] = None,
    side: Annotated[str, typer.Option(help="r, l or both (left by mirroring)")] = "r",
    grf: Annotated[Path | None, typer.Option(help="GRF .mot (or its ExternalLoads .xml)")] = None,
    c3d: Annotated[Path | None, typer.Option(help="c3d file with gait events")] = None,
    inverse_dynamics: Annotated[
        Path | None,
        typer.Option(
            help="the trial's OpenSim ID results (.sto, N·m), for forces models that take the "
            "hip moments as inputs (profiles recipe-moments*)"
        ),
    ] = None,
    strikes: Annotated[
        str | None, typer.Option(help="heel-strike times in s of the predicted side, comma list")
    ] = None,
    angle_units: Annotated[str, typer.Option(help="auto, deg or rad")] = "auto",
    flip_sign: Annotated[
        list[str] | None,
        typer.Option(help="negate an angle or inverse-dynamics moment column (repeatable)"),
    ] = None,
    interval: Annotated[float, typer.Option(help="prediction interval coverage")] = 0.9,
    table_format: Annotated[str, typer.Option("--format", help="csv, parquet or both")] = "csv",
    out: Annotated[
        Path | None, typer.Option(help="output folder (default: <runs>/predictions)")
    ] = None,
    no_ensemble: Annotated[
        bool, typer.Option("--no-ensemble", help="final model only (fastest)")
    ] = False,
    lab_correction: Annotated[
        Path | None,
        typer.Option(
            help="a lab correction of the hip moments, from `gait2hip adapt` (the same model)"
        ),
    ] = None,
) -> None:
    """Predict hip muscle forces and moments for trials; writes .sto, a table and a figure."""
    import time as _time

    from gait2hip.inference.api import predict as run_predict
    from gait2hip.inference.lab import LabCorrection
    from gait2hip.inference.predictor import (
        ModelNotFoundError,
        default_model_dir,
        find_predictors,
    )

    formats = {"csv": ("csv",), "parquet": ("parquet",), "both": ("csv", "parquet")}
    sides = {"r": ("r",), "l": ("l",), "both": ("r", "l")}
    out = out or settings.runs_dir() / "predictions"
    try:
        if table_format not in formats:
            raise ValueError(f"--format must be one of {list(formats)}")
        if side not in sides:
            raise ValueError(f"--side must be one of {list(sides)}")
        if strikes and (len(angles) > 1 or side == "both"):
            raise ValueError("--strikes applies to one trial and one side")
        if inverse_dynamics and len(angles) > 1:
            raise ValueError("--inverse-dynamics applies to one trial: predict one at a time")
        strike_times = _strike_times(strikes) if strikes else None
        t0 = _time.perf_counter()
        predictors = find_predictors(
            model or default_model_dir(),
            model=architecture,
            ensemble=not no_ensemble,
            inverse_dynamics=inverse_dynamics is not None,
        )
        correction = None if lab_correction is None else LabCorrection.load(lab_correction)
    except (ValueError, FileNotFoundError, ModelNotFoundError) as err:
        _fail(err)
    for name, p in predictors.items():
        console.print(
            f"[bold]{name}[/bold]: {p.label}, {len(p.members)} member(s), {p.source}"
            + (
                ""
                if p.broad is None
                else f" (blended with {p.broad.source} for cycles unlike its training data)"
            )
            + (
                ""
                if p.without_id is None
                else f"; cycles outside the inverse dynamics: {p.without_id.source}"
            ),
            soft_wrap=True,
        )
    failed = 0
    for path in angles:
        for s in sides[side]:
            try:
                pred = run_predict(
                    path,
                    mass_kg=mass,
                    height_m=height,
                    subject=subject,
                    side=s,
                    grf=grf,
                    c3d=c3d,
                    inverse_dynamics=inverse_dynamics,
                    strikes=strike_times,
                    angle_units=angle_units,
                    flip_sign=tuple(flip_sign or ()),
                    interval=interval,
                    predictors=predictors,
                    lab_correction=correction,
                )
                stem = f"{path.stem}_{s}"
                written = pred.save(out, stem, formats[table_format])
            except (ValueError, FileNotFoundError) as err:
                console.print("[red]error:[/red]", end=" ")
                _log(str(err))
                failed += 1
                continue
            table = pred.cycles_table()
            console.print(
                f"[green]{path.name} ({s})[/green]: {len(pred.kept)} cycles predicted, "
                f"{(table.status == 'rejected').sum()} rejected, "
                f"{(table.status == 'partial').sum()} partial",
                soft_wrap=True,
            )
            for note in pred.notes:
                _log(f"  note: {note}")
            for warning in pred.warnings:
                console.print("  [yellow]warning:[/yellow]", end=" ")
                _log(warning)
            for what, p in written.items():
                files = p if isinstance(p, list) else [p]
                console.print(f"  {what}: {', '.join(map(str, files))}", soft_wrap=True)
    console.print(f"done in {_time.perf_counter() - t0:.2f} s")
    if failed:
        raise typer.Exit(2)


@app.command()
def adapt(
    trials: Annotated[
        Path,
        typer.Argument(
            help="table (.csv/.parquet) of the lab's trials with inverse dynamics: columns "
            "angles, inverse_dynamics, subject_id and mass_kg (or subject), optional height_m, "
            "side, grf, c3d, flip_sign; paths relative to the table"
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="the correction's file (default: <runs>/lab/lab_correction.json)"),
    ] = None,
    model: Annotated[
        list[Path] | None,
        typer.Option(help="the model it corrects, as predict takes it (default: the shipped one)"),
    ] = None,
    architecture: Annotated[str | None, typer.Option(help="model of a run folder")] = None,
    interval: Annotated[float, typer.Option(help="prediction interval coverage")] = 0.9,
    no_ensemble: Annotated[
        bool, typer.Option("--no-ensemble", help="final model only (as predict will run it)")
    ] = False,
    progress: ProgressOpt = True,
) -> None:
    """Fit a lab correction of the predicted hip moments from a few of the lab's own trials
    with their inverse dynamics, measured by leave-one-subject-out against the model as it is
    and the lab's mean curve; `predict --lab-correction FILE` applies it (docs/predict.md)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from gait2hip.inference.adapt import adapt as run_adapt
    from gait2hip.inference.adapt import read_trials, trial_sides
    from gait2hip.inference.predictor import ModelNotFoundError
    from gait2hip.io.atomic import atomic_path

    out = out or settings.runs_dir() / "lab" / "lab_correction.json"
    bar = Progress(
        TextColumn("[bold]adapt[/bold]"), BarColumn(), MofNCompleteColumn(), disable=not progress
    )
    try:
        with bar:
            rows = read_trials(trials)  # paths resolved against the table's folder
            task = bar.add_task("", total=trial_sides(rows))
            correction, table = run_adapt(
                rows,
                model=model or None,
                architecture=architecture,
                ensemble=not no_ensemble,
                interval=interval,
                on_trial=lambda _row: bar.advance(task),
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        correction.save(out)
        listing = out.with_name(out.stem + "_trials.csv")
        with atomic_path(listing) as tmp:
            table.to_csv(tmp, index=False)
        figure = correction.plot(out.with_suffix(".png"))
    except (ValueError, FileNotFoundError, ModelNotFoundError) as err:
        _fail(err)
    for row in table.itertuples():
        if row.error:
            console.print("[yellow]left out:[/yellow]", end=" ")
            _log(f"{row.angles} ({row.side}): {row.error}")
    _log(
        f"{correction.model}: {correction.subjects} subject(s), {correction.trials} trial(s), "
        f"{correction.cycles} cycles with inverse dynamics; {correction.weights()}, interval "
        f"x{correction.sd_scale:.2f}"
    )
    _log(correction.summary())
    for warning in correction.warnings():
        console.print("[yellow]warning:[/yellow]", end=" ")
        _log(warning)
    _log(
        f"written: {out}, {listing}, {figure}; use it with `gait2hip predict TRIAL "
        f"--lab-correction {out}`"
    )


#: What to do where the file system refuses a path, by errno.
_OS_FIXES: dict[int, str] = {
    errno.EEXIST: "a file stands where a folder is needed; give another path (e.g. --out) or "
    "move the file",
    errno.ENOTDIR: "a file stands where a folder is needed; give another path (e.g. --out) or "
    "move the file",
    errno.EISDIR: "a folder stands where a file is needed; give a file's path",
    errno.EACCES: "permission denied; give a path you may write to (e.g. --out) or change its "
    "permissions",
    errno.EPERM: "not permitted; give a path you may write to (e.g. --out) or change its "
    "permissions",
    errno.EROFS: "a read-only file system; write elsewhere (e.g. --out)",
    errno.ENOSPC: "no space left on the device; free some, or write elsewhere (e.g. --out)",
}


def main(argv: list[str] | None = None) -> None:
    """The ``gait2hip`` command (:data:`app`): a path the file system refuses (a file where a
    folder is needed, no permission, a full disk) is told in one line naming it and the fix,
    instead of a traceback."""
    try:
        app(args=argv)
    except OSError as err:
        fix = _OS_FIXES.get(err.errno or 0)
        if err.filename is None or fix is None:
            raise
        console.print("[red]error:[/red]", end=" ")
        _log(f"{err.filename}: {fix}")
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
