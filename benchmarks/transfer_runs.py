"""What the transfer benchmarks share: the moments run folders of `gait2hip transfer`
(runs/transfer) and the cycles each of its sources tests on."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from gait2hip.conventions import get_target
from gait2hip.data.cohort import load_cohort
from gait2hip.data.dataset import with_static_channels
from gait2hip.gait.signal import resample_cycles
from gait2hip.inference.predictor import Predictor, load_predictor
from gait2hip.io.npz import read_npz
from gait2hip.training.metrics import per_subject_metrics

FOLDERS = {
    "in-lab": "in-lab",
    "comf → fast": "comfortable-to-fast",
    "fast → comf": "fast-to-comfortable",
}
HELD_OUT = {"in-lab": None, "comf → fast": "fast", "fast → comf": "comfortable"}
MODELS = ("lstm-causal", "transformer-bidir", "mamba-causal")
DATA = ".cache/datasets/schreiber2019/schreiber2019_JM.npz"
#: the blends' broad model unless told otherwise
BROAD = "gait2hip60-wise"
RUNNING = ".cache/datasets/hamner2013/hamner2013_JM.npz"
#: the labelled files per target (walking, running)
LABELS = {
    "moments": (DATA, RUNNING),
    "forces": (".cache/datasets/schreiber2019/schreiber2019_MF.npz",
               ".cache/datasets/hamner2013/hamner2013_MF.npz"),
}  # fmt: skip


#: the walking data's folder in a transfer run, per target
DATASETS = {"moments": "schreiber2019_JM-moments", "forces": "schreiber2019_MF-forces"}


def unit_folder(
    runs: str | Path, source: str, profile: str, model: str, split: str, target: str = "moments"
) -> Path:
    """The unit (final model, folds, calibration) of one profile, model and split trained
    for ``source`` (the cohort's models are the in-lab ones)."""
    folder = FOLDERS.get(source, "in-lab")
    return (Path(runs) / folder / DATASETS[target] / profile / f"split{split}"
            / f"split{split}" / model / "seed2025")  # fmt: skip


class Cycles(NamedTuple):
    """One source's test cycles."""

    X: np.ndarray  # angles in the models' inputs, at their frames
    y: np.ndarray  # labels per kg, at the source's own frames
    height_m: np.ndarray
    subject: np.ndarray
    durations: np.ndarray | None = None  # s (None: not known, as for the cohort)
    mass_kg: np.ndarray | None = None  # body masses (None: not known)


def sources(unit_of, ds, cohort) -> dict[str, Cycles]:
    """name -> :class:`Cycles` of every source: the held-out subjects of ``unit_of(name,
    "recipe")`` (in-lab or the held-out speed; every profile of a split holds out the same)
    and each cohort group (predicted at the models' frames, compared at its own)."""
    out = {}
    durations = ds.cycle_durations()
    for name, held_out in HELD_OUT.items():
        with np.load(unit_of(name, "recipe") / "predictions.npz") as z:
            test = np.isin(ds.subject_id, z["subject_id"])
        if held_out:
            test &= ds.speed_label == held_out
        d = None if durations is None else durations[test]
        out[name] = Cycles(ds.X[test], ds.Y_per_kg[test], ds.height_m[test], ds.subject_id[test], d,
                           ds.weight_kg[test])  # fmt: skip
    return out | cohort_sources(ds, cohort)


def cohort_sources(ds, cohort) -> dict[str, Cycles]:
    """name -> :class:`Cycles` of each cohort group: its angles in ``ds``'s input columns at
    its frames, its hip moments at the cohort's own."""
    at = cohort.resampled(ds.n_frames)
    ref = cohort.reference("moments")
    idx = [list(at.angle_cols).index(c) for c in ds.in_cols]
    out = {}
    for g in cohort.groups:
        k = cohort.group == g
        X = at.angles[k][..., idx]
        out[f"cohort {g}"] = Cycles(X, ref[k], cohort.height_m[k], cohort.subject[k], None,
                                    cohort.mass_kg[k])  # fmt: skip
    return out


def subject_r2(pred, c: Cycles) -> pd.Series:
    """Subject R² (study definition) of predictor ``pred`` on the cycles ``c``."""
    return subject_r2_of(c, pred.predict(c.X, c.height_m, c.durations)[0])


def subject_r2_of(c: Cycles, point: np.ndarray) -> pd.Series:
    """Subject R² of predictions ``point`` at the models' frames against the cycles' labels
    (at their own frames)."""
    point = resample_cycles(point, c.y.shape[1])
    return per_subject_metrics(c.y, point, c.subject).set_index("subject")["r2"]


def each_unit(runs: str | Path, splits: str, models: tuple[str, ...] = MODELS):
    """Per architecture of ``models`` and split seed (comma-separated ``splits``): (model,
    split, ``unit_of(source, profile="gait2hip60-finetune")``, its sources, the recipe model's
    in-lab subject R²) from the transfer run folders ``runs``."""
    ds = read_npz(DATA, expected_out=get_target("moments"))
    cohort = load_cohort("spina_bifida_lee").with_contralateral()
    for model in models:
        for split in splits.split(","):

            def unit_of(name, profile="gait2hip60-finetune", model=model, split=split):
                return unit_folder(runs, name, profile, model, split)

            srcs = sources(unit_of, ds, cohort)
            recipe = load_predictor(unit_of("in-lab", "recipe"), ensemble=False)
            yield model, split, unit_of, srcs, subject_r2(recipe, srcs["in-lab"])


def running_sources(in_cols, target: str = "moments") -> dict[str, Cycles]:
    """Each running speed of hamner2013 (no heights; durations from its cycle times), with
    the ``target``'s labels."""
    path = LABELS[target][1]
    ds = read_npz(path, expected_out=get_target(target))
    X = ds.select_inputs(in_cols).X  # the angles, and a hip moment of ID where named
    dur = ds.cycle_durations()
    out = {}
    for speed in sorted(set(ds.speed_label.tolist())):
        k = ds.speed_label == speed
        d = None if dur is None else dur[k]
        out[f"hamner2013 {speed}"] = Cycles(
            X[k], ds.Y_per_kg[k], ds.height_m[k], ds.subject_id[k], d
        )
    return out


def tuned_of(runs: str | Path, profile: str, model: str, split: str):
    """``folder -> unit`` of a blend's own (fine-tuned) model: ``profile`` in ``runs``."""
    return lambda folder: unit_folder(runs, folder, profile, model, split)


def blend_pairs(unit_of, tuned_of=None, broad_of=None) -> dict[str, Predictor]:
    """Per source folder, the fine-tuned unit's final model (``tuned_of(folder)``; default
    the `gait2hip60-finetune` unit ``unit_of(folder)``) carrying the `gait2hip60-wise` unit's
    final model (``broad_of(folder)``; default ``unit_of(folder, "gait2hip60-wise")``) as its
    broad model (as the shipped default is built)."""
    tuned_of = tuned_of or unit_of
    broad_of = broad_of or (lambda f: unit_of(f, BROAD))
    return {
        f: dataclasses.replace(
            load_predictor(tuned_of(f), ensemble=False),
            broad=load_predictor(broad_of(f), ensemble=False),
        )
        for f in FOLDERS
    }


def with_training_masses(pred: Predictor):
    """``pred``'s calibration with the body masses of the cycles its final model learnt from
    (its dataset, the subjects it did not hold out), for units trained before calibrations
    kept them (as it is where they are kept)."""
    cal = pred.calibration
    if len(cal.masses):
        return cal
    meta = pred.final.meta
    ds = read_npz(meta["dataset"], expected_in_cols=None)
    pool = ~np.isin(ds.subject_id, meta["test_subjects"])
    return dataclasses.replace(cal, masses=np.sort(ds.weight_kg[pool]))


def model_inputs(pred: Predictor, c: Cycles) -> np.ndarray:
    """The cycles' angles with the per-cycle inputs ``pred`` takes after them (cycle
    duration, body height; NaN where the source does not give them)."""
    known = {"cycle_duration_s": c.durations, "body_height_m": c.height_m}
    return with_static_channels(c.X, pred.in_cols[c.X.shape[-1] :], known).astype(np.float32)


def each_blend(
    runs, splits, models, tuned: str, tuned_runs=None, tuned_model=None, running=False,
    broad_runs=None, broad_profile=BROAD, broad_model=None,
):  # fmt: skip
    """Per architecture of ``models``, split and source (``running``: the hamner2013 rows
    too): (label, split, the recipe's in-lab subject R², source name, its :class:`Cycles`, the
    blend for that source (:func:`blend_pairs`)), the blend's own model being the ``tuned``
    profile's units in ``tuned_runs`` (default ``runs``) of ``tuned_model`` (default the
    loop's architecture, which the broad model and the recipe always are), and its broad model
    the ``broad_profile`` units (default `gait2hip60-wise`; `gait2hip60`: the published weights
    as they are) of ``broad_model`` (default the loop's architecture) in ``broad_runs`` (default
    ``runs``). The label is the blend's
    own model's (``tuned_model`` where given, e.g. an average of `gait2hip average`)."""
    for model, split, unit_of, srcs, base in each_unit(runs, splits, models):
        own = tuned_of(tuned_runs or runs, tuned, tuned_model or model, split)
        broad = tuned_of(broad_runs or runs, broad_profile, broad_model or model, split)
        pairs = blend_pairs(unit_of, own, broad)
        if running:
            srcs |= running_sources(pairs["in-lab"].broad.in_cols)
        for name, c in srcs.items():
            pair = pairs[name if name in FOLDERS else "in-lab"]
            yield tuned_model or model, split, base, name, c, pair
