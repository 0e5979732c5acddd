"""Mixed-precision training (torchcaffe.mixed, solver.set_precision, solve.py --precision).

fp32 stays Caffe's exact path (fused SGD, manual convolution backward); bf16/fp16 run the layers
under autocast with fp32 weights, diffs, history and snapshots; NaN/inf diffs skip the update
(iter still advances), counted, with fp16's dynamic loss scale halved (doubled after
`growth_interval` good steps); the scaler state resumes with the snapshot's .rngstate.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_solvers_toynet import real_net, write_toy

import caffeio
import torchcaffe
from torchcaffe import mixed
from torchcaffe.layer import Layer
from torchcaffe.solver import NonFiniteLoss, get_solver

CPU_FP16 = mixed._cpu_autocasts(torch.float16)
# bf16 keeps 8 bits of mantissa: over 6 steps of the toy MLP (losses ~1) the bf16 losses stay
# within 1e-2 of fp32's (measured 4e-3 at most) and the weights within 1e-2 (measured 3e-3)
BF16_TOL = 1e-2

CONV_NET = """name: "tinyconv"
layer { name: "data" type: "Python" top: "data" top: "label"
  python_param { module: "test_torchcaffe_mixed" layer: "ConvData" } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1
    weight_filler { type: "gaussian" std: 0.3 } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "score" type: "Convolution" bottom: "conv1" top: "score"
  convolution_param { num_output: 3 kernel_size: 1
    weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss" }
"""


class ConvData(Layer):
    """Batch k of a fixed random stream of 2x3x8x8 images with 3-class labels."""

    def setup(self, bottom, top):
        self._k = 0

    def reshape(self, bottom, top):
        top[0].reshape(2, 3, 8, 8)
        top[1].reshape(2, 1, 8, 8)

    def forward(self, bottom, top):
        rng = np.random.RandomState(500 + self._k)
        top[0].data[...] = rng.randn(2, 3, 8, 8)
        top[1].data[...] = rng.randint(0, 3, (2, 1, 8, 8))
        self._k += 1

    def seek(self, k):
        self._k = int(k)


def _fields(tmp_path, extra=""):
    return (
        'type: "SGD" base_lr: 0.1 lr_policy: "multistep" gamma: 0.5 stepvalue: 3 '
        "momentum: 0.9 weight_decay: 0.01 max_iter: 20 test_iter: 1 test_interval: 1000 "
        f'snapshot_prefix: "{tmp_path}/snap/toy" {extra}'
    )


def toy(tmp_path, precision=None, **kw):
    """The toy MLP (test_solvers_toynet) on torchcaffe nets, in `precision` (None: no call)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = write_toy(str(tmp_path), _fields(tmp_path), python_data=True)
    solver = get_solver(path, net_factory=real_net)
    if precision is not None:
        solver.set_precision(precision, **kw)
    return solver


def conv(tmp_path, precision=None):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "conv.prototxt").write_text(CONV_NET)
    path = tmp_path / "solver.prototxt"
    path.write_text(f'net: "{tmp_path}/conv.prototxt"\n{_fields(tmp_path)}\n')
    torchcaffe.set_random_seed(3)
    return get_solver(str(path), precision=precision)


def net_weights(net):
    return [b.data.copy() for bs in net.params.values() for b in bs]


def weights(solver):
    return net_weights(solver.net)


def history(solver):
    return [h.clone() for h in solver.history]


def inject(solver, iters, value=float("inf")):
    """Put `value` into the first learnable diff after the backward of the given iterations."""
    run = solver._forward_backward

    def forward_backward():
        loss = run()
        if solver.iter in iters:
            solver.learnable[0].diff().view(-1)[0] = value
        return loss

    solver._forward_backward = forward_backward


def equal(a, b):
    a, b = list(a), list(b)
    return len(a) == len(b) and all(
        np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b)
    )


def trained_pair(ref, half, iters):
    """Step two solvers from the same weights -> (max |loss difference|, the largest weight
    difference as a fraction of the largest fp32 update)."""
    w0 = weights(ref)
    assert equal(w0, weights(half))  # same seeded fillers
    losses = {id(ref): [], id(half): []}
    for s in (ref, half):
        s.on_iteration.append(lambda s, loss: losses[id(s)].append(loss))
        s.step(iters)
    a, b = np.array(losses[id(ref)]), np.array(losses[id(half)])
    assert np.isfinite(b).all(), b
    gap = max(np.abs(x - y).max() for x, y in zip(weights(half), weights(ref)))
    update = max(np.abs(x - y).max() for x, y in zip(weights(ref), w0))
    return np.abs(a - b).max(), gap / update


