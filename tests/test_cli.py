from __future__ import annotations

import sys

from typer.testing import CliRunner

from gait2hip import cli
from gait2hip.cli import app

runner = CliRunner()


def test_models_lists_registry():
    res = runner.invoke(app, ["architectures"])
    assert res.exit_code == 0, res.output
    for name in ("lstm", "transformer", "mamba"):
        assert name in res.output


def test_demo_data_then_benchmark(tmp_path):
    res = runner.invoke(
        app,
        ["demo-data", "--out", str(tmp_path / "d"), "--subjects", "8", "--trials-per-speed", "1"],
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app,
        [
            "benchmark",
            "--data",
            str(tmp_path / "d" / "synthetic_JM.npz"),
            "--target",
            "moments",
            "--models",
            "lstm",
            "--profile",
            "quick",
            "--max-epochs",
            "2",
            "--batch-size",
            "8",
            "--inputs",
            "ipsilateral",
            "--out",
            str(tmp_path / "run"),
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "lstm-causal" in res.output
    assert (tmp_path / "run" / "summary.md").exists()

    # the one-leg models, zero-shot on a cohort file of the same data's analysed leg
    import numpy as np

    from gait2hip.io.npz import read_npz
    from tests.test_external import cohort_arrays

    ds = read_npz(tmp_path / "d" / "synthetic_JM.npz")
    np.savez(tmp_path / "cohort.npz", **cohort_arrays(ds))
    base = ["evaluate-external", "--models", str(tmp_path / "run"), "--no-progress"]
    res = runner.invoke(
        app,
        [*base, "--cohort", str(tmp_path / "cohort.npz"), "--no-few-shot", "--n-bootstrap",
         "20", "--out", str(tmp_path / "ext")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Zero-shot" in res.output and (tmp_path / "ext" / "zero_shot.csv").is_file()
    res = runner.invoke(app, [*base, "--cohort", str(tmp_path / "nope.npz")])
    assert res.exit_code == 2 and "nope.npz: no such cohort file" in res.output
    res = runner.invoke(app, [*base, "--cohort", str(tmp_path / "cohort.npz"), "--k", "40"])
    assert res.exit_code == 2 and "leaves no test subject" in res.output


def test_benchmark_bad_input_is_a_clear_error(tmp_path):
    res = runner.invoke(app, ["benchmark", "--data", str(tmp_path / "missing.npz")])
    assert res.exit_code == 2
    assert "file not found" in res.output
    from gait2hip.data.synthetic import write_synthetic

    paths = write_synthetic(tmp_path, n_subjects=6, trials_per_speed=1, n_frames=30)
    res = runner.invoke(app, ["benchmark", "--data", str(paths["forces"]), "--models", "gru"])
    assert res.exit_code == 2
    assert "unknown model 'gru'" in res.output
    # a profile's own inputs apply without --inputs: synthetic data has no cycle times
    args = ["benchmark", "--data", str(paths["forces"]), "--profile", "recipe-duration"]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "run"), "--no-progress"])
    assert res.exit_code == 2 and "no cycle_duration_s input" in res.output


def test_build_dataset_argument_errors(tmp_path, monkeypatch):
    res = runner.invoke(app, ["build-dataset"])
    assert res.exit_code == 2 and "--from PATH" in res.output
    res = runner.invoke(app, ["build-dataset", "nosuchdata"])
    assert res.exit_code == 2 and "unknown dataset 'nosuchdata'" in res.output
    res = runner.invoke(app, ["build-dataset", "--from", str(tmp_path)])
    assert res.exit_code == 2 and "subjects.csv" in res.output
    monkeypatch.setenv("GAIT2HIP_DATA", str(tmp_path / "nowhere"))
    res = runner.invoke(app, ["build-dataset", "schreiber2019"])
    assert res.exit_code == 2 and "GAIT2HIP_DATA" in res.output


def test_benchmark_executor_options(tmp_path, monkeypatch):
    from gait2hip.data.synthetic import write_synthetic

    paths = write_synthetic(tmp_path, n_subjects=6, trials_per_speed=1, n_frames=30)
    base = ["benchmark", "--data", str(paths["forces"]), "--models", "lstm", "--profile", "quick"]
    base += ["--max-epochs", "2", "--no-progress"]
    res = runner.invoke(app, [*base, "--workers", "2", "--out", str(tmp_path / "pool")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "pool" / "split42" / "lstm-causal" / "seed2025" / "final.pt").exists()
    monkeypatch.setitem(sys.modules, "ray", None)
    res = runner.invoke(app, [*base, "--executor", "ray", "--out", str(tmp_path / "ray")])
    assert res.exit_code == 2 and "pip install 'gait2hip[ray]'" in res.output
    assert not (tmp_path / "ray").exists()
    res = runner.invoke(app, [*base, "--executor", "spark"])
    assert res.exit_code == 2 and "unknown executor 'spark'" in res.output
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    res = runner.invoke(app, [*base, "--device", "cuda", "--out", str(tmp_path / "gpu")])
    assert res.exit_code == 2 and "sees no CUDA GPU" in res.output, res.output
    assert not (tmp_path / "gpu").exists()
    res = runner.invoke(app, [*base, "--precision", "half", "--out", str(tmp_path / "half")])
    assert res.exit_code == 2 and "unknown precision 'half'" in res.output, res.output
    assert not (tmp_path / "half").exists()


def test_move_aside_keeps_the_old_run(tmp_path):
    from gait2hip.pipelines.demo import move_aside

    run = tmp_path / "forces"
    for n in (1, 2):
        run.mkdir()
        (run / "config.json").write_text(str(n))
        assert move_aside(run) == tmp_path / f"forces.previous-{n}"
        assert not run.exists()
    assert (tmp_path / "forces.previous-2" / "config.json").read_text() == "2"


def test_version_and_a_light_command_line():
    """`gait2hip --help`, `--version` and option errors answer at once: loading the command
    line imports neither torch nor matplotlib nor pandas (each command imports what it uses)."""
    import subprocess

    from gait2hip import __version__

    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"gait2hip {__version__}"
    heavy = "('torch', 'matplotlib', 'pandas')"
    code = f"import sys, gait2hip.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_figures_leave_the_matplotlib_backend_alone():
    """Importing gait2hip's figure code (and drawing) does not switch a notebook's backend."""
    import subprocess

    code = (
        "import matplotlib; matplotlib.use('svg'); import gait2hip.report.figures as f; "
        "import numpy as np, pathlib, tempfile; "
        "p = pathlib.Path(tempfile.mkdtemp()) / 'c.png'; "
        "f.plot_curves(np.zeros((2, 10, 1)), np.ones((2, 10, 1)), ['x'], 'u', 't', p); "
        "print(matplotlib.get_backend(), p.stat().st_size > 1000)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["svg", "True"]


def test_training_commands_share_one_set_of_run_options(monkeypatch):
    import typer

    seen = {}
    demo = typer.Typer()

    @demo.command()
    @cli._run_options
    def job(name: str = "x", *, run: cli.RunOptions) -> None:
        seen.update(name=name, run=run)

    monkeypatch.setattr(cli.runtime, "configure", lambda threads: seen.update(threads=threads))
    res = CliRunner().invoke(
        demo, ["--name", "y", "--workers", "3", "--no-progress", "--threads", "1"]
    )
    assert res.exit_code == 0, res.output
    assert seen["name"] == "y" and seen["threads"] == 1  # threads configured before the body
    assert seen["run"] == cli.RunOptions(threads=1, progress=False, workers=3)
    for command in ("benchmark", "tune", "compare", "transfer"):
        text = CliRunner().invoke(cli.app, [command, "--help"], terminal_width=200).output
        assert all(
            f"--{o}" in text
            for o in ("workers", "executor", "cpus-per-task", "device", "precision")
        )
    # the wrapped commands still fail with one line before any work
    res = CliRunner().invoke(cli.app, ["transfer", "--zero-shot-data", "nope", "--workers", "2"])
    assert res.exit_code == 2 and "--zero-shot-data: unknown 'nope'" in res.output
    res = CliRunner().invoke(cli.app, ["tune", "--data", "missing.npz", "--no-progress"])
    assert res.exit_code != 0 and "missing.npz" in res.output and "Traceback" not in res.output


def test_a_path_the_file_system_refuses_is_one_line_naming_it(tmp_path, capsys):
    """`--out` at a file (or under one): one line naming the path and the fix, exit 2, no
    traceback (the installed command is cli.main)."""
    import pytest

    in_the_way = tmp_path / "results"
    in_the_way.write_text("")
    for out in (in_the_way, in_the_way / "sub"):
        with pytest.raises(SystemExit) as exited:
            cli.main(["demo-data", "--out", str(out), "--subjects", "4"])
        assert exited.value.code == 2
        said = capsys.readouterr().out
        assert f"{out}: a file stands where a folder is needed" in said and "--out" in said
        assert "Traceback" not in said
    with pytest.raises(SystemExit) as exited:
        cli.main(["demo-data", "--out", str(tmp_path / "fine"), "--subjects", "4"])
    assert exited.value.code == 0
