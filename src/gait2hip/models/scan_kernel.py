"""gait2hip's compiled CPU kernels (``scan_kernel.cpp``), built on first use: Mamba's
selective scan and the causal convolution + SiLU before it (:mod:`gait2hip.models.scan`),
and the Transformer's dropouts in training: the attention weights' mask
(:func:`gait2hip.models.dropout.softmax_dropout`), dropout + residual add
(:func:`~gait2hip.models.dropout.dropout_add`) and ReLU + dropout
(:func:`~gait2hip.models.dropout.relu_dropout`).

PyTorch's C++ extension loader compiles them once per CPU instruction set (AVX-512, AVX2 or
plain) into ``$GAIT2HIP_CACHE/torch_extensions`` (about a minute; it needs a C++ compiler,
and ninja, which gait2hip installs) and later processes load them from there. Where they
cannot be built, PyTorch's own operations run instead (the scan:
:func:`gait2hip.models.scan.scan_fused`'s loop), after one warning;
``GAIT2HIP_SCAN_KERNEL=0`` switches them off.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import warnings
from pathlib import Path
from types import ModuleType

import torch

from gait2hip.models.switch import Switch

SOURCE = Path(__file__).with_name("scan_kernel.cpp")
_ARCH_FLAGS = {
    "AVX512": ["-mavx512f", "-mavx512dq", "-mavx512vl", "-mavx512bw", "-mavx2", "-mfma"],
    "AVX2": ["-mavx2", "-mfma"],
}


def _build_settings() -> tuple[str, list[str], list[str]]:
    """(extension name, compiler flags, linker flags) for this CPU and source."""
    cap = torch.backends.cpu.get_cpu_capability()
    linux = sys.platform.startswith("linux")
    flags = ["-O3", "-ffast-math", "-fopenmp-simd", *_ARCH_FLAGS.get(cap, [])]
    # at::parallel_for is inline: with PyTorch's OpenMP backend it spreads the batch rows over
    # PyTorch's threads only if the extension is compiled with OpenMP (without, one thread ran
    # every kernel); GOMP's symbols then come from the libgomp PyTorch has loaded.
    if linux and torch.backends.openmp.is_available():
        flags.append("-fopenmp")
    # glibc's vector math library: the exp of 8 or 16 lanes at once
    ldflags = ["-lmvec"] if linux and cap in _ARCH_FLAGS else []
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(flags).encode()).hexdigest()[:10]
    return f"gait2hip_scan_{cap.lower()}_{digest}", flags, ldflags


def _ninja_on_path() -> None:
    """PyTorch's loader runs ``ninja`` from PATH; the pip-installed one (a dependency) lives
    in the environment's bin folder, which is not on PATH when the environment is not
    activated."""
    try:
        import ninja
    except ImportError:
        return
    folder = str(ninja.BIN_DIR)
    if folder not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([folder, os.environ.get("PATH", "")])


KERNEL = Switch()
#: Within it, PyTorch's operations run instead of the compiled kernels (benchmarks).
pytorch_scan = KERNEL.off


def enabled(compile: bool = True) -> bool:
    """Whether the compiled kernel is to be used (and could be built); with ``compile``
    False only if that costs no compilation (:func:`built`): prediction does not wait a
    minute for a kernel that a few cycles do not need."""
    return KERNEL.on and (compile or built()) and kernel() is not None


def _build_dir() -> Path:
    from gait2hip import settings

    return settings.cache_dir() / "torch_extensions" / _build_settings()[0]


def built() -> bool:
    """Whether the kernel is loaded in this process or built for this CPU and source already
    (by an earlier training, say), so that using it costs no compilation."""
    return kernel.cache_info().currsize > 0 or any(_build_dir().glob("*.so"))


@functools.cache
def kernel() -> ModuleType | None:
    """The built extension, or None (switched off, or it could not be built: warned once)."""
    if os.environ.get("GAIT2HIP_SCAN_KERNEL", "1") == "0":
        return None
    from torch.utils.cpp_extension import load_inline

    name, flags, ldflags = _build_settings()
    build = _build_dir()
    _ninja_on_path()
    try:
        build.mkdir(parents=True, exist_ok=True)
        if not any(build.glob("*.so")):
            print(
                "gait2hip: compiling its CPU kernels (Mamba's scan, the Transformer's dropouts) "
                f"for this CPU once (about a minute; "
                f"cached in {build})",
                file=sys.stderr,
            )
        return load_inline(
            name,
            cpp_sources=SOURCE.read_text(),
            functions=[
                "scan_forward",
                "scan_backward",
                "conv_silu_forward",
                "conv_silu_backward",
                "dropout_mask",
                "dropout_add_forward",
                "relu_dropout_forward",
                "relu_dropout_backward",
                "parallel_threads",
            ],
            extra_cflags=flags,
            extra_ldflags=ldflags,
            build_directory=str(build),
            verbose=False,
        )
    except Exception as err:  # no compiler, no ninja, a read-only cache: the PyTorch scan
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        warnings.warn(
            "the compiled CPU kernels (Mamba's scan, the Transformer's dropouts) could not be "
            f"built ({first}); using PyTorch's slower operations (GAIT2HIP_SCAN_KERNEL=0 silences "
            "this)",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
