"""Uncertainty and out-of-distribution calibration of a trained model: what it holds and how
prediction uses it. It is fitted at training time by :mod:`gait2hip.training.calibrate`.

A benchmark unit (one architecture, split seed and training seed) trains one model per
cross-validation fold and a final model on the whole pool. Used together at prediction:

- **Ensemble**: the fold models and the final model; the point prediction is their mean and
  their spread (sd) is the epistemic part of the uncertainty.
- **Residual sd**: each fold model predicts its own validation subjects, which it never saw:
  these out-of-fold residuals over the whole pool give, per gait-cycle frame and channel, how
  far predictions for *unseen healthy subjects* typically are from OpenSim's labels.
- **Between-population spread**: the residual sd is measured on unseen subjects *of the
  training population*, so it cannot see how much a prediction would change had the model
  learnt from other people. Where a model learnt from another population exists (the
  Gait2Hip-60 study's published model of the same architecture and target: 60 adults, three
  cadences, another lab; :class:`Anchor`), their disagreement on the cycle,
  ``|mean - anchor| · factor``, is a third part of the sd (``factor`` 1/alpha for a WiSE
  average, which lies alpha of the way from the anchor to its fine-tuned weights; 1
  otherwise). It is near zero where both populations agree and grows where they do not —
  for people and paces unlike either (docs/transfer.md, intervals).
- **Interval**: ``mean ± z(p) · sqrt(sd_ensemble² + sd_residual² + sd_between²)``, a
  nominal ``p`` interval. Its coverage is checked once on the held-out test subjects, who
  took no part in fitting anything (models, residuals or the OOD reference) — the
  calibration table — and, with and without the between-population part, on every held-out
  source of ``gait2hip transfer``.
- **OOD score**: the Mahalanobis distance of a cycle's z-scored angles (resampled to
  :data:`OOD_POINTS` points per channel) from the training cycles, with a Ledoit-Wolf
  shrunk covariance. It is reported as a percentile of the scores of unseen healthy cycles
  (out-of-fold, per fold a reference fitted on the fold's training subjects); a cycle above
  :data:`OOD_WARN_PERCENTILE` of them is flagged.
- **Pace check**: the angles are time-normalised, so the OOD score of a model of the angles
  alone cannot see walking speed (docs/transfer_results.md: AUROC below 0.5 for a held-out
  speed; a model that takes the cycle's duration scores it with its other inputs, and only
  far outside its training paces does that move the score much). Where cycle durations are
  known, a cycle's pace score is its duration's distance from the training cycles' median
  duration (in units of their spread, :func:`spread_scores`), reported as the percentile of
  the training cycles' own scores; above :data:`OOD_WARN_PERCENTILE` the cycle's pace is
  flagged as unlike the training data.
- **Size check**: likewise for body size, which the angles do not show either: where the
  training subjects' heights are known, a subject's height is scored against theirs
  (:func:`spread_scores`) and flagged above :data:`OOD_WARN_PERCENTILE` of their own scores —
  e.g. a child, whose moments the models can only extrapolate by Hof's scaling. Where the
  height is not given but the body mass is, and the training subjects' masses are known, a
  body lighter than theirs beyond the same percentile (one-sided: a heavy adult is not a
  child) counts in the height's place (:meth:`Calibration.size_percentile`); a mass that does
  not flag the body leaves the size unknown.
- **Normative band**: mean ± sd of the training pool's labels per frame and channel.
- **Blend with a broad model**: a predictor may carry a second, broader model (the shipped
  default: the fine-tuned models, with the WiSE average of the fine-tuned and the study's
  published weights averaged with the published model itself as the broad one). Per cycle,
  the *shift percentile* (the largest of the OOD, pace and size percentiles above) sets the
  broad model's share :func:`blend_weight`: none up to :data:`BLEND_FROM`, all of it from
  :data:`BLEND_TO` (or the :class:`BlendRule` its
  calibration names, e.g. all of it above the 95th and none below, or heeding only the OOD and
  size checks for a model that takes the cycle's duration and so sees the pace itself, the OOD
  check only beyond a factor of its warning score where the height is known, or keeping
  cycles faster than every training pace with the model tuned to them); the
  prediction is the two models' :func:`mixture` (its sd holds their disagreement), so a walker
  like the training subjects gets the model tuned to them, and one unlike them the model that
  kept its breadth.
- **Widening under shift**: the parts above are measured on unseen subjects of the training
  conditions and on the anchor's disagreement, and still fall short where the walker is
  unlike the training data in ways neither sees (a held-out walking speed: 0.72-0.80 of
  frames inside the 90 % interval). A calibration may carry a widening ``beta``: the sd is
  multiplied by ``1 + beta · ramp(shift percentile)`` (:func:`blend_weight`'s default
  ramp: 0 to :data:`BLEND_FROM`, 1 from :data:`BLEND_TO`), so cycles like the training data keep
  their interval. ``beta`` is fitted on held-out *conditions* (:func:`fit_widening`: the
  smallest that brings every held-out condition's cycles to the nominal coverage; for the
  shipped default, leave-one-speed-out runs of ``gait2hip transfer``), never on the cycles
  it is then tested on.
- **Widening far out**: the ramp above stops at the warning level, but a cycle far beyond it
  (running for a model of walking: 1.7-3.3 times the warning level's OOD score) is
  predicted far worse than one just past it, and its errors grow about in proportion to the
  distance. A calibration may carry a distance ``far_widening`` (``r0``, in units of the
  warning level's OOD score): the sd is further multiplied by ``max(1, ratio / r0)``, the
  cycle's OOD score over the warning level's (:func:`distance_factor`), so cycles within
  ``r0`` times the warning level keep their interval. ``r0`` is fitted on held-out sources
  (:func:`fit_far_widening`: the largest that brings each one's cycles to the nominal
  coverage; benchmarks/bench_far_widening.py fits it on the cohort and tests it on running,
  which takes no part in it, or, for the forces models, which have no held-out population,
  fits it on running and tests it with each running speed held out in turn). A calibration
  may instead carry a slope ``far_widening_slope`` (``s``): the sd is then multiplied by
  ``1 + s · max(0, ratio - r0)``, growing from ``r0`` (e.g. the warning level itself, 1) at
  the rate the held-out sources ask for (:func:`fit_far_slope`: the smallest such); the form
  above is the slope ``1 / r0``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import norm

from gait2hip.io.atomic import atomic_path

#: Nominal coverages of the prediction intervals reported and checked.
NOMINAL: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95)
#: The interval drawn and written by default.
DEFAULT_INTERVAL = 0.9
#: Points per channel of the cycle features used for the OOD score.
OOD_POINTS = 20
#: A cycle whose OOD score exceeds this percentile of unseen healthy cycles is flagged.
OOD_WARN_PERCENTILE = 95.0

#: The ramp of the shift percentile (the largest of a cycle's OOD, pace and size
#: percentiles): 0 up to BLEND_FROM, 1 from BLEND_TO (the warning level). A predictor with a
#: broad model (:attr:`~gait2hip.inference.predictor.Predictor.broad`) gives it this share
#: unless its calibration names another rule (:attr:`Calibration.blend`); the widening under
#: shift always follows this ramp of every check.
BLEND_FROM = 50.0
BLEND_TO = OOD_WARN_PERCENTILE


#: The checks whose percentiles make a cycle's shift percentile (module doc), by name.
SHIFT_CHECKS: tuple[str, ...] = ("ood", "pace", "size")


def shift_of(
    percentiles: Mapping[str, np.ndarray | None], checks: Sequence[str] = SHIFT_CHECKS
) -> np.ndarray | None:
    """Per cycle, the largest of the percentiles of ``checks`` that are known (a check's
    entry None: its inputs are missing; NaN: unknown for that cycle); None when none is."""
    known = [np.asarray(percentiles[c], float) for c in checks if percentiles.get(c) is not None]
    if not known:
        return None
    shape = np.broadcast_shapes(*(k.shape for k in known))
    out = np.full(shape, np.nan)
    for k in known:
        out = np.fmax(out, np.broadcast_to(k, shape))
    return out


#: The suffix of a :class:`BlendRule`'s name that keeps cycles faster than the training
#: walks with the model tuned to the training subjects (:attr:`BlendRule.keep_fast`), followed
#: by the pace percentile it keeps them from where that is not the warning level
#: (``/keep-fast0``).
KEEP_FAST = "/keep-fast"


@dataclass(frozen=True)
class BlendRule:
    """The broad model's share of a blended prediction (module doc, "Blend with a broad
    model"): :func:`blend_weight` of the largest percentile of ``checks`` (:func:`shift_of`),
    none up to ``lo``, all of it from ``hi``. Named ``ramp50-95`` (linear between) or ``step95``
    (all of it above, when ``hi <= lo``), with ``/ood+size`` appended when it heeds only those
    checks (e.g. a model that takes the cycle's duration sees the pace itself).

    ``ood_factor`` > 1 heeds the OOD check only that far out where the body height is known:
    a cycle's OOD score counts at ``1 / ood_factor`` of itself (named ``ood1.5``, e.g.
    ``step95/ood1.5+size``: the broad model takes cycles whose OOD score is beyond 1.5 times
    the warning level's). The warning level is the 95th percentile of unseen healthy cycles, so
    a step there hands one in twenty walkers like the training subjects to the broad model; a
    factor keeps them with the model tuned to them and still hands over gaits far from the
    training data, while the size check tells children. (Running is handed over too, though a
    duration-aware own model predicts it better than the shipped broad model:
    docs/transfer_results.md, "Which model running should go to"; ``keep_fast`` below keeps
    it.) Without the height the
    OOD check alone can, so there it stays at the warning level (:meth:`Calibration.
    blend_share`); the rule needs the size check.

    ``keep_fast`` (named ``/keep-fast`` after the checks, e.g.
    ``step95/ood1.5+size/keep-fast``) keeps a cycle with the model tuned to the training
    subjects, whatever the other checks say, where the pace check flags it on the fast side
    (its duration known, shorter than the training cycles' median and beyond the check's
    warning level: faster than the training walks) and the size check does not flag the
    body (by its height, or without one by a light body mass: :meth:`Calibration.
    size_percentile`; neither known included). A model that takes the cycle's duration
    reaches such a pace through it; the broad model, which does not take it, predicts the
    moments of a walk (running: docs/transfer_results.md, "Which model running should go
    to"). Its risk: a child of unknown height and mass (or a mass that does not flag them)
    whose cycles are faster than the training adults' stays with the model tuned to those
    adults. It needs the size check.

    ``keep_fast_from``: the pace percentile beyond which a cycle shorter than the training
    median is kept; the warning level by default, 0 (``/keep-fast0``) keeps every cycle
    faster than the median training walk (the running cycles at the pace of fast walkers,
    which the OOD check hands to the broad model: docs/transfer_results.md, "Running at the
    pace of fast walkers"), widening the risk above to every child faster than that."""

    lo: float = BLEND_FROM
    hi: float = BLEND_TO
    checks: tuple[str, ...] = SHIFT_CHECKS
    ood_factor: float = 1.0
    keep_fast: bool = False
    keep_fast_from: float = OOD_WARN_PERCENTILE

    def __post_init__(self) -> None:
        unknown = [c for c in self.checks if c not in SHIFT_CHECKS]
        if unknown or not self.checks:
            raise ValueError(f"blend checks {list(self.checks)}: some of {list(SHIFT_CHECKS)}")
        if not (
            self.ood_factor >= 1.0
            and ({"ood", "size"} <= set(self.checks) or self.ood_factor == 1.0)
        ):
            raise ValueError(
                f"blend ood_factor {self.ood_factor}: >= 1, with the ood and size checks"
            )
        if self.keep_fast and "size" not in self.checks:
            raise ValueError("blend keep-fast: with the size check")
        if not 0 <= self.keep_fast_from < 100:
            raise ValueError(f"blend keep-fast from {self.keep_fast_from}: a percentile 0-100")
        canonical = tuple(c for c in SHIFT_CHECKS if c in self.checks)
        object.__setattr__(self, "checks", canonical)  # frozen: set once, in one order

    @property
    def name(self) -> str:
        rule = f"step{self.lo:.0f}" if self.hi <= self.lo else f"ramp{self.lo:.0f}-{self.hi:.0f}"
        if self.checks == SHIFT_CHECKS and self.ood_factor == 1.0 and not self.keep_fast:
            return rule
        far = f"ood{self.ood_factor:g}" if self.ood_factor != 1.0 else "ood"
        name = rule + "/" + "+".join(far if c == "ood" else c for c in self.checks)
        if not self.keep_fast:
            return name
        from_ = "" if self.keep_fast_from == OOD_WARN_PERCENTILE else f"{self.keep_fast_from:g}"
        return name + KEEP_FAST + from_

    @classmethod
    def parse(cls, name: str) -> BlendRule:
        """The rule of a :attr:`name` (``ramp50-95``, ``step95``, ``step95/ood+size``,
        ``step95/ood1.5+size``, ``step95/ood1.5+size/keep-fast``,
        ``step95/ood1.5+size/keep-fast0``)."""
        head, _, last = name.rpartition("/")
        keep_fast = name.count("/") == 2 and last.startswith(KEEP_FAST[1:])
        keep_from = last.removeprefix(KEEP_FAST[1:]) if keep_fast else ""
        rule, sep, checks = (head if keep_fast else name).partition("/")
        try:
            if rule.startswith("step"):
                lo = hi = float(rule[4:])
            elif rule.startswith("ramp"):
                lo, hi = (float(t) for t in rule[4:].split("-"))
            else:
                raise ValueError
            names, factor = [], 1.0
            for c in checks.split("+") if sep else SHIFT_CHECKS:
                if c.startswith("ood") and c != "ood":
                    c, factor = "ood", float(c[3:])
                names.append(c)
            keep_fast_from = float(keep_from) if keep_from else OOD_WARN_PERCENTILE
            return cls(lo, hi, tuple(names), factor, keep_fast, keep_fast_from)
        except ValueError:
            raise ValueError(
                f"unknown blend rule {name!r}: rampLO-HI or stepP (e.g. ramp50-95, step95), "
                f"optionally /CHECK+CHECK of {'+'.join(SHIFT_CHECKS)} (e.g. step95/ood+size; "
                "oodF heeds OOD scores beyond F times the warning level's, e.g. ood1.5), "
                f"then optionally {KEEP_FAST} or {KEEP_FAST}P from pace percentile P (e.g. "
                f"step95/ood1.5+size{KEEP_FAST}, step95/ood1.5+size{KEEP_FAST}0)"
            ) from None

    def weight(self, percentiles: Mapping[str, np.ndarray | None]) -> np.ndarray | None:
        """Per cycle, the broad model's share from the largest percentile of its checks
        (:func:`shift_of`; None: no check known). With an ``ood_factor``, ``percentiles``'
        OOD entry must be that of the scores divided by it (:meth:`Calibration.blend_share`)."""
        pct = shift_of(percentiles, self.checks)
        return None if pct is None else blend_weight(pct, self.lo, self.hi)


CALIBRATION_FILE = "calibration.npz"
#: Where a unit folder keeps the final models of other architectures (same target, inputs,
#: outputs and frames) averaged with its own: their mean is the prediction, their spread part
#: of the sd (:mod:`gait2hip.training.average` writes such units).
MEMBERS_DIR = "members"
#: A unit folder's copy of its anchor (the shipped default model carries one); without it,
#: the anchor named by the calibration is loaded from the study's published models.
ANCHOR_FILE = "anchor.pt"


def z_value(coverage: float) -> float:
    """Two-sided standard-normal quantile of a central interval of ``coverage``."""
    return float(norm.ppf(0.5 + coverage / 2.0))


def cycle_features(X_norm: np.ndarray, points: int = OOD_POINTS) -> np.ndarray:
    """(N, T, C) z-scored cycles -> (N, points * C): each channel resampled to ``points``."""
    n, t, c = X_norm.shape
    src, dst = np.linspace(0.0, 1.0, t), np.linspace(0.0, 1.0, points)
    out = np.empty((n, points, c), dtype=np.float64)
    for j in range(c):
        out[:, :, j] = np.stack([np.interp(dst, src, x) for x in X_norm[:, :, j]])
    return out.reshape(n, points * c)


@dataclass
class OODReference:
    """Location and precision of training-cycle features (Ledoit-Wolf shrinkage)."""

    location: np.ndarray
    precision: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray) -> OODReference:
        from sklearn.covariance import LedoitWolf

        lw = LedoitWolf().fit(features)
        return cls(lw.location_.astype(np.float64), lw.get_precision().astype(np.float64))

    def score(self, features: np.ndarray) -> np.ndarray:
        d = features - self.location
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", d, self.precision, d), 0.0))


def spread_scores(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """|log(value / median reference)| over the references' sd of log value (a floor of 1 %
    keeps a one-valued reference usable): how far each value (a cycle's duration, a body
    height) lies from those the models learnt from. NaN values give NaN."""
    log_ref = np.log(np.asarray(reference, float))
    spread = max(float(np.std(log_ref)), 0.01)
    return np.abs(np.log(np.asarray(values, float)) - np.median(log_ref)) / spread


def spread_percentile(values, reference: np.ndarray) -> np.ndarray | None:
    """Percent of the ``reference`` values whose own :func:`spread_scores` lie below each of
    ``values``' (NaN for NaN values); None without values or reference."""
    if values is None or not len(reference):
        return None
    values = np.atleast_1d(np.asarray(values, float))
    ref = np.sort(spread_scores(reference, reference))
    pct = 100.0 * np.searchsorted(ref, spread_scores(values, reference), side="left") / len(ref)
    return np.where(np.isfinite(values), pct, np.nan)


def spread_auroc(values: np.ndarray, reference: np.ndarray) -> float:
    """AUROC of :func:`spread_scores` for ``values`` (the finite ones) against the reference
    values' own scores: how well the check tells them apart (NaN when either side is empty)."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if not len(values) or not len(reference):
        return float("nan")
    return auroc(spread_scores(values, reference), spread_scores(reference, reference))


def interval_sd(
    ens_sd: np.ndarray, resid_sd: np.ndarray | None, between_sd: np.ndarray | None = None
) -> np.ndarray:
    """Total predictive sd per frame and channel (see module doc)."""
    var = ens_sd**2
    if resid_sd is not None:
        var = var + resid_sd[None] ** 2
    if between_sd is not None:
        var = var + between_sd**2
    return np.sqrt(var)


def blend_weight(
    shift_percentile: np.ndarray, lo: float = BLEND_FROM, hi: float = BLEND_TO
) -> np.ndarray:
    """Per cycle, the broad model's share of a blended prediction: 0 up to the shift
    percentile ``lo``, 1 from ``hi``, linear between (a step above ``lo`` when ``hi <= lo``);
    an unknown percentile (NaN) counts as 0."""
    p = np.nan_to_num(np.asarray(shift_percentile, float), nan=0.0)
    if hi <= lo:
        return (p > lo).astype(float)
    return np.clip((p - lo) / (hi - lo), 0.0, 1.0)


def mixture(
    w: np.ndarray, own: tuple[np.ndarray, np.ndarray], other: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of the mixture that draws from ``other`` (mean, sd) with probability ``w``
    per cycle (N,) and from ``own`` otherwise: the sd holds both models' spreads and their
    disagreement, ``w (1 - w) (mean_own - mean_other)²``."""
    w = np.asarray(w, float).reshape(-1, *([1] * (own[0].ndim - 1)))
    (m0, s0), (m1, s1) = own, other
    mean = (1 - w) * m0 + w * m1
    var = (1 - w) * s0**2 + w * s1**2 + w * (1 - w) * (m0 - m1) ** 2
    return mean.astype(m0.dtype), np.sqrt(var).astype(s0.dtype)


def widening_factor(shift_percentile: np.ndarray | None, beta: float) -> np.ndarray | None:
    """Per cycle, the factor on the interval's sd under shift (module doc): ``1 + beta ·``
    :func:`blend_weight` of the shift percentile; None when there is nothing to widen (no
    percentile, or ``beta`` 0)."""
    if shift_percentile is None or not beta:
        return None
    return 1.0 + beta * blend_weight(shift_percentile)


def distance_factor(
    ood_ratio: np.ndarray | None, far_from: float, slope: float = 0.0
) -> np.ndarray | None:
    """Per cycle, the factor on the interval's sd far out (module doc, "Widening far out"):
    ``1 + slope · max(0, ood_ratio - far_from)``, ``ood_ratio`` the cycle's OOD score over
    the warning level's; ``slope`` 0 stands for ``1 / far_from``, i.e. ``max(1, ood_ratio /
    far_from)``. None when there is nothing to widen (no score, or ``far_from`` 0: no
    widening far out, whatever the slope, as :attr:`Calibration.far_widening` 0 means)."""
    if ood_ratio is None or not far_from:
        return None
    ratio = np.asarray(ood_ratio, float)
    if not slope:
        return np.maximum(1.0, ratio / far_from)
    return 1.0 + slope * np.maximum(0.0, ratio - far_from)


def fit_far_widening(
    conditions: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    coverage: float = DEFAULT_INTERVAL,
) -> float:
    """The largest distance ``r0`` (:func:`distance_factor`; the least widening) that brings
    each held-out condition's cycles to ``coverage`` of their frames and channels inside the
    widened interval: the smallest over ``conditions`` of each one's exact solution. A
    condition is (labels (N, T, K), mean, sd (the interval's before this factor), OOD ratio
    (N,)), its cycles predicted by models that did not learn from it. inf when they all
    reach it unwidened."""
    z = z_value(coverage)
    far = np.inf
    for y, mean, sd, ratio in conditions:
        r = np.broadcast_to(np.asarray(ratio, float).reshape(-1, *([1] * (y.ndim - 1))), y.shape)
        need = np.abs(y - mean) / (z * np.broadcast_to(sd, y.shape))
        # a frame is inside for every r0 up to r / need (for every r0 where need <= 1)
        with np.errstate(divide="ignore"):
            up_to = np.where(need <= 1, np.inf, r / need)
        up_to = np.sort(up_to.ravel())[::-1]
        k = int(np.ceil(coverage * len(up_to))) - 1  # the frames inside must be >= coverage
        far = min(far, float(up_to[max(k, 0)]))
    return far


def fit_far_slope(
    conditions: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    far_from: float = 1.0,
    coverage: float = DEFAULT_INTERVAL,
) -> float:
    """The smallest slope ``s`` of a widening far out from ``far_from`` times the warning
    level (:func:`distance_factor` with a slope) that brings each held-out condition's cycles
    to ``coverage`` of their frames and channels inside the widened interval: the largest
    over ``conditions`` (labels, mean, sd, OOD ratio per cycle, as :func:`fit_far_widening`)
    of each one's exact solution; inf when one cannot (its misses lie within ``far_from``)."""
    return _smallest_gain(
        [(y, mean, sd, np.maximum(0.0, np.asarray(ratio, float) - far_from))
         for y, mean, sd, ratio in conditions],
        coverage,
    )  # fmt: skip


def _smallest_gain(
    conditions: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    coverage: float,
) -> float:
    """The smallest ``g`` such that an sd times ``1 + g · basis`` (basis (N,) per cycle, >= 0)
    brings each condition (labels, mean, sd, basis) to ``coverage``: the largest over them of
    each one's exact solution; 0 when they all reach it as they are, inf when one cannot."""
    z = z_value(coverage)
    gain = 0.0
    for y, mean, sd, basis in conditions:
        b = np.broadcast_to(np.asarray(basis, float).reshape(-1, *([1] * (y.ndim - 1))), y.shape)
        ratio = np.abs(y - mean) / (z * np.broadcast_to(sd, y.shape))
        with np.errstate(divide="ignore", invalid="ignore"):
            need = np.where(ratio <= 1, 0.0, np.where(b > 0, (ratio - 1) / b, np.inf))
        need = np.sort(need.ravel())
        k = int(np.ceil(coverage * len(need))) - 1  # the frames inside must be >= coverage
        gain = max(gain, float(need[max(k, 0)]))
    return gain


def fit_widening(
    conditions: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    coverage: float = DEFAULT_INTERVAL,
) -> float:
    """The smallest ``beta`` (:func:`widening_factor`) that brings each held-out condition's
    cycles to ``coverage`` of their frames and channels inside the widened interval: the
    largest over ``conditions`` of each one's exact solution. A condition is (labels
    (N, T, K), mean, sd, shift percentile (N,)), its cycles predicted by models that did not
    learn from it. 0 when they all reach it unwidened; inf when one cannot (its misses lie
    where the ramp is 0)."""
    return _smallest_gain(
        [(y, mean, sd, blend_weight(pct)) for y, mean, sd, pct in conditions], coverage
    )


def mean_interval_width(sd: np.ndarray, coverage: float = DEFAULT_INTERVAL) -> float:
    """Mean width of the central ``coverage`` interval ``± z·sd`` over all its entries."""
    return float(2 * z_value(coverage) * np.mean(sd))


@dataclass(frozen=True)
class Anchor:
    """A model learnt from another population, against which a model's predictions are
    compared (module doc, between-population spread)."""

    model: Any  # TrainedModel
    name: str  # e.g. "gait2hip60:lstm"
    factor: float  # its distance from a prediction times this is the between-population sd

    def between_sd(
        self, final: Any, point_ref: np.ndarray, X_deg: np.ndarray, height_m=None
    ) -> np.ndarray:
        """(N, T, K) between-population sd of ``point_ref``, predictions of ``final`` (the
        model anchored, a TrainedModel) for (N, T, C) cycles ``X_deg`` in its ``in_cols``, in
        its reference walker's units; the anchor predicts for the same walker (the cycles'
        heights, or ``final``'s reference height where unknown)."""
        n = len(X_deg)
        ref = final.reference_height_m
        h = np.broadcast_to(np.asarray(np.nan if height_m is None else height_m, float), (n,))
        h = np.where(np.isfinite(h), h, np.nan if ref is None else ref)
        other = self.model.predict_named(X_deg, final.in_cols, height_m=h)
        return self.factor * np.abs(point_ref - other / final.size_factors(h, n))


@dataclass
class Calibration:
    """What a predictor needs besides its models; saved as ``calibration.npz``."""

    resid_sd: np.ndarray  # (T, K) out-of-fold residual sd, per kg units
    norm_mean: np.ndarray  # (T, K) training labels per kg
    norm_sd: np.ndarray  # (T, K)
    ood: OODReference
    ood_reference_scores: np.ndarray  # sorted out-of-fold OOD scores of unseen healthy cycles
    coverage: np.ndarray  # (len(NOMINAL), K) measured coverage on the test subjects
    coverage_all: np.ndarray  # (len(NOMINAL),) over all channels
    test_ood_flagged: float  # fraction of test cycles above the warning percentile
    test_rmse_ensemble: np.ndarray  # (K,) per channel, test subjects
    test_rmse_final: np.ndarray  # (K,)
    n_members: int
    out_cols: tuple[str, ...]
    # how well the OOD score tells the test cycles from unseen cycles of the training
    # distribution (AUROC; ~0.5 when the test set is drawn from the same population, towards
    # 1 under a shift such as a held-out condition); NaN where not measured
    test_ood_auroc: float = float("nan")
    # sorted durations (s) of the cycles the models learnt from (empty: not known), and the
    # pace score's AUROC for the test cycles against them (NaN where not measured)
    durations: np.ndarray = field(default_factory=lambda: np.zeros(0))
    test_pace_auroc: float = float("nan")
    # sorted body heights (m) of the cycles the models learnt from (empty: not known), and the
    # size check's AUROC for the test subjects' heights against them
    heights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    test_size_auroc: float = float("nan")
    # sorted body masses (kg) of the cycles the models learnt from (empty: not known): the
    # size check's stand-in where a subject's height is not given
    masses: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # the anchor whose disagreement is part of the interval ("": none) and its factor
    anchor: str = ""
    anchor_factor: float = 0.0
    # (len(NOMINAL),) coverage on the test subjects without the between-population part, and
    # the mean width of the 90 % interval (reference units, all frames and channels) with and
    # without it (NaN where not measured)
    coverage_within: np.ndarray = field(default_factory=lambda: np.full(len(NOMINAL), np.nan))
    width_90: float = float("nan")
    width_90_within: float = float("nan")
    # the widening under shift (module doc; 0: none) and where it was fitted ("": nowhere)
    shift_widening: float = 0.0
    shift_widening_source: str = ""
    # the widening far out (module doc; r0, 0: none) and where it was fitted ("": nowhere)
    far_widening: float = 0.0
    far_widening_slope: float = 0.0  # 0: 1 / far_widening (distance_factor)
    far_widening_source: str = ""
    # with a broad model, its share rule
    blend: BlendRule = field(default_factory=BlendRule)

    @property
    def ood_threshold(self) -> float:
        return float(np.percentile(self.ood_reference_scores, OOD_WARN_PERCENTILE))

    def ood_percentile(self, scores: np.ndarray) -> np.ndarray:
        """Percent of unseen healthy cycles with a lower score than each of ``scores``."""
        ref = self.ood_reference_scores
        return 100.0 * np.searchsorted(ref, scores, side="right") / len(ref)

    def pace_percentile(self, durations: np.ndarray | None) -> np.ndarray | None:
        """Percent of training cycles whose pace lies closer to the training median than each
        cycle's of ``durations`` (s); None without durations on either side."""
        return spread_percentile(durations, self.durations)

    def size_percentile(self, height_m, mass_kg=None) -> np.ndarray | None:
        """Percent of training cycles whose subject's height lies closer to the training
        median than each of ``height_m`` (NaN where unknown); None without heights on either
        side. Where the height is unknown and ``mass_kg`` is given, a body lighter than the
        training subjects' beyond :data:`OOD_WARN_PERCENTILE` of their masses' own spread
        scores gets its mass's percentile instead (a child, most likely); a mass that does
        not flag the body leaves it unknown (NaN)."""
        size = spread_percentile(height_m, self.heights)
        light = self.light_percentile(mass_kg)
        if light is None:
            return size
        if size is None:
            return light
        size, light = np.broadcast_arrays(size, light)
        return np.where(np.isfinite(size), size, light)

    def light_percentile(self, mass_kg) -> np.ndarray | None:
        """Per value of ``mass_kg``, its percentile among the training masses' own spread
        scores where the body is lighter than their median and that percentile beyond
        :data:`OOD_WARN_PERCENTILE`, else NaN; None without masses on either side."""
        pct = spread_percentile(mass_kg, self.masses)
        if pct is None:
            return None
        light = np.atleast_1d(np.asarray(mass_kg, float)) < np.median(self.masses)
        return np.where(light & (pct > OOD_WARN_PERCENTILE), pct, np.nan)

    def faster_than_training(
        self,
        durations: np.ndarray | None,
        pace_percentile: np.ndarray | None,
        beyond: float = OOD_WARN_PERCENTILE,
    ) -> np.ndarray | None:
        """Per cycle, whether it is faster than the training walks: its duration (s) shorter
        than the training cycles' median and its pace percentile beyond ``beyond`` (the
        warning level: the pace check flags it on the fast side; 0: every cycle shorter than
        the median); None without durations on either side."""
        if durations is None or pace_percentile is None or not len(self.durations):
            return None
        short = np.asarray(durations, float) < np.median(self.durations)
        if beyond <= 0:
            return short
        return short & (np.nan_to_num(np.asarray(pace_percentile, float)) > beyond)

    def blend_share(
        self,
        percentiles: Mapping[str, np.ndarray | None],
        ood_scores: np.ndarray,
        durations: np.ndarray | None = None,
    ) -> np.ndarray | None:
        """Per cycle, the broad model's share by :attr:`blend` from the checks'
        ``percentiles``, the cycles' OOD scores (for a rule with an ``ood_factor``: it
        applies where the body height is known; without it the OOD check is all that can tell
        a child, so it stays at the warning level there) and their durations (s; for a rule
        that keeps the cycles faster than every training pace, :attr:`BlendRule.keep_fast`)."""
        rule = self.blend
        size = percentiles.get("size")
        if rule.ood_factor != 1.0 and size is not None:
            scaled = self.ood_percentile(np.asarray(ood_scores, float) / rule.ood_factor)
            ood = np.where(np.isfinite(np.asarray(size, float)), scaled, percentiles["ood"])
            percentiles = {**percentiles, "ood": ood}
        w = rule.weight(percentiles)
        fast = self.faster_than_training(durations, percentiles.get("pace"), rule.keep_fast_from)
        if not rule.keep_fast or w is None or fast is None:
            return w
        big = np.zeros(len(w), bool) if size is None else np.nan_to_num(size) > OOD_WARN_PERCENTILE
        return np.where(fast & ~big, 0.0, w)

    def interval_widening(
        self, shift_percentile: np.ndarray | None, ood_scores: np.ndarray | None
    ) -> np.ndarray | None:
        """Per cycle, the factor on the interval's sd: the widening under shift
        (:func:`widening_factor` of the shift percentile) times the widening far out
        (:func:`distance_factor` of the OOD scores over the warning level's); None where
        neither applies."""
        ratio = None if ood_scores is None else np.asarray(ood_scores, float) / self.ood_threshold
        parts = [
            f
            for f in (
                widening_factor(shift_percentile, self.shift_widening),
                distance_factor(ratio, self.far_widening, self.far_widening_slope),
            )
            if f is not None
        ]
        return None if not parts else np.prod(np.broadcast_arrays(*parts), axis=0)

    def summary(self) -> dict[str, Any]:
        return {
            "n_members": self.n_members,
            "nominal": list(NOMINAL),
            "coverage_all_channels": [round(float(c), 4) for c in self.coverage_all],
            "coverage_per_channel": {
                col: [round(float(c), 4) for c in self.coverage[:, k]]
                for k, col in enumerate(self.out_cols)
            },
            "ood_threshold": self.ood_threshold,
            "ood_warn_percentile": OOD_WARN_PERCENTILE,
            "test_cycles_flagged_ood": round(self.test_ood_flagged, 4),
            "test_ood_auroc": round(self.test_ood_auroc, 4),
            "test_pace_auroc": round(self.test_pace_auroc, 4),
            "test_size_auroc": round(self.test_size_auroc, 4),
            "training_durations_s": _range(self.durations),
            "training_heights_m": _range(self.heights),
            "training_masses_kg": _range(self.masses),
            "anchor": self.anchor,
            "anchor_factor": self.anchor_factor,
            "coverage_all_channels_within_population": [
                round(float(c), 4) for c in self.coverage_within
            ],
            "interval_width_90": self.width_90,
            "interval_width_90_within_population": self.width_90_within,
            "shift_widening": self.shift_widening,
            "shift_widening_source": self.shift_widening_source,
            "far_widening": self.far_widening,
            "far_widening_slope": self.far_widening_slope,
            "far_widening_source": self.far_widening_source,
            "blend": self.blend.name,
            "test_rmse_ensemble_mean": float(np.mean(self.test_rmse_ensemble)),
            "test_rmse_final_mean": float(np.mean(self.test_rmse_final)),
        }

    def save(self, path: str | Path) -> Path:
        arrays = {
            "resid_sd": self.resid_sd,
            "norm_mean": self.norm_mean,
            "norm_sd": self.norm_sd,
            "ood_location": self.ood.location,
            "ood_precision": self.ood.precision,
            "ood_reference_scores": self.ood_reference_scores,
            "coverage": self.coverage,
            "coverage_all": self.coverage_all,
            "test_ood_flagged": np.array(self.test_ood_flagged),
            "test_rmse_ensemble": self.test_rmse_ensemble,
            "test_rmse_final": self.test_rmse_final,
            "n_members": np.array(self.n_members),
            "out_cols": np.array(self.out_cols),
            "test_ood_auroc": np.array(self.test_ood_auroc),
            "durations": np.asarray(self.durations, np.float64),
            "test_pace_auroc": np.array(self.test_pace_auroc),
            "heights": np.asarray(self.heights, np.float64),
            "masses": np.asarray(self.masses, np.float64),
            "test_size_auroc": np.array(self.test_size_auroc),
            "anchor": np.array(self.anchor),
            "anchor_factor": np.array(self.anchor_factor),
            "coverage_within": np.asarray(self.coverage_within, np.float64),
            "width_90": np.array(self.width_90),
            "width_90_within": np.array(self.width_90_within),
            "shift_widening": np.array(self.shift_widening),
            "shift_widening_source": np.array(self.shift_widening_source),
            "far_widening": np.array(self.far_widening),
            "far_widening_slope": np.array(self.far_widening_slope),
            "far_widening_source": np.array(self.far_widening_source),
            "blend": np.array([self.blend.lo, self.blend.hi]),
            "blend_checks": np.array(self.blend.checks),
            "blend_ood_factor": np.array(self.blend.ood_factor),
            "blend_keep_fast": np.array(self.blend.keep_fast),
            "blend_keep_fast_from": np.array(self.blend.keep_fast_from),
        }
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        with np.load(path, allow_pickle=False) as z:
            return cls(
                resid_sd=z["resid_sd"],
                norm_mean=z["norm_mean"],
                norm_sd=z["norm_sd"],
                ood=OODReference(z["ood_location"], z["ood_precision"]),
                ood_reference_scores=z["ood_reference_scores"],
                coverage=z["coverage"],
                coverage_all=z["coverage_all"],
                test_ood_flagged=float(z["test_ood_flagged"]),
                test_rmse_ensemble=z["test_rmse_ensemble"],
                test_rmse_final=z["test_rmse_final"],
                n_members=int(z["n_members"]),
                out_cols=tuple(str(c) for c in z["out_cols"]),
                # absent from calibrations written before it was measured
                test_ood_auroc=float(z["test_ood_auroc"]) if "test_ood_auroc" in z else np.nan,
                durations=z["durations"] if "durations" in z else np.zeros(0),
                test_pace_auroc=(float(z["test_pace_auroc"]) if "test_pace_auroc" in z else np.nan),
                heights=z["heights"] if "heights" in z else np.zeros(0),
                masses=z["masses"] if "masses" in z else np.zeros(0),
                test_size_auroc=float(z["test_size_auroc"]) if "test_size_auroc" in z else np.nan,
                anchor=str(z["anchor"]) if "anchor" in z else "",
                anchor_factor=float(z["anchor_factor"]) if "anchor_factor" in z else 0.0,
                coverage_within=(
                    z["coverage_within"]
                    if "coverage_within" in z
                    else np.full(len(NOMINAL), np.nan)
                ),
                width_90=float(z["width_90"]) if "width_90" in z else np.nan,
                width_90_within=float(z["width_90_within"]) if "width_90_within" in z else np.nan,
                shift_widening=float(z["shift_widening"]) if "shift_widening" in z else 0.0,
                shift_widening_source=(
                    str(z["shift_widening_source"]) if "shift_widening_source" in z else ""
                ),
                far_widening=float(z["far_widening"]) if "far_widening" in z else 0.0,
                far_widening_slope=(
                    float(z["far_widening_slope"]) if "far_widening_slope" in z else 0.0
                ),
                far_widening_source=(
                    str(z["far_widening_source"]) if "far_widening_source" in z else ""
                ),
                blend=BlendRule(
                    *(map(float, z["blend"]) if "blend" in z else (BLEND_FROM, BLEND_TO)),
                    tuple(str(c) for c in z["blend_checks"])
                    if "blend_checks" in z
                    else SHIFT_CHECKS,
                    float(z["blend_ood_factor"]) if "blend_ood_factor" in z else 1.0,
                    bool(z["blend_keep_fast"]) if "blend_keep_fast" in z else False,
                    (
                        float(z["blend_keep_fast_from"])
                        if "blend_keep_fast_from" in z
                        else OOD_WARN_PERCENTILE
                    ),
                ),
            )


def _range(values: np.ndarray) -> list[float] | None:
    return (
        [round(float(np.min(values)), 3), round(float(np.max(values)), 3)] if len(values) else None
    )


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Probability that a score of ``positive`` exceeds one of ``negative`` (ties count half):
    the area under the ROC curve of the score as a detector of the positives."""
    from scipy.stats import mannwhitneyu

    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    if not len(positive) or not len(negative):
        return float("nan")
    u = mannwhitneyu(positive, negative, alternative="two-sided").statistic
    return float(u / (len(positive) * len(negative)))


def member_predictions(members: Sequence, X_deg: np.ndarray) -> np.ndarray:
    """(M, N, T, K): per-kg predictions of each member (TrainedModel) for (N, T, C) cycles in
    the first member's input columns, for a walker of its reference height (scale with its
    :meth:`~gait2hip.training.checkpoint.TrainedModel.size_factors`; members of other
    architectures may read fewer inputs: ``predict_like``); the ensemble is their mean, its
    spread their sd over axis 0."""
    return np.stack([m.predict_like(members[0], X_deg) for m in members])


def coverage_of(
    y: np.ndarray, mean: np.ndarray, sd: np.ndarray, nominal: Sequence[float] = NOMINAL
) -> np.ndarray:
    """(len(nominal), K): fraction of frames of each channel inside ``mean ± z·sd``."""
    err = np.abs(y - mean).reshape(-1, y.shape[-1])
    s = sd.reshape(-1, y.shape[-1])
    return np.stack([(err <= z_value(p) * s).mean(0) for p in nominal])


def interval_score(
    y: np.ndarray, mean: np.ndarray, sd: np.ndarray, coverage: float = DEFAULT_INTERVAL
) -> float:
    """Mean interval score of the central ``coverage`` interval ``mean ± z·sd`` over every
    entry (Gneiting & Raftery 2007): its width plus ``2 / alpha`` times how far ``y`` falls
    outside it (``alpha = 1 - coverage``); lower is better. A proper score: it weighs a wider
    interval against the misses it saves, so a widening that only adds width scores worse
    and one that catches far misses better. In the units of ``y``."""
    half = z_value(coverage) * np.broadcast_to(sd, np.shape(y))
    lo, hi = mean - half, mean + half
    miss = np.maximum(lo - y, 0.0) + np.maximum(y - hi, 0.0)
    return float(np.mean(2 * half + 2 / (1 - coverage) * miss))


def pooled_coverage(
    y: np.ndarray, mean: np.ndarray, sd: np.ndarray, nominal: Sequence[float] = NOMINAL
) -> np.ndarray:
    """(len(nominal),): :func:`coverage_of` over every frame and channel together (``sd``
    broadcast to ``y``'s shape)."""
    flat = lambda a: np.broadcast_to(a, np.shape(y)).reshape(-1, 1)  # noqa: E731
    return coverage_of(flat(y), flat(mean), flat(sd), nominal)[:, 0]
