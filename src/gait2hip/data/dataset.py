"""A validated hip-dynamics dataset: gait cycles of joint angles with hip targets.

Validation happens here, at the door, so every later layer can trust the arrays:
shapes agree, columns are the expected ones in the expected order (reordered by name when
possible), values are finite, angles are in degrees, body masses and heights are plausible.
Errors name the source file and the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gait2hip.conventions import (
    EXTRA_HIP_MOMENTS,
    INPUT_COLS,
    MOMENT_COLS,
    RADIAN_SUSPECT_MAX_ABS,
    SERIES_INPUTS,
    STATIC_INPUTS,
    TARGETS,
    Target,
    target_for_cols,
)


class DataError(ValueError):
    """Bad input data; the message names the source and how to fix it."""


# Plausible ranges of per-trial metadata (also checked for prediction input).
MASS_RANGE_KG = (10.0, 300.0)
HEIGHT_RANGE_M = (0.5, 2.5)


def _closest(name: str, options: Sequence[str]) -> str:
    near = difflib.get_close_matches(name, list(options), n=2, cutoff=0.5)
    return f" (did you mean {' or '.join(repr(n) for n in near)}?)" if near else ""


def order_columns(
    cols: Sequence[str], expected: Sequence[str], what: str, source: str
) -> np.ndarray | None:
    """Index array that puts ``cols`` into ``expected`` order; None if already in order.

    Raises DataError naming missing and unexpected columns (with close-name suggestions).
    """
    cols = list(cols)
    if cols == list(expected):
        return None
    missing = [c for c in expected if c not in cols]
    if missing or len(cols) != len(expected):
        extra = [c for c in cols if c not in expected]
        hints = "; ".join(f"{m!r} missing{_closest(m, extra)}" for m in missing)
        raise DataError(
            f"{source}: {what} columns do not match. Expected {len(expected)} columns "
            f"{list(expected)}; got {len(cols)}. {hints}"
            + (f"; unexpected: {extra}" if extra else "")
            + ". Rename the columns to the OpenSim coordinate names above."
        )
    if len(set(cols)) != len(cols):
        raise DataError(f"{source}: duplicated {what} column names in {cols}")
    return np.array([cols.index(c) for c in expected])


def with_static_channels(
    X: np.ndarray, names: Sequence[str], values: Mapping[str, Any]
) -> np.ndarray:
    """(N, T, C) cycles with the per-cycle scalars ``names`` (:data:`STATIC_INPUTS`) appended
    as channels constant over each cycle's frames; ``values[name]`` is per cycle (N,) or one
    for all, None where unknown (NaN channels)."""
    n, t = X.shape[:2]
    columns = [
        np.broadcast_to(np.asarray(np.nan if values[c] is None else values[c], np.float32), (n,))
        for c in names
    ]
    if not columns:
        return X
    static = np.repeat(np.stack(columns, axis=-1)[:, None, :], t, axis=1)
    return np.concatenate([X, static], axis=-1)


def input_columns_for(
    model_cols: Sequence[str], data_cols: Sequence[str], source: str
) -> np.ndarray:
    """Indices of a model's input channels among the data's; refuses data that lacks one."""
    data_cols = list(data_cols)
    missing = [c for c in model_cols if c not in data_cols]
    if missing:
        from gait2hip.conventions import input_set_name

        usable = [c for c in data_cols if c in INPUT_COLS]
        raise DataError(
            f"{source}: lacks input channels {missing} that the model was trained on "
            f"({input_set_name(tuple(model_cols))}: {list(model_cols)}); the data has "
            f"{data_cols}. Use a model trained on channels the data has"
            + (f", e.g. `gait2hip benchmark ... --inputs {','.join(usable)}`" if usable else "")
        )
    return np.array([data_cols.index(c) for c in model_cols])


@dataclass(frozen=True)
class GaitDataset:
    """Gait cycles resampled to T frames.

    X: (N, T, C) joint angles in degrees, columns ``in_cols``.
    Y: (N, T, K) targets in file units (N for forces, N·m for moments), columns ``out_cols``.
    subject_id, speed_label: (N,) strings; height_m, weight_kg: (N,) floats.
    """

    X: np.ndarray
    Y: np.ndarray
    subject_id: np.ndarray
    weight_kg: np.ndarray
    height_m: np.ndarray
    speed_label: np.ndarray
    in_cols: tuple[str, ...]
    out_cols: tuple[str, ...]
    source: str = "<memory>"
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_arrays(
        cls,
        X: np.ndarray,
        Y: np.ndarray,
        subject_id: Sequence,
        weight_kg: Sequence[float],
        height_m: Sequence[float] | None = None,
        speed_label: Sequence[str] | None = None,
        in_cols: Sequence[str] = INPUT_COLS,
        out_cols: Sequence[str] | None = None,
        *,
        source: str = "<memory>",
        expected_in_cols: Sequence[str] | None = INPUT_COLS,
        expected_out: Target | None = None,
        y_per_kg: bool = False,
    ) -> GaitDataset:
        """Validate and build. Columns are reordered to ``expected_in_cols`` (and to
        ``expected_out.cols``) by name; ``y_per_kg=True`` says Y is already divided by
        body mass (it is then multiplied back, since files hold N and N·m)."""
        X = np.asarray(X, dtype=np.float32)
        Y = np.asarray(Y, dtype=np.float32)
        in_cols = tuple(str(c) for c in in_cols)
        if out_cols is None:
            if expected_out is None:
                raise DataError(f"{source}: out_cols is required")
            out_cols = expected_out.cols
        out_cols = tuple(str(c) for c in out_cols)

        if X.ndim != 3:
            raise DataError(f"{source}: X must be (trials, frames, angles), got shape {X.shape}")
        if Y.ndim != 3:
            raise DataError(f"{source}: Y must be (trials, frames, channels), got shape {Y.shape}")
        n, t, _ = X.shape
        if Y.shape[:2] != (n, t):
            raise DataError(
                f"{source}: X is {X.shape} but Y is {Y.shape}; both need the same number "
                "of trials and frames"
            )
        if X.shape[2] != len(in_cols):
            raise DataError(
                f"{source}: X has {X.shape[2]} angle channels but in_cols names {len(in_cols)}"
            )
        if Y.shape[2] != len(out_cols):
            raise DataError(
                f"{source}: Y has {Y.shape[2]} channels but out_cols names {len(out_cols)}"
            )
        if n == 0:
            raise DataError(f"{source}: the dataset holds no trials")
        if t < 10:
            raise DataError(
                f"{source}: only {t} frames per cycle; resample each gait cycle to at least "
                "10 frames (the study uses 180)"
            )

        def per_trial(values, name, dtype):
            if values is None:
                return None
            arr = np.asarray(values)
            if arr.ndim == 0:
                arr = np.full(n, arr)
            if arr.shape != (n,):
                raise DataError(
                    f"{source}: {name} must have one value per trial ({n}), got {arr.shape}"
                )
            return arr.astype(dtype)

        subject_id = per_trial(_decode(subject_id), "subject_id", str)
        weight_kg = per_trial(weight_kg, "weight_kg", np.float64)
        height_m = per_trial(height_m, "height_m", np.float64)
        if height_m is None:
            height_m = np.full(n, np.nan)
        speed_label = per_trial(_decode(speed_label), "speed_label", str)
        if speed_label is None:
            speed_label = np.full(n, "unknown")

        if expected_in_cols is not None:
            idx = order_columns(in_cols, expected_in_cols, "input angle", source)
            if idx is not None:
                X = X[:, :, idx]
                in_cols = tuple(expected_in_cols)
        if expected_out is None:
            expected_out = target_for_cols(out_cols)
        if expected_out is not None:
            idx = order_columns(out_cols, expected_out.cols, "output", source)
            if idx is not None:
                Y = Y[:, :, idx]
                out_cols = expected_out.cols

        _check_finite(X, "X (angles)", source)
        _check_finite(Y, "Y (targets)", source)
        _check_finite(weight_kg, "weight_kg", source)
        _check_degrees(X, source)
        lo, hi = MASS_RANGE_KG
        if np.any((weight_kg < lo) | (weight_kg > hi)):
            bad = np.flatnonzero((weight_kg < lo) | (weight_kg > hi))[:5]
            raise DataError(
                f"{source}: weight_kg outside {lo}-{hi} kg for trials {bad.tolist()} "
                f"(values {weight_kg[bad].tolist()}); give body mass in kg"
            )
        lo, hi = HEIGHT_RANGE_M
        known = np.isfinite(height_m)
        if np.any(known & ((height_m < lo) | (height_m > hi))):
            bad = np.flatnonzero(known & ((height_m < lo) | (height_m > hi)))[:5]
            hint = " (looks like cm: divide by 100)" if np.all(height_m[bad] > 50) else ""
            raise DataError(
                f"{source}: height_m outside {lo}-{hi} m for trials {bad.tolist()}{hint}"
            )
        if y_per_kg:
            Y = (Y * weight_kg[:, None, None]).astype(np.float32)
        elif expected_out is not None:
            _check_absolute_units(Y, weight_kg, expected_out, source)
        return cls(
            X=X,
            Y=Y,
            subject_id=subject_id,
            weight_kg=weight_kg,
            height_m=height_m,
            speed_label=speed_label,
            in_cols=in_cols,
            out_cols=out_cols,
            source=source,
        )

    # ---------------------------------------------------------------- views
    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.X.shape[1])

    @property
    def subjects(self) -> np.ndarray:
        """Unique subject ids, sorted."""
        return np.unique(self.subject_id)

    @property
    def target(self) -> Target | None:
        return target_for_cols(self.out_cols)

    @property
    def Y_per_kg(self) -> np.ndarray:
        """Targets divided by body mass (N/kg or Nm/kg): what models are trained on."""
        return (self.Y / self.weight_kg[:, None, None]).astype(np.float32)

    def subset(self, idx: np.ndarray) -> GaitDataset:
        idx = np.asarray(idx)
        return GaitDataset(
            X=self.X[idx],
            Y=self.Y[idx],
            subject_id=self.subject_id[idx],
            weight_kg=self.weight_kg[idx],
            height_m=self.height_m[idx],
            speed_label=self.speed_label[idx],
            in_cols=self.in_cols,
            out_cols=self.out_cols,
            source=self.source,
            extra={k: v[idx] for k, v in self.extra.items()},
        )

    def cycle_durations(self) -> np.ndarray | None:
        """(N,) heel strike to heel strike, s; None when the data carry no cycle times."""
        if "cycle_t0" not in self.extra or "cycle_t1" not in self.extra:
            return None
        return self.static_input("cycle_duration_s").astype(np.float64)

    def static_input(self, name: str) -> np.ndarray:
        """(N,) values of the per-cycle scalar ``name`` (:data:`STATIC_INPUTS`)."""
        if name == "body_height_m":
            return self.height_m.astype(np.float32)
        if name == "cycle_duration_s":
            if "cycle_t0" not in self.extra or "cycle_t1" not in self.extra:
                raise DataError(
                    f"{self.source}: no cycle times ('cycle_t0', 'cycle_t1': each cycle's heel "
                    "strikes in s), so no cycle_duration_s input; datasets built by `gait2hip "
                    "build-dataset` carry them, or drop cycle_duration_s from --inputs"
                )
            duration = np.asarray(self.extra["cycle_t1"], float) - self.extra["cycle_t0"]
            if not (np.isfinite(duration).all() and (duration > 0).all()):
                raise DataError(f"{self.source}: cycle_t1 - cycle_t0 must be finite and > 0")
            return duration.astype(np.float32)
        raise DataError(f"unknown per-cycle input {name!r}; choose from {list(STATIC_INPUTS)}")

    def series_input(self, name: str) -> np.ndarray:
        """(N, T) values of the per-frame series ``name`` (:data:`SERIES_INPUTS`: a hip moment
        of the cycles' inverse dynamics, per kg of body mass)."""
        if name not in SERIES_INPUTS:
            raise DataError(f"unknown series input {name!r}; choose from {list(SERIES_INPUTS)}")
        if EXTRA_HIP_MOMENTS not in self.extra:
            raise DataError(
                f"{self.source}: no '{EXTRA_HIP_MOMENTS}' (each cycle's hip moments from "
                f"inverse dynamics, N·m) beside the cycles, so no {name} input; forces "
                "datasets built by `gait2hip build-dataset` carry them, or drop hip_moments "
                "from --inputs"
            )
        moments = np.asarray(self.extra[EXTRA_HIP_MOMENTS], dtype=np.float64)
        column = moments[:, :, MOMENT_COLS.index(name)] / self.weight_kg[:, None]
        return column.astype(np.float32)

    def select_inputs(self, cols: Sequence[str]) -> GaitDataset:
        """The same cycles with only the input channels ``cols`` (in that order); names of
        :data:`SERIES_INPUTS` become the cycles' inverse-dynamics hip moments per kg, names of
        :data:`STATIC_INPUTS` channels constant over each cycle's frames."""
        cols = tuple(cols)
        if cols == self.in_cols:
            return self
        extras = (*SERIES_INPUTS, *STATIC_INPUTS)
        missing = [c for c in cols if c not in self.in_cols and c not in extras]
        if missing:
            raise DataError(
                f"{self.source}: no input channels {missing} (it has {list(self.in_cols)})"
            )
        T = self.n_frames

        def channel(c: str) -> np.ndarray:
            if c in self.in_cols:
                return self.X[:, :, self.in_cols.index(c)]
            if c in SERIES_INPUTS:
                return self.series_input(c)
            return np.repeat(self.static_input(c)[:, None], T, axis=1)

        channels = [channel(c) for c in cols]
        return replace(
            self,
            X=np.ascontiguousarray(np.stack(channels, axis=-1), dtype=np.float32),
            in_cols=cols,
        )

    def joint(self) -> GaitDataset:
        """This forces dataset with its cycles' hip moments (``EXTRA_HIP_MOMENTS``) appended as
        outputs: the ``joint`` target (forces then moments, N and N·m)."""
        if self.target is None or self.target.name != "forces":
            raise DataError(f"{self.source}: the joint target is built from a forces dataset")
        if EXTRA_HIP_MOMENTS not in self.extra:
            raise DataError(
                f"{self.source}: no '{EXTRA_HIP_MOMENTS}' beside the forces, so no joint target; "
                "datasets built by `gait2hip build-dataset` carry them (rebuild older ones)"
            )
        moments = np.asarray(self.extra[EXTRA_HIP_MOMENTS], dtype=np.float32)
        ds = self.with_outputs(
            np.concatenate([self.Y, moments], axis=2),
            self.out_cols + MOMENT_COLS,
            expected_out=TARGETS["joint"],
        )
        ds.extra.update(self.extra)
        return ds

    def with_outputs(
        self,
        Y: np.ndarray,
        out_cols: Sequence[str],
        *,
        expected_out: Target | None = None,
        source: str | None = None,
    ) -> GaitDataset:
        """The same cycles (inputs, subjects, metadata) with other outputs ``Y`` (file units),
        validated as any dataset; no extras."""
        return GaitDataset.from_arrays(
            X=self.X,
            Y=Y,
            subject_id=self.subject_id,
            weight_kg=self.weight_kg,
            height_m=self.height_m,
            speed_label=self.speed_label,
            in_cols=self.in_cols,
            out_cols=out_cols,
            source=self.source if source is None else source,
            expected_in_cols=None,
            expected_out=expected_out,
        )

    def describe(self) -> str:
        return (
            f"{len(self)} trials of {len(self.subjects)} subjects, {self.n_frames} frames, "
            f"{len(self.in_cols)} inputs -> {len(self.out_cols)} outputs "
            f"({', '.join(sorted(set(self.speed_label.tolist())))}) from {self.source}"
        )


def _decode(values):
    if values is None:
        return None
    arr = np.asarray(values)
    if arr.dtype.kind == "S" or (
        arr.dtype == object and arr.size and isinstance(arr.flat[0], bytes)
    ):
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in arr.ravel()])
    return arr


