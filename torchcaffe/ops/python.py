"""The Python layer: a user class imported from python_param.module, driven as pycaffe does.

Its `self.blobs` is a BlobVec bound to the net's device: blobs added with `add_blob` in setup
become the layer's parameters (the Net adopts them after setup). An exception the layer raises
reaches the caller unchanged, with a note (PEP 678) naming the layer and the call.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from caffeio.errors import add_note

from ..blob import BlobVec
from ..errors import NetError
from ..layer import Layer
from .base import BaseLayer, register

if TYPE_CHECKING:
    from caffeio import caffe_pb2

    from ..blob import Blob
    from .base import Blobs, Context


def import_layer_class(module: str, name: str, where: str) -> Any:
    """Import `module` (dotted names allowed; the working directory is on sys.path, as under
    pycaffe) and return its attribute `name`; failures raise NetError with a sys.path hint."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        mod = importlib.import_module(module)
    except Exception as e:  # ImportError, or whatever the module raises while it is imported
        raise NetError(
            f"{where}: cannot import python_param.module '{module}' ({type(e).__name__}: {e}). "
            f"Put the folder holding it on sys.path or PYTHONPATH (sys.path now starts "
            f"{sys.path[:4]})"
        ) from None
    if not hasattr(mod, name):
        raise NetError(
            f"{where}: module '{module}' ({getattr(mod, '__file__', '?')}) has no class "
            f"'{name}' (python_param.layer)"
        )
    return getattr(mod, name)


def own_class(cls: Any) -> Any:
    """torchcaffe's class for a Python layer written for every engine: one that offers
    `for_engine(layer_base)` (engine.PortableLayer) and is not a torchcaffe.Layer yet gets its
    torchcaffe.Layer subclass; any other class is used as it is."""
    make = getattr(cls, "for_engine", None)
    if isinstance(cls, type) and callable(make) and not issubclass(cls, Layer):
        return make(Layer)
    return cls


def _construct(cls, lp):
    try:
        sig = inspect.signature(cls)
        takes_param = any(
            p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
            for p in sig.parameters.values()
        )
    except (TypeError, ValueError):
        takes_param = False
    return cls(lp) if takes_param else cls()


class BlobVector:
    """The bottom/top a Python layer receives: like pycaffe's boost vector of Blob*, it has
    len() and [i] but cannot be iterated, so layers written here also run under pycaffe."""

    __slots__ = ("_blobs",)

    def __init__(self, blobs: Iterable[Blob]) -> None:
        self._blobs = list(blobs)

    def __len__(self):
        return len(self._blobs)

    def __getitem__(self, i):
        if isinstance(i, slice):
            raise TypeError("pycaffe blob vectors take integer indices only, not slices")
        return self._blobs[i]

    def __iter__(self):
        raise TypeError(
            "a Python layer's bottom/top cannot be iterated under pycaffe (boost vector of "
            "Blob*: 'No to_python (by-value) converter'); use len(top) and top[i]"
        )


@register("Python")
class Python(BaseLayer):
    """Calls the user object's setup / reshape / forward / backward with Blob lists."""

    acts_on_blobs = True

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        super().__init__(lp, ctx)
        p = lp.python_param
        if not p.module or not p.layer:
            raise NetError(f"{self.where}: python_param needs both module and layer")
        cls = own_class(import_layer_class(p.module, p.layer, self.where))
        self.obj = _construct(cls, lp)
        self.obj.param_str = p.param_str
        self.obj.phase = self.phase
        try:
            self.obj.blobs = BlobVec(getattr(self.obj, "blobs", None) or (), ctx.device, lp.name)
        except AttributeError:  # a class that forbids the attribute: it has no parameters
            pass
        try:
            self.obj.type = "Python"
        except AttributeError:
            pass

    def _call(self, what, *args):
        try:
            return getattr(self.obj, what)(*args)
        except Exception as e:  # the layer's own exception, as pycaffe passes it on
            p = self.lp.python_param
            add_note(e, f"raised in {p.module}.{p.layer}.{what}() of {self.where}")
            raise

    def param_blobs(self) -> BlobVec:
        """The layer's parameter Blobs after setup: its `self.blobs` (a BlobVec)."""
        blobs = getattr(self.obj, "blobs", None)
        if blobs is None:
            return BlobVec((), self.ctx.device, self.name)
        if not isinstance(blobs, BlobVec):
            blobs = BlobVec(blobs, self.ctx.device, self.name)
            self.obj.blobs = blobs
        return blobs

    def setup_blobs(self, bottom: Blobs, top: Blobs) -> None:
        bottom, top = BlobVector(bottom), BlobVector(top)
        self._call("setup", bottom, top)
        self._call("reshape", bottom, top)

    def reshape_blobs(self, bottom: Blobs, top: Blobs) -> None:
        self._call("reshape", BlobVector(bottom), BlobVector(top))

    def forward_blobs(self, bottom: Blobs, top: Blobs) -> None:
        bottom, top = BlobVector(bottom), BlobVector(top)
        self._call("reshape", bottom, top)
        self._call("forward", bottom, top)

    def backward_blobs(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        self._call("backward", BlobVector(top), list(propagate_down), BlobVector(bottom))
