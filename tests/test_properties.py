"""Property-based tests of every reader and of the CLI's option parsing (hypothesis).

Each generated input is either read correctly (a round trip gives back what was written) or
refused with one line that names the file (or the option) and the fix: a gait2hip error type,
never a traceback from numpy, pandas or the zip module. The default run draws a few hundred
inputs in all; ``HYPOTHESIS_PROFILE=slow`` (CI's slow lane, ``.ci/run``) draws 2,500 per
test, over 10,000 in all (profiles in tests/conftest.py).
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gait2hip.conventions import INPUT_COLS
from gait2hip.data.cohort import load_cohort
from gait2hip.data.dataset import DataError
from gait2hip.inference.inputs import InputError, read_angles
from gait2hip.io.storage import StorageFormatError, read_motion, write_motion

pytestmark = pytest.mark.property

#: What a refusal may be: gait2hip's own error types (their messages name the file).
REFUSALS = (DataError, StorageFormatError, FileNotFoundError)


def _refused_well(err: Exception, name: str) -> None:
    text = str(err)
    assert isinstance(err, REFUSALS), f"{type(err).__name__}: {text}"
    assert "\n" not in text, text
    assert name in text, text
    for leak in ("usecols", "Traceback", "could not convert", "C error", "BadZipFile"):
        assert leak not in text, text


def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="g2h-prop-"))


@st.composite
def angle_tables(draw) -> pd.DataFrame:
    """A trial of angles in degrees: increasing time, 1-10 known angle columns."""
    n = draw(st.integers(20, 120))  # a gait cycle needs at least 20 frames
    cols = draw(st.lists(st.sampled_from(INPUT_COLS), min_size=1, max_size=10, unique=True))
    start = draw(st.floats(0, 100, allow_nan=False))
    dt = draw(st.floats(0.001, 0.05))
    row = st.lists(
        st.floats(-179, 179, allow_nan=False, width=32), min_size=len(cols), max_size=len(cols)
    )
    values = draw(st.lists(row, min_size=n, max_size=n))
    df = pd.DataFrame(values, columns=cols)
    # at least one angle beyond 2*pi, so degrees are unambiguous without a header
    df.iloc[0, 0] = draw(st.sampled_from([-90.0, 45.0, 120.0]))
    df.insert(0, "time", start + dt * np.arange(n))
    return df


def _mutate(data: bytes, draw) -> bytes:
    """A damaged copy: cut short, a slice overwritten, or lines dropped."""
    kind = draw(st.sampled_from(["cut", "overwrite", "drop_lines", "garbage"]))
    if kind == "cut":
        return data[: draw(st.integers(0, max(0, len(data) - 1)))]
    if kind == "overwrite":
        at = draw(st.integers(0, max(0, len(data) - 1)))
        return data[:at] + draw(st.binary(min_size=1, max_size=40)) + data[at + 40 :]
    if kind == "drop_lines":
        lines = data.split(b"\n")
        drop = set(draw(st.lists(st.integers(0, len(lines) - 1), max_size=5)))
        return b"\n".join(x for i, x in enumerate(lines) if i not in drop)
    return draw(st.binary(max_size=300))


@given(angle_tables(), st.sampled_from([".mot", ".sto", ".csv", ".parquet"]))
def test_angle_files_round_trip(df, suffix):
    path = _workdir() / f"trial{suffix}"
    if suffix in (".mot", ".sto"):
        write_motion(path, df, in_degrees=True)
    elif suffix == ".csv":
        df.to_csv(path, index=False, float_format="%.10g")
    else:
        df.to_parquet(path)
    cols = [c for c in df.columns if c != "time"]
    trial = read_angles(path, cols)
    np.testing.assert_allclose(trial.time, df["time"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(trial.angles[cols], df[cols], rtol=1e-7, atol=1e-6)


@given(angle_tables(), st.sampled_from([".mot", ".csv"]), st.data())
def test_damaged_angle_files_are_read_or_refused_in_one_line(df, suffix, data):
    path = _workdir() / f"trial{suffix}"
    if suffix == ".mot":
        write_motion(path, df, in_degrees=True)
    else:
        df.to_csv(path, index=False)
    damaged = _mutate(path.read_bytes(), data.draw)
    assume(damaged != path.read_bytes())
    path.write_bytes(damaged)
    cols = [c for c in df.columns if c != "time"]
    try:
        trial = read_angles(path, cols)
    except Exception as err:  # the property: which errors escape
        _refused_well(err, path.name)
    else:
        assert np.all(np.diff(trial.time) > 0) and list(trial.angles.columns) == cols


@given(st.binary(max_size=400), st.sampled_from([".mot", ".sto", ".csv", ".parquet"]))
def test_arbitrary_bytes_are_refused_in_one_line(blob, suffix):
    path = _workdir() / f"random{suffix}"
    path.write_bytes(blob)
    try:
        read_angles(path, ["hip_flexion_r"])
    except Exception as err:
        _refused_well(err, path.name)


@given(angle_tables())
def test_motion_reader_keeps_every_column(df):
    path = _workdir() / "t.mot"
    write_motion(path, df, in_degrees=False)
    table = read_motion(path)
    assert list(table.data.columns) == list(df.columns) and table.in_degrees is False


@st.composite
def cohorts(draw) -> pd.DataFrame:
    """A long-format cohort CSV table: subjects x cycles x frames, one-leg angles."""
    n_frames = draw(st.integers(10, 30))
    n_cycles = draw(st.integers(1, 4))
    rows = []
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    for c in range(n_cycles):
        for f in range(n_frames):
            rows.append(
                {
                    "subject": f"s{c % 2}",
                    "cycle": c,
                    "group": "g",
                    "mass_kg": 40.0 + c,
                    "height_cm": 140.0 + c,
                    "hip_flexion": 30 * np.cos(2 * np.pi * f / n_frames) + rng.normal(),
                    "knee_angle": 40 + 20 * np.sin(2 * np.pi * f / n_frames),
                    "hip_flexion_moment": 0.5 * np.sin(2 * np.pi * f / n_frames),
                    "hip_adduction_moment": -0.4 * np.sin(np.pi * f / n_frames),
                    "hip_rotation_moment": 0.05 * np.cos(2 * np.pi * f / n_frames),
                }
            )
    return pd.DataFrame(rows)


@given(cohorts(), st.data())
def test_cohort_files_round_trip_or_are_refused_in_one_line(table, data):
    folder = _workdir()
    path = folder / "cohort.csv"
    table.to_csv(path, index=False)
    cohort = load_cohort(path, moment_unit="Nm/kg")
    n = table["cycle"].nunique()
    assert len(cohort) == n and cohort.angles.shape[1] == len(table) // n
    np.testing.assert_allclose(cohort.height_m, table.groupby("cycle")["height_cm"].first() / 100)
    damaged = _mutate(path.read_bytes(), data.draw)
    path.write_bytes(damaged)
    try:
        load_cohort(path, moment_unit="Nm/kg")
    except Exception as err:
        _refused_well(err, path.name)
    npz = folder / "cohort.npz"
    buf = io.BytesIO()
    np.savez(buf, angles=cohort.angles, angle_channels=np.array(cohort.angle_cols),
             subject=cohort.subject)  # fmt: skip
    npz.write_bytes(_mutate(buf.getvalue(), data.draw))
    try:
        load_cohort(npz)
    except Exception as err:
        _refused_well(err, npz.name)


@given(st.text(max_size=40))
def test_strike_option_parses_times_or_names_the_bad_value(text):
    from gait2hip.cli import _strike_times

    try:
        times = _strike_times(text)
    except ValueError as err:
        assert str(err).startswith("--strikes: ") and "\n" not in str(err)
    else:
        assert times == [float(v.strip()) for v in text.split(",")]
        assert all(np.isfinite(times))


@given(st.text(max_size=12), st.lists(st.text(max_size=12), max_size=3))
def test_unit_and_flip_options_are_checked(units, flips):
    df = pd.DataFrame({"time": np.arange(30) * 0.01, "hip_flexion_r": np.linspace(-20, 40, 30)})
    try:
        trial = read_angles(df, ["hip_flexion_r"], angle_units=units, flip_sign=flips)
    except InputError as err:
        assert "\n" not in str(err)
    except ValueError as err:
        assert "angle_units" in str(err) or "flip" in str(err)
    else:
        assert units in ("auto", "deg") and set(flips) <= {"hip_flexion_r"}
        sign = -1 if flips.count("hip_flexion_r") % 2 else 1
        assert trial.angles["hip_flexion_r"].iloc[-1] == pytest.approx(40 * sign)


def test_zip_damage_in_a_cohort_npz_names_the_file(tmp_path):
    """One deterministic case of the above (a valid zip holding a pickled object array)."""
    path = tmp_path / "pickled.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("angles.npy", b"\x93NUMPY garbage")
    with pytest.raises(DataError, match=r"pickled\.npz: "):
        load_cohort(path)
