"""Contract tests run over every registered model and both time directions."""

from __future__ import annotations

import math

import pytest
import torch

from gait2hip.models import (
    available_models,
    count_parameters,
    create_model,
    default_config,
    scan_kernel,
)
from gait2hip.models import scan as scan_module
from gait2hip.models.scan import compiled_available, scan_fused, scan_parallel, scan_reference
from gait2hip.models.scan_kernel import pytorch_scan
from gait2hip.training.checkpoint import TrainedModel
from gait2hip.training.normalize import InputScaler

SMALL = {
    "lstm": {"hidden": 16},
    "transformer": {"d_model": 16, "ff": 32, "heads": 2, "dropout": 0.0},
    "mamba": {"d_model": 16, "d_state": 4},
    "phaselinear": {"n_frames": 24},  # one coefficient set per frame of 24-frame cycles
}
#: time directions a model can take (the phase-linear model reads each frame's own inputs)
DIRECTIONS = {"phaselinear": (True,)}
CASES = [(n, causal) for n in available_models() for causal in DIRECTIONS.get(n, (True, False))]
T = 24  # frames of the contract tests' cycles


def small(name: str, causal: bool, **kw):
    torch.manual_seed(0)
    return create_model(name, causal=causal, **{"out_dim": 5, **SMALL.get(name, {}), **kw})


def test_registry_has_the_study_models():
    assert {"lstm", "transformer", "mamba"} <= set(available_models())


@pytest.mark.parametrize(
    "name,n_forces,n_moments",
    # the study's sizes: ~206k, ~332k, ~236k parameters
    [("lstm", 205_582, 204_163), ("transformer", 332_174, 330_755), ("mamba", 236_558, 235_139)],
)
def test_reference_sizes(name, n_forces, n_moments):
    assert count_parameters(create_model(name, out_dim=14)) == n_forces
    assert count_parameters(create_model(name, out_dim=3)) == n_moments


def test_reference_directions():
    assert default_config("lstm").causal and default_config("mamba").causal
    assert not default_config("transformer").causal


@pytest.mark.parametrize("name,causal", CASES)
def test_shapes_and_backward(name, causal):
    model = small(name, causal)
    x = torch.randn(3, T, 10)
    y = model(x)
    assert y.shape == (3, T, 5)
    y.pow(2).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("velocities", [False, True])
@pytest.mark.parametrize("name,causal", CASES)
def test_causality(name, causal, velocities):
    """Causal: outputs up to t ignore inputs after t. Bidirectional: they do not."""
    model = small(name, causal, velocities=velocities).eval()
    x = torch.randn(2, T, 10)
    x2 = x.clone()
    t = 17
    x2[:, t + 1 :] += torch.randn_like(x2[:, t + 1 :])
    with torch.no_grad():
        y, y2 = model(x), model(x2)
    past_same = torch.allclose(y[:, : t + 1], y2[:, : t + 1], atol=1e-5)
    assert past_same == causal
    assert not torch.allclose(y[:, t + 1 :], y2[:, t + 1 :], atol=1e-5)


@pytest.mark.parametrize("name,causal", CASES)
def test_nonnegative_outputs(name, causal):
    model = small(name, causal, nonnegative=True).eval()
    with torch.no_grad():
        assert (model(torch.randn(2, T, 10) * 5) >= 0).all()
    # a joint model: the first 14 outputs (forces) only, its moments keep their sign
    joint = small(name, causal, nonnegative=True, out_dim=17, nonnegative_outputs=14).eval()
    with torch.no_grad():
        y = joint(torch.randn(8, T, 10) * 5)
    assert (y[..., :14] >= 0).all() and (y[..., 14:] < 0).any()


@pytest.mark.parametrize("name,causal", CASES)
def test_checkpoint_round_trip(name, causal, tmp_path):
    model = small(name, causal, velocities=causal).eval()  # the derived inputs travel too
    scaler = InputScaler.fit(torch.randn(4, T, 10).numpy() * 20)
    trained = TrainedModel(
        model,
        scaler,
        tuple(f"in{i}" for i in range(10)),
        tuple(f"out{i}" for i in range(5)),
        "forces",
        {"note": "x"},
    )
    path = trained.save(tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)  # no pickled code
    assert payload["model_name"] == name
    loaded = TrainedModel.load(path)
    x = torch.randn(3, T, 10).numpy() * 20
    assert (trained.predict_per_kg(x) == loaded.predict_per_kg(x)).all()
    assert loaded.meta == {"note": "x"} and loaded.model.config == model.config


