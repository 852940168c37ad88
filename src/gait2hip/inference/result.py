"""A prediction for one trial and one side: tables, OpenSim ``.sto`` files and a figure."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from gait2hip.conventions import get_target
from gait2hip.gait.signal import to_time_base
from gait2hip.inference.calibration import DEFAULT_INTERVAL, OOD_WARN_PERCENTILE, z_value
from gait2hip.inference.events import CycleWindow
from gait2hip.io.atomic import atomic_path
from gait2hip.io.storage import write_motion

#: Column-name suffixes of the two unit systems, per target.
UNIT_SUFFIX = {
    "forces": ("N_per_kg", "N"),
    "moments": ("Nm_per_kg", "Nm"),
}


@dataclass
class TargetResult:
    """One target's predictions for the kept cycles, per kg, on the model's cycle grid."""

    target: str
    cols: tuple[str, ...]  # output names for the predicted side (e.g. iliopsoas_l)
    mean: np.ndarray  # (n, T, K)
    sd: np.ndarray  # (n, T, K) total predictive sd (calibration.py: its parts)
    ensemble_sd: np.ndarray  # (n, T, K)
    model: str
    model_source: str
    calibrated: bool
    norm_mean: np.ndarray | None = None  # (T, K) training labels, normative band
    norm_sd: np.ndarray | None = None
    # what the band is (a published model's comes from its calibration data, not its training)
    norm_label: str = "training mean ± sd"
    ood_score: np.ndarray | None = None  # (n,)
    ood_percentile: np.ndarray | None = None  # (n,)
    # percentile of each cycle's pace (duration) among the training cycles' (None: unknown)
    pace_percentile: np.ndarray | None = None  # (n,)
    # per cycle, the broad model's share of a blended prediction (None: no broad model)
    broad_weight: np.ndarray | None = None  # (n,)
    # per cycle, the factor on the sd under shift (None: not widened; calibration.py)
    widening: np.ndarray | None = None  # (n,)
    # a hash of the weights that predicted it (Predictor.fingerprint; "" where not known)
    model_fingerprint: str = ""
    # per cycle, the model that predicted it, where two did (merge_cycles; None: ``model``)
    cycle_models: tuple[str, ...] | None = None

    @property
    def unit(self) -> str:
        return get_target(self.target).train_unit

    def __repr__(self) -> str:
        n, t, k = self.mean.shape
        state = "calibrated" if self.calibrated else "uncalibrated"
        return (
            f"TargetResult({self.target}: {n} cycles x {t} frames x {k} channels in "
            f"{self.unit}, model {self.model}, {state})"
        )

    def bounds(self, coverage: float) -> tuple[np.ndarray, np.ndarray]:
        half = z_value(coverage) * self.sd
        lo = self.mean - half
        if get_target(self.target).nonnegative:  # muscle forces cannot be negative
            lo = np.maximum(lo, 0.0)
        return lo, self.mean + half


#: A TargetResult's fields with one value (or array) per cycle, first axis.
PER_CYCLE = (
    "mean",
    "sd",
    "ensemble_sd",
    "ood_score",
    "ood_percentile",
    "pace_percentile",
    "broad_weight",
    "widening",
)


def merge_cycles(a: TargetResult, b: TargetResult, in_a: np.ndarray) -> TargetResult:
    """One target's results for the kept cycles, the cycles ``in_a`` (bool, one per kept
    cycle) from ``a`` and the others from ``b`` (two models of the target, e.g. one that reads
    the trial's inverse dynamics for the cycles they cover and one of the angles alone for the
    rest), in cycle order; a per-cycle field one of them lacks is NaN on its cycles, and
    :attr:`TargetResult.cycle_models` names each cycle's model. Band, columns and unit are
    ``a``'s (models of one target learnt from the same data)."""
    in_a = np.asarray(in_a, bool)
    if a.cols != b.cols or len(a.mean) != in_a.sum() or len(b.mean) != (~in_a).sum():
        raise ValueError("merge_cycles: results of other channels or cycle counts")

    def rows(name: str):
        x, y = getattr(a, name), getattr(b, name)
        if x is None and y is None:
            return None
        like = x if x is not None else y  # every per-cycle field is floating point
        out = np.full((len(in_a), *np.shape(like)[1:]), np.nan, like.dtype)
        if x is not None:
            out[in_a] = x
        if y is not None:
            out[~in_a] = y
        return out

    idx = lambda k: np.flatnonzero(k).tolist()  # noqa: E731
    return replace(
        a,
        **{name: rows(name) for name in PER_CYCLE},
        model=f"{a.model} (cycles {idx(in_a)}) and {b.model} (cycles {idx(~in_a)})",
        model_source=f"{a.model_source}; {b.model_source}",
        calibrated=a.calibrated and b.calibrated,
        model_fingerprint=f"{a.model_fingerprint}+{b.model_fingerprint}",
        cycle_models=tuple(a.model if k else b.model for k in in_a),
    )


