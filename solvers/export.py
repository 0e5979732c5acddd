"""Conversion out of Caffe: ONNX (dynamic height/width) and PyTorch state_dict / safetensors.

    python -m solvers.export --proto models/voc-fcn8s/deploy.prototxt --weights W.caffemodel \\
        --onnx voc-fcn8s.onnx --state-dict voc-fcn8s.safetensors      # or .pt

No Caffe is needed. `CaffeModule` is a plain `torch.nn.Module` built from a deploy prototxt with
torch.nn.functional only (no torchcaffe at run time): its parameters are named after the Caffe
layers (`conv1_1.weight`, `conv1_1.bias`, `upscore2.weight`, ...), so the exported state_dict
loads straight into it. The ONNX graph is traced from that module with height, width (and batch)
dynamic. Crops are written relative to the reference blob's *runtime* shape (`x[..., o : o +
ref.shape[2]]`), so a net exported at one size gives correct crops at any other size.

Input convention (as for the Caffe models): one float32 N x 3 x H x W tensor, **BGR** channel
order, **0..255** pixel scale, **minus the per-channel mean** (VOC: B 104.00699, G 116.66877,
R 122.67892); any H x W (FCNs pad conv1_1 by 100). Output: N x C x H x W class scores (argmax
over C is the label map).

After exporting, the ONNX file is checked with onnxruntime at two input sizes against
torchcaffe (max |diff| / max |score| must stay below 1e-4) unless --no-check.
"""

import argparse
import math
import os
import sys
import warnings
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import caffeio
from caffeio import caffe_pb2
from caffeio.atomic import atomic_path

TEST = 1
TOLERANCE = 1e-4
INPUT_CONVENTION = "N x 3 x H x W float32, BGR, 0..255, minus the per-channel mean (BGR order)"

# names of parameter blobs by index, per layer type (default: weight, bias, blob2, ...)
_BLOB_NAMES = {"BatchNorm": ("running_mean", "running_var", "scale_factor")}


class ExportError(ValueError):
    """A net or file that cannot be converted; the message names the file/layer and the fix."""


def blob_name(layer_type, index):
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


def _conv_spec(layer):
    from netspec.coord import conv_geometry

    (kh, sh, ph, dh), (kw, sw, pw, dw) = conv_geometry(layer)
    cp = layer.convolution_param
    return dict(
        stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=cp.group or 1, kernel=(kh, kw)
    )


def _pool_spec(layer, where):
    from netspec.coord import pool_geometry

    pp = layer.pooling_param
    if pp.global_pooling:
        return dict(pool=pp.pool, glob=True)
    (kh, sh, ph, _), (kw, sw, pw, _) = pool_geometry(layer)
    if pp.round_mode != caffe_pb2.PoolingParameter.CEIL:
        ceil = False
    else:
        ceil = True
        # torch's ceil mode drops a last window starting at or past in + pad even when pad = 0;
        # Caffe only does so when pad > 0. They agree whenever kernel >= stride.
        if (ph == 0 and kh < sh) or (pw == 0 and kw < sw):
            raise ExportError(
                f"{where}: pooling '{layer.name}' has kernel < stride without padding; its Caffe "
                "output size differs from torch's ceil mode: not exportable by this tool"
            )
    if ph * 2 > kh or pw * 2 > kw:
        raise ExportError(f"{where}: pooling '{layer.name}' pads more than half its kernel")
    if pp.pool not in (pp.MAX, pp.AVE):
        raise ExportError(f"{where}: pooling '{layer.name}': only MAX and AVE are exportable")
    return dict(pool=pp.pool, glob=False, kernel=(kh, kw), stride=(sh, sw), pad=(ph, pw), ceil=ceil)


