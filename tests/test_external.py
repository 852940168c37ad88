"""External cohorts: the loader, few-shot splits, zero-/few-shot evaluation end to end."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gait2hip.conventions import INPUT_SETS, MOMENT_COLS
from gait2hip.data.cohort import load_cohort, read_cohort_csv, read_cohort_npz
from gait2hip.data.dataset import DataError
from gait2hip.data.splits import LeakageError, SplitError, assert_no_leak, few_shot_splits
from gait2hip.external.evaluate import HEALTHY, domain_shift_table, find_units, zero_shot
from gait2hip.external.few_shot import FewShotConfig, first_k_beating, learning_curve
from gait2hip.gait.signal import resample_cycles
from gait2hip.pipelines.benchmark import benchmark
from gait2hip.pipelines.external import evaluate_external
from gait2hip.settings import data_root
from gait2hip.training.config import make_config
from gait2hip.training.metrics import subject_mean_metrics

SIDE_LESS = ["hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle"]
IPSI = INPUT_SETS["ipsilateral"]


def cohort_arrays(moments_ds, n_frames=30):
    """A two-group cohort from a synthetic moments dataset: the analysed leg's angles under
    side-less names, moments per kg, resampled to ``n_frames``."""
    ds = moments_ds.select_inputs(IPSI)
    subjects = ds.subjects
    group = np.where(np.isin(ds.subject_id, subjects[::2]), "PAT", "CTL")
    return {
        "angles": resample_cycles(ds.X, n_frames),
        "angle_channels": np.array(SIDE_LESS),
        "subject": ds.subject_id,
        "group": group,
        "mass_kg": ds.weight_kg,
        "moments": resample_cycles(ds.Y_per_kg, n_frames),
        "moment_channels": np.array([c.replace("_r_", "_") for c in MOMENT_COLS]),
        "moment_unit": np.array("N·m/kg"),
        "age_years": np.full(len(ds), 9.0),
    }


def save_npz(path, arrays):
    np.savez(path, **arrays)
    return path


# ------------------------------------------------------------------------------- loader


def test_npz_cohort_maps_side_less_names_and_units(synthetic, tmp_path):
    arrays = cohort_arrays(synthetic["moments"])
    cohort = read_cohort_npz(save_npz(tmp_path / "c.npz", arrays))
    assert cohort.angle_cols == IPSI
    assert cohort.groups == ["CTL", "PAT"] and cohort.n_frames == 30
    np.testing.assert_allclose(cohort.reference("moments"), arrays["moments"], rtol=1e-6)
    assert "age_years" in cohort.meta and len(cohort.meta) == len(cohort)
    # the same moments in N·m, normalised by the loader
    absolute = {**arrays, "moments": arrays["moments"] * arrays["mass_kg"][:, None, None]}
    absolute["moment_unit"] = np.array("N·m")
    again = read_cohort_npz(save_npz(tmp_path / "abs.npz", absolute))
    np.testing.assert_allclose(again.reference("moments"), cohort.reference("moments"), rtol=1e-5)
    # a folder given as the cohort file is named as one; a missing file as missing
    for read in (load_cohort, read_cohort_npz, read_cohort_csv):
        with pytest.raises(DataError, match="a folder, not a cohort file; give the file"):
            read(tmp_path)
    with pytest.raises(DataError, match="cohort file not found"):
        read_cohort_csv(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="no reference forces"):
        cohort.reference("forces")
    res = cohort.resampled(60)
    assert res.angles.shape == (len(cohort), 60, 5)
    np.testing.assert_allclose(res.angles[:, [0, -1]], cohort.angles[:, [0, -1]], rtol=1e-6)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.pop("moment_unit"), "say the unit of the moments"),
        (lambda a: a.update(angles=np.radians(a["angles"])), "looks like radians"),
        (lambda a: a.update(angles=a["angles"][:, :5]), "only 5 frames"),
        (lambda a: a.update(subject=a["subject"][:-1]), "one value per cycle"),
        (lambda a: a.pop("subject"), r"missing keys \['subject'\]"),
        (
            lambda a: a.update(moments=a["moments"] * a["mass_kg"][:, None, None]),
            "implausibly large",
        ),
        (lambda a: a.update(moment_unit=np.array("N·m"), mass_kg=None), "need mass_kg"),
        (lambda a: a.update(moment_channels=np.array(["a", "b", "c"])), "columns do not match"),
        (lambda a: a.update(angle_channels=np.array(list("vwxyz"))), "no known angle channel"),
    ],
)
def test_bad_cohorts_refused_with_the_file_named(synthetic, tmp_path, change, message):
    arrays = cohort_arrays(synthetic["moments"])
    change(arrays)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    path = save_npz(tmp_path / "bad.npz", arrays)
    with pytest.raises(DataError, match=message) as err:
        read_cohort_npz(path)
    assert "bad.npz" in str(err.value)


def test_nan_angles_refused(synthetic, tmp_path):
    arrays = cohort_arrays(synthetic["moments"])
    arrays["angles"][2, 5, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        read_cohort_npz(save_npz(tmp_path / "nan.npz", arrays))


def test_csv_cohort_equals_npz(synthetic, tmp_path):
    arrays = cohort_arrays(synthetic["moments"])
    n, t, _ = arrays["angles"].shape
    rows = {
        "subject": np.repeat(arrays["subject"], t),
        "cycle": np.repeat(np.arange(n), t),
        "group": np.repeat(arrays["group"], t),
        "mass_kg": np.repeat(arrays["mass_kg"], t),
    }
    for j, c in enumerate(arrays["angle_channels"]):
        rows[str(c)] = arrays["angles"][:, :, j].ravel()
    for j, c in enumerate(arrays["moment_channels"]):
        rows[str(c)] = arrays["moments"][:, :, j].ravel()
    pd.DataFrame(rows).to_csv(tmp_path / "c.csv", index=False)
    from_csv = load_cohort(str(tmp_path / "c.csv"), moment_unit="N·m/kg")
    from_npz = read_cohort_npz(save_npz(tmp_path / "c.npz", arrays))
    np.testing.assert_allclose(from_csv.angles, from_npz.angles, rtol=1e-6)
    np.testing.assert_allclose(
        from_csv.reference("moments"), from_npz.reference("moments"), rtol=1e-6
    )
    assert (from_csv.subject == from_npz.subject).all()
    assert (from_csv.group == from_npz.group).all()
    # uneven cycles are refused
    df = pd.read_csv(tmp_path / "c.csv").iloc[:-1]
    df.to_csv(tmp_path / "uneven.csv", index=False)
    with pytest.raises(DataError, match="different frame counts"):
        read_cohort_csv(tmp_path / "uneven.csv", moment_unit="N·m/kg")


def test_bundled_spina_bifida_cohort(data_root):
    if not (data_root / "spina_bifida_lee" / "cycles.npz").is_file():
        pytest.skip("spina_bifida_lee not in the data folder")
    cohort = load_cohort("spina_bifida_lee", data_root=data_root)
    assert len(cohort) == 69 and cohort.n_frames == 100
    assert cohort.angle_cols == IPSI
    assert len(cohort.subjects("SB")) == 16 and len(cohort.subjects("TD")) == 16
    m = cohort.reference("moments").mean(0)
    # internal moments, + flexor: extensor early in stance, flexor near 50 % (data README)
    assert m[7, 0] < -0.4 and m[50, 0] > 0.4


def test_cohort_without_heights_is_size_checked_by_its_masses_as_predict_does(data_root):
    """--no-size-scaling drops the heights; the children's body masses then stand in for the
    size check, as `predict --mass` without a height does (the shipped default)."""
    from gait2hip.external.evaluate import cohort_inputs, find_units, predict_cohort
    from gait2hip.inference.predictor import default_model_dir

    if not (data_root / "spina_bifida_lee" / "cycles.npz").is_file():
        pytest.skip("spina_bifida_lee not in the data folder")
    cohort = load_cohort("spina_bifida_lee", data_root=data_root).with_contralateral()
    cohort = cohort.without_heights()
    (unit,) = find_units("default", "moments")  # the shipped default's, by name
    assert unit.predictor.source == find_units(default_model_dir() / "moments")[0].predictor.source
    pred = unit.predictor
    mean, sd, _, checks = predict_cohort(unit, cohort)
    assert (checks.broad_weight == 1.0).all()  # no cycle times: the broad model's alone
    X = cohort_inputs(pred, cohort)
    with_mass = pred.predict_cycles(X, cohort.height_m, None, cohort.mass_kg)
    np.testing.assert_allclose(sd, resample_cycles(with_mass.sd, cohort.n_frames), rtol=1e-5)
    np.testing.assert_allclose(mean, resample_cycles(with_mass.mean, cohort.n_frames), rtol=1e-5)
    assert np.isfinite(with_mass.size_percentile).any()  # light children flagged by mass
    without = pred.predict_cycles(X, cohort.height_m, None)
    assert without.size_percentile is None or not np.isfinite(without.size_percentile).any()
    assert not np.allclose(with_mass.sd, without.sd)
    # its healthy comparison reads the dataset it names where build-dataset writes it
    from gait2hip.external.evaluate import healthy_test
    from gait2hip.settings import dataset_file

    if dataset_file("schreiber2019", "moments").is_file():
        h = healthy_test(pred)
        assert len(h.X) == 16 and h.mass_kg.shape == (16,)  # the size check's stand-in too
        assert ((h.mass_kg > 40) & (h.mass_kg < 100)).all()


def test_a_shipped_models_dataset_is_found_where_build_dataset_writes_it(tmp_path, monkeypatch):
    """The shipped default names its training dataset by file name only; the healthy
    comparison finds it where `gait2hip build-dataset` writes it."""
    from gait2hip.settings import find_dataset

    monkeypatch.setenv("GAIT2HIP_CACHE", str(tmp_path))
    built = tmp_path / "datasets" / "lab_a" / "lab_a_JM.npz"
    assert find_dataset("lab_a_JM.npz") == Path("lab_a_JM.npz")  # not built: as given
    built.parent.mkdir(parents=True)
    built.write_bytes(b"")
    assert find_dataset("lab_a_JM.npz") == built
    assert find_dataset("elsewhere/lab_a_JM.npz") == Path("elsewhere/lab_a_JM.npz")
    assert find_dataset("lab_a.npz") == Path("lab_a.npz")


# ------------------------------------------------------------------------------- splits


def test_few_shot_splits_are_leak_free_and_distinct():
    subject = np.repeat([f"S{i}" for i in range(6)], 3)
    splits = few_shot_splits(subject, 2, 10, seed=1)
    assert len(splits) == 10
    picks = {frozenset(subject[s.train]) for s in splits}
    assert len(picks) == 10 and all(len(p) == 2 for p in picks)
    for s in splits:
        assert not set(subject[s.train]) & set(subject[s.test])
        assert len(s.train) + len(s.test) == len(subject)
    assert len(few_shot_splits(subject, 5, 10)) == 6  # only 6 ways to choose 5 of 6
    with pytest.raises(SplitError, match="no test subject"):
        few_shot_splits(subject, 6, 3)
    with pytest.raises(LeakageError):
        assert_no_leak(["S1", "S2"], ["S2"], "x")


# ------------------------------------------------------------------------ end to end

TINY = {"lstm": {"hidden": 8}, "mamba": {"d_model": 8, "d_state": 4}}


@pytest.fixture(scope="module")
def ipsi_run(tmp_path_factory, synthetic):
    """Tiny LSTM and Mamba moment models on the ipsilateral angles of synthetic data."""
    out = tmp_path_factory.mktemp("ipsi")
    ds = synthetic["moments"]
    path = out / "synthetic_JM.npz"
    from gait2hip.io.npz import write_npz

    write_npz(ds, path)
    ds = dataclasses.replace(ds, source=str(path))
    cfg = make_config(
        "moments",
        ["lstm", "mamba"],
        "quick",
        train_overrides={"max_epochs": 3, "patience": 2, "lr": 3e-3},
        n_bootstrap=50,
        inputs=IPSI,
    )
    cfg = dataclasses.replace(cfg, model_overrides=TINY)
    benchmark(ds, cfg, out / "run", show_progress=False)
    return out / "run"


def test_zero_shot_metrics_match_direct_computation(ipsi_run, synthetic, tmp_path):
    cohort = read_cohort_npz(save_npz(tmp_path / "c.npz", cohort_arrays(synthetic["moments"])))
    units = find_units(ipsi_run, "moments")
    assert {u.label for u in units} == {"lstm-causal", "mamba-causal"}
    zs = zero_shot(units, cohort, n_boot=20)
    assert set(zs.summary["group"]) == {"CTL", "PAT", HEALTHY}
    unit = units[0]
    final = unit.predictor.final
    pat = cohort.group == "PAT"
    at_model = resample_cycles(cohort.angles[pat], unit.predictor.n_frames)
    expected_pred = resample_cycles(final.predict_per_kg(at_model), cohort.n_frames)
    expected = subject_mean_metrics(
        cohort.reference("moments")[pat], expected_pred, cohort.subject[pat]
    )
    row = zs.summary[(zs.summary["model"] == unit.label) & (zs.summary["group"] == "PAT")]
    assert row["subject_rmse"].item() == pytest.approx(expected["rmse"], rel=1e-5)
    assert row["subject_r2"].item() == pytest.approx(expected["r2"], rel=1e-5)
    healthy = zs.summary[zs.summary["group"] == HEALTHY]
    assert (healthy["n_subjects"] == len(final.meta["test_subjects"])).all()
    assert zs.cycles["ood_score"].notna().all()
    # the calibrated 90 % interval's coverage, by hand
    sd = resample_cycles(unit.predictor.calibration.resid_sd[None], cohort.n_frames)[0]
    inside = np.abs(cohort.reference("moments")[pat] - expected_pred) <= 1.6448536 * sd
    assert row["coverage_90"].item() == pytest.approx(inside.mean(), abs=1e-4)
    shift = domain_shift_table(zs.cycles, zs.ood_reference)
    assert shift["auroc_vs_unseen_healthy"].between(0, 1).all()


def test_evaluate_external_writes_every_output(ipsi_run, synthetic, tmp_path):
    cohort = read_cohort_npz(save_npz(tmp_path / "c.npz", cohort_arrays(synthetic["moments"])))
    cfg = FewShotConfig(ks=(1, 2), draws=2, finetune_epochs=2, scratch_epochs=2)
    out = tmp_path / "ext"
    summary = evaluate_external(
        ipsi_run, cohort, out, few_shot_cfg=cfg, n_boot=20, show_progress=False, command="t"
    )
    text = summary.read_text()
    assert "## Zero-shot" in text and "## Few-shot adaptation" in text
    assert "## Domain shift" in text
    for name in (
        "zero_shot.csv",
        "zero_shot_per_channel.csv",
        "zero_shot_per_subject.csv",
        "cycles.csv",
        "domain_shift.csv",
        "few_shot_draws.csv",
        "few_shot.csv",
        "few_shot_first_k.csv",
        "results.json",
        "figures/few_shot_PAT.png",
        "figures/few_shot_CTL.png",
        "figures/domain_shift.png",
        "figures/zero_shot_lstm-causal_PAT.png",
    ):
        assert (out / name).is_file(), name
    assert len(list((out / "predictions").glob("*.npz"))) == 2
    draws = pd.read_csv(out / "few_shot_draws.csv")
    # 2 models x 2 groups x 2 k x 2 draws x 3 methods
    assert len(draws) == 2 * 2 * 2 * 2 * 3
    for _, d in draws.iterrows():  # the adaptation subjects never appear among the tested
        train = set(d["train_subjects"].split())
        tested = set(cohort.subject[cohort.group == d["group"]]) - train
        assert len(train) == d["k"] and len(tested) == d["n_test_subjects"]
    curve = learning_curve(draws)
    assert set(curve["method"]) == {"zero-shot", "fine-tune", "scratch"}
    zero = curve[curve["method"] == "zero-shot"]
    assert np.allclose(zero["rmse_vs_zero_shot"], 0.0)
    assert not zero["beats_zero_shot"].any()
    scratch = curve[curve["method"] == "scratch"]
    assert np.allclose(scratch["rmse_vs_scratch"], 0.0) and not scratch["beats_scratch"].any()
    tuned = curve[curve["method"] == "fine-tune"].iloc[0]
    keys = ["model", "group", "k"]
    pick = draws.set_index(keys).loc[tuple(tuned[keys])]
    paired = (
        pick[pick["method"] == "fine-tune"].set_index("draw")["subject_rmse"]
        - pick[pick["method"] == "scratch"].set_index("draw")["subject_rmse"]
    )
    assert np.isclose(tuned["rmse_vs_scratch"], paired.mean())
    assert json.loads((out / "results.json").read_text())["few_shot_config"]["draws"] == 2
    assert not list(out.rglob("*.tmp"))


def test_first_k_beating_per_method():
    rows = [
        ("fine-tune", 1, False),
        ("fine-tune", 2, True),
        ("fine-tune", 4, True),
        ("scratch", 1, False),
        ("scratch", 2, False),
        ("scratch", 4, False),
        ("zero-shot", 1, False),
        ("zero-shot", 2, False),
        ("zero-shot", 4, False),
    ]
    curve = pd.DataFrame(
        [
            {"model": "m", "group": "SB", "method": m, "k": k, "beats_zero_shot": b}
            for m, k, b in rows
        ]
    )
    first = first_k_beating(curve).set_index("method")["first_k_beating_zero_shot"]
    assert first["fine-tune"] == 2
    assert first["scratch"] is None or pd.isna(first["scratch"])
    assert "zero-shot" not in first.index


def test_model_on_inputs_the_cohort_lacks_is_refused(synthetic, tmp_path):
    ds = synthetic["moments"]
    cfg = make_config("moments", ["lstm"], "quick", train_overrides={"max_epochs": 1})
    cfg = dataclasses.replace(cfg, model_overrides=TINY, n_bootstrap=10)
    benchmark(ds, cfg, tmp_path / "all", show_progress=False)
    cohort = read_cohort_npz(save_npz(tmp_path / "one_leg.npz", cohort_arrays(ds)))
    with pytest.raises(DataError, match=r"one_leg\.npz: lacks input channels .*--inputs"):
        zero_shot(find_units(tmp_path / "all"), cohort)


def test_joint_model_is_evaluated_and_adapted_on_its_moment_outputs(ipsi_run, synthetic, tmp_path):
    """A joint (forces + moments) model on a cohort with moments only: its moment outputs are
    compared, beside a moments model, and few-shot fits only those outputs."""
    from gait2hip.io.npz import write_npz

    path = write_npz(synthetic["forces"], tmp_path / "synthetic_MF.npz")
    ds = dataclasses.replace(synthetic["forces"], source=str(path)).joint()
    cfg = make_config(
        "joint", ["lstm"], "quick", train_overrides={"max_epochs": 2, "patience": 2},
        n_bootstrap=20, inputs=IPSI,
    )  # fmt: skip
    benchmark(ds, dataclasses.replace(cfg, model_overrides=TINY), tmp_path / "joint",
              show_progress=False)  # fmt: skip
    cohort = read_cohort_npz(save_npz(tmp_path / "c.npz", cohort_arrays(synthetic["moments"])))
    units = find_units([ipsi_run, tmp_path / "joint"], "moments")
    joint = next(u for u in units if u.predictor.target == "joint")
    assert joint.label == "lstm-causal-joint" and joint.channels == [14, 15, 16]
    assert {u.label for u in units} == {"lstm-causal", "mamba-causal", "lstm-causal-joint"}
    assert find_units(tmp_path / "joint", "forces")[0].channels == list(range(14))
    zs = zero_shot(units, cohort, healthy=False, n_boot=20)
    final = joint.predictor.final
    at_model = resample_cycles(cohort.angles, joint.predictor.n_frames)
    expected = resample_cycles(final.predict_per_kg(at_model)[..., 14:], cohort.n_frames)
    np.testing.assert_allclose(zs.predictions[joint.key], expected, rtol=1e-5, atol=1e-6)
    few = FewShotConfig(ks=(1,), draws=1, groups=("PAT",), finetune_epochs=2, scratch_epochs=2)
    out = tmp_path / "ext"
    evaluate_external(tmp_path / "joint", cohort, out, few_shot_cfg=few, n_boot=20,
                      show_progress=False)  # fmt: skip
    draws = pd.read_csv(out / "few_shot_draws.csv")
    assert set(draws["model"]) == {"lstm-causal-joint"}
    assert set(draws["method"]) == {"zero-shot", "fine-tune", "scratch"}
    assert draws["subject_rmse"].notna().all()
    channels = pd.read_csv(out / "zero_shot_per_channel.csv")
    healthy = channels[channels["group"] == HEALTHY]  # the joint model's own test subjects
    assert len(healthy) == 3 and set(channels["channel"]) == set(MOMENT_COLS)
    with pytest.raises(DataError, match="a moments model has no forces outputs"):
        from gait2hip.external.evaluate import EvalUnit

        EvalUnit(units[0].predictor, "forces")


@pytest.mark.skipif(
    not (data_root() / "gait2hip60" / "LSTM_JM60.pt").is_file(), reason="needs the published models"
)
def test_units_of_several_profiles_are_told_apart(ipsi_run):
    """Evaluated together, same-architecture units of two profiles get distinct labels (and so
    distinct rows, keys and figures); units of one profile keep the plain label."""
    alone = find_units([ipsi_run], "moments")
    assert {u.label for u in alone} == {"lstm-causal", "mamba-causal"}
    mixed = find_units([ipsi_run, "gait2hip60:lstm"], "moments")
    labels = [u.label for u in mixed]
    assert len(set(labels)) == len(labels) == 3
    assert "gait2hip60:lstm" in labels and "quick/lstm-causal" in labels
    assert len({u.key for u in mixed}) == 3


def test_few_shot_fine_tuning_is_scaled_to_body_height_like_zero_shot(
    ipsi_run, synthetic, tmp_path
):
    """Fine-tuning on a few cohort subjects continues in the model's reference-height units:
    with a zero learning rate it leaves the model unchanged, so its predictions equal the
    zero-shot ones, scaled to each child's height alike."""
    from gait2hip.external.few_shot import few_shot

    arrays = cohort_arrays(synthetic["moments"])
    arrays["height_cm"] = np.linspace(110, 170, len(arrays["subject"]))
    cohort = read_cohort_npz(save_npz(tmp_path / "c.npz", arrays))
    units = find_units([ipsi_run], "moments")[:1]
    zs = zero_shot(units, cohort, healthy=False, n_boot=10)
    cfg = FewShotConfig(ks=(1,), draws=1, groups=("PAT",), finetune_epochs=1, finetune_lr=0.0,
                        scratch_epochs=1)  # fmt: skip
    draws = few_shot(units, cohort, zs.predictions, cfg)
    by = draws.set_index("method")["subject_rmse"]
    assert by["fine-tune"] == pytest.approx(by["zero-shot"], rel=1e-5)


