"""A PASCAL VOC 2012 test submission: the evaluation server's folder layout and PNGs, archived.

    python models/voc-fcn8s/score.py --weights voc-fcn8s.caffemodel \
        --submit data/VOCdevkit/VOC2012 [--out DIR]

The test images' labels are not published; the VOC evaluation server scores predictions
uploaded as one archive. The layout is the VOC2012 development kit's (VOCinit.m:
`results/VOC2012/Segmentation/<comp>_<testset>_cls/<id>.png`): one PNG per id of
`ImageSets/Segmentation/test.txt`, the size of its JPEGImages/<id>.jpg, an indexed (palette)
image whose pixel values are the class indices 0 (background) .. 20, with the VOC colour map
as the ground truth's. The competition is comp6 ("trained on own data": any data but the
VOC2012 test set); comp5 admits only VOC2012 trainval, and the FCNs start from ImageNet
classifiers and train on SBD (docs/datasets.md). The archive holds the `results/` tree only.
"""

from __future__ import annotations

import os
import sys
import tarfile
from dataclasses import dataclass
from typing import Any

import numpy as np

COMP = "comp6"
YEAR = "VOC2012"
TESTSET = "test"


class SubmissionError(SystemExit):
    """The submission cannot be written; the message names the file and what to do."""

    def __init__(self, message: str):
        super().__init__(f"error: {message}")


@dataclass(frozen=True)
class Submission:
    """What was written: the PNG folder, the archive to upload, the ids (test.txt order)."""

    folder: str
    archive: str
    ids: tuple


def result_dir(out: str) -> str:
    """<out>/results/VOC2012/Segmentation/comp6_test_cls: where the devkit reads the PNGs."""
    return os.path.join(out, "results", YEAR, "Segmentation", f"{COMP}_{TESTSET}_cls")


def test_ids(voc_dir: str) -> list:
    """The ids of <voc_dir>/ImageSets/Segmentation/test.txt whose JPEGImages/<id>.jpg exist
    (SubmissionError naming the missing list or the first missing pictures)."""
    path = os.path.join(voc_dir, "ImageSets", "Segmentation", f"{TESTSET}.txt")
    if not os.path.isfile(path):
        hint = ""
        if os.path.isdir(os.path.join(voc_dir, YEAR)):
            hint = f" (give the {YEAR} folder inside it: {os.path.join(voc_dir, YEAR)})"
        raise SubmissionError(
            f"--submit {voc_dir}: no {path}{hint}; unpack the VOC2012 test tarball (VOCdevkit/"
            "VOC2012 with ImageSets/Segmentation/test.txt and JPEGImages)"
        )
    with open(path, encoding="utf-8") as f:
        ids = [line.strip() for line in f if line.strip()]
    if not ids:
        raise SubmissionError(f"{path}: the test split is empty")
    missing = [i for i in ids if not os.path.isfile(_image(voc_dir, i))]
    if missing:
        raise SubmissionError(
            f"{len(missing)} of the {len(ids)} test ids have no picture in "
            f"{os.path.join(voc_dir, 'JPEGImages')} ({', '.join(missing[:5])}): the server "
            "scores every test image, so unpack the whole test set"
        )
    return ids


def _image(voc_dir, idx):
    return os.path.join(voc_dir, "JPEGImages", f"{idx}.jpg")


def check_model(model: str) -> Any:
    """The model's record when its output is the 21 VOC classes, else SubmissionError."""
    import zoo
    from zoo.classes import VOC_CLASSES

    rec = zoo.record(model)
    if tuple(rec.classes) != VOC_CLASSES or len(rec.inputs) != 1:
        raise SubmissionError(
            f"{model} predicts {len(rec.classes)} classes of {rec.dataset.title}; the VOC "
            "server scores the 21 VOC classes from one colour picture: submit a voc-* model"
        )
    return rec


def _fresh(out: str) -> tuple[str, str]:
    folder = result_dir(out)
    archive = os.path.join(out, f"{COMP}_{TESTSET}_results.tar.gz")
    taken = [p for p in (archive,) if os.path.exists(p)]
    if os.path.isdir(folder) and os.listdir(folder):
        taken.insert(0, folder)
    if taken:
        raise SubmissionError(
            f"{' and '.join(taken)} hold an earlier submission (nothing is overwritten): give "
            "another --out, or move them away"
        )
    return folder, archive


def _predict(net: Any, image: np.ndarray, score: str) -> np.ndarray:
    """H x W uint8 class map of one 3 x H x W preprocessed picture."""
    blob = net.inputs[0]
    net.blobs[blob].reshape(1, *image.shape)
    net.blobs[blob].data[...] = image
    net.forward()
    out = net.blobs[score].data[0]
    if out.shape[1:] != image.shape[1:]:
        raise SubmissionError(
            f"the net's {score} is {out.shape[1]}x{out.shape[2]} for a {image.shape[1]}x"
            f"{image.shape[2]} picture; the server needs one label per pixel"
        )
    return out.argmax(axis=0).astype(np.uint8)


def archive_results(out: str, archive: str, ids: list) -> None:
    """Write the tar.gz of <out>/results/... holding exactly the PNGs of `ids` (atomically)."""
    from caffeio.atomic import atomic_path

    base = os.path.relpath(result_dir(out), out)
    with atomic_path(archive) as tmp:
        with tarfile.open(tmp, "w:gz") as tar:
            for idx in ids:
                name = os.path.join(base, f"{idx}.png")
                tar.add(os.path.join(out, name), arcname=name.replace(os.sep, "/"))


def write_voc_submission(model: str, weights: str, voc_dir: str, out: str, width: float = 1.0,
                         fast: bool = False, progress: bool = True) -> Submission:  # fmt: skip
    """Segment every test image of the VOC2012 folder `voc_dir` with `model`'s deploy net at
    `width` and caffemodel `weights` on the program's engine; write the devkit's result PNGs
    under `out` and the archive to upload -> Submission."""
    import caffeio
    import engine
    import zoo
    from layers.io import load_image
    from solvers.pictures.labels import save_label_png

    rec = check_model(model)
    ids = test_ids(voc_dir)
    folder, archive = _fresh(out)
    os.makedirs(folder, exist_ok=True)
    proto = os.path.join(out, f"{model}-deploy.prototxt")
    caffeio.write_net(zoo.build(model, "deploy", width=width), proto)
    net = engine.open_net(proto, engine.current().TEST, weights, require_weights=True, fast=fast)
    mean = rec.image_input.mean_array()
    for k, idx in enumerate(ids, 1):
        image = load_image(_image(voc_dir, idx), mean, ("VOC2012 test", TESTSET, idx))
        save_label_png(_predict(net, image, rec.heads[0].score), os.path.join(folder, f"{idx}.png"))
        if progress and (k % 100 == 0 or k == len(ids)):
            print(f"  {k}/{len(ids)} test images", file=sys.stderr)
    archive_results(out, archive, ids)
    return Submission(folder, archive, tuple(ids))
