"""Where trials come from: the bundled datasets and a user's own lab folder.

Each source turns a folder into :class:`~gait2hip.labeling.trial.TrialSpec` objects plus the
:class:`~gait2hip.labeling.trial.LabelSettings` that suit it; nothing is copied.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

from gait2hip.labeling.trial import LabelSettings, TrialSpec


@dataclass(frozen=True)
class Source:
    name: str
    specs: list[TrialSpec]
    settings: LabelSettings
    description: str


class SourceError(FileNotFoundError):
    """A dataset folder that is missing files or does not follow the documented layout."""


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise SourceError(f"{path}: {what} not found")
    return path


# --------------------------------------------------------------------------- Schreiber 2019

SCHREIBER_CONDITIONS = {"C4": "comfortable", "C5": "fast"}


def schreiber2019(data_root: Path) -> Source:
    """Schreiber & Moissenet 2019: 18 adults walking at comfortable (C4) and fast (C5) speed.

    Model: Rajagopal 2016 (80 muscles) with the dataset's 48 markers copied in, scaled with
    each subject's scale setup and static trial. IK over the whole trial with the dataset's IK
    task weights. Events: the first strike of each foot from its plate (Fy > 20 N), the next
    from the c3d events (it is always off the plates).
    """
    data_root = Path(data_root).resolve()  # OpenSim tools resolve relative paths elsewhere
    root = _need(data_root / "schreiber2019", "schreiber2019 folder")
    models = _need(data_root / "models", "models folder")
    muscle_model = _need(models / "Rajagopal2016.osim", "Rajagopal 2016 model")
    marker_model = _need(models / "Rajagopal2015_SchreiberMoissenet2019.osim", "marker model")
    anthro = {}
    with open(_need(root / "anthropometrics.csv", "anthropometrics.csv"), newline="") as fh:
        for row in csv.DictReader(fh):
            anthro[row["subjectID"]] = row
    specs = []
    with open(_need(root / "events_derived.csv", "events_derived.csv"), newline="") as fh:
        for row in csv.DictReader(fh):
            subject, trial = row["subject"], row["trial"]
            sdir = root / subject
            info = anthro[subject]
            dyn = sdir / "dynamic"
            specs.append(
                TrialSpec(
                    dataset="schreiber2019",
                    subject=subject,
                    trial=trial,
                    condition=SCHREIBER_CONDITIONS.get(trial[:2], trial[:2]),
                    mass_kg=float(info["mass"]),
                    height_m=float(info["height"]),
                    model=str(muscle_model),
                    marker_model=str(marker_model),
                    scale_setup=str(sdir / "scaling" / f"{subject}_scaleSetup.xml"),
                    static_trc=str(sdir / "static" / f"{subject}_ST.trc"),
                    trc=str(dyn / f"{subject}_{trial}.trc"),
                    ik_setup=str(sdir / "ik" / trial / f"{trial}_ikSetup.xml"),
                    grf_xml=str(dyn / f"{subject}_{trial}_grf.xml"),
                    c3d=str(dyn / f"{subject}_{trial}.c3d"),
                )
            )
    return Source(
        "schreiber2019",
        specs,
        # strength x2: with the model's own max isometric forces, 1.5 (comfortable) and 4.5
        # (fast) hip muscles per cycle hit activation 1; x2 none (docs/labeling.md, "Muscle
        # strength", benchmarks/bench_strength.py)
        LabelSettings(lowpass_hz=6.0, grf_threshold_n=20.0, strength_scale=2.0),
        "walking, 18 adults x 2 speeds (Schreiber & Moissenet 2019), Rajagopal 2016 model",
    )


# --------------------------------------------------------------------------- Hamner 2013

HAMNER_SPEEDS = {"Run_2": "2.0 m/s", "Run_3": "3.0 m/s", "Run_4": "4.0 m/s", "Run_5": "5.0 m/s"}


def hamner2013(data_root: Path) -> Source:
    """Hamner & Delp 2013: 10 runners at 2-5 m/s on an instrumented treadmill.

    The scaled Hamner (gait2392-family) models and IK are used as given; events come from the
    continuous GRF of each belt (50 N, contacts >= 80 ms and >= 0.8 BW, stances overlapping
    the other foot rejected as cross-over steps). Filter 15 Hz as in the original study.
    """
    data_root = Path(data_root).resolve()
    root = _need(data_root / "hamner2013", "hamner2013 folder")
    specs = []
    for sdir in sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("subject")):
        models = sorted((sdir / "model").glob("*.osim"))
        if not models:
            raise SourceError(f"{sdir / 'model'}: no .osim model")
        mass = _model_mass(models[0])
        for run, speed in HAMNER_SPEEDS.items():
            ik = sdir / "ik" / f"{run}.mot"
            if not ik.is_file():
                continue
            specs.append(
                TrialSpec(
                    dataset="hamner2013",
                    subject=sdir.name,
                    trial=run,
                    condition=speed,
                    mass_kg=mass,
                    height_m=float("nan"),
                    model=str(models[0]),
                    ik=str(ik),
                    grf_xml=str(_need(sdir / "expData" / f"{run}_grf.xml", "GRF loads")),
                )
            )
    settings = replace(
        LabelSettings(),
        lowpass_hz=15.0,
        grf_threshold_n=50.0,
        min_contact_peak_bw=0.8,
        no_double_support=True,
        kinematic_events=False,  # the treadmill measures every contact
        # strength x3: x1 saturated 21 hip muscles per cycle at 4-5 m/s, x2 still 7.6 at
        # 5 m/s, x3 0.2; hip/knee reserves < 0.1 % (docs/labeling.md, "Muscle strength")
        strength_scale=3.0,
        qc_hip_moment_nm_per_kg=(0.2, 8.0),
    )
    return Source(
        "hamner2013",
        specs,
        settings,
        "running, 10 adults at 2-5 m/s (Hamner & Delp 2013), Hamner gait2392-family model",
    )


def _model_mass(model: Path) -> float:
    """Total body mass of an .osim model (sum of its bodies' masses), kg."""
    import xml.etree.ElementTree as ET

    root = ET.parse(model).getroot()
    total = 0.0
    for body in root.iter("Body"):
        mass = body.find("mass")
        if mass is not None and mass.text:
            total += float(mass.text)
    return total


SOURCES = {"schreiber2019": schreiber2019, "hamner2013": hamner2013}


# --------------------------------------------------------------------------- your own lab

LAB_LAYOUT = """\
<folder>/
  subjects.csv            columns: subject, mass_kg, height_m (height may be empty)
  trials.csv              optional; columns: subject, trial, condition (e.g. comfortable, fast)
  settings.json           optional; LabelSettings fields to override (e.g. {"lowpass_hz": 8})
  <subject>/
    model.osim            scaled model with muscles, OR the three files below to scale one:
    generic.osim          unscaled model with muscles and your marker set
    scale_setup.xml       OpenSim ScaleTool setup (its file paths are replaced)
    static.trc            static trial
    <trial>_grf.xml       ExternalLoads (bodies calcn_r/calcn_l) and the GRF .mot it names
    <trial>.trc           markers (IK is run), optionally with <trial>_ik_setup.xml (weights)
    <trial>_ik.mot        or finished IK (degrees or radians, per its header)
    <trial>.c3d           optional: stored gait events (Right/Left Foot Strike)
"""


def from_folder(folder: Path) -> Source:
    """A user's own lab folder laid out as :data:`LAB_LAYOUT` (also in docs/labeling.md)."""
    import json

    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise SourceError(f"{folder}: folder not found")
    subjects_csv = folder / "subjects.csv"
    if not subjects_csv.is_file():
        raise SourceError(f"{subjects_csv} not found; the expected layout is:\n{LAB_LAYOUT}")
    conditions: dict[tuple[str, str], str] = {}
    if (folder / "trials.csv").is_file():
        with open(folder / "trials.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                conditions[(row["subject"], row["trial"])] = row.get("condition") or "unknown"
    settings = LabelSettings()
    if (folder / "settings.json").is_file():
        overrides = json.loads((folder / "settings.json").read_text())
        for k, v in overrides.items():
            if isinstance(v, list):
                overrides[k] = tuple(v)
        try:
            settings = replace(settings, **overrides)
        except TypeError as err:
            raise SourceError(f"{folder / 'settings.json'}: {err}") from None
    specs = []
    with open(subjects_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    missing_cols = {"subject", "mass_kg"} - set(rows[0] if rows else {})
    if missing_cols:
        raise SourceError(f"{subjects_csv}: missing columns {sorted(missing_cols)}")
    for row in rows:
        subject = row["subject"].strip()
        sdir = _need(folder / subject, f"folder of subject {subject}")
        mass = float(row["mass_kg"])
        height = float(row["height_m"]) if row.get("height_m") else float("nan")
        scale = {}
        if (sdir / "model.osim").is_file():
            model = sdir / "model.osim"
        elif all((sdir / n).is_file() for n in ("generic.osim", "scale_setup.xml", "static.trc")):
            model = sdir / "generic.osim"
            scale = {
                "scale_setup": str(sdir / "scale_setup.xml"),
                "static_trc": str(sdir / "static.trc"),
            }
        else:
            raise SourceError(
                f"{sdir}: needs model.osim, or generic.osim + scale_setup.xml + static.trc"
            )
        for grf in sorted(sdir.glob("*_grf.xml")):
            trial = grf.name[: -len("_grf.xml")]
            trc, ik = sdir / f"{trial}.trc", sdir / f"{trial}_ik.mot"
            if not trc.is_file() and not ik.is_file():
                raise SourceError(f"{sdir}: trial {trial} has neither {trc.name} nor {ik.name}")
            ik_setup = sdir / f"{trial}_ik_setup.xml"
            c3d = sdir / f"{trial}.c3d"
            specs.append(
                TrialSpec(
                    dataset=folder.name,
                    subject=subject,
                    trial=trial,
                    condition=conditions.get((subject, trial), "unknown"),
                    mass_kg=mass,
                    height_m=height,
                    model=str(model),
                    grf_xml=str(grf),
                    trc=str(trc) if trc.is_file() else None,
                    ik=None if trc.is_file() else str(ik),
                    ik_setup=str(ik_setup) if ik_setup.is_file() else None,
                    c3d=str(c3d) if c3d.is_file() else None,
                    **scale,
                )
            )
    if not specs:
        raise SourceError(f"{folder}: no <trial>_grf.xml found in any subject folder")
    return Source(folder.name, specs, settings, f"lab folder {folder}")