class CaffeModule(nn.Module):
    """A Caffe deploy net as a plain PyTorch module (torch.nn.functional ops, Caffe semantics).

    net: caffe_pb2.NetParameter or a prototxt path (TEST phase layers are kept); param_shapes:
    {layer: [shape, ...]} (default: inferred from the prototxt's input shapes). forward(*inputs)
    takes the net's inputs in order (N x C x H x W float32) and returns the output blob, or a
    tuple of them in `self.outputs` order. Parameters: `<layer>.weight`, `<layer>.bias`.
    Layer types: Input, Convolution, Deconvolution, Pooling (MAX/AVE), ReLU, Sigmoid, TanH,
    Dropout, LRN (across channels), Crop, Eltwise, Concat, Scale, Bias, Softmax, Split, Flatten,
    BatchNorm (with its stored statistics, as Caffe's TEST phase).
    """

    SUPPORTED = (
        "Input Convolution Deconvolution Pooling ReLU Sigmoid TanH Dropout LRN Crop Eltwise "
        "Concat Scale Bias Softmax Split Flatten BatchNorm"
    ).split()

    def __init__(self, net, param_shapes=None):
        super().__init__()
        path = None
        if not isinstance(net, caffe_pb2.NetParameter):
            path = os.fspath(net)
            net = caffeio.read_net(path)
        self.source = path or f"<NetParameter {net.name!r}>"
        layers = [lp for lp in net.layer if _in_test_phase(lp)]
        kept = caffe_pb2.NetParameter(name=net.name)
        kept.layer.extend(layers)
        for lp in layers:
            if lp.type not in self.SUPPORTED:
                raise ExportError(
                    f"{_where(path, lp)}: layer '{lp.name}' has type '{lp.type}', which has no "
                    f"plain-PyTorch form here (exportable: {', '.join(self.SUPPORTED)}). Export "
                    "a deploy net (Input layer, no data/loss layers)."
                )
        if param_shapes is None:
            from netspec.shapes import param_shapes as infer_params

            try:
                param_shapes = infer_params(kept)
            except Exception as e:
                raise ExportError(f"{self.source}: cannot infer parameter shapes: {e}") from e
        self.name = net.name
        self.steps = []
        self.inputs = []
        self.input_channels = []
        produced, consumed = [], set()
        for lp in layers:
            where = _where(path, lp)
            if "." in lp.name:
                raise ExportError(
                    f"{where}: layer name '{lp.name}' contains '.' (not a torch name)"
                )
            spec = self._spec(lp, where)
            if lp.name in param_shapes:
                self.add_module(lp.name, _Params(lp.type, param_shapes[lp.name]))
                spec["params"] = lp.name
            if lp.type == "Input":
                self.inputs.extend(lp.top)
                shapes = list(lp.input_param.shape)
                for i, _ in enumerate(lp.top):
                    dims = list(shapes[min(i, len(shapes) - 1)].dim) if shapes else []
                    self.input_channels.append(int(dims[1]) if len(dims) > 1 else 3)
            for b in lp.bottom:
                if b not in produced:
                    raise ExportError(
                        f"{where}: bottom '{b}' of '{lp.name}' is produced by no layer"
                    )
                consumed.add(b)
            for t in lp.top:
                if t not in produced:
                    produced.append(t)
            self.steps.append((lp.type, lp.name, tuple(lp.bottom), tuple(lp.top), spec))
        self.outputs = [t for t in produced if t not in consumed]
        if not self.inputs:
            raise ExportError(f"{self.source}: the net has no Input layer (use a deploy net)")

    def _spec(self, lp, where):
        t = lp.type
        if t in ("Convolution", "Deconvolution"):
            return _conv_spec(lp)
        if t == "Pooling":
            return _pool_spec(lp, where)
        if t == "ReLU":
            return dict(slope=float(lp.relu_param.negative_slope))
        if t == "LRN":
            p = lp.lrn_param
            if p.norm_region != p.ACROSS_CHANNELS:
                raise ExportError(f"{where}: LRN '{lp.name}': only ACROSS_CHANNELS is exportable")
            return dict(size=p.local_size, alpha=p.alpha, beta=p.beta, k=p.k)
        if t == "Crop":
            p = lp.crop_param
            return dict(axis=p.axis, offset=tuple(p.offset))
        if t == "Eltwise":
            p = lp.eltwise_param
            if len(p.coeff) not in (0, len(lp.bottom)):
                raise ExportError(f"{where}: Eltwise '{lp.name}': one coeff per bottom needed")
            return dict(op=p.operation, coeff=tuple(p.coeff))
        if t == "Concat":
            p = lp.concat_param
            return dict(
                axis=p.axis if p.HasField("axis") or not p.HasField("concat_dim") else p.concat_dim
            )
        if t in ("Scale", "Bias"):
            p = lp.scale_param if t == "Scale" else lp.bias_param
            return dict(axis=p.axis, num_axes=p.num_axes)
        if t == "Softmax":
            return dict(axis=lp.softmax_param.axis)
        if t == "BatchNorm":
            return dict(eps=float(lp.batch_norm_param.eps))
        if t == "Flatten":
            return dict(axis=lp.flatten_param.axis)
        return {}

    def forward(self, *inputs):
        if len(inputs) != len(self.inputs):
            raise ExportError(
                f"{self.source}: forward() takes {len(self.inputs)} inputs "
                f"({', '.join(self.inputs)}), got {len(inputs)}"
            )
        env = dict(zip(self.inputs, inputs))
        for t, _name, bottoms, tops, spec in self.steps:
            if t == "Input":
                continue
            xs = [env[b] for b in bottoms]
            ws = getattr(self, spec["params"]).blobs() if "params" in spec else []
            outs = [xs[0]] * len(tops) if t == "Split" else _apply(t, spec, xs, ws)
            for top, y in zip(tops, outs):
                env[top] = y
        outs = tuple(env[o] for o in self.outputs)
        return outs[0] if len(outs) == 1 else outs

    def load_caffe_params(self, params, strict=True):
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
    def from_files(cls, proto, weights):
        """CaffeModule of a deploy prototxt with a caffemodel's weights, in eval mode."""
        return cls(proto).load_caffe_params(_load_params(weights)).eval()


