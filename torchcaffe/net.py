"""Net: builds a Caffe prototxt into torch computations with pycaffe's API and Caffe's rules.

Forward runs layer by layer; each layer's top tensors become its top Blobs' data (no copies:
in-place layers rebind the blob, Reshape/Flatten/Split tops share the bottom's memory). When the
net needs gradients (TRAIN phase or force_backward, and some layer under a loss), each layer is
recorded on its own: bottoms and parameters enter as fresh autograd leaves, so backward can run
layer by layer exactly as Caffe does (bottom diffs overwritten, Split diffs summed, parameter
diffs accumulated, start/end honoured, Python layers called with Blobs). Inference records
nothing.
"""

from __future__ import annotations

import os
import sys
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

import caffeio
from caffeio import caffe_pb2
from caffeio.weights_check import check_weights

from . import budget as _budget
from . import bufpool as _bufpool
from . import constregion as _cr
from . import device as _device
from . import hdf5 as _hdf5
from . import memory as _memory
from . import options as _options
from . import tuning as _tuning
from .blob import Blob, BlobVec
from .errors import MemoryBudgetError, NetError, WeightsError
from .fillers import fill
from .netapi import NetAPI
from .netstate import filter_net, insert_splits
from .ops import REGISTRY, Context

if TYPE_CHECKING:
    from .ops.base import BaseLayer

TRAIN, TEST = 0, 1

# Layers whose top is fresh memory that their own backward does not read: an in-place ReLU
# after them may overwrite it (Caffe's in-place memory saving, also while training).
_FRESH_TOP = {"Convolution", "Deconvolution", "InnerProduct", "Pooling"}
_CONV_TYPES = {"Convolution", "Deconvolution"}
# Layers whose tops may be much larger than their bottoms: checked against the free memory.
_SIZE_CHANGING = {"Convolution", "Deconvolution", "Pooling", "InnerProduct", "Concat"}

LearnableParam = namedtuple("LearnableParam", "layer index blob lr_mult decay_mult")


def layer_type_list() -> list[str]:
    """Sorted list of the Caffe layer type names torchcaffe implements."""
    return sorted(REGISTRY)


class LayerView:
    """What `net.layers[i]` shows: `.type`, `.name`, `.blobs` (parameter Blobs)."""

    def __init__(self, impl: BaseLayer) -> None:
        self._impl = impl

    type = property(lambda self: self._impl.type)
    name = property(lambda self: self._impl.name)
    blobs = property(lambda self: self._impl.blobs)
    impl = property(lambda self: self._impl)

    def __repr__(self):
        return f"<Layer {self.name!r} type {self.type}>"


def _parse_args(args, kwargs):
    """pycaffe's signatures: Net(file, phase, level=0, stages=None, weights=None) and the
    legacy Net(file, weights, phase)."""
    weights = kwargs.pop("weights", None)
    phase = kwargs.pop("phase", None)
    if len(args) == 1:
        phase = args[0] if phase is None else phase
    elif len(args) == 2:
        if isinstance(args[0], (str, os.PathLike)):
            weights, phase = args
        else:
            phase, weights = args
    elif len(args) > 2:
        raise TypeError("Net(file, phase[, weights]) or Net(file, weights, phase)")
    if phase not in (TRAIN, TEST):
        raise TypeError(f"Net: phase must be caffe.TRAIN (0) or caffe.TEST (1), got {phase!r}")
    return phase, weights


def _winograd_mode(winograd, fast, cpu, opts):
    """The Net's `winograd` (0, 2 or 4) from its argument, the fast mode and the options; CPU
    only by default (on CUDA its many small kernels cost more)."""
    if winograd is None:
        if fast:
            winograd = 4 if cpu else 0
        else:
            winograd = opts.winograd if opts.winograd is not None else (2 if cpu else 0)
    winograd = {True: 4, False: 0}.get(winograd, winograd)
    if str(winograd) not in ("0", "2", "4"):
        raise ValueError(f"Net: winograd={winograd!r}: use 0 (off), 2 (default) or 4 (fast)")
    return int(winograd)


def _wgrad_policy(t, winograd):
    """The weight-gradient choices of a net with host row `t` (None on CUDA: aten's); no
    Winograd when the net's `winograd` is 0 (direct convolutions everywhere)."""
    if t is None:
        return None
    from . import wgrad

    clauses = t.rules.wgrad_winograd if t.weight_grad != "aten" and winograd else ()
    return wgrad.Policy(clauses, t.weight_grad == "gemm", t.winograd_band_bytes)


def _buffer_pool(buffers, buffers_min_mb, cpu, opts):
    """The net's BufferPool (CPU nets with buffers on), else None; arguments beat options."""
    if buffers is None:
        buffers = opts.buffers
    if buffers_min_mb is None:
        buffers_min_mb = opts.buffers_min_mb
    min_bytes = int(float(buffers_min_mb) * (1 << 20))
    return _bufpool.BufferPool(min_bytes) if buffers and cpu else None


