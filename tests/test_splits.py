from __future__ import annotations

import numpy as np
import pytest

from gait2hip.data.splits import (
    LeakageError,
    SplitError,
    assert_no_leak,
    group_kfold,
    hold_out_condition,
    holdout_subjects,
)


def subjects(n_subj=60, per=12):
    return np.repeat([f"H{i:02d}" for i in range(1, n_subj + 1)], per)


def test_study_holdout_is_12_of_60_subjects_and_deterministic():
    sid = subjects()
    a, b = holdout_subjects(sid, 0.2, 42), holdout_subjects(sid, 0.2, 42)
    assert len(np.unique(sid[a.test])) == 12
    np.testing.assert_array_equal(a.test, b.test)
    assert len(a.train) + len(a.test) == len(sid)
    c = holdout_subjects(sid, 0.2, 7)
    assert set(sid[c.test]) != set(sid[a.test])


def test_no_subject_on_both_sides_of_any_split():
    sid = subjects(23, 5)
    split = holdout_subjects(sid, 0.2, 1)
    assert not set(sid[split.train]) & set(sid[split.test])
    pool = sid[split.train]
    covered = []
    for fold in group_kfold(pool, 5):
        assert not set(pool[fold.train]) & set(pool[fold.test])
        covered += list(fold.test)
    assert sorted(covered) == list(range(len(pool)))


def test_leak_assertion():
    with pytest.raises(LeakageError, match="H01"):
        assert_no_leak(["H01", "H02"], ["H03", "H01"])


def test_too_few_subjects():
    with pytest.raises(SplitError, match="too few"):
        holdout_subjects(subjects(2, 3), 0.2, 0)
    with pytest.raises(SplitError, match="too few for 5-fold"):
        group_kfold(subjects(4, 3), 5)


def test_hold_out_condition_tests_one_condition_of_held_out_subjects():
    subj = subjects(10, 4)
    cond = np.tile(["comfortable", "comfortable", "fast", "fast"], 10)
    split = hold_out_condition(holdout_subjects(subj, 0.2, 1), cond, "fast")
    assert set(cond[split.test]) == {"fast"} and set(cond[split.train]) == {"comfortable"}
    assert not set(subj[split.train]) & set(subj[split.test])
    assert len(split.test) == 2 * 2 and len(split.train) == 8 * 2
    with pytest.raises(SplitError, match="conditions \\['comfortable', 'fast'\\]"):
        hold_out_condition(holdout_subjects(subj, 0.2, 1), cond, "slow")
