"""Executors: local (in process, process pool) and Ray give the same results; finished tasks
are skipped, failing ones retried a bounded number of times and reported without stopping
the rest, a killed worker's task is retried; stopping the driver stops its workers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from gait2hip.executor import Executor, ExecutorError, Task, TaskFailures, make_executor
from gait2hip.pipelines.benchmark import benchmark
from gait2hip.runtime import TaskRuntime
from gait2hip.training.protocol import run_benchmark
from tests.test_protocol import tiny_config

# ------------------------------------------------------------- task functions (module level:
# process-pool workers import them; Ray gets them by value, see the `ray` fixture)


def square(x: int, out: str | None = None) -> int:
    if out:
        Path(out).write_text(str(x * x))
    return x * x


def fail_once(marker: str, value: int) -> int:
    """Raises the first time (per marker file), then succeeds."""
    m = Path(marker)
    if not m.exists():
        m.write_text("1")
        raise RuntimeError("transient failure")
    return value


def die_once(marker: str, value: int) -> int:
    """Kills its worker process the first time (per marker file), then succeeds."""
    m = Path(marker)
    if not m.exists():
        m.write_text("1")
        os._exit(1)
    return value


def always_fail(marker: str) -> None:
    with open(marker, "a") as fh:  # one line per attempt
        fh.write("x\n")
    raise ValueError("bad input")


# ------------------------------------------------------------------------- local executor


def test_local_runs_in_order_skips_finished_and_retries(tmp_path):
    done = tmp_path / "done.txt"
    done.write_text("finished earlier")
    tasks = [
        Task("a", square, (3,)),
        Task("b", square, (4, str(done)), (done,)),  # outputs exist: skipped
        Task("c", fail_once, (str(tmp_path / "c.marker"), 7)),
        Task("d", always_fail, (str(tmp_path / "d.attempts"),)),
        Task("e", square, (5,)),
    ]
    out = Executor(retries=2, show_progress=False).run(tasks, "t")
    assert [o.key for o in out] == ["a", "b", "c", "d", "e"]
    assert [o.status for o in out] == ["done", "skipped", "done", "failed", "done"]
    assert out[0].value == 9 and out[4].value == 25 and out[2].value == 7
    assert out[2].attempts == 2  # failed once, retried
    assert done.read_text() == "finished earlier"  # the skipped task did not run
    # bounded: 1 try + 2 retries, then reported, and the tasks after it still ran
    assert len((tmp_path / "d.attempts").read_text().split()) == 3
    assert out[3].attempts == 3 and "bad input" in out[3].error


def test_process_pool_retries_a_killed_worker(tmp_path):
    tasks = [Task(f"t{i}", square, (i,)) for i in range(4)]
    tasks.append(Task("dies", die_once, (str(tmp_path / "marker"), 42)))
    out = Executor(workers=2, retries=1, show_progress=False).run(tasks, "t")
    assert [o.value for o in out] == [0, 1, 4, 9, 42]
    assert all(o.status == "done" for o in out)


_SLOW_TASKS = """
import os, sys, time
from pathlib import Path

def sleep_long(folder):
    Path(folder, f"{os.getpid()}.pid").write_text("")
    time.sleep(120)
"""
_DRIVER = """
import sys
sys.path.insert(0, sys.argv[1])
from slow_tasks import sleep_long
from gait2hip.executor import Executor, Task

if __name__ == "__main__":
    tasks = [Task(f"t{i}", sleep_long, (sys.argv[1],)) for i in range(4)]
    Executor(workers=2, retries=0, show_progress=False).run(tasks, "t")
