"""Solver updates equal a NumPy re-implementation of docs/solvers.md (and Caffe's solver types).

The reference below is written from the facts (not from our solver): one iteration = iter_size
forward/backward passes with diffs accumulating, rate from the policy, global L2 clip,
diff /= iter_size, L2/L1 decay * decay_mult, the type's update with rate * lr_mult, data -= step.
"""

import math

import numpy as np
import pytest
from test_solvers_toynet import MULTS, ToyNet, batch, init_params, np_grads, real_net, write_toy

from torchcaffe.solver import (
    NonFiniteLoss,
    SolverConfigError,
    get_solver,
)

POLICY_FIELDS = {
    "fixed": "",
    "step": "gamma: 0.5 stepsize: 2",
    "exp": "gamma: 0.9",
    "inv": "gamma: 0.1 power: 0.75",
    "multistep": "gamma: 0.5 stepvalue: 2 stepvalue: 4",
    "poly": "power: 1.5 max_iter: 10",
    "sigmoid": "gamma: -0.5 stepsize: 3",
}


def ref_rate(policy, base, it, max_iter=10):
    """Learning rate of docs/solvers.md at iteration `it`."""
    if policy == "fixed":
        return base
    if policy == "step":
        return base * 0.5 ** (it // 2)
    if policy == "exp":
        return base * 0.9**it
    if policy == "inv":
        return base * (1 + 0.1 * it) ** -0.75
    if policy == "multistep":
        return base * 0.5 ** sum(it >= s for s in (2, 4))
    if policy == "poly":
        return base * (1 - it / max_iter) ** 1.5
    if policy == "sigmoid":
        return base / (1 + math.exp(0.5 * (it - 3)))
    raise AssertionError(policy)


def reference(
    kind,
    iters,
    iter_size,
    policy,
    base_lr=0.1,
    momentum=0.9,
    wd=0.01,
    reg="L2",
    clip=-1.0,
    momentum2=0.999,
    delta=1e-8,
    rms_decay=0.98,
):
    """NumPy training of the toy net: weights after `iters` iterations."""
    params = init_params()
    names = list(params)
    w = [p.astype(np.float64) for ps in params.values() for p in ps]
    h1 = [np.zeros_like(a) for a in w]
    h2 = [np.zeros_like(a) for a in w]
    k = 0
    for it in range(iters):
        g = [np.zeros_like(a) for a in w]
        for _ in range(iter_size):
            cur = {n: w[2 * i : 2 * i + 2] for i, n in enumerate(names)}
            _, gs = np_grads(cur, *batch(k))
            k += 1
            g = [a + b for a, b in zip(g, gs)]
        rate = ref_rate(policy, base_lr, it)
        if clip >= 0:
            norm = math.sqrt(sum(float((a * a).sum()) for a in g))
            if norm > clip:
                g = [a * (clip / norm) for a in g]
        for i, (lr_mult, decay_mult) in enumerate(MULTS):
            d = g[i] / iter_size
            dec = wd * decay_mult
            d = d + dec * (w[i] if reg == "L2" else np.sign(w[i]))
            lr = rate * lr_mult
            if kind == "SGD":
                h1[i] = lr * d + momentum * h1[i]
                step = h1[i]
            elif kind == "Nesterov":
                old = h1[i]
                h1[i] = momentum * h1[i] + lr * d
                step = (1 + momentum) * h1[i] - momentum * old
            elif kind == "Adam":
                t = it + 1
                h1[i] = momentum * h1[i] + (1 - momentum) * d
                h2[i] = momentum2 * h2[i] + (1 - momentum2) * d * d
                corr = math.sqrt(1 - momentum2**t) / (1 - momentum**t)
                step = lr * corr * h1[i] / (np.sqrt(h2[i]) + delta)
            elif kind == "AdaGrad":
                h1[i] = h1[i] + d * d
                step = lr * d / (np.sqrt(h1[i]) + delta)
            elif kind == "RMSProp":
                h1[i] = rms_decay * h1[i] + (1 - rms_decay) * d * d
                step = lr * d / (np.sqrt(h1[i]) + delta)
            elif kind == "AdaDelta":
                h1[i] = momentum * h1[i] + (1 - momentum) * d * d
                u = d * np.sqrt((h2[i] + delta) / (h1[i] + delta))
                h2[i] = momentum * h2[i] + (1 - momentum) * u * u
                step = lr * u
            w[i] = w[i] - step
    return w, h1, h2


def run_ours(tmp_path, kind, iters, iter_size, policy, extra=""):
    fields = (
        f'type: "{kind}" base_lr: 0.1 lr_policy: "{policy}" {POLICY_FIELDS[policy]} '
        f"weight_decay: 0.01 iter_size: {iter_size} display: 1 snapshot_prefix: "
        f'"{tmp_path}/snap" {extra}'
    )
    if policy != "poly":
        fields += " max_iter: 10"
    if kind in ("SGD", "Nesterov", "Adam", "AdaDelta") and "momentum" not in extra:
        fields += " momentum: 0.9"
    path = write_toy(str(tmp_path), fields)
    solver = get_solver(path, net_factory=ToyNet)
    solver.step(iters)
    return solver


def close(ours, ref):
    for i, (a, b) in enumerate(zip(ours, ref)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=f"param {i}")


@pytest.mark.parametrize("policy", list(POLICY_FIELDS))
@pytest.mark.parametrize("iter_size", [1, 3])
@pytest.mark.parametrize("kind", ["SGD", "Nesterov", "Adam"])
def test_update_matches_numpy(tmp_path, kind, iter_size, policy):
    solver = run_ours(tmp_path, kind, 6, iter_size, policy)
    ref_w, ref_h1, ref_h2 = reference(kind, 6, iter_size, policy)
    close(solver.net.weights(), ref_w)
    n = len(MULTS)
    close([h.numpy() for h in solver.history[:n]], ref_h1)
    if kind == "Adam":
        close([h.numpy() for h in solver.history[n:]], ref_h2)
    # the frozen layer (lr_mult 0) never moved
    init = [p for ps in init_params().values() for p in ps]
    np.testing.assert_array_equal(solver.net.weights()[2], init[2])
    np.testing.assert_array_equal(solver.net.weights()[3], init[3])
    assert solver.iter == 6


@pytest.mark.parametrize(
    "kind,extra,kw",
    [
        ("SGD", 'regularization_type: "L1"', {"reg": "L1"}),
        ("SGD", "clip_gradients: 0.05", {"clip": 0.05}),
        ("AdaGrad", "delta: 1e-6", {"delta": 1e-6}),
        ("RMSProp", "delta: 1e-6 rms_decay: 0.98", {"delta": 1e-6}),
        ("AdaDelta", "delta: 1e-6", {"delta": 1e-6}),
    ],
)
def test_other_solvers_and_regularisers(tmp_path, kind, extra, kw):
    solver = run_ours(tmp_path, kind, 5, 2, "step", extra)
    momentum = 0.9 if kind in ("SGD", "AdaDelta") else 0.0
    ref_w, _, _ = reference(kind, 5, 2, "step", momentum=momentum, **kw)
    close(solver.net.weights(), ref_w)


def test_legacy_solver_type_and_errors(tmp_path):
    path = write_toy(
        str(tmp_path), 'solver_type: NESTEROV base_lr: 0.1 momentum: 0.9 lr_policy: "fixed"'
    )
    assert type(get_solver(path, net_factory=ToyNet)).__name__ == "NesterovSolver"
    bad = write_toy(str(tmp_path), 'type: "AdaGrad" base_lr: 0.1 momentum: 0.9', "bad.prototxt")
    with pytest.raises(SolverConfigError, match="momentum cannot be used with AdaGrad"):
        get_solver(bad, net_factory=ToyNet)
    bad = write_toy(str(tmp_path), 'type: "Sgd2" base_lr: 0.1', "bad2.prototxt")
    with pytest.raises(SolverConfigError, match="Sgd2.*unknown"):
        get_solver(bad, net_factory=ToyNet)
    bad = write_toy(str(tmp_path), 'base_lr: 0.1 lr_policy: "step"', "bad3.prototxt")
    with pytest.raises(SolverConfigError, match="needs `gamma`"):
        get_solver(bad, net_factory=ToyNet)


def test_nonfinite_loss_stops_before_update(tmp_path):
    solver = run_ours(tmp_path, "SGD", 2, 1, "fixed")
    before = solver.net.weights()
    solver.net.inject_nan = True
    with pytest.raises(NonFiniteLoss, match="loss = nan at iteration 2"):
        solver.step(1)
    after = solver.net.weights()
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert solver.iter == 2


@pytest.mark.parametrize("kind", ["SGD", "Nesterov", "Adam"])
def test_torchcaffe_net_update_matches_numpy(tmp_path, kind):
    """The same check through torchcaffe.Net (Python data layer, InnerProduct, ReLU,
    SoftmaxWithLoss, frozen layer): the solver sees the engine's learnable params and diffs."""
    fields = (
        f'type: "{kind}" base_lr: 0.1 lr_policy: "multistep" {POLICY_FIELDS["multistep"]} '
        "momentum: 0.9 weight_decay: 0.01 iter_size: 3 max_iter: 10 "
        f'snapshot_prefix: "{tmp_path}/snap"'
    )
    path = write_toy(str(tmp_path), fields, python_data=True)
    solver = get_solver(path, net_factory=real_net)
    assert [(p.lr_mult, p.decay_mult) for p in solver.learnable] == MULTS
    solver.step(5)
    ref_w, _, _ = reference(kind, 5, 3, "multistep")
    close([b.data.copy() for bs in solver.net.params.values() for b in bs], ref_w)