def test_fp32_is_the_unchanged_exact_path(tmp_path):
    plain = toy(tmp_path / "plain")
    assert plain.precision == "fp32" and plain.mixed is None and plain.loss_scale == 1.0
    assert plain._fusable()  # fused momentum SGD stays on
    explicit = toy(tmp_path / "explicit", "fp32")
    # set to bf16 and back: the exact path again (nets' autocast off, fused SGD back)
    back = toy(tmp_path / "back", "bf16").set_precision("fp32")
    assert back._fusable() and all(n.autocast is None for n in back._all_nets())
    for s in (plain, explicit, back):
        s.step(5)
    assert equal(weights(plain), weights(explicit)) and equal(weights(plain), weights(back))
    assert equal(plain.history, explicit.history) and plain.skipped_steps == 0
    # the manual convolution backward (no autograd graph) stays on in fp32, off under autocast
    fp32, bf16 = conv(tmp_path / "c32"), conv(tmp_path / "c16", "bf16")
    for s in (fp32, bf16):
        s.net.forward()
    conv_layers = [i for i, impl in enumerate(fp32.net._impls) if impl.type == "Convolution"]
    assert all(len(fp32.net._records[i]) == 4 for i in conv_layers)  # manual record
    assert all(len(bf16.net._records[i]) == 3 for i in conv_layers)  # autograd record
    assert not bf16._fusable()


def test_bf16_on_cpu_close_to_fp32_weights_stay_fp32(tmp_path):
    ref, half = toy(tmp_path / "a"), toy(tmp_path / "b", "bf16")
    assert half.net.autocast == torch.bfloat16 and half.test_nets[0].autocast == torch.bfloat16
    # bf16 conv_transpose2d is 17-30x slower than fp32's on the CPU: Deconvolution stays fp32
    assert (
        half.net.autocast_fp32_types == {"Deconvolution"} == mixed.fp32_layer_types("bf16", "cpu")
    )
    losses = {id(ref): [], id(half): []}
    for s in (ref, half):
        s.on_iteration.append(lambda s, loss: losses[id(s)].append(loss))
        s.step(6)
    a, b = np.array(losses[id(ref)]), np.array(losses[id(half)])
    assert np.isfinite(b).all() and np.abs(a - b).max() < BF16_TOL
    for x, y in zip(weights(ref), weights(half)):
        np.testing.assert_allclose(y, x, atol=BF16_TOL)
    assert half.skipped_steps == 0 and half.loss_scale == 1.0
    for q, h in zip(half.learnable, half.history):
        assert q.data().dtype == q.diff().dtype == h.dtype == torch.float32
    # the snapshot is an ordinary fp32 caffemodel: an fp32 net loads exactly the solver's weights
    model, _ = half.snapshot()
    for arrays in caffeio.load_params(model).values():
        assert all(a.dtype == np.float32 for a in arrays)
    net = torchcaffe.Net(half.param.net, torchcaffe.TRAIN, weights=model)
    assert net.autocast is None and equal(weights(half), net_weights(net))
    # the test net (mixed too) shares the trained weights and scores finitely
    out = half.test(0)
    assert np.isfinite(out["loss"]).all()


def test_bf16_conv_net_trains_close_to_fp32(tmp_path):
    # 4 steps (lr 0.1, losses ~1.2): measured loss gap 1e-3, weight gap 1.2% of the update
    loss_gap, rel = trained_pair(conv(tmp_path / "a"), conv(tmp_path / "b", "bf16"), 4)
    assert loss_gap < BF16_TOL and rel < 0.05, (loss_gap, rel)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_nonfinite_diff_skips_the_update(tmp_path, precision):
    if precision == "fp16" and not CPU_FP16:
        pytest.skip("this torch has no float16 CPU autocast")
    s = toy(tmp_path, precision, growth_interval=3)
    inject(s, {3})
    s.step(3)
    w, h, scale = weights(s), history(s), s.loss_scale
    s.step(1)  # iteration 3 (multistep's stepvalue): inf in a diff -> skipped
    assert s.iter == 4 and s.last_step_skipped and s.skipped_steps == 1
    # nothing published: weights, history, the multistep counter (its lr step comes at 4)
    assert equal(weights(s), w) and equal(s.history, h) and s.current_step == 0
    assert s.loss_scale == (scale / 2 if precision == "fp16" else 1.0)
    s.step(1)  # normal steps resume
    assert not s.last_step_skipped and not equal(weights(s), w) and s.current_step == 1
    s.step(2)  # 3 good steps after the skip: fp16's scale doubles
    assert s.loss_scale == (scale if precision == "fp16" else 1.0) and s.mixed.good_steps == 0


