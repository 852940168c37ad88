"""External cohorts given as gait cycles: a user's patients, or a bundled clinical cohort.

A cohort is a set of time-normalised gait cycles of one leg or both: joint angles in
degrees, optionally reference hip moments and/or muscle forces, and per-cycle subject,
group and body mass. Models trained on the bundled healthy datasets are evaluated on it
zero-shot or fine-tuned on a few of its subjects (:mod:`gait2hip.external`).

File formats (``docs/external.md`` documents them with examples):

* NPZ: ``angles`` (N, T, C) degrees with ``angle_channels`` (C,); ``subject`` (N,);
  optional ``group`` (N,), ``mass_kg`` (N,), ``moments`` (N, T, 3) with ``moment_channels``
  and ``moment_unit``, ``forces`` (N, T, 14) with ``force_channels`` and ``force_unit``. Other
  (N,) arrays are kept as per-cycle metadata.
* CSV: one row per frame, columns ``subject``, ``cycle``, optional ``group``, ``mass_kg`` and
  ``height_m`` (or ``height_cm``), then the channels; every cycle with the same number of
  frames, in order.

A body height per cycle (NPZ ``height_m`` or ``height_cm``, (N,)) makes models scale their
hip moments to it (:func:`gait2hip.conventions.size_factors`). A duration per cycle (NPZ or
CSV ``cycle_duration_s``, heel strike to heel strike in s) is read by models that take it
and by their pace check, as `predict` reads a timed trial's.

Channel names are gait2hip's (``hip_flexion_r``, ``hip_flexion_r_moment``, ``glmed_r``) or
side-less (``hip_flexion``, ``hip_flexion_moment``, ``glmed``): a side-less name is the
analysed leg, in right-side conventions (left legs mirrored, as OpenSim's left-side
coordinates already are), so it maps onto the ``_r`` channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from gait2hip.conventions import INPUT_COLS, SINGLE_TARGETS, TARGETS, Target, mirror_name
from gait2hip.data.dataset import (
    HEIGHT_RANGE_M,
    MASS_RANGE_KG,
    DataError,
    GaitDataset,
    _check_degrees,
    _check_finite,
    _decode,
    order_columns,
)
from gait2hip.gait.events import STRIDE_RANGE_S
from gait2hip.gait.signal import resample_cycles
from gait2hip.io.files import existing_file
from gait2hip.io.storage import StorageFormatError
from gait2hip.io.tables import read_table

#: Accepted unit spellings per target: per kg, or in file units (then divided by mass).
UNITS: dict[str, dict[str, bool]] = {
    "moments": {"N·m/kg": True, "Nm/kg": True, "N.m/kg": True, "N·m": False, "Nm": False},
    "forces": {"N/kg": True, "N": False},
}
#: The NPZ keys of each target's array, channel names and unit.
TARGET_KEYS: dict[str, tuple[str, str, str]] = {
    "moments": ("moments", "moment_channels", "moment_unit"),
    "forces": ("forces", "force_channels", "force_unit"),
}
RESERVED = {"angles", "angle_channels", "subject", "group", "mass_kg"} | {
    k for keys in TARGET_KEYS.values() for k in keys
}
MIN_FRAMES = 10
#: Per-cycle body-height columns (NPZ keys / CSV columns) and their factor to metres.
HEIGHT_COLS: dict[str, float] = {"height_m": 1.0, "height_cm": 0.01}
#: The per-cycle duration column (NPZ key / CSV column): heel strike to heel strike, s.
DURATION_COL = "cycle_duration_s"


def _strip_side(name: str) -> str:
    if name.endswith("_r"):
        return name[:-2]
    return name.replace("_r_", "_", 1)


def canonical_names(names: Sequence[str], known: Sequence[str]) -> list[str]:
    """Map side-less names (the analysed leg) onto the ``_r`` names in ``known``."""
    side_less = {_strip_side(k): k for k in known}
    return [n if n in known else side_less.get(n, n) for n in (str(x).strip() for x in names)]


@dataclass(frozen=True)
class Cohort:
    """Validated external gait cycles. ``targets`` hold references per kg (N/kg, Nm/kg),
    columns of the study target (:data:`gait2hip.conventions.TARGETS`)."""

    name: str
    angles: np.ndarray  # (N, T, C) degrees
    angle_cols: tuple[str, ...]
    subject: np.ndarray
    group: np.ndarray
    mass_kg: np.ndarray  # NaN where unknown
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)
    source: str = "<memory>"
    # channels not measured but assumed (with_contralateral), reported with every result
    assumed: tuple[str, ...] = ()

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_arrays(
        cls,
        angles: np.ndarray,
        angle_channels: Sequence[str],
        subject: Sequence,
        *,
        group: Sequence | None = None,
        mass_kg: Sequence[float] | None = None,
        targets: dict[str, tuple[np.ndarray, Sequence[str], str]] | None = None,
        meta: pd.DataFrame | None = None,
        name: str = "cohort",
        source: str = "<memory>",
    ) -> Cohort:
        """Validate and build. ``targets`` maps ``moments``/``forces`` to (array, channel
        names, unit), units as in :data:`UNITS`."""
        angles = np.asarray(angles, dtype=np.float32)
        if angles.ndim != 3:
            raise DataError(
                f"{source}: angles must be (cycles, frames, channels), got {angles.shape}"
            )
        n, t, c = angles.shape
        if n == 0:
            raise DataError(f"{source}: the cohort holds no cycles")
        if t < MIN_FRAMES:
            raise DataError(
                f"{source}: only {t} frames per cycle; time-normalise each cycle to at least "
                f"{MIN_FRAMES} samples (e.g. 101, 0-100 %)"
            )
        cols = canonical_names(angle_channels, INPUT_COLS)
        if len(cols) != c:
            raise DataError(f"{source}: angles have {c} channels but {len(cols)} names")
        if len(set(cols)) != c:
            raise DataError(f"{source}: duplicated angle channels {cols}")
        if not set(cols) & set(INPUT_COLS):
            raise DataError(
                f"{source}: no known angle channel among {cols}; name them as OpenSim "
                f"coordinates ({', '.join(INPUT_COLS)}) or side-less for the analysed leg "
                "(hip_flexion, knee_angle, ...)"
            )
        _check_finite(angles, "angles", source)
        _check_degrees(angles, source)

        def per_cycle(values, what, dtype, default):
            if values is None:
                return np.full(n, default, dtype=dtype)
            arr = np.asarray(_decode(values))
            if arr.shape != (n,):
                raise DataError(
                    f"{source}: {what} needs one value per cycle ({n}), got {arr.shape}"
                )
            return arr.astype(dtype)

        subject = per_cycle(subject, "subject", str, "")
        group = per_cycle(group, "group", str, "all")
        mass = per_cycle(mass_kg, "mass_kg", np.float64, np.nan)
        known = np.isfinite(mass)
        lo, hi = MASS_RANGE_KG
        if np.any(known & ((mass < lo) | (mass > hi))):
            bad = np.flatnonzero(known & ((mass < lo) | (mass > hi)))[:5]
            raise DataError(
                f"{source}: mass_kg outside {lo}-{hi} kg for cycles {bad.tolist()}; give body "
                "mass in kg"
            )

        per_kg: dict[str, np.ndarray] = {}
        for tname, (values, channels, unit) in (targets or {}).items():
            target = TARGETS[tname]
            per_kg[tname] = _target_per_kg(values, channels, unit, target, mass, (n, t), source)
        meta = pd.DataFrame(index=range(n)) if meta is None else meta.reset_index(drop=True)
        if len(meta) != n:
            raise DataError(f"{source}: metadata has {len(meta)} rows for {n} cycles")
        cohort = cls(
            name=name,
            angles=angles,
            angle_cols=tuple(cols),
            subject=subject,
            group=group,
            mass_kg=mass,
            targets=per_kg,
            meta=meta,
            source=source,
        )
        cohort.height_m  # noqa: B018 (refuses implausible heights now, naming the file)
        cohort.duration_s  # noqa: B018 (and durations)
        return cohort

    # ---------------------------------------------------------------- views
    def __len__(self) -> int:
        return int(self.angles.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.angles.shape[1])

    @property
    def groups(self) -> list[str]:
        return sorted(set(self.group.tolist()))

    def subjects(self, group: str | None = None) -> np.ndarray:
        m = np.ones(len(self), bool) if group is None else self.group == group
        return np.unique(self.subject[m])

    @property
    def height_m(self) -> np.ndarray:
        """(N,) body height in m per cycle, from the metadata column ``height_m`` or
        ``height_cm``; NaN where unknown. Models scale their hip moments to it."""
        for col, scale in HEIGHT_COLS.items():
            if col in self.meta:
                h = pd.to_numeric(self.meta[col], errors="coerce").to_numpy(float) * scale
                bad = np.isfinite(h) & ((h < HEIGHT_RANGE_M[0]) | (h > HEIGHT_RANGE_M[1]))
                if bad.any():
                    raise DataError(
                        f"{self.source}: {col} of cycles {np.flatnonzero(bad)[:5].tolist()} "
                        f"is outside {HEIGHT_RANGE_M[0]}-{HEIGHT_RANGE_M[1]} m; give "
                        "height_m in metres or height_cm in centimetres"
                    )
                return h
        return np.full(len(self), np.nan)

    @property
    def duration_s(self) -> np.ndarray:
        """(N,) each cycle's duration in s (heel strike to heel strike) from the metadata
        column ``cycle_duration_s``; NaN where unknown (the cycles were time-normalised
        without it). Models that take a cycle's duration read it."""
        if DURATION_COL not in self.meta:
            return np.full(len(self), np.nan)
        d = pd.to_numeric(self.meta[DURATION_COL], errors="coerce").to_numpy(float)
        lo, hi = STRIDE_RANGE_S
        bad = np.isfinite(d) & ((d < lo) | (d > hi))
        if bad.any():
            raise DataError(
                f"{self.source}: {DURATION_COL} of cycles {np.flatnonzero(bad)[:5].tolist()} "
                f"is outside {lo}-{hi} s; give each cycle's duration, heel strike to heel "
                "strike of the same foot, in seconds"
            )
        return d

    def without_heights(self) -> Cohort:
        """The cohort with its body heights dropped (predictions for the models' reference
        height: the comparison without body-size scaling)."""
        meta = self.meta.drop(columns=list(HEIGHT_COLS), errors="ignore")
        return replace(self, meta=meta)

    def reference(self, target: str) -> np.ndarray:
        """Reference values per kg of ``target``; refuses a cohort without them."""
        if target not in self.targets:
            have = ", ".join(self.targets) or "none"
            raise DataError(
                f"{self.source}: the cohort has no reference {target} (it has: {have}); "
                f"evaluate a model of a target the cohort has"
            )
        return self.targets[target]

    def subset(self, idx: np.ndarray) -> Cohort:
        idx = np.asarray(idx)
        return replace(
            self,
            angles=self.angles[idx],
            subject=self.subject[idx],
            group=self.group[idx],
            mass_kg=self.mass_kg[idx],
            targets={k: v[idx] for k, v in self.targets.items()},
            meta=self.meta.iloc[idx].reset_index(drop=True),
        )

    def resampled(self, n_frames: int) -> Cohort:
        """Every cycle resampled to ``n_frames`` samples (linear in gait-cycle phase)."""
        if n_frames == self.n_frames:
            return self
        return replace(
            self,
            angles=resample_cycles(self.angles, n_frames),
            targets={k: resample_cycles(v, n_frames) for k, v in self.targets.items()},
        )

    @classmethod
    def from_dataset(cls, ds: GaitDataset, name: str) -> Cohort:
        """A labelled dataset in the study's format (``gait2hip build-dataset``) as a cohort:
        its conditions (``speed_label``) are the groups, with its body heights, its cycles'
        durations where it carries their times, and its labels per kg as the reference."""
        if ds.target is None:
            raise DataError(f"{ds.source}: outputs {list(ds.out_cols)} are no known target")
        meta = {"height_m": ds.height_m}
        durations = ds.cycle_durations()
        if durations is not None:
            meta[DURATION_COL] = durations
        return cls.from_arrays(
            ds.X,
            ds.in_cols,
            ds.subject_id,
            group=ds.speed_label,
            mass_kg=ds.weight_kg,
            targets={ds.target.name: (ds.Y_per_kg, ds.out_cols, ds.target.train_unit)},
            meta=pd.DataFrame(meta),
            name=name,
            source=ds.source,
        )

    def with_contralateral(self) -> Cohort:
        """The cohort with the other leg's angles it lacks *assumed*: each is the analysed
        leg's angle half a gait cycle later (cyclically), i.e. a symmetric gait; so that
        models of both legs' angles (the study's) can be applied to one-leg data. An
        approximation, recorded in :attr:`assumed` and :meth:`describe`; children with spina
        bifida often walk asymmetrically."""
        missing = [
            c for c in INPUT_COLS if c not in self.angle_cols and mirror_name(c) in self.angle_cols
        ]
        if not missing:
            return self
        half = self.n_frames // 2
        extra = np.stack(
            [np.roll(self.angles[..., self.angle_cols.index(mirror_name(c))], -half, 1)
             for c in missing], axis=-1
        )  # fmt: skip
        return replace(
            self,
            angles=np.concatenate([self.angles, extra], axis=-1),
            angle_cols=self.angle_cols + tuple(missing),
            assumed=self.assumed + tuple(missing),
        )

    def _known_note(self, values: np.ndarray, what: str, unit: str, none: str) -> str:
        """``; <what> known for k of N cycles (lo-hi unit)``, or ``none`` where none is."""
        known = int(np.isfinite(values).sum())
        if not known:
            return none
        return (
            f"; {what} known for {known} of {len(self)} cycles "
            f"({np.nanmin(values):.2f}-{np.nanmax(values):.2f} {unit})"
        )

    def describe(self) -> str:
        per_group = ", ".join(
            f"{g}: {int((self.group == g).sum())} cycles of {len(self.subjects(g))} subjects"
            for g in self.groups
        )
        return (
            f"{self.name}: {len(self)} cycles, {self.n_frames} frames, angles "
            f"{list(self.angle_cols)}, references {list(self.targets) or 'none'} ({per_group})"
            + self._known_note(
                self.height_m,
                "body height",
                "m",
                "; no body heights: hip moments predicted for the models' reference height",
            )
            + (
                ": predicted hip moments scaled to it (Hof 1996)"
                if np.isfinite(self.height_m).any()
                else ""
            )
            + self._known_note(self.duration_s, "cycle durations", "s", "; no cycle durations")
            + (
                f"; ASSUMED (not measured): {', '.join(self.assumed)} = the other leg half a "
                "cycle later (symmetric gait)"
                if self.assumed
                else ""
            )
        )


