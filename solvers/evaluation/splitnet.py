"""Scoring large images: the eval net split in two, run whole, in exact tiles or sliding windows.

    data_net, net, param = open_eval_nets("val.prototxt", weights, heads)
    results = seg_tests_split(data_net, net, n, heads, Evaluation("tiled", tile=512), param)

The eval net is split in two: its data layer alone (which serves image and labels) and the same
net with an Input in place of the data layer and without the layers that need labels (loss);
the second runs whole (`whole`, as seg_tests), in exact tiles (`tiled`, solvers.evaluation.tiled:
equal to the whole-image scores, memory of one tile) or in sliding windows (`sliding`,
solvers.evaluation.sliding: windows of the training crop, scores averaged over overlaps). The
loss is not computed there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from solvers.pictures.labels import save_label_png

from .score import Tally, check_channels, last_id

EVAL_MODES = ("whole", "tiled", "sliding")


@dataclass(frozen=True)
class Evaluation:
    """How each image is run: mode 'whole' | 'tiled' | 'sliding'; tile: output pixels per tile
    side (tiled); window, overlap, pad: sliding-window side, overlap fraction, pad with 0 where
    the image is smaller than the window (sliding)."""

    mode: str = "whole"
    tile: int = 512
    window: int = 321
    overlap: float = 1 / 3
    pad: bool = True

    def __post_init__(self):
        if self.mode not in EVAL_MODES:
            raise ValueError(f"evaluation mode '{self.mode}': use one of {', '.join(EVAL_MODES)}")
        if self.tile < 1 or self.window < 1:
            raise ValueError(f"tile ({self.tile}) and window ({self.window}) must be >= 1")
        if not 0 <= self.overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap}")

    def describe(self) -> str:
        if self.mode == "tiled":
            return f"tiled, {self.tile} px tiles (exact)"
        if self.mode == "sliding":
            pad = "padded with 0" if self.pad else "not padded"
            return f"sliding {self.window} px windows, overlap {self.overlap:g}, {pad}"
        return "whole images"


def eval_net_parts(
    net_param: Any, label_blobs: Sequence[str], input_shapes: dict | None = None
) -> tuple[Any, Any, list[str]]:
    """Split an eval NetParameter -> (data NetParameter, input NetParameter, image blobs).

    The data net is the eval net's data layer (its Python layer without bottoms) alone; the
    input net is the rest of the eval net, fed by an Input layer named "input" with the data
    layer's image tops (every top not in `label_blobs`), minus the layers that need a label
    (loss, accuracy). input_shapes: {blob: (N, C, H, W)} for the Input (default 1 x 3 x 64 x 64;
    the scoring reshapes the input per image anyway).
    """
    from caffeio import caffe_pb2

    data = [lp for lp in net_param.layer if lp.type == "Python" and not len(lp.bottom)]
    if len(data) != 1:
        raise ValueError(
            f"eval net '{net_param.name}' has {len(data)} data layers (Python layers without "
            "bottoms); tiled/sliding scoring splits the net at exactly one: use --eval whole"
        )
    dl = data[0]
    images = [t for t in dl.top if t not in set(label_blobs)]
    data_param = caffe_pb2.NetParameter(name=f"{net_param.name}-data")
    data_param.layer.add().CopyFrom(dl)
    input_param = caffe_pb2.NetParameter(name=f"{net_param.name}-input")
    inp = input_param.layer.add(name="input", type="Input")
    for top in images:
        inp.top.append(top)
        dims = (input_shapes or {}).get(top, (1, 3, 64, 64))
        inp.input_param.shape.add().dim.extend(int(d) for d in dims)
    available = set(images)
    for lp in net_param.layer:
        if lp is dl or not all(b in available for b in lp.bottom):
            continue
        input_param.layer.add().CopyFrom(lp)
        available.update(lp.top)
    return data_param, input_param, images


def open_eval_nets(
    net_file: str,
    weights: str,
    heads: Sequence[Any],
    out_dir: str | None = None,
    fast: bool = False,
) -> tuple[Any, Any, Any]:
    """(data net, input net, input NetParameter) for tiled/sliding scoring of the eval net in
    `net_file` with `weights`, on the program's engine (engine.current()). Writes
    eval-data.prototxt and eval-input.prototxt into out_dir (default: beside net_file). fast:
    torchcaffe's fast inference mode for the input net (engine.fast_mode)."""
    import caffeio
    import engine

    param = caffeio.read_net(net_file)
    labels = [h.label for h in heads]
    data_param, _, images = eval_net_parts(param, labels)
    if len(images) != 1:
        raise ValueError(
            f"{net_file}: the data layer serves {len(images)} image inputs "
            f"({', '.join(images) or 'none'}) besides the labels; tiled and sliding scoring "
            "feed one image: use --eval whole"
        )
    out_dir = out_dir or os.path.dirname(os.path.abspath(net_file))
    data_file = os.path.join(out_dir, "eval-data.prototxt")
    caffeio.write_net(data_param, data_file)
    data_net = engine.open_net(data_file, engine.current().TEST)
    shapes = {b: tuple(data_net.blobs[b].data.shape) for b in images}
    _, input_param, _ = eval_net_parts(param, labels, shapes)
    for h in heads:
        if not any(h.score in lp.top for lp in input_param.layer):
            raise ValueError(f"{net_file}: no layer computes '{h.score}' from the image alone")
    input_file = os.path.join(out_dir, "eval-input.prototxt")
    caffeio.write_net(input_param, input_file)
    net = engine.open_net(
        input_file, engine.current().TEST, weights=weights, require_weights=True, fast=fast
    )
    return data_net, net, input_param


