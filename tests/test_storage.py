"""File I/O: .mot/.sto, .trc, .c3d (ezc3d) and ExternalLoads, on real files where possible."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from gait2hip.io.external_loads import read_external_loads, write_external_loads
from gait2hip.io.storage import (
    StorageFormatError,
    guess_in_degrees,
    read_motion,
    read_trc,
    write_motion,
)


def test_motion_round_trip(tmp_path):
    data = pd.DataFrame(
        {"time": np.arange(5) * 0.01, "hip_flexion_r": np.linspace(-10, 30, 5), "pelvis_tx": 1.0}
    )
    path = write_motion(tmp_path / "a.mot", data, in_degrees=True)
    back = read_motion(path)
    assert back.in_degrees is True
    assert back.columns == ["hip_flexion_r", "pelvis_tx"]
    np.testing.assert_allclose(back.data.to_numpy(), data.to_numpy())
    assert not list(tmp_path.glob(".*tmp"))  # nothing half-written left behind


def test_write_motion_refuses_nan(tmp_path):
    data = pd.DataFrame({"time": [0.0, 0.01], "knee_angle_r": [1.0, np.nan]})
    with pytest.raises(ValueError, match="knee_angle_r"):
        write_motion(tmp_path / "bad.mot", data)
    assert not (tmp_path / "bad.mot").exists()


def test_read_motion_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.mot"
    bad.write_text("name\nversion=1\n")
    with pytest.raises(StorageFormatError, match=r"bad\.mot.*endheader"):
        read_motion(bad)
    with pytest.raises(FileNotFoundError, match=r"missing\.mot"):
        read_motion(tmp_path / "missing.mot")


def test_a_folder_where_a_file_is_needed_is_named_as_one(tmp_path):
    """Every reader of an input file says a folder is a folder (with the fix), not missing."""
    from gait2hip.io.c3d import read_c3d
    from gait2hip.io.osim import read_osim

    readers = {"motion": read_motion, "marker": read_trc, "ExternalLoads": read_external_loads,
               "OpenSim model": read_osim, "c3d": read_c3d}  # fmt: skip
    for what, read in readers.items():
        with pytest.raises(FileNotFoundError, match=f"a folder, not an? {what} file; give the"):
            read(tmp_path)
        with pytest.raises(FileNotFoundError, match=f"{what} file not found"):
            read(tmp_path / "missing.x")


def test_opensim_reads_what_we_write(tmp_path, osim):
    data = pd.DataFrame({"time": np.arange(4) * 0.01, "a": [1.0, 2, 3, 4], "b": 0.5})
    path = write_motion(tmp_path / "x.sto", data, in_degrees=False)
    table = osim.TimeSeriesTable(str(path))
    assert table.getNumRows() == 4
    assert list(table.getColumnLabels()) == ["a", "b"]
    np.testing.assert_allclose(table.getDependentColumn("a").to_numpy(), [1, 2, 3, 4])
    storage = osim.Storage(str(path))
    assert storage.getSize() == 4


def test_real_grf_and_ik_files(data_root):
    grf = read_motion(data_root / "schreiber2019/2014001/dynamic/2014001_C4_05_grf.mot")
    assert grf.in_degrees is False and len(grf.columns) == 18
    assert grf.data["ground_force_2_vy"].max() > 500  # N
    # Hamner IK: legacy SIMM header without inDegrees, angles in degrees
    ik = read_motion(data_root / "hamner2013/subject01/ik/Run_2.mot")
    assert ik.in_degrees is None
    assert guess_in_degrees(ik, ["hip_flexion_r", "knee_angle_r"])
    assert ik.data["knee_angle_r"].min() < -60


def test_real_trc(data_root):
    trc = read_trc(data_root / "schreiber2019/2014001/dynamic/2014001_C4_05.trc")
    assert trc.units == "mm" and trc.rate_hz == 100
    assert len(trc.names) == 52 and trc.time[0] == 0
    assert trc.positions["R_FCC"].shape == (len(trc.time), 3)
    assert np.nanmax(np.abs(trc.in_metres()["R_IAS"])) < 5


def test_c3d_events_match_derived_table(data_root):
    from gait2hip.io.c3d import read_c3d

    with open(data_root / "schreiber2019/events_derived.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows[:4]:
        subject, trial = row["subject"], row["trial"]
        path = data_root / f"schreiber2019/{subject}/dynamic/{subject}_{trial}.c3d"
        c = read_c3d(path)
        expected = [float(t) for t in row["c3d_right_strikes"].split()]
        np.testing.assert_allclose(c.strikes("right"), expected, atol=0.006)
        assert c.marker_rate_hz == 100 and len(c.plates) == 2
        assert c.markers.shape[1:] == (52, 3)


def test_external_loads_round_trip(tmp_path, data_root, osim):
    spec = read_external_loads(data_root / "schreiber2019/2014001/dynamic/2014001_C4_05_grf.xml")
    assert spec.for_side("r").force_id == "ground_force_2_v"
    assert spec.for_side("l").body == "calcn_l"
    assert spec.datafile_path().is_file()
    out = write_external_loads(tmp_path / "loads.xml", spec, "grf.mot")
    back = read_external_loads(out)
    assert back.forces == spec.forces and back.datafile == "grf.mot"
    loads = osim.ExternalLoads(str(out), True)
    assert loads.getSize() == 2
    assert {loads.get(i).get_applied_to_body() for i in range(2)} == {"calcn_r", "calcn_l"}


def test_real_files_round_trip(tmp_path, data_root, osim):
    for src in (
        data_root / "schreiber2019/2014001/dynamic/2014001_C4_05_grf.mot",
        data_root / "hamner2013/subject01/ik/Run_2.mot",
    ):
        table = read_motion(src)
        out = write_motion(tmp_path / src.name, table.data, in_degrees=bool(table.in_degrees))
        back = read_motion(out)
        assert back.columns == table.columns
        np.testing.assert_allclose(back.data.to_numpy(), table.data.to_numpy(), rtol=1e-9)
        assert osim.TimeSeriesTable(str(out)).getNumRows() == len(table.data)


def test_written_json_is_strict_and_files_get_the_usual_permissions(tmp_path):
    """NaN is not JSON: write_json stores it as null (strict parsers read every output file);
    and outputs get 0666 less the umask, not the temporary file's private 0600."""
    import json
    import os

    from gait2hip.io.atomic import number, write_json, write_text

    path = write_json(
        tmp_path / "m.json",
        {"r2": float("nan"), "x": np.float64("inf"), "a": np.array([1.0, np.nan]), "n": 3},
    )
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    back = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard {c}"))
    assert back == {"r2": None, "x": None, "a": [1.0, None], "n": 3}
    assert np.isnan(number(back["r2"])) and number(back["n"]) == 3.0
    old = os.umask(0o022)
    try:
        mode = write_text(tmp_path / "t.md", "x").stat().st_mode & 0o777
    finally:
        os.umask(old)
    assert mode == 0o644