class Net(NetAPI):
    """A Caffe net run by PyTorch.

    Net(prototxt, phase, weights=None, level=0, stages=()) or legacy Net(prototxt, weights,
    phase). `prototxt` may also be a caffe_pb2.NetParameter. Options beyond pycaffe:
    `autocast=torch.bfloat16` runs layers under torch.autocast (not exact; off by default).
    `skip_const=True` (default on the CPU, off on CUDA; env TORCHCAFFE_SKIP_CONST=0/1 decides
    for both) lets inference compute
    only the part of each early map that differs from its padded area's per-channel constant
    (torchcaffe.constregion; equal to the full computation up to float rounding).
    `channels_last` feeds convolutions NHWC maps: default on for CPU nets, inference and
    training (oneDNN's NHWC direct convolutions are faster: FCN-8s conv1_2 0.15 s vs 0.22 s on
    an AVX-512 Xeon; MAX pooling 2-4x, the 16x16 deconvolution 4x; the same float32 products
    summed in another order), off on CUDA; env TORCHCAFFE_CHANNELS_LAST=0/1 decides.
    Intermediate blob arrays (and diffs) are then strided numpy views; the net's outputs stay
    C-ordered.
    `winograd` (env TORCHCAFFE_WINOGRAD; default 2 on the CPU, 0 on CUDA, where cuDNN's direct
    convolutions win) picks how inference computes 3x3 stride-1
    convolutions (torchcaffe.winograd): 2 = Winograd F(2x2, 3x3) from 256 channels, where it is
    faster (2.25x fewer multiplies; its error against float64 is below direct float32's, so this
    is the exact mode); 0 = always mkldnn's direct convolution; 4 = F(4x4, 3x3) from 128
    channels (256 with AVX-512; 4x fewer multiplies, error ~1e-5 of each map's range). Training
    takes F(2x2) by the exact rule (forward and bottom diffs; weight diffs stay aten's) unless
    winograd=0; never F(4x4).
    `fast=True` (env TORCHCAFFE_FAST=1) is the fastest exact-enough inference mode:
    winograd=4 (CPU) and channels_last.
    `buffers` (default True; env TORCHCAFFE_BUFFERS=0 turns it off): a CPU net keeps its large
    convolution maps (and, training, bottom diffs and pooled maps) in persistent grow-only
    buffers and computes large convolutions in row bands (torchcaffe.bufpool), so no iteration
    maps fresh pages for them. `band_mb` (env TORCHCAFFE_BAND_MB; default: the host table's)
    is a band's output size in MB, `buffers_min_mb` (env TORCHCAFFE_BUFFERS_MIN_MB, default 4)
    the smallest map kept in a buffer.
    Every default above comes from torchcaffe.options (the environment, or set_defaults) and
    the host's row of torchcaffe.tuning (the Winograd rules, channels_last, band size for the
    CPU's instruction set); a keyword argument beats both.
    Parameters, blobs and the tops of size-changing layers of 64 MB or more are checked against
    the free memory before they are allocated (torchcaffe.budget, TORCHCAFFE_MEMORY_LIMIT):
    MemoryBudgetError names the layer/blob, its shape and size.
    """

    def __init__(
        self,
        network_file: str | os.PathLike | caffe_pb2.NetParameter,
        *args: Any,
        level: int = 0,
        stages: Iterable[str] | None = None,
        autocast: torch.dtype | None = None,
        skip_const: bool | None = None,
        channels_last: bool | None = None,
        winograd: int | None = None,
        fast: bool | None = None,
        buffers: bool | None = None,
        band_mb: float | None = None,
        buffers_min_mb: float | None = None,
        **kwargs: Any,
    ) -> None:
        phase, weights = _parse_args(args, kwargs)
        if kwargs:
            raise TypeError(f"Net: unexpected arguments {sorted(kwargs)}")
        param = self._read_param(network_file)
        self._lines = None  # layer name -> prototxt line, read once on first use
        self._loaded = set()  # layers a copy_from has filled
        self.phase = phase
        self.device = _device.current_device()
        self.autocast = autocast
        self.autocast_fp32_types = frozenset()  # layer types kept fp32 under autocast (mixed.py)
        opts = _options.current()
        cpu = self.device.type == "cpu"
        # the host's row (Winograd rules, band size, channels_last) with the user's overrides
        self.tuning = _tuning.current() if cpu else None
        if skip_const is None:  # CPU: fewer FLOPs pay; CUDA: the extra small kernels cost more
            skip_const = cpu if opts.skip_const is None else opts.skip_const
        self.skip_const = bool(skip_const)
        if fast is None:
            fast = opts.fast
        self.winograd = _winograd_mode(winograd, fast, cpu, opts)
        self.band_bytes = self._band_bytes(band_mb, cpu)
        self._wgrad_policy = _wgrad_policy(self.tuning, self.winograd)
        self.channels_last = channels_last  # None: decided once the net is built (below)
        self._cinfo = {}
        self._cinfo_in = None
        param = self._prepare(param, phase, level, stages)
        self._param = param
        self.name = param.name
        self.force_backward = param.force_backward
        self._build()
        self.channels_last = self._channels_last(cpu, opts, fast)
        self._outputs_set = frozenset(self.outputs)
        if cpu or self.record_grad:  # CUDA's caching allocator reuses memory already
            _memory.fix_malloc_thresholds()
        # persistent large maps and banded convolutions (torchcaffe.bufpool); at inference they
        # hold the convolutions computed by regions (FCN-8s 500x500: kernel time per forward
        # 0.36 -> 0.12 s, minor faults 9,300 -> 5,700)
        self.bufpool = _buffer_pool(buffers, buffers_min_mb, cpu, opts)
        if weights is not None:
            self.copy_from(weights)

    def _read_param(self, network_file):
        """The upgraded NetParameter of a prototxt path or a NetParameter; sets `_where` (the
        file, or a name for a NetParameter) and `_source_path` (the file, or None)."""
        if isinstance(network_file, caffe_pb2.NetParameter):
            self._where = f"<NetParameter {network_file.name!r}>"
            param = caffeio.upgrade_net(network_file, self._where)
        else:
            self._where = os.fspath(network_file)
            param = caffeio.read_net(self._where)
        self._source_path = (
            None if isinstance(network_file, caffe_pb2.NetParameter) else self._where
        )
        return param

    def _band_bytes(self, band_mb, cpu):
        """Bytes of a row band of the large convolutions: the `band_mb` argument, else the host
        table's (None on CUDA)."""
        if band_mb is not None:
            band_mb = _options.VARS["TORCHCAFFE_BAND_MB"].parse("Net: band_mb", str(band_mb))
            return int(band_mb * (1 << 20))
        return self.tuning.band_bytes if cpu else None

    def _prepare(self, param, phase, level, stages):
        """`param` as Caffe runs it: filtered by (phase, level, stages), each layer's phase set,
        Split layers inserted."""
        param = filter_net(param, phase, level, stages or (), self._where)
        for lp in param.layer:
            if not lp.HasField("phase"):
                lp.phase = phase
        return insert_splits(param, self._where, self._layer_where)

    def _channels_last(self, cpu, opts, fast):
        """The built net's layout: the argument when given; else the host table's on the CPU
        (its training entry for a net that records gradients: NCHW trains faster on AVX2); on
        CUDA only in the fast mode, unless the environment says."""
        if self.channels_last is None:
            if cpu:
                t = self.tuning
                training = self.record_grad and t.train_channels_last is not None
                return bool(t.train_channels_last if training else t.channels_last)
            env = opts.channels_last
            return bool(env if env is not None else bool(fast))
        return bool(self.channels_last)

    # ------------------------------------------------------------------ building
    def _layer_where(self, lp):
        if self._source_path and self._lines is None:
            self._lines = caffeio.text.layer_lines(self._source_path)  # once: linear in layers
        line = self._lines.get(lp.name) if self._source_path else None
        return f"{self._where}:{line}" if line else self._where

    def _build(self):
        gen = _device.generator(self.device)
        self._impls, self._bottom_ids, self._top_ids = [], [], []
        self.blobs = OrderedDict()
        self._layer_names = []
        self._blob_loss = {}
        self._records = {}
        owners = {}  # shared param name -> (Blob, layer name)
        self._param_specs = []  # per layer: [(lr_mult, decay_mult, owned)]
        self.learnable_params_info = []
        seen_names = set()
        for lp in self._param.layer:
            self._check_layer(lp, seen_names)
            ctx = Context(lp.phase, self.device, gen, self._layer_where(lp))
            impl = REGISTRY[lp.type](lp, ctx)
            bids, tids = self._layer_blobs(impl, lp)
            self._check_counts(impl, lp)
            self._note_loss_weights(impl, lp, tids)
            self._impls.append(impl)
            self._bottom_ids.append(bids)
            self._top_ids.append(tids)
            self._layer_names.append(lp.name)
            self._setup_layer(impl, lp, bids, tids, owners)
        self._find_outputs()
        self._analyse_backward()
        self._find_in_place_relus()
        self.layers = [LayerView(i) if i.type != "Python" else i.obj for i in self._impls]
        self.layer_dict = OrderedDict(zip(self._layer_names, self.layers))
        self.params = OrderedDict(
            (n, impl.blobs) for n, impl in zip(self._layer_names, self._impls) if impl.blobs
        )
        self._seed_loss_diffs()

    def _check_layer(self, lp, seen_names):
        """NetError for a layer name seen before or a type torchcaffe lacks; notes the name."""
        if lp.name in seen_names:
            raise NetError(f"{self._layer_where(lp)}: duplicate layer name '{lp.name}'")
        seen_names.add(lp.name)
        if lp.type not in REGISTRY:
            raise NetError(
                f"{self._layer_where(lp)}: layer '{lp.name}' has unknown type '{lp.type}'. "
                f"torchcaffe implements: {', '.join(layer_type_list())}"
            )

    def _layer_blobs(self, impl, lp):
        """(bottom names, top names) of a new layer; its new tops become (empty) blobs. A bottom
        must exist; a top may be made once, or again in place as top j = bottom j (Caffe)."""
        bids = []
        for b in lp.bottom:
            if b not in self.blobs:
                raise NetError(
                    f"{impl.where}: bottom '{b}' is not a blob of this net (for this phase)"
                )
            bids.append(b)
        tids = []
        for j, t in enumerate(lp.top):
            if t in self.blobs and not (j < len(lp.bottom) and lp.bottom[j] == t):
                raise NetError(f"{impl.where}: top '{t}' is produced by more than one layer")
            if t not in self.blobs:
                self.blobs[t] = Blob((), self.device, t)
            tids.append(t)
        return bids, tids

    @staticmethod
    def _check_counts(impl, lp):
        """Caffe's rules: no propagate_down or one per bottom, no loss_weight or one per top."""
        if len(lp.propagate_down) not in (0, len(lp.bottom)):
            raise NetError(
                f"{impl.where}: {len(lp.propagate_down)} propagate_down values for "
                f"{len(lp.bottom)} bottoms"
            )
        if len(lp.loss_weight) not in (0, len(lp.top)):
            raise NetError(
                f"{impl.where}: {len(lp.loss_weight)} loss_weight values for {len(lp.top)} tops"
            )

    def _note_loss_weights(self, impl, lp, tids):
        """The layer's nonzero loss weights into _blob_loss (a loss layer's top 0 weighs 1
        unless loss_weight says)."""
        for j, t in enumerate(tids):
            if len(lp.loss_weight):
                w = lp.loss_weight[j]
            else:
                w = 1.0 if (impl.is_loss and j == 0) else 0.0
            if w:
                self._blob_loss[t] = float(w)

    def _setup_layer(self, impl, lp, bids, tids, owners):
        """The new (last) layer's parameters and top shapes; a failure is a NetError naming
        the layer and its bottom shapes (a Python layer's own exception goes up as it is)."""
        bottoms = [self.blobs[b] for b in bids]
        tops = [self.blobs[t] for t in tids]
        try:
            self._setup_params(impl, lp, bottoms, owners)
            if getattr(impl, "top_is_param", False):  # Parameter: Caffe shares data and diff
                self.blobs[tids[0]] = tops[0] = impl.blobs[0]
            if impl.acts_on_blobs:
                impl.setup_blobs(bottoms, tops)
            else:
                self._reshape_layer(len(self._impls) - 1)
        except NetError:
            raise
        except (RuntimeError, ValueError, IndexError, ArithmeticError) as e:
            if impl.type == "Python":  # the layer's own exception, noted (ops.python)
                raise
            raise NetError(
                f"{impl.where}: setup failed with bottoms {[tuple(b.shape) for b in bottoms]}: {e}"
            ) from e
        if hasattr(impl, "param_blobs"):  # a Python layer's blobs: its parameters
            self._adopt_params(impl, lp, owners)

    def _find_outputs(self):
        """Caffe's net outputs: blobs still available at the end (a bottom is consumed, a top
        made available again, so an in-place layer's top is an output), in name order; the
        inputs (Input layers' tops); the live blobs (outputs that are not inputs)."""
        available = set()
        for bids, tids in zip(self._bottom_ids, self._top_ids):
            available.difference_update(bids)
            available.update(tids)
        self.outputs = sorted(available)
        self.inputs = [
            t for impl, ids in zip(self._impls, self._top_ids) if impl.type == "Input" for t in ids
        ]
        self._live = set(self.outputs) - set(self.inputs)

    def _setup_params(self, impl, lp, bottoms, owners):
        shapes = impl.param_shapes([b.shape for b in bottoms]) if not impl.acts_on_blobs else []
        if len(lp.param) > len(shapes) and not impl.acts_on_blobs:  # Caffe's AppendParam
            raise NetError(f"{impl.where}: {len(lp.param)} param specs for {len(shapes)} blob(s)")
        specs = []
        impl.blobs = BlobVec((), self.device, lp.name)
        for k, (shape, filler) in enumerate(shapes):
            spec = lp.param[k] if k < len(lp.param) else caffe_pb2.ParamSpec()
            lr = 0.0 if impl.type == "BatchNorm" else spec.lr_mult
            blob = self._shared_param(impl, k, spec, shape, owners)
            if blob is not None:
                impl.blobs.append(blob)
                specs.append((lr, spec.decay_mult, False))
                continue
            _budget.check(
                _budget.tensor_bytes(shape),
                f"{impl.where}: parameter blob {k} {tuple(shape)}",
                self.device,
                "lower num_output or the kernel size, or check the input shape",
            )
            t = fill(filler, shape, _device.generator(torch.device("cpu")), impl.where)
            blob = Blob((), self.device, f"{lp.name}[{k}]")
            blob.data_tensor = t
            impl.blobs.append(blob)
            if spec.name:
                owners[spec.name] = (blob, lp.name)
            specs.append((lr, spec.decay_mult, True))
            self.learnable_params_info.append(LearnableParam(lp.name, k, blob, lr, spec.decay_mult))
        self._param_specs.append(specs)

    def _shared_param(self, impl, k, spec, shape, owners):
        """The owner's Blob when ParamSpec `spec` (blob k) names a param an earlier layer owns
        (Caffe's sharing by name; shapes must agree, or counts in PERMISSIVE mode), else None."""
        if not (spec.name and spec.name in owners):
            return None
        blob, owner = owners[spec.name]
        strict = spec.share_mode != caffe_pb2.ParamSpec.PERMISSIVE
        if (strict and blob.shape != tuple(shape)) or blob.count != int(np.prod(shape)):
            raise NetError(
                f"{impl.where}: shared param '{spec.name}' (blob {k}) has shape "
                f"{tuple(shape)} here but {blob.shape} in owner layer '{owner}'"
            )
        return blob

    def _adopt_params(self, impl, lp, owners):
        """A Python layer's blobs (added by its setup) become its parameters, as Caffe's
        AppendParam makes them after SetUp: lr_mult/decay_mult from the layer's `param` specs
        (default 1), shared by ParamSpec name like any layer's."""
        blobs = impl.param_blobs()
        specs = []
        for k, blob in enumerate(blobs):
            spec = lp.param[k] if k < len(lp.param) else caffe_pb2.ParamSpec()
            owned = self._shared_param(impl, k, spec, blob.shape, owners)
            if owned is not None:
                blobs[k] = owned
                specs.append((spec.lr_mult, spec.decay_mult, False))
                continue
            blob.name = f"{lp.name}[{k}]"
            if spec.name:
                owners[spec.name] = (blob, lp.name)
            specs.append((spec.lr_mult, spec.decay_mult, True))
            info = LearnableParam(lp.name, k, blob, spec.lr_mult, spec.decay_mult)
            self.learnable_params_info.append(info)
        impl.blobs = blobs
        self._param_specs[-1] = specs

    def _analyse_backward(self):
        """Caffe's Net::Init need-backward analysis (params with lr_mult != 0, blobs under a
        loss, propagate_down, force_backward)."""
        self._need_from_inputs()
        self._need_under_loss()
        if self.force_backward:
            self._force_need()
        self._drop_no_backward_bottoms()
        self.record_grad = (self.phase == TRAIN or self.force_backward) and any(self._layer_need)

    def _need_from_inputs(self):
        """Forward pass of the analysis: a layer needs backward when a bottom does (or its
        propagate_down says) or a parameter learns (lr_mult != 0); its tops then need it too."""
        blob_need = {}
        self._layer_need = [False] * len(self._impls)
        self._bottom_need = []
        self._param_need = []
        for i, impl in enumerate(self._impls):
            lp = impl.lp
            need = any(blob_need.get(b, False) for b in self._bottom_ids[i])
            bneed = []
            for j, b in enumerate(self._bottom_ids[i]):
                bn = blob_need.get(b, False)
                if len(lp.propagate_down):
                    bn = bool(lp.propagate_down[j])
                bneed.append(bn)
            pneed = [lr != 0 for lr, _, _ in self._param_specs[i]]
            need = need or any(pneed)
            for t in self._top_ids[i]:
                blob_need[t] = need
            self._layer_need[i] = need and impl.differentiable
            self._bottom_need.append(bneed)
            self._param_need.append(pneed)

    def _need_under_loss(self):
        """Backward pass of the analysis: layers that contribute to no loss need no backward;
        nor do those whose tops' diffs all go unused below (the bottoms then need none)."""
        under_loss, skip = set(), set()
        for i in reversed(range(len(self._impls))):
            contributes, skip_down = self._top_roles(i, under_loss, skip)
            if self._layer_need[i] and skip_down:
                self._layer_need[i] = False
                self._bottom_need[i] = [False] * len(self._bottom_need[i])
            if not contributes:
                self._layer_need[i] = False
            for j, b in enumerate(self._bottom_ids[i]):
                if contributes:
                    under_loss.add(b)
                else:
                    self._bottom_need[i][j] = False
                if not self._bottom_need[i][j]:
                    skip.add(b)

    def _top_roles(self, i, under_loss, skip):
        """(contributes, skip_down) of layer i: some top is a loss or under one; every top's
        diff goes unused below (in `skip`)."""
        contributes, skip_down = False, True
        for t in self._top_ids[i]:
            if self._blob_loss.get(t, 0) != 0 or t in under_loss:
                contributes = True
            if t not in skip:
                skip_down = False
            if contributes and not skip_down:
                break
        return contributes, skip_down

    def _force_need(self):
        """force_backward: every differentiable layer, its bottoms (where the layer allows)
        and its parameters need backward."""
        for i, impl in enumerate(self._impls):
            if not impl.differentiable:
                continue
            self._layer_need[i] = True
            self._bottom_need[i] = [
                bn or impl.allow_force_backward(j) for j, bn in enumerate(self._bottom_need[i])
            ]
            self._param_need[i] = [True] * len(self._param_need[i])

    def _drop_no_backward_bottoms(self):
        """Bottoms a layer never backpropagates to (labels) need no diff; Caffe layers whose
        backward writes bottom diffs that propagate_down left out (MVN, Im2col, LSTMUnit, RNN,
        LSTM) say which, given the others."""
        for i, impl in enumerate(self._impls):
            for j in impl.no_backward_bottoms:
                if j < len(self._bottom_need[i]):
                    self._bottom_need[i][j] = False
            widen = getattr(impl, "caffe_backward_bottoms", None)
            if widen is not None and self._layer_need[i]:
                self._bottom_need[i] = widen(list(self._bottom_need[i]))

    def _find_in_place_relus(self):
        """Layer indices of ReLUs that may overwrite their bottom (in place in the prototxt,
        bottom made by a _FRESH_TOP layer, so no other blob or recorded graph reads it)."""
        producer = {}
        self._relu_in_place = set()
        for i, impl in enumerate(self._impls):
            bids, tids = self._bottom_ids[i], self._top_ids[i]
            if (
                impl.type == "ReLU"
                and tids == bids
                and impl.can_run_in_place
                and producer.get(bids[0]) in _FRESH_TOP
            ):
                self._relu_in_place.add(i)
            for t in tids:
                producer[t] = impl.type

    def _seed_loss_diffs(self):
        for t, w in self._blob_loss.items():
            b = self.blobs[t]
            b.diff_tensor = torch.full(b.shape, w, device=self.device)

    # ------------------------------------------------------------------ pycaffe surface
    @property
    def _blob_names(self):
        return list(self.blobs)

    @property
    def blob_loss_weights(self) -> OrderedDict[str, float]:
        """OrderedDict blob name -> loss weight (0 for blobs that are not losses)."""
        return OrderedDict((n, self._blob_loss.get(n, 0.0)) for n in self.blobs)

    @property
    def _blob_loss_weights(self):
        return list(self.blob_loss_weights.values())

    @property
    def top_names(self) -> OrderedDict[str, list[str]]:
        return OrderedDict(zip(self._layer_names, (list(t) for t in self._top_ids)))

    @property
    def bottom_names(self) -> OrderedDict[str, list[str]]:
        return OrderedDict(zip(self._layer_names, (list(b) for b in self._bottom_ids)))

    @property
    def layer_need_backward(self) -> list[bool]:
        return list(self._layer_need)

    @property
    def learnable_params(self) -> list[Blob]:
        """Blobs of every learnable parameter (shared ones once), in Caffe's order."""
        return [p.blob for p in self.learnable_params_info]

    @property
    def params_lr(self) -> list[float]:
        return [p.lr_mult for p in self.learnable_params_info]

    @property
    def params_weight_decay(self) -> list[float]:
        return [p.decay_mult for p in self.learnable_params_info]

    def accumulating_param_blobs(self) -> set[int]:
        """ids of the parameter blobs that only built-in layers write: their backward adds the
        gradient into the diff (never assigns it), which the solver's fused SGD step needs."""
        foreign = {
            id(b)
            for impl in self._impls
            if impl.acts_on_blobs or getattr(impl, "top_is_param", False)  # diff assigned
            for b in impl.blobs
        }
        return {id(b) for impl in self._impls for b in impl.blobs} - foreign

    def clear_param_diffs(self, skip: Collection[int] = ()) -> None:
        """Zero every parameter diff (what Caffe's solver does before each iteration), except
        the blobs whose id is in `skip`."""
        for impl in self._impls:
            for b in impl.blobs:
                if id(b) not in skip:
                    b.diff_tensor.zero_()

    def _index(self, name, default):
        if name is None:
            return default
        try:
            return self._layer_names.index(name)
        except ValueError:
            raise NetError(f"{self._where}: no layer named '{name}' in this net") from None

    def forward(
        self,
        blobs: Iterable[str] | None = None,
        start: str | None = None,
        end: str | None = None,
        **kwargs: Any,
    ) -> OrderedDict[str, np.ndarray]:
        """Run layers start..end (names, inclusive; default all). kwargs set input blobs
        (arrays; a different shape reshapes the blob). Returns {blob: data} for the net's
        outputs, or the tops of layer `end` when it is given, plus the blobs named in `blobs`
        (pycaffe's rule)."""
        first, last = self._index(start, 0), self._index(end, len(self._impls) - 1)
        ends = self._top_ids[last] if end is not None else self.outputs
        outputs = list(ends) + [b for b in (blobs or []) if b not in ends]
        for name in outputs:
            if name not in self.blobs:
                raise KeyError(f"{self._where}: forward(blobs=...) names '{name}', not a blob")
        for name in kwargs:
            if name not in self.blobs:
                raise NetError(f"{self._where}: forward() got '{name}', which is not a blob")
        for name, arr in kwargs.items():
            arr = np.asarray(arr, dtype=np.float32)
            if arr.shape != self.blobs[name].shape:
                self.blobs[name].reshape(arr.shape)
            self.blobs[name].data[...] = arr
        self._forward(first, last)
        return OrderedDict((o, self.blobs[o].data) for o in outputs)

    def backward(
        self,
        diffs: Iterable[str] | None = None,
        start: str | None = None,
        end: str | None = None,
        **kwargs: Any,
    ) -> OrderedDict[str, np.ndarray]:
        """Backpropagate layers start..end (names; default last..first). kwargs set top diffs.
        Returns {blob: diff} for the net's inputs, or the bottoms of layer `end` when it is
        given, plus the blobs named in `diffs` (pycaffe's rule). Layers not run forward since
        their last backward compute from their blobs' current contents, as in Caffe."""
        first, last = self._index(start, len(self._impls) - 1), self._index(end, 0)
        ends = self._bottom_ids[last] if end is not None else self.inputs
        outputs = list(ends) + [d for d in (diffs or []) if d not in ends]
        for name in outputs:
            if name not in self.blobs:
                raise KeyError(f"{self._where}: backward(diffs=...) names '{name}', not a blob")
        for name, arr in kwargs.items():
            if name not in self.blobs:
                raise NetError(f"{self._where}: backward() got '{name}', which is not a blob")
            self.blobs[name].diff[...] = arr
        self._backward(first, last)
        return OrderedDict((o, self.blobs[o].diff) for o in outputs)

    def _forward(self, start, end):
        loss = None
        self._cinfo = {}
        hooks = self._callbacks
        for i in range(start, end + 1):
            if hooks:
                hooks.run("before_forward", i)
            self._forward_layer(i)
            if hooks:
                hooks.run("after_forward", i)
            for t in self._top_ids[i]:
                w = self._blob_loss.get(t)
                if w:
                    term = self.blobs[t].data_tensor.sum() * w
                    loss = term if loss is None else loss + term
        self._loss = loss
        self._seed_loss_diffs()
        return loss

    def forward_backward(self, before_backward: Callable[[float], Any] | None = None) -> float:
        """One forward and one backward over the whole net; returns the loss (float).
        `before_backward(loss)` (optional) runs between the two passes (the solver checks the
        loss there and readies its fused parameter diffs)."""
        if self.record_grad:
            # The full backward rewrites the blob diffs: release last pass's now rather than
            # carry a second set of maps through the forward (unwritten ones read as zeros).
            for name, blob in self.blobs.items():
                if name not in self._blob_loss:
                    blob.release_diff()
        loss = self._forward(0, len(self._impls) - 1)
        loss = float(loss) if loss is not None else 0.0
        if before_backward is not None:
            before_backward(loss)
        self._backward(len(self._impls) - 1, 0)
        return loss

    @property
    def loss(self) -> float:
        """Sum of loss_weight * top over loss tops of the last forward (float)."""
        return float(self._loss) if getattr(self, "_loss", None) is not None else 0.0

    def _fail(self, i, what, e):
        impl = self._impls[i]
        shapes = [self.blobs[b].shape for b in self._bottom_ids[i]]
        return NetError(f"{impl.where}: {what} failed with bottom shapes {shapes}: {e}")

    def _forward_layer(self, i):
        impl = self._impls[i]
        bottoms = [self.blobs[b] for b in self._bottom_ids[i]]
        tops = [self.blobs[t] for t in self._top_ids[i]]
        if impl.acts_on_blobs:
            impl.forward_blobs(bottoms, tops)
            return
        try:
            xs = [b.data_tensor for b in bottoms]
        except MemoryBudgetError as e:
            raise MemoryBudgetError(f"{impl.where}: bottom: {e}") from None
        ws = [b.data_tensor for b in impl.blobs]
        self._check_forward_bytes(i, impl, xs, ws)
        record = self.record_grad and self._layer_need[i]
        if self.channels_last and impl.type in _CONV_TYPES:
            cl = torch.channels_last
            _budget.check_layout_copies(xs, self._bottom_ids[i], impl.where, self.device)
            xs = [x.contiguous(memory_format=cl) if x.dim() == 4 else x for x in xs]
        if i in self._relu_in_place and self.autocast is None:
            self._relu_forward_in_place(i, impl, xs, tops[0], record)
            return
        try:
            outs = self._layer_outputs(i, impl, xs, ws, record)
        except NetError:
            raise
        except (RuntimeError, ValueError, IndexError) as e:
            raise self._fail(i, "forward", e) from e
        self._set_tops(impl, tops, outs)

    def _check_forward_bytes(self, i, impl, xs, ws):
        """The memory budget before layer i allocates its tops (torchcaffe.budget)."""
        if impl.type in _SIZE_CHANGING:
            self._check_top_bytes(i, impl, xs, ws)
        elif xs and impl.type in _budget.SAME_SHAPE:
            _budget.check_new_tops(
                xs[0], self._top_ids[i], self._bottom_ids[i], impl.where, self.device
            )

    def _relu_forward_in_place(self, i, impl, xs, top, record):
        """An in-place ReLU over its bottom's memory (_find_in_place_relus); its backward reads
        the output, recorded when `record`."""
        with torch.no_grad():
            y = impl.forward_in_place(xs[0])
        if record:
            self._records[i] = ([], [], [y])
        self._track_const(i, impl, xs)
        top.data_tensor = y

    def _layer_outputs(self, i, impl, xs, ws, record):
        """Layer i's top tensors, recorded for its backward when `record`. Convolutions record
        no autograd graph: their backward is aten's convolution_backward on the saved input and
        weights, so the forward may be computed by regions."""
        manual = record and impl.type in _CONV_TYPES and self.autocast is None
        outs = None
        if self.skip_const and self.autocast is None:
            outs = self._track_const(i, impl, xs, ws=ws)
        if manual:
            if outs is None:
                with torch.no_grad():
                    outs = self._plain_forward(impl, xs, ws)
            self._forget_transform(impl, ws)
            src = self._cinfo_in if self.skip_const else None
            self._records[i] = (xs, ws, outs, src)
        elif outs is None:
            outs = self._forward_whole(i, impl, xs, ws, record)
        if self.skip_const and impl.type == "Pooling" and self.autocast is None:
            self._track_const(i, impl, xs, outs=outs)
        return outs

    def _forward_whole(self, i, impl, xs, ws, record):
        """Layer i's tops computed whole: training MAX pooling into the BufferPool, or recorded
        by autograd (bottoms and parameters as fresh leaves) when `record`, else plainly."""
        if record:
            pooled = self._pool_manual(i, impl, xs, ws)
            if pooled is not None:
                return pooled
            xs = [x.detach().requires_grad_(n) for x, n in zip(xs, self._bottom_need[i])]
            ws_rec = [w.detach().requires_grad_(n) for w, n in zip(ws, self._param_need[i])]
            with torch.enable_grad(), self._autocast(impl):
                outs = impl.forward(xs, ws_rec)
            self._records[i] = (xs, ws_rec, outs)
            return outs
        with torch.no_grad(), self._autocast(impl):
            return self._plain_forward(impl, xs, ws)

    def _set_tops(self, impl, tops, outs):
        """The layer's outputs become its top blobs' data (no copy, except into the memory of
        live net outputs; NHWC net outputs are made C-ordered, as pycaffe's arrays are)."""
        for t, o in zip(tops, outs):
            if t.name in self._outputs_set and o.dim() == 4 and not o.is_contiguous():
                o = o.contiguous()  # the net's outputs stay C-ordered arrays (pycaffe's)
            live = t.name in self._live and t.name not in impl.lp.bottom
            if live and tuple(o.shape) == t.shape and t.materialized:
                # Net outputs keep their memory, so arrays scripts hold stay live (pycaffe).
                # Not for in-place tops: the layer's own recorded input aliases that memory.
                t.data_tensor.copy_(o.detach())
            else:
                t.data_tensor = o

    def _check_top_bytes(self, i, impl, xs, ws):
        """Before a size-changing layer allocates its tops: their bytes (from a shape-only pass,
        redone when the bottom shapes change) against the free memory (torchcaffe.budget)."""
        shapes = tuple(tuple(x.shape) for x in xs)
        if getattr(impl, "_budget_shapes", None) == shapes:
            return
        try:
            with torch.no_grad():
                outs = impl.forward(
                    [torch.empty(s, device="meta") for s in shapes],
                    [torch.empty(w.shape, device="meta") for w in ws],
                )
        except NetError:
            raise
        except (RuntimeError, ValueError, IndexError, ArithmeticError) as e:
            raise self._fail(i, "forward", e) from e
        for t, o in zip(self._top_ids[i], outs):
            _budget.check(
                _budget.tensor_bytes(o.shape),
                f"{impl.where}: top '{t}' {tuple(o.shape)}",
                self.device,
                "use a smaller input (solvers.infer --tile for big images) or another device",
            )
        impl._budget_shapes = shapes

    def _track_const(self, i, impl, xs, ws=None, outs=None):
        """Constant-area bookkeeping (torchcaffe.constregion) for inference. For a Convolution
        returns its outputs computed by regions (None: compute normally); for Pooling (called
        with its outputs), ReLU and Dropout records what their tops look like."""
        info = self._cinfo
        bids, tids = self._bottom_ids[i], self._top_ids[i]
        src = info.get(bids[0]) if bids else None
        self._cinfo_in = src
        for t in tids:
            info.pop(t, None)
        if not self.skip_const:
            return None
        t = impl.type
        x = xs[0] if xs else None
        if t == "Convolution" and len(xs) == 1 and x.dim() == 4 and x.shape[0] > 0:
            kernel, pad, stride, dil = impl.geom
            b = ws[1] if impl.bias_term else None
            conv = self._winograd_conv(impl, xs, ws)
            alloc, band = self._buffers(i, "top")
            layout = src or _cr.full_info(x)
            res = _cr.conv2d_by_regions(
                x, layout, ws[0], b, stride, pad, dil, impl.group, conv, alloc, band
            )
            if res is None:
                return None
            info[tids[0]] = res[1]
            return [res[0]]
        if src is None or src.const is None:
            return None
        if t == "ReLU":
            info[tids[0]] = _cr.relu_info(src, impl.lp.relu_param.negative_slope)
        elif t == "Split":
            for top in tids:  # every top is the bottom
                info[top] = src
        elif t == "Dropout" and impl.phase != TRAIN:
            info[tids[0]] = src
        elif t == "Pooling" and outs and impl.method == "MAX" and not impl.glob and x.dim() == 4:
            y = outs[0]
            info[tids[0]] = _cr.pool_info(src, x.shape, y.shape, impl.kernel, impl.pad, impl.stride)
        return None

    def _plain_forward(self, impl, xs, ws):
        """The layer's outputs computed whole (no regions): by Winograd where _winograd_conv
        takes the layer, else impl.forward (which it also falls back to, e.g. fc6's GEMM)."""
        conv = self._winograd_conv(impl, xs, ws)
        if conv is None:
            return impl.forward(xs, ws)
        b = ws[1] if impl.bias_term else None
        whole = lambda: impl.forward(xs, ws)[0]  # noqa: E731
        return [conv(xs[0], ws[0], b, (1, 1), impl.geom[1], (1, 1), 1, whole)]

    def _winograd_conv(self, impl, xs, ws):
        """A conv2d-like callable using Winograd for convolutions that gain by it (3x3, stride 1,
        no dilation, one group, float32, one 4-D bottom), else None; pieces it does not pay on
        (edge strips, narrow layers) go to F.conv2d inside it. Training takes F(2x2) only (the
        exact mode's rule, whatever `winograd`), its filter transform dropped after the layer
        (_forget_transform): the weights change every iteration, and keeping the transforms
        of FCN-8s' 256-512-channel layers would hold ~100 MB."""
        if not self.winograd or impl.type != "Convolution" or self.autocast is not None:
            return None
        if len(xs) != 1 or xs[0].dim() != 4 or xs[0].dtype != torch.float32:
            return None
        kernel, pad, stride, dil = impl.geom
        w = ws[0]
        train = self.record_grad
        if stride != (1, 1) or dil != (1, 1) or impl.group != 1:
            return None
        # 3x3: F(2x2) in the exact mode, F(4x4)/F(2x2) in the fast one; 7x7 (fc6): F(2x2, 7x7)
        # in the fast mode only (its error equals direct float32's, but U costs 537 MB at fc6)
        if kernel != (3, 3) and not (kernel == (7, 7) and self.winograd == 4 and not train):
            return None
        from . import winograd as _wg

        stamp = impl.blobs[0].host_reads  # `.data` handed out: maybe written through numpy
        if getattr(impl, "_wg_stamp", None) != stamp:
            _wg.forget(w)
            impl._wg_stamp = stamp
        r = kernel[0]

        rules = self.tuning.rules if self.tuning is not None else None
        band = self.tuning.winograd_band_bytes if self.tuning is not None else None

        def pick(cin, cout, h, wd):
            if self.winograd == 4 and not train:
                return _wg.winograd_tile(cin, cout, h, wd, k=r, rules=rules)
            return _wg.exact_tile(cin, cout, h, wd, rules=rules)

        def conv(x, weight, bias, stride_, padding, dilation, groups, otherwise=None):
            h, wd = x.shape[2] + 2 * padding[0] - r + 1, x.shape[3] + 2 * padding[1] - r + 1
            tile = pick(w.shape[1], w.shape[0], h, wd)
            if tile:
                return _wg.winograd_conv2d(
                    x, weight, bias, padding=tuple(padding), tile=tile, band_bytes=band
                )
            if otherwise is not None:  # the layer's own path (im2col + GEMM for fc6-like ones)
                return otherwise()
            return F.conv2d(x, weight, bias, stride_, padding, dilation, groups)

        return conv

    def _forget_transform(self, impl, ws):
        """After a training forward: drop the Winograd filter transform of the layer's weights
        (recomputed from the updated weights next time, a few ms; see _winograd_conv)."""
        if self.winograd and impl.type == "Convolution" and ws:
            from . import winograd as _wg

            _wg.forget(ws[0])

    def _buffers(self, i, role):
        """(alloc(shape), band bytes) for layer i's `role` from the net's BufferPool, or
        (None, None) when the net has none (inference, buffers=False)."""
        pool = self.bufpool
        if pool is None or self.autocast is not None:
            return None, None

        def alloc(shape, dtype=torch.float32, part=0, memory_format=torch.contiguous_format):
            return pool.empty((i, role, part), shape, dtype, self.device, memory_format)

        return alloc, self.band_bytes

    def _pool_manual(self, i, impl, xs, ws):
        """Training MAX pooling into the BufferPool (recorded for backward_manual with its
        indices); None when the net has no pool or the layer takes another path."""
        if impl.type != "Pooling" or self.autocast is not None:
            return None
        alloc, _ = self._buffers(i, "top")
        res = impl.forward_manual(xs, alloc) if alloc is not None else None
        if res is None:
            return None
        self._records[i] = (xs, ws, res[0], res[1])
        return res[0]

    def _autocast(self, impl=None):
        if self.autocast is None or (impl is not None and impl.type in self.autocast_fp32_types):
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.autocast)

    def _backward(self, start, end):
        hooks = self._callbacks
        for i in range(start, end - 1, -1):
            if hooks:
                hooks.run("before_backward", i)
            if self._layer_need[i]:
                self._backward_layer(i)
            if hooks:
                hooks.run("after_backward", i)

    def _backward_layer(self, i):
        impl = self._impls[i]
        bottoms = [self.blobs[b] for b in self._bottom_ids[i]]
        tops = [self.blobs[t] for t in self._top_ids[i]]
        bneed = self._bottom_need[i]
        if impl.acts_on_blobs:
            impl.backward_blobs(tops, bneed, bottoms)
            return
        rec = self._records.pop(i, None)
        if rec is not None and i in self._relu_in_place and self.autocast is None:
            if bneed[0]:
                bottoms[0].diff_tensor = impl.backward_from_output(tops[0].diff_tensor, rec[2][0])
            return
        if rec is not None and len(rec) == 4:
            self._backward_manual(i, impl, rec, bottoms, tops, bneed)
            return
        if rec is None:  # no forward since the last backward: from the blobs as they are
            rec = self._record_layer(i)
        xs = rec[0]
        gx, gw = self._recorded_grads(i, impl, rec, tops, bneed)
        for b, g, n, x in zip(bottoms, gx, bneed, xs):
            if n:
                b.diff_tensor = g if g is not None else torch.zeros_like(x)
        for p, g, n in zip(impl.blobs, gw, self._param_need[i]):
            if n and g is not None:
                p.diff_tensor.add_(g)

    def _backward_manual(self, i, impl, rec, bottoms, tops, bneed):
        """Backward of a layer recorded for its own backward_manual (convolutions, pooled MAX
        pooling): bottom diffs assigned, parameter diffs accumulated by the layer."""
        xs, ws, _, in_info = rec
        pneed = self._param_need[i]
        kw = {}
        if impl.type == "Convolution" and self.autocast is None:
            kw["winograd"] = self.winograd
            kw["wgrad"] = self._wgrad_policy
        try:
            gx = impl.backward_manual(
                [t.diff_tensor for t in tops],
                xs,
                ws,
                bneed,
                pneed,
                [p.diff_tensor if n else None for p, n in zip(impl.blobs, pneed)],
                in_info,
                *self._buffers(i, "bottom_diff"),
                **kw,
            )
        except (RuntimeError, ValueError) as e:
            raise self._fail(i, "backward", e) from e
        for b, g, n in zip(bottoms, gx, bneed):
            if n:
                b.diff_tensor = g

    def _recorded_grads(self, i, impl, rec, tops, bneed):
        """(bottom grads, parameter grads) of recorded layer i (None where not needed or not
        reached), by the layer's explicit backward or by autograd over its record."""
        xs, ws, outs = rec[:3]
        top_diffs = [t.diff_tensor for t in tops]
        try:
            if impl.explicit_backward is not None:
                gx, gw = impl.explicit_backward(top_diffs, xs, ws, bneed)
                return gx, gw or [None] * len(ws)
            return self._autograd_grads(i, xs, ws, outs, top_diffs, bneed)
        except NetError:
            raise
        except (RuntimeError, ValueError) as e:
            raise self._fail(i, "backward", e) from e

    def _autograd_grads(self, i, xs, ws, outs, top_diffs, bneed):
        """autograd.grad of layer i's recorded outputs for the bottoms and parameters that
        need it: (bottom grads, parameter grads), None elsewhere."""
        pneed = self._param_need[i]
        want = [x for x, n in zip(xs, bneed) if n]
        wantw = [w for w, n in zip(ws, pneed) if n]
        pairs = [(o, d) for o, d in zip(outs, top_diffs) if o.requires_grad]
        if pairs and (want or wantw):
            grads = torch.autograd.grad(
                [o for o, _ in pairs],
                want + wantw,
                [d for _, d in pairs],
                allow_unused=True,
            )
        else:
            grads = [None] * (len(want) + len(wantw))
        it = iter(grads[: len(want)])
        gx = [next(it) if n else None for n in bneed]
        itw = iter(grads[len(want) :])
        gw = [next(itw) if n else None for n in pneed]
        return gx, gw

    def _record_layer(self, i):
        """Layer i's forward recorded again from its bottoms' and parameters' current data (its
        tops left as they are): what a backward reads when no forward ran since the last one,
        since Caffe's backward computes from the blobs' current contents. Exact for layers
        whose backward reads only the bottoms; in a TRAIN net Dropout draws a new mask, and an
        in-place layer other than ReLU sees its top as its bottom."""
        impl = self._impls[i]
        bottoms = [self.blobs[b] for b in self._bottom_ids[i]]
        need = zip(bottoms + list(impl.blobs), self._bottom_need[i] + self._param_need[i])
        leaves = [b.data_tensor.detach().requires_grad_(n) for b, n in need]
        xs, ws = leaves[: len(bottoms)], leaves[len(bottoms) :]
        try:
            with torch.enable_grad(), self._autocast(impl):
                outs = impl.forward(xs, ws)
        except NetError:
            raise
        except (RuntimeError, ValueError, IndexError) as e:
            raise self._fail(i, "backward", e) from e
        return xs, ws, outs

    def reshape(self) -> None:
        """Propagate shapes through every layer (after script-side blob reshapes)."""
        for i in range(len(self._impls)):
            self._reshape_layer(i)

    def _reshape_layer(self, i):
        impl = self._impls[i]
        bottoms = [self.blobs[b] for b in self._bottom_ids[i]]
        tops = [self.blobs[t] for t in self._top_ids[i]]
        if impl.acts_on_blobs:
            impl.reshape_blobs(bottoms, tops)
            return
        xs = [torch.empty(b.shape, device="meta") for b in bottoms]
        ws = [torch.empty(b.shape, device="meta") for b in impl.blobs]
        try:
            with torch.no_grad():
                outs = impl.forward(xs, ws)
        except NetError:
            raise
        except (RuntimeError, ValueError, IndexError) as e:
            raise self._fail(i, "reshape", e) from e
        for t, o in zip(tops, outs):
            t.reshape(tuple(o.shape))

    # ------------------------------------------------------------------ weights
    def copy_from(self, path: str | os.PathLike, allow_nonfinite: bool | None = None) -> list[str]:
        """Copy parameters from a caffemodel, matching layers by name (Caffe's rules: source
        layers this net lacks are ignored; a blob count or shape mismatch is an error).

        Checked first by caffeio.weights_check.check_weights: NaN/inf values are refused
        (CaffeFormatError naming file, layer and blob) unless allow_nonfinite=True or
        CAFFEIO_ALLOW_NONFINITE=1. Learnable layers the file does not cover keep their fillers:
        they are named in a warning on stderr and in `self.layers_without_weights`. Returns
        the list of layers this file left without weights."""
        path = os.fspath(path)
        if _hdf5.is_hdf5(path):  # Caffe's CopyTrainedLayersFrom: an HDF5 file by its signature
            return self.load_hdf5(path)
        src = caffeio.read_caffemodel(path)
        index = {name: i for i, name in enumerate(self._layer_names)}
        shapes = {
            n: [b.shape for b in impl.blobs]
            for n, impl in zip(self._layer_names, self._impls)
            if impl.blobs
        }
        try:
            missing = check_weights(self._param, src, allow_nonfinite, shapes=shapes, source=path)
        except caffeio.CaffeFormatError as e:
            raise WeightsError(str(e)) from None
        for sl in src.layer:
            if sl.name not in index:
                continue
            impl = self._impls[index[sl.name]]
            target = impl.blobs
            if len(sl.blobs) != len(target):
                raise NetError(
                    f"{path}: layer '{sl.name}' has {len(sl.blobs)} blobs but this net's layer "
                    f"'{sl.name}' (type {impl.type}, {self._where}) has {len(target)}"
                )
            for k, (sb, tb) in enumerate(zip(sl.blobs, target)):
                arr = caffeio.blob_to_array(sb, f"{path}: layer '{sl.name}' blob {k}")
                t = tb.data_tensor
                t.copy_(torch.from_numpy(np.ascontiguousarray(arr, np.float32).reshape(tb.shape)))
                tb.data_tensor = t
            if target:
                self._loaded.add(sl.name)
        if missing:
            print(
                f"{self._where}: warning: {len(missing)} learnable layer(s) get no weights from "
                f"{path} and keep their fillers: {', '.join(missing)}",
                file=sys.stderr,
            )
        return missing

    @property
    def layers_without_weights(self) -> list[str]:
        """Names of the layers with parameters that no copy_from has loaded yet (net order)."""
        return [n for n in self.params if n not in self._loaded]

    def share_with(self, other: Net) -> None:
        """Share parameter data with layers of the same name in `other` (Caffe's
        ShareTrainedLayersWith): the memory is the same, so updates to one show in the other."""
        index = {name: i for i, name in enumerate(self._layer_names)}  # linear in layers
        for name, impl in zip(other._layer_names, other._impls):
            if name not in index or not impl.blobs:
                continue
            mine = self._impls[index[name]]
            if len(mine.blobs) != len(impl.blobs):
                raise NetError(
                    f"share_with: layer '{name}' has {len(impl.blobs)} blobs in the source net "
                    f"but {len(mine.blobs)} here"
                )
            for k, (a, b) in enumerate(zip(mine.blobs, impl.blobs)):
                if a.shape != b.shape:
                    raise NetError(
                        f"share_with: layer '{name}' param {k}: shape {a.shape} here vs "
                        f"{b.shape} in the source net"
                    )
                a.share_data(b)

    def to_proto(self) -> caffe_pb2.NetParameter:
        """caffe_pb2.NetParameter as Caffe's Net::ToProto writes it: name, every layer's
        definition (as run: filtered, phase set, Split layers inserted) and its blobs."""
        out = caffe_pb2.NetParameter(name=self.name)
        for lp, impl in zip(self._param.layer, self._impls):
            layer = out.layer.add()
            layer.CopyFrom(lp)
            layer.ClearField("blobs")
            for b in impl.blobs:
                layer.blobs.add().CopyFrom(caffeio.array_to_blob(b.data))
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write a binary caffemodel (atomically) that Caffe and OpenCV load."""
        caffeio.write_caffemodel(self.to_proto(), os.fspath(path))

    def __repr__(self):
        phase = "TRAIN" if self.phase == TRAIN else "TEST"
        return f"<torchcaffe.Net {self.name!r} {phase}, {len(self._impls)} layers>"
