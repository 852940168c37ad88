"""The study's published checkpoints: safe loading, and our architectures reproduce the
study's forward passes (written here from the layouts in gait2hip60/README.md)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from gait2hip.conventions import INPUT_COLS
from gait2hip.inference.calibration import Calibration
from gait2hip.inference.predictor import load_predictor
from gait2hip.training import published
from gait2hip.training.published import (
    PublishedModelError,
    available_published,
    load_published,
    parse_published,
    read_checkpoint,
)

pytestmark = pytest.mark.realdata

needs_published = pytest.mark.skipif(
    len(available_published()) < 6, reason="needs $GAIT2HIP_DATA/gait2hip60"
)


def _raw(arch: str, target: str) -> dict:
    return read_checkpoint(published.published_path(arch, target))


def _x(n: int = 3) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(1).normal(size=(n, 180, 10)).astype(np.float32))


def _lstm_reference(sd: dict, n_out: int) -> nn.Module:
    class Ref(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(10, 128, num_layers=2, batch_first=True, dropout=0.1)
            self.fc = nn.Linear(128, n_out)

        def forward(self, x):
            return self.fc(self.lstm(x)[0])

    ref = Ref()
    ref.load_state_dict(sd, strict=True)
    return ref


def _transformer_reference(sd: dict, n_out: int) -> nn.Module:
    class Pos(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pos_embed = nn.Embedding(500, 128)

    class Ref(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.input_proj = nn.Linear(10, 128)
            self.pos_encoder = Pos()
            layer = nn.TransformerEncoderLayer(128, 4, 256, 0.1, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.output_proj = nn.Linear(128, n_out)

        def forward(self, x):
            h = self.input_proj(x)
            h = h + self.pos_encoder.pos_embed(torch.arange(x.shape[1]))[None]
            return self.output_proj(self.encoder(h))

    ref = Ref()
    ref.load_state_dict(sd, strict=True)
    return ref


def _mamba_reference(sd: dict, x: torch.Tensor) -> torch.Tensor:
    """mamba_ssm's Mamba-1 mixer, step by step, in the study's stack (residual without a
    norm, LayerNorm, read-out)."""
    h = F.linear(x, sd["input_proj.weight"], sd["input_proj.bias"])
    length = x.shape[1]
    for i in range(2):
        p = {k.split(".", 2)[2]: v for k, v in sd.items() if k.startswith(f"blocks.{i}.")}
        xz = F.linear(h, p["in_proj.weight"])
        u, z = xz.chunk(2, dim=-1)
        u = F.conv1d(u.transpose(1, 2), p["conv1d.weight"], p["conv1d.bias"], padding=3, groups=256)
        u = F.silu(u[..., :length]).transpose(1, 2)
        dbc = F.linear(u, p["x_proj.weight"])
        dt, b, c = dbc.split([8, 16, 16], dim=-1)
        delta = F.softplus(F.linear(dt, p["dt_proj.weight"]) + p["dt_proj.bias"])
        a = -torch.exp(p["A_log"])  # (256, 16)
        state = torch.zeros(x.shape[0], 256, 16)
        ys = []
        for t in range(length):
            state = torch.exp(delta[:, t, :, None] * a) * state + (
                delta[:, t, :, None] * b[:, t, None, :] * u[:, t, :, None]
            )
            ys.append((state * c[:, t, None, :]).sum(-1))
        y = (torch.stack(ys, 1) + u * p["D"]) * F.silu(z)
        h = h + F.linear(y, p["out_proj.weight"])
    h = F.layer_norm(h, (128,), sd["norm.weight"], sd["norm.bias"])
    return F.linear(h, sd["output_proj.weight"], sd["output_proj.bias"])


@needs_published
@pytest.mark.parametrize("target", ["forces", "moments"])
@pytest.mark.parametrize("arch", ["lstm", "transformer", "mamba"])
def test_published_models_compute_what_the_study_computes(arch, target):
    raw = _raw(arch, target)
    trained = load_published(arch, target)
    x = _x()
    n_out = len(raw["out_cols"])
    with torch.no_grad():
        ours = trained.model.eval()(x)
        if arch == "mamba":
            ref = _mamba_reference(raw["state_dict"], x)
        else:
            build = _lstm_reference if arch == "lstm" else _transformer_reference
            ref = build(raw["state_dict"], n_out).eval()(x)
    assert ours.shape == (3, 180, n_out)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)
    # the study's input scaler and columns travel with the model
    X_deg = np.random.default_rng(2).normal(20, 15, size=(2, 180, 10)).astype(np.float32)
    np.testing.assert_allclose(
        trained.scaler.transform(X_deg), (X_deg - raw["mu_x"]) / raw["sd_x"], rtol=1e-5
    )
    assert trained.in_cols == INPUT_COLS
    assert trained.meta["test_subjects"] == list(raw["test_subjects"])


@needs_published
def test_published_model_refuses_one_leg_inputs():
    trained = load_published("lstm", "moments")
    one_leg = np.zeros((2, 180, 5), np.float32)
    with pytest.raises(Exception, match="hip_flexion_l"):
        trained.predict_named(one_leg, INPUT_COLS[:3] + INPUT_COLS[6:8], "cohort.npz")


def test_parse_published():
    assert parse_published("gait2hip60") == published.DEFAULT_ARCHITECTURE
    assert parse_published("GAIT2HIP60:lstm") == "lstm"
    assert parse_published("gait2hip60:mamba-causal") == "mamba"
    assert parse_published("runs/demo") is None
    with pytest.raises(PublishedModelError, match="gait2hip60:lstm"):
        parse_published("gait2hip60:gru")


class _Evil:
    def __reduce__(self):
        return (print, ("this ran",))


def test_checkpoints_load_without_running_code(tmp_path, monkeypatch, capsys):
    """A checkpoint that would run code when unpickled is refused in one line, and nothing
    runs; a truncated file likewise."""
    folder = tmp_path / "gait2hip60"
    folder.mkdir()
    monkeypatch.setenv("GAIT2HIP_DATA", str(tmp_path))
    path = folder / "LSTM_JM60.pt"
    torch.save({"state_dict": {}, "hook": _Evil()}, path)
    with pytest.raises(PublishedModelError) as err:
        load_published("lstm", "moments")
    assert "this ran" not in capsys.readouterr().out
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(PublishedModelError, match="not a readable"):
        load_published("lstm", "moments")
    (folder / "LSTM_JM60.pt").unlink()
    with pytest.raises(PublishedModelError, match="GAIT2HIP_DATA"):
        load_published("lstm", "moments")
    assert available_published() == []


def _resampled(ds, frames: int):
    """``ds`` with every cycle linearly resampled to ``frames`` frames."""
    from gait2hip.data.dataset import GaitDataset

    src, dst = np.linspace(0, 1, ds.n_frames), np.linspace(0, 1, frames)
    interp = lambda a: np.stack(  # noqa: E731
        [np.stack([np.interp(dst, src, c) for c in cyc.T], -1) for cyc in a]
    ).astype(np.float32)
    return GaitDataset.from_arrays(
        X=interp(ds.X),
        Y=interp(ds.Y),
        subject_id=ds.subject_id,
        weight_kg=ds.weight_kg,
        height_m=ds.height_m,
        speed_label=ds.speed_label,
        in_cols=list(ds.in_cols),
        out_cols=list(ds.out_cols),
    )


@needs_published
def test_cli_predicts_with_the_published_models_and_calibrates_them(
    synthetic, tmp_path, monkeypatch
):
    """`predict --model gait2hip60:...` writes every output; without the walking data built it
    warns that there is no interval, with it the models are calibrated (and cached)."""
    from typer.testing import CliRunner

    from gait2hip.cli import app
    from gait2hip.io.npz import write_npz
    from gait2hip.io.storage import write_motion
    from gait2hip.settings import dataset_file
    from tests.test_predict import make_trial

    monkeypatch.setenv("GAIT2HIP_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    df, _ = make_trial(synthetic["forces"])
    write_motion(tmp_path / "trial.mot", df, in_degrees=True)
    args = ["predict", str(tmp_path / "trial.mot"), "--mass", "70", "--out", str(tmp_path / "o")]
    res = runner.invoke(app, [*args, "--model", "gait2hip60:lstm"])
    assert res.exit_code == 0, res.output
    assert "gait2hip60:lstm" in res.output and "not calibrated yet" in res.output
    for name in ("trial_r_forces.sto", "trial_r_moments.sto", "trial_r.csv", "trial_r.png"):
        assert (tmp_path / "o" / name).is_file(), name

    for target in ("forces", "moments"):
        write_npz(_resampled(synthetic[target], 180), dataset_file("schreiber2019", target))
    res = runner.invoke(app, [*args, "--model", "gait2hip60", "--architecture", "mamba"])
    assert res.exit_code == 0, res.output
    assert "gait2hip60:mamba" in res.output and "not calibrated" not in res.output
    assert len(list((tmp_path / "cache" / "gait2hip60").glob("mamba_*.npz"))) == 2
    table = __import__("pandas").read_csv(tmp_path / "o" / "trial_r.csv")
    width = (
        table["hip_flexion_r_moment_Nm_per_kg_hi90"] - table["hip_flexion_r_moment_Nm_per_kg_lo90"]
    )
    assert (width > 0).all()

    res = runner.invoke(app, ["models", str(tmp_path / "no-runs")])
    assert res.exit_code == 0, res.output
    assert "moments gait2hip60:transformer" in res.output
    assert "calibrated on the bundled walking data of another lab" in res.output


@needs_published
def test_one_leg_cohort_refused_by_the_published_models(tmp_path):
    """The bundled cohort has the analysed leg only; the study's models need both legs."""
    from typer.testing import CliRunner

    from gait2hip.cli import app

    out = str(tmp_path / "ext")
    args = ["evaluate-external", "--models", "gait2hip60:lstm", "--no-few-shot", "--out", out]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "cycles.npz: lacks input channels ['hip_flexion_l'" in res.output
    assert "--contralateral" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "ext").exists()


