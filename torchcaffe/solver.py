"""Caffe's solvers on torchcaffe nets: SGD, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam.

    solver = torchcaffe.get_solver("solver.prototxt")   # honours `type` (and legacy solver_type)
    solver.net.copy_from("base.caffemodel")
    solver.step(4000)                                    # ignores max_iter, like pycaffe
    solver.snapshot()               # <prefix>_iter_<N>.caffemodel/.solverstate (+ .rngstate)

One iteration is Caffe's Solver::Step body: clear param diffs; iter_size x (forward, backward)
with diffs accumulating (the loss shown is the mean over the iter_size passes); gradients
averaged across ranks when torch.distributed runs (Caffe's multi-GPU all-reduce); the rate from
the lr policy; global L2 clip; per parameter diff /= iter_size, weight decay (L2 or L1, times
decay_mult), the type's update with local rate = rate * lr_mult; data -= diff; iter += 1;
snapshot every `snapshot` iterations. Paths in the solver prototxt are relative to the working
directory, as in Caffe.

`solver.set_precision("bf16" | "fp16")` trains in mixed precision (torchcaffe.mixed: autocast
layers, fp32 weights, loss scaling and skipped overflow steps); the default fp32 is the above.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import caffeio
from caffeio import caffe_pb2
from caffeio.atomic import atomic_path
from caffeio.statecheck import check_counters

from . import device as _device
from . import mixed as _mixed
from . import net as _net
from . import options as _options
from . import rngstate as _rng
from . import solver_updates as upd
from .lr_policy import SolverConfigError, check_policy, learning_rate
from .solver_log import SolverLog, fmt_float
from .solver_params import learnable_params

TYPES = ("SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam")
_LEGACY_TYPES = {0: "SGD", 1: "Nesterov", 2: "AdaGrad", 3: "RMSProp", 4: "AdaDelta", 5: "Adam"}
TRAIN, TEST = 0, 1


class NonFiniteLoss(FloatingPointError):
    """The training loss became NaN or infinite; the weights were not updated with it.
    `reason`: what was seen when it was not the loss alone (mixed precision: too many skipped
    steps in a row), else None."""

    def __init__(self, iteration: int, loss: float, reason: str | None = None) -> None:
        self.iteration, self.loss, self.reason = iteration, loss, reason
        what = reason or f"loss = {loss}"
        super().__init__(
            f"{what} at iteration {iteration}: training stopped before applying this "
            "update (the weights and the last snapshot are those of the last good iteration). "
            "Lower base_lr, check the data (labels outside 0..C-1 other than the ignore label) "
            "and the initial weights."
        )


def solver_type(param: caffe_pb2.SolverParameter, where: str = "solver") -> str:
    """The solver type named by a SolverParameter: `type`, or the legacy `solver_type` enum."""
    if param.HasField("solver_type"):
        legacy = _LEGACY_TYPES[param.solver_type]
        if param.HasField("type") and param.type.lower() != legacy.lower():
            raise SolverConfigError(
                f"{where}: type '{param.type}' and legacy solver_type {legacy} disagree; "
                "keep only `type`"
            )
        return legacy
    for t in TYPES:
        if t.lower() == (param.type or "SGD").lower():
            return t
    raise SolverConfigError(
        f"{where}: solver type '{param.type}' is unknown; use one of {', '.join(TYPES)}"
    )


def _dist():
    """(rank, world size) of the running torch.distributed group, (0, 1) when there is none."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class SGDSolver:
    """Caffe's SGDSolver (momentum SGD) with the pycaffe surface; other types subclass it.

    `path`: solver prototxt (or a caffe_pb2.SolverParameter). `log`: a SolverLog (default:
    glog-format lines to stderr; non-root ranks silent). `net_factory(path, phase, **state)`
    builds the nets (default: torchcaffe.Net). `fuse_sgd`: SGD accumulates gradients straight
    into the momentum history (default: torchcaffe.options, TORCHCAFFE_FUSED_SGD, on). Attributes:
    `net`, `test_nets`, `iter`, `param`, `history` (torch tensors, Caffe's solverstate order),
    `learnable` (LearnableParam).
    """

    type_name = "SGD"
    blocks = 1

    def __init__(
        self,
        path: str | os.PathLike | caffe_pb2.SolverParameter,
        log: SolverLog | None = None,
        net_factory: Callable[..., Any] | None = None,
        fuse_sgd: bool | None = None,
    ) -> None:
        self._net_factory = net_factory
        if isinstance(path, caffe_pb2.SolverParameter):
            self.param, self.path = path, "<SolverParameter>"
        else:
            self.path = str(path)
            self.param = caffeio.read_solver(self.path)
        self.rank, self.world = _dist()
        self.log = log or SolverLog(enabled=self.rank == 0)
        self._check_param()
        if self.param.random_seed >= 0:
            # Caffe: a non-negative random_seed seeds the engine (+ rank, so ranks differ)
            _device.set_random_seed(self.param.random_seed + self.rank)
        self.iter = 0
        self.current_step = 0
        self.stop_on_nonfinite = True
        self.on_iteration = []  # callables(solver, loss) after every iteration
        self.action = None  # callable -> None | "snapshot" | "stop", checked every iteration
        self.requested_early_exit = False
        # SGD accumulates gradients straight into the momentum history (see _fusable)
        self.fuse_sgd = _options.current().fused_sgd if fuse_sgd is None else bool(fuse_sgd)
        self._fused = {}
        self.losses, self.smoothed_loss = [], 0.0
        self.last_loss = float("nan")
        self.rng_restored = False  # restore() found and applied a .rngstate
        # mixed precision (set_precision): None = fp32, Caffe's exact path
        self.precision, self.mixed = "fp32", None
        self.last_step_skipped = False
        self._saved_mixed = None  # the scaler state of the last .rngstate restored
        self._net_param, self.net = self._build_train_net()
        self.learnable = learnable_params(self.net, self._net_param)
        self._loss_weights = self._find_loss_weights(self.net, self._net_param)
        self.test_nets, self._test_net_params, self._test_loss_weights = [], [], []
        for net_param, net in self._build_test_nets():
            net.share_with(self.net)
            self.test_nets.append(net)
            self._test_net_params.append(net_param)
            self._test_loss_weights.append(self._find_loss_weights(net, net_param))
        self.history = [
            torch.zeros_like(p.data()) for _ in range(self.blocks) for p in self.learnable
        ]
        self._timer, self._iters_last = time.time(), 0

    # ---- construction -------------------------------------------------------------------
    def _check_param(self):
        p = self.param
        check_policy(p, self.path)
        if p.iter_size < 1:
            raise SolverConfigError(f"{self.path}: iter_size must be >= 1, got {p.iter_size}")
        if p.regularization_type not in ("L1", "L2"):
            raise SolverConfigError(
                f"{self.path}: regularization_type '{p.regularization_type}' is unknown: "
                "use L1 or L2"
            )
        if len(p.test_iter) and p.test_interval <= 0 and p.test_initialization is False:
            pass
        if p.snapshot_format != caffe_pb2.SolverParameter.BINARYPROTO:
            raise SolverConfigError(
                f"{self.path}: snapshot_format HDF5 is not supported by torchcaffe; "
                "remove the field (BINARYPROTO is Caffe's default)"
            )
        if not p.HasField("snapshot_prefix"):
            stem = self.path[: -len(".prototxt")] if self.path.endswith(".prototxt") else self.path
            p.snapshot_prefix = stem
        elif p.snapshot_prefix.endswith(os.sep):
            base = os.path.basename(self.path)
            base = base[: -len(".prototxt")] if base.endswith(".prototxt") else base
            p.snapshot_prefix = p.snapshot_prefix + base

    def _make_net(self, source, phase, state, where):
        """Build a Net from a path or a NetParameter with Caffe's NetState for `phase`."""
        factory = self._net_factory or _net.Net
        stages = list(state.stage) if state is not None else []
        level = state.level if state is not None else 0
        if isinstance(source, caffe_pb2.NetParameter):
            net_param = source
            with tempfile.NamedTemporaryFile(
                "w", suffix=".prototxt", prefix="solver_net_", delete=False
            ) as f:
                f.write(caffeio.to_text(source))
                path = f.name
        else:
            path = source
            if not os.path.exists(path):
                raise FileNotFoundError(
                    f"{self.path}: {where} '{path}' does not exist (paths in a solver prototxt "
                    f"are relative to the working directory, now {os.getcwd()})"
                )
            net_param = caffeio.read_net(path)
        kwargs = {}
        if stages:
            kwargs["stages"] = stages
        if level:
            kwargs["level"] = level
        try:
            net = factory(path, phase, **kwargs)
        finally:
            if isinstance(source, caffe_pb2.NetParameter):
                os.unlink(path)
        return _filtered(net_param, phase, level, stages), net

    def _build_train_net(self):
        p = self.param
        sources = [
            ("train_net_param", p.train_net_param if p.HasField("train_net_param") else None),
            ("train_net", p.train_net or None),
            ("net_param", p.net_param if p.HasField("net_param") else None),
            ("net", p.net or None),
        ]
        given = [(k, v) for k, v in sources if v is not None]
        if len(given) != 1:
            names = ", ".join(k for k, _ in given) or "none"
            raise SolverConfigError(
                f"{self.path}: exactly one of train_net_param, train_net, net_param, net must "
                f"give the train net (found: {names})"
            )
        state = caffe_pb2.NetState(phase=TRAIN)
        if p.HasField("train_state"):
            state.MergeFrom(p.train_state)
            state.phase = TRAIN
        return self._make_net(given[0][1], TRAIN, state, given[0][0])

    def _build_test_nets(self):
        p = self.param
        sources = [("test_net_param", n) for n in p.test_net_param]
        sources += [("test_net", n) for n in p.test_net]
        if p.HasField("net_param"):
            sources.append(("net_param", p.net_param))
        elif p.net:
            sources.append(("net", p.net))
        has_general = p.HasField("net_param") or bool(p.net)
        if len(p.test_iter) < len(sources):
            if has_general and len(p.test_iter) == len(sources) - 1:
                sources = sources[:-1]  # the general net is only a test net with a test_iter
            elif len(p.test_iter) == 0 and not p.test_net_param and not p.test_net:
                sources = []
            else:
                raise SolverConfigError(
                    f"{self.path}: {len(sources)} test net(s) but {len(p.test_iter)} test_iter "
                    "value(s); give one test_iter per test net"
                )
        elif len(p.test_iter) > len(sources):
            raise SolverConfigError(
                f"{self.path}: {len(p.test_iter)} test_iter values but {len(sources)} test net(s)"
            )
        out = []
        for i, (where, src) in enumerate(sources):
            state = caffe_pb2.NetState(phase=TEST)
            if i < len(p.test_state):
                state.MergeFrom(p.test_state[i])
                state.phase = TEST
            out.append(self._make_net(src, TEST, state, where))
        return out

    @staticmethod
    def _find_loss_weights(net, net_param):
        """{top name: loss weight} for tops with a nonzero weight (Caffe's loss layer rule)."""
        if hasattr(net, "blob_loss_weights"):
            w = dict(net.blob_loss_weights)
            return {k: float(v) for k, v in w.items() if v}
        out = {}
        for layer in net_param.layer:
            for j, top in enumerate(layer.top):
                if j < len(layer.loss_weight):
                    w = layer.loss_weight[j]
                else:
                    w = 1.0 if (j == 0 and layer.type.endswith("Loss")) else 0.0
                if w:
                    out[top] = float(w)
        return out

    # ---- pycaffe surface ----------------------------------------------------------------
    def step(self, iters: int) -> None:
        """Run `iters` iterations (ignores max_iter), testing at test_interval like Caffe."""
        p = self.param
        start_iter, stop_iter = self.iter, self.iter + int(iters)
        self.losses, self.smoothed_loss = [], 0.0
        self._timer, self._iters_last = time.time(), self.iter
        while self.iter < stop_iter:
            self._fused = self._fusable()
            self._clear_diffs()
            if self._test_due():
                self.test_all()
            for on_start, _ in self._callbacks:
                on_start()
            display = bool(p.display) and self.iter % p.display == 0
            loss, stop_requested = self._reduce(self._iteration_loss())
            self.last_loss = loss
            skipped = self._skip_update(loss)
            self.last_step_skipped = skipped
            if not skipped or math.isfinite(loss):
                self._update_smoothed_loss(loss, start_iter, max(1, p.average_loss))
            if display:
                self._display()
            for _, on_gradients_ready in self._callbacks:
                on_gradients_ready()
            if skipped:
                self.last_rate = None  # no rate was applied (the driver logs lr: null)
            else:
                self.apply_update()
            self._fused = {}
            self.iter += 1
            for cb in self.on_iteration:
                cb(self, loss)
            if self._snapshot_or_stop(stop_requested):
                self.requested_early_exit = True
                break

    def _test_due(self):
        """Whether this iteration tests first (Caffe: every test_interval, at 0 only with
        test_initialization; rank 0 only)."""
        p = self.param
        return bool(
            p.test_interval
            and self.iter % p.test_interval == 0
            and (self.iter > 0 or p.test_initialization)
            and self.rank == 0
        )

    def _iteration_loss(self):
        """The mean loss of iter_size forward/backward passes (diffs accumulate)."""
        loss = 0.0
        try:
            for _ in range(self.param.iter_size):
                loss += self._forward_backward()
        except NonFiniteLoss:
            self._fused = {}
            raise
        loss /= self.param.iter_size
        return loss

    def _skip_update(self, loss):
        """Whether the update is skipped (mixed precision's overflow check); NonFiniteLoss
        for a NaN/inf loss when stop_on_nonfinite."""
        if self.mixed is not None:
            return self._check_mixed(loss)
        if not math.isfinite(loss) and self.stop_on_nonfinite:
            raise NonFiniteLoss(self.iter, loss)
        return False

    def _snapshot_or_stop(self, stop_requested):
        """After an iteration: snapshot when due or asked (`action`); True to stop (asked
        by `action`, or by another rank when `stop_requested`)."""
        p = self.param
        request = self.action() if self.action is not None else None
        if stop_requested:
            request = "stop"
        if (p.snapshot and self.iter % p.snapshot == 0) or request == "snapshot":
            self.snapshot()
        return request == "stop"

    def solve(self, resume: str | None = None) -> None:
        """Caffe's Solve: optional restore, step to max_iter, final snapshot and test."""
        p = self.param
        self.log("solving", f"Solving {self._net_param.name}")
        self.log("policy", f"Learning Rate Policy: {p.lr_policy or 'fixed'}")
        self.requested_early_exit = False
        if resume:
            self.log("restore", f"Restoring previous solver status from {resume}")
            self.restore(resume)
        start_iter = self.iter
        self.step(p.max_iter - self.iter)
        if p.snapshot_after_train and (not p.snapshot or self.iter % p.snapshot != 0):
            self.snapshot()
        if self.requested_early_exit:
            self.log("stopped", "Optimization stopped early.")
            return
        if p.display and self.iter % p.display == 0:
            self.net.forward()
            loss = self._net_loss(self.net, self._loss_weights)
            self._update_smoothed_loss(loss, start_iter, max(1, p.average_loss))
            self.log("iteration", f"Iteration {self.iter}, loss = {fmt_float(self.smoothed_loss)}")
        if p.test_interval and self.iter % p.test_interval == 0 and self.rank == 0:
            self.test_all()
        self.log("done", "Optimization Done.")

    def test_all(self) -> list[dict[str, np.ndarray]]:
        """Run every test net for its test_iter and log the mean of each output."""
        results = []
        for i in range(len(self.test_nets)):
            results.append(self.test(i))
        return results

    def test(self, i: int = 0) -> dict[str, np.ndarray]:
        """Test net #i: mean of every output over test_iter forwards -> {blob: array}."""
        p = self.param
        net = self.test_nets[i]
        self.log("testing", f"Iteration {self.iter}, Testing net (#{i})")
        net.share_with(self.net)
        sums, loss = {}, 0.0
        n = p.test_iter[i]
        for _ in range(n):
            out = net.forward()
            if p.test_compute_loss:
                loss += self._net_loss(net, self._test_loss_weights[i])
            for name in net.outputs:
                v = np.array(out[name] if name in out else net.blobs[name].data, np.float64)
                sums[name] = sums.get(name, 0) + v.ravel()
        if p.test_compute_loss:
            self.log("test_loss", f"Test loss: {fmt_float(loss / max(n, 1))}")
        k = 0
        for name in net.outputs:
            mean = sums.get(name, np.zeros(0)) / max(n, 1)
            w = self._test_loss_weights[i].get(name, 0.0)
            for v in mean:
                extra = f" (* {fmt_float(w)} = {fmt_float(w * v)} loss)" if w else ""
                self.log("test_output", f"    Test net output #{k}: {name} = {fmt_float(v)}{extra}")
                k += 1
            sums[name] = mean
        return sums

    def snapshot(self) -> tuple[str | None, str | None]:
        """Write <prefix>_iter_<N>.caffemodel, .rngstate and .solverstate atomically, in that
        order (rank 0; other ranks write only their <prefix>_iter_<N>.rank<r>.rngstate).

        Returns (caffemodel path, solverstate path); on other ranks returns (None, None).
        """
        prefix = self.param.snapshot_prefix
        stem = f"{prefix}_iter_{self.iter}"
        if self.rank != 0:
            _rng.write(_rng.path_for(stem, self.rank), self._resume_state())
            return None, None
        model = f"{stem}.caffemodel"
        state_path = f"{stem}.solverstate"
        folder = os.path.dirname(os.path.abspath(model))
        os.makedirs(folder, exist_ok=True)
        self.log("snapshot", f"Snapshotting to binary proto file {model}")
        with atomic_path(model) as tmp:  # umask-honouring mode, unpredictable temp name
            self.net.save(tmp)
        # the random state before the solverstate: a solverstate on disk means all three are
        _rng.write(_rng.path_for(stem), self._resume_state())
        self.log("snapshot_state", f"Snapshotting solver state to binary proto file {state_path}")
        caffeio.write_solverstate(self.solver_state(model), state_path)
        return model, state_path

    def solver_state(self, model_path: str = "") -> caffe_pb2.SolverState:
        """caffe_pb2.SolverState: iter, learned_net, history blobs (Caffe's order), current_step."""
        state = caffe_pb2.SolverState(
            iter=self.iter, learned_net=model_path, current_step=self.current_step
        )
        for h in self.history:
            state.history.add().CopyFrom(caffeio.array_to_blob(h.detach().cpu().numpy()))
        return state

    def restore(self, path: str) -> None:
        """Restore iter, current_step, history and (via learned_net) the weights from a
        .solverstate, and the random state from the .rngstate beside it when there is one
        (`rng_restored` says whether); errors name the file and the mismatch."""
        state = caffeio.read_solverstate(path)
        _check_state(state, path)
        if len(state.history) != len(self.history):
            raise caffeio.CaffeFormatError(
                f"{path}: holds {len(state.history)} history blobs but this {self.type_name} "
                f"solver has {len(self.history)} ({len(self.learnable)} learnable params x "
                f"{self.blocks}); was it written for another net or solver type?"
            )
        arrays = []
        for i, (blob, h) in enumerate(zip(state.history, self.history)):
            a = caffeio.blob_to_array(blob, f"{path}: history blob {i}")
            if not caffeio.shapes_match(a.shape, tuple(h.shape)):
                p = self.learnable[i % len(self.learnable)]
                raise caffeio.CaffeFormatError(
                    f"{path}: history blob {i} ({p.name}) has shape {a.shape}, the net's "
                    f"parameter has {tuple(h.shape)}"
                )
            if not np.isfinite(a).all():
                p = self.learnable[i % len(self.learnable)]
                raise caffeio.CaffeFormatError(
                    f"{path}: history blob {i} ({p.name}) holds "
                    f"{int((~np.isfinite(a)).sum())} NaN/inf values: the run had diverged or the "
                    "file is corrupt; resume from an earlier snapshot"
                )
            arrays.append(a)
        if state.learned_net:
            model = state.learned_net
            if not os.path.exists(model):
                beside = os.path.join(os.path.dirname(path), os.path.basename(model))
                if not os.path.exists(beside):
                    raise caffeio.errors.CaffeMissingFile(
                        f"{path}: learned_net '{model}' not found (relative to "
                        f"{os.getcwd()}, nor beside the solverstate)"
                    )
                model = beside
            self.net.copy_from(model)
        for a, h in zip(arrays, self.history):
            h.copy_(torch.from_numpy(np.ascontiguousarray(a, np.float32)).reshape(h.shape))
        self.iter = int(state.iter)
        self.current_step = int(state.current_step)
        self.rng_restored = self._restore_rng(path)

    def _all_nets(self):
        return [self.net, *self.test_nets]

    def _resume_state(self):
        """What the .rngstate holds: the random state, and the loss scaler's state when training
        in mixed precision (so a resumed run skips and scales as the uninterrupted one)."""
        state = _rng.capture(self._all_nets())
        if self.mixed is not None:
            state[_mixed.STATE_KEY] = self.mixed.state_dict()
        return state

    def _restore_rng(self, path):
        """Apply the .rngstate beside solverstate `path` when there is one -> whether it was."""
        stem = path[: -len(".solverstate")] if path.endswith(".solverstate") else path
        rng_path = _rng.path_for(stem, self.rank)
        self._saved_mixed = None
        if not os.path.exists(rng_path):
            self._restore_mixed()
            return False
        state = _rng.read(rng_path)
        _rng.apply(state, self._all_nets())
        self._saved_mixed = state.get(_mixed.STATE_KEY)
        self._restore_mixed()
        return True

    def _restore_mixed(self):
        """The loss scaler as the restored snapshot left it (its initial state when the snapshot
        holds none for this precision: an fp32 run, a missing .rngstate)."""
        if self.mixed is not None and not self.mixed.load_state_dict(self._saved_mixed):
            self.mixed.reset()

    # ---- mixed precision ----------------------------------------------------------------
    def set_precision(
        self,
        precision: str | torch.dtype | None,
        init_scale: float = 2.0**16,
        growth_interval: int = 2000,
        max_consecutive_skips: int = 25,
    ) -> SGDSolver:
        """Train in `precision`: 'fp32' (default: Caffe's exact path), 'bf16' or 'fp16'.

        bf16/fp16 run the layers of the train net and the test nets under torch.autocast;
        parameters, their diffs, the history and snapshots stay float32 (torchcaffe.mixed).
        fp16 scales the loss dynamically (from `init_scale`, doubled after `growth_interval`
        good steps in a row); both skip a step whose diffs or loss are not finite (iter still
        advances) and stop with NonFiniteLoss after `max_consecutive_skips` skips in a row (0:
        never). The fused SGD step and the manual convolution backward are fp32-only and off.
        """
        name = _mixed.parse(precision)
        nets = self._all_nets()
        if name == "fp32":
            for net in nets:
                if hasattr(net, "autocast"):
                    net.autocast = None
                    net.autocast_fp32_types = frozenset()
            self.precision, self.mixed = name, None
            return self
        if not all(hasattr(n, "autocast") and hasattr(n, "forward_backward") for n in nets):
            raise _mixed.PrecisionError(
                f"precision {name}: mixed precision needs torchcaffe nets (this solver's nets "
                "are built by another engine)"
            )
        _mixed.check_device(name, self.net.device)
        self.mixed = _mixed.LossScaler(
            name,
            init_scale=init_scale,
            growth_interval=growth_interval,
            max_consecutive_skips=max_consecutive_skips,
        )
        self.mixed.load_state_dict(self._saved_mixed)  # set after a restore: take its state
        self.precision = name
        dtype = _mixed.autocast_dtype(name)
        for net in nets:
            net.autocast = dtype
            net.autocast_fp32_types = _mixed.fp32_layer_types(name, net.device)
        self.log("mixed", self.mixed.describe())
        return self

    @property
    def loss_scale(self) -> float:
        """The current loss scale (1.0 unless training in fp16)."""
        return self.mixed.scale if self.mixed is not None else 1.0

    @property
    def skipped_steps(self) -> int:
        """Steps whose update was skipped for non-finite diffs/loss (mixed precision only)."""
        return self.mixed.skipped if self.mixed is not None else 0

    def _scale_loss(self, loss):
        """Between forward and backward (mixed precision): seed loss diffs times the scale."""
        _mixed.scale_loss_diffs(self.net, self._loss_weights, self.mixed.scale)

    def _check_mixed(self, loss):
        """After the iter_size passes: unscale the param diffs and decide -> whether this step is
        skipped (a diff or the loss is NaN/inf); NonFiniteLoss after too many skips in a row."""
        m = self.mixed
        scale = m.scale
        finite = _mixed.unscale_and_check([q.diff() for q in self.learnable], scale)
        finite = finite and math.isfinite(loss)
        if not m.update(finite):
            return False
        what = f"loss = {fmt_float(loss)}" if not math.isfinite(loss) else "non-finite gradients"
        self.log(
            "mixed",
            f"Iteration {self.iter}, {what} ({m.precision}, loss scale {fmt_float(scale)}): "
            f"update skipped; {m.status()}",
        )
        if m.exhausted and self.stop_on_nonfinite:
            raise NonFiniteLoss(
                self.iter,
                loss,
                reason=f"{m.consecutive} steps in a row skipped for a NaN/inf loss or gradients "
                f"in {m.precision} (last: {what}, loss scale {fmt_float(m.scale)})",
            )
        return True

    # ---- one iteration ------------------------------------------------------------------
    def _fusable(self):
        """{learnable index: momentum / local rate} of the params whose gradient this iteration
        accumulates straight into their momentum history (momentum SGD, one pass per iteration,
        one process, no clipping, on torchcaffe nets, parameters of built-in layers, non-zero
        rate). Before the backward the history is scaled by momentum / local rate and becomes
        the diff; after it, diff += decay * data and diff *= local rate give Caffe's new
        history = momentum * history + local rate * (gradient + decay * data), equal up to float
        rounding. This saves a weights-sized diff per parameter (537 MB for FCN-8s) and three
        passes over them; afterwards the diff reads as a copy of the history, as in Caffe."""
        p = self.param
        if not (
            self.fuse_sgd
            and self.mixed is None  # history as diff accumulator: fp32 only (no skip, no scale)
            and type(self) is SGDSolver
            and p.iter_size == 1
            and self.world == 1
            and p.clip_gradients < 0
            and hasattr(self.net, "accumulating_param_blobs")
        ):
            return {}
        rate = learning_rate(p, self.iter, self.current_step)[0]
        momentum = _f32(p.momentum)
        ok = self.net.accumulating_param_blobs()
        return {
            i: momentum / (rate * q.lr_mult)
            for i, q in enumerate(self.learnable)
            if rate * q.lr_mult != 0 and id(q.blob) in ok and hasattr(q.blob, "diff_equals")
        }

    def _clear_diffs(self):
        fused = {id(self.learnable[i].blob) for i in self._fused}
        if fused:
            self.net.clear_param_diffs(skip=fused)  # Python layers' own blobs too
        elif hasattr(self.net, "clear_param_diffs"):
            self.net.clear_param_diffs()
        for p in self.learnable:
            if id(p.blob) in fused:
                p.blob.release_diff()  # the history becomes the diff in _ready_fused
            else:
                p.diff().zero_()

    def _ready_fused(self, loss):
        """Between forward and backward: stop on a non-finite loss while the history is still
        intact, then hand each fused param its history, scaled, as the diff to accumulate into."""
        if not math.isfinite(loss) and self.stop_on_nonfinite:
            self.last_loss = loss
            raise NonFiniteLoss(self.iter, loss)
        for i, scale in self._fused.items():
            self.history[i].mul_(scale)
            self.learnable[i].blob.diff_tensor = self.history[i]

    @staticmethod
    def _net_loss(net, weights):
        return float(
            sum(
                w * float(np.sum(net.blobs[name].data, dtype=np.float64))
                for name, w in weights.items()
            )
        )

    def _forward_backward(self):
        if self.mixed is not None:
            return float(self.net.forward_backward(before_backward=self._scale_loss))
        if self._fused:
            return float(self.net.forward_backward(before_backward=self._ready_fused))
        if hasattr(self.net, "forward_backward"):
            return float(self.net.forward_backward())
        self.net.forward()
        loss = self._net_loss(self.net, self._loss_weights)
        self.net.backward()
        return loss

    def _reduce(self, loss):
        """All-reduce param diffs (mean over ranks, Caffe's multi-GPU), the loss and stop flags."""
        stop = self.action is not None and getattr(self.action, "stop_pending", False)
        if self.world == 1:
            return loss, False
        dist = torch.distributed
        diffs = [p.diff() for p in self.learnable]
        for d in diffs:
            dist.all_reduce(d, op=dist.ReduceOp.SUM)
            d.div_(self.world)
        flags = torch.tensor([loss, 1.0 if stop else 0.0], dtype=torch.float64)
        if diffs and diffs[0].device.type != "cpu" and dist.get_backend() == "nccl":
            flags = flags.to(diffs[0].device)
        dist.all_reduce(flags, op=dist.ReduceOp.SUM)
        flags = flags.cpu()
        return float(flags[0]) / self.world, bool(flags[1] > 0)

    def _update_smoothed_loss(self, loss, start_iter, average_loss):
        if len(self.losses) < average_loss:
            self.losses.append(loss)
            n = len(self.losses)
            self.smoothed_loss = (self.smoothed_loss * (n - 1) + loss) / n
        else:
            idx = (self.iter - start_iter) % average_loss
            self.smoothed_loss += (loss - self.losses[idx]) / average_loss
            self.losses[idx] = loss

    def _display(self):
        p = self.param
        lapse = time.time() - self._timer
        per_s = (self.iter - self._iters_last) / (lapse if lapse else 1)
        self.log(
            "iteration",
            f"Iteration {self.iter} ({fmt_float(per_s)} iter/s, {fmt_float(lapse)}s/"
            f"{p.display} iters), loss = {fmt_float(self.smoothed_loss)}",
        )
        self._timer, self._iters_last = time.time(), self.iter
        if self.mixed is not None:
            self.log("mixed", f"    Mixed precision {self.precision}: {self.mixed.status()}")
        k = 0
        for name in self.net.outputs:
            w = self._loss_weights.get(name, 0.0)
            for v in np.asarray(self.net.blobs[name].data).ravel():
                extra = f" (* {fmt_float(w)} = {fmt_float(w * v)} loss)" if w else ""
                self.log(
                    "train_output", f"    Train net output #{k}: {name} = {fmt_float(v)}{extra}"
                )
                k += 1

    def learning_rate(self) -> float:
        """The rate of the current iteration (advances the multistep counter like Caffe)."""
        rate, step = learning_rate(self.param, self.iter, self.current_step)
        if step != self.current_step and (self.param.lr_policy == "multistep"):
            self.log("multistep", f"MultiStep Status: Iteration {self.iter}, step = {step}")
        self.current_step = step
        return rate

    @property
    def lr(self) -> float:
        """The learning rate of the current iteration (pycaffe's SGDSolver.lr; no side effect)."""
        return learning_rate(self.param, self.iter, self.current_step)[0]

    _callbacks = ()  # (on_start, on_gradients_ready) pairs, in the order added

    def add_callback(
        self, on_start: Callable[[], Any], on_gradients_ready: Callable[[], Any]
    ) -> None:
        """Call on_start() at the start of every iteration (after testing, before the forward
        passes) and on_gradients_ready() before every update, as pycaffe's add_callback."""
        if not (callable(on_start) and callable(on_gradients_ready)):
            raise TypeError("add_callback(on_start, on_gradients_ready) takes two callables")
        self._callbacks = (*self._callbacks, (on_start, on_gradients_ready))

    def share_weights(self, net: _net.Net) -> None:
        """Make `net` use this solver's training weights (its layers of the same names), as
        pycaffe's share_weights (Net::ShareTrainedLayersWith)."""
        net.share_with(self.net)

    def apply_update(self) -> None:
        """Caffe's ApplyUpdate on the accumulated diffs, then data -= diff."""
        p = self.param
        rate = self.learning_rate()
        self.last_rate = rate
        if p.display and self.iter % p.display == 0:
            self.log("lr", f"Iteration {self.iter}, lr = {fmt_float(rate)}")
        datas = [q.data() for q in self.learnable]
        diffs = [q.diff() for q in self.learnable]
        norm, scale = upd.clip_gradients(diffs, p.clip_gradients)
        if scale != 1.0:
            self.log(
                "clip",
                f"Gradient clipping: scaling down gradients (L2 norm {fmt_float(norm)} > "
                f"{fmt_float(p.clip_gradients)}) by scale factor {fmt_float(scale)}",
            )
        n = len(self.learnable)
        for i, q in enumerate(self.learnable):
            data, diff = datas[i], diffs[i]
            if i in self._fused:  # diff is the history, scaled: see _fusable
                local_decay = float(np.float32(p.weight_decay)) * q.decay_mult
                upd.regularize(diff, data, local_decay, p.regularization_type)
                diff.mul_(rate * q.lr_mult)
                data.sub_(diff)
                q.commit(data, diff)
                q.blob.diff_equals(self.history[i])
                continue
            if p.iter_size > 1:
                diff.mul_(1.0 / p.iter_size)
            local_decay = float(np.float32(p.weight_decay)) * q.decay_mult
            upd.regularize(diff, data, local_decay, p.regularization_type)
            local_rate = rate * q.lr_mult
            self.compute_update(i, n, diff, local_rate)
            data.sub_(diff)
            q.commit(data, diff)

    def compute_update(self, i: int, n: int, diff: torch.Tensor, local_rate: float) -> None:
        """Leave in `diff` the step for learnable param i of n (momentum SGD)."""
        upd.sgd(diff, self.history[i], local_rate, _f32(self.param.momentum))


