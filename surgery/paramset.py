"""A pycaffe-like `params` holder for surgery on caffemodel files, without building a net.

pycaffe nets expose `net.params[layer][i].data` (numpy, writable in place). `ParamSet` offers the
same mapping over arrays read from a caffemodel, or over zero/filler-initialised arrays shaped from
a net definition, so every surgery function works on files, torchcaffe nets and real pycaffe nets
alike.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

import caffeio
from netspec import NetSpecError
from netspec import shapes as _shapes

from .errors import SurgeryError

if TYPE_CHECKING:
    from caffeio import caffe_pb2

    Path = str | os.PathLike[str]

# A pycaffe or torchcaffe net, or a ParamSet: anything with a pycaffe-like `.params` mapping
# {layer name: [blob with a numpy `.data`]} (the engines' nets carry no static types).
ParamsHolder = Any


def infer_shapes(
    net: caffe_pb2.NetParameter,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    image_size: tuple[int, int] | None = None,
) -> OrderedDict[str, tuple[int, ...] | None]:
    """NetParameter -> OrderedDict {blob: (N, C, H, W)-style tuple, or None when unknown}.

    netspec.shapes.infer with unknown_ok: tops of data layers given neither in input_shapes
    ({top: shape}) nor by image_size (H, W), and what derives from them, are None. Other
    shape errors raise SurgeryError naming the layer.
    """
    try:
        return _shapes.infer(net, input_shapes, image_size, unknown_ok=True)
    except NetSpecError as e:
        raise SurgeryError(str(e)) from e


def param_shapes(
    net: caffe_pb2.NetParameter,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    image_size: tuple[int, int] | None = None,
) -> OrderedDict[str, list[tuple[int, ...]]]:
    """NetParameter -> OrderedDict {layer: [blob shape, ...]} (Caffe's order and shapes).

    netspec.shapes.param_shapes with unknown_ok (see infer_shapes): a parameter that needs an
    unknown shape raises SurgeryError naming the layer and its bottom.
    """
    try:
        return _shapes.param_shapes(net, input_shapes, image_size, unknown_ok=True)
    except NetSpecError as e:
        raise SurgeryError(str(e)) from e


class ParamBlob:
    """One parameter blob: `.data` is a float32 ndarray, modified in place by surgery."""

    def __init__(self, data: np.ndarray) -> None:
        arr = np.asarray(data, dtype=np.float32)  # a 0-axis blob (shared PReLU slope) stays ()
        self.data = arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)

    @property
    def shape(self) -> tuple[int, ...]:
        """The blob's shape (its array's)."""
        return self.data.shape

    @property
    def count(self) -> int:
        """Number of values in the blob."""
        return int(self.data.size)

    def __repr__(self):
        return f"ParamBlob(shape={self.data.shape})"


class ParamSet:
    """`params`: OrderedDict {layer name: [ParamBlob]} plus, when known, the net definition.

    `definition` is a caffe_pb2.NetParameter (upgraded) whose layers the params belong to;
    `source` is a label (usually the file name) used in reports and errors.
    """

    def __init__(
        self,
        params: Mapping[str, Sequence[np.ndarray]],
        definition: caffe_pb2.NetParameter | None = None,
        source: str = "<params>",
    ) -> None:
        self.params = OrderedDict((k, [ParamBlob(a) for a in v]) for k, v in params.items())
        self.definition = definition
        self.source = source

    @classmethod
    def from_caffemodel(
        cls, path: Path, proto: Path | caffe_pb2.NetParameter | None = None
    ) -> ParamSet:
        """Read a caffemodel (current or V1 format) -> ParamSet with the file's stored shapes.

        `proto` (a prototxt path or NetParameter) becomes the definition when given; otherwise
        the caffemodel's own layer definitions (with blobs stripped) are used.
        """
        stored = caffeio.read_caffemodel(path)
        params = OrderedDict()
        for layer in stored.layer:
            if len(layer.blobs):
                params[layer.name] = [
                    caffeio.blob_to_array(b, f"{path}: layer '{layer.name}' blob {i}")
                    for i, b in enumerate(layer.blobs)
                ]
        if proto is None:
            definition = stored
            for layer in definition.layer:
                layer.ClearField("blobs")
        else:
            definition = _as_net(proto)
        return cls(params, definition, source=str(path))

    @classmethod
    def from_definition(
        cls,
        proto: Path | caffe_pb2.NetParameter,
        input_shapes: Mapping[str, Sequence[int]] | None = None,
        fill: bool = True,
    ) -> ParamSet:
        """Shape every learnable blob of a net definition -> ParamSet (file-level target net).

        proto: prototxt path or caffe_pb2.NetParameter. input_shapes: {top: shape} for tops
        whose shapes the definition does not state (Python data layers). fill=True applies the
        layers' constant and bilinear fillers (Caffe's default filler is constant 0); a layer
        with a random filler is left zero and listed in `random_filled` (its own filler runs
        when the caffemodel is loaded into a net only if the layer is left out of the file).
        """
        net = _as_net(proto)
        shapes = param_shapes(net, input_shapes=input_shapes)
        params = OrderedDict(
            (name, [np.zeros(s, dtype=np.float32) for s in blob_shapes])
            for name, blob_shapes in shapes.items()
        )
        out = cls(params, net, source=getattr(proto, "name", None) or str(proto))
        out.random_filled = []
        if fill:
            out.random_filled = _apply_fillers(out, net)
        return out

    def layer(self, name: str) -> caffe_pb2.LayerParameter | None:
        """The definition's LayerParameter called `name` (None when unknown)."""
        if self.definition is None:
            return None
        for layer in self.definition.layer:
            if layer.name == name:
                return layer
        return None

    def layer_type(self, name: str) -> str | None:
        """The definition's type of layer `name` (None when unknown)."""
        layer = self.layer(name)
        return layer.type if layer is not None else None

    def arrays(self) -> OrderedDict[str, list[np.ndarray]]:
        """OrderedDict {layer: [ndarray]} (the live arrays, not copies)."""
        return OrderedDict((k, [b.data for b in v]) for k, v in self.params.items())

    def to_net(self, definition: caffe_pb2.NetParameter | None = None) -> caffe_pb2.NetParameter:
        """NetParameter with blobs attached, in the definition's layer order (Caffe's copy_from
        matches layers by name). Layers with params but no definition are appended bare."""
        definition = definition if definition is not None else self.definition
        arrays = self.arrays()
        net = caffeio.params_to_net(arrays, definition) if definition is not None else None
        if net is None:
            return caffeio.params_to_net(arrays)
        defined = {layer.name for layer in net.layer}
        for name, arrs in arrays.items():
            if name not in defined:
                layer = net.layer.add(name=name)
                for a in arrs:
                    layer.blobs.add().CopyFrom(caffeio.array_to_blob(a))
        return net

    def save(self, path: str, force: bool = True) -> None:
        """Write the params as a caffemodel (atomically); force=False refuses to overwrite."""
        write_params(self, path, definition=self.definition, force=force)