def test_velocity_features_by_hand():
    from gait2hip.models.heads import InputFeatures

    frames = 11
    ramp = torch.arange(frames, dtype=torch.float32).view(1, frames, 1) * 0.5  # +0.5 / frame
    rate = 0.5 * (frames - 1) / (2 * math.pi)
    both = InputFeatures(1, velocities=True, causal=False)(ramp)
    assert both.shape == (1, frames, 2) and torch.allclose(both[0, :, 0], ramp[0, :, 0])
    assert torch.allclose(both[0, :, 1], torch.full((frames,), rate))
    causal = InputFeatures(1, velocities=True, causal=True)(ramp)
    assert causal[0, 0, 1] == 0 and torch.allclose(causal[0, 1:, 1], torch.full((10,), rate))
    assert InputFeatures(3, velocities=False, causal=True).out_dim == 3


def test_unknown_model_and_config_key():
    with pytest.raises(ValueError, match="unknown model"):
        create_model("gru")
    with pytest.raises(ValueError, match="unknown config keys"):
        create_model("lstm", hiden=3)


@pytest.fixture(params=["compiled", "pytorch"])
def scan_path(request):
    """scan_fused through the compiled CPU kernel, or through PyTorch's loop."""
    if request.param == "pytorch":
        with pytorch_scan():
            yield request.param
        return
    if scan_kernel.kernel() is None:
        pytest.skip("the compiled scan could not be built here (see the warning)")
    yield request.param


def _scan_args(b: int, length: int, e: int, n: int, decay: float) -> list[torch.Tensor]:
    """Random float64 scan inputs u, delta, A (rates up to ``decay``), B, C needing grads."""
    args = [
        torch.randn(b, length, e, dtype=torch.float64),
        torch.rand(b, length, e, dtype=torch.float64),
        -torch.rand(e, n, dtype=torch.float64) * decay,
        torch.randn(b, length, n, dtype=torch.float64),
        torch.randn(b, length, n, dtype=torch.float64),
    ]
    return [a.requires_grad_() for a in args]


def test_fused_scan_matches_reference_and_gradcheck(scan_path):
    torch.manual_seed(0)
    args = _scan_args(2, 12, 6, 3, decay=2)
    assert compiled_available(*args) == (scan_path == "compiled")
    torch.testing.assert_close(scan_fused(*args), scan_reference(*args))
    with torch.no_grad():  # the inference path
        torch.testing.assert_close(scan_fused(*args), scan_reference(*args))
    assert torch.autograd.gradcheck(scan_fused, args)
    g_fused = torch.autograd.grad(scan_fused(*args).sin().sum(), args)
    g_ref = torch.autograd.grad(scan_reference(*args).sin().sum(), args)
    for a, r in zip(g_fused, g_ref, strict=True):
        torch.testing.assert_close(a, r)


def test_fused_scan_float32_at_model_size(scan_path):
    """float32, the study's sizes, inputs that are views (as the model passes them)."""
    torch.manual_seed(1)
    b, length, e, n = 4, 180, 256, 16
    u = torch.randn(b, e, length).transpose(1, 2)  # not contiguous
    delta = torch.nn.functional.softplus(torch.randn(b, length, e) - 3)
    A = -torch.exp(torch.randn(e, n))
    Bm, Cm = torch.randn(b, length, n), torch.randn(b, length, n)
    args = [t.requires_grad_() for t in (u, delta, A, Bm, Cm)]
    y, y_ref = scan_fused(*args), scan_reference(*args)
    torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-4)
    g = torch.randn_like(y)
    for a, r in zip(
        torch.autograd.grad(y, args, g), torch.autograd.grad(y_ref, args, g), strict=True
    ):
        torch.testing.assert_close(a, r, rtol=1e-3, atol=1e-3 * r.abs().max().item())


