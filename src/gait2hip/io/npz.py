"""Read and write the Gait2Hip-60 NPZ format (Gait2Hip_MF60.npz / Gait2Hip_JM60.npz).

Keys: ``X`` (N,T,10) degrees, ``Y`` (N,T,14|3) in N or N·m, ``subject_id`` (N,),
``height_m`` (N,), ``weight_kg`` (N,), ``speed_label`` (N,), ``in_cols``, ``out_cols``
(str or bytes). Extra keys with a leading trial axis are kept in ``GaitDataset.extra``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gait2hip.conventions import INPUT_COLS, JOINT, Target
from gait2hip.data.dataset import DataError, GaitDataset, _decode
from gait2hip.io.atomic import atomic_path

REQUIRED_KEYS = ("X", "Y", "subject_id", "weight_kg", "in_cols", "out_cols")
OPTIONAL_KEYS = ("height_m", "speed_label")


def read_npz(
    path: str | Path,
    *,
    expected_in_cols: tuple[str, ...] | None = INPUT_COLS,
    expected_out: Target | None = None,
    y_per_kg: bool = False,
) -> GaitDataset:
    """Load and validate a study-format NPZ. See :meth:`GaitDataset.from_arrays`. The
    ``joint`` target also reads a forces file whose cycles carry their hip moments."""
    path = Path(path)
    if expected_out is not None and expected_out.name == JOINT:
        ds = read_npz(path, expected_in_cols=expected_in_cols, y_per_kg=y_per_kg)
        return ds if ds.target is not None and ds.target.name == JOINT else ds.joint()
    if not path.is_file():
        raise DataError(
            f"{path}: file not found. Give the path of a Gait2Hip-60 format NPZ "
            "(e.g. Gait2Hip_MF60.npz), or create a demo one with `gait2hip demo-data`"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except ValueError as err:
        raise DataError(
            f"{path}: cannot read without pickle ({err}); save string arrays as fixed-width "
            "str or bytes (np.array(list_of_str)), not dtype=object"
        ) from err
    except Exception as err:  # zipfile.BadZipFile, OSError, ...
        raise DataError(f"{path}: not a readable .npz file ({err})") from err
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise DataError(
            f"{path}: missing keys {missing}; a Gait2Hip-60 NPZ holds "
            f"{list(REQUIRED_KEYS + OPTIONAL_KEYS)} (found {sorted(data)})"
        )
    ds = GaitDataset.from_arrays(
        X=data["X"],
        Y=data["Y"],
        subject_id=data["subject_id"],
        weight_kg=data["weight_kg"],
        height_m=data.get("height_m"),
        speed_label=data.get("speed_label"),
        in_cols=[str(c) for c in _decode(data["in_cols"])],
        out_cols=[str(c) for c in _decode(data["out_cols"])],
        source=str(path),
        expected_in_cols=expected_in_cols,
        expected_out=expected_out,
        y_per_kg=y_per_kg,
    )
    n = len(ds)
    known = set(REQUIRED_KEYS + OPTIONAL_KEYS)
    for key, value in data.items():
        if key not in known and value.ndim >= 1 and value.shape[0] == n:
            ds.extra[key] = value
    return ds


def write_npz(ds: GaitDataset, path: str | Path) -> Path:
    """Write ``ds`` in the study format (atomically: temp file, then rename)."""
    path = Path(path)
    arrays = {
        "X": ds.X.astype(np.float32),
        "Y": ds.Y.astype(np.float32),
        "subject_id": ds.subject_id.astype(str),
        "height_m": ds.height_m.astype(np.float64),
        "weight_kg": ds.weight_kg.astype(np.float64),
        "speed_label": ds.speed_label.astype(str),
        "in_cols": np.array(ds.in_cols),
        "out_cols": np.array(ds.out_cols),
        **ds.extra,
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path
