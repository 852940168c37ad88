from __future__ import annotations

import numpy as np
import pytest
import torch

from gait2hip.data.synthetic import make_synthetic


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def synthetic():
    """Small synthetic study: 10 subjects x 3 cadences x 1 trial, 40 frames."""
    return make_synthetic(n_subjects=10, trials_per_speed=1, n_frames=40, seed=3)


@pytest.fixture
def forces(synthetic):
    return synthetic["forces"]


def arrays(ds):
    return dict(
        X=ds.X.copy(),
        Y=ds.Y.copy(),
        subject_id=ds.subject_id.copy(),
        weight_kg=ds.weight_kg.copy(),
        height_m=ds.height_m.copy(),
        speed_label=ds.speed_label.copy(),
        in_cols=list(ds.in_cols),
        out_cols=list(ds.out_cols),
    )


@pytest.fixture
def rng():
    return np.random.default_rng(0)