def test_zero_shot_rows_measure_models_against_the_training_mean_curve(
    ipsi_run, synthetic, tmp_path
):
    from gait2hip.training.metrics import skill_vs_mean_curve

    cohort = read_cohort_npz(save_npz(tmp_path / "c.npz", cohort_arrays(synthetic["moments"])))
    unit = find_units([ipsi_run], "moments")[0]
    zs = zero_shot([unit], cohort, healthy=False, n_boot=10)
    row = zs.summary.set_index("group").loc["PAT"]
    m = cohort.group == "PAT"
    curve = resample_cycles(unit.predictor.calibration.norm_mean[None], cohort.n_frames)
    expected = skill_vs_mean_curve(
        cohort.reference("moments")[m], zs.predictions[unit.key][m],
        np.broadcast_to(curve, (int(m.sum()), *curve.shape[1:])), cohort.subject[m],
    )  # fmt: skip
    assert row["skill_vs_mean_curve"] == pytest.approx(expected, rel=1e-6)


# ------------------------------------------------------------------------ cycle durations


def test_cohort_durations_are_read_from_npz_and_csv_and_checked(synthetic, tmp_path):
    arrays = cohort_arrays(synthetic["moments"])
    n = len(arrays["subject"])
    durations = np.linspace(0.8, 1.3, n)
    cohort = read_cohort_npz(
        save_npz(tmp_path / "c.npz", {**arrays, "cycle_duration_s": durations})
    )
    np.testing.assert_allclose(cohort.duration_s, durations)
    assert "cycle durations known for" in cohort.describe()
    assert not np.isfinite(read_cohort_npz(save_npz(tmp_path / "n.npz", arrays)).duration_s).any()
    # the CSV's column, one value per cycle on every frame
    t = arrays["angles"].shape[1]
    rows = {
        "subject": np.repeat(arrays["subject"], t),
        "cycle": np.repeat(np.arange(n), t),
        "cycle_duration_s": np.repeat(durations, t),
        **{c: arrays["angles"][:, :, j].ravel() for j, c in enumerate(arrays["angle_channels"])},
    }
    pd.DataFrame(rows).to_csv(tmp_path / "c.csv", index=False)
    np.testing.assert_allclose(read_cohort_csv(tmp_path / "c.csv").duration_s, durations)
    # milliseconds, or a whole trial's time, are refused naming the file and the fix
    bad = {**arrays, "cycle_duration_s": durations * 1000}
    with pytest.raises(DataError, match=r"bad\.npz: cycle_duration_s .* in seconds"):
        read_cohort_npz(save_npz(tmp_path / "bad.npz", bad))


