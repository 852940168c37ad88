from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

from gait2hip.data.synthetic import make_synthetic

# property tests (tests/test_properties.py): a few dozen inputs per test in the default run,
# 2,500 per test in CI's slow lane (HYPOTHESIS_PROFILE=slow); derandomized so that a run is
# reproducible
_quiet = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile(
    "default", max_examples=40, deadline=None, derandomize=True, suppress_health_check=_quiet
)
settings.register_profile(
    "slow", max_examples=2500, deadline=None, derandomize=True, suppress_health_check=_quiet
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


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


# ----------------------------------------------------------------- real data (../shared/data)


def _data_root():
    from gait2hip.settings import data_root

    try:
        return data_root().resolve()
    except FileNotFoundError:
        return None


@pytest.fixture(scope="session")
def data_root():
    root = _data_root()
    if root is None or not (root / "schreiber2019").is_dir():
        pytest.skip("real data not found (set GAIT2HIP_DATA to ../shared/data)")
    return root


@pytest.fixture(scope="session")
def osim():
    """OpenSim as gait2hip configures it: no opensim.log file sink (loading a model changes
    into its folder, so OpenSim's default log would land in the read-only data folder)."""
    pytest.importorskip("opensim")
    from gait2hip.labeling.opensim_steps import osim as configured

    return configured()


@pytest.fixture(scope="session")
def labelled_trial(data_root, osim, tmp_path_factory):
    """Subject 2014001, comfortable trial, through scale/IK/ID/SO once per session (~25 s).

    Labelled with OpenSim's own SO (``so_solver="opensim"``, also in the returned source's
    settings), the reference the fast solver is checked against."""
    from dataclasses import replace

    from gait2hip.labeling.sources import schreiber2019
    from gait2hip.labeling.trial import label_trial

    source = schreiber2019(data_root)
    source = replace(source, settings=replace(source.settings, so_solver="opensim"))
    spec = next(s for s in source.specs if (s.subject, s.trial) == ("2014001", "C4_05"))
    cache = tmp_path_factory.mktemp("labels")
    result = label_trial(spec, source.settings, cache)
    assert result.ok, result.error
    return source, spec, cache, result


@pytest.fixture(scope="session")
def running_trial(data_root, osim, tmp_path_factory):
    """Hamner 2013 subject01 at 2 m/s (gait2392 family: Thelen2003 muscles) labelled once per
    session with the default settings (``so_solver="auto"``, which picks the fast solver; ~10 s)."""
    from gait2hip.labeling.sources import hamner2013
    from gait2hip.labeling.trial import label_trial

    if not (data_root / "hamner2013").is_dir():
        pytest.skip("hamner2013 not found under the data root")
    source = hamner2013(data_root)
    spec = next(s for s in source.specs if (s.subject, s.trial) == ("subject01", "Run_2"))
    result = label_trial(spec, source.settings, tmp_path_factory.mktemp("running"))
    assert result.ok, result.error
    return source, spec, result
