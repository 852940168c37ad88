"""Every heel-strike detector of :mod:`gait2hip.gait.events` (and the prediction's file
wrapper around force plates) held to one contract on real trials: a 1-D float array of
strike times, strictly increasing, inside the data, strides of plausible length, each one a
real strike and every real strike inside its span found (against the events stored with the
data, within the detector's tolerance; the running data's events list the study's cycles, not
every strike, so strikes outside them are not judged)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gait2hip.gait import events as ev
from gait2hip.io.c3d import read_c3d
from gait2hip.io.storage import read_motion, read_trc

pytestmark = pytest.mark.realdata

WALK = "schreiber2019/2014001/dynamic/2014001_C4_05"
RUN = "hamner2013/subject01"


def check_contract(strikes, span: tuple[float, float], reference: np.ndarray, tol_s: float):
    strikes = np.asarray(strikes)
    assert strikes.ndim == 1 and strikes.dtype.kind == "f" and len(strikes) >= 1
    assert np.all(np.diff(strikes) > 0), "sorted, no duplicates"
    assert np.all((strikes >= span[0]) & (strikes <= span[1])), "inside the data"
    stride = np.diff(strikes)
    lo, hi = ev.STRIDE_RANGE_S
    assert np.all((stride >= lo) & (stride <= hi)), f"strides {stride}"
    # where the stored events cover the data, each detected strike is a real one ...
    covered = strikes[(strikes > reference[0] - tol_s) & (strikes < reference[-1] + tol_s)]
    assert len(covered) >= 1
    assert np.abs(covered[:, None] - reference[None]).min(1).max() < tol_s
    # ... and every real one between the first and last detected is found
    inner = reference[(reference > strikes[0]) & (reference < strikes[-1])]
    if len(inner):
        assert np.abs(inner[:, None] - strikes[None]).min(1).max() < tol_s


def _running_reference(root: Path, run: str) -> np.ndarray:
    events = pd.read_csv(root / RUN / "gait_events.csv")
    right = events[(events.run == run) & (events.leg == "R")]
    return np.unique(np.r_[right.initial_time_s, right.final_time_s])


def _walking_reference(root: Path) -> np.ndarray:
    return read_c3d(root / f"{WALK}.c3d", force_plates=False).strikes("right")


def _grf(root: Path):
    from gait2hip.inference.events import strikes_from_grf

    mot = root / RUN / "expData" / "Run_3_grf.mot"
    table = read_motion(mot)
    span = (float(table.time[0]), float(table.time[-1]))
    return strikes_from_grf(mot, "r"), span, _running_reference(root, "Run_3"), 0.01


def _angles_running(root: Path):
    ik = read_motion(root / RUN / "ik" / "Run_3.mot")
    found = ev.strikes_from_angles(
        ik.time, ik.data["hip_flexion_r"].to_numpy(), ik.data["knee_angle_r"].to_numpy()
    )
    span = (float(ik.time[0]), float(ik.time[-1]))
    ref = _running_reference(root, "Run_3")
    return found, span, ref[(ref >= span[0]) & (ref <= span[1])], 0.05


def _markers(root: Path):
    trc = read_trc(root / f"{WALK}.trc")
    sacrum = (trc.positions["R_IPS"] + trc.positions["L_IPS"]) / 2
    found = ev.strikes_from_markers(trc.time, trc.positions["R_FCC"], sacrum)
    return found, (float(trc.time[0]), float(trc.time[-1])), _walking_reference(root), 0.04


def _c3d(root: Path):
    found = ev.strikes_from_c3d(root / f"{WALK}.c3d", "r")
    trc = read_trc(root / f"{WALK}.trc")  # the capture's time span
    return found, (float(trc.time[0]), float(trc.time[-1])), _walking_reference(root), 1e-9


DETECTORS: dict[str, Callable] = {
    "force plates (contacts)": _grf,
    "joint angles, running": _angles_running,
    "markers (Zeni)": _markers,
    "c3d events": _c3d,
}


@pytest.mark.parametrize("name", list(DETECTORS))
def test_every_detector_keeps_the_contract(name, data_root):
    check_contract(*DETECTORS[name](data_root))


def test_angle_detector_keeps_the_contract_on_walking(labelled_trial, data_root):
    """The angle rule on a walking IK (gait2hip's own, from the labelled trial)."""
    _, spec, _, result = labelled_trial
    ik = read_motion(Path(result.folder) / "work" / "ik" / "ik.mot")
    found = ev.strikes_from_angles(
        ik.time, ik.data["hip_flexion_r"].to_numpy(), ik.data["knee_angle_r"].to_numpy()
    )
    span = (float(ik.time[0]), float(ik.time[-1]))
    check_contract(found, span, read_c3d(spec.c3d, force_plates=False).strikes("right"), 0.05)


def test_a_detector_that_breaks_the_contract_is_caught():
    """The contract is not vacuous: unsorted, outside the data, a missed or a false strike."""
    ref = np.array([0.5, 1.6, 2.7])
    check_contract(np.array([0.51, 1.61, 2.69]), (0.0, 3.0), ref, 0.05)
    for bad in ([1.61, 0.51], [0.51, 1.61, 3.2], [0.51, 2.69], [0.51, 1.1, 1.61]):
        with pytest.raises(AssertionError):
            check_contract(np.array(bad), (0.0, 3.0), ref, 0.05)
