"""Process-wide runtime settings for training and inference; called by entry points
(CLI, benchmarks), never at import time."""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

_configured = False


@dataclass(frozen=True)
class TaskRuntime:
    """How a training task runs: its torch threads, the device it trains on, whether a
    unit's cross-validation folds train as one batched model (gait2hip.training.batched),
    and the training step's precision."""

    threads: int
    device: str = "cpu"
    batched_folds: bool = False
    # the training step's precision (:data:`PRECISIONS`; bfloat16: under autocast)
    precision: str = "float32"


#: Training precisions: float32 (the default), or bfloat16 autocast of the forward pass and
#: loss (weights, gradients, optimiser and the validation loss that picks epochs in float32;
#: Mamba's convolution and scan in float32 inside it).
PRECISIONS = ("float32", "bfloat16")


def resolve_precision(name: str) -> str:
    """A checked training precision of :data:`PRECISIONS` (``bf16`` for bfloat16)."""
    key = {"bf16": "bfloat16", "fp32": "float32"}.get(name.strip().lower(), name.strip().lower())
    if key not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; choose float32 or bfloat16 (bf16)")
    return key


def autocast(device: str, precision: str):
    """The context a training step's forward pass and loss run in: bfloat16 autocast on the
    device's type for ``bfloat16``, nothing for ``float32``."""
    import contextlib

    import torch

    if precision == "float32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def resolve_device(name: str) -> str:
    """A checked torch device name: ``cpu``, ``cuda``, ``cuda:N``, or ``auto`` (``cuda`` when
    PyTorch sees a GPU, else ``cpu``). Fails with the fix when the GPU asked for is missing."""
    import torch  # imported when used: `gait2hip --help` stays fast

    name = name.strip().lower()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return name
    kind, _, index = name.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise ValueError(f"unknown device {name!r}; choose cpu, cuda, cuda:N or auto")
    if not torch.cuda.is_available():
        raise ValueError(
            f"device {name!r}: PyTorch {torch.__version__} sees no CUDA GPU (a CPU-only build, "
            "or no driver); use --device cpu, or install a CUDA build of the same torch version"
        )
    if index and int(index) >= torch.cuda.device_count():
        raise ValueError(
            f"device {name!r}: only {torch.cuda.device_count()} CUDA GPU(s) visible "
            f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})"
        )
    return name


def configure(threads: int | None = None, tune_malloc: bool = True) -> None:
    """Set torch threads (default: all cores) and keep freed memory in the heap.

    glibc serves allocations above 32 MB with fresh ``mmap`` pages and returns them on free,
    so each training step page-faults its big activation buffers in again. Raising the mmap
    and trim thresholds makes freed buffers reusable; measured 0.233 -> 0.107 s for one
    Mamba selective scan forward+backward at batch 64 (benchmarks/bench_scan.py,
    docs/speed.md).
    """
    import torch

    global _configured
    torch.set_num_threads(threads or os.cpu_count() or 1)
    if _configured or not tune_malloc:
        return
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
            m_trim_threshold, m_mmap_threshold = -1, -3
            libc.mallopt(m_mmap_threshold, 1 << 30)
            libc.mallopt(m_trim_threshold, 1 << 31)
        except OSError:  # not glibc (e.g. musl): keep the defaults
            pass
    _configured = True


# /proc/cpuinfo flag -> name, widest first (x86 "flags", Arm "Features")
SIMD = (
    ("avx512f", "AVX-512"),
    ("avx2", "AVX2"),
    ("avx", "AVX"),
    ("asimd", "NEON"),
    ("neon", "NEON"),
)


def machine_summary(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """This machine's CPU in one line for benchmark headers: model name, family/model, widest
    SIMD, cores. The development machine's CPU has changed between days (AVX-512 on one,
    AVX2 only on another), which moves every timing."""
    info: dict[str, str] = {}
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = info.get("model name") or platform.processor() or platform.machine()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    simd = next((label for flag, label in SIMD if flag in flags), "SIMD unknown")
    family = (
        f"family {info['cpu family']} model {info['model']}, "
        if "cpu family" in info and "model" in info
        else ""
    )
    return f"{name} ({family}{simd}), {os.cpu_count()} cores"


def device_summary(device: str = "cpu") -> str:
    """:func:`machine_summary`, led by the GPU's name and memory when ``device`` is one."""
    import torch

    dev = torch.device(device)
    if dev.type != "cuda":
        return machine_summary()
    props = torch.cuda.get_device_properties(dev)
    return (
        f"{props.name} ({props.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}); "
        f"host {machine_summary()}"
    )