def _check_finite(arr: np.ndarray, name: str, source: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        trials = np.unique(np.nonzero(bad)[0])
        raise DataError(
            f"{source}: {name} has {int(bad.sum())} NaN/inf values in trials "
            f"{trials[:10].tolist()}{' ...' if len(trials) > 10 else ''}; fill short gaps by "
            "interpolation or drop those trials"
        )


def _check_absolute_units(
    Y: np.ndarray, weight_kg: np.ndarray, target: Target, source: str
) -> None:
    peak = float(np.median(np.max(np.abs(Y), axis=(1, 2)) / weight_kg))
    if peak < target.min_peak_per_kg:
        raise DataError(
            f"{source}: {target.name} peak at a median {peak:.3g} {target.train_unit} once "
            f"divided by body mass, implausibly small: Y looks already normalised per kg. "
            f"Files hold {target.file_unit}; multiply Y by weight_kg, or load with "
            "y_per_kg=True"
        )


def _check_degrees(X: np.ndarray, source: str) -> None:
    peak = float(np.max(np.abs(X)))
    if peak < RADIAN_SUSPECT_MAX_ABS:
        raise DataError(
            f"{source}: joint angles peak at {peak:.2f}, which looks like radians (walking "
            "hip/knee angles span tens of degrees); convert with np.degrees() or "
            "multiply by 180/pi"
        )