def test_compiled_conv_silu_equals_pytorch_conv1d():
    """Mamba's causal depthwise convolution + SiLU: the compiled kernel in the scan's layout
    equals PyTorch's conv1d path, values and gradients (float64 exactly, gradcheck), and
    float32 to rounding."""
    from gait2hip.models.scan import causal_conv_silu

    if scan_kernel.kernel() is None:
        pytest.skip("the compiled kernel could not be built here (see the warning)")
    torch.manual_seed(0)
    x = torch.randn(3, 50, 16, dtype=torch.float64, requires_grad=True)
    w = torch.randn(16, 1, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(16, dtype=torch.float64, requires_grad=True)
    y = causal_conv_silu(x, w, b)
    with pytorch_scan():
        y_ref = causal_conv_silu(x, w, b)
    torch.testing.assert_close(y, y_ref)
    g = torch.randn_like(y)
    for a, r in zip(
        torch.autograd.grad(y, (x, w, b), g), torch.autograd.grad(y_ref, (x, w, b), g), strict=True
    ):
        torch.testing.assert_close(a, r)
    small = (x.detach()[:2, :7, :3], w.detach()[:3], b.detach()[:3])
    assert torch.autograd.gradcheck(causal_conv_silu, [t.clone().requires_grad_() for t in small])
    y32 = causal_conv_silu(*(t.detach().float() for t in (x, w, b)))
    torch.testing.assert_close(y32, y_ref.detach().float(), rtol=1e-5, atol=1e-5)
    # a time step depends on the K - 1 before it and none after (causal)
    x2 = x.detach().clone()
    x2[:, 20] += 1.0
    changed = (causal_conv_silu(x2, w, b) - y).abs().amax(dim=(0, 2)) > 0
    assert changed.nonzero().ravel().tolist() == [20, 21, 22, 23]


def test_attention_softmax_then_hashed_dropout():
    """The Transformer's attention weights in training: softmax, then the compiled dropout,
    equals softmax times its mask (drop probability ~p, the kept scaled), its gradient that of
    the same product (gradcheck in float64), masked (causal) scores give exact zeros, and the
    mask of one seed is drawn again in the backward, not stored."""
    from gait2hip.models.dropout import _drop_levels, _SoftmaxDropout, softmax_dropout

    if scan_kernel.kernel() is None:
        pytest.skip("the compiled kernel could not be built here (see the warning)")
    torch.manual_seed(0)
    s = torch.randn(16, 4, 60, 60, dtype=torch.float64, requires_grad=True)
    out = _SoftmaxDropout.apply(s, 0.1, 12345)
    kept = out != 0
    assert abs(1 - kept.double().mean().item() - 0.1) < 0.005  # 230k draws: sd 0.0006
    _, scale = _drop_levels(0.1)
    ref = torch.softmax(s, -1) * kept * scale
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(out)
    torch.testing.assert_close(torch.autograd.grad(out, s, g)[0], torch.autograd.grad(ref, s, g)[0])
    assert torch.equal(_SoftmaxDropout.apply(s, 0.1, 12345), out)  # the seed is the mask
    assert not torch.equal(_SoftmaxDropout.apply(s, 0.1, 54321) != 0, kept)
    small = torch.randn(2, 3, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: _SoftmaxDropout.apply(x, 0.3, 7), (small,))
    a, b = kept[..., 0::2].double().ravel(), kept[..., 1::2].double().ravel()
    assert abs(torch.corrcoef(torch.stack([a, b]))[0, 1].item()) < 0.02
    causal = torch.nn.Transformer.generate_square_subsequent_mask(60)
    w = softmax_dropout(torch.randn(8, 4, 60, 60) + causal, 0.1, True)
    assert torch.equal(w.triu(1), torch.zeros_like(w)) and torch.isfinite(w).all()
    torch.testing.assert_close(softmax_dropout(s, 0.1, False), torch.softmax(s, -1))


def test_dropout_fused_with_the_residual_add_and_the_relu():
    """The Transformer's other dropouts: compiled ``res + dropout(x)`` and ``dropout(relu(x))``
    equal the same products with their masks (drop probability ~p, the kept scaled), their
    gradients those of the products (gradcheck in float64), the mask of one seed drawn again
    in the backward; off the fused path (no training, p 0) they are the plain operations."""
    from gait2hip.models.dropout import (
        _drop_levels,
        _DropoutAdd,
        _ReluDropout,
        dropout_add,
        relu_dropout,
    )

    if scan_kernel.kernel() is None:
        pytest.skip("the compiled kernel could not be built here (see the warning)")
    torch.manual_seed(0)
    x = torch.randn(64, 180, 32, dtype=torch.float64, requires_grad=True)
    res = torch.randn_like(x, requires_grad=True)
    _, scale = _drop_levels(0.1)
    out = _DropoutAdd.apply(x, res, 0.1, 12345)
    kept = out != res
    assert abs(1 - kept.double().mean().item() - 0.1) < 0.005  # 370k draws: sd 0.0005
    ref = res + x * kept * scale
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad(out, (x, res), g), torch.autograd.grad(ref, (x, res), g),
                    strict=True):  # fmt: skip
        torch.testing.assert_close(a, b)
    assert torch.equal(_DropoutAdd.apply(x, res, 0.1, 12345), out)  # the seed is the mask
    assert not torch.equal(_DropoutAdd.apply(x, res, 0.1, 54321) != res, kept)
    hidden = _ReluDropout.apply(x, 0.1, 777)
    alive = hidden != 0
    assert abs(alive.double().mean().item() - 0.9 * (x > 0).double().mean().item()) < 0.005
    torch.testing.assert_close(hidden, torch.relu(x) * alive * scale)
    torch.testing.assert_close(
        torch.autograd.grad(hidden, x, g)[0],
        g * alive * scale,  # d relu = 1 where alive
    )
    small = torch.randn(3, 5, 7, dtype=torch.float64, requires_grad=True)
    other = torch.randn_like(small, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: _DropoutAdd.apply(a, b, 0.3, 7), (small, other))
    assert torch.autograd.gradcheck(lambda a: _ReluDropout.apply(a, 0.3, 7), (small,))
    a, b = kept[..., 0::2].double().ravel(), kept[..., 1::2].double().ravel()
    assert abs(torch.corrcoef(torch.stack([a, b]))[0, 1].item()) < 0.02
    torch.testing.assert_close(dropout_add(x, res, 0.1, False), x + res)
    torch.testing.assert_close(relu_dropout(x, 0.0, True), torch.relu(x))