@dataclass(frozen=True)
class IdAgreement:
    """How a trial's predicted hip moments agree with its own inverse dynamics, given with it
    (:func:`gait2hip.inference.api.id_agreement`): per degree of freedom R² and RMSE (Nm/kg)
    over the frames of the ``cycles`` the inverse dynamics covers, and the share of those
    frames inside the prediction interval."""

    cycles: int
    dofs: tuple[str, ...]
    r2: tuple[float, ...]
    rmse: tuple[float, ...]
    coverage: float

    def _figures(self) -> str:
        per_dof = ", ".join(
            f"{d} R² {r:.2f} (RMSE {e:.3f} Nm/kg)"
            for d, r, e in zip(self.dofs, self.r2, self.rmse, strict=True)
        )
        return f"{self.cycles} cycle(s): {per_dof}"

    def note(self, interval: float) -> str:
        return (
            f"predicted hip moments against the trial's inverse dynamics over {self._figures()}; "
            f"the {interval:.0%} interval holds {self.coverage:.0%} of their frames"
        )

    def warning(self, interval: float) -> str:
        return (
            f"moments: the predicted hip moments disagree with this trial's own inverse dynamics "
            f"beyond their interval (the {interval:.0%} interval holds {self.coverage:.0%} of the "
            f"frames; {self._figures()}): this lab's pipeline (its model, inertias, filtering) "
            "gives other hip moments than the training data's for such angles, which no check "
            "of the angles can see; trust this lab's inverse dynamics over the predicted "
            "moments, or fit a correction for this lab from a few of its trials with inverse "
            "dynamics (gait2hip adapt; docs/predict.md, Adapting to your lab)"
        )