@pytest.mark.skipif(not CPU_FP16, reason="this torch has no float16 CPU autocast")
def test_fp16_overflow_halves_then_grows(tmp_path):
    """A real fp16 overflow: at scale 2**24 the scaled gradients exceed fp16's range."""
    s = toy(tmp_path, "fp16", init_scale=2.0**24, growth_interval=2)
    w0 = weights(s)
    seen = []
    for _ in range(14):
        before, w, h = s.loss_scale, weights(s), history(s)
        s.step(1)
        seen.append((before, s.last_step_skipped, s.loss_scale))
        if s.last_step_skipped:  # nothing published: weights and history as they were
            assert equal(weights(s), w) and equal(s.history, h)
            assert s.loss_scale == before / 2
    assert seen[0][1] and not equal(w0, weights(s))  # skipped at first, then trained
    skips = sum(k for _, k, _ in seen)
    assert s.skipped_steps == skips >= 1 and s.iter == 14
    grown = [i for i, (b, k, a) in enumerate(seen) if a == 2 * b]
    assert grown, seen  # doubled after 2 good steps in a row
    for i in grown:
        assert not seen[i][1] and not seen[i - 1][1]
    assert "skipped overflow steps" in s.mixed.status()


def test_consecutive_skips_stop_the_run(tmp_path):
    s = toy(tmp_path, "bf16", max_consecutive_skips=3)
    inject(s, set(range(100)), float("nan"))
    w = weights(s)
    with pytest.raises(NonFiniteLoss, match="3 steps in a row skipped") as e:
        s.step(10)
    assert e.value.iteration == 2 and equal(weights(s), w)


@pytest.mark.skipif(not CPU_FP16, reason="this torch has no float16 CPU autocast")
def test_resume_restores_the_loss_scale(tmp_path):
    kw = dict(init_scale=2.0**20, growth_interval=3)
    full = toy(tmp_path / "full", "fp16", **kw)
    inject(full, {1})
    full.step(4)
    at4 = full.mixed.state_dict()
    full.step(4)

    first = toy(tmp_path / "first", "fp16", **kw)
    inject(first, {1})
    first.step(4)
    _, state_path = first.snapshot()
    with open(state_path[: -len(".solverstate")] + ".rngstate") as f:
        assert json.load(f)[mixed.STATE_KEY] == at4
    assert at4["skipped"] >= 1

    # set_precision before restore (the driver's order) and after it (a script's) both resume
    for order in ("before", "after"):
        resumed = toy(tmp_path / order, "fp16" if order == "before" else None, **kw)
        resumed.restore(state_path)
        if order == "after":
            resumed.set_precision("fp16", **kw)
        assert resumed.mixed.state_dict() == at4
        resumed.net.layers[0].seek(resumed.iter)
        resumed.step(4)
        assert equal(weights(resumed), weights(full))
        assert resumed.mixed.state_dict() == full.mixed.state_dict()

    # an fp32 snapshot has no scaler state: a mixed resume starts from the initial scale
    plain = toy(tmp_path / "plain")
    plain.step(1)
    _, fp32_state = plain.snapshot()
    mixed_resume = toy(tmp_path / "plain2", "fp16", **kw)
    mixed_resume.mixed.scale = 3.0
    mixed_resume.restore(fp32_state)
    assert mixed_resume.loss_scale == 2.0**20 and mixed_resume.skipped_steps == 0


