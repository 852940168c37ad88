"""gait2hip transfer: in-lab, cross-condition and cohort rows in one table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gait2hip.data.cohort import read_cohort_npz
from gait2hip.io.npz import write_npz
from gait2hip.pipelines.transfer import TransferSetting, build, run_transfer
from gait2hip.training.metrics import per_subject_metrics
from tests.test_external import cohort_arrays, save_npz


def test_transfer_table_has_every_source_and_profile(synthetic, tmp_path):
    data = write_npz(synthetic["moments"], tmp_path / "walk_JM.npz")
    cohort = read_cohort_npz(save_npz(tmp_path / "kids.npz", cohort_arrays(synthetic["moments"])))
    setting = TransferSetting(
        dataset="walk",
        profiles=("recipe", "paper"),
        models=("lstm",),
        split_seeds=(1,),
        conditions=("fast",),
        max_epochs=2,
        patience=2,
        n_folds=2,
        small_models=True,
    )
    # another labelled dataset predicted zero-shot, one row per condition
    other = write_npz(synthetic["moments"].subset(np.arange(12)), tmp_path / "other_JM.npz")
    extra = {"zero_shot_data": {"lab2": other}}
    report = run_transfer(setting, data, cohort, tmp_path / "t", show_progress=False, n_boot=20,
                          log=lambda m: None, **extra)  # fmt: skip
    text = report.read_text()
    table = pd.read_csv(tmp_path / "t" / "transfer_table.csv")
    conds = sorted(set(synthetic["moments"].speed_label[:12]))
    sources = ["in-lab", "med+slow → fast", "kids CTL", "kids PAT", *(f"lab2 {c}" for c in conds)]
    assert list(dict.fromkeys(table["source"])) == sources
    assert len(table) == len(sources) * 2 and (table["runs"] == 1).all()
    assert set(table["profile"]) == {"recipe", "paper"}
    assert table["coverage_90"].between(0, 1).all()
    # no anchor for synthetic 40-frame cycles: the interval is the within-population one
    np.testing.assert_allclose(table["coverage_90"], table["coverage_90_within"])
    assert table[table["source"] != "in-lab"]["ood_auroc"].between(0, 1).all()
    assert "ASSUMED (not measured)" in text and "hip_flexion_r_moment" in text
    assert "10 inputs -> 3 outputs" in text and "reads" not in text  # both read the dataset's
    assert (tmp_path / "t" / "figures" / "transfer.png").is_file()
    # the cross-condition runs tested on fast cycles only, after training on the others
    folder = tmp_path / "t" / "med_slow-to-fast" / "walk_JM-moments" / "recipe" / "split1"
    with np.load(folder / "split1" / "lstm-causal" / "seed2025" / "predictions.npz") as z:
        assert set(z["speed_label"]) == {"fast"}
    # rerunning resumes every run folder and writes the same table
    run_transfer(setting, data, cohort, tmp_path / "t", show_progress=False, n_boot=20,
                 log=lambda m: None, **extra)  # fmt: skip
    again = pd.read_csv(tmp_path / "t" / "transfer_table.csv")
    pd.testing.assert_frame_equal(table, again)


def test_report_says_which_profiles_read_other_inputs_than_the_dataset():
    """The report's data line counts the dataset's inputs; a profile that reads more (the
    cycle's duration, the inverse-dynamics hip moments) says how many and which."""
    from gait2hip.conventions import INPUT_COLS
    from gait2hip.pipelines.transfer import _profile_inputs

    forces = TransferSetting(target="forces", profiles=("recipe", "recipe-moments", "paper"))
    said = _profile_inputs(forces, INPUT_COLS)
    assert said == "; `recipe-moments` reads 13 inputs (all,hip_moments)"
    moments = TransferSetting(profiles=("recipe", "gait2hip60-finetune-duration"))
    said = _profile_inputs(moments, INPUT_COLS)
    assert said == "; `gait2hip60-finetune-duration` reads 11 inputs (all,cycle_duration_s)"
    assert _profile_inputs(TransferSetting(profiles=("recipe", "paper")), INPUT_COLS) == ""


def test_unknown_zero_shot_data_is_refused_before_any_work():
    with pytest.raises(ValueError, match="--zero-shot-data: unknown 'hamner2014'"):
        TransferSetting(zero_shot=("hamner2014",))
    with pytest.raises(ValueError, match="dataset: unknown 'nope'"):
        build(TransferSetting(dataset="nope"))  # a built NPZ may carry any name; labelling not
    assert TransferSetting(zero_shot=("hamner2013",)).zero_shot == ("hamner2013",)


def test_cohort_rows_skip_a_profile_that_takes_what_the_cohort_lacks(synthetic, tmp_path):
    """A profile whose models take the cycle's duration gets no cohort rows (the cohort has
    no cycle times), said in one line, instead of failing the whole table; with durations
    assumed it gets them (said in the report), and a labelled dataset predicted zero-shot
    gives its own durations (the pace check's AUROC then measured; none for assumed ones)."""
    import dataclasses

    from gait2hip.conventions import resolve_inputs
    from gait2hip.data.cohort import Cohort
    from gait2hip.data.dataset import DataError
    from gait2hip.pipelines.benchmark import benchmark
    from gait2hip.pipelines.transfer import _assumed, _cohort_rows
    from tests.test_protocol import tiny_config

    ds = synthetic["moments"]
    t0 = np.arange(len(ds), dtype=float) * 2.0
    duration = np.random.default_rng(0).uniform(1.0, 1.2, len(ds))
    ds = dataclasses.replace(ds, extra={**ds.extra, "cycle_t0": t0, "cycle_t1": t0 + duration})
    cfg = dataclasses.replace(
        tiny_config(models=("lstm",)),
        target="moments",
        inputs=resolve_inputs("all,cycle_duration_s"),
        n_folds=2,
    )
    benchmark(ds, cfg, tmp_path / "run", show_progress=False)
    cohort = read_cohort_npz(save_npz(tmp_path / "kids.npz", cohort_arrays(synthetic["moments"])))
    said: list[str] = []
    rows = _cohort_rows(cohort.with_contralateral(), {"dur": [tmp_path / "run"]}, "moments", 10,
                        said.append)  # fmt: skip
    assert rows.empty and "dur takes ['cycle_duration_s']" in said[0], said
    assert "(--assume-durations gives durations)" in said[0]
    kids = cohort.with_contralateral()
    rows = _cohort_rows(kids, {"dur": [tmp_path / "run"]}, "moments", 10, said.append, 1.1)
    assert list(rows["source"]) == ["kids CTL", "kids PAT"] and len(said) == 1
    assert rows["subject_r2"].notna().all() and rows["pace_auroc"].isna().all()
    assert _assumed(kids, 1.1).startswith("; cycle durations ASSUMED (not measured)")
    # durations it cannot assume (froude without heights): that profile's rows, not the table
    rows = _cohort_rows(kids, {"dur": [tmp_path / "run"]}, "moments", 10, said.append, "froude")
    assert rows.empty and "durations by froude scale a pace" in said[-1], said
    assert _assumed(kids, None) == ""
    with pytest.raises(DataError, match="durations by froude scale a pace to each body height"):
        run_transfer(
            TransferSetting(),
            tmp_path / "none.npz",
            kids,
            tmp_path / "t",
            assume_durations="froude",
        )  # refused before anything is read or trained
    # a labelled dataset gives its own durations: rows without assuming any
    other = Cohort.from_dataset(ds.subset(np.arange(12)), "lab2")
    np.testing.assert_allclose(other.duration_s, duration[:12], rtol=1e-6)
    rows = _cohort_rows(other, {"dur": [tmp_path / "run"]}, "moments", 10, said.append)
    assert len(rows) == len(other.groups) and rows["pace_auroc"].between(0, 1).all()
    assert _assumed(other, "froude") == ""


def test_gait2hip_average_on_a_transfer_folder_writes_its_table(synthetic, tmp_path):
    """`gait2hip average` on a transfer folder: each source's runs averaged across the
    architectures, with a transfer table of the average in the sources' order."""
    from typer.testing import CliRunner

    from gait2hip.cli import app

    data = write_npz(synthetic["moments"], tmp_path / "walk_JM.npz")
    setting = TransferSetting(
        dataset="walk", profiles=("recipe", "paper"), models=("lstm", "transformer"),
        split_seeds=(1,),
        conditions=("fast",), max_epochs=2, patience=2, n_folds=2, small_models=True,
    )  # fmt: skip
    run_transfer(setting, data, None, tmp_path / "t", show_progress=False, n_boot=20,
                 log=lambda m: None)  # fmt: skip
    result = CliRunner().invoke(app, ["average", str(tmp_path / "t"), "--models",
                                      "lstm-causal,transformer-bidir"])  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "t-average" / "transfer_table.csv")
    assert list(dict.fromkeys(table["source"])) == ["in-lab", "med+slow → fast"]
    assert set(table["model"]) == {"lstm-causal+transformer-bidir"} and len(table) == 4
    for source, folder in (("in-lab", "in-lab"), ("med+slow → fast", "med_slow-to-fast")):
        run = tmp_path / "t" / folder / "walk_JM-moments" / "recipe" / "split1" / "split1"
        preds = []
        for label in ("lstm-causal", "transformer-bidir"):
            with np.load(run / label / "seed2025" / "predictions.npz") as z:
                preds.append(z["y_pred"])
                y, subj = z["y_true"], z["subject_id"]
        r2 = per_subject_metrics(y, np.mean(preds, 0), subj)["r2"].mean()
        row = table[(table["source"] == source) & (table["profile"] == "recipe")].iloc[0]
        assert row["subject_r2"] == pytest.approx(r2, abs=1e-5)
        assert 0 <= row["coverage_90"] <= 1
