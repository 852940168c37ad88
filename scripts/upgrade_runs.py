"""Bring run folders written by an older gait2hip up to date with how it predicts now.

Without retraining (the weights do not change), for every unit under the given folders: add
the reference body height to checkpoints that lack it (``reference_height_m``, see
``gait2hip.conventions.size_factors``; read from the unit's own dataset and training
subjects; units started from the published weights keep theirs), rewrite the test predictions
the way the benchmark now makes them (moments scaled to each test subject's height, muscle
forces clipped at 0), and remove the calibration so that the next ``gait2hip benchmark``/
``compare``/``transfer`` on the folder recomputes it (and its tables).

    .venv/bin/python scripts/upgrade_runs.py runs/transfer runs/transfer-forces
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from gait2hip.conventions import REFERENCE_HEIGHT_KEY
from gait2hip.inference.calibration import CALIBRATION_FILE
from gait2hip.io.atomic import atomic_path
from gait2hip.io.npz import read_npz
from gait2hip.training.checkpoint import TrainedModel
from gait2hip.training.protocol import reference_height


def upgrade_unit(unit: Path, datasets: dict) -> None:
    """Upgrade one unit folder (with final.pt)."""
    final = TrainedModel.load(unit / "final.pt")
    path = final.meta["dataset"]
    if path not in datasets:
        datasets[path] = read_npz(path)
    ds = datasets[path]
    pred_path = unit / "predictions.npz"
    with np.load(pred_path) as z:
        stored = {k: z[k] for k in z.files}
    # the test cycles: the test subjects' (of the held-out condition only, if one was)
    test = np.isin(ds.subject_id, final.meta["test_subjects"]) & np.isin(
        ds.speed_label, np.unique(stored["speed_label"])
    )
    if not np.array_equal(stored["subject_id"], ds.subject_id[test]):
        raise SystemExit(f"{pred_path}: its test cycles are not the dataset's; rerun the unit")
    for ckpt in sorted(unit.glob("*.pt")):
        model = final if ckpt.name == "final.pt" else TrainedModel.load(ckpt)
        if REFERENCE_HEIGHT_KEY in model.meta:
            continue
        train = np.flatnonzero(np.isin(ds.subject_id, model.meta["train_subjects"]))
        init = model.meta.get("init", "")
        model.meta.update(reference_height(ds, train, init, model.name, model.target))
        model.save(ckpt)
    stored["y_pred"] = final.predict_per_kg(ds.X[test], ds.height_m[test])
    with atomic_path(pred_path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **stored)
    for name in (CALIBRATION_FILE, "calibration.json"):
        (unit / name).unlink(missing_ok=True)


def main(roots: list[str]) -> None:
    datasets: dict = {}
    units = sorted({p.parent for r in roots for p in Path(r).rglob("final.pt")})
    for unit in units:
        upgrade_unit(unit, datasets)
    print(f"{len(units)} units upgraded; rerun their benchmark/compare/transfer command")


if __name__ == "__main__":
    main(sys.argv[1:])