@dataclass
class Prediction:
    """Predicted hip muscle forces and/or moments of one trial side.

    ``cycles`` lists every cycle window of the trial (kept, rejected and the partial pieces
    at the ends, each with why); ``targets`` holds predictions for the kept ones, in order.
    """

    source: str
    side: str
    time: np.ndarray  # the trial's own time base (empty for cycle-only input)
    cycles: list[CycleWindow]
    targets: dict[str, TargetResult]
    mass_kg: float | None = None
    height_m: float | None = None
    # True where height_m was estimated from the subject's scaled model, not given
    height_estimated: bool = False
    # the predicted hip moments against the trial's own inverse dynamics, where given
    id_agreement: IdAgreement | None = None
    # the trial's own inverse-dynamics hip moments per kg at the kept cycles' frames (n, T, 3;
    # NaN for a cycle it does not cover), where given
    measured_moments: np.ndarray | None = None
    # the lab correction applied to the hip moments (its file or label), if any
    lab_correction: str | None = None
    interval: float = DEFAULT_INTERVAL
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # what figures call the trial (default: the source file's name)
    label: str = ""

    def __repr__(self) -> str:
        targets = ", ".join(f"{k} ({v.mean.shape[-1]} channels)" for k, v in self.targets.items())
        side = "right" if self.side == "r" else "left"
        return (
            f"Prediction({self.label or self.source}, {side} hip: {len(self.kept)} of "
            f"{len(self.cycles)} cycle windows kept; {targets}; {len(self.warnings)} "
            f"warning(s), {len(self.notes)} note(s); .to_dataframe(), .cycles_table(), "
            ".save(folder, stem), .plot())"
        )

    @property
    def kept(self) -> list[CycleWindow]:
        return [c for c in self.cycles if c.status == "ok"]

    def _flags(self, percentile: str) -> np.ndarray:
        """Per kept cycle: True if any target's ``percentile`` field (one value per cycle)
        exceeds the warning level."""
        flags = np.zeros(len(self.kept), dtype=bool)
        for t in self.targets.values():
            values = getattr(t, percentile)
            if values is not None:
                flags |= values > OOD_WARN_PERCENTILE
        return flags

    @property
    def ood_flags(self) -> np.ndarray:
        """Per kept cycle: True if any target's OOD percentile exceeds the warning level."""
        return self._flags("ood_percentile")

    @property
    def pace_flags(self) -> np.ndarray:
        """Per kept cycle: True if its duration is unlike the training cycles' for any target
        (pace percentile above the warning level)."""
        return self._flags("pace_percentile")

    def flagged_note(self) -> str | None:
        """The kept cycles unlike the training data (OOD or pace flags), by time, in one line
        (what a file that travels without the console's warnings says); None when none is."""
        flags, pace = self.ood_flags, self.pace_flags
        either = flags | pace
        if not either.any():
            return None
        spans = [f"{c.t0:.3f}-{c.t1:.3f}" for c, f in zip(self.kept, either, strict=True) if f]
        why = [w for w, f in (("kinematics", flags), ("pace", pace)) if f.any()]
        return (
            f"{len(spans)} of {len(self.kept)} cycles ({', '.join(spans)} s) unlike the training "
            f"data ({' and '.join(why)}): treat them with caution; the cycles csv has each check"
        )

    # ------------------------------------------------------------------ tables
    def cycles_table(self) -> pd.DataFrame:
        """One row per cycle window: times, status, reason, and for kept cycles the OOD
        percentile per target, the mean ensemble spread, for a blended model the broad
        model's share, where the interval is widened under shift its factor, and where two
        models predicted a target (:func:`merge_cycles`) the cycle's."""
        rows, k = [], 0
        flags, pace = self.ood_flags, self.pace_flags
        for c in self.cycles:
            row = {
                "cycle": k if c.status == "ok" else None,
                "t0": c.t0,
                "t1": c.t1,
                "duration_s": c.duration,
                "status": c.status,
                "reason": c.reason,
                "strike_sources": "/".join(c.sources),
            }
            if c.status == "ok":
                for name, t in self.targets.items():
                    if t.ood_percentile is not None:
                        row[f"ood_pct_{name}"] = float(t.ood_percentile[k])
                    if t.pace_percentile is not None:
                        row[f"pace_pct_{name}"] = float(t.pace_percentile[k])
                    row[f"ensemble_sd_{name}"] = float(t.ensemble_sd[k].mean())
                    if t.broad_weight is not None:
                        row[f"broad_weight_{name}"] = float(t.broad_weight[k])
                    if t.widening is not None:
                        row[f"interval_widening_{name}"] = float(t.widening[k])
                    if t.cycle_models is not None:
                        row[f"model_{name}"] = t.cycle_models[k]
                row["ood_flag"] = bool(flags[k])
                row["pace_flag"] = bool(pace[k])
                k += 1
            rows.append(row)
        return pd.DataFrame(rows)

    def _columns(self, t: TargetResult, mean, lo, hi, sd) -> dict[str, np.ndarray]:
        per_kg, absolute = UNIT_SUFFIX[t.target]
        pct = round(100 * self.interval)
        out: dict[str, np.ndarray] = {}
        for j, col in enumerate(t.cols):
            out[f"{col}_{per_kg}"] = mean[:, j]
            out[f"{col}_{per_kg}_lo{pct}"] = lo[:, j]
            out[f"{col}_{per_kg}_hi{pct}"] = hi[:, j]
            out[f"{col}_{per_kg}_sd"] = sd[:, j]
            if self.mass_kg is not None:
                out[f"{col}_{absolute}"] = mean[:, j] * self.mass_kg
                out[f"{col}_{absolute}_lo{pct}"] = lo[:, j] * self.mass_kg
                out[f"{col}_{absolute}_hi{pct}"] = hi[:, j] * self.mass_kg
        return out

    def to_dataframe(self, per: str = "frame") -> pd.DataFrame:
        """``per="frame"``: the trial's own frames inside kept cycles (time, cycle, phase %,
        every channel per kg and, with a body mass, in N / N·m, with the interval bounds).
        ``per="cycle"``: the model's cycle grid (cycle, phase %), same columns."""
        if per not in ("frame", "cycle"):
            raise ValueError("per must be 'frame' or 'cycle'")
        blocks = []
        bounds = {name: t.bounds(self.interval) for name, t in self.targets.items()}
        for k, c in enumerate(self.kept):
            if per == "cycle" or self.time.size == 0:
                n = next(iter(self.targets.values())).mean.shape[1]
                phase = np.linspace(0.0, 100.0, n)
                base = {"cycle": np.full(n, k), "phase_pct": phase}
                if per == "frame":
                    base["time"] = c.t0 + phase / 100.0 * c.duration
                values = {}
                for name, t in self.targets.items():
                    lo, hi = bounds[name]
                    values |= self._columns(t, t.mean[k], lo[k], hi[k], t.sd[k])
            else:
                last = k == len(self.kept) - 1 or self.kept[k + 1].t0 > c.t1
                sel = (self.time >= c.t0) & ((self.time <= c.t1) if last else (self.time < c.t1))
                tt = self.time[sel]
                base = {
                    "time": tt,
                    "cycle": np.full(len(tt), k),
                    "phase_pct": 100.0 * (tt - c.t0) / c.duration,
                }
                values = {}
                for name, t in self.targets.items():
                    lo, hi = bounds[name]
                    back = [to_time_base(a[k], c.t0, c.t1, tt) for a in (t.mean, lo, hi, t.sd)]
                    values |= self._columns(t, *back)
            blocks.append(pd.DataFrame({**base, **values}))
        if not blocks:
            return pd.DataFrame()
        df = pd.concat(blocks, ignore_index=True)
        first = ["time", "cycle", "phase_pct"] if "time" in df else ["cycle", "phase_pct"]
        return df[first + [c for c in df.columns if c not in first]]

    # ------------------------------------------------------------------ files
    def to_csv(self, path: str | Path, per: str = "frame") -> Path:
        with atomic_path(path) as tmp:
            self.to_dataframe(per).to_csv(tmp, index=False, float_format="%.6g")
        return Path(path)

    def to_parquet(self, path: str | Path, per: str = "frame") -> Path:
        with atomic_path(path) as tmp:
            self.to_dataframe(per).to_parquet(tmp, index=False)
        return Path(path)

    def to_sto(self, folder: str | Path, stem: str = "prediction") -> list[Path]:
        """One OpenSim ``.sto`` per target on the trial's frames inside kept cycles: forces
        per muscle group (N, like SO's forces file) and hip moments (N·m, named like ID's
        output); per kg, named ``*_per_kg.sto``, when no body mass is known."""
        df = self.to_dataframe("frame")
        if df.empty:
            raise ValueError(f"{self.source}: no kept gait cycle, nothing to write")
        paths = []
        for name, t in self.targets.items():
            per_kg, absolute = UNIT_SUFFIX[name]
            suffix = absolute if self.mass_kg is not None else per_kg
            unit = get_target(name).file_unit if self.mass_kg is not None else t.unit
            data = pd.DataFrame({"time": df["time"]})
            for col in t.cols:
                data[col] = df[f"{col}_{suffix}"]
            tag = "" if self.mass_kg is not None else "_per_kg"
            path = Path(folder) / f"{stem}_{name}{tag}.sto"
            header = {
                "units": unit,
                "side": self.side,
                "model": t.model,
                "source": Path(self.source).name,
                "gait2hip": "predicted; frames outside kept gait cycles are absent",
            }
            if self.mass_kg is not None:
                header["body_mass_kg"] = f"{self.mass_kg:g}"
            if name == "moments" and self.lab_correction:
                header["lab_correction"] = self.lab_correction
            if self.height_m is not None:
                header["body_height_m"] = f"{self.height_m:.3g}" + (
                    " (estimated from the scaled model's leg length)"
                    if self.height_estimated
                    else ""
                )
            if (flagged := self.flagged_note()) is not None:
                header["flagged_cycles"] = flagged
            paths.append(
                write_motion(
                    path, data, in_degrees=False, name=f"{stem}_{name}", extra_header=header
                )
            )
        return paths

    def plot(self, path: str | Path | None = None):
        """Each channel over the gait cycle: every kept cycle (thin lines), their mean with
        the prediction interval, and the training data's normative band (mean ± sd)."""
        from gait2hip.report.figures import plot_prediction

        return plot_prediction(self, path)

    def save(self, out_dir: str | Path, stem: str, formats: tuple[str, ...] = ("csv",)) -> dict:
        """Write .sto per target, the frame table (csv and/or parquet), the cycle table and
        the figure into ``out_dir``; returns what was written."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path | list[Path]] = {}
        if self.time.size:
            written["sto"] = self.to_sto(out_dir, stem)
        for fmt in formats:
            if fmt == "csv":
                written["csv"] = self.to_csv(out_dir / f"{stem}.csv")
            elif fmt == "parquet":
                written["parquet"] = self.to_parquet(out_dir / f"{stem}.parquet")
            else:
                raise ValueError(f"unknown table format {fmt!r}; use csv or parquet")
        with atomic_path(out_dir / f"{stem}_cycles.csv") as tmp:
            self.cycles_table().to_csv(tmp, index=False, float_format="%.6g")
        written["cycles"] = out_dir / f"{stem}_cycles.csv"
        written["figure"] = self.plot(out_dir / f"{stem}.png")
        return written
