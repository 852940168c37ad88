"""Bring run folders written before models recorded their reference body height up to date.

Models record the mean height of the subjects they learnt from (``reference_height_m``, see
``gait2hip.conventions.size_factors``), and the benchmark scales its test predictions and
calibration to each subject's height. The weights do not depend on it, so older units need no
retraining: this script adds the reference height to every checkpoint of each unit under the
given folders (read from the unit's own dataset and training subjects; units started from the
published weights keep theirs), rewrites its test predictions scaled to the test subjects'
heights, and removes its calibration so that the next ``gait2hip benchmark``/``compare``/
``transfer`` on the folder recomputes it (and its tables) with the heights.

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
from gait2hip.training.protocol import initial_model, reference_height


def upgrade_unit(unit: Path, datasets: dict) -> bool:
    """Upgrade one unit folder (with final.pt); False when it was up to date."""
    final = TrainedModel.load(unit / "final.pt")
    if REFERENCE_HEIGHT_KEY in final.meta:
        return False
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
        if model.meta.get("init"):
            start = initial_model(model.meta["init"], model.name, model.target)
            ref = {REFERENCE_HEIGHT_KEY: start.reference_height_m}
        else:
            train = np.isin(ds.subject_id, model.meta["train_subjects"])
            ref = reference_height(ds, np.flatnonzero(train))
        model.meta.update(ref)
        model.save(ckpt)
    stored["y_pred"] = final.predict_per_kg(ds.X[test], ds.height_m[test])
    with atomic_path(pred_path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **stored)
    for name in (CALIBRATION_FILE, "calibration.json"):
        (unit / name).unlink(missing_ok=True)
    return True


def main(roots: list[str]) -> None:
    datasets: dict = {}
    units = sorted({p.parent for r in roots for p in Path(r).rglob("final.pt")})
    done = sum(upgrade_unit(u, datasets) for u in units)
    print(f"{done} of {len(units)} units upgraded; rerun their benchmark/compare/transfer command")


if __name__ == "__main__":
    main(sys.argv[1:])