@needs_published
def test_published_models_on_the_cohort_with_an_assumed_symmetric_gait(data_root, tmp_path):
    """--contralateral: the other leg is the analysed leg half a cycle later, said in the
    report; the study's LSTM then reaches the subject-mean R² measured in gait2hip60/README
    without body-size scaling, and more with the hip moments scaled to the children's heights
    (docs/transfer_results.md)."""
    import pandas as pd
    from typer.testing import CliRunner

    from gait2hip.cli import app

    args = ["evaluate-external", "--models", "gait2hip60:lstm", "--contralateral"]
    expected = {"--no-size-scaling": (0.71, 0.36), "--size-scaling": (0.77, 0.52)}
    for flag, (td, sb) in expected.items():
        out = tmp_path / flag
        res = CliRunner().invoke(
            app, [*args, flag, "--no-few-shot", "--no-progress", "--out", str(out)]
        )
        assert res.exit_code == 0, res.output
        summary = (out / "summary.md").read_text()
        assert "ASSUMED (not measured): hip_flexion_l" in summary
        assert ("scaled to it (Hof 1996)" in summary) == (flag == "--size-scaling")
        table = pd.read_csv(out / "zero_shot.csv").set_index("group")
        assert table.loc["TD", "subject_r2"] == pytest.approx(td, abs=0.01)
        assert table.loc["SB", "subject_r2"] == pytest.approx(sb, abs=0.01)