def _as_net(proto):
    if isinstance(proto, (str, os.PathLike)):
        return caffeio.read_net(str(proto))
    if isinstance(proto, caffeio.caffe_pb2.NetParameter):
        return caffeio.upgrade_net(proto) if caffeio.needs_upgrade(proto) else proto
    raise TypeError(f"expected a prototxt path or caffe_pb2.NetParameter, got {type(proto)}")


def as_params(obj: ParamsHolder | Path | dict[str, Sequence[np.ndarray]]) -> ParamsHolder:
    """Anything surgery accepts -> an object with a pycaffe-like `.params` mapping.

    Accepts pycaffe / torchcaffe nets and ParamSets (returned as they are), a caffemodel path
    (read into a ParamSet), and a plain {layer: [ndarray]} dict (wrapped; arrays are copied).
    """
    if hasattr(obj, "params"):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        return ParamSet.from_caffemodel(str(obj))
    if isinstance(obj, dict):
        return ParamSet(obj)
    raise TypeError(
        f"expected a net with .params, a ParamSet, a caffemodel path or a {{layer: [arrays]}} "
        f"dict, got {type(obj).__name__}"
    )


def check_out(path: str, force: bool, example: str = "out.caffemodel") -> None:
    """Refuse an output path that is a folder (with the file name to pass instead), or an
    existing file unless force."""
    if os.path.isdir(path):
        raise SurgeryError(
            f"{path}: is a directory; pass the file to write instead, e.g. --out "
            f"{os.path.join(path, example)} (--force only replaces existing files)"
        )
    if not force and os.path.exists(path):
        raise SurgeryError(f"{path}: already exists; pass --force (force=True) to overwrite it")


