"""NetSpec / L / P: build caffe_pb2.NetParameter messages the way Caffe's net_spec does.

    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 500, 500]))
    n.conv1 = L.Convolution(n.data, kernel_size=3, num_output=8, param=[dict(lr_mult=1)])
    n.relu1 = L.ReLU(n.conv1, in_place=True)        # layer "relu1", top "conv1"
    net = n.to_proto()                              # caffe_pb2.NetParameter

Rules (those of Caffe's net_spec): attribute names name the tops; a layer is named after its
first top; kwargs ending in `param` go on the LayerParameter, others into the layer's own
`<x>_param` message, found from the schema (the field whose message is `<Type>Parameter`;
Deconvolution uses convolution_param); `ntop` sets the number of tops (0 returns the layer
itself); `in_place=True` writes the tops over the bottoms. Lists fill repeated fields, dicts
fill nested messages, enum fields take numbers (P.Pooling.MAX) or names ("MAX"). Unnamed tops
get `<Type><count>` names. Pure protobuf, no torch.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from caffeio import caffe_pb2, is_repeated
from caffeio.errors import add_note

from .errors import NetSpecError, NetSpecTypeError

__all__ = ["NetSpec", "L", "P", "Top", "Function", "to_proto", "param_field_for", "layer_proto"]


def _param_fields():
    """Map '<Type>' -> '<x>_param' from the LayerParameter schema (message '<Type>Parameter')."""
    out = {}
    for f in caffe_pb2.LayerParameter.DESCRIPTOR.fields:
        if f.name.endswith("_param") and f.message_type is not None:
            msg = f.message_type.name
            if msg.endswith("Parameter"):
                out[msg[: -len("Parameter")]] = f.name
    # Caffe's net_spec adds this one by hand: Deconvolution shares ConvolutionParameter.
    out["Deconvolution"] = "convolution_param"
    return out


_PARAM_FIELDS = _param_fields()


def param_field_for(type_name: str) -> str | None:
    """Name of the LayerParameter field holding a layer type's own parameters, or None."""
    return _PARAM_FIELDS.get(type_name)


def _assign(msg, key, value, where):
    """Set field `key` of protobuf `msg` from a Python value (scalar, list, dict, enum name)."""
    fd = msg.DESCRIPTOR.fields_by_name.get(key)
    if fd is None:
        raise NetSpecError(
            f"{where}: {msg.DESCRIPTOR.name} has no field '{key}' "
            f"(fields: {', '.join(sorted(msg.DESCRIPTOR.fields_by_name))})"
        )
    here = f"{where}: {msg.DESCRIPTOR.name}.{key}"
    if is_repeated(fd):
        values = value if isinstance(value, (list, tuple)) else [value]
        container = getattr(msg, key)
        for v in values:
            if fd.type == FieldDescriptor.TYPE_MESSAGE:
                _fill(container.add(), v, here)
            else:
                container.append(_scalar(fd, v, here))
    elif fd.type == FieldDescriptor.TYPE_MESSAGE:
        _fill(getattr(msg, key), value, here)
    else:
        setattr(msg, key, _scalar(fd, value, here))


def _fill(msg, value, where):
    if isinstance(value, dict):
        for k, v in value.items():
            _assign(msg, k, v, where)
    elif isinstance(value, type(msg)):
        msg.CopyFrom(value)
    else:
        raise NetSpecError(
            f"{where}: expected a dict (or {msg.DESCRIPTOR.name}) for a message field, "
            f"got {value!r}"
        )


def _scalar(fd, value, where):
    if fd.type == FieldDescriptor.TYPE_ENUM and isinstance(value, str):
        ev = fd.enum_type.values_by_name.get(value)
        if ev is None:
            names = ", ".join(fd.enum_type.values_by_name)
            raise NetSpecError(f"{where}: unknown enum value {value!r} (use one of {names})")
        return ev.number
    if fd.type == FieldDescriptor.TYPE_BOOL and not isinstance(value, bool):
        raise NetSpecError(f"{where}: expected True/False, got {value!r}")
    return value