def test_with_contralateral_is_the_analysed_leg_half_a_cycle_later():
    from gait2hip.data.cohort import Cohort

    t = np.linspace(0, 2 * np.pi, 100, endpoint=False)
    one_leg = np.stack([30 * np.cos(t), 5 * np.sin(t), np.zeros(100), 40 + 20 * np.sin(t),
                        10 * np.cos(t)], -1)[None].repeat(2, 0)  # fmt: skip
    cols = ["hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle"]
    cohort = Cohort.from_arrays(one_leg, cols, ["a", "b"])
    both = cohort.with_contralateral()
    assert set(both.angle_cols) == set(INPUT_COLS) and both.assumed == tuple(
        c for c in INPUT_COLS if c.endswith("_l")
    )
    r, left = both.angle_cols.index("hip_flexion_r"), both.angle_cols.index("hip_flexion_l")
    np.testing.assert_allclose(both.angles[0, :, left], -both.angles[0, :, r], atol=1e-4)
    assert "ASSUMED" in both.describe() and "ASSUMED" not in cohort.describe()
    assert both.with_contralateral() is both


# ----------------------------------------------------------------- fine-tuning (--init)


def _init_config(profile: str, **kw):
    import dataclasses

    from gait2hip.training.config import make_config

    cfg = make_config("moments", ["lstm"], profile, n_bootstrap=50, **kw)
    return dataclasses.replace(cfg, n_folds=3)


