"""Inference on your own pictures: label PNGs (VOC palette) and overlays, any image size.

    from solvers.inference.segment import run
    rows = run(["photo.jpg", "folder/"], "voc-fcn8s.caffemodel", model="voc-fcn8s")

The command line is `python -m solvers.infer` (solvers.inference.cli).

For each image `<id>.<ext>` it writes `<out>/<id>.png` (palette PNG: pixel value = class index,
coloured with the VOC palette) and `<out>/<id>_overlay.png` (image | prediction | blend |
legend: each class's colour and name).
Models with two heads (SIFT Flow) also write `<id>_<head>.png` for the second head. `<id>` is
the file's stem; outputs never replace an input, each other, or any file this call did not
write (a.png already in --out: a-2.png), unless `overwrite` allows replacing files that are not
inputs (see output_ids); each row says which name was taken instead of which.

Input convention (docs/datasets.md): the image is read as RGB, turned to float32 BGR on the 0..255
scale, the dataset's per-channel mean (BGR order) is subtracted, and the net is reshaped to
1 x 3 x H x W for every image (no resizing, no cropping). The nets run on the program's engine
(engine.use: --engine, else FCN_ENGINE, else real pycaffe if importable, else torchcaffe).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

import engine

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


class InferError(SystemExit):
    """Bad command-line input; the message names the file and what to do."""

    def __init__(self, message: str):
        super().__init__(f"error: {message}")


def model_info(model: str) -> tuple[np.ndarray, bool, tuple, list[tuple[str, str]]]:
    """(mean BGR float array, swap RGB->BGR?, class names, [(head, score blob)]) of a zoo model,
    from its record (zoo.record): its input's mean and channel order, its heads' classes."""
    import zoo

    if not zoo.is_model(model):
        raise InferError(f"unknown model '{model}': use --proto with --mean, or a zoo model name")
    rec = zoo.record(model)
    if len(rec.inputs) > 1:
        count = {2: "two", 3: "three"}.get(len(rec.inputs), len(rec.inputs))
        raise InferError(
            f"{model} takes {count} inputs ({' plus '.join(rec.inputs)}); this command "
            "feeds one picture. Use a model with one input (e.g. nyud-fcn32s-color or "
            "nyud-fcn32s-hha), or score.py on the dataset."
        )
    image = rec.image_input  # HHA images keep their channel order (bgr False)
    names = tuple(c for h in rec.heads for c in h.classes)
    return image.mean_array(), image.bgr, names, [(h.name, h.score) for h in rec.heads]


def preprocess(rgb: np.ndarray, mean: Any, swap: bool = True) -> np.ndarray:
    """H x W x 3 uint8 RGB -> 3 x H x W float32: BGR (if swap), 0..255, minus mean (BGR)."""
    from layers.io import bgr_minus_mean

    if swap:
        return bgr_minus_mean(rgb, mean)
    x = np.asarray(rgb, np.float32) - np.asarray(mean, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def predict(
    net: Any,
    image: np.ndarray,
    score_blobs: Sequence[str] = ("score",),
    input_blob: str = "data",
    finite: bool = True,
) -> list[np.ndarray]:
    """Run `net` (pycaffe API) on one 3 x H x W preprocessed image -> [H x W int label map] per
    score blob (argmax over channels). The input blob is reshaped to this image's size.
    finite: NonFiniteScores when a score blob holds NaN/inf (diverged weights: no label map)."""
    net.blobs[input_blob].reshape(1, *image.shape)
    net.blobs[input_blob].data[...] = image
    net.forward()
    out = []
    for blob in score_blobs:
        if blob not in net.blobs:
            raise InferError(f"the net has no blob '{blob}' (its blobs: {list(net.blobs)[-5:]})")
        scores = net.blobs[blob].data[0]
        if finite and not np.isfinite(scores).all():
            from solvers.evaluation.tiled import NonFiniteScores

            raise NonFiniteScores(f"'{blob}' holds NaN/inf values")
        out.append(scores.argmax(axis=0).astype(np.uint8))
    return out


def find_images(paths: Sequence[str]) -> list[str]:
    """Expand files and folders (sorted, non-recursive) -> list of image paths; missing paths
    and folders without images raise InferError."""
    out = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(
                os.path.join(p, f) for f in os.listdir(p) if f.lower().endswith(IMAGE_EXTS)
            )
            if not found:
                raise InferError(f"{p}: folder holds no images ({', '.join(IMAGE_EXTS)})")
            out.extend(found)
        elif os.path.isfile(p):
            out.append(p)
        else:
            raise InferError(f"{p}: no such image file or folder")
    if not out:
        raise InferError("no images given")
    return out


def output_ids(
    paths: Sequence[str],
    out_dir: str,
    extra_heads: Sequence[str] = (),
    overlay: bool = True,
    overwrite: bool = False,
) -> list[str]:
    """One output id per input image, so that no two outputs share a file, no output is an
    input and no output replaces a file already there (unless `overwrite`: then only inputs
    and each other are avoided): `<out>/<id>.png`, `<id>_overlay.png` and `<id>_<head>.png`
    for `extra_heads`.

    The id is the file's stem; stems shared by several inputs (x.jpg, x.png) become
    `<stem>.<ext>`; any id whose outputs would still collide with another image's outputs, an
    input file (e.g. --out is the input folder and holds photo.png) or an existing file gets
    `-2`, `-3`...
    """
    inputs = {os.path.abspath(p) for p in paths}
    taken = set(inputs)
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    shared = {s for s in stems if stems.count(s) > 1}

    ids = [None] * len(paths)
    # images with a stem of their own claim it first; then the rest, in order
    order = [i for i, s in enumerate(stems) if s not in shared]
    order += [i for i, s in enumerate(stems) if s in shared]
    for i in order:
        base = natural_id(paths[i], paths)
        idx, k = base, 1
        while any(
            o in taken or (not overwrite and os.path.lexists(o))
            for o in output_files(idx, out_dir, extra_heads, overlay)
        ):
            k += 1
            idx = f"{base}-{k}"
        taken.update(output_files(idx, out_dir, extra_heads, overlay))
        ids[i] = idx
    return ids


def output_files(
    idx: str, out_dir: str, extra_heads: Sequence[str] = (), overlay: bool = True
) -> list[str]:
    """The absolute paths of the files written for output id `idx`."""
    names = [f"{idx}.png"] + [f"{idx}_{h}.png" for h in extra_heads]
    if overlay:
        names.append(f"{idx}_overlay.png")
    return [os.path.abspath(os.path.join(out_dir, n)) for n in names]


def natural_id(path: str, paths: Sequence[str]) -> str:
    """The id `path` gets when nothing is in its way: its stem, or `<stem>.<ext>` when another
    input shares the stem (output_ids)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    if stems.count(stem) > 1:
        return f"{stem}.{os.path.splitext(path)[1].lstrip('.').lower() or 'img'}"
    return stem


