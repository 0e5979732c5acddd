"""Conversion out of Caffe: ONNX (dynamic height/width) and PyTorch state_dict / safetensors.

    from solvers.export import CaffeModule, export_onnx
    module = CaffeModule.from_files("deploy.prototxt", "W.caffemodel")   # eval mode
    export_onnx(module, "net.onnx")

The command is `python -m solvers.export` (solvers.export.cli).

No Caffe is needed. `CaffeModule` is a plain `torch.nn.Module` built from a deploy prototxt whose
layers are torchcaffe's own implementations (torchcaffe.ops, TEST phase): what it computes is
what torchcaffe computes. Its parameters are named after the Caffe layers (`conv1_1.weight`,
`conv1_1.bias`, `upscore2.weight`, ...), so the exported state_dict loads straight into it. The
ONNX graph is traced from that module with height, width (and batch) dynamic: traced, the ops
keep sizes symbolic (torchcaffe.ops.vision), and crops cut to the reference blob's *runtime*
shape, so a net exported at one size gives correct crops at any other size.

Input convention (as for the Caffe models): one float32 N x 3 x H x W tensor, **BGR** channel
order, **0..255** pixel scale, **minus the per-channel mean** (VOC: B 104.00699, G 116.66877,
R 122.67892); any H x W (FCNs pad conv1_1 by 100). Output: N x C x H x W class scores (argmax
over C is the label map).

check_onnx runs an ONNX file in onnxruntime against torchcaffe (max |diff| / max |score| must
stay below 1e-4).
"""

from __future__ import annotations

import math
import os
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

import caffeio
from caffeio import caffe_pb2
from caffeio import layertypes as lt
from caffeio.atomic import atomic_path
from torchcaffe.errors import NetError
from torchcaffe.ops import REGISTRY, Context
from torchcaffe.ops.vision import torch_pool_matches_caffe

TEST = 1
TOLERANCE = 1e-4
INPUT_CONVENTION = "N x 3 x H x W float32, BGR, 0..255, minus the per-channel mean (BGR order)"

# names of parameter blobs by index, per layer type (default: weight, bias, blob2, ...)
_BLOB_NAMES = {"BatchNorm": ("running_mean", "running_var", "scale_factor")}


class ExportError(ValueError):
    """A net or file that cannot be converted; the message names the file/layer and the fix."""


def blob_name(layer_type: str, index: int) -> str:
    """Name of parameter blob `index` of a Caffe layer in a state_dict: 'weight', 'bias', ..."""
    names = _BLOB_NAMES.get(layer_type, ("weight", "bias"))
    return names[index] if index < len(names) else f"blob{index}"


def _where(path, layer):
    line = caffeio.locate_layer(path, layer.name) if path else None
    return f"{path}:{line}" if line else (path or "<net>")


def _in_test_phase(layer):
    if len(layer.include):
        ok = any(not r.HasField("phase") or r.phase == TEST for r in layer.include)
    else:
        ok = True
    return ok and not any(r.HasField("phase") and r.phase == TEST for r in layer.exclude)


class _Params(nn.Module):
    """The parameter blobs of one Caffe layer, as `weight`, `bias`, ... (Caffe shapes)."""

    def __init__(self, layer_type, shapes):
        super().__init__()
        self.names = [blob_name(layer_type, i) for i in range(len(shapes))]
        for n, s in zip(self.names, shapes):
            self.register_parameter(n, nn.Parameter(torch.zeros(s), requires_grad=False))

    def blobs(self):
        return [getattr(self, n) for n in self.names]


def exportable_types() -> list[str]:
    """Layer types CaffeModule takes: Input, and every type torchcaffe implements as an op on
    tensors (not data, loss, metric or Python layers)."""
    return sorted(
        ["Input"]
        + [
            t
            for t, cls in REGISTRY.items()
            if not cls.acts_on_blobs and t in lt.TYPES and lt.TYPES[t].role == lt.OP
        ]
    )


def _check_pooling(impl, where):
    """A Pooling op whose ONNX graph serves every input size: torch's pooling (what a trace
    records) must give Caffe's output size at all of them (torchcaffe takes another path where
    it does not, with sizes a trace would freeze)."""
    if impl.glob:
        return
    if not torch_pool_matches_caffe(impl.kernel, impl.pad, impl.stride, impl.ceil):
        raise ExportError(
            f"{where}: pooling '{impl.name}' (kernel {impl.kernel}, pad {impl.pad}, stride "
            f"{impl.stride}): its Caffe output size differs from torch's pooling at some input "
            "sizes (kernel < stride without padding, or a pad over half the kernel): not "
            "exportable by this tool"
        )


