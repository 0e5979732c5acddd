"""MemoryData (batches from arrays the script hands over) and DummyData (filler-made tops)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from caffeio import caffe_pb2

from .. import caffe_rng
from .. import device as _device
from ..errors import NetError
from ..fillers import fill
from .base import BaseLayer, register

if TYPE_CHECKING:
    from .base import Blobs


@register("MemoryData")
class MemoryData(BaseLayer):
    """Tops data (batch_size x channels x height x width) and labels, taken batch by batch from
    the arrays given to Net.set_input_arrays(data, labels) (the first layer of the net; arrays
    kept by reference, not copied, as in pycaffe: the tops share their memory). After a forward
    the label top is batch_size x 1 x 1 x 1, as in Caffe."""

    acts_on_blobs = True
    n_bottom = (0, 0)
    n_top = (2, 2)

    def setup_blobs(self, bottom: Blobs, top: Blobs) -> None:
        p = self.lp.memory_data_param
        self.batch_size, self.dims = p.batch_size, (p.channels, p.height, p.width)
        if self.batch_size * int(np.prod(self.dims)) <= 0:
            raise NetError(
                f"{self.where}: memory_data_param batch_size, channels, height and width must "
                "all be set and positive"
            )
        caffe_rng.transformer_rng(self.lp.transform_param, self.phase)  # Caffe's draw
        top[0].reshape((self.batch_size,) + self.dims)
        top[1].reshape(self.batch_size)
        self.data = self.labels = None
        self.pos = 0

    def set_input_arrays(self, data: np.ndarray, labels: np.ndarray) -> None:
        """pycaffe's checks (C-contiguous float32 4-D arrays, the layer's C x H x W, labels
        N x 1 x 1 x 1, N a multiple of batch_size), then batches start at item 0."""
        for name, arr, dims in (
            ("data array", data, self.dims),
            ("labels array", labels, (1, 1, 1)),
        ):
            if not isinstance(arr, np.ndarray) or not arr.flags["C_CONTIGUOUS"]:
                raise RuntimeError(f"{name} must be C contiguous")
            if arr.ndim != 4:
                raise RuntimeError(f"{name} must be 4-d")
            if arr.dtype != np.float32:
                raise RuntimeError(f"{name} must be float32")
            for what, got, want in zip(("channels", "height", "width"), arr.shape[1:], dims):
                if got != want:
                    raise RuntimeError(f"{name} has wrong {what}: {got}, the layer has {want}")
        if data.shape[0] != labels.shape[0]:
            raise RuntimeError("data and labels must have the same first dimension")
        if data.shape[0] % self.batch_size:
            raise RuntimeError(
                f"first dimensions of input arrays must be a multiple of batch size "
                f"{self.batch_size} (got {data.shape[0]})"
            )
        self.data, self.labels = data, labels
        self.pos = 0

    def reshape_blobs(self, bottom: Blobs, top: Blobs) -> None:
        pass

    def forward_blobs(self, bottom: Blobs, top: Blobs) -> None:
        if self.data is None:
            raise NetError(
                f"{self.where}: MemoryData has no data: call net.set_input_arrays(data, labels) "
                "before forward"
            )
        b, i = self.batch_size, self.pos
        top[0].reshape((b,) + self.dims)
        top[1].reshape((b, 1, 1, 1))
        top[0].data_tensor = torch.from_numpy(self.data[i : i + b])
        top[1].data_tensor = torch.from_numpy(self.labels[i : i + b])
        self.pos = (i + b) % self.data.shape[0]

    def backward_blobs(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        pass


@register("DummyData")
class DummyData(BaseLayer):
    """Tops of the given shapes (shape, or legacy num/channels/height/width; one for all tops
    or one per top) filled by data_filler (none: constant 0; one for all, or one per top).
    Constant fillers fill once at setup; the others refill every forward (Caffe's rule). Random
    fillers draw from the net's generator, not Caffe's: the values differ from Caffe's, their
    distribution does not."""

    acts_on_blobs = True
    n_bottom = (0, 0)
    n_top = (1, None)

    def setup_blobs(self, bottom: Blobs, top: Blobs) -> None:
        p = self.lp.dummy_data_param
        n = len(top)
        nf = len(p.data_filler)
        if nf not in (0, 1, n):
            raise NetError(
                f"{self.where}: {nf} data_filler entries for {n} tops (give 0, 1 or {n})"
            )
        legacy = bool(len(p.num) or len(p.channels) or len(p.height) or len(p.width))
        shapes = []
        if legacy:
            if len(p.shape):
                raise NetError(f"{self.where}: give shape or num/channels/height/width, not both")
            for field in ("num", "channels", "height", "width"):
                k = len(getattr(p, field))
                if k not in (1, n):
                    raise NetError(
                        f"{self.where}: give '{field}' once, or once per top ({n}); got {k}"
                    )
            for i in range(n):
                shapes.append(
                    tuple(
                        int(getattr(p, f)[0 if len(getattr(p, f)) == 1 else i])
                        for f in ("num", "channels", "height", "width")
                    )
                )
        else:
            if len(p.shape) not in (1, n):
                raise NetError(
                    f"{self.where}: give 'shape' once, or once per top ({n}); got {len(p.shape)}"
                )
            for i in range(n):
                s = p.shape[0 if len(p.shape) == 1 else i]
                shapes.append(tuple(int(d) for d in s.dim))
        if nf == 0:
            fillers = [caffe_pb2.FillerParameter(type="constant", value=0)]
        else:
            fillers = list(p.data_filler)
        self.fillers = [fillers[i if len(fillers) > 1 else 0] for i in range(n)]
        self.shapes = shapes
        for i, t in enumerate(top):
            t.reshape(shapes[i])
            if self.fillers[i].type == "constant":
                t.data_tensor = self._fill(i)

    def _fill(self, i):
        gen = _device.generator(torch.device("cpu"))
        return fill(self.fillers[i], self.shapes[i], gen, self.where).to(self.ctx.device)

    def reshape_blobs(self, bottom: Blobs, top: Blobs) -> None:
        pass

    def forward_blobs(self, bottom: Blobs, top: Blobs) -> None:
        for i, t in enumerate(top):
            if self.fillers[i].type != "constant":
                t.data_tensor = self._fill(i)

    def backward_blobs(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        pass
