"""Column names, units and targets: the one place these conventions live.

Names follow OpenSim's Rajagopal / gait2392 coordinate names and the Gait2Hip-60 study
(see ``../shared/SPEC.md``). Angles are in degrees; files store forces in N and moments in
N·m; models are trained on targets divided by body mass (N/kg, Nm/kg).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: The 10 input joint angles, in degrees, in the study's order.
INPUT_COLS: tuple[str, ...] = (
    "hip_flexion_r",
    "hip_adduction_r",
    "hip_rotation_r",
    "hip_flexion_l",
    "hip_adduction_l",
    "hip_rotation_l",
    "knee_angle_r",
    "ankle_angle_r",
    "knee_angle_l",
    "ankle_angle_l",
)

#: Named subsets of :data:`INPUT_COLS` a model can be trained on (``--inputs``). External
#: cohorts often hold one leg only: ``ipsilateral`` is the predicted (right) leg's hip, knee
#: and ankle, which a cohort's analysed leg maps onto once left legs are mirrored.
INPUT_SETS: dict[str, tuple[str, ...]] = {
    "all": INPUT_COLS,
    "ipsilateral": (
        "hip_flexion_r",
        "hip_adduction_r",
        "hip_rotation_r",
        "knee_angle_r",
        "ankle_angle_r",
    ),
    "hip": ("hip_flexion_r", "hip_adduction_r", "hip_rotation_r"),
}

#: Per-cycle scalars a model may take besides the angles (``--inputs all,cycle_duration_s``):
#: each is a channel constant over the cycle's frames, after the angles, z-scored like them.
STATIC_INPUTS: dict[str, str] = {
    "body_height_m": "body height (m)",
    "cycle_duration_s": "duration of the gait cycle, heel strike to heel strike (s)",
}

#: Per-frame series a model may take besides the angles (``--inputs all,hip_moments``): the
#: hip moments of the lab's own inverse dynamics (OpenSim ID's ``hip_*_r_moment`` columns),
#: per kg of body mass, each cycle resampled like its angles and placed after them. A lab with
#: force plates runs IK and ID in seconds; static optimisation is the step that takes minutes.
SERIES_INPUTS: dict[str, str] = {
    "hip_flexion_r_moment": "hip flexion moment from inverse dynamics (Nm/kg, + flexor)",
    "hip_adduction_r_moment": "hip adduction moment from inverse dynamics (Nm/kg, + adductor)",
    "hip_rotation_r_moment": "hip rotation moment from inverse dynamics (Nm/kg, + internal)",
}
#: ``--inputs`` names for groups of :data:`SERIES_INPUTS`.
SERIES_SETS: dict[str, tuple[str, ...]] = {"hip_moments": tuple(SERIES_INPUTS)}


def is_angle(col: str) -> bool:
    """Whether an input channel is a joint angle (degrees), not a series of the lab's
    inverse dynamics (:data:`SERIES_INPUTS`) or a per-cycle scalar (:data:`STATIC_INPUTS`)."""
    return col not in SERIES_INPUTS and col not in STATIC_INPUTS


def resolve_inputs(spec: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """An input set by name (:data:`INPUT_SETS`) or as a comma list / sequence of
    :data:`INPUT_COLS` names, optionally with :data:`SERIES_INPUTS` (``hip_moments`` for the
    three) and :data:`STATIC_INPUTS`; returned in :data:`INPUT_COLS` order, then the series,
    the per-cycle scalars last."""
    if isinstance(spec, str):
        text = spec.strip()
        if text in INPUT_SETS:
            return INPUT_SETS[text]
        names = [c.strip() for c in text.split(",") if c.strip()]
        # a set plus series and per-cycle scalars, e.g. "all,hip_moments,cycle_duration_s"
        names = [n for x in names for n in (INPUT_SETS.get(x) or SERIES_SETS.get(x) or (x,))]
    else:
        names = [str(c) for c in spec]
    extras = (*SERIES_INPUTS, *STATIC_INPUTS)
    unknown = [c for c in names if c not in INPUT_COLS and c not in extras]
    if unknown or not [c for c in names if c in INPUT_COLS]:
        raise ValueError(
            f"unknown input channels {unknown or names!r}: give an input set "
            f"({', '.join(INPUT_SETS)}) or a comma list of {', '.join(INPUT_COLS)}, "
            f"with at least one angle, optionally plus {', '.join(SERIES_SETS)} (the hip "
            f"moments of inverse dynamics) and {', '.join(STATIC_INPUTS)}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"input channels named twice in {names}")
    return tuple(c for c in (*INPUT_COLS, *extras) if c in names)


def input_set_name(cols: tuple[str, ...]) -> str:
    """The :data:`INPUT_SETS` name of ``cols`` (then any series and per-cycle scalars: ``all,
    hip_moments,cycle_duration_s``), else the comma list."""
    angles = tuple(c for c in cols if is_angle(c))
    rest = [c for c in cols if not is_angle(c)]
    for name, members in SERIES_SETS.items():
        if set(members) <= set(rest):
            rest = [name, *(c for c in rest if c not in members)]
    for name, members in INPUT_SETS.items():
        if angles == members:
            return ",".join([name, *rest])
    return ",".join(cols)


#: The 14 right-side hip muscle groups (study output A), stored in N, trained in N/kg.
FORCE_COLS: tuple[str, ...] = (
    "addbrev_r",
    "addlong_r",
    "addmag_r",
    "grac_r",
    "iliopsoas_r",
    "recfem_r",
    "sart_r",
    "glmax_r",
    "bflh_r",
    "hamstring_r",
    "glmed_r",
    "glmin_r",
    "tfl_r",
    "piri_r",
)

#: The right hip's coordinates: the moments' and the group moment arms' axes.
HIP_COORDS: tuple[str, ...] = ("hip_flexion_r", "hip_adduction_r", "hip_rotation_r")

#: The 3 right-hip joint moments (study output B), stored in N·m, trained in Nm/kg.
MOMENT_COLS: tuple[str, ...] = (
    "hip_flexion_r_moment",
    "hip_adduction_r_moment",
    "hip_rotation_r_moment",
)

#: What a positive hip moment means (OpenSim's generalised forces: the net internal moment
#: about the coordinate, positive in the coordinate's positive direction; left-side
#: coordinates are mirrored in the model, so the same words hold for both legs).
MOMENT_SIGN: dict[str, str] = {
    "flexion": "+ flexor",
    "adduction": "+ adductor",
    "rotation": "+ internal rotator",
}


def channel_label(col: str, unit: str | None = None) -> str:
    """A figure label for an output channel: its name, unit (per kg, from the name unless
    given) and, for moments, sign."""
    unit = unit or ("Nm/kg" if col.endswith("_moment") else "N/kg")
    for dof, sign in MOMENT_SIGN.items():
        if col.startswith(f"hip_{dof}_") and col.endswith("_moment"):
            return f"{col} ({unit}, {sign})"
    return f"{col} ({unit})"


#: Per-cycle extras of a built dataset (NPZ keys beside X/Y): the 14 groups' moment arms
#: about the 3 hip coordinates, (N, T, 14, 3) in m, and, in the forces dataset, the labelled
#: hip moments of the same cycles, (N, T, 3) in N·m (columns MOMENT_COLS). Together they give
#: the physical check sum_g arm_g * force_g = hip moment.
EXTRA_MOMENT_ARMS = "moment_arms"
EXTRA_HIP_MOMENTS = "hip_moments"

#: Joint angles whose largest |value| stays below this are taken for radians: walking and
#: running hip/knee angles span tens of degrees, while in radians every angle is below 2π.
RADIAN_SUSPECT_MAX_ABS = 2.0 * math.pi

#: Frames per resampled gait cycle in the study.
CYCLE_FRAMES = 180

#: Cadence labels of the study (steps/min), in the order tables list them.
SPEED_LABELS: tuple[str, ...] = ("slow", "med", "fast")
CADENCE_STEPS_PER_MIN: dict[str, int] = {"slow": 78, "med": 115, "fast": 135}


@dataclass(frozen=True)
class Target:
    """A prediction target: its channels and units in files and in training."""

    name: str
    cols: tuple[str, ...]
    file_unit: str
    train_unit: str
    nonnegative: bool  # physically non-negative (muscle forces)
    # Lowest plausible per-trial peak |Y|/mass over channels, in train units. Walking peaks are
    # ~10-40 N/kg for the largest muscle group and ~0.5-1.5 Nm/kg for hip moments; files whose
    # peaks fall far below were most likely saved already divided by mass.
    min_peak_per_kg: float
    # Highest plausible such peak: above it, values per kg were most likely given in file
    # units (hip moments stay below ~5 Nm/kg even in sprinting).
    max_peak_per_kg: float


TARGETS: dict[str, Target] = {
    "forces": Target("forces", FORCE_COLS, "N", "N/kg", True, 1.0, 150.0),
    "moments": Target("moments", MOMENT_COLS, "N·m", "Nm/kg", False, 0.1, 10.0),
    # one model for both: the 14 forces then the 3 hip moments of the same cycles (a forces
    # dataset carrying EXTRA_HIP_MOMENTS provides it); metrics are reported per part
    "joint": Target(
        "joint", FORCE_COLS + MOMENT_COLS, "N | N·m", "N/kg | Nm/kg", False, 1.0, 150.0
    ),
}
JOINT = "joint"
#: The targets a file or cohort holds on their own (the joint target combines them).
SINGLE_TARGETS: dict[str, Target] = {k: v for k, v in TARGETS.items() if k != JOINT}


def target_parts(target: Target) -> dict[str, tuple[int, ...]]:
    """The single targets a target's channels belong to, with their channel indices: the
    joint target has a forces part and a moments part, the others one part (themselves)."""
    if target.name != JOINT:
        return {target.name: tuple(range(len(target.cols)))}
    nf = len(FORCE_COLS)
    return {"forces": tuple(range(nf)), "moments": tuple(range(nf, nf + len(MOMENT_COLS)))}


def target_for_cols(cols: tuple[str, ...] | list[str]) -> Target | None:
    """The study target whose channels are exactly ``cols`` (any order), else None."""
    for target in TARGETS.values():
        if set(cols) == set(target.cols) and len(cols) == len(target.cols):
            return target
    return None


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown target {name!r}; choose one of {sorted(TARGETS)}") from None


#: Body-size scaling of joint moments (Hof 1996, "Scaling gait data to body size", Gait &
#: Posture 4:222-223): a joint moment is m·g·L times a dimensionless moment, so per-kg moments
#: grow with leg length L, while per-kg muscle forces do not (moment arms grow with L too).
#: With L a fixed fraction of body height, a model's per-kg moments, learnt from subjects of
#: mean height H_ref, are those of an H_ref-tall walker; for a subject of height H they are
#: scaled by H / H_ref. A model records H_ref as ``reference_height_m`` in its metadata.
REFERENCE_HEIGHT_KEY = "reference_height_m"


def size_factors(
    out_cols: Sequence[str],
    height_m: float | Sequence[float] | np.ndarray | None,
    n: int,
    reference_height_m: float | None,
) -> np.ndarray:
    """(n, 1, K) factors turning a model's per-kg outputs ``out_cols`` into those of subjects
    of ``height_m`` (one height, or one per cycle): H / H_ref on moment channels, 1 on
    forces, and 1 where the height or the model's reference height is unknown (NaN/None)."""
    f = np.ones((n, 1, len(out_cols)), dtype=np.float32)
    if height_m is None or reference_height_m is None or not np.isfinite(reference_height_m):
        return f
    h = np.broadcast_to(np.asarray(height_m, dtype=np.float64), (n,))
    ratio = np.where(np.isfinite(h), h / float(reference_height_m), 1.0)
    moments = [j for j, c in enumerate(out_cols) if c in MOMENT_COLS]
    f[:, 0, moments] = ratio[:, None]
    return f


