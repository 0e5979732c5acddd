"""What both demos do the same way: their folders, and random-weight base weights."""

from __future__ import annotations

import os
import shutil


def make_base(runs: str, width: float, seed: int = 0, arch: str = "vgg16") -> str:
    """<runs>/ilsvrc-nets/<arch>-fcn.caffemodel from a random-weight classifier (arch of
    zoo.classifiers: vgg16, resnet101, ...) at `width`, fcnized. Returns the path."""
    from surgery.fcnize import fcnize
    from zoo.classifiers import write_classifier

    out = os.path.join(runs, "ilsvrc-nets", f"{arch}-fcn.caffemodel")
    if os.path.exists(out):
        return out
    cls_dir = os.path.join(runs, "ilsvrc-nets", "random-classifier")
    proto, weights = write_classifier(cls_dir, arch, width=width, seed=seed)
    fcnize(proto, weights, out, force=True, verbose=False)
    return out


def demo_folders(out: str, fresh: bool = False) -> tuple[str, str, str]:
    """(demo folder, its data root, its runs folder), absolute; the folder is emptied first
    when `fresh` and created when missing."""
    out = os.path.abspath(out)
    if fresh and os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out, exist_ok=True)
    return out, os.path.join(out, "data"), os.path.join(out, "runs")
