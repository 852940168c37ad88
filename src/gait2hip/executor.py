"""Where independent tasks run: here (default) or on a Ray cluster, with the same results.

A :class:`Task` is a plain call ``fn(*args)`` of a module-level function whose inputs are
read from paths every node can see and whose outputs land in the run or cache folder. A task
whose ``outputs`` all exist is skipped (idempotence: a killed driver restarts where it
stopped); a task that raises or whose worker dies is retried up to ``retries`` times, then
reported as failed without stopping the others.

Executors:

- ``local`` (default): ``workers=1`` runs the tasks one after another in this process (all
  torch threads, per-epoch progress); ``workers>1`` uses a process pool of that size, whose
  workers stop with this process (Ctrl-C, SIGTERM, or its death: see ``_stop_workers``).
- ``ray``: tasks become Ray tasks (``num_cpus=cpus_per_task``). ``address`` ``auto`` joins the
  running cluster (``ray start --head`` / ``ray start --address=...``), ``ray://host:port``
  connects through Ray Client, and ``None`` / ``local`` starts a fresh local instance with
  ``workers`` CPUs. Install with ``pip install 'gait2hip[ray]'``.

``device`` (``cpu``, ``cuda``, ``cuda:N`` or ``auto``) is where training tasks train; local
workers share the GPU (each task's model and batches are small). Ray does not schedule GPUs
here: ``ray`` with a GPU device is refused, and ``auto`` means the CPU there.
"""

from __future__ import annotations

import contextvars
import multiprocessing
import os
import signal
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from gait2hip.runtime import TaskRuntime

EXECUTORS = ("local", "ray")
RAY_ADDRESS_ENV = "GAIT2HIP_RAY_ADDRESS"
Reporter = Callable[[int, int, str], None]
_reporter: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar(
    "gait2hip_reporter", default=None
)


class ExecutorError(RuntimeError):
    """The executor cannot run (e.g. Ray asked for but not installed)."""


class TaskFailures(RuntimeError):
    """Some tasks failed after their retries; the others finished and are kept."""

    def __init__(self, what: str, failed: Sequence[Outcome]):
        self.failed = list(failed)
        lines = [
            f"  {o.key}: {o.error.strip().splitlines()[-1] if o.error else '?'}" for o in failed
        ]
        super().__init__(
            f"{len(failed)} {what} task(s) failed after retries (finished ones are kept; "
            "rerun the same command to retry only the missing ones):\n" + "\n".join(lines)
        )


@dataclass(frozen=True)
class Task:
    """``fn(*args)``; skipped when every path in ``outputs`` exists."""

    key: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    outputs: tuple[Path, ...] = ()

    def done(self) -> bool:
        return bool(self.outputs) and all(Path(p).exists() for p in self.outputs)


@dataclass
class Outcome:
    key: str
    status: str  # "done" | "skipped" | "failed"
    value: Any = None
    error: str = ""
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def report(completed: int, total: int, status: str = "") -> None:
    """Progress from inside a task (e.g. epochs); shown when the task runs in this process,
    ignored in pool or Ray workers."""
    fn = _reporter.get()
    if fn is not None:
        fn(completed, total, status)