def test_cheap_dropout_masks_keep_the_expectation():
    from gait2hip.models.dropout import dropout, keep_mask

    torch.manual_seed(0)
    mask = keep_mask(torch.Size([400, 1000]), 0.1, torch.float32)
    kept = mask > 0
    assert abs(kept.float().mean().item() - 0.9) < 0.003  # 400k draws: sd 0.0005
    scale = mask[kept].unique()
    assert len(scale) == 1 and scale.item() == pytest.approx(1 / (1 - 6554 / 65536))
    assert abs(mask.mean().item() - 1) < 0.004  # the expectation is unchanged
    # neighbours (four per 64-bit draw) are not correlated
    a, b = kept[:, 0::4].float().ravel(), kept[:, 1::4].float().ravel()
    assert abs(torch.corrcoef(torch.stack([a, b]))[0, 1].item()) < 0.02
    x = torch.randn(50, 70)
    torch.manual_seed(1)
    first = dropout(x, 0.3, True)
    torch.manual_seed(1)
    assert torch.equal(first, dropout(x, 0.3, True))  # seeded runs repeat
    assert torch.equal(dropout(x, 0.3, False), x) and torch.equal(dropout(x, 0.0, True), x)
    assert ((first == 0) | torch.isclose(first, x / (1 - 19661 / 65536))).all()