def _bcast(w, x, axis, num_axes):
    axis = axis % x.dim()
    n = len(w.shape) if num_axes < 0 else num_axes
    shape = [1] * x.dim()
    shape[axis : axis + n] = list(w.shape)[-n:] if n else []
    return w.reshape(shape)


def _apply(t, spec, xs, ws):
    """One Caffe layer on torch tensors -> list of tops."""
    x = xs[0] if xs else None
    if t == "Convolution":
        return [
            F.conv2d(
                x,
                ws[0],
                ws[1] if len(ws) > 1 else None,
                spec["stride"],
                spec["padding"],
                spec["dilation"],
                spec["groups"],
            )
        ]
    if t == "Deconvolution":
        return [
            F.conv_transpose2d(
                x,
                ws[0],
                ws[1] if len(ws) > 1 else None,
                spec["stride"],
                spec["padding"],
                0,
                spec["groups"],
                spec["dilation"],
            )
        ]
    if t == "Pooling":
        if spec["glob"]:
            fn = F.adaptive_max_pool2d if spec["pool"] == 0 else F.adaptive_avg_pool2d
            return [fn(x, 1)]
        if spec["pool"] == 0:
            return [
                F.max_pool2d(x, spec["kernel"], spec["stride"], spec["pad"], ceil_mode=spec["ceil"])
            ]
        return [
            F.avg_pool2d(
                x,
                spec["kernel"],
                spec["stride"],
                spec["pad"],
                ceil_mode=spec["ceil"],
                count_include_pad=True,
            )
        ]
    if t == "ReLU":
        return [F.leaky_relu(x, spec["slope"]) if spec["slope"] else F.relu(x)]
    if t == "Sigmoid":
        return [torch.sigmoid(x)]
    if t == "TanH":
        return [torch.tanh(x)]
    if t == "Dropout":
        return [x]  # identity at test time
    if t == "LRN":
        return [F.local_response_norm(x, spec["size"], spec["alpha"], spec["beta"], spec["k"])]
    if t == "Crop":
        ref = xs[1]
        axis = spec["axis"] % x.dim()
        offs = spec["offset"] or (0,)
        if len(offs) == 1:
            offs = offs * (x.dim() - axis)
        index = [slice(None)] * x.dim()
        for d in range(axis, x.dim()):
            o = offs[d - axis]
            index[d] = slice(o, o + ref.shape[d])  # runtime size: stays dynamic in ONNX
        return [x[tuple(index)]]
    if t == "Eltwise":
        op, coeff = spec["op"], spec["coeff"]
        if op == caffe_pb2.EltwiseParameter.SUM:
            y = xs[0] * coeff[0] if coeff else xs[0]
            for i, b in enumerate(xs[1:], 1):
                y = y + (b * coeff[i] if coeff else b)
            return [y]
        y = xs[0]
        for b in xs[1:]:
            y = y * b if op == caffe_pb2.EltwiseParameter.PROD else torch.maximum(y, b)
        return [y]
    if t == "Concat":
        return [torch.cat(xs, spec["axis"])]
    if t in ("Scale", "Bias"):
        other = ws[0] if ws else xs[1]
        f = _bcast(other, x, spec["axis"], spec["num_axes"] if ws else -1)
        y = x * f if t == "Scale" else x + f
        if t == "Scale" and len(ws) > 1:
            y = y + _bcast(ws[1], x, spec["axis"], spec["num_axes"])
        return [y]
    if t == "Softmax":
        return [F.softmax(x, spec["axis"])]
    if t == "BatchNorm":
        # Caffe keeps sums scaled by a moving-average factor: statistics = blob / factor (0 -> 0)
        factor = ws[2].reshape(())
        inv = torch.where(factor == 0, torch.zeros_like(factor), 1 / factor)
        shape = [1, -1] + [1] * (x.dim() - 2)
        mean, var = (ws[0] * inv).reshape(shape), (ws[1] * inv).reshape(shape)
        return [(x - mean) / torch.sqrt(var + spec["eps"])]
    if t == "Flatten":
        return [torch.flatten(x, spec["axis"])]
    raise ExportError(f"layer type '{t}' is not exportable")


