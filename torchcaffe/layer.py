"""Base class for Python layers, with pycaffe's contract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .blob import Blob, BlobVec

if TYPE_CHECKING:
    from caffeio import caffe_pb2


class Layer:
    """A Python layer as pycaffe defines it.

    The engine sets `self.param_str` (python_param.param_str) and `self.phase` (0 TRAIN, 1 TEST)
    before calling `setup(bottom, top)`; then `reshape(bottom, top)` runs before every
    `forward(bottom, top)`, and `backward(top, propagate_down, bottom)` on the way back.
    `bottom`/`top` hold Blobs (`.data`, `.diff` numpy views, `.reshape(*dims)`), indexed as
    pycaffe's vectors are (len() and [i]). `self.blobs` is a BlobVec: `self.blobs.add_blob(*shape)`
    in setup gives the layer parameters (in net.params, updated by the solver, saved and loaded
    with the net's weights; lr_mult/decay_mult from the layer's `param` specs). An exception
    raised in setup, reshape, forward or backward reaches the caller as it is, with a note
    naming the layer.
    """

    param_str = ""
    phase = 0
    type = "Python"

    def __init__(self, param: caffe_pb2.LayerParameter | None = None) -> None:
        # pycaffe constructs Python layers with their LayerParameter; keep it for subclasses.
        self.layer_param = param
        self.blobs = BlobVec()

    def setup(self, bottom: Sequence[Blob], top: Sequence[Blob]) -> None:
        pass

    def reshape(self, bottom: Sequence[Blob], top: Sequence[Blob]) -> None:
        pass

    def forward(self, bottom: Sequence[Blob], top: Sequence[Blob]) -> None:
        pass

    def backward(
        self, top: Sequence[Blob], propagate_down: Sequence[bool], bottom: Sequence[Blob]
    ) -> None:
        pass
