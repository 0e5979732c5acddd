"""Shapes of the tops of Python data layers, which a prototxt alone cannot tell.

A data layer's top has a *kind*: the entry of its param_str 'tops' list when the layer has one
(as NYUD's layer: tops=['color', 'depth', 'label']), else the top's own name. Each kind has a
channel count: 'data' (an image, 3) and 'label' (1) are Caffe's usual names; packages that
define data layers add their kinds with register_top_channels (the zoo does, for its
datasets), so that shape inference works from an image size alone.

    register_top_channels({"hha": 3, "depth": 1})
    data_top_shapes(layer, 500, 500)      # {'data': (1, 3, 500, 500), 'label': (1, 1, 500, 500)}
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .errors import NetSpecError

if TYPE_CHECKING:
    from caffeio import caffe_pb2

_CHANNELS = {"data": 3, "label": 1}


def top_channels() -> dict[str, int]:
    """A copy of the known kinds: {kind: channels}."""
    return dict(_CHANNELS)


def register_top_channels(channels: Mapping[str, int]) -> None:
    """Add {kind: channels (int >= 1)}; a kind already known with another count is an error."""
    for kind, c in channels.items():
        if not isinstance(c, int) or c < 1:
            raise NetSpecError(f"data top kind '{kind}': channels must be an int >= 1, got {c!r}")
        if _CHANNELS.get(kind, c) != c:
            raise NetSpecError(
                f"data top kind '{kind}' has {_CHANNELS[kind]} channels already; {c} given: "
                "name the new kind differently"
            )
        _CHANNELS[kind] = c


def data_top_shapes(
    layer: caffe_pb2.LayerParameter, height: int, width: int
) -> dict[str, tuple[int, int, int, int]]:
    """Shapes (N, C, H, W) of a Python data layer's tops for an image of height x width.

    The kind of each top comes from param_str's 'tops' list when it has one, else from the
    top's own name; an unknown kind is a ValueError naming the layer and the top.
    """
    kinds = list(layer.top)
    try:
        params = ast.literal_eval(layer.python_param.param_str or "{}")
    except (ValueError, SyntaxError):
        params = {}
    if isinstance(params, dict) and isinstance(params.get("tops"), (list, tuple)):
        if len(params["tops"]) == len(kinds):
            kinds = list(params["tops"])
    out = {}
    for top, kind in zip(layer.top, kinds):
        if kind not in _CHANNELS:
            raise ValueError(
                f"Python layer '{layer.name}' ({layer.python_param.module}."
                f"{layer.python_param.layer}): cannot tell the shape of top '{top}'; pass it "
                "explicitly (input_shapes={'" + top + "': (1, C, H, W)})"
            )
        out[top] = (1, _CHANNELS[kind], height, width)
    return out
