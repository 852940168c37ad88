"""Where gait2hip finds data and writes caches and runs (environment variables)."""

from __future__ import annotations

import os
from pathlib import Path


def data_root() -> Path:
    """Bundled real data: ``$GAIT2HIP_DATA``, default ``../shared/data``."""
    root = Path(os.environ.get("GAIT2HIP_DATA", "../shared/data"))
    if not root.is_dir():
        raise FileNotFoundError(
            f"data folder {root.resolve()} not found; set GAIT2HIP_DATA to the folder that "
            "holds schreiber2019/, models/, ..."
        )
    return root


def cache_dir() -> Path:
    """Caches of derived data: ``$GAIT2HIP_CACHE``, default ``.cache``."""
    return Path(os.environ.get("GAIT2HIP_CACHE", ".cache"))


def runs_dir() -> Path:
    """Benchmark run folders: ``$GAIT2HIP_RUNS``, default ``runs``."""
    return Path(os.environ.get("GAIT2HIP_RUNS", "runs"))


def labels_dir() -> Path:
    """Per-trial OpenSim labels (the dataset builder's cache)."""
    return cache_dir() / "labels"


def dataset_dir(name: str) -> Path:
    """Where ``gait2hip build-dataset`` writes dataset ``name`` by default."""
    return cache_dir() / "datasets" / name


#: File-name suffix of a built dataset per target (the study's MF60 / JM60 naming).
DATASET_SUFFIX = {"forces": "MF", "moments": "JM"}


def dataset_file(name: str, target: str, folder: Path | None = None) -> Path:
    """The NPZ of ``target`` (forces or moments) of built dataset ``name``, in ``folder``
    (default :func:`dataset_dir`)."""
    return (folder or dataset_dir(name)) / f"{name}_{DATASET_SUFFIX[target]}.npz"


def find_dataset(path: str | Path) -> Path:
    """A model's training dataset as its checkpoint names it: the path where it is a file,
    else, for a bare built-dataset file name (``<name>_MF.npz``, as the shipped default
    records it), that file where ``gait2hip build-dataset`` writes it (:func:`dataset_dir`);
    else ``path`` as given."""
    path = Path(path)
    if path.is_file() or path.parent != Path("."):
        return path
    name, sep, suffix = path.stem.rpartition("_")
    if sep and path.suffix == ".npz" and suffix in DATASET_SUFFIX.values():
        built = dataset_dir(name) / path.name
        if built.is_file():
            return built
    return path