@needs_published
def test_wise_profile_is_the_average_of_published_and_fine_tuned_weights(synthetic, tmp_path):
    """gait2hip60-wise = gait2hip60-finetune, then every fold and final model's weights
    averaged with the published ones (alpha 0.5); the calibration and test predictions are the
    averaged models'."""
    from gait2hip.pipelines.benchmark import benchmark
    from gait2hip.training.checkpoint import TrainedModel

    ds = _resampled(synthetic["moments"], 180)
    short = {"max_epochs": 2, "patience": 2}
    for profile in ("gait2hip60-finetune", "gait2hip60-wise"):
        benchmark(ds, _init_config(profile, train_overrides=short), tmp_path / profile,
                  show_progress=False)  # fmt: skip
    ref_model = load_published("lstm", "moments")
    ref = ref_model.model.state_dict()
    for name in ("fold0.pt", "final.pt"):
        tuned, wise = (
            TrainedModel.load(tmp_path / p / "split42" / "lstm-causal" / "seed2025" / name)
            for p in ("gait2hip60-finetune", "gait2hip60-wise")
        )
        tuned_sd = tuned.model.state_dict()
        assert any(not torch.equal(tuned_sd[k], ref[k]) for k in ref)  # it did fine-tune
        for key, value in wise.model.state_dict().items():
            torch.testing.assert_close(value, 0.5 * ref[key] + 0.5 * tuned_sd[key])
    unit = tmp_path / "gait2hip60-wise" / "split42" / "lstm-causal" / "seed2025"
    final = TrainedModel.load(unit / "final.pt")
    with np.load(unit / "predictions.npz") as z:
        test = np.isin(ds.subject_id, final.meta["test_subjects"])
        expected = final.predict_per_kg(ds.X[test], ds.height_m[test])
        np.testing.assert_allclose(z["y_pred"], expected, atol=1e-6)
    # its intervals add the disagreement with the published model, counted twice: the average
    # lies half-way between it and the fine-tuned weights
    assert final.meta["wise_alpha"] == 0.5
    cal = Calibration.load(unit / "calibration.npz")
    assert (cal.anchor, cal.anchor_factor) == ("gait2hip60:lstm", 2.0)
    assert np.all(cal.coverage_all >= cal.coverage_within) and cal.width_90 > cal.width_90_within
    pred = load_predictor(unit, ensemble=False)
    X = ds.X[test]
    mean, sd, _ = pred.predict(X)
    other = ref_model.predict_per_kg(X, final.reference_height_m)
    within = dataclasses.replace(pred, anchor=None).predict(X)[1]
    np.testing.assert_allclose(sd**2, within**2 + (2 * (mean - other)) ** 2, rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="needs --init"):
        _init_config("recipe", train_overrides={"wise_alpha": 0.5})


