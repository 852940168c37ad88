"""How much of the labels' variance a model of a cycle's angles can hope to explain, per
output channel: the R² (per-channel definition, all cycles pooled) of curves that know more
about a cycle than its angles say.

- ``population``: the mean curve of every other cycle (the same curve for all; no angles);
- ``subject``: the mean curve of the same subject's other cycles (knows who walks);
- ``subject x condition``: the mean curve of the same subject's other cycles at the same
  speed (knows who walks and how fast, not the cycle itself; often one other cycle, whose own
  cycle-to-cycle scatter it adds);
- ``ceiling``: 1 - the pooled within-(subject, speed) variance / the total variance: the R² of
  each subject's true mean curve at each speed, were the cycle-to-cycle scatter around it
  unpredictable.

A model sees neither the subject nor the speed, only the angles (and, for some, the cycle's
duration); within a subject and speed the angles also vary with the labels, so ``ceiling`` is
not a strict bound either. The columns show how much of a channel's variance lies between
subjects and speeds, and how much is scatter from cycle to cycle.

    .venv/bin/python benchmarks/bench_label_ceiling.py \\
        --data .cache/datasets/schreiber2019/schreiber2019_MF.npz --target forces
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from gait2hip.conventions import get_target
from gait2hip.io.npz import read_npz
from gait2hip.report.summary import markdown_table
from gait2hip.training.metrics import per_channel_metrics


def leave_one_out_means(Y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each cycle's prediction: the mean of the other cycles of its group (of all other
    cycles where it is alone in its group)."""
    out = np.empty_like(Y)
    total = Y.sum(0)
    for g in np.unique(groups):
        k = groups == g
        n, s = k.sum(), Y[k].sum(0)
        out[k] = (s - Y[k]) / (n - 1) if n > 1 else (total - Y[k]) / (len(Y) - 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="study-format NPZ (MF or JM)")
    ap.add_argument("--target", choices=("forces", "moments"), default="forces")
    args = ap.parse_args()
    ds = read_npz(args.data, expected_out=get_target(args.target))
    Y, subject = ds.Y_per_kg, ds.subject_id.astype(str)
    condition = np.char.add(np.char.add(subject, "/"), ds.speed_label.astype(str))
    curves = {
        "population": leave_one_out_means(Y, np.zeros(len(Y), int)),
        "subject": leave_one_out_means(Y, subject),
        "subject x condition": leave_one_out_means(Y, condition),
    }
    rows = {
        name: per_channel_metrics(Y, pred, ds.out_cols).set_index("channel")["r2"]
        for name, pred in curves.items()
    }
    groups = np.unique(condition)
    within = sum(((Y[condition == g] - Y[condition == g].mean(0)) ** 2).sum((0, 1)) for g in groups)
    total = ((Y - Y.mean((0, 1))) ** 2).sum((0, 1))
    ratio = (within / (len(Y) - len(groups))) / (total / len(Y))
    rows["ceiling"] = pd.Series(1 - ratio, index=list(ds.out_cols))
    table = pd.DataFrame(rows)
    table.loc["channel mean"] = table.mean()
    print(
        f"{ds.source}: {len(Y)} cycles, {len(np.unique(subject))} subjects, "
        f"{len(groups)} subject x condition groups\n"
    )
    print(markdown_table(table.reset_index().rename(columns={"index": "channel"})))


if __name__ == "__main__":
    main()