def froude_durations(
    height_m: float | Sequence[float] | np.ndarray,
    reference_height_m: float,
    reference_duration_s: float,
) -> np.ndarray:
    """Gait-cycle durations (s) of walkers of ``height_m`` at the same dimensionless pace
    (equal Froude number) as a ``reference_height_m``-tall walker whose cycle lasts
    ``reference_duration_s``: time scales with sqrt(leg length / g), leg length with body
    height (Hof 1996), so T = T_ref * sqrt(H / H_ref); NaN where the height is unknown."""
    h = np.asarray(height_m, dtype=np.float64)
    return reference_duration_s * np.sqrt(h / float(reference_height_m))


# --------------------------------------------------------------------------- labelling

#: Hip-moment columns of OpenSim's inverse dynamics output, per side.
ID_HIP_MOMENTS: dict[str, tuple[str, ...]] = {
    side: tuple(f"hip_{dof}_{side}_moment" for dof in ("flexion", "adduction", "rotation"))
    for side in ("r", "l")
}

#: Study output group -> model muscles (right side; the left uses the same names with ``_l``).
#: A group's force is the sum of its muscles' tendon forces. Muscles crossing the hip that have
#: no study group are left out: gait2392/Hamner's pect, quad_fem and gem (Rajagopal has none).
MUSCLE_GROUPS: dict[str, dict[str, tuple[str, ...]]] = {
    "rajagopal": {
        "addbrev_r": ("addbrev_r",),
        "addlong_r": ("addlong_r",),
        "addmag_r": ("addmagDist_r", "addmagIsch_r", "addmagMid_r", "addmagProx_r"),
        "grac_r": ("grac_r",),
        "iliopsoas_r": ("iliacus_r", "psoas_r"),
        "recfem_r": ("recfem_r",),
        "sart_r": ("sart_r",),
        "glmax_r": ("glmax1_r", "glmax2_r", "glmax3_r"),
        "bflh_r": ("bflh_r",),
        "hamstring_r": ("semimem_r", "semiten_r"),
        "glmed_r": ("glmed1_r", "glmed2_r", "glmed3_r"),
        "glmin_r": ("glmin1_r", "glmin2_r", "glmin3_r"),
        "tfl_r": ("tfl_r",),
        "piri_r": ("piri_r",),
    },
    "gait2392": {
        "addbrev_r": ("add_brev_r",),
        "addlong_r": ("add_long_r",),
        "addmag_r": ("add_mag1_r", "add_mag2_r", "add_mag3_r"),
        "grac_r": ("grac_r",),
        "iliopsoas_r": ("iliacus_r", "psoas_r"),
        "recfem_r": ("rect_fem_r",),
        "sart_r": ("sar_r",),
        "glmax_r": ("glut_max1_r", "glut_max2_r", "glut_max3_r"),
        "bflh_r": ("bifemlh_r",),
        "hamstring_r": ("semimem_r", "semiten_r"),
        "glmed_r": ("glut_med1_r", "glut_med2_r", "glut_med3_r"),
        "glmin_r": ("glut_min1_r", "glut_min2_r", "glut_min3_r"),
        "tfl_r": ("tfl_r",),
        "piri_r": ("peri_r",),
    },
}