@needs_published
def test_finetune_with_an_output_lowpass(synthetic, tmp_path):
    """model_overrides reach a model started from the published weights where they change
    none of its parameters (the Transformer's output_lowpass): every fold and the final model
    carry it, and the anchor its interval is calibrated and predicted with is low-passed alike
    (one rule, published.low_passed_as); the published model's own settings (sizes, dropout)
    do not apply."""
    from gait2hip.pipelines.benchmark import benchmark
    from gait2hip.training.checkpoint import TrainedModel
    from gait2hip.training.config import make_config

    ds = _resampled(synthetic["moments"], 180)
    short = {"max_epochs": 2, "patience": 2}
    cfg = make_config("moments", ["transformer"], "gait2hip60-finetune", n_bootstrap=50,
                      train_overrides=short)  # fmt: skip
    cfg = dataclasses.replace(
        cfg, n_folds=2, model_overrides={"transformer": {"output_lowpass": 30.0}}
    )
    benchmark(ds, cfg, tmp_path, show_progress=False)
    unit = tmp_path / "split42" / "transformer-bidir" / "seed2025"
    final = TrainedModel.load(unit / "final.pt")
    assert [TrainedModel.load(unit / n).output_lowpass for n in ("fold0.pt", "final.pt")] == [
        30.0,
        30.0,
    ]
    assert published.anchor_for(final).model.output_lowpass == 30.0
    assert load_predictor(unit).anchor.model.output_lowpass == 30.0
    # without a low-pass, the anchor keeps the published model's read-out
    assert published.anchor_for(final.with_output_lowpass(0)).model.output_lowpass == 0.0
    # the published model's own settings (a profile's sizes and dropout, as `--profile quick
    # --init gait2hip60` has them) do not apply; the output low-pass does
    sized = {"transformer": {"d_model": 64, "dropout": 0.0, "output_lowpass": 20.0}}
    benchmark(ds, dataclasses.replace(cfg, model_overrides=sized), tmp_path / "sized",
              show_progress=False)  # fmt: skip
    other = TrainedModel.load(tmp_path / "sized" / unit.relative_to(tmp_path) / "final.pt")
    assert (other.model.config.d_model, other.model.config.dropout) == (128, 0.1)
    assert other.output_lowpass == 20.0


@pytest.mark.parametrize("arch", ["lstm", "transformer", "mamba"])
def test_extra_inputs_start_ignored(arch):
    """A model widened to more inputs predicts exactly as before until trained: its one input
    weight gets zero columns, every other weight is copied."""
    from gait2hip.models import create_model, with_extra_inputs

    torch.manual_seed(0)
    small = {"lstm": {"hidden": 16}, "transformer": {"d_model": 16, "ff": 32, "heads": 2},
             "mamba": {"d_model": 16, "d_state": 4}}[arch]  # fmt: skip
    model = create_model(arch, in_dim=10, out_dim=3, **small).eval()
    wider = with_extra_inputs(model, 2).eval()
    assert wider.config.in_dim == 12 and model.config.in_dim == 10
    x = torch.randn(3, 40, 10)
    with torch.no_grad():
        torch.testing.assert_close(wider(torch.cat([x, torch.randn(3, 40, 2)], -1)), model(x))
    with pytest.raises(ValueError, match="> 0"):
        with_extra_inputs(model, 0)


@needs_published
def test_finetune_with_the_cycle_duration_as_a_new_input(synthetic, tmp_path):
    """gait2hip60-finetune-duration: the published weights plus an eleventh input, the
    cycle's duration, whose weights start at zero (epoch 0 is the published model) and whose
    z-scoring comes from the fit's training cycles; the anchor is the 10-angle published
    model, fed the angles by name."""
    from gait2hip.pipelines.benchmark import benchmark
    from gait2hip.training.checkpoint import TrainedModel

    ds = _resampled(synthetic["moments"], 180)
    t0 = np.arange(len(ds), dtype=float) * 2.0
    durations = 1.0 + 0.05 * (np.arange(len(ds)) % 4)
    ds = dataclasses.replace(ds, extra={**ds.extra, "cycle_t0": t0, "cycle_t1": t0 + durations})
    cfg = _init_config(
        "gait2hip60-finetune-duration", train_overrides={"max_epochs": 2, "patience": 2}
    )
    assert cfg.inputs == (*INPUT_COLS, "cycle_duration_s")
    benchmark(ds, cfg, tmp_path, show_progress=False)
    unit = tmp_path / "split42" / "lstm-causal" / "seed2025"
    fold = TrainedModel.load(unit / "fold0.pt")
    ref = load_published("lstm", "moments")
    assert fold.in_cols == (*INPUT_COLS, "cycle_duration_s")
    np.testing.assert_array_equal(fold.scaler.mean[:10], ref.scaler.mean)  # the study's
    train = np.isin(ds.subject_id, fold.meta["train_subjects"])
    assert fold.scaler.mean[10] == pytest.approx(durations[train].mean(), rel=1e-5)
    assert Calibration.load(unit / "calibration.npz").anchor == "gait2hip60:lstm"
    pred = load_predictor(unit)
    X = ds.select_inputs(cfg.inputs).X[:3]
    assert np.isfinite(pred.predict(X)[1]).all()