@pytest.mark.parametrize("causal", [False, True])
def test_transformer_training_path_is_pytorchs_layer(causal):
    """Training with dropout runs the layer written out in gait2hip.models.transformer; with
    its dropouts at 0 it gives PyTorch's numbers and gradients (dropout 0 uses PyTorch's)."""
    torch.manual_seed(0)
    ref = create_model("transformer", causal=causal, out_dim=14, dropout=0.0).train()
    ours = create_model("transformer", causal=causal, out_dim=14, dropout=0.1).train()
    ours.load_state_dict(ref.state_dict())
    for layer in ours.encoder.layers:
        layer.self_attn.dropout = layer.dropout.p = layer.dropout1.p = layer.dropout2.p = 0.0
    X = torch.randn(4, 60, 10)
    a, b = ref(X), ours(X)
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
    ga = torch.autograd.grad(a.square().mean(), list(ref.parameters()))
    gb = torch.autograd.grad(b.square().mean(), list(ours.parameters()))
    for x, y in zip(ga, gb, strict=True):
        torch.testing.assert_close(y, x, rtol=1e-4, atol=1e-6)
    # with dropout, training differs between calls and evaluation is PyTorch's own forward
    ours2 = create_model("transformer", causal=causal, out_dim=14, dropout=0.1).train()
    ours2.load_state_dict(ref.state_dict())
    assert not torch.equal(ours2(X), ours2(X))
    torch.testing.assert_close(ours2.eval()(X), ref.eval()(X))


@pytest.mark.parametrize("length", [1, 5, 16, 37])
def test_parallel_scan_matches_reference_values_and_gradients(length):
    """The scan without a loop over time steps (chunks of 16, the last one padded) equals the
    per-step oracle in float64, values and every input's gradient; without gradients, a
    batch split into slices gives the same."""
    torch.manual_seed(length)
    e, n = 5, 4
    args = _scan_args(3, length, e, n, decay=3)
    y, ref = scan_parallel(*args), scan_reference(*args)
    torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(y)
    for a, r in zip(
        torch.autograd.grad(y, args, g), torch.autograd.grad(ref, args, g), strict=True
    ):
        torch.testing.assert_close(a, r, rtol=1e-11, atol=1e-11)
    with torch.no_grad():
        scan_module.NO_GRAD_ELEMENTS, keep = length * e * n, scan_module.NO_GRAD_ELEMENTS
        try:
            torch.testing.assert_close(scan_parallel(*args), ref.detach(), rtol=1e-12, atol=1e-12)
        finally:
            scan_module.NO_GRAD_ELEMENTS = keep


def test_fused_scan_takes_the_parallel_scan_off_the_cpu(monkeypatch):
    """On a device other than the CPU (a GPU; here PyTorch's shape-only "meta" device), the
    models' scan is the parallel one, not the per-step loop."""
    calls = []
    monkeypatch.setattr(scan_module, "scan_parallel", lambda *a: calls.append(a) or a[0])
    args = [torch.empty(2, 7, 3, device="meta"), torch.empty(2, 7, 3, device="meta")]
    args += [torch.empty(3, 2, device="meta"), torch.empty(2, 7, 2, device="meta")]
    args += [torch.empty(2, 7, 2, device="meta")]
    scan_fused(*args)
    assert len(calls) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_mamba_on_a_gpu_follows_the_cpu():
    """On a GPU the Mamba model runs the parallel scan: outputs and gradients as on the CPU
    (float32 rounding), causal and bidirectional."""
    import copy

    for causal in (True, False):
        torch.manual_seed(0)
        cpu = create_model("mamba", causal=causal, out_dim=3).train()
        gpu = copy.deepcopy(cpu).cuda()
        X = torch.randn(4, 50, 10)
        outs = []
        for model, x in ((cpu, X), (gpu, X.cuda())):
            model.zero_grad()
            out = model(x)
            out.square().sum().backward()
            outs.append((out.detach().cpu(), [p.grad.cpu() for p in model.parameters()]))
        torch.testing.assert_close(outs[1][0], outs[0][0], rtol=1e-4, atol=1e-5)
        for a, r in zip(outs[1][1], outs[0][1], strict=True):
            torch.testing.assert_close(a, r, rtol=1e-3, atol=1e-4 * r.abs().max().item() + 1e-7)