def _check_types(layers, path):
    """ExportError naming the first layer whose type has no plain-PyTorch form."""
    supported = exportable_types()
    for lp in layers:
        if lp.type not in supported:
            raise ExportError(
                f"{_where(path, lp)}: layer '{lp.name}' has type '{lp.type}', which has no "
                f"plain-PyTorch form here (exportable: {', '.join(supported)}). Export "
                "a deploy net (Input layer, no data/loss layers)."
            )


def _check_wiring(lp, where, produced):
    """ExportError for a layer name torch cannot take, or a bottom no earlier layer produces."""
    if "." in lp.name:
        raise ExportError(f"{where}: layer name '{lp.name}' contains '.' (not a torch name)")
    for b in lp.bottom:
        if b not in produced:
            raise ExportError(f"{where}: bottom '{b}' of '{lp.name}' is produced by no layer")


class CaffeModule(nn.Module):
    """A Caffe deploy net as a plain PyTorch module made of torchcaffe's layer implementations.

    net: caffe_pb2.NetParameter or a prototxt path (TEST phase layers are kept); param_shapes:
    {layer: [shape, ...]} (default: the shapes torchcaffe's layers give at the prototxt's input
    shapes). forward(*inputs) takes the net's inputs in order (N x C x H x W float32) and
    returns the output blob, or a tuple of them in `self.outputs` order. Parameters:
    `<layer>.weight`, `<layer>.bias` (BatchNorm: running_mean, running_var, scale_factor).
    Layer types: exportable_types() (Input and torchcaffe's ops on tensors; BatchNorm with its
    stored statistics, Dropout the identity, as Caffe's TEST phase).
    """

    def __init__(self, net: Any, param_shapes: dict | None = None) -> None:
        super().__init__()
        path = None
        if not isinstance(net, caffe_pb2.NetParameter):
            path = os.fspath(net)
            net = caffeio.read_net(path)
        self.source = path or f"<NetParameter {net.name!r}>"
        layers = [lp for lp in net.layer if _in_test_phase(lp)]
        _check_types(layers, path)
        self.name = net.name
        self.steps = []
        self.inputs = []
        self.input_channels = []
        produced, consumed, shapes = [], set(), {}
        for lp in layers:
            where = _where(path, lp)
            _check_wiring(lp, where, produced)
            consumed.update(lp.bottom)
            produced += [t for t in dict.fromkeys(lp.top) if t not in produced]
            if lp.type == "Input":
                self._add_inputs(lp, shapes)
                continue
            impl, blob_shapes = self._build(lp, where, shapes, param_shapes)
            if blob_shapes:
                self.add_module(lp.name, _Params(lp.type, blob_shapes))
            self.steps.append((impl, tuple(lp.bottom), tuple(lp.top), bool(blob_shapes)))
        self.outputs = [t for t in produced if t not in consumed]
        if not self.inputs:
            raise ExportError(f"{self.source}: the net has no Input layer (use a deploy net)")

    def _add_inputs(self, lp, shapes):
        self.inputs.extend(lp.top)
        dims = [tuple(int(d) for d in s.dim) for s in lp.input_param.shape]
        for i, top in enumerate(lp.top):
            shape = dims[min(i, len(dims) - 1)] if dims else ()
            self.input_channels.append(shape[1] if len(shape) > 1 else 3)
            shapes[top] = shape or None

    def _build(self, lp, where, shapes, given):
        """torchcaffe's op for `lp`, its parameter shapes, and its tops' shapes (run on meta
        tensors, as torchcaffe infers them) recorded in `shapes`."""
        ctx = Context(TEST, torch.device("cpu"), torch.Generator(), where)
        bottoms = [shapes.get(b) for b in lp.bottom]
        try:
            impl = REGISTRY[lp.type](lp, ctx)
            if any(b is None for b in bottoms):
                missing = [b for b, s in zip(lp.bottom, bottoms) if s is None]
                raise ExportError(
                    f"{self.source}: cannot infer parameter shapes: the shape of {missing} "
                    "is not stated (give the Input layer its shape)"
                )
            blob_shapes = [tuple(s) for s, _ in impl.param_shapes(bottoms)]
            if given is not None and lp.name in given:
                blob_shapes = [tuple(s) for s in given[lp.name]]
            xs = [torch.empty(b, device="meta") for b in bottoms]
            ws = [torch.empty(s, device="meta") for s in blob_shapes]
            with torch.no_grad():
                outs = impl.forward(xs, ws)
        except NetError as e:
            raise ExportError(f"{self.source}: cannot infer parameter shapes: {e}") from e
        except (RuntimeError, ValueError, IndexError) as e:
            if isinstance(e, ExportError):
                raise
            raise ExportError(
                f"{where}: layer '{lp.name}' ({lp.type}) fails on bottoms {bottoms}: {e}"
            ) from e
        if lp.type == "Pooling":
            _check_pooling(impl, where)
        for t, y in zip(lp.top, outs):
            shapes[t] = tuple(y.shape)
        return impl, blob_shapes

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if len(inputs) != len(self.inputs):
            raise ExportError(
                f"{self.source}: forward() takes {len(self.inputs)} inputs "
                f"({', '.join(self.inputs)}), got {len(inputs)}"
            )
        env = dict(zip(self.inputs, inputs))
        for impl, bottoms, tops, has_params in self.steps:
            xs = [env[b] for b in bottoms]
            ws = getattr(self, impl.name).blobs() if has_params else []
            for top, y in zip(tops, impl.forward(xs, ws)):
                env[top] = y
        outs = tuple(env[o] for o in self.outputs)
        return outs[0] if len(outs) == 1 else outs

    def load_caffe_params(self, params: dict, strict: bool = True) -> CaffeModule:
        """Copy {layer: [ndarray, ...]} (caffeio.load_params) into the module; shapes must match
        up to Caffe's legacy right-aligned 4-D shapes. strict: every module layer must be there."""
        with torch.no_grad():
            for name, mod in self.named_children():
                if name not in params:
                    if strict:
                        raise ExportError(
                            f"the weights have no layer '{name}' (needed by {self.source}): "
                            "is this the caffemodel of this net?"
                        )
                    continue
                blobs = params[name]
                if len(blobs) != len(mod.names):
                    raise ExportError(
                        f"layer '{name}': the weights have {len(blobs)} blobs, the net "
                        f"{len(mod.names)} ({self.source})"
                    )
                for arr, tgt in zip(blobs, mod.blobs()):
                    arr = np.asarray(arr, np.float32)
                    if not caffeio.shapes_match(arr.shape, tuple(tgt.shape)):
                        raise ExportError(
                            f"layer '{name}': weight shape {arr.shape} does not fit the net's "
                            f"{tuple(tgt.shape)} ({self.source}): is this the caffemodel of "
                            "this net (same width and classes)?"
                        )
                    tgt.copy_(torch.from_numpy(arr.reshape(tuple(tgt.shape))))
        return self

    @classmethod
    def from_files(cls, proto: str, weights: str) -> CaffeModule:
        """CaffeModule of a deploy prototxt with a caffemodel's weights, in eval mode."""
        return cls(proto).load_caffe_params(load_caffe_params(weights)).eval()