def forward_image(
    net: Any,
    image: np.ndarray,
    blobs: Sequence[str],
    evaluation: Evaluation,
    net_param: Any = None,
    input_blob: str = "data",
) -> list[np.ndarray]:
    """Per-pixel labels (H x W) of `image` (C x H x W, preprocessed) for each blob in `blobs`,
    by evaluation.mode: whole (one pass), tiled (solvers.evaluation.tiled, exact) or
    sliding (solvers.evaluation.sliding). net: a net without data layer (input blob
    `input_blob`)."""
    image = np.asarray(image, np.float32)
    mode = evaluation.mode
    if mode == "tiled":
        from .tiled import tiled_forward

        return [
            tiled_forward(
                net,
                image,
                evaluation.tile,
                input_blob=input_blob,
                output_blob=b,
                labels=True,
                net_param=net_param,
            )
            for b in blobs
        ]
    if mode == "sliding":
        from .sliding import sliding_forward

        out = sliding_forward(
            net,
            image,
            evaluation.window,
            evaluation.overlap,
            input_blob,
            list(blobs),
            pad=evaluation.pad,
        )
        return [s.argmax(0) for s in out]
    net.blobs[input_blob].reshape(1, *image.shape)
    net.blobs[input_blob].data[...] = image
    net.forward()
    return [net.blobs[b].data[0].argmax(0) for b in blobs]


def seg_tests_split(
    data_net: Any,
    net: Any,
    n_images: int,
    heads: Sequence[Any],
    evaluation: Evaluation | str,
    net_param: Any = None,
    png_dir: str | None = None,
    progress: Callable[[int], None] | None = None,
    confusion: bool = False,
) -> dict:
    """Score like seg_tests, with the data and the net apart (see open_eval_nets): each
    forward of `data_net` serves an image and its labels; `net` runs the image as `evaluation`
    says (Evaluation: whole, tiled or sliding). Same metrics and confusion matrices as
    seg_tests; 'loss' is NaN (not computed). net_param: the input net's NetParameter (tiling
    reads the receptive field from it; torchcaffe nets carry their own)."""
    if isinstance(evaluation, str):
        evaluation = Evaluation(evaluation)
    inputs = list(getattr(net, "inputs", []) or ["data"])
    if len(inputs) != 1:
        raise ValueError(f"the net has inputs {inputs}; tiled/sliding scoring feeds one image")
    input_blob = inputs[0]
    tally = Tally(heads)
    blobs = [h.score for h in heads]
    for i in range(n_images):
        data_net.forward()
        for h in heads:
            if h.label not in data_net.blobs:
                raise KeyError(f"the data layer serves no '{h.label}' (head '{h.name}')")
        image = np.array(data_net.blobs[input_blob].data[0], np.float32)
        preds = forward_image(net, image, blobs, evaluation, net_param, input_blob)
        for h, pred in zip(heads, preds):
            check_channels(h, int(net.blobs[h.score].data.shape[1]))
            tally.add(h, data_net.blobs[h.label].data[0, 0], pred)
            if png_dir:
                save_label_png(pred, os.path.join(png_dir, h.name, last_id(data_net, i) + ".png"))
        if progress is not None:
            progress(i + 1)
    return tally.results(n_images, loss=False, confusion=confusion)
