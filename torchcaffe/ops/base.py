"""Base class and registry for torchcaffe's layer implementations.

A layer holds its LayerParameter and its parameter Blobs; `forward(xs, ws)` is a pure function
of the bottom tensors and parameter tensors returning the top tensors. The Net records it with
autograd when gradients are needed, and runs it on `meta` tensors to infer shapes (reshape).
Layers that act on Blobs themselves (Input, Data, Python) set `acts_on_blobs = True` and
implement `reshape_blobs`, `forward_blobs` and `backward_blobs` instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import torch

from ..errors import NetError

if TYPE_CHECKING:
    from typing import TypeAlias

    from caffeio import caffe_pb2

    from ..blob import Blob

    Tensors: TypeAlias = list[torch.Tensor]  # a layer's bottoms, parameters or tops, in order
    Blobs: TypeAlias = list[Blob]  # the bottoms or tops of a layer that acts on Blobs
    Shapes: TypeAlias = list[tuple[int, ...]]  # the bottoms' shapes, in order
    # param_shapes' answer: (shape, FillerParameter or None) per parameter blob
    ParamShapes: TypeAlias = list[tuple[tuple[int, ...], caffe_pb2.FillerParameter | None]]

REGISTRY = {}


def register(*names: str) -> Callable[[type], type]:
    """Class decorator: register a layer class under Caffe type name(s)."""

    def deco(cls):
        for n in names:
            REGISTRY[n] = cls
        cls.type = names[0]
        return cls

    return deco


class Context:
    """What a layer may know about the net building it: phase, device, RNG, prototxt path."""

    def __init__(
        self, phase: int, device: torch.device, generator: torch.Generator | None, where: str
    ) -> None:
        self.phase = phase
        self.device = device
        self.generator = generator
        self.where = where


class BaseLayer:
    """One Caffe layer. Subclasses set the class attributes and implement forward."""

    type = ""
    is_loss = False  # top 0 gets loss_weight 1 unless the prototxt says otherwise
    acts_on_blobs = False
    n_bottom = (0, None)  # (min, max), None = unbounded
    n_top = (0, None)
    no_backward_bottoms = ()  # bottom indices that never get a gradient (labels)
    differentiable = True  # False: never backpropagates (Accuracy, ArgMax)

    def __init__(self, lp: caffe_pb2.LayerParameter, ctx: Context) -> None:
        self.lp = lp
        self.name = lp.name
        self.ctx = ctx
        self.phase = lp.phase if lp.HasField("phase") else ctx.phase
        self.blobs = []  # parameter Blobs, set by the Net from `param_shapes`
        self.check_counts()

    @property
    def where(self) -> str:
        return f"{self.ctx.where}: layer '{self.name}' (type {self.type})"

    def check_counts(self) -> None:
        for what, n, (lo, hi) in (
            ("bottom", len(self.lp.bottom), self.n_bottom),
            ("top", len(self.lp.top), self.n_top),
        ):
            if n < lo or (hi is not None and n > hi):
                want = f"{lo}" if lo == hi else f"{lo}..{hi if hi is not None else 'any'}"
                raise NetError(f"{self.where}: takes {want} {what} blob(s), got {n}")

    def allow_force_backward(self, j: int) -> bool:
        return j not in self.no_backward_bottoms

    def param_shapes(self, bottom_shapes: Shapes) -> ParamShapes:
        """[(shape, FillerParameter or None), ...] for the parameter blobs this layer owns."""
        return []

    def forward(self, xs: Tensors, ws: Tensors) -> Tensors:
        """Bottom tensors, parameter tensors -> list of top tensors."""
        raise NotImplementedError

    explicit_backward = None  # optional (top_diffs, xs, ws, need_bottom) -> bottom diffs


def canonical_axis(axis: int, ndim: int, where: str) -> int:
    """Caffe's CanonicalAxisIndex: negative axes count from the end; out of range is an error."""
    if not -ndim <= axis < max(ndim, 1):
        raise NetError(f"{where}: axis {axis} out of range for a {ndim}-D blob")
    return axis + ndim if axis < 0 else axis


def prod(xs: Iterable[int]) -> int:
    return int(math.prod(xs))


def meta_like(x: torch.Tensor) -> torch.Tensor:
    return torch.empty(x.shape, device="meta")