def _target_per_kg(
    values: np.ndarray,
    channels: Sequence[str],
    unit: str | None,
    target: Target,
    mass: np.ndarray,
    shape: tuple[int, int],
    source: str,
) -> np.ndarray:
    what = target.name
    units = UNITS[target.name]
    if unit is None or str(unit) not in units:
        raise DataError(
            f"{source}: say the unit of the {what} ({' or '.join(units)}): the NPZ key "
            f"'{TARGET_KEYS[what][2]}' or the loader's {TARGET_KEYS[what][2]}= option"
        )
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[:2] != shape:
        raise DataError(f"{source}: {what} must be {(*shape, len(target.cols))}, got {arr.shape}")
    cols = canonical_names(channels, target.cols)
    idx = order_columns(cols, target.cols, what, source)
    if idx is not None:
        arr = arr[:, :, idx]
    _check_finite(arr, what, source)
    if not units[str(unit)]:
        if not np.all(np.isfinite(mass)):
            raise DataError(
                f"{source}: {what} in {unit} need mass_kg for every cycle to be normalised per kg"
            )
        arr = arr / mass[:, None, None]
    peak = float(np.median(np.max(np.abs(arr), axis=(1, 2))))
    if peak > target.max_peak_per_kg:
        raise DataError(
            f"{source}: {what} peak at a median {peak:.3g} {target.train_unit} per kg, "
            f"implausibly large: were they given in {target.file_unit}, not per kg? Check the "
            "unit"
        )
    if peak < target.min_peak_per_kg:
        raise DataError(
            f"{source}: {what} peak at a median {peak:.3g} {target.train_unit}, implausibly "
            "small: were they already divided by mass? Check the unit"
        )
    return arr.astype(np.float32)