@dataclass
class Executor:
    """Runs lists of :class:`Task`; see the module docstring."""

    kind: str = "local"
    workers: int = 1
    address: str | None = None
    retries: int = 2
    cpus_per_task: int = 1
    show_progress: bool = True
    device: str = "cpu"
    # train each unit's cross-validation folds as one batched model (gait2hip.training.batched)
    batched_folds: bool = False
    # the training step's precision (gait2hip.runtime.PRECISIONS)
    precision: str = "float32"
    _ray_started: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise ExecutorError(f"unknown executor {self.kind!r}; choose one of {EXECUTORS}")
        if self.workers < 1 or self.retries < 0 or self.cpus_per_task < 1:
            raise ExecutorError("workers and cpus_per_task must be >= 1, retries >= 0")
        if self.kind == "ray" and self.device == "auto":
            self.device = "cpu"  # Ray tasks train on the CPU (below)
        if self.device != "cpu":  # torch loads only where a GPU is asked for
            from gait2hip.runtime import resolve_device

            try:
                self.device = resolve_device(self.device)
            except ValueError as err:
                raise ExecutorError(str(err)) from err
        if self.kind == "ray" and self.device != "cpu":
            raise ExecutorError(
                f"--executor ray trains on the CPU only (Ray's GPU scheduling is not wired in); "
                f"for --device {self.device} use --executor local with --workers N, whose "
                "processes share the GPU"
            )
        from gait2hip.runtime import resolve_precision

        try:
            self.precision = resolve_precision(self.precision)
        except ValueError as err:
            raise ExecutorError(str(err)) from err
        if self.batched_folds and self.precision != "float32":
            raise ExecutorError(
                f"--batched-folds trains in float32 only (an autocast does not reach the "
                f"operations torch.func.vmap maps); drop --precision {self.precision} or "
                "--batched-folds"
            )
        if self.kind == "ray":
            _import_ray()  # fail now, with the install hint, not after the first phase

    @property
    def inline(self) -> bool:
        return self.kind == "local" and self.workers == 1

    def task_threads(self) -> int:
        """Threads a task may use: all of this process's torch threads when tasks run here,
        else ``cpus_per_task``."""
        if self.inline:
            import torch

            return torch.get_num_threads()
        return self.cpus_per_task

    def task_runtime(self) -> TaskRuntime:
        """Threads and device of a training task."""
        from gait2hip.runtime import TaskRuntime

        return TaskRuntime(self.task_threads(), self.device, self.batched_folds, self.precision)

    def describe(self) -> str:
        if self.kind == "ray":
            return f"ray ({self.address or 'fresh local instance'}, {self.cpus_per_task} CPU/task)"
        where = "this process" if self.inline else f"{self.workers} processes"
        on = "" if self.device == "cpu" else f", training on {self.device}"
        on += ", folds batched" if self.batched_folds else ""
        on += f", {self.precision} autocast" if self.precision != "float32" else ""
        return f"local ({where}{on})"

    # ------------------------------------------------------------------ running
    def run(self, tasks: Sequence[Task], description: str) -> list[Outcome]:
        """Run ``tasks`` (skipping finished ones); outcomes in the order of ``tasks``."""
        keys = [t.key for t in tasks]
        if len(set(keys)) != len(keys):
            raise ValueError("task keys must be unique")
        outcomes: dict[int, Outcome] = {}
        todo: list[int] = []
        for i, t in enumerate(tasks):
            if t.done():
                outcomes[i] = Outcome(t.key, "skipped")
            else:
                todo.append(i)
        with self._progress(description, len(tasks)) as bar:
            for o in outcomes.values():
                bar.update(o)
            if todo:
                run = {"local": self._run_local, "ray": self._run_ray}[self.kind]
                for i, outcome in run([tasks[i] for i in todo], todo, bar):
                    outcomes[i] = outcome
                    bar.update(outcome)
        return [outcomes[i] for i in range(len(tasks))]

    def _run_local(self, tasks: list[Task], index: list[int], bar: _Bar) -> Iterator:
        attempts = dict.fromkeys(index, 0)
        pending = dict(zip(index, tasks, strict=True))
        while pending:
            failed: dict[int, str] = {}
            for i, ok, value in self._local_round(pending, bar):
                attempts[i] += 1
                if ok:
                    yield i, Outcome(pending[i].key, "done", value, attempts=attempts[i])
                elif attempts[i] > self.retries:
                    yield i, Outcome(pending[i].key, "failed", error=value, attempts=attempts[i])
                else:
                    failed[i] = value
            pending = {i: t for i, t in pending.items() if i in failed}
            if pending:
                bar.note(f"retrying {len(pending)}")

    def _local_round(self, pending: dict[int, Task], bar: _Bar) -> Iterator:
        if self.inline:
            for i, t in pending.items():
                token = _reporter.set(bar.sub(t.key))
                try:
                    ok, value = True, t.fn(*t.args)
                except Exception:
                    ok, value = False, traceback.format_exc(limit=5)
                finally:
                    _reporter.reset(token)
                    bar.sub_done()
                yield i, ok, value
            return
        pool = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.cpus_per_task, os.getpid()),
        )
        _live_pools.add(pool)
        try:
            with _stop_pools_on_sigterm():
                futures = {pool.submit(t.fn, *t.args): i for i, t in pending.items()}
                for fut in as_completed(futures):
                    try:
                        yield futures[fut], True, fut.result()
                    except Exception as err:  # raised in the task, or its worker died
                        yield futures[fut], False, f"{type(err).__name__}: {err}"
        except BaseException:  # Ctrl-C, SIGTERM, or the caller stopped: no task runs on
            _stop_workers(pool)
            raise
        finally:
            _live_pools.discard(pool)
            pool.shutdown(wait=True, cancel_futures=True)

    def _run_ray(self, tasks: list[Task], index: list[int], bar: _Bar) -> Iterator:
        ray = self._ray()
        remote = ray.remote(
            num_cpus=self.cpus_per_task, max_retries=self.retries, retry_exceptions=True
        )(_ray_call)
        refs = {
            remote.remote(t.fn, t.args, self.cpus_per_task): (i, t)
            for i, t in zip(index, tasks, strict=True)
        }
        try:
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1)
                i, t = refs.pop(ready[0])
                try:
                    yield i, Outcome(t.key, "done", ray.get(ready[0]))
                except Exception as err:  # RayTaskError, WorkerCrashedError, ...
                    yield (
                        i,
                        Outcome(
                            t.key,
                            "failed",
                            error=f"{type(err).__name__}: {err}",
                            attempts=self.retries + 1,
                        ),
                    )
        finally:
            for ref in refs:
                ray.cancel(ref)

    def start(self) -> None:
        """Start or join Ray now (tasks would do it on first use); nothing to do locally."""
        if self.kind == "ray":
            self._ray()

    def _ray(self):
        ray = _import_ray()
        if not ray.is_initialized():
            address = self.address or os.environ.get(RAY_ADDRESS_ENV) or None
            if address in (None, "", "local"):
                ray.init(  # "local": a fresh instance even if one runs on this machine
                    address="local",
                    num_cpus=self.workers,
                    include_dashboard=False,
                    log_to_driver=False,
                )
            else:
                ray.init(address=address, log_to_driver=False)
            self._ray_started = True
        return ray

    def close(self) -> None:
        """Stop the Ray instance this executor started (a joined cluster keeps running)."""
        if self._ray_started:
            _import_ray().shutdown()
            self._ray_started = False

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _progress(self, description: str, total: int) -> Iterator[_Bar]:
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            disable=not self.show_progress,
        )
        with progress:
            yield _Bar(progress, description, total)