@pytest.fixture(scope="module")
def duration_run(tmp_path_factory, synthetic):
    """A tiny LSTM of the ipsilateral angles and the cycle's duration (no broad model)."""
    from gait2hip.conventions import resolve_inputs

    out = tmp_path_factory.mktemp("dur")
    ds = synthetic["moments"]
    t0 = np.arange(len(ds), dtype=float) * 3.0
    durations = np.random.default_rng(0).uniform(0.9, 1.3, len(ds))
    ds = dataclasses.replace(ds, extra={**ds.extra, "cycle_t0": t0, "cycle_t1": t0 + durations})
    cfg = make_config(
        "moments",
        ["lstm"],
        "quick",
        train_overrides={"max_epochs": 3, "patience": 2, "lr": 3e-3},
        n_bootstrap=20,
        inputs=resolve_inputs("ipsilateral,cycle_duration_s"),
    )
    cfg = dataclasses.replace(cfg, model_overrides=TINY, n_folds=2)
    benchmark(ds, cfg, out / "run", show_progress=False)
    return out / "run"


def test_assumed_durations_reach_a_model_of_them_as_a_timed_trial_gives_them(
    duration_run, synthetic, tmp_path
):
    """A cohort without cycle times: a model that needs them is refused, naming
    --assume-durations; with seconds or froude it predicts as `predict` would from those
    durations, said as an assumption; the cohort's own durations win where it has them."""
    from gait2hip.conventions import froude_durations
    from gait2hip.external.evaluate import FROUDE, cohort_inputs, cycle_durations

    arrays = cohort_arrays(synthetic["moments"])
    n = len(arrays["subject"])
    heights = np.linspace(1.2, 1.8, n)
    cohort = read_cohort_npz(save_npz(tmp_path / "k.npz", {**arrays, "height_m": heights}))
    (unit,) = find_units(duration_run, "moments")
    pred = unit.predictor
    with pytest.raises(DataError, match=r"k\.npz: lstm-causal takes \['cycle_duration_s'\].*"
                       "--assume-durations"):  # fmt: skip
        zero_shot([unit], cohort, healthy=False, n_boot=10)
    zs = zero_shot([unit], cohort, healthy=False, n_boot=10, assume_durations=1.2)
    assert (zs.cycles["cycle_duration_s"] == 1.2).all()
    assert any("ASSUMED" in note and f"{n} of {n} cycles" in note for note in zs.notes)
    X = cohort_inputs(pred, cohort, np.full(n, 1.2))
    assert (X[..., pred.in_cols.index("cycle_duration_s")] == np.float32(1.2)).all()
    direct = pred.predict_cycles(X, heights, np.full(n, 1.2), cohort.mass_kg).mean
    np.testing.assert_allclose(
        zs.predictions[unit.key], resample_cycles(direct, cohort.n_frames)[..., unit.channels],
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip
    slow = zero_shot([unit], cohort, healthy=False, n_boot=10, assume_durations=2.0)
    assert not np.allclose(slow.predictions[unit.key], zs.predictions[unit.key])  # read
    # froude: the median training cycle's duration, scaled to each height
    cal = pred.calibration
    expected = froude_durations(heights, np.median(cal.heights), np.median(cal.durations))
    np.testing.assert_allclose(cycle_durations(pred, cohort, FROUDE), expected)
    assert expected[0] < expected[-1]  # shorter legs, shorter cycles
    # the cohort's own durations are used where it has them, the assumption elsewhere
    own = np.where(np.arange(n) < n // 2, 1.05, np.nan)
    timed = read_cohort_npz(
        save_npz(tmp_path / "t.npz", {**arrays, "height_m": heights, "cycle_duration_s": own})
    )
    np.testing.assert_allclose(
        cycle_durations(pred, timed, 1.2), np.where(np.isfinite(own), 1.05, 1.2)
    )
    part = zero_shot([unit], timed, healthy=False, n_boot=10, assume_durations=1.2)
    assert any(f"{n - n // 2} of {n} cycles" in note for note in part.notes)
    # few-shot fine-tunes it on the same durations: at a zero learning rate, the zero-shot
    from gait2hip.external.few_shot import few_shot

    cfg = FewShotConfig(ks=(1,), draws=1, groups=("PAT",), finetune_epochs=1, finetune_lr=0.0,
                        scratch_epochs=1)  # fmt: skip
    draws = few_shot([unit], cohort, zs.predictions, cfg, assume_durations=1.2)
    by = draws.set_index("method")["subject_rmse"]
    assert by["fine-tune"] == pytest.approx(by["zero-shot"], rel=1e-5)


def test_the_default_on_the_cohort_with_assumed_durations_blends_as_for_timed_trials(data_root):
    """Without cycle times the default's broad model predicts every cohort cycle; with
    durations assumed, its own model takes the cycles its checks do not hand over, as for a
    timed trial given to `predict` (the broad share per cycle, as the predictor gives it)."""
    from gait2hip.external.evaluate import FROUDE, cohort_inputs, cycle_durations

    if not (data_root / "spina_bifida_lee" / "cycles.npz").is_file():
        pytest.skip("spina_bifida_lee not in the data folder")
    cohort = load_cohort("spina_bifida_lee", data_root=data_root).with_contralateral()
    units = find_units("default", "moments")
    pred = units[0].predictor
    untimed = zero_shot(units, cohort, healthy=False, n_boot=10)
    assert (untimed.cycles["broad_weight"] == 1.0).all()
    assert (untimed.summary["broad_share"] == 1.0).all()
    zs = zero_shot(units, cohort, healthy=False, n_boot=10, assume_durations=FROUDE)
    durations = cycle_durations(pred, cohort, FROUDE)
    X = cohort_inputs(pred, cohort, durations)
    weight = pred.broad_weight(X, cohort.height_m, durations, cohort.mass_kg)
    np.testing.assert_allclose(zs.cycles["broad_weight"], weight)
    assert 0 < weight.mean() < 1
    direct = pred.predict_cycles(X, cohort.height_m, durations, cohort.mass_kg).mean
    np.testing.assert_allclose(
        zs.predictions[units[0].key], resample_cycles(direct, cohort.n_frames), rtol=1e-5
    )