def why_renamed(wanted: Sequence[str], inputs: set[str], overwrite: bool = False) -> str:
    """Why the output files `wanted` (output_files of an image's natural id) were not used:
    one is an input, was already there, or is another image's output."""
    for path in wanted:
        if path in inputs:
            return f"{path} is one of the input images"
    for path in wanted:
        if os.path.lexists(path) and not overwrite:
            return f"{path} was already there (not written by this run)"
    return "another image's output has that name"


class _Preprocessed:
    """A 3 x H x W view of preprocess(rgb, mean, swap) computed window by window, so tiled
    inference of a huge image never holds a full-size float copy."""

    def __init__(self, rgb, mean, swap):
        self.rgb, self.mean, self.swap = rgb, mean, swap
        self.shape = (3,) + tuple(rgb.shape[:2])
        self.ndim = 3

    def window(self, y0, y1, x0, x1):
        """1 x 3 x (y1-y0) x (x1-x0) float32 input for that part of the image."""
        return preprocess(self.rgb[y0:y1, x0:x1], self.mean, self.swap)[None]


OVERLAY_MAX_SIDE = 4096  # overlays of larger images are drawn at a reduced size


def deploy_file(model: str, width: float, out_dir: str, overwrite: bool = False) -> str:
    """The deploy prototxt of a zoo model: models/<m>/deploy.prototxt at width 1 when present,
    else generated at `width` into <out_dir>/<model>-deploy.prototxt (reused when that file
    already holds the same net; a different file of that name is kept, unless `overwrite`,
    and the net goes to <model>-deploy-2.prototxt, ...)."""
    import zoo
    from solvers.runs.folder import MODELS_DIR

    if not zoo.is_model(model):
        raise InferError(f"unknown model '{model}'; known models: {', '.join(zoo.names())}")
    shipped = os.path.join(MODELS_DIR, model, "deploy.prototxt")
    if width == 1.0 and os.path.isfile(shipped):
        return shipped
    from caffeio.atomic import atomic_write
    from caffeio.text import to_text

    text = to_text(zoo.build(model, "deploy", width=width)).encode("utf-8")
    os.makedirs(out_dir, exist_ok=True)
    base, k = os.path.join(out_dir, f"{model}-deploy"), 1
    path = f"{base}.prototxt"
    while os.path.lexists(path) and not _same_bytes(path, text) and not overwrite:
        k += 1
        path = f"{base}-{k}.prototxt"
    if not _same_bytes(path, text):
        atomic_write(path, text)
    return path