def load_caffe_params(weights: str) -> dict:
    """{layer: [ndarray, ...]} of a caffemodel; ExportError when the file is missing."""
    if not os.path.isfile(weights):
        raise ExportError(f"--weights {weights}: no such file (a .caffemodel is needed)")
    return caffeio.load_params(weights)


# ------------------------------------------------------------------ state_dict / safetensors
def state_dict_from_caffemodel(weights: Any) -> OrderedDict:
    """OrderedDict '<layer>.weight' / '<layer>.bias' (/ '.blob<k>') -> float32 torch tensor, in
    the caffemodel's layer order and Caffe shapes (e.g. conv1_1.weight: 64 x 3 x 3 x 3)."""
    model = caffeio.read_caffemodel(weights) if isinstance(weights, str) else weights
    out = OrderedDict()
    for layer in model.layer:
        for i, b in enumerate(layer.blobs):
            arr = caffeio.blob_to_array(b, f"{weights}: layer '{layer.name}' blob {i}")
            out[f"{layer.name}.{blob_name(layer.type, i)}"] = torch.from_numpy(
                np.ascontiguousarray(arr, np.float32)
            )
    return out


def save_state_dict(state: dict, path: str, source: str = "") -> str:
    """Write a state_dict as .pt (torch.save) or .safetensors (with the input convention in its
    metadata), atomically. Returns the path."""
    if not path.endswith((".safetensors", ".pt", ".pth")):
        raise ExportError(f"--state-dict {path}: use a .pt, .pth or .safetensors file name")
    with atomic_path(path) as tmp:  # O_EXCL temp name: nothing planted there is followed
        if path.endswith(".safetensors"):
            from safetensors.torch import save_file

            meta = {"format": "pt", "source": source, "input": INPUT_CONVENTION}
            save_file({k: v.contiguous() for k, v in state.items()}, tmp, metadata=meta)
        else:
            torch.save(state, tmp)
    return path


