"""Process-wide runtime settings for training and inference; called by entry points
(CLI, benchmarks), never at import time."""

from __future__ import annotations

import ctypes
import os
import sys

import torch

_configured = False


def configure(threads: int | None = None, tune_malloc: bool = True) -> None:
    """Set torch threads (default: all cores) and keep freed memory in the heap.

    glibc serves allocations above 32 MB with fresh ``mmap`` pages and returns them on free,
    so each training step page-faults its big activation buffers in again. Raising the mmap
    and trim thresholds makes freed buffers reusable; measured 0.233 -> 0.107 s for one
    Mamba selective scan forward+backward at batch 64 (benchmarks/bench_scan.py,
    docs/speed.md).
    """
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
