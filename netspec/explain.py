"""Each layer's top shapes with Caffe's size rule, and why each Crop offset is what it is.

explain(net, image_size=(500, 500), out=sys.stdout)    # the table `shapes` commands print
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TextIO

from . import coord, shapes
from .errors import NetSpecError

if TYPE_CHECKING:
    from caffeio import caffe_pb2


def explain(
    net: caffe_pb2.NetParameter,
    image_size: tuple[int, int] | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    out: TextIO = sys.stdout,
) -> None:
    """Print each layer's top shapes (with the size rule) and why each Crop offset is what it is."""
    rows = shapes.infer_layers(net, input_shapes, image_size)
    maps = coord.blob_maps(net)
    w_name = max([len(r.layer.name) for r in rows] + [5])
    w_type = max([len(r.layer.type) for r in rows] + [4])
    w_shape = max([len(shapes._fmt(t)) for r in rows for t in r.tops] + [5])
    head = f"{'layer':<{w_name}}  {'type':<{w_type}}  {'top':<{w_name}}  {'shape':<{w_shape}}"
    print(head + "  rule", file=out)
    for r in rows:
        for i, (top, shape) in enumerate(zip(r.layer.top, r.tops)):
            shp = f"{shapes._fmt(shape):<{w_shape}}"
            rule = f"  H: {r.rule}" if r.rule and i == 0 and r.layer.type != "Crop" else ""
            if r.layer.type == "Crop":
                rule = f"  cropped from {shapes._fmt(r.bottoms[0])} at {r.rule}"
            line = (
                f"{r.layer.name:<{w_name}}  {r.layer.type:<{w_type}}  {top:<{w_name}}  {shp}{rule}"
            )
            print(line.rstrip(), file=out)
    crops = [r for r in rows if r.layer.type == "Crop"]
    if crops:
        print(
            "\ncrop offsets (coordinate maps: position in the blob = a * input position + b):",
            file=out,
        )
    for r in crops:
        a, b = r.layer.bottom[0], r.layer.bottom[1]
        try:
            computed = coord.align_offset(maps[a], maps[b], a, b)
            why = f"computed offset {computed[0] if computed[0] == computed[1] else computed}"
        except NetSpecError as e:
            why = f"cannot be computed: {e}"
        print(f"  {r.layer.name}: {a} = {coord.describe(maps[a])}", file=out)
        print(f"  {' ' * len(r.layer.name)}  {b} = {coord.describe(maps[b])}", file=out)
        print(
            f"  {' ' * len(r.layer.name)}  -> {why}; the file says {r.rule}; "
            f"{shapes._fmt(r.bottoms[0])} -> {shapes._fmt(r.tops[0])}",
            file=out,
        )
    pads = [
        r for r in rows if r.layer.type == "Convolution" and 100 in r.layer.convolution_param.pad
    ]
    for r in pads[:1]:
        print(
            f"\n{r.layer.name} pads by 100: the image is embedded in a larger frame so that any "
            "input (even 1x1) survives the five poolings and fc6's window; the final crop cuts "
            "the score back to the input's size at the offset above.",
            file=out,
        )
