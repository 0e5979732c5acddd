"""Data-stream positions: resume continues the examples where they stopped, ranks differ."""

from __future__ import annotations

from typing import Any


def data_layers(net: Any) -> list[Any]:
    """The Python data layers of a net that keep a stream position (have `seek`)."""
    layers = getattr(net, "layers", None) or []
    return [layer for layer in layers if callable(getattr(layer, "seek", None))]


def seek_data(net: Any, position: int) -> int:
    """Put every data layer of `net` where it is after `position` forward passes.

    After restoring a solverstate at iteration N with iter_size S, position = N * S makes the
    resumed run read exactly the examples the uninterrupted run would have read. A layer's
    stream counts examples, so a layer serving `batch_size` examples per forward (layers.base)
    moves to example position * batch_size. Returns the number of layers moved.
    """
    moved = 0
    for layer in data_layers(net):
        layer.seek(position * int(getattr(layer, "batch_size", 1)))
        moved += 1
    return moved