"""


def _running(pid: int) -> bool:
    try:  # an orphan is reaped by init eventually; a zombie is not running
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_stopping_the_driver_stops_its_workers(tmp_path, sig):
    """SIGTERM to the driver alone (a job scheduler, `kill PID`) and even SIGKILL leave no
    worker running its task on (before, they trained to the end of their queue)."""
    import signal
    import subprocess
    import time

    (tmp_path / "slow_tasks.py").write_text(_SLOW_TASKS)
    (tmp_path / "driver.py").write_text(_DRIVER)
    driver = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), str(tmp_path)])
    try:
        deadline = time.monotonic() + 120
        while len(pids := [int(f.stem) for f in tmp_path.glob("*.pid")]) < 2:
            assert time.monotonic() < deadline and driver.poll() is None, "workers never started"
            time.sleep(0.2)
        driver.send_signal(getattr(signal, sig))
        rc = driver.wait(timeout=30)  # not the tasks' 120 s
        assert rc == (128 + signal.SIGTERM if sig == "SIGTERM" else -signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_running(p) for p in pids):
            assert time.monotonic() < deadline, f"workers {pids} still running after {sig}"
            time.sleep(0.1)
        assert len(list(tmp_path.glob("*.pid"))) == 2  # the queued tasks never started
    finally:
        driver.kill()
        for p in pids if "pids" in locals() else []:
            if _running(p):
                os.kill(p, 9)


def test_task_keys_must_be_unique():
    with pytest.raises(ValueError, match="unique"):
        Executor(show_progress=False).run([Task("a", square, (1,)), Task("a", square, (2,))], "t")


def test_ray_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ExecutorError, match=r"pip install 'gait2hip\[ray\]'"):
        make_executor("ray")
    with pytest.raises(ExecutorError, match="unknown executor"):
        make_executor("dask")


def test_device_is_checked_and_resolved(monkeypatch):
    with pytest.raises(ExecutorError, match="unknown device 'tpu'"):
        Executor(device="tpu")
    assert Executor().task_runtime().device == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert Executor(device="auto").device == "cpu"
    with pytest.raises(ExecutorError, match=r"sees no CUDA GPU.*--device cpu"):
        Executor(device="cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert Executor(device="auto").device == "cuda"
    pool = Executor(workers=2, cpus_per_task=3, device="CUDA:1")
    assert pool.task_runtime() == TaskRuntime(threads=3, device="cuda:1")
    assert "training on cuda:1" in pool.describe()
    with pytest.raises(ExecutorError, match="only 2 CUDA GPU"):
        Executor(device="cuda:2")
    with pytest.raises(ExecutorError, match="--executor ray trains on the CPU only"):
        Executor(kind="ray", device="cuda")
    monkeypatch.setattr("gait2hip.executor._import_ray", lambda: None)
    assert Executor(kind="ray", device="auto").device == "cpu"


def test_precision_is_checked_and_reaches_the_tasks():
    assert Executor().task_runtime().precision == "float32"
    bf16 = Executor(precision="BF16")
    assert bf16.precision == "bfloat16" and bf16.task_runtime().precision == "bfloat16"
    assert "bfloat16 autocast" in bf16.describe()
    with pytest.raises(ExecutorError, match="unknown precision 'half'; choose float32 or bf"):
        Executor(precision="half")
    with pytest.raises(ExecutorError, match="--batched-folds trains in float32 only"):
        Executor(precision="bf16", batched_folds=True)


def test_machine_summary_names_the_cpu(tmp_path):
    from gait2hip.runtime import machine_summary

    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC 9R14\n"
        "flags\t\t: fpu sse avx avx2 avx512f\n\nprocessor\t: 1\nmodel name\t: other\n"
    )
    assert machine_summary(info).startswith("AMD EPYC 9R14 (family 25 model 17, AVX-512), ")
    info.write_text("model name\t: Some CPU\nflags\t: sse avx2\n")
    assert machine_summary(info).startswith("Some CPU (AVX2), ")
    assert machine_summary(tmp_path / "missing").endswith(f"{os.cpu_count()} cores")


def test_pool_benchmark_equals_in_process(forces, tmp_path):
    cfg = tiny_config(models=("lstm",))
    torch.set_num_threads(1)  # pool workers use cpus_per_task = 1 thread
    run_benchmark(forces, cfg, tmp_path / "here", show_progress=False)
    pool = Executor(workers=2, show_progress=False)
    run_benchmark(forces, cfg, tmp_path / "pool", show_progress=False, executor=pool)
    _assert_same_units(tmp_path / "here", tmp_path / "pool")


def _assert_same_units(a: Path, b: Path) -> None:
    files = sorted(p.relative_to(a) for p in a.rglob("predictions.npz"))
    assert files and files == sorted(p.relative_to(b) for p in b.rglob("predictions.npz"))
    for rel in files:
        with np.load(a / rel) as za, np.load(b / rel) as zb:
            np.testing.assert_array_equal(za["y_pred"], zb["y_pred"])
    for fold in a.rglob("fold*.json"):
        other = b / fold.relative_to(a)
        assert _without_seconds(fold) == _without_seconds(other)


def _without_seconds(path: Path) -> dict:
    import json

    d = json.loads(path.read_text())
    d.pop("seconds")
    return d


# ------------------------------------------------------------------------------------ Ray


@pytest.fixture(scope="module")
def ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.shutdown()


def test_ray_retries_a_killed_worker_and_reports_failures(ray, tmp_path):
    tasks = [Task(f"t{i}", square, (i,)) for i in range(3)]
    tasks += [
        Task("dies once", die_once, (str(tmp_path / "marker"), 42)),
        Task("always fails", always_fail, (str(tmp_path / "attempts"),)),
    ]
    out = Executor("ray", retries=2, show_progress=False).run(tasks, "t")
    assert [o.status for o in out] == ["done"] * 4 + ["failed"]
    assert [o.value for o in out[:4]] == [0, 1, 4, 42]
    assert len((tmp_path / "attempts").read_text().split()) == 3  # 1 try + 2 retries
    assert "bad input" in out[4].error
    assert ray.is_initialized()  # a running instance is joined, not shut down


def test_ray_benchmark_equals_local_and_resumes(ray, forces, tmp_path):
    cfg = tiny_config(models=("lstm", "mamba"))
    torch.set_num_threads(1)  # as the Ray tasks (cpus_per_task = 1)
    local = benchmark(forces, cfg, tmp_path / "local", show_progress=False)
    ex = Executor("ray", show_progress=False)
    remote = benchmark(forces, cfg, tmp_path / "ray", show_progress=False, executor=ex)
    _assert_same_units(tmp_path / "local", tmp_path / "ray")
    a, b = pd.read_csv(local.parent / "summary.csv"), pd.read_csv(remote.parent / "summary.csv")
    cols = ["model", "subject_rmse", "subject_mae", "subject_r2", "pooled_r2"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    # a killed driver restarts: remove one fold and one final fit, only those are redone
    unit = tmp_path / "ray" / "split42" / "lstm-causal" / "seed2025"
    (unit / "fold1.json").unlink()
    (unit / "final.json").unlink()
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "ray").rglob("fold*.pt")}
    benchmark(forces, cfg, tmp_path / "ray", show_progress=False, executor=ex)
    changed = {p for p, t in before.items() if p.stat().st_mtime_ns != t}
    assert changed == {unit / "fold1.pt"}
    _assert_same_units(tmp_path / "local", tmp_path / "ray")


def test_failed_benchmark_tasks_are_reported_not_hidden(forces, tmp_path, monkeypatch):
    import gait2hip.training.protocol as protocol

    cfg = tiny_config(models=("lstm",))
    real = protocol._fold_fit

    folds_seen: list[int] = []

    def broken_fold_two(ds, cfg, spec, seed, train, val, epochs, on_epoch, device):
        if val is not None:  # a cross-validation fold, not the final fit
            folds_seen.append(1)
            if len(folds_seen) == 2:
                raise RuntimeError("out of memory (simulated)")
        return real(ds, cfg, spec, seed, train, val, epochs, on_epoch, device)

    monkeypatch.setattr(protocol, "_fold_fit", broken_fold_two)
    with pytest.raises(TaskFailures, match=r"fold 1: RuntimeError: out of memory"):
        run_benchmark(
            forces,
            cfg,
            tmp_path,
            show_progress=False,
            executor=Executor(retries=0, show_progress=False),
        )
    unit = tmp_path / "split42" / "lstm-causal" / "seed2025"
    assert (unit / "fold0.json").exists() and (unit / "fold2.json").exists()
    assert not (unit / "fold1.json").exists() and not (unit / "final.pt").exists()
    monkeypatch.setattr(protocol, "_fold_fit", real)
    run_benchmark(forces, cfg, tmp_path, show_progress=False)  # resumes: only fold 1 + final
    assert (unit / "final.pt").exists()


@pytest.mark.realdata
def test_ray_labelling_equals_local(ray, labelled_trial, tmp_path):
    """One real trial (scale, IK, ID, SO) labelled in a Ray worker, and a broken one."""
    from dataclasses import replace

    from gait2hip.labeling.build import run_trials

    source, spec, _, local = labelled_trial
    broken = replace(spec, trial="C9_99", trc=str(tmp_path / "missing.trc"))
    ex = Executor("ray", show_progress=False)
    remote, failed = run_trials([spec, broken], source.settings, tmp_path / "cache", executor=ex)
    assert remote.ok and not remote.cached and not failed.ok and "missing.trc" in failed.error
    assert remote.cycles == local.cycles
    with np.load(local.labels_path()) as a, np.load(remote.labels_path()) as b:
        assert a.files == b.files
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    # labelled now: a second run reads the cache here instead of sending it to a worker
    again = run_trials([spec], source.settings, tmp_path / "cache", executor=ex)[0]
    assert again.ok and again.cached
