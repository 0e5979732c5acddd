"""Scoring segmentation nets: run a net over a split, accumulate confusion matrices per head.

    from solvers.evaluation.score import seg_tests
    results = seg_tests(net, n_images, heads)  # {head: metrics dict + 'loss'}

Every head is scored with its own loss blob (the release printed SIFT Flow's semantic loss for
the geometric head too). Per-pixel predictions are the argmax over the score blob's channels.
Large images: solvers.evaluation.splitnet (tiled or sliding-window scoring).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

import numpy as np

from solvers.pictures.labels import save_label_png

from .metrics import fast_hist, scores, table


def image_count(net: Any, default: int | None = None) -> int:
    """Number of examples in the net's data layer split (its `ids`), else `default`."""
    for layer in getattr(net, "layers", []) or []:
        ids = getattr(layer, "ids", None)
        if ids is not None:
            return len(ids)
    if default is None:
        raise ValueError("cannot tell how many images the net's data layer serves: pass n_images")
    return default


def last_id(net: Any, i: int) -> str:
    """The id of the example the net's data layer served last (its `last_id`), else i as 000042."""
    for layer in getattr(net, "layers", []) or []:
        if getattr(layer, "last_id", None) is not None:
            return str(layer.last_id)
    return f"{i:06d}"


def seg_tests(
    net: Any,
    n_images: int,
    heads: Sequence[Any],
    png_dir: str | None = None,
    progress: Callable[[int], None] | None = None,
    confusion: bool = False,
) -> dict:
    """Forward `net` n_images times; -> {head.name: scores(...) + {'loss': mean loss}}.

    heads: zoo.Head list (score/label/loss blob names, classes, excluded classes).
    png_dir: write each head's prediction as <png_dir>/<head>/<id>.png (VOC palette).
    confusion: also return each head's confusion matrix (rows ground truth, columns
    prediction) as 'confusion', a list of lists.
    Labels outside 0..C-1 (255 void) are not counted. Loss is the mean per image of the head's
    own loss blob, as the net computes it (summed over pixels for normalize: false).
    """
    tally = Tally(heads)
    for i in range(n_images):
        net.forward()
        for h in heads:
            for blob in (h.score, h.label):
                if blob not in net.blobs:
                    raise KeyError(f"seg_tests: the net has no blob '{blob}' (head '{h.name}')")
            score = net.blobs[h.score].data[0]
            check_channels(h, score.shape[0])
            pred = score.argmax(0)
            tally.add(h, net.blobs[h.label].data[0, 0], pred)
            if h.loss in net.blobs:
                tally.losses[h.name] += float(np.sum(net.blobs[h.loss].data))
            if png_dir:
                save_label_png(pred, os.path.join(png_dir, h.name, last_id(net, i) + ".png"))
        if progress is not None:
            progress(i + 1)
    return tally.results(n_images, confusion=confusion)


def check_channels(h: Any, channels: int) -> None:
    """ValueError when a score blob's channels differ from its head's classes."""
    if channels != len(h.classes):
        raise ValueError(
            f"seg_tests: blob '{h.score}' has {channels} channels but head '{h.name}' has "
            f"{len(h.classes)} classes"
        )


class Tally:
    """Confusion matrices (and summed losses) per head; results() gives the metrics."""

    def __init__(self, heads: Sequence[Any]) -> None:
        self.heads = list(heads)
        self.hists = {h.name: np.zeros((len(h.classes), len(h.classes)), np.int64) for h in heads}
        self.losses = {h.name: 0.0 for h in heads}

    def add(self, h: Any, gt: np.ndarray, pred: np.ndarray) -> None:
        self.hists[h.name] += fast_hist(np.asarray(gt).astype(np.int64), pred, len(h.classes))

    def results(self, n_images: int, loss: bool = True, confusion: bool = False) -> dict:
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


def report(results: dict, file: IO[str] = sys.stdout, per_class: bool = True) -> None:
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


def to_json(results: dict, path: str, **meta: Any) -> None:
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