def _set_checked(msg, key, value, where):
    try:
        _assign(msg, key, value, where)
    except (TypeError, ValueError) as e:
        if isinstance(e, NetSpecError):
            raise
        raise NetSpecError(f"{where}: bad value {value!r} for '{key}': {e}") from None


class Top:
    """One output blob of a Function (a layer); `n` is its index among the layer's tops."""

    def __init__(self, fn: Function, n: int) -> None:
        self.fn = fn
        self.n = n
        self.hint = None  # the NetSpec attribute name, once assigned (used in error messages)

    def to_proto(self) -> caffe_pb2.NetParameter:
        """NetParameter holding this top and everything it depends on."""
        return to_proto(self)

    def describe(self) -> str:
        """The top's NetSpec name, or which output of which unnamed layer it is."""
        return self.hint or f"<output {self.n} of an unnamed {self.fn.type_name} layer>"

    def __repr__(self):
        return f"Top({self.describe()})"


class Function:
    """A layer being specified: type, input Tops and keyword params (not yet a proto)."""

    def __init__(self, type_name: str, inputs: Sequence[Top], params: Mapping[str, Any]) -> None:
        self.type_name = type_name
        for i, inp in enumerate(inputs):
            if not isinstance(inp, Top):
                e = NetSpecTypeError(f"{type_name} input {i} is not a Top (type is {type(inp)})")
                raise add_note(
                    e,
                    f"L.{type_name}: bottom {i} is {inp!r}, not a layer output (Top); pass blobs "
                    "made by L.* (e.g. n.data), or several with ntop>1 unpacked (*tops)",
                )
        self.inputs = inputs
        self.params = dict(params)
        self.ntop = self.params.pop("ntop", 1)
        self.in_place = self.params.pop("in_place", False)
        if self.in_place and len(inputs) != self.ntop:
            raise NetSpecError(
                f"L.{type_name}(in_place=True) needs as many bottoms as tops "
                f"({len(inputs)} bottoms, ntop={self.ntop})"
            )
        self.tops = tuple(Top(self, i) for i in range(self.ntop))

    def _get_name(self, names, autonames):
        if self not in names and self.ntop > 0:
            names[self] = self._get_top_name(self.tops[0], names, autonames)
        elif self not in names:
            autonames[self.type_name] += 1
            names[self] = self.type_name + str(autonames[self.type_name])
        return names[self]

    def _get_top_name(self, top, names, autonames):
        if top not in names:
            autonames[top.fn.type_name] += 1
            names[top] = top.fn.type_name + str(autonames[top.fn.type_name])
        return names[top]

    def _to_proto(self, layers, names, autonames):
        if self in layers:
            return
        bottom_names = []
        for inp in self.inputs:
            inp.fn._to_proto(layers, names, autonames)
            bottom_names.append(layers[inp.fn].top[inp.n])
        layer = caffe_pb2.LayerParameter()
        layer.type = self.type_name
        layer.bottom.extend(bottom_names)
        if self.in_place:
            layer.top.extend(bottom_names)
        else:
            layer.top.extend(self._get_top_name(t, names, autonames) for t in self.tops)
        layer.name = self._get_name(names, autonames)
        fill_layer(layer, self.params)
        layers[self] = layer

    def layer(self) -> caffe_pb2.LayerParameter:
        """This layer alone as a LayerParameter (type and params; names/bottoms left empty)."""
        layer = caffe_pb2.LayerParameter(type=self.type_name)
        fill_layer(layer, self.params)
        return layer


def fill_layer(layer: caffe_pb2.LayerParameter, params: Mapping[str, Any]) -> None:
    """Route keyword params onto `layer` (LayerParameter) with net_spec's rules (see module doc)."""
    where = f"layer '{layer.name or '?'}' ({layer.type})"
    own = param_field_for(layer.type)
    for k, v in params.items():
        if k.endswith("param"):
            _set_checked(layer, k, v, where)
        elif own is not None and k in getattr(layer, own).DESCRIPTOR.fields_by_name:
            _set_checked(getattr(layer, own), k, v, where)
        elif k in layer.DESCRIPTOR.fields_by_name:
            _set_checked(layer, k, v, where)
        elif own is None:
            raise NetSpecError(
                f"{where}: '{k}' is not a LayerParameter field and type {layer.type} has no "
                f"<Type>Parameter message of its own; pass it inside the right message, "
                f"e.g. loss_param=dict({k}=...)"
            )
        else:
            fields = ", ".join(sorted(getattr(layer, own).DESCRIPTOR.fields_by_name))
            raise NetSpecError(
                f"{where}: '{k}' is neither a field of {own} ({fields}) nor of LayerParameter"
            )