def test_precision_names_and_refusals(tmp_path):
    names = [mixed.parse(p) for p in (None, "FP32", "bfloat16", "half", torch.float16)]
    assert names == ["fp32", "fp32", "bf16", "fp16", "fp16"]
    with pytest.raises(mixed.PrecisionError, match="unknown"):
        mixed.parse("fp8")
    with pytest.raises(mixed.PrecisionError, match="LossScaler is for"):
        mixed.LossScaler("fp32")
    if not CPU_FP16:
        with pytest.raises(mixed.PrecisionError, match="CUDA"):
            mixed.check_device("fp16", "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (fp16 autocast on a GPU)")
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_cuda_mixed_close_to_fp32(tmp_path, precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    torchcaffe.set_mode_gpu()
    try:
        ref, half = conv(tmp_path / "a"), conv(tmp_path / "b", precision)
        loss_gap, rel = trained_pair(ref, half, 4)
    finally:
        torchcaffe.set_mode_cpu()
    # 4 steps of the conv net (losses ~1.2): the loss within 1e-2 (fp16; its CPU run: 1e-4) or
    # 2e-2 (bf16; CPU: 1e-3), the weights within 5% of the fp32 update (CPU: 0.03% and 1.2%);
    # loose enough for the fp32 reference's TF32 convolutions on the GPU
    tol = 1e-2 if precision == "fp16" else 2 * BF16_TOL
    assert loss_gap < tol and rel < 0.05, (loss_gap, rel)
    assert half.skipped_steps == 0
    assert half.net.params["conv1"][0].data_tensor.dtype == torch.float32


# ---- the driver ---------------------------------------------------------------------------
def test_solve_py_bf16_two_iterations(tmp_path):
    import tiny_training as tt

    world = tt.make_world(str(tmp_path))
    runs = tt.runs_folder(world, "runs")
    p = tt.solve(world, runs, "--iters", "2", "--precision", "bf16", "--display", "1")
    assert "mixed precision bf16" in p.stderr and "trained weights" in p.stderr
    snap = tt.snap_dir(runs)
    rows = [json.loads(x) for x in open(os.path.join(snap, "train.jsonl"))]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 2 and all(x is not None and np.isfinite(x) for x in losses)
    log = open(os.path.join(snap, "train.log")).read()
    assert "Mixed precision bf16: skipped overflow steps: 0, loss scale 1" in log
    model = os.path.join(tt.run_dir(runs), f"{tt.MODEL}.caffemodel")
    assert all(a.dtype == np.float32 for v in tt.params(model).values() for a in v)
    with open(os.path.join(snap, "train_iter_2.rngstate")) as f:
        assert json.load(f)[mixed.STATE_KEY]["precision"] == "bf16"


def test_solve_py_refuses_mixed_precision_on_caffe(tmp_path):
    solve = os.path.join(tt_root(), "models", "voc-fcn32s", "solve.py")
    cmd = [sys.executable, solve, "--engine", "caffe", "--precision", "fp16"]
    cmd += ["--runs", str(tmp_path)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    assert "--precision fp16 needs the torchcaffe engine" in p.stderr, p.stderr[-2000:]
    assert not os.listdir(tmp_path)  # refused before anything was made


def tt_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_driver_divergence_rules_and_skipped_steps(tmp_path):
    """A skipped step's NaN loss does not feed the loss rule; persistent skips stop the run as
    Diverged (weights untouched) through the torch adapter."""
    from types import SimpleNamespace

    from engine import Diverged
    from engine import torchcaffe_adapter as engine_torch
    from solvers.training.divergence import DivergenceWatch
    from solvers.training.divergence import after_update as _watch
    from solvers.training.snapshots import SnapshotBook
    from solvers.training.stop import StopRequest

    watch = DivergenceWatch(loss_factor=10, window=2, weight_factor=0)
    book = SnapshotBook(str(tmp_path / "p"), str(tmp_path / "t.jsonl"), 0)
    s = SimpleNamespace(iter=1)
    for loss in (1.0, 1.0):
        _watch(engine_torch, s, loss, watch, book)
    _watch(engine_torch, s, float("nan"), watch, book, skipped=True)
    assert list(watch.recent) == [1.0, 1.0]  # the NaN of a skipped step stayed out

    solver = toy(tmp_path / "run", "bf16", max_consecutive_skips=2)
    inject(solver, {1, 2}, float("nan"))
    w = weights(solver)
    seen = []
    with pytest.raises(Diverged, match="2 steps in a row skipped") as e:
        engine_torch.step(solver, 5, lambda s, *a: seen.append(s.iter), StopRequest(), None, 0, 0)
    assert not e.value.weights_touched and e.value.iteration == 2 and seen == [1, 2]
    assert not equal(weights(solver), w)  # iteration 0 updated, 1 and 2 skipped
