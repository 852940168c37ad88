"""Synthetic gait data in the Gait2Hip-60 format, for tests and the demo.

NOT real biomechanics. Angles follow rough normative walking shapes; targets are a fixed
nonlinear function of the angles and their rates (so a learnable mapping exists), times a
hidden per-subject gain (so subject-level splits matter: a model cannot see the gain, and
leaking a subject into training would flatter the test score).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from gait2hip.conventions import (
    CYCLE_FRAMES,
    EXTRA_HIP_MOMENTS,
    FORCE_COLS,
    INPUT_COLS,
    MOMENT_COLS,
    SPEED_LABELS,
)
from gait2hip.data.dataset import GaitDataset
from gait2hip.io.npz import write_npz

# Amplitude scaling of the angle curves per cadence.
_SPEED_GAIN = {"slow": 0.8, "med": 1.0, "fast": 1.15}
# Typical peak per-kg magnitudes of each force group (N/kg), big and small muscles alike.
_FORCE_SCALE = np.array([1.5, 3.0, 6.0, 0.8, 12.0, 5.0, 1.2, 10.0, 4.0, 8.0, 14.0, 3.0, 1.5, 1.0])
_MOMENT_SCALE = np.array([0.9, 0.8, 0.15])


def _angle_templates(phase: np.ndarray) -> dict[str, np.ndarray]:
    """Right-leg angle curves (degrees) over one cycle, phase in [0, 1]."""
    w = 2 * np.pi * phase
    bump = lambda c, s: np.exp(-((((phase - c + 0.5) % 1.0 - 0.5) / s) ** 2))  # noqa: E731
    return {
        "hip_flexion": 8 + 20 * np.cos(w) + 3 * np.sin(2 * w),
        "hip_adduction": 2 + 5 * np.sin(w + 0.4) - 2 * np.cos(2 * w),
        "hip_rotation": -2 + 4 * np.sin(w - 0.8),
        "knee_angle": 5 + 15 * bump(0.15, 0.07) + 55 * bump(0.72, 0.1),
        "ankle_angle": 2 + 8 * np.sin(w - 0.3) - 14 * bump(0.62, 0.05),
    }


def _subject_angles(
    rng: np.random.Generator,
    phase: np.ndarray,
    speed: str,
    offsets: np.ndarray,
    gains: np.ndarray,
    shift: float,
) -> np.ndarray:
    cols = []
    for side, side_shift in (("r", 0.0), ("l", 0.5)):
        tpl = _angle_templates((phase + shift + side_shift) % 1.0)
        cols.append({f"{k}_{side}": v for k, v in tpl.items()})
    named = cols[0] | cols[1]
    X = np.stack([named[c] for c in INPUT_COLS], axis=-1) * _SPEED_GAIN[speed]
    X = X * gains + offsets
    # smooth trial-to-trial noise: low-order Fourier perturbation, ~1 degree
    k = rng.normal(0, 0.7, size=(2, 3, X.shape[1]))
    for h in range(3):
        X += k[0, h] * np.sin(2 * np.pi * (h + 1) * phase)[:, None]
        X += k[1, h] * np.cos(2 * np.pi * (h + 1) * phase)[:, None]
    return X


def _features(X: np.ndarray) -> np.ndarray:
    """Angles (rad) and their rates per cycle fraction (rad), stacked: (T, 20)."""
    rad = np.deg2rad(X)
    vel = np.gradient(rad, axis=0) * X.shape[0] / (2 * np.pi)
    return np.concatenate([rad, vel], axis=-1)


def make_synthetic(
    n_subjects: int = 24,
    trials_per_speed: int = 2,
    n_frames: int = CYCLE_FRAMES,
    seed: int = 0,
    subject_effect: float = 0.12,
) -> dict[str, GaitDataset]:
    """Build a synthetic study: {"forces": MF dataset, "moments": JM dataset}."""
    physics = np.random.default_rng(1234)  # the mapping is the same for every seed
    n_feat = 2 * len(INPUT_COLS)
    w_force = physics.normal(0, 1 / np.sqrt(n_feat), size=(n_feat, len(FORCE_COLS))) * 2.5
    b_force = physics.normal(-0.5, 0.5, size=len(FORCE_COLS))
    w_mom = physics.normal(0, 1 / np.sqrt(n_feat), size=(n_feat, len(MOMENT_COLS))) * 2.0
    w_mix = physics.normal(0, 0.5, size=(n_feat, n_feat))

    rng = np.random.default_rng(seed)
    phase = np.linspace(0.0, 1.0, n_frames)
    X_all, F_all, M_all, subj, mass, height, speed_lbl = [], [], [], [], [], [], []
    for s in range(n_subjects):
        sid = f"S{s + 1:03d}"
        h = rng.normal(1.72, 0.09)
        m = float(np.clip(rng.normal(22.5, 2.5) * h * h, 45, 120))
        offsets = rng.normal(0, 3.0, size=len(INPUT_COLS))
        gains = rng.normal(1.0, 0.08, size=len(INPUT_COLS))
        shift = rng.normal(0, 0.015)
        g_force = np.exp(rng.normal(0, subject_effect, size=len(FORCE_COLS)))
        g_mom = np.exp(rng.normal(0, subject_effect, size=len(MOMENT_COLS)))
        for speed in SPEED_LABELS:
            for _ in range(trials_per_speed):
                X = _subject_angles(rng, phase, speed, offsets, gains, shift)
                f = _features(X)
                f = f + 0.3 * np.tanh(f @ w_mix)
                cad = _SPEED_GAIN[speed]
                forces = np.logaddexp(0, cad * (f @ w_force) + b_force) * _FORCE_SCALE * g_force
                moments = np.tanh(cad * (f @ w_mom)) * _MOMENT_SCALE * g_mom
                X_all.append(X)
                F_all.append(forces * m)
                M_all.append(moments * m)
                subj.append(sid)
                mass.append(m)
                height.append(h)
                speed_lbl.append(speed)
    common = dict(
        X=np.stack(X_all),
        subject_id=np.array(subj),
        weight_kg=np.array(mass),
        height_m=np.array(height),
        speed_label=np.array(speed_lbl),
        in_cols=INPUT_COLS,
        source=f"synthetic(seed={seed})",
    )
    return {
        "forces": dataclasses.replace(
            GaitDataset.from_arrays(Y=np.stack(F_all), out_cols=FORCE_COLS, **common),
            extra={EXTRA_HIP_MOMENTS: np.stack(M_all).astype(np.float32)},  # joint target
        ),
        "moments": GaitDataset.from_arrays(Y=np.stack(M_all), out_cols=MOMENT_COLS, **common),
    }


SYNTHETIC_FILES = {"forces": "synthetic_MF.npz", "moments": "synthetic_JM.npz"}


def write_synthetic(out_dir: str | Path, **kwargs) -> dict[str, Path]:
    """Write the synthetic MF and JM files into ``out_dir``; returns their paths by target."""
    out_dir = Path(out_dir)
    return {
        target: write_npz(ds, out_dir / SYNTHETIC_FILES[target])
        for target, ds in make_synthetic(**kwargs).items()
    }
