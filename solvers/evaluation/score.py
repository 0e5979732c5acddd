"""Scoring segmentation nets: run a net over a split, accumulate confusion matrices per head.

    from solvers.score import seg_tests
    results = seg_tests(net, n_images, heads)  # {head: metrics dict + 'loss'}

Every head is scored with its own loss blob (the release printed SIFT Flow's semantic loss for
the geometric head too). Per-pixel predictions are the argmax over the score blob's channels.

Large images (Cityscapes at 2048x1024) can also be scored tile by tile or with sliding windows:

    data_net, net, param = open_eval_nets("val.prototxt", weights, heads)
    results = seg_tests_split(data_net, net, n, heads, Evaluation("tiled", tile=512), param)

The eval net is split in two: its data layer alone (which serves image and labels) and the same
net with an Input in place of the data layer and without the layers that need labels (loss);
the second runs whole (`whole`, as seg_tests), in exact tiles (`tiled`, solvers.tiled: equal to
the whole-image scores, memory of one tile) or in sliding windows (`sliding`, solvers.sliding:
windows of the training crop, scores averaged over overlaps). The loss is not computed there.
"""

import json
import os
import sys
from dataclasses import dataclass

import numpy as np

from .metrics import fast_hist, scores, table
from .vis import save_label_png

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

    def describe(self):
        if self.mode == "tiled":
            return f"tiled, {self.tile} px tiles (exact)"
        if self.mode == "sliding":
            pad = "padded with 0" if self.pad else "not padded"
            return f"sliding {self.window} px windows, overlap {self.overlap:g}, {pad}"
        return "whole images"


def image_count(net, default=None):
    """Number of examples in the net's data layer split (its `ids`), else `default`."""
    for layer in getattr(net, "layers", []) or []:
        ids = getattr(layer, "ids", None)
        if ids is not None:
            return len(ids)
    if default is None:
        raise ValueError("cannot tell how many images the net's data layer serves: pass n_images")
    return default


def _last_id(net, i):
    for layer in getattr(net, "layers", []) or []:
        if getattr(layer, "last_id", None) is not None:
            return str(layer.last_id)
    return f"{i:06d}"


def seg_tests(net, n_images, heads, png_dir=None, progress=None, confusion=False):
    """Forward `net` n_images times; -> {head.name: scores(...) + {'loss': mean loss}}.

    heads: zoo.Head list (score/label/loss blob names, classes, excluded classes).
    png_dir: write each head's prediction as <png_dir>/<head>/<id>.png (VOC palette).
    confusion: also return each head's confusion matrix (rows ground truth, columns
    prediction) as 'confusion', a list of lists.
    Labels outside 0..C-1 (255 void) are not counted. Loss is the mean per image of the head's
    own loss blob, as the net computes it (summed over pixels for normalize: false).
    """
    tally = _Tally(heads)
    for i in range(n_images):
        net.forward()
        for h in heads:
            for blob in (h.score, h.label):
                if blob not in net.blobs:
                    raise KeyError(f"seg_tests: the net has no blob '{blob}' (head '{h.name}')")
            score = net.blobs[h.score].data[0]
            _check_channels(h, score.shape[0])
            pred = score.argmax(0)
            tally.add(h, net.blobs[h.label].data[0, 0], pred)
            if h.loss in net.blobs:
                tally.losses[h.name] += float(np.sum(net.blobs[h.loss].data))
            if png_dir:
                save_label_png(pred, os.path.join(png_dir, h.name, _last_id(net, i) + ".png"))
        if progress is not None:
            progress(i + 1)
    return tally.results(n_images, confusion=confusion)


def _check_channels(h, channels):
    if channels != len(h.classes):
        raise ValueError(
            f"seg_tests: blob '{h.score}' has {channels} channels but head '{h.name}' has "
            f"{len(h.classes)} classes"
        )


class _Tally:
    """Confusion matrices (and summed losses) per head; results() gives the metrics."""

    def __init__(self, heads):
        self.heads = list(heads)
        self.hists = {h.name: np.zeros((len(h.classes), len(h.classes)), np.int64) for h in heads}
        self.losses = {h.name: 0.0 for h in heads}

    def add(self, h, gt, pred):
        self.hists[h.name] += fast_hist(np.asarray(gt).astype(np.int64), pred, len(h.classes))

    def results(self, n_images, loss=True, confusion=False):
        out = {}
        for h in self.heads:
            r = scores(self.hists[h.name], exclude=h.exclude)
            r["loss"] = self.losses[h.name] / max(n_images, 1) if loss else float("nan")
            r["classes"] = list(h.classes)
            r["images"] = n_images
            if confusion:
                r["confusion"] = self.hists[h.name].tolist()
            out[h.name] = r
        return out


def eval_net_parts(net_param, label_blobs, input_shapes=None):
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


def open_eval_nets(net_file, weights, heads, out_dir=None):
    """(data net, input net, input NetParameter) for tiled/sliding scoring of the eval net in
    `net_file` with `weights`, on the program's engine (engine.current()). Writes
    eval-data.prototxt and eval-input.prototxt into out_dir (default: beside net_file)."""
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
    net = engine.open_net(input_file, engine.current().TEST, weights=weights, require_weights=True)
    return data_net, net, input_param


def forward_image(net, image, blobs, evaluation, net_param=None, input_blob="data"):
    """Per-pixel labels (H x W) of `image` (C x H x W, preprocessed) for each blob in `blobs`,
    by evaluation.mode: whole (one pass), tiled (solvers.tiled, exact) or sliding
    (solvers.sliding). net: a net without data layer (input blob `input_blob`)."""
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
    data_net,
    net,
    n_images,
    heads,
    evaluation,
    net_param=None,
    png_dir=None,
    progress=None,
    confusion=False,
):
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
    tally = _Tally(heads)
    blobs = [h.score for h in heads]
    for i in range(n_images):
        data_net.forward()
        for h in heads:
            if h.label not in data_net.blobs:
                raise KeyError(f"the data layer serves no '{h.label}' (head '{h.name}')")
        image = np.array(data_net.blobs[input_blob].data[0], np.float32)
        preds = forward_image(net, image, blobs, evaluation, net_param, input_blob)
        for h, pred in zip(heads, preds):
            _check_channels(h, int(net.blobs[h.score].data.shape[1]))
            tally.add(h, data_net.blobs[h.label].data[0, 0], pred)
            if png_dir:
                save_label_png(pred, os.path.join(png_dir, h.name, _last_id(data_net, i) + ".png"))
        if progress is not None:
            progress(i + 1)
    return tally.results(n_images, loss=False, confusion=confusion)


def report(results, file=sys.stdout, per_class=True):
    """Print each head's summary (and per-class table)."""
    for name, r in results.items():
        loss = r["loss"]
        loss = f"loss {loss:.6g}" if np.isfinite(loss) else "loss not computed"
        title = f"== {name}: {r['images']} images, {loss}"
        if per_class:
            print(table(r, r["classes"], title), file=file)
        else:
            print(title, file=file)
            print(
                f"overall acc {r['overall_acc']:.4f}  mean acc {r['mean_acc']:.4f}  "
                f"mean IU {r['mean_iu']:.4f}  fwavacc {r['fwavacc']:.4f}",
                file=file,
            )


def to_json(results, path, **meta):
    """Write results (+ meta such as weights, split, iteration) as JSON; NaN becomes null."""

    def clean(x):
        if isinstance(x, float) and not np.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    data = clean(dict(meta, results=results))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    import caffeio

    caffeio.atomic_write(path, (json.dumps(data, indent=1) + "\n").encode())