def test_compiled_kernels_run_on_pytorchs_threads():
    """The kernels' at::parallel_for spreads work over PyTorch's threads (built without
    OpenMP under PyTorch's OpenMP backend, every kernel ran on one thread)."""
    if scan_kernel.kernel() is None:
        pytest.skip("the compiled kernels could not be built here (see the warning)")
    if not torch.backends.openmp.is_available():
        pytest.skip("PyTorch's parallel backend here is not OpenMP")
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert scan_kernel.kernel().parallel_threads(64) == 2
        torch.set_num_threads(1)
        assert scan_kernel.kernel().parallel_threads(64) == 1
    finally:
        torch.set_num_threads(threads)


def test_scan_falls_back_to_pytorch_when_the_kernel_cannot_be_built(monkeypatch):
    import torch.utils.cpp_extension as cpp

    def no_compiler(*args, **kwargs):
        raise RuntimeError("Error building extension 'x': c++: not found\nmore lines")

    scan_kernel.kernel.cache_clear()
    try:
        monkeypatch.setattr(cpp, "load_inline", no_compiler)
        with pytest.warns(RuntimeWarning, match="could not be built .*c\\+\\+: not found"):
            assert scan_kernel.kernel() is None
        args = [torch.randn(1, 5, 3), torch.rand(1, 5, 3), -torch.rand(3, 2)]
        args += [torch.randn(1, 5, 2), torch.randn(1, 5, 2)]
        assert not compiled_available(*args)
        torch.testing.assert_close(scan_fused(*args), scan_reference(*args))
        scan_kernel.kernel.cache_clear()
        monkeypatch.setenv("GAIT2HIP_SCAN_KERNEL", "0")  # switched off: no build, no warning
        assert scan_kernel.kernel() is None
    finally:
        scan_kernel.kernel.cache_clear()  # the next caller builds (or loads) it again


def test_inference_never_waits_for_the_kernel_to_be_built(monkeypatch, tmp_path):
    """A fresh install's first `predict` with a Mamba model: without a built kernel (none in
    this cache, none loaded) a forward pass without gradients uses PyTorch's scan and builds
    nothing; training (gradients) builds it."""
    import torch.utils.cpp_extension as cpp

    builds = []

    def record(*args, **kwargs):
        builds.append(args[0] if args else kwargs.get("name"))
        raise RuntimeError("not built in this test")

    monkeypatch.setenv("GAIT2HIP_CACHE", str(tmp_path))  # an empty cache
    scan_kernel.kernel.cache_clear()
    try:
        monkeypatch.setattr(cpp, "load_inline", record)
        assert not scan_kernel.built()
        model = create_model("mamba", in_dim=3, out_dim=2, d_model=8, d_state=4).eval()
        x = torch.randn(2, 7, 3)
        with torch.no_grad():
            y = model(x)
        assert builds == [] and y.shape == (2, 7, 2)
        with pytest.warns(RuntimeWarning, match="could not be built"):
            model(x.requires_grad_()).sum().backward()
        assert len(builds) == 1
    finally:
        scan_kernel.kernel.cache_clear()


def test_scan_and_its_convolution_run_in_float32_under_a_bfloat16_autocast():
    """A bfloat16 autocast's narrower inputs reach Mamba's convolution and scan cast up: the
    outputs are float32 and equal to the scan of the same values given in float32."""
    from gait2hip.models.scan import at_least_float32, causal_conv_silu, selective_scan

    g = torch.Generator().manual_seed(3)
    b, length, e, n = 2, 20, 8, 4
    u = torch.randn(b, length, e, generator=g).bfloat16()
    delta = torch.rand(b, length, e, generator=g).bfloat16()
    A = -torch.rand(e, n, generator=g) - 0.5
    Bm, Cm = (torch.randn(b, length, n, generator=g).bfloat16() for _ in range(2))
    y = selective_scan(u, delta, A, Bm, Cm)
    assert y.dtype == torch.float32
    want = selective_scan(*(t.float() for t in (u, delta, A, Bm, Cm)))
    torch.testing.assert_close(y, want)
    w, bias = torch.randn(e, 1, 4, generator=g), torch.randn(e, generator=g)
    assert causal_conv_silu(u, w, bias).dtype == torch.float32
    x64 = torch.zeros(2, dtype=torch.float64)
    assert at_least_float32(x64, u)[0] is x64 and at_least_float32(u)[0].dtype == torch.float32