def test_init_refuses_what_the_published_models_cannot_start():
    from gait2hip.training.config import make_config

    for kw, what in [
        ({"inputs": INPUT_COLS[:3]}, "inputs"),
        ({"velocities": True}, "--velocities"),
        ({"init": "imagenet"}, "unknown --init"),
    ]:
        with pytest.raises(ValueError, match=what):
            make_config("moments", ["lstm"], "gait2hip60-finetune", **kw)
    with pytest.raises(ValueError, match="transformer-causal"):
        make_config("moments", ["transformer:causal"], "gait2hip60-finetune")
    with pytest.raises(ValueError, match="target 'joint'"):
        make_config("joint", ["lstm"], "recipe", init="gait2hip60")
    assert make_config("moments", ["mamba"], "recipe", init="gait2hip60").init == "gait2hip60"
    assert "init" not in make_config("moments", ["lstm"], "recipe").to_dict()


@needs_published
def test_zero_shot_profile_evaluates_the_published_weights_unchanged(synthetic, tmp_path):
    """Profile gait2hip60: no epoch anywhere; the run's final model is the published one, and
    its test predictions are the published model's."""
    from gait2hip.pipelines.benchmark import benchmark
    from gait2hip.training.checkpoint import TrainedModel

    ds = _resampled(synthetic["moments"], 180)
    benchmark(ds, _init_config("gait2hip60"), tmp_path, show_progress=False)
    unit = tmp_path / "split42" / "lstm-causal" / "seed2025"
    final = TrainedModel.load(unit / "final.pt")
    assert final.meta["epochs"] == 0 and final.meta["init"] == "gait2hip60"
    ref = load_published("lstm", "moments")
    with np.load(unit / "predictions.npz") as z:
        test = np.isin(ds.subject_id, final.meta["test_subjects"])
        expected = ref.predict_per_kg(ds.X[test], ds.height_m[test])
        np.testing.assert_allclose(z["y_pred"], expected, atol=1e-6)
    assert final.reference_height_m == ref.reference_height_m
    for name, param in ref.model.state_dict().items():
        torch.testing.assert_close(final.model.state_dict()[name], param)
    # the published weights are not compared with themselves
    assert Calibration.load(unit / "calibration.npz").anchor == ""


@needs_published
def test_finetune_starts_from_the_published_weights(synthetic, tmp_path):
    from gait2hip.pipelines.benchmark import benchmark
    from gait2hip.training.checkpoint import TrainedModel

    ds = _resampled(synthetic["moments"], 180)
    cfg = _init_config("gait2hip60-finetune", train_overrides={"max_epochs": 2, "patience": 2})
    benchmark(ds, cfg, tmp_path, show_progress=False)
    unit = tmp_path / "split42" / "lstm-causal" / "seed2025"
    fold = TrainedModel.load(unit / "fold0.pt")
    ref = load_published("lstm", "moments")
    np.testing.assert_array_equal(fold.scaler.mean, ref.scaler.mean)  # the study's scaler
    assert fold.meta["init"] == "gait2hip60" and fold.model.config.dropout == 0.1
    info = __import__("json").loads((unit / "fold0.json").read_text())
    assert 0 <= info["best_epoch"] <= 2 and len(info["val_loss"]) == info["epochs_run"]
    assert '"init": "gait2hip60"' in (tmp_path / "config.json").read_text()
    cal = Calibration.load(unit / "calibration.npz")
    assert (cal.anchor, cal.anchor_factor) == ("gait2hip60:lstm", 1.0)