def layer_proto(type_name: str, **params: Any) -> caffe_pb2.LayerParameter:
    """A single LayerParameter of `type_name` with `params` routed as L.<type>(...) would."""
    return Function(type_name, (), dict(params, ntop=0)).layer()


def _layer_of(value):
    """The Function behind a Top, or a top-less Function (ntop=0) itself."""
    return value if isinstance(value, Function) else value.fn


def to_proto(*tops: Top | Function) -> caffe_pb2.NetParameter:
    """NetParameter for the given Tops (or top-less layers, ntop=0) and all their ancestors
    (unnamed tops get auto names)."""
    layers = OrderedDict()
    autonames = Counter()
    for top in tops:
        _layer_of(top)._to_proto(layers, {}, autonames)
    net = caffe_pb2.NetParameter()
    net.layer.extend(layers.values())
    return net


class NetSpec:
    """Collects named tops; attribute (or item) assignment names them. `to_proto()` builds the net.

    Layers are emitted in the order tops were assigned, each preceded by what it depends on.
    """

    def __init__(self):
        super().__setattr__("tops", OrderedDict())

    def __setattr__(self, name, value):
        if isinstance(value, Function) and value.ntop == 0:  # a layer without tops: Silence
            self.tops[name] = value  # the name names the layer
            return
        if not isinstance(value, Top):
            raise NetSpecError(
                f"NetSpec.{name} = {value!r}: only layer outputs (Tops), or layers made with "
                "ntop=0, can be assigned; for ntop>1 unpack them: n.a, n.b = L.X(..., ntop=2)"
            )
        if value.hint is None:
            value.hint = name
        self.tops[name] = value

    def __getattr__(self, name):
        try:
            return self.tops[name]
        except KeyError:
            raise AttributeError(f"NetSpec has no top named '{name}'") from None

    def __setitem__(self, key, value):
        self.__setattr__(key, value)

    def __getitem__(self, item):
        try:
            return self.tops[item]
        except KeyError:
            raise KeyError(f"NetSpec has no top named '{item}'") from None

    def __contains__(self, item):
        return item in self.tops

    def to_proto(self, name: str | None = None) -> caffe_pb2.NetParameter:
        """caffe_pb2.NetParameter with every layer reachable from the assigned tops."""
        names = {v: k for k, v in self.tops.items()}
        autonames = Counter()
        layers = OrderedDict()
        for top in self.tops.values():
            _layer_of(top)._to_proto(layers, names, autonames)
        net = caffe_pb2.NetParameter()
        if name:
            net.name = name
        net.layer.extend(layers.values())
        return net


class Layers:
    """`L.Convolution(bottom, ...)` makes a layer of type 'Convolution'; returns its top(s)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)

        def layer_fn(*args, **kwargs):
            fn = Function(name, args, kwargs)
            if fn.ntop == 0:
                return fn
            if fn.ntop == 1:
                return fn.tops[0]
            return fn.tops

        return layer_fn


class _EnumSpace:
    def __init__(self, msg_name, msg):
        self._msg_name = msg_name
        self._msg = msg

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return getattr(self._msg, name)
        except AttributeError:
            raise AttributeError(f"{self._msg_name} has no enum value or field '{name}'") from None


class Parameters:
    """`P.Pooling.MAX` is caffe_pb2.PoolingParameter.MAX (any `<Type>Parameter` message)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        msg = getattr(caffe_pb2, name + "Parameter", None)
        if msg is None:
            raise AttributeError(f"the Caffe schema has no message {name}Parameter")
        return _EnumSpace(name + "Parameter", msg)


L = Layers()
P = Parameters()
