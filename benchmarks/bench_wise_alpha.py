"""How far to average fine-tuned with published weights: in-lab accuracy against transfer.

`gait2hip60-wise` models are the fine-tuned weights averaged half-and-half with the study's
published ones (WiSE-FT, alpha 0.5). Fine-tuning is the same run with or without the
averaging, so every alpha can be read from the `gait2hip60-finetune` run folders of
`gait2hip transfer` (runs/transfer) without training: weights = (1 - alpha) x published +
alpha x fine-tuned; alpha 0 is the published model, 1 the fine-tuned one.

For each alpha, architecture and split, the final model's subject-mean R² (study definition,
moments scaled to each subject's height as `gait2hip transfer` does) on every source:
held-out subjects in-lab, the held-out-speed sources (models trained on the other speed),
and the bundled cohort's groups zero-shot (the other leg assumed). In-lab, each alpha is also
compared with the `recipe` model of the same split, subject by subject: the mean paired
difference in subject R² with a bootstrap 95 % CI over the held-out (split, subject) pairs.

    .venv/bin/python benchmarks/bench_wise_alpha.py --splits 21,22 [--alphas 0,0.25,0.5,0.75,1]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses

import pandas as pd
from transfer_runs import FOLDERS, each_unit, subject_r2

from gait2hip.inference.predictor import Predictor, load_predictor
from gait2hip.report.summary import markdown_table
from gait2hip.training.metrics import bootstrap_ci
from gait2hip.training.protocol import initial_model, interpolate_weights
from gait2hip.training.published import PUBLISHED


def at_alpha(pred: Predictor, alpha: float) -> Predictor:
    """The final model with weights (1 - alpha) x published + alpha x its own."""
    final = copy.deepcopy(pred.final)
    start = initial_model(PUBLISHED, final.name, final.target)
    interpolate_weights(final.model, start.model, alpha)
    return dataclasses.replace(pred, members=[final], anchor=None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default="runs/transfer")
    ap.add_argument("--splits", default="21,22")
    ap.add_argument("--alphas", default="0,0.25,0.5,0.75,0.9,1")
    args = ap.parse_args()
    alphas = [float(a) for a in args.alphas.split(",")]
    rows, paired = [], []
    for model, split, unit_of, srcs, base in each_unit(args.runs, args.splits):
        finetuned = {f: load_predictor(unit_of(f), ensemble=False) for f in FOLDERS}
        for alpha in alphas:
            preds = {f: at_alpha(p, alpha) for f, p in finetuned.items()}
            for name, cycles in srcs.items():
                r2 = subject_r2(preds[name if name in FOLDERS else "in-lab"], cycles)
                rows.append({"model": model, "alpha": alpha, "source": name,
                             "split": split, "r2": float(r2.mean())})  # fmt: skip
                if name == "in-lab":
                    paired += [{"model": model, "alpha": alpha, "delta": d}
                               for d in (r2 - base).to_numpy()]  # fmt: skip
    table = pd.DataFrame(rows).groupby(["model", "alpha", "source"], sort=False)["r2"].mean()
    wide = table.unstack("source")[list(srcs)].round(3)
    deltas = pd.DataFrame(paired).groupby(["model", "alpha"], sort=False)["delta"]
    fmt = {
        key: f"{d.mean():+.3f} ({lo:+.3f} to {hi:+.3f})"
        for key, d in deltas
        for lo, hi in [bootstrap_ci(d.to_numpy())]
    }
    wide["in-lab Δ R² vs recipe (95% CI)"] = [fmt[k] for k in wide.index]
    print(markdown_table(wide.reset_index()))


if __name__ == "__main__":
    main()