# ----------------------------------------------------------------------- readers


def _cohort_file(path: str | Path) -> Path:
    """``path`` when it is a file; else the one-line error of
    :func:`~gait2hip.io.files.existing_file` as a :class:`DataError`."""
    try:
        return existing_file(path, "cohort")
    except FileNotFoundError as err:
        raise DataError(str(err)) from None


def read_cohort_npz(
    path: str | Path,
    *,
    name: str | None = None,
    moment_unit: str | None = None,
    force_unit: str | None = None,
) -> Cohort:
    """Load a cohort NPZ (module doc); ``*_unit`` options override or supply the units."""
    path = _cohort_file(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as err:  # ValueError (object arrays), BadZipFile, OSError
        raise DataError(f"{path}: not a readable cohort .npz without pickle ({err})") from err
    missing = [k for k in ("angles", "angle_channels", "subject") if k not in data]
    if missing:
        raise DataError(
            f"{path}: missing keys {missing}; a cohort NPZ holds angles, angle_channels, subject "
            "and optionally group, mass_kg, moments(+moment_channels, moment_unit), forces(...)"
        )
    n = data["angles"].shape[0] if data["angles"].ndim else 0
    units = {"moments": moment_unit, "forces": force_unit}
    targets = {}
    for tname, (key, ckey, ukey) in TARGET_KEYS.items():
        if key not in data:
            continue
        if ckey not in data:
            raise DataError(f"{path}: '{key}' needs '{ckey}' naming its channels")
        unit = units[tname] or (str(data[ukey]) if ukey in data else None)
        targets[tname] = (data[key], [str(c) for c in _decode(data[ckey])], unit)
    meta = pd.DataFrame(
        {
            k: _decode(v)
            for k, v in data.items()
            if k not in RESERVED and v.ndim == 1 and v.shape[0] == n
        }
    )
    return Cohort.from_arrays(
        data["angles"],
        [str(c) for c in _decode(data["angle_channels"])],
        data["subject"],
        group=data.get("group"),
        mass_kg=data.get("mass_kg"),
        targets=targets,
        meta=meta,
        name=name or path.stem,
        source=str(path),
    )


def read_cohort_csv(
    path: str | Path,
    *,
    name: str | None = None,
    moment_unit: str | None = None,
    force_unit: str | None = None,
) -> Cohort:
    """Load a long CSV cohort: one row per frame (module doc)."""
    path = _cohort_file(path)
    try:
        df = read_table(path, "one row per frame: subject, cycle, then the channels")
    except StorageFormatError as err:
        raise DataError(str(err)) from None
    df.columns = [str(c).strip() for c in df.columns]
    for col in ("subject", "cycle"):
        if col not in df.columns:
            raise DataError(f"{path}: needs a '{col}' column (one row per frame of each cycle)")
    df["subject"] = df["subject"].astype(str)
    for col in df.columns:  # every column but the identifiers holds numbers
        if col in ("subject", "cycle", "group"):
            continue
        values = pd.to_numeric(df[col], errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy() & df[col].notna().to_numpy())
        if len(bad):
            raise DataError(
                f"{path}: column {col!r} holds {str(df[col].iloc[bad[0]])[:20]!r} at data row "
                f"{bad[0] + 1}, not a number; fix or remove that row"
            )
        df[col] = values.astype(float)
    keys = ["subject", "cycle"]
    groups = list(df.groupby(keys, sort=False))
    sizes = {len(g) for _, g in groups}
    if len(sizes) != 1:
        raise DataError(
            f"{path}: cycles have different frame counts {sorted(sizes)}; time-normalise every "
            "cycle to the same number of samples (e.g. 101)"
        )
    per_cycle_cols = [c for c in ("group", "mass_kg") if c in df.columns]
    angle_cols = canonical_names(df.columns, INPUT_COLS)
    in_angles = [df.columns[i] for i, c in enumerate(angle_cols) if c in INPUT_COLS]
    stack = lambda cols: np.stack([g[cols].to_numpy(float) for _, g in groups])  # noqa: E731
    targets = {}
    units = {"moments": moment_unit, "forces": force_unit}
    for tname, target in SINGLE_TARGETS.items():
        mapped = canonical_names(df.columns, target.cols)
        cols = [df.columns[i] for i, c in enumerate(mapped) if c in target.cols]
        if cols:
            targets[tname] = (stack(cols), cols, units[tname])
    first = pd.DataFrame([g.iloc[0] for _, g in groups])
    return Cohort.from_arrays(
        stack(in_angles),
        in_angles,
        first["subject"].to_numpy(),
        group=first["group"].astype(str).to_numpy() if "group" in per_cycle_cols else None,
        mass_kg=first["mass_kg"].to_numpy(float) if "mass_kg" in per_cycle_cols else None,
        targets=targets,
        meta=first[
            ["cycle", *[c for c in (*HEIGHT_COLS, DURATION_COL) if c in df.columns]]
        ].reset_index(drop=True),
        name=name or path.stem,
        source=str(path),
    )


@dataclass(frozen=True)
class BundledCohort:
    """A cohort shipped in the data folder, with what its files do not say."""

    path: str  # relative to the data root
    moment_unit: str | None
    description: str


BUNDLED: dict[str, BundledCohort] = {
    "spina_bifida_lee": BundledCohort(
        "spina_bifida_lee/cycles.npz",
        "N·m/kg",
        "Lee et al. 2022: 16 children with spina bifida (SB) and 16 typically developing (TD), "
        "one leg per cycle (left legs mirrored), 100 samples, RRA hip moments per kg",
    ),
}


def load_cohort(
    spec: str | Path,
    *,
    data_root: Path | None = None,
    moment_unit: str | None = None,
    force_unit: str | None = None,
) -> Cohort:
    """A bundled cohort by name (:data:`BUNDLED`) or a cohort file (.npz or .csv)."""
    if isinstance(spec, str) and spec in BUNDLED:
        from gait2hip.settings import data_root as default_root

        bundled = BUNDLED[spec]
        path = (data_root or default_root()) / bundled.path
        return read_cohort_npz(
            path, name=spec, moment_unit=moment_unit or bundled.moment_unit, force_unit=force_unit
        )
    path = Path(spec)
    if not path.exists():
        raise DataError(
            f"{path}: no such cohort file, and not a bundled cohort ({', '.join(BUNDLED)})"
        )
    reader = read_cohort_csv if path.suffix.lower() == ".csv" else read_cohort_npz
    return reader(path, moment_unit=moment_unit, force_unit=force_unit)
