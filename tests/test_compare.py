"""The profile comparison: paired tables by hand, and the whole command on synthetic data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gait2hip.data.synthetic import write_synthetic
from gait2hip.pipelines.compare import SETTINGS, CompareSetting, build_datasets, run_comparison
from gait2hip.report.compare import comparison_tables, paired, subject_paired


def _runs(profile: str, rmse: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": "lstm-causal",
            "split_seed": [1, 2, 3],
            "seed": 1,
            "subject_rmse": rmse,
            "subject_r2": 0.9,
            "channel_mean_r2": 0.5,
            "folds_hit_max_epochs": [5, 5, 4],
            "train_seconds": [60.0, 120.0, 90.0],
            "profile": profile,
        }
    )


def _channels(profile: str, a: list[float], b: list[float]) -> pd.DataFrame:
    rows = [
        {"model": "lstm-causal", "split_seed": s, "seed": 1, "channel": c, "rmse": v, "r2": 1 - v}
        for c, vals in (("a", a), ("b", b))
        for s, v in zip((1, 2, 3), vals, strict=True)
    ]
    return pd.DataFrame(rows).assign(profile=profile)


def test_paired_interval_by_hand():
    m, lo, hi = paired(np.array([1.0, 2.0, 3.0]))
    half = 4.302652729911275 * 1.0 / np.sqrt(3)  # t(0.975, 2) x sd / sqrt(n)
    assert (m, lo, hi) == pytest.approx((2.0, 2.0 - half, 2.0 + half))
    assert np.isnan(paired(np.array([1.0]))[1])


@pytest.mark.parametrize(
    ("b_recipe", "goal", "worse"),
    [([0.9, 1.8, 2.7], True, []), ([1.1, 2.2, 3.3], False, ["b"])],  # b: -10 % or +10 %
)
def test_goal_needs_ten_percent_and_no_worse_channel(b_recipe, goal, worse):
    runs = pd.concat([_runs("paper", [1.0, 2.0, 1.5]), _runs("recipe", [0.8, 1.6, 1.2])])
    channels = pd.concat(
        [
            _channels("paper", [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]),
            _channels("recipe", [0.8, 1.6, 2.4], b_recipe),
        ]
    )
    tables = comparison_tables(runs, channels, "paper", {"paper": 5, "recipe": 5})
    row = tables["paired"].iloc[0]
    assert row["delta_pct"] == pytest.approx(-20) and row["delta_rmse"] == pytest.approx(-0.3)
    assert bool(row["goal_met"]) is goal and row["worse_channels"] == worse
    metrics = tables["metrics"].set_index("profile")
    assert metrics.loc["paper", "folds_hit_max"] == 14 and metrics.loc["paper", "folds"] == 15
    assert metrics.loc["recipe", "subject_rmse"] == pytest.approx(3.6 / 3)
    assert metrics.loc["recipe", "train_min"] == pytest.approx(4.5)  # summed over the runs
    chans = tables["channels"].set_index("channel")
    assert chans.loc["a", "delta_pct"] == pytest.approx(-20)
    r2 = tables["channel_r2"].set_index(["profile", "channel"])["r2"]
    assert r2["paper", "b"] == pytest.approx(1 - 2.0)  # mean over the runs


def test_subject_pairs_match_subject_and_run():
    def subjects(profile, r2, rmse):
        return pd.DataFrame(
            {
                "model": "lstm-causal",
                "split_seed": [1, 1, 2, 2],
                "seed": 1,
                "subject": ["s1", "s2", "s1", "s3"],
                "r2": r2,
                "rmse": rmse,
                "profile": profile,
            }
        )

    base = subjects("paper", [0.9, 0.8, 0.7, 0.6], [1.0, 2.0, 1.0, 4.0])
    # s3 of split 2 is missing from the other profile: three pairs, matched by subject and run
    other = subjects("recipe", [0.8, 0.9, 0.8, 0.0], [1.5, 2.0, 0.5, 9.0]).iloc[:3]
    other = pd.concat([other.iloc[[2]], other.iloc[:2]])  # order must not matter
    row = subject_paired(pd.concat([base, other]), "paper").iloc[0]
    assert row["pairs"] == 3
    expect_r2, expect_pct = paired(np.array([-0.1, 0.1, 0.1])), paired(np.array([50.0, 0, -50]))
    assert (row["delta_r2"], row["delta_r2_lo"], row["delta_r2_hi"]) == pytest.approx(expect_r2)
    assert (row["delta_pct"], row["delta_pct_lo"]) == pytest.approx(expect_pct[:2])
    assert subject_paired(pd.DataFrame(), "paper").empty


def test_setting_validates_profiles_and_targets():
    with pytest.raises(ValueError, match="baseline and at least one other"):
        CompareSetting(profiles=("paper",))
    with pytest.raises(ValueError, match="baseline and at least one other"):
        CompareSetting(profiles=("paper", "fancy"))
    with pytest.raises(ValueError, match="target"):
        CompareSetting(targets=("torques",))
    with pytest.raises(ValueError, match="unknown 'hamner2014'; choose from schreiber2019"):
        # refused before the first (known) dataset is labelled
        build_datasets(CompareSetting(datasets=("schreiber2019", "hamner2014")))
    ci = SETTINGS["ci"]
    assert ci.config("forces", "recipe", 2).train.max_epochs == 3
    assert ci.config("forces", "recipe", 2).train.steps_per_epoch == 8  # the profile's own
    full = SETTINGS["full"]
    assert len(full.seeds) >= 3 and len(full.split_seeds) >= 3 and full.both_variants
    assert full.config("moments", "paper", 1).train.lr == 1e-4
    assert full.profiles[0] == "paper" and "recipe-duration" in full.profiles
    assert "cycle_duration_s" in full.config("moments", "recipe-duration", 1).inputs
    assert "cycle_duration_s" not in full.config("moments", "recipe", 1).inputs


def test_comparison_runs_reports_and_resumes(tmp_path):
    paths = write_synthetic(tmp_path / "data", n_subjects=10, trials_per_speed=1, n_frames=40)
    setting = CompareSetting(
        datasets=("synthetic",),
        targets=("moments",),  # one target keeps it quick; forces go through the same code
        profiles=("paper", "recipe"),  # the synthetic data has no cycle times for the duration
        models=("lstm",),
        both_variants=False,
        seeds=(1,),
        split_seeds=(1, 2),
        max_epochs=2,
        patience=1,
        n_folds=2,
        small_models=True,
    )
    out = tmp_path / "cmp"
    report = run_comparison(setting, {"synthetic": paths}, out, show_progress=False, log=str)
    text = report.read_text()
    assert "Paired against the baseline" in text and "| lstm-causal | recipe | 2 |" in text
    assert "training (min) |" in text
    assert "Paired subject by subject" in text  # the held-out subjects of both splits
    by_subject = pd.read_csv(out / "subject_paired.csv")
    held_out = [len(pd.read_csv(f)) for f in out.glob("*/paper/split*/per_subject.csv")]
    assert len(held_out) == 2 and by_subject["pairs"].iloc[0] == sum(held_out)
    assert (out / "figures" / "synthetic-moments.png").exists()
    paired_csv = pd.read_csv(out / "paired.csv")
    assert set(paired_csv["section"]) == {"synthetic, moments"} and len(paired_csv) == 1
    finals = sorted(out.rglob("final.pt"))
    assert len(finals) == 2 * 2  # profiles x splits (one model, one seed)
    stamps = [p.stat().st_mtime_ns for p in finals]
    run_comparison(setting, {"synthetic": paths}, out, show_progress=False, log=str)
    assert [p.stat().st_mtime_ns for p in finals] == stamps  # resumed, nothing retrained


def test_datasets_are_labelled_with_the_chosen_solver(monkeypatch, tmp_path):
    """``compare --so-solver`` reaches the labelling of every dataset; without it the sources'
    own settings (``auto``) apply."""
    from types import SimpleNamespace

    import gait2hip.labeling.build as build
    from gait2hip.labeling.sources import SOURCES
    from gait2hip.labeling.trial import LabelSettings
    from gait2hip.pipelines import compare

    seen = []

    def fake_build(source, out_dir, cache_root, *, settings=None, **kw):
        seen.append((source.name, (settings or source.settings).so_solver))
        return SimpleNamespace(paths={"forces": out_dir / "f.npz", "moments": out_dir / "m.npz"})

    monkeypatch.setenv("GAIT2HIP_DATA", str(tmp_path))
    monkeypatch.setattr(build, "build_dataset", fake_build)
    walk = SimpleNamespace(name="walk", settings=LabelSettings())
    monkeypatch.setitem(SOURCES, "walk", lambda root: walk)
    setting = CompareSetting(datasets=("walk",))
    compare.build_datasets(setting, workers=1, show_progress=False)
    compare.build_datasets(setting, workers=1, show_progress=False, so_solver="opensim")
    assert seen == [("walk", "auto"), ("walk", "opensim")]