def _load_params(weights):
    if not os.path.isfile(weights):
        raise ExportError(f"--weights {weights}: no such file (a .caffemodel is needed)")
    return caffeio.load_params(weights)


# ------------------------------------------------------------------ state_dict / safetensors
def state_dict_from_caffemodel(weights):
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


def save_state_dict(state, path, source=""):
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


def load_state_dict_file(path):
    """Read a .pt/.pth or .safetensors state_dict -> dict name -> tensor."""
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    return torch.load(path, map_location="cpu", weights_only=True)


def load_into_module(module, state):
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
def export_onnx(module, path, sizes=((64, 64),), opset=17):
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


def check_onnx(onnx_path, proto, weights, sizes=((64, 80), (97, 71)), tol=TOLERANCE):
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


# ------------------------------------------------------------------ CLI
def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="python -m solvers.export",
        description="Convert a Caffe deploy net + caffemodel to ONNX and/or a PyTorch state_dict.",
        epilog=f"Input convention of every output: {INPUT_CONVENTION}.",
    )
    p.add_argument("--proto", required=True, help="deploy prototxt (Input layer, no loss)")
    p.add_argument("--weights", required=True, help="caffemodel")
    p.add_argument("--onnx", help="output .onnx (dynamic batch, height, width)")
    p.add_argument("--state-dict", help="output .pt/.pth or .safetensors (Caffe layer names)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime check")
    p.add_argument(
        "--check-sizes", default="64x80,97x71", help="HxW,HxW sizes for the onnxruntime check"
    )
    return p.parse_args(argv)


def _sizes(text):
    out = []
    for part in text.split(","):
        try:
            h, w = (int(v) for v in part.lower().split("x"))
        except ValueError:
            raise ExportError(f"--check-sizes: '{part}' is not HxW (e.g. 64x80)") from None
        out.append((h, w))
    return out


def main(argv=None):
    """CLI entry; returns 0 on success (errors print one line and exit 1)."""
    torch.set_num_threads(min(torch.get_num_threads(), os.cpu_count() or 1))
    args = parse_args(argv)
    try:
        if not args.onnx and not args.state_dict:
            raise ExportError("nothing to do: give --onnx and/or --state-dict")
        if not os.path.isfile(args.proto):
            raise ExportError(f"--proto {args.proto}: no such file")
        params = _load_params(args.weights)
        module = CaffeModule(args.proto).load_caffe_params(params).eval()
        print(f"{args.proto}: inputs {module.inputs} -> outputs {module.outputs}")
        if args.state_dict:
            state = state_dict_from_caffemodel(args.weights)
            load_into_module(CaffeModule(args.proto), state)  # proves it reloads
            save_state_dict(state, args.state_dict, source=os.path.basename(args.weights))
            print(f"wrote {args.state_dict} ({len(state)} tensors, Caffe layer names)")
        if args.onnx:
            export_onnx(module, args.onnx, opset=args.opset)
            print(f"wrote {args.onnx} (dynamic batch, height, width; opset {args.opset})")
            if not args.no_check:
                for size, name, err in check_onnx(
                    args.onnx, args.proto, args.weights, _sizes(args.check_sizes)
                ):
                    print(
                        f"  onnxruntime vs torchcaffe at {size[0]}x{size[1]}: {name} "
                        f"max|diff|/max|score| = {err:.2e}"
                    )
        print(f"input convention: {INPUT_CONVENTION}")
    except (ExportError, caffeio.CaffeFormatError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