def _f32(x):
    return float(np.float32(x))


def _filtered(net_param, phase, level, stages):
    try:
        from .netstate import filter_net

        return filter_net(net_param, phase, level, stages)
    except ImportError:  # pragma: no cover - netstate ships with torchcaffe
        return net_param


class NesterovSolver(SGDSolver):
    """Nesterov's accelerated gradient, Caffe's formulation."""

    type_name = "Nesterov"

    def compute_update(self, i: int, n: int, diff: torch.Tensor, local_rate: float) -> None:
        upd.nesterov(diff, self.history[i], local_rate, _f32(self.param.momentum))


class AdaGradSolver(SGDSolver):
    """AdaGrad (momentum must be 0, as Caffe checks)."""

    type_name = "AdaGrad"

    def _check_param(self):
        super()._check_param()
        if self.param.momentum != 0:
            raise SolverConfigError(f"{self.path}: momentum cannot be used with AdaGrad")

    def compute_update(self, i: int, n: int, diff: torch.Tensor, local_rate: float) -> None:
        upd.adagrad(diff, self.history[i], local_rate, _f32(self.param.delta))


class RMSPropSolver(SGDSolver):
    """RMSProp with rms_decay (momentum must be 0, as Caffe checks)."""

    type_name = "RMSProp"

    def _check_param(self):
        super()._check_param()
        if self.param.momentum != 0:
            raise SolverConfigError(f"{self.path}: momentum cannot be used with RMSProp")
        if not 0 <= self.param.rms_decay <= 1:
            raise SolverConfigError(f"{self.path}: rms_decay must be in [0, 1]")

    def compute_update(self, i: int, n: int, diff: torch.Tensor, local_rate: float) -> None:
        upd.rmsprop(
            diff, self.history[i], local_rate, _f32(self.param.rms_decay), _f32(self.param.delta)
        )