class _Bar:
    """The overall bar (done / failed / skipped) and, for in-process tasks, a task row."""

    def __init__(self, progress: Progress, description: str, total: int):
        self.progress = progress
        self.counts = {"done": 0, "failed": 0, "skipped": 0}
        self.extra = ""
        self.task = progress.add_task(description, total=total, status=self._status())
        self.row = None

    def _status(self) -> str:
        c = self.counts
        text = f"{c['done']} done, {c['failed']} failed, {c['skipped']} skipped"
        return text + (f" ({self.extra})" if self.extra else "")

    def update(self, outcome: Outcome) -> None:
        self.counts[outcome.status] += 1
        self.progress.update(self.task, advance=1, status=self._status())

    def note(self, text: str) -> None:
        self.extra = text
        self.progress.update(self.task, status=self._status())

    def sub(self, key: str) -> Reporter:
        self.row = self.progress.add_task(key, total=None, status="")

        def reporter(completed: int, total: int, status: str = "") -> None:
            self.progress.update(self.row, completed=completed, total=total, status=status)

        return reporter

    def sub_done(self) -> None:
        if self.row is not None:
            self.progress.remove_task(self.row)
            self.row = None


# Stopping a run stops its workers. SIGINT (Ctrl-C) reaches the whole process group; a
# SIGTERM sent to this process alone (job schedulers, `kill PID`) would otherwise leave the
# pool's workers training to the end of their queued tasks, so while a pool runs, SIGTERM
# terminates its workers and then exits (or calls the handler that was installed before).
# A worker also exits by itself when this process dies in a way no handler sees (SIGKILL).
_live_pools: weakref.WeakSet[ProcessPoolExecutor] = weakref.WeakSet()
_PARENT_POLL_S = 0.5


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    # ProcessPoolExecutor.terminate_workers() exists from Python 3.14; before, the
    # executor's process table is the only handle on its workers
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        if proc.is_alive():
            proc.terminate()


@contextmanager
def _stop_pools_on_sigterm() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_IGN:
        yield
        return

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        for pool in list(_live_pools):
            _stop_workers(pool)
        if callable(previous):
            previous(signum, frame)
        else:
            raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _init_worker(threads: int, parent: int) -> None:
    # one task per process: extra BLAS / OpenMP threads would only fight over the cores
    os.environ["OMP_NUM_THREADS"] = str(threads)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_S)
    os._exit(1)  # orphaned: the parent died without stopping this worker


def _ray_call(fn: Callable[..., Any], args: tuple[Any, ...], threads: int) -> Any:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    return fn(*args)


def _import_ray():
    try:
        import ray
    except ImportError as err:
        raise ExecutorError(
            "--executor ray needs Ray: pip install 'gait2hip[ray]' (or .venv/bin/pip install "
            "-e '.[ray]' in a checkout)"
        ) from err
    return ray


def make_executor(
    kind: str = "local",
    *,
    workers: int = 1,
    address: str | None = None,
    retries: int = 2,
    cpus_per_task: int = 1,
    show_progress: bool = True,
    device: str = "cpu",
    batched_folds: bool = False,
    precision: str = "float32",
) -> Executor:
    """The executor the CLI options describe (``address`` defaults to $GAIT2HIP_RAY_ADDRESS)."""
    return Executor(
        kind=kind,
        workers=workers,
        address=address or os.environ.get(RAY_ADDRESS_ENV),
        retries=retries,
        cpus_per_task=cpus_per_task,
        show_progress=show_progress,
        device=device,
        batched_folds=batched_folds,
        precision=precision,
    )
