"""Subject-level splits: a held-out test set and GroupKFold on the remaining pool.

Every split passes through :func:`assert_no_leak`, so no subject is ever on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import GroupKFold


class LeakageError(AssertionError):
    """A subject appears on both sides of a split."""


class SplitError(ValueError):
    """The data cannot be split as asked (e.g. too few subjects)."""


def assert_no_leak(train_subjects, test_subjects, what: str = "split") -> None:
    shared = set(np.asarray(train_subjects).tolist()) & set(np.asarray(test_subjects).tolist())
    if shared:
        raise LeakageError(f"{what}: subjects on both sides: {sorted(shared)[:10]}")


@dataclass(frozen=True)
class Split:
    """Trial indices of a train/test pair (indices into the dataset given to the splitter)."""

    train: np.ndarray
    test: np.ndarray


def holdout_subjects(subject_id: np.ndarray, test_fraction: float = 0.2, seed: int = 42) -> Split:
    """Hold out ``round(test_fraction * n_subjects)`` whole subjects, chosen with ``seed``.

    60 subjects at 0.2 give 12 test subjects, as in the study.
    """
    subject_id = np.asarray(subject_id)
    subjects = np.unique(subject_id)
    if not 0.0 < test_fraction < 1.0:
        raise SplitError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n_test = round(test_fraction * len(subjects))
    if n_test < 1 or len(subjects) - n_test < 2:
        raise SplitError(
            f"{len(subjects)} subjects are too few to hold out {test_fraction:.0%} for testing "
            "and keep at least 2 for training; add subjects or change test_fraction"
        )
    test_subj = np.random.default_rng(seed).choice(subjects, size=n_test, replace=False)
    is_test = np.isin(subject_id, test_subj)
    split = Split(train=np.flatnonzero(~is_test), test=np.flatnonzero(is_test))
    assert_no_leak(subject_id[split.train], subject_id[split.test], "holdout")
    return split


def hold_out_condition(split: Split, condition: np.ndarray, held_out: str) -> Split:
    """``split`` narrowed to a transfer across conditions: its training side keeps the cycles
    of every other condition, its test side only those of ``held_out`` (e.g. train on
    comfortable walking, test on fast walking of subjects none of the models saw)."""
    condition = np.asarray(condition).astype(str)
    known = sorted(set(condition.tolist()))
    if held_out not in known or len(known) < 2:
        raise SplitError(
            f"cannot hold out condition {held_out!r}: the data have conditions {known}; "
            "choose one of them (and the data need another to train on)"
        )
    train = split.train[condition[split.train] != held_out]
    test = split.test[condition[split.test] == held_out]
    if len(train) == 0 or len(test) == 0:
        raise SplitError(
            f"holding out condition {held_out!r} leaves no "
            f"{'training' if len(train) == 0 else 'test'} cycles in this split"
        )
    return Split(train=train, test=test)


def group_kfold(subject_id: np.ndarray, n_folds: int = 5) -> list[Split]:
    """GroupKFold by subject (scikit-learn), each fold checked for leakage."""
    subject_id = np.asarray(subject_id)
    n_subj = len(np.unique(subject_id))
    if n_subj < n_folds:
        raise SplitError(
            f"{n_subj} subjects in the training pool are too few for {n_folds}-fold "
            "cross-validation by subject; lower n_folds or add subjects"
        )
    folds = []
    for k, (tr, va) in enumerate(
        GroupKFold(n_splits=n_folds).split(np.zeros(len(subject_id)), groups=subject_id)
    ):
        assert_no_leak(subject_id[tr], subject_id[va], f"fold {k}")
        folds.append(Split(train=tr, test=va))
    return folds


def few_shot_splits(subject_id: np.ndarray, k: int, n_draws: int, seed: int = 0) -> list[Split]:
    """``n_draws`` random draws of ``k`` whole subjects for adaptation, the rest for testing.

    Draws are distinct where the subjects allow (fewer when ``n_subjects choose k`` is
    smaller), each checked for leakage.
    """
    from math import comb

    subject_id = np.asarray(subject_id)
    subjects = np.unique(subject_id)
    if not 1 <= k <= len(subjects) - 1:
        raise SplitError(
            f"k = {k} adaptation subjects leaves no test subject among {len(subjects)}; "
            f"choose k from 1 to {len(subjects) - 1}"
        )
    n_draws = min(n_draws, comb(len(subjects), k))
    rng = np.random.default_rng(seed)
    drawn: list[frozenset] = []
    while len(drawn) < n_draws:
        pick = frozenset(rng.choice(subjects, size=k, replace=False).tolist())
        if pick not in drawn:
            drawn.append(pick)
    splits = []
    for d, pick in enumerate(drawn):
        is_train = np.isin(subject_id, list(pick))
        split = Split(train=np.flatnonzero(is_train), test=np.flatnonzero(~is_train))
        assert_no_leak(subject_id[split.train], subject_id[split.test], f"few-shot k={k} draw {d}")
        splits.append(split)
    return splits
