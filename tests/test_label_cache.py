"""The per-trial label cache reads back what it wrote, NaN included (strict JSON stores it as
null): a trial labelled from given IK has no marker errors."""

from __future__ import annotations

import math

from gait2hip.io.atomic import write_json
from gait2hip.labeling.trial import LabelSettings, read_cached


def test_cached_cycles_without_marker_errors_read_back_as_nan(tmp_path):
    cycle = {
        "side": "r",
        "marker_rms_m": math.nan,  # IK given, no markers
        "marker_max_m": math.nan,
        "reserve_pct_max": 0.5,
        "reserve_pct_worst": "hip_flexion_r",
        "peak_hip_flexion_moment_nm_kg": 1.1,
        "peak_hip_extension_moment_nm_kg": 1.4,
        "peak_group": "gluteals",
        "peak_group_force_n_kg": 20.0,
    }
    write_json(
        tmp_path / "result.json",
        {"cycles": [cycle], "rejected": [], "timings": {"ik": 1.0}},
    )
    assert '"marker_rms_m": null' in (tmp_path / "result.json").read_text()
    result = read_cached("spec", LabelSettings(), tmp_path)
    got = result.cycles[0]
    assert math.isnan(got["marker_rms_m"]) and math.isnan(got["marker_max_m"])
    assert got["exclude"] == "" and got["side"] == "r"