def _same_bytes(path: str, data: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read() == data
    except OSError:
        return False


def _open(weights, model, proto, out_dir, width, mean, fast, overwrite=False):
    """The net and what to read from it -> (net, input blob, prototxt, heads [(name, score
    blob)], mean, swap RGB->BGR, class names)."""
    if proto:
        if not os.path.isfile(proto):
            raise InferError(f"--proto {proto}: no such file")
        if mean is None:
            raise InferError("--proto needs --mean B,G,R (the training mean, BGR order)")
        heads, swap, names = [("score", None)], True, None
    else:
        base_mean, swap, names, heads = model_info(model)
        mean = base_mean if mean is None else mean
        proto = deploy_file(model, width, out_dir, overwrite)
    test = engine.current().TEST
    try:
        net = engine.open_net(proto, test, weights=weights, require_weights=True, fast=fast)
    except ValueError as e:  # either engine: NaN/inf weights, another net's or width's blobs
        raise InferError(_one_line(e, weights)) from None
    if len(net.inputs) != 1:
        raise InferError(f"{proto}: the net has inputs {list(net.inputs)}; one image input needed")
    if heads[0][1] is None:
        heads = [("score", "score" if "score" in net.outputs else net.outputs[0])]
    return net, net.inputs[0], proto, heads, mean, swap, names


def _one_line(e: Exception, weights: str) -> str:
    """The engine's message for weights (or a net) it refused, on one line naming the file."""
    text = " ".join(str(e).split())
    if weights not in text and os.path.basename(weights) not in text:
        text = f"--weights {weights}: {text}"
    return text


def _read(path):
    from layers.errors import LAYOUT_HINT
    from layers.io import read_rgb

    try:
        return read_rgb(path)
    except Exception as e:
        why = str(e).replace(f"; {LAYOUT_HINT}", "")
        raise InferError(
            f"{path}: cannot read the image ({why}); give a JPEG/PNG/BMP/TIFF/WebP picture"
        ) from None


def _labels(net, rgb, mean, swap, heads, input_blob, proto, tile, finite=True):
    """[H x W labels] of each head for one picture: whole, or in exact tiles."""
    blobs = [b for _, b in heads]
    if not tile:
        return predict(net, preprocess(rgb, mean, swap), blobs, input_blob, finite)
    from solvers.evaluation.tiled import tiled_forward

    x = _Preprocessed(rgb, mean, swap)
    return [
        tiled_forward(net, x, tile, input_blob=input_blob, output_blob=b, labels=True,
                      net_param=proto, finite=finite)
        for b in blobs
    ]  # fmt: skip


def legend(label: np.ndarray, names: Sequence[str] | None) -> list[tuple]:
    """[(class index, name, (r, g, b) of the VOC palette, share of the pixels)] of the classes
    in a label map, largest first: which colour is which class (names None: the indices)."""
    from solvers.pictures.labels import label_legend

    values, counts = np.unique(np.asarray(label), return_counts=True)
    share = {int(v): c / max(1, label.size) for v, c in zip(values, counts)}
    rows = label_legend([label], [str(n) for n in names or ()])
    return sorted(((c, n, rgb, share[c]) for c, n, rgb in rows), key=lambda r: -r[3])


def _checked_labels(net, path, rgb, mean, swap, heads, input_blob, proto, tile, weights):
    """_labels, with a net whose scores are NaN/inf refused naming the weights (unless the
    user lets non-finite weights in, CAFFEIO_ALLOW_NONFINITE=1: then they get the argmax)."""
    from caffeio.weights_check import allow_nonfinite_from_env
    from solvers.evaluation.tiled import NonFiniteScores

    allowed = allow_nonfinite_from_env()
    try:
        return _labels(net, rgb, mean, swap, heads, input_blob, proto, tile, not allowed)
    except NonFiniteScores as e:
        raise InferError(
            f"--weights {weights}: the net's output {e} on {path}: these weights are "
            "diverged (finite values too large for a forward, or NaN/inf ones) and would give "
            "a made-up label map. Use an earlier snapshot (the last good one training named)"
        ) from None


def _write(out_dir, idx, path, rgb, labels, heads, overlay, names=None):
    """Write one picture's label PNGs (and overlay, with a legend of the class names) -> its
    result row."""
    from solvers.pictures.labels import colorize, legend_panel, save_label_png, save_panels
    from solvers.pictures.labels import overlay as blend

    label_path = os.path.join(out_dir, f"{idx}.png")
    save_label_png(labels[0], label_path)
    for (head, _), lab in zip(heads[1:], labels[1:]):
        save_label_png(lab, os.path.join(out_dir, f"{idx}_{head}.png"))
    row = {
        "image": path,
        "label": label_path,
        "size": rgb.shape[:2],
        "classes": sorted(int(c) for c in np.unique(labels[0])),
        "legend": legend(labels[0], names),
    }
    if overlay:
        row["overlay"] = os.path.join(out_dir, f"{idx}_overlay.png")
        step = -(-max(rgb.shape[:2]) // OVERLAY_MAX_SIDE)  # >1 only for huge images
        small, lab = rgb[::step, ::step], labels[0][::step, ::step]
        pics = [small, colorize(lab), blend(small, lab), legend_panel(row["legend"], lab.shape[0])]
        save_panels(row["overlay"], pics, ["image", "prediction", "overlay", "classes"])
    return row


def run(
    images: Sequence[str],
    weights: str,
    model: str = "voc-fcn8s",
    proto: str | None = None,
    out_dir: str = "predictions",
    width: float = 1.0,
    mean: Any = None,
    overlay: bool = True,
    progress: bool = True,
    tile: int | None = None,
    fast: bool = False,
    overwrite: bool = False,
) -> list[dict]:
    """Segment `images` (paths, files or folders) with the program's engine and write PNGs
    into out_dir, never replacing a file this call did not write (overwrite: files already in
    out_dir may be replaced; inputs never are).

    tile: run each image in tiles of this many output pixels per side
    (solvers.evaluation.tiled; the geometry comes from the prototxt, so both engines tile) with
    a margin of the net's receptive-field radius, so the labels equal the whole-image ones while
    memory stays that of one tile: for images too large for one pass. fast: torchcaffe's fast
    inference mode (engine.fast_mode).

    Returns [{'image', 'label', 'overlay', 'size', 'classes', 'legend'}] per image (classes:
    the class indices present in the prediction of the first head; legend: (index, name,
    colour, share of the pixels) of each, largest first; 'class_names' for zoo models;
    'instead_of' and 'why' when the label file got another name than <id>.png because that
    one was taken).
    """
    if not os.path.isfile(weights):
        raise InferError(
            f"--weights {weights}: no such file (train one with models/{model}/solve.py or "
            "`make demo`, or convert the release's caffemodel)"
        )
    paths = find_images(images)
    net, input_blob, proto, heads, mean, swap, names = _open(
        weights, model, proto, out_dir, width, mean, fast, overwrite
    )
    os.makedirs(out_dir, exist_ok=True)
    bar = _bar(len(paths), progress)
    results = []
    ids = output_ids(paths, out_dir, [h for h, _ in heads[1:]], overlay, overwrite)
    extra = [h for h, _ in heads[1:]]
    inputs = {os.path.abspath(p) for p in paths}
    notes = {}  # decided before anything is written: which label name was taken, and why
    for path, idx in zip(paths, ids):
        natural = natural_id(path, paths)
        if idx != natural:
            why = why_renamed(output_files(natural, out_dir, extra, overlay), inputs, overwrite)
            notes[path] = (os.path.join(out_dir, f"{natural}.png"), why)
    for path, idx in zip(paths, ids):
        rgb = _read(path)
        labels = _checked_labels(
            net, path, rgb, mean, swap, heads, input_blob, proto, tile, weights
        )
        results.append(_write(out_dir, idx, path, rgb, labels, heads, overlay, names))
        if path in notes:
            results[-1]["instead_of"], results[-1]["why"] = notes[path]
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if names:
        for r in results:
            r["class_names"] = [names[c] if c < len(names) else str(c) for c in r["classes"]]
    return results


def parse_mean(text: str) -> np.ndarray:
    """'B,G,R' -> float32 array (3,); InferError otherwise."""
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) != 3:
        raise InferError(f"--mean {text!r}: give three numbers B,G,R (e.g. 104.01,116.67,122.68)")
    return np.array(vals, np.float32)


def _bar(total, enabled):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="img", file=sys.stderr, dynamic_ncols=True)