def muscle_family(muscle_names: list[str] | set[str]) -> str:
    """The :data:`MUSCLE_GROUPS` family whose right-side muscles all exist in a model."""
    names = set(muscle_names)
    for family, groups in MUSCLE_GROUPS.items():
        if all(m in names for members in groups.values() for m in members):
            return family
    raise ValueError(
        "model muscles match no known family (Rajagopal, gait2392/Hamner); add a mapping to "
        "gait2hip.conventions.MUSCLE_GROUPS"
    )


def side_name(name: str, side: str) -> str:
    """The ``side`` (``r``/``l``) version of a right-side name: ``hip_flexion_r`` ->
    ``hip_flexion_l``, ``hip_flexion_r_moment`` -> ``hip_flexion_l_moment``."""
    if not (name.endswith("_r") or "_r_" in name):
        raise ValueError(f"{name!r} has no right-side suffix")
    return name if side == "r" else mirror_name(name)


def mirror_name(name: str) -> str:
    """Swap the side of a column name (``_r`` <-> ``_l``, also inside ``_r_moment``)."""
    for a, b in (("_r", "_l"), ("_l", "_r")):
        if name.endswith(a):
            return name[: -len(a)] + b
        if f"{a}_" in name:
            return name.replace(f"{a}_", f"{b}_", 1)
    return name