def test_lowpass_operator_is_the_filter():
    """The matrix that applies the low-pass inside a model equals gait2hip.gait.signal's
    filter (its padding and initial conditions included) on any series."""
    import numpy as np

    from gait2hip.gait.signal import lowpass, lowpass_operator

    x = np.random.default_rng(0).normal(size=(60, 3)).cumsum(0)
    m = lowpass_operator(60, 60, 8)
    np.testing.assert_allclose(m @ x, lowpass(x, 60, 8), atol=1e-12)
    assert not np.allclose(m @ x, x)  # it filters


def test_transformer_output_lowpass():
    """``output_lowpass`` low-passes the read-out along the cycle: the same weights (no new
    parameters), the output the filter of the plain model's; smoother; it travels in the
    checkpoint, old configs without it load as the study's architecture; refused where
    causal. with_config / TrainedModel.with_output_lowpass switch it on a trained model."""
    import numpy as np

    from gait2hip.gait.signal import lowpass
    from gait2hip.models import with_config

    plain = small("transformer", False).eval()
    smooth = with_config(plain, output_lowpass=6.0)
    assert smooth.state_dict().keys() == plain.state_dict().keys()
    x = torch.randn(3, T, 10)
    with torch.no_grad():
        a, b = plain(x).numpy(), smooth(x).numpy()
    want = np.moveaxis(lowpass(np.moveaxis(a, 1, 0), T, 6.0), 0, 1)
    np.testing.assert_allclose(b, want, atol=1e-5)
    rough = lambda y: np.abs(np.diff(y, 2, axis=1)).mean()  # noqa: E731
    assert rough(b) < rough(a) / 2
    with pytest.raises(ValueError, match="causal Transformer cannot"):
        small("transformer", True, output_lowpass=6.0)
    with pytest.raises(ValueError, match=">= 0"):
        small("transformer", False, output_lowpass=-1.0)
    # trains: gradients reach every weight through the filter
    smooth.train()
    smooth(x).pow(2).mean().backward()
    assert all(p.grad is not None for p in smooth.parameters())
    # a trained model: switched on and off, the other architectures left as they are
    scaler = InputScaler.fit(x.numpy())
    cols = tuple(f"in{i}" for i in range(10)), tuple(f"out{i}" for i in range(5))
    trained = TrainedModel(plain, scaler, *cols, "moments", {})
    on = trained.with_output_lowpass(6.0)
    assert (trained.output_lowpass, on.output_lowpass) == (0.0, 6.0)
    np.testing.assert_allclose(on.with_output_lowpass(0).predict_reference(x.numpy()),
                               trained.predict_reference(x.numpy()))  # fmt: skip
    causal = TrainedModel(small("transformer", True).eval(), scaler, *cols, "moments", {})
    lstm = TrainedModel(small("lstm", False).eval(), scaler, *cols, "moments", {})
    assert causal.output_lowpass is None and causal.with_output_lowpass(6.0) is causal
    assert lstm.output_lowpass is None and lstm.with_output_lowpass(6.0) is lstm


def test_transformer_output_lowpass_checkpoint(tmp_path):
    import numpy as np

    from gait2hip.models import config_dict, model_from_config

    model = small("transformer", False, output_lowpass=6.0).eval()
    scaler = InputScaler.fit(torch.randn(4, T, 10).numpy())
    cols = tuple(f"in{i}" for i in range(10)), tuple(f"out{i}" for i in range(5))
    path = TrainedModel(model, scaler, *cols, "forces", {}).save(tmp_path / "m.pt")
    assert TrainedModel.load(path).output_lowpass == 6.0
    # a checkpoint from before the option: its config has no such field
    old = config_dict(small("transformer", False))
    del old["output_lowpass"]
    assert model_from_config("transformer", old).config.output_lowpass == 0.0
    x = torch.randn(2, T, 10).numpy()
    loaded = TrainedModel.load(path)
    np.testing.assert_allclose(
        loaded.predict_reference(x),
        TrainedModel(model, scaler, *cols, "forces", {}).predict_reference(x),
    )
