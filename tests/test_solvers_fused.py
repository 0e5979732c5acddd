"""The fused momentum-SGD step (the gradient accumulates straight into the history) is Caffe's
SGD: weights equal the NumPy reference, the diff after a step equals the history (and is a copy
of it), a non-finite loss leaves weights and history untouched, and no weights-sized diff
buffer is held through the backward."""

import math

import numpy as np
import pytest
from test_solvers_toynet import MULTS, real_net, write_toy
from test_solvers_update import POLICY_FIELDS, close, reference

from torchcaffe.solver import NonFiniteLoss, get_solver


def _solver(tmp_path, policy="multistep", iter_size=1, extra="", kind="SGD"):
    fields = (
        f'type: "{kind}" base_lr: 0.1 lr_policy: "{policy}" {POLICY_FIELDS[policy]} '
        f"momentum: 0.9 weight_decay: 0.01 iter_size: {iter_size} "
        f'snapshot_prefix: "{tmp_path}/snap" {extra}'
    )
    if policy != "poly":
        fields += " max_iter: 10"
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = write_toy(str(tmp_path), fields, python_data=True)
    return get_solver(path, net_factory=real_net)


def _weights(solver):
    return [b.data.copy() for bs in solver.net.params.values() for b in bs]


def _unfused(tmp_path, policy="multistep"):
    solver = _solver(tmp_path, policy)
    solver.fuse_sgd = False
    assert solver._fusable() == {}
    return solver


def _same_weights(a, b):
    for x, y in zip(_weights(a), _weights(b)):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("policy", ["multistep", "poly", "inv"])
def test_fused_sgd_matches_numpy_and_unfused(tmp_path, policy):
    solver = _solver(tmp_path / "a", policy)
    fused = solver._fusable()
    # lr_mult 0 params (the frozen ip2) keep the ordinary path; the rest are fused
    assert sorted(fused) == [i for i, (lr, _) in enumerate(MULTS) if lr != 0]
    solver.step(5)
    ref_w, ref_h, _ = reference("SGD", 5, 1, policy)
    close(_weights(solver), ref_w)
    close([h.numpy() for h in solver.history], ref_h)
    plain = _unfused(tmp_path / "b", policy)
    plain.step(5)
    _same_weights(solver, plain)


def test_fused_diff_reads_as_a_copy_of_history(tmp_path):
    solver = _solver(tmp_path)
    solver.step(2)
    for q, h in zip(solver.learnable, solver.history):
        if q.lr_mult == 0:
            continue
        assert q.blob._diff_src is h  # nothing copied until somebody reads the diff
        np.testing.assert_array_equal(q.blob.diff, h.numpy())  # Caffe: diff = history
        q.blob.diff[...] = 123.0  # the copy is the blob's own: the history is unchanged
        assert not np.any(h.numpy() == 123.0)
    # a script-side manual backward after a step accumulates into the diff, not the history,
    # and the next step starts from Caffe's state: the same as without fusing
    before = [h.clone() for h in solver.history]
    plain = _unfused(tmp_path / "plain")
    plain.step(2)
    for s in (solver, plain):
        s.net.forward()
        s.net.backward()
    for h, b in zip(solver.history, before):
        assert (h == b).all()
    solver.step(1)
    plain.step(1)
    _same_weights(solver, plain)


def test_fused_nonfinite_loss_keeps_weights_and_history(tmp_path):
    solver = _solver(tmp_path)
    solver.step(2)
    weights, history = _weights(solver), [h.clone() for h in solver.history]
    solver.net.params["ip1"][0].data[0, 0] = np.nan
    with pytest.raises(NonFiniteLoss, match="iteration 2"):
        solver.step(1)
    assert math.isnan(solver.last_loss)
    assert solver.iter == 2
    after = _weights(solver)
    after[0][0, 0] = weights[0][0, 0]
    for a, b in zip(after, weights):
        np.testing.assert_array_equal(a, b)
    for h, b in zip(solver.history, history):
        assert (h == b).all()


def test_not_fused_where_caffe_order_needs_the_diff(tmp_path):
    """iter_size > 1, gradient clipping and other solver types keep the separate diff."""
    assert _solver(tmp_path / "a", iter_size=3)._fusable() == {}
    assert _solver(tmp_path / "b", extra="clip_gradients: 1")._fusable() == {}
    assert _solver(tmp_path / "c", kind="Nesterov")._fusable() == {}
    assert _solver(tmp_path / "d")._fusable() != {}
