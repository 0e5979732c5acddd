"""The rest of pycaffe's Net surface, as BVLC's pycaffe.py and _caffe.cpp define it.

Net inherits these: batched forward_all / forward_backward_all, set_input_arrays (MemoryData),
save_hdf5 / load_hdf5 (torchcaffe.hdf5), the per-layer callbacks before_forward ...
after_backward, and the index views pycaffe's C++ side exposes (_inputs, _outputs, _blobs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import zip_longest
from typing import Any

import numpy as np

from . import hdf5 as _hdf5


class _Callbacks:
    """Functions run with the layer index around each layer's forward / backward."""

    KINDS = ("before_forward", "after_forward", "before_backward", "after_backward")

    def __init__(self):
        self.lists = {k: [] for k in self.KINDS}

    def run(self, kind, i):
        for fn in self.lists[kind]:
            fn(i)


class NetAPI:
    """pycaffe's Net methods built on torchcaffe.Net's own (forward, backward, blobs)."""

    _callbacks = None  # a _Callbacks once one is added

    # ---- C++-bound views (_caffe.cpp)
    @property
    def _inputs(self):
        """Indices (into blobs) of the input blobs."""
        names = list(self.blobs)
        return [names.index(n) for n in self.inputs]

    @property
    def _outputs(self):
        """Indices (into blobs) of the output blobs."""
        names = list(self.blobs)
        return [names.index(n) for n in self.outputs]

    @property
    def _blobs(self):
        """The Blobs in blob order (as blobs.values())."""
        return list(self.blobs.values())

    # ---- callbacks (Net::add_before_forward ...)
    def _add_callback(self, kind, fn):
        if not callable(fn):
            raise TypeError(f"Net.{kind}: expected a callable taking the layer index, got {fn!r}")
        if self._callbacks is None:
            self._callbacks = _Callbacks()
        self._callbacks.lists[kind].append(fn)

    def before_forward(self, fn: Callable[[int], Any]) -> None:
        """Call fn(layer index) before each layer's forward."""
        self._add_callback("before_forward", fn)

    def after_forward(self, fn: Callable[[int], Any]) -> None:
        """Call fn(layer index) after each layer's forward."""
        self._add_callback("after_forward", fn)

    def before_backward(self, fn: Callable[[int], Any]) -> None:
        """Call fn(layer index) before each layer's backward (every layer start..end)."""
        self._add_callback("before_backward", fn)

    def after_backward(self, fn: Callable[[int], Any]) -> None:
        """Call fn(layer index) after each layer's backward (every layer start..end)."""
        self._add_callback("after_backward", fn)

    # ---- batches (pycaffe.py)
    def _batch(self, blobs):
        """Yield {name: array} batches of the net's batch size (the first blob's shape[0])
        from {name: array of N items}; the last batch is padded with zeros."""
        if not blobs:
            raise RuntimeError(
                "no arrays to batch: forward_all / forward_backward_all take the input (and "
                "output diff) arrays as keyword arguments, e.g. forward_all(data=images)"
            )
        num = len(next(iter(blobs.values())))
        batch_size = next(iter(self.blobs.values())).shape[0]
        if batch_size < 1:
            raise RuntimeError(f"{self._where}: the first blob has batch size {batch_size}")
        remainder = num % batch_size
        for b in range(num // batch_size):
            i = b * batch_size
            yield {name: blobs[name][i : i + batch_size] for name in blobs}
        if remainder > 0:
            padded = {}
            for name in blobs:
                arr = np.asarray(blobs[name])
                padding = np.zeros((batch_size - remainder,) + arr.shape[1:])
                padded[name] = np.concatenate([arr[-remainder:], padding])
            yield padded

    def forward_all(
        self, blobs: Iterable[str] | None = None, **kwargs: Any
    ) -> dict[str, np.ndarray]:
        """Forward `kwargs` (input name -> array of N items) in batches of the net's batch size;
        returns {output or blob in `blobs`: array of N items} (padding dropped)."""
        all_outs = {out: [] for out in set(self.outputs + list(blobs or []))}
        for batch in self._batch(kwargs):
            outs = self.forward(blobs=blobs, **batch)
            for out, arr in outs.items():
                all_outs[out].extend(arr.copy())
        for out in all_outs:
            all_outs[out] = np.asarray(all_outs[out])
        pad = len(next(iter(all_outs.values()))) - len(next(iter(kwargs.values())))
        if pad:
            for out in all_outs:
                all_outs[out] = all_outs[out][:-pad]
        return all_outs

    def forward_backward_all(
        self, blobs: Iterable[str] | None = None, diffs: Iterable[str] | None = None, **kwargs: Any
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """forward_all and backward over batches: kwargs give inputs (forward) and output
        diffs (backward); returns ({blob: data of N items}, {blob: diff of N items})."""
        all_outs = {out: [] for out in set(self.outputs + list(blobs or []))}
        all_diffs = {diff: [] for diff in set(self.inputs + list(diffs or []))}
        forward = {k: kwargs[k] for k in self.inputs if k in kwargs}
        backward = {k: kwargs[k] for k in self.outputs if k in kwargs}
        fb = self._batch(forward) if forward else iter(())
        bb = self._batch(backward) if backward else iter(())
        for f, b in zip_longest(fb, bb, fillvalue={}):
            batch_blobs = self.forward(blobs=blobs, **f)
            batch_diffs = self.backward(diffs=diffs, **b)
            for out, arr in batch_blobs.items():
                all_outs[out].extend(arr.copy())
            for diff, arr in batch_diffs.items():
                all_diffs[diff].extend(arr.copy())
        for d in (all_outs, all_diffs):
            for k in d:
                d[k] = np.asarray(d[k])
        pad = len(next(iter(all_outs.values()))) - len(next(iter(kwargs.values())))
        if pad:
            for d in (all_outs, all_diffs):
                for k in d:
                    d[k] = d[k][:-pad]
        return all_outs, all_diffs

    # ---- MemoryData
    def set_input_arrays(self, data: np.ndarray, labels: np.ndarray) -> None:
        """pycaffe's set_input_arrays: float32 C-contiguous data (N x C x H x W) and labels (N,
        or N x 1 x 1 x 1) for the MemoryData layer that must be the net's first layer; N a
        multiple of its batch_size. The arrays are used in place (keep them unchanged)."""
        impl = self._impls[0] if self._impls else None
        if impl is None or impl.type != "MemoryData":
            raise RuntimeError(
                "set_input_arrays may only be called if the first layer is a MemoryDataLayer"
            )
        if isinstance(labels, np.ndarray) and labels.ndim == 1:
            labels = np.ascontiguousarray(labels[:, None, None, None])
        impl.set_input_arrays(data, labels)

    # ---- HDF5 weights
    def save_hdf5(self, filename: str) -> None:
        """Write the parameters in Caffe's HDF5 layout (torchcaffe.hdf5; needs h5py)."""
        _hdf5.save(self, filename)

    def load_hdf5(self, filename: str) -> list[str]:
        """Copy parameters from a Caffe HDF5 weights file, layers matched by name; returns the
        layers with parameters that the file does not cover (they keep their values)."""
        return _hdf5.load(self, filename)