class AdaDeltaSolver(SGDSolver):
    """AdaDelta; history holds E[g^2] for every param, then E[update^2] for every param."""

    type_name = "AdaDelta"
    blocks = 2

    def compute_update(self, i: int, n: int, diff: torch.Tensor, local_rate: float) -> None:
        upd.adadelta(
            diff,
            self.history[i],
            self.history[n + i],
            local_rate,
            _f32(self.param.momentum),
            _f32(self.param.delta),
        )


class AdamSolver(SGDSolver):
    """Adam (beta1 = momentum, beta2 = momentum2, eps = delta); history m... then v...."""

    type_name = "Adam"
    blocks = 2

    def compute_update(self, i: int, n: int, diff: torch.Tensor, local_rate: float) -> None:
        p = self.param
        upd.adam(
            diff,
            self.history[i],
            self.history[n + i],
            local_rate,
            _f32(p.momentum),
            _f32(p.momentum2),
            _f32(p.delta),
            self.iter + 1,
        )


SOLVERS = {
    "SGD": SGDSolver,
    "Nesterov": NesterovSolver,
    "AdaGrad": AdaGradSolver,
    "RMSProp": RMSPropSolver,
    "AdaDelta": AdaDeltaSolver,
    "Adam": AdamSolver,
}


def get_solver(
    path: str | os.PathLike,
    log: SolverLog | None = None,
    net_factory: Callable[..., Any] | None = None,
    precision: str | None = None,
    fuse_sgd: bool | None = None,
) -> SGDSolver:
    """The solver class named by the prototxt's `type` (or legacy solver_type), constructed;
    `precision` 'bf16'/'fp16' calls its set_precision (None/'fp32': Caffe's exact path);
    `fuse_sgd` as SGDSolver's."""
    param = caffeio.read_solver(str(path))
    cls = SOLVERS[solver_type(param, str(path))]
    solver = cls(str(path), log=log, net_factory=net_factory, fuse_sgd=fuse_sgd)
    if _mixed.parse(precision) != "fp32":
        solver.set_precision(precision)
    return solver


def _check_state(state, path):
    """Refuse a solverstate that would resume wrongly: an iteration or step Caffe cannot count
    (negative, or 2^31 - 1 and over), or no learned_net (the weights would silently stay at
    their initial values)."""
    check_counters(state, path)
