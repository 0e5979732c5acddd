"""Python layers written once, for whichever engine builds the net.

pycaffe's Python layers subclass `caffe.Layer`: BVLC Caffe's layer factory calls
`getattr(import_module(module), layer)(param)` with its own LayerParameter and needs the object
to be a `caffe.Layer` (a Boost.Python class); torchcaffe's Python op wants `torchcaffe.Layer`.
Subclassing one of them at import time ties a module to one engine, and a process with both
(a real pycaffe Net and a torchcaffe Net) breaks on the other one.

A PortableLayer subclass derives from neither. The engine-specific class, (the subclass, the
engine's Layer), is made on demand and kept:
- real Caffe: called with pycaffe's LayerParameter (`caffe._caffe.LayerParameter`), the class
  makes an instance of its subclass of the `Layer` defined beside that parameter type;
- torchcaffe: its Python op asks for `cls.for_engine(torchcaffe.Layer)`;
- called with no argument (tests, scripts), it is the plain engine-free object.
Under real Caffe an exception in a layer's setup/reshape/forward/backward reaches the caller
raw, with nothing saying which layer raised it: the pycaffe flavour re-raises it as a
PythonLayerError naming the layer (from the net the pycaffe path checked last, name_layers),
its module and class. Nothing here imports an engine.
"""

from __future__ import annotations

import functools
import sys
import types
from typing import TYPE_CHECKING

from .errors import PythonLayerError

if TYPE_CHECKING:
    from caffeio import caffe_pb2

# (portable class, engine Layer class) -> their subclass, made once
_FLAVOURS: dict = {}
# python_param.layer (class name) -> [(layer name, python_param.module)] of the nets checked
_NAMES: dict = {}
_METHODS = ("setup", "reshape", "forward", "backward")


def name_layers(net: caffe_pb2.NetParameter) -> None:
    """Remember which layers of NetParameter `net` use which Python class, so that an error
    in one of them names the layer (the pycaffe path calls this before Caffe builds a net)."""
    for layer in net.layer:
        if layer.type == "Python":
            p = layer.python_param
            entry = (layer.name, p.module)
            names = _NAMES.setdefault(p.layer, [])
            if entry not in names:
                names.append(entry)


def describe(cls: type) -> str:
    """'layer 'x' (Python module.Class)' for the layer(s) name_layers saw using `cls`."""
    users = _NAMES.get(cls.__name__, [])
    module = users[0][1] if users else cls.__module__
    what = f"Python {module}.{cls.__name__}"
    if len(users) == 1:
        return f"layer '{users[0][0]}' ({what})"
    if users:
        return f"one of layers {', '.join(repr(n) for n, _ in users)} ({what})"
    return f"a {what} layer"


def _guarded(cls, what):
    """cls.<what> re-raising any exception as PythonLayerError naming the layer."""
    inner = getattr(cls, what)

    @functools.wraps(inner)
    def call(self, *args):
        try:
            return inner(self, *args)
        except PythonLayerError:
            raise
        except Exception as e:
            raise PythonLayerError(
                f"{describe(cls)}: {what}() raised {type(e).__name__}: {e}"
            ) from e

    return call


class PortableLayer:
    """Base of a Python layer that runs on every engine: implement setup / reshape / forward /
    backward as for pycaffe (bottom/top: len() and [i]; `self.param_str`, `self.phase` are set
    by the engine before setup). Do not define __init__ (the engine's Layer initialises)."""

    param_str = ""
    phase = 0

    def __new__(cls, *args, **kwargs):
        if "_engine_layer" in cls.__dict__:  # already an engine's class
            return super().__new__(cls)
        base = _layer_beside(args[0]) if args else None
        if base is None:  # plain, engine-free object
            return super().__new__(cls)
        flavour = cls.for_engine(base)
        return flavour.__new__(flavour, *args, **kwargs)

    @classmethod
    def for_engine(cls, layer_base: type) -> type:
        """This layer as a subclass of `layer_base` (an engine's Layer class, e.g. caffe.Layer
        or torchcaffe.Layer), made on first use and kept; isinstance of both."""
        if "_engine_layer" in cls.__dict__:
            cls = cls.__dict__["_portable"]
        key = (cls, layer_base)
        flavour = _FLAVOURS.get(key)
        if flavour is None:
            engine = layer_base.__module__.split(".")[0]
            namespace = {
                "__module__": cls.__module__,
                "__qualname__": f"{cls.__qualname__}[{engine}]",
                "__doc__": cls.__doc__,
                "_engine_layer": layer_base,
                "_portable": cls,
            }
            if engine == "caffe":  # torchcaffe names the layer in its own errors
                namespace.update({m: _guarded(cls, m) for m in _METHODS if hasattr(cls, m)})
            flavour = types.new_class(
                cls.__name__, (cls, layer_base), exec_body=lambda ns: ns.update(namespace)
            )
            _FLAVOURS[key] = flavour
        return flavour


def _layer_beside(param) -> type | None:
    """The engine Layer class defined in the module of `param`'s type (pycaffe's Boost module
    caffe._caffe defines both LayerParameter and Layer), or None (a protobuf message, ...)."""
    kind = type(param)
    if kind.__name__ != "LayerParameter":
        return None
    base = getattr(sys.modules.get(kind.__module__), "Layer", None)
    return base if isinstance(base, type) else None