def write_params(
    net: ParamsHolder,
    path: str,
    definition: caffe_pb2.NetParameter | None = None,
    force: bool = True,
    phase: int | None = None,
) -> None:
    """Write any `.params` holder as a caffemodel at `path` (atomically).

    definition: the NetParameter whose layer definitions go into the file (defaults to the
    ParamSet's own); its layers receive the blobs by name. phase (0 TRAIN / 1 TEST): stamped
    on every layer that has none, as Caffe's Net::ToProto writes a net it ran. Refuses to
    overwrite when force=False.
    """
    check_out(path, force)
    if isinstance(net, ParamSet):
        out = net.to_net(definition)
    else:
        arrays = OrderedDict((k, [np.asarray(b.data) for b in v]) for k, v in net.params.items())
        out = ParamSet(arrays, definition).to_net()
    if phase is not None:
        for layer in out.layer:
            if not layer.HasField("phase"):
                layer.phase = phase
    caffeio.write_caffemodel(out, path)


def _apply_fillers(pset, net):
    random_filled = []
    for layer in net.layer:
        if layer.name not in pset.params:
            continue
        blobs = pset.params[layer.name]
        fillers = _layer_fillers(layer)
        for blob, filler in zip(blobs, fillers + [None] * len(blobs)):
            if filler is None or filler.type in ("", "constant"):
                value = filler.value if filler is not None else 0.0
                blob.data[...] = np.float32(value)
            elif filler.type == "bilinear":
                k = blob.data.shape[-1]
                if blob.data.ndim != 4 or blob.data.shape[-2] != k:
                    raise SurgeryError(
                        f"layer '{layer.name}': bilinear filler needs a square 4-D kernel, "
                        f"got {blob.data.shape}"
                    )
                f = _caffe_bilinear(k)
                blob.data[...] = f
            else:
                random_filled.append(layer.name)
    return random_filled


def _caffe_bilinear(k):
    # Caffe's BilinearFiller: f = ceil(k/2), c = (2f - 1 - f % 2) / (2f),
    # w = (1-|x/f-c|)(1-|y/f-c|), the same kernel on every (out, in) pair.
    # Equals upsample_filt(k) when k == 2f - f % 2.
    f = np.ceil(k / 2.0)
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    x = np.arange(k)
    w = 1 - np.abs(x / f - c)
    return np.outer(w, w).astype(np.float32)


def _layer_fillers(layer):
    """[FillerParameter or None per blob]; None = Caffe's default (constant 0)."""
    if layer.type in ("Convolution", "Deconvolution"):
        p = layer.convolution_param
        return [p.weight_filler, p.bias_filler]
    if layer.type == "InnerProduct":
        p = layer.inner_product_param
        return [p.weight_filler, p.bias_filler]
    if layer.type == "Scale":
        p = layer.scale_param
        # Caffe's Scale layer defaults its factor to constant 1, its bias to constant 0.
        one = caffeio.caffe_pb2.FillerParameter(type="constant", value=1.0)
        return [p.filler if p.HasField("filler") else one, p.bias_filler]
    if layer.type == "Bias":
        return [layer.bias_param.filler]
    return []