def load_state_dict_file(path: str) -> dict:
    """Read a .pt/.pth or .safetensors state_dict -> dict name -> tensor."""
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    return torch.load(path, map_location="cpu", weights_only=True)


def load_into_module(module: CaffeModule, state: dict) -> CaffeModule:
    """Load a Caffe-named state_dict into a CaffeModule, reshaping legacy 4-D Caffe shapes."""
    own = module.state_dict()
    fixed = OrderedDict()
    for k, v in state.items():
        if k in own and tuple(v.shape) != tuple(own[k].shape):
            if not caffeio.shapes_match(tuple(v.shape), tuple(own[k].shape)):
                raise ExportError(f"{k}: shape {tuple(v.shape)} vs the net's {tuple(own[k].shape)}")
            v = v.reshape(own[k].shape)
        fixed[k] = v
    missing = sorted(set(own) - set(fixed))
    if missing:
        raise ExportError(f"state_dict lacks {', '.join(missing[:5])}: is it this net's?")
    module.load_state_dict({k: fixed[k] for k in own})
    return module


# ------------------------------------------------------------------ ONNX
def export_onnx(
    module: CaffeModule, path: str, sizes: Sequence[tuple[int, int]] = ((64, 64),), opset: int = 17
) -> str:
    """Trace `module` (a CaffeModule) to ONNX at `path` with N, H, W dynamic on every input and
    output. sizes[0] is the tracing size (any works). Returns the path."""
    examples = tuple(_example(module, i, sizes[0]) for i in range(len(module.inputs)))
    axes = {n: {0: "batch", 2: "height", 3: "width"} for n in module.inputs + module.outputs}
    with warnings.catch_warnings(), atomic_path(path) as tmp:
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            examples,
            tmp,
            dynamo=False,
            input_names=list(module.inputs),
            output_names=list(module.outputs),
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
        )
    return path


def _example(module, i, size, batch=1, seed=0):
    channels = module.input_channels[i]
    g = torch.Generator().manual_seed(seed + i)
    return torch.rand((batch, channels, *size), generator=g) * 255 - 128


def check_onnx(
    onnx_path: str,
    proto: str,
    weights: str,
    sizes: Sequence[tuple[int, int]] = ((64, 80), (97, 71)),
    tol: float = TOLERANCE,
) -> list[tuple[tuple[int, int], str, float]]:
    """Run the ONNX file in onnxruntime at each size and compare with torchcaffe on the same
    input. Returns [(size, output, rel_err)]; raises ExportError when rel_err >= tol, where
    rel_err = max |onnx - torchcaffe| / max |torchcaffe|."""
    import onnxruntime as ort

    import torchcaffe

    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    net = torchcaffe.Net(proto, torchcaffe.TEST, weights=weights)
    chans = CaffeModule(proto).input_channels
    report = []
    for size in sizes:
        feeds = {}
        for i, name in enumerate(net.inputs):
            g = torch.Generator().manual_seed(i)
            feeds[name] = (torch.rand((1, chans[i], *size), generator=g) * 255 - 128).numpy()
        got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
        ref = net.forward(**feeds)
        for name, want in ref.items():
            if name not in got:
                raise ExportError(f"{onnx_path}: output '{name}' missing from the ONNX graph")
            if got[name].shape != want.shape:
                raise ExportError(
                    f"{onnx_path}: output '{name}' is {got[name].shape} at input {size}, "
                    f"torchcaffe gives {want.shape}"
                )
            err = float(np.abs(got[name] - want).max()) / max(float(np.abs(want).max()), 1e-30)
            if not math.isfinite(err) or err >= tol:
                raise ExportError(
                    f"{onnx_path}: output '{name}' at input {size} differs from torchcaffe: "
                    f"max |diff| / max |score| = {err:.3g} (tolerance {tol:g})"
                )
            report.append((size, name, err))
    return report
