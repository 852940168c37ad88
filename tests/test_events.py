"""Gait events, contacts, GRF clean-up and left-to-right mirroring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gait2hip.conventions import INPUT_COLS, mirror_name, side_name
from gait2hip.gait import events as ev
from gait2hip.gait.events import contacts
from gait2hip.io.external_loads import ExternalForceSpec, ExternalLoadsSpec
from gait2hip.labeling.grf import prepare_grf


def _stance_signal(rate=1000.0, strikes=(0.2, 1.2, 2.2), stance=0.6, peak=700.0, end=3.0):
    t = np.arange(0, end, 1 / rate)
    fy = np.zeros_like(t)
    for s in strikes:
        m = (t >= s) & (t < s + stance)
        fy[m] = peak * np.sin(np.pi * (t[m] - s) / stance)
    return t, fy


def test_contacts_threshold_and_truncation():
    t, fy = _stance_signal(strikes=(-0.3, 1.0, 2.7))  # first and last cut by the file
    found = contacts(t, fy, 20.0)
    assert len(found) == 1
    assert found[0].start == pytest.approx(1.0055, abs=0.001)  # 20 N crossing of the sine
    assert len(contacts(t, fy, 20.0, drop_truncated=False)) == 3
    assert contacts(t, fy, 20.0, min_peak_n=800) == []


def test_cycles_need_a_measured_stance():
    t, fy = _stance_signal(strikes=(0.2, 1.2))
    measured = contacts(t, fy, 20.0)
    # strikes at 0.2 (plate), 1.2 (plate), 2.2 (c3d only: off the plates)
    strikes = ev.merge_strikes(np.array([c.start for c in measured]), np.array([0.21, 2.2]))
    assert [s for _, s in strikes] == ["grf", "grf", "c3d"]
    kept, rejected = ev.cycles_for_side("r", strikes, measured, data_span=(0.0, 3.0))
    assert [c.t0 for c in kept] == pytest.approx([0.2055, 1.2055], abs=0.001)
    assert kept[1].strike_sources == ("grf", "c3d")
    # a cycle whose start is off the plates is rejected with its reason
    kept, rejected = ev.cycles_for_side(
        "r", [(2.2, "c3d"), (3.2, "c3d")], measured, data_span=(0, 4)
    )
    assert not kept and rejected[0].reason == "stance not on a force plate"
    # past the end of the data
    kept, rejected = ev.cycles_for_side("r", strikes, measured, data_span=(0.0, 2.0))
    assert len(kept) == 1 and "past the data" in rejected[0].reason


def test_cross_over_stance_is_rejected_in_running():
    t, fy = _stance_signal(strikes=(0.2, 1.0, 1.8), stance=0.25, end=2.5)
    right = contacts(t, fy, 50.0)
    _, fy_l = _stance_signal(strikes=(0.6, 1.1), stance=0.25, end=2.5)  # 1.1 overlaps 1.0-1.25
    left = contacts(t, fy_l, 50.0)
    strikes = [(c.start, "grf") for c in right]
    kept, rejected = ev.cycles_for_side(
        "r", strikes, right, other_contacts=left, data_span=(0, 2.5), no_double_support=True
    )
    assert [round(c.t0, 1) for c in kept] == [0.2]
    assert "overlaps the other foot" in rejected[0].reason


def test_prepare_grf_cleans_cop_and_never_pulls():
    t, fy = _stance_signal(strikes=(0.2, 1.2))
    n = len(t)
    px = np.where(fy > 0, 0.5 + 0.2 * (t % 1.0), 0.0)
    px[np.flatnonzero(fy > 30)[10]] = -300.0  # a plate-edge spike
    df = pd.DataFrame(
        {
            "time": t,
            "f_vx": 0.1 * fy,
            "f_vy": fy,
            "f_vz": 0.0,
            "f_px": px,
            "f_py": 0.0,
            "f_pz": 0.1,
            "f_mx": 0.0,
            "f_my": 0.0,
            "f_mz": 0.0,
        }
    )
    spec = ExternalLoadsSpec((ExternalForceSpec("r", "calcn_r", "f_v", "f_p", "f_m"),), "x.mot")
    out, replaced = prepare_grf(df, spec, threshold_n=20.0, lowpass_hz=6.0)
    assert replaced == {"r": 1}
    assert out["f_px"].between(0.4, 0.8).all()  # no spike, no jump to 0 in swing
    assert (out["f_vy"] >= 0).all() and len(out) == n
    off = out["f_vy"] == 0
    assert (out.loc[off, "f_vx"] == 0).all()


def test_zeni_strikes_match_c3d_events(data_root):
    from gait2hip.io.c3d import read_c3d
    from gait2hip.io.storage import read_trc

    base = data_root / "schreiber2019/2014001/dynamic/2014001_C4_05"
    trc = read_trc(base.with_suffix(".trc"))
    sacrum = (trc.positions["R_IPS"] + trc.positions["L_IPS"]) / 2
    found = ev.strikes_from_markers(trc.time, trc.positions["R_FCC"], sacrum)
    stored = read_c3d(base.with_suffix(".c3d")).strikes("right")
    # the trial starts at a strike, where a maximum cannot be seen; the others must match
    assert len(found) >= 1
    for t in found:
        assert np.min(np.abs(stored - t)) < 0.04


def test_mirror_names():
    assert mirror_name("hip_adduction_l") == "hip_adduction_r"
    assert mirror_name("hip_rotation_r_moment") == "hip_rotation_l_moment"
    assert [mirror_name(mirror_name(c)) for c in INPUT_COLS] == list(INPUT_COLS)
    assert side_name("glmax1_r", "l") == "glmax1_l"
    with pytest.raises(ValueError):
        side_name("lumbar_extension", "l")


def test_left_and_right_hip_angles_share_sign_conventions(data_root, osim):
    """Mirroring a left cycle swaps names without sign flips; that is right only if +adduction
    and +rotation move both legs the same way relative to the midline. Checked in OpenSim."""
    model = osim.Model(str(data_root / "models/Rajagopal2016.osim"))
    state = model.initSystem()

    def z_of(body: str, coord: str, deg: float) -> float:
        for c in ("hip_adduction_r", "hip_adduction_l", "hip_rotation_r", "hip_rotation_l"):
            model.getCoordinateSet().get(c).setValue(state, 0.0)
        model.getCoordinateSet().get(coord).setValue(state, np.radians(deg))
        model.realizePosition(state)
        return model.getBodySet().get(body).getPositionInGround(state).get(2)

    for side, medial in (("r", -1.0), ("l", 1.0)):  # +Z is the right side in OpenSim
        knee_move = z_of(f"tibia_{side}", f"hip_adduction_{side}", 10) - z_of(
            f"tibia_{side}", f"hip_adduction_{side}", 0
        )
        assert medial * knee_move > 0.02, f"+adduction moves the {side} knee medially"
        toe_move = z_of(f"toes_{side}", f"hip_rotation_{side}", 20) - z_of(
            f"toes_{side}", f"hip_rotation_{side}", 0
        )
        assert medial * toe_move > 0.01, f"+rotation (internal) turns the {side} toes medially"
