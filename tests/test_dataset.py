"""Dataset validation at the door and the study NPZ format."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gait2hip.conventions import FORCE_COLS, INPUT_COLS, MOMENT_COLS, TARGETS
from gait2hip.data.dataset import DataError, GaitDataset
from gait2hip.io.npz import read_npz, write_npz
from tests.conftest import arrays


def test_round_trip_and_per_kg(forces, tmp_path):
    path = write_npz(forces, tmp_path / "mf.npz")
    back = read_npz(path)
    np.testing.assert_array_equal(back.X, forces.X)
    np.testing.assert_array_equal(back.Y, forces.Y)
    assert back.in_cols == INPUT_COLS and back.out_cols == FORCE_COLS
    assert back.target is TARGETS["forces"]
    np.testing.assert_allclose(back.Y_per_kg * back.weight_kg[:, None, None], back.Y, rtol=1e-5)
    assert list(back.subject_id) == list(forces.subject_id)


def test_reads_bytes_columns_like_the_release(forces, tmp_path):
    a = arrays(forces)
    path = tmp_path / "release.npz"
    np.savez(
        path,
        **{
            **a,
            "in_cols": np.array([c.encode() for c in a["in_cols"]]),
            "out_cols": np.array([c.encode() for c in a["out_cols"]]),
            "subject_id": np.array([s.encode() for s in a["subject_id"]]),
            "speed_label": np.array([s.encode() for s in a["speed_label"]]),
        },
    )
    ds = read_npz(path)
    assert ds.in_cols == INPUT_COLS and ds.subject_id[0] == forces.subject_id[0]
    assert ds.speed_label.dtype.kind == "U"


def test_reorders_columns_by_name(forces):
    a = arrays(forces)
    perm = np.arange(10)[::-1]
    a["X"], a["in_cols"] = a["X"][:, :, perm], [a["in_cols"][i] for i in perm]
    operm = np.roll(np.arange(14), 3)
    a["Y"], a["out_cols"] = a["Y"][:, :, operm], [a["out_cols"][i] for i in operm]
    ds = GaitDataset.from_arrays(**a)
    np.testing.assert_array_equal(ds.X, forces.X)
    np.testing.assert_array_equal(ds.Y, forces.Y)


def test_missing_keys(forces, tmp_path):
    a = arrays(forces)
    del a["weight_kg"]
    np.savez(tmp_path / "x.npz", **a)
    with pytest.raises(DataError, match=r"x.npz: missing keys \['weight_kg'\]"):
        read_npz(tmp_path / "x.npz")


def test_missing_file_names_the_fix(tmp_path):
    with pytest.raises(DataError, match="demo-data"):
        read_npz(tmp_path / "nope.npz")


def test_wrong_column_name_suggests_near_name(forces):
    a = arrays(forces)
    a["in_cols"][6] = "knee_angle_r_beta"
    with pytest.raises(
        DataError, match=r"'knee_angle_r' missing \(did you mean 'knee_angle_r_beta'"
    ):
        GaitDataset.from_arrays(**a, source="trial.npz")


@pytest.mark.parametrize("key", ["X", "Y"])
def test_nan_names_trials(forces, key):
    a = arrays(forces)
    a[key][4, 7, 0] = np.nan
    with pytest.raises(DataError, match=r"NaN/inf values in trials \[4\]"):
        GaitDataset.from_arrays(**a, source="f.npz")


def test_radians_detected(forces):
    a = arrays(forces)
    a["X"] = np.deg2rad(a["X"])
    with pytest.raises(DataError, match="looks like radians"):
        GaitDataset.from_arrays(**a, source="f.npz")


def test_targets_already_per_kg_detected(forces):
    a = arrays(forces)
    a["Y"] = a["Y"] / a["weight_kg"][:, None, None]
    with pytest.raises(DataError, match="already normalised per kg"):
        GaitDataset.from_arrays(**a, source="f.npz")
    ds = GaitDataset.from_arrays(**a, y_per_kg=True)
    np.testing.assert_allclose(ds.Y, forces.Y, rtol=1e-5)


def test_shape_mismatches(forces):
    a = arrays(forces)
    a["Y"] = a["Y"][:-1]
    with pytest.raises(DataError, match="same number of trials"):
        GaitDataset.from_arrays(**a)
    a = arrays(forces)
    a["weight_kg"] = a["weight_kg"][:-2]
    with pytest.raises(DataError, match="one value per trial"):
        GaitDataset.from_arrays(**a)
    a = arrays(forces)
    a["X"] = a["X"][:, :, :9]
    with pytest.raises(DataError, match="9 angle channels"):
        GaitDataset.from_arrays(**a)


def test_height_in_cm_and_bad_mass(forces):
    a = arrays(forces)
    a["height_m"] = a["height_m"] * 100
    with pytest.raises(DataError, match="looks like cm"):
        GaitDataset.from_arrays(**a)
    a = arrays(forces)
    a["weight_kg"][0] = 0.0
    with pytest.raises(DataError, match="weight_kg outside"):
        GaitDataset.from_arrays(**a)


def test_object_arrays_refused_without_pickle(forces, tmp_path):
    a = arrays(forces)
    a["subject_id"] = np.array(list(a["subject_id"]), dtype=object)
    np.savez(tmp_path / "o.npz", **a)
    with pytest.raises(DataError, match="without pickle"):
        read_npz(tmp_path / "o.npz")


def test_moments_file_as_forces_refused(synthetic, tmp_path):
    path = write_npz(synthetic["moments"], tmp_path / "jm.npz")
    with pytest.raises(DataError, match="output columns do not match"):
        read_npz(path, expected_out=TARGETS["forces"])
    assert read_npz(path).out_cols == MOMENT_COLS


def test_synthetic_has_subject_structure(synthetic):
    ds = synthetic["forces"]
    assert len(ds.subjects) == 10 and set(ds.speed_label) == {"slow", "med", "fast"}
    assert (ds.Y >= 0).all()  # forces
    peaks = ds.Y_per_kg.max(axis=(1, 2))
    assert 5 < np.median(peaks) < 60


def test_joint_target_from_a_forces_file_with_hip_moments(synthetic, tmp_path):
    from gait2hip.conventions import EXTRA_HIP_MOMENTS

    forces, moments = synthetic["forces"], synthetic["moments"]
    path = write_npz(forces, tmp_path / "mf.npz")
    joint = read_npz(path, expected_out=TARGETS["joint"])
    assert joint.target.name == "joint" and joint.out_cols == FORCE_COLS + MOMENT_COLS
    np.testing.assert_array_equal(joint.Y[..., :14], forces.Y)
    np.testing.assert_allclose(joint.Y[..., 14:], moments.Y)
    assert EXTRA_HIP_MOMENTS in joint.extra
    # a joint file written by the benchmark for its workers reads back as joint
    again = read_npz(write_npz(joint, tmp_path / "joint.npz"), expected_out=TARGETS["joint"])
    np.testing.assert_array_equal(again.Y, joint.Y)
    bare = dataclasses.replace(forces, extra={})
    with pytest.raises(DataError, match="hip_moments"):
        read_npz(write_npz(bare, tmp_path / "bare.npz"), expected_out=TARGETS["joint"])
    with pytest.raises(DataError, match="from a forces dataset"):
        moments.joint()


def test_static_channels_are_constant_per_cycle_and_nan_where_unknown():
    from gait2hip.data.dataset import with_static_channels

    X = np.zeros((3, 5, 2), np.float32)
    durations = np.array([1.0, 1.1, 1.2])
    out = with_static_channels(
        X, ["cycle_duration_s", "body_height_m"], {"cycle_duration_s": durations,
                                                   "body_height_m": 1.7}
    )  # fmt: skip
    assert out.shape == (3, 5, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out[..., 2], np.repeat(durations[:, None], 5, axis=1), rtol=1e-6)
    np.testing.assert_allclose(out[..., 3], 1.7, rtol=1e-6)
    unknown = with_static_channels(X, ["body_height_m"], {"body_height_m": None})
    assert np.isnan(unknown[..., 2]).all() and np.array_equal(unknown[..., :2], X)
    assert with_static_channels(X, [], {}) is X
