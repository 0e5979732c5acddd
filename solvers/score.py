"""Scoring segmentation nets: run a net over a split, accumulate confusion matrices per head.

    from solvers.score import seg_tests
    results = seg_tests(net, n_images, heads)  # {head: metrics dict + 'loss'}

Every head is scored with its own loss blob (the release printed SIFT Flow's semantic loss for
the geometric head too). Per-pixel predictions are the argmax over the score blob's channels.
"""

import json
import os
import sys

import numpy as np

from .metrics import fast_hist, scores, table
from .vis import save_label_png


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


def seg_tests(net, n_images, heads, png_dir=None, progress=None):
    """Forward `net` n_images times; -> {head.name: scores(...) + {'loss': mean loss}}.

    heads: solvers.recipes.Head list (score/label/loss blob names, classes, excluded classes).
    png_dir: write each head's prediction as <png_dir>/<head>/<id>.png (VOC palette).
    Labels outside 0..C-1 (255 void) are not counted. Loss is the mean per image of the head's
    own loss blob, as the net computes it (summed over pixels for normalize: false).
    """
    hists = {h.name: np.zeros((len(h.classes), len(h.classes)), np.int64) for h in heads}
    losses = {h.name: 0.0 for h in heads}
    for i in range(n_images):
        net.forward()
        for h in heads:
            for blob in (h.score, h.label):
                if blob not in net.blobs:
                    raise KeyError(f"seg_tests: the net has no blob '{blob}' (head '{h.name}')")
            score = net.blobs[h.score].data[0]
            if score.shape[0] != len(h.classes):
                raise ValueError(
                    f"seg_tests: blob '{h.score}' has {score.shape[0]} channels but head "
                    f"'{h.name}' has {len(h.classes)} classes"
                )
            pred = score.argmax(0)
            gt = net.blobs[h.label].data[0, 0]
            hists[h.name] += fast_hist(gt.astype(np.int64), pred, len(h.classes))
            if h.loss in net.blobs:
                losses[h.name] += float(np.sum(net.blobs[h.loss].data))
            if png_dir:
                save_label_png(pred, os.path.join(png_dir, h.name, _last_id(net, i) + ".png"))
        if progress is not None:
            progress(i + 1)
    out = {}
    for h in heads:
        r = scores(hists[h.name], exclude=h.exclude)
        r["loss"] = losses[h.name] / max(n_images, 1)
        r["classes"] = list(h.classes)
        r["images"] = n_images
        out[h.name] = r
    return out


def report(results, file=sys.stdout, per_class=True):
    """Print each head's summary (and per-class table)."""
    for name, r in results.items():
        title = f"== {name}: {r['images']} images, loss {r['loss']:.6g}"
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
