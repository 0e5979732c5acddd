"""Blob: a named N-D array with data and diff, as pycaffe shows it.

The engine works on torch tensors (`data_tensor`, `diff_tensor`); scripts see numpy arrays
(`data`, `diff`). On the CPU the numpy arrays are views of the tensors' memory, so writes
through them (`blob.data[...] = x`, `blob.data.flat = x`) are seen by the next forward. On CUDA
a host mirror is kept per array with a head flag, like Caffe's SyncedMemory: reading `.data`
copies device -> host (into the same host array while the shape stays) and marks the host side
as the fresh one (the array may be written); the engine's next read copies it back and marks
the device side fresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from . import budget as _budget

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

_DEV, _HOST = "dev", "host"


def _lazy(shape):
    return torch.empty(tuple(int(d) for d in shape), device="meta")


class Blob:
    """One Caffe blob. `Blob(shape)` makes a zero-filled float32 blob on `device`."""

    def __init__(
        self,
        shape: Sequence[int] = (),
        device: torch.device | str = "cpu",
        name: str = "",
        mirror: bool | None = None,
    ) -> None:
        self.name = name
        self._device = torch.device(device)
        # A separate host copy with head flags: always on CUDA; mirror=True forces it on the
        # CPU too (tests exercise the synchronisation that way).
        self._mirror = self._device.type != "cpu" if mirror is None else bool(mirror)
        self._t = {"data": _lazy(shape), "diff": None}
        self._h = {"data": None, "diff": None}
        self._head = {"data": _DEV, "diff": _DEV}
        self._diff_src = None  # a tensor the diff equals until someone reads it (diff_equals)
        self.host_reads = 0  # times `.data` was handed out (possibly written through numpy)

    # ---- engine side (torch) ----
    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def data_tensor(self) -> torch.Tensor:
        """The data as a torch tensor on the blob's device (host writes synchronised first)."""
        return self._dev("data")

    @data_tensor.setter
    def data_tensor(self, t: torch.Tensor) -> None:
        self._set("data", t)

    @property
    def diff_tensor(self) -> torch.Tensor:
        """The diff as a torch tensor (zeros of the data's shape until something writes it)."""
        self._ensure_diff()
        return self._dev("diff")

    @diff_tensor.setter
    def diff_tensor(self, t: torch.Tensor) -> None:
        self._set("diff", t)

    @property
    def materialized(self) -> bool:
        """False while the blob has a shape but no memory yet (nothing has read or written it)."""
        return not self._t["data"].is_meta

    def diff_equals(self, t: torch.Tensor) -> None:
        """Make the diff read as a copy of tensor `t` (same shape), copied only when someone
        reads or writes the diff: the fused SGD step leaves the diff equal to the solver's
        history this way (as Caffe does) without a second copy of the weights in memory."""
        self._t["diff"] = None
        self._h["diff"] = None
        self._head["diff"] = _DEV
        self._diff_src = t

    def _ensure_diff(self):
        d = self._t["diff"]
        src, self._diff_src = self._diff_src, None
        if src is not None and d is None and src.shape == self._t["data"].shape:
            self._t["diff"] = src.detach().clone()
            self._head["diff"] = _DEV
            return
        if d is None or d.shape != self._t["data"].shape:
            self._t["diff"] = _lazy(self._t["data"].shape)
            self._head["diff"] = _DEV

    def _materialize(self, which):
        # Shapes are known at reshape; memory is zero-filled only when someone reads it (a
        # forward usually rebinds the blob to its layer's output first, so most never are).
        t = self._t[which]
        if t.is_meta:
            _budget.check(
                _budget.tensor_bytes(t.shape),
                f"the {which} of blob '{self.name}' {tuple(t.shape)}",
                self._device,
                "use a smaller input (solvers.infer --tile for big images) or another device",
            )
            self._t[which] = torch.zeros(t.shape, device=self._device)
            self._head[which] = _DEV

    def release_diff(self) -> None:
        """Drop the diff's memory; it reads as zeros of the data's shape until written."""
        self._t["diff"] = None
        self._h["diff"] = None
        self._head["diff"] = _DEV
        self._diff_src = None

    def share_data(self, other: Blob) -> None:
        """Make this blob's data the same memory as `other`'s (Caffe's ShareData)."""
        self._set("data", other.data_tensor)

    def _set(self, which, t):
        if which == "diff":
            self._diff_src = None
        t = t.detach()
        if t.dtype != torch.float32:
            t = t.float()
        if t.device != self._device:
            t = t.to(self._device)
        if not t.is_contiguous() and not (
            t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last)
        ):
            t = t.contiguous()  # channels_last maps stay as they are (numpy shows a strided view)
        self._t[which] = t
        self._head[which] = _DEV

    def _dev(self, which):
        self._materialize(which)
        # The engine may write what it gets (in-place updates), so after this the device side
        # is the fresh one, as with Caffe's mutable_gpu_data.
        if self._head[which] == _HOST:
            self._t[which].copy_(torch.from_numpy(self._h[which]), non_blocking=False)
        self._head[which] = _DEV
        return self._t[which]

    def _host(self, which):
        if which == "diff":
            self._ensure_diff()
        self._materialize(which)
        t = self._t[which]
        if which == "data":
            # the caller may write through the view: caches derived from this data (the Winograd
            # filter transforms) check this count (a torch version bump would upset autograd)
            self.host_reads += 1
        if not self._mirror:
            return t.numpy()
        h = self._h[which]
        if self._head[which] == _DEV:
            if h is None or h.shape != tuple(t.shape):
                h = np.empty(tuple(t.shape), dtype=np.float32)
                self._h[which] = h
            torch.from_numpy(h).copy_(t.detach())
        self._head[which] = _HOST
        return h

    # ---- script side (numpy), pycaffe's surface ----
    @property
    def data(self) -> np.ndarray:
        """The data as a float32 numpy array, writable in place and seen by the next forward."""
        return self._host("data")

    @data.setter
    def data(self, value: ArrayLike) -> None:
        self._host("data")[...] = value

    @property
    def diff(self) -> np.ndarray:
        """The diff as a float32 numpy array, writable in place."""
        return self._host("diff")

    @diff.setter
    def diff(self, value: ArrayLike) -> None:
        self._host("diff")[...] = value

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape as a tuple of ints (pycaffe returns a tuple too)."""
        return tuple(self._t["data"].shape)

    @property
    def count(self) -> int:
        """Number of elements."""
        return int(self._t["data"].numel())

    def _legacy(self, i):
        s = self.shape
        if len(s) > 4:
            raise ValueError(f"blob '{self.name}' has {len(s)} axes: legacy accessors need <= 4")
        return s[i] if i < len(s) else 1

    num = property(lambda self: self._legacy(0), doc="shape[0] (1 if absent)")
    channels = property(lambda self: self._legacy(1), doc="shape[1] (1 if absent)")
    height = property(lambda self: self._legacy(2), doc="shape[2] (1 if absent)")
    width = property(lambda self: self._legacy(3), doc="shape[3] (1 if absent)")

    def reshape(self, *dims: int | Sequence[int]) -> None:
        """Change the shape; the contents are kept only when the shape does not change.

        Accepts `reshape(1, 3, h, w)` and `reshape((1, 3, h, w))`.
        """
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        dims = tuple(int(d) for d in dims)
        if any(d < 0 for d in dims):
            raise ValueError(f"blob '{self.name}': negative dimension in reshape{dims}")
        if dims == self.shape:
            return
        self._t["data"] = _lazy(dims)
        self._head["data"] = _DEV
        self._diff_src = None
        if self._t["diff"] is not None:
            self._t["diff"] = _lazy(dims)
            self._head["diff"] = _DEV

    def __repr__(self):
        return f"<Blob {self.name!r} {self.shape}>"


class BlobVec(list):
    """A layer's parameter Blobs, as pycaffe's BlobVec: a list (len, [i], iteration) with
    `add_blob(*shape)`, which appends a zero-filled float32 Blob of that shape. A Python
    layer's `self.blobs` is one: the blobs it adds in setup are its parameters (net.params,
    the solver's update, caffemodels)."""

    def __init__(
        self, blobs: Iterable[Blob] = (), device: torch.device | str = "cpu", name: str = ""
    ) -> None:
        super().__init__(blobs)
        self.device = torch.device(device)
        self.name = name  # the layer's name: blob k is called '<name>[k]'

    def add_blob(self, *shape: int, **kwargs: Any) -> None:
        """Append a zero-filled Blob of `shape` (ints, pycaffe's raw-argument form)."""
        if kwargs:
            raise RuntimeError("BlobVec.add_blob takes no kwargs")
        dims = tuple(int(d) for d in shape)
        if any(d < 0 for d in dims):
            raise ValueError(f"BlobVec.add_blob{dims}: negative dimension")
        blob = Blob(dims, self.device, f"{self.name}[{len(self)}]")
        blob.data_tensor = torch.zeros(dims, device=self.device)
        self.append(blob)
