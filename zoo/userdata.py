"""A user's own dataset: its folder layout, read from file names and text files only.

    <root>/images/<id>.<ext>    the pictures: .jpg .jpeg .png .bmp .ppm .tif .tiff .webp
    <root>/labels/<id>.png      class indices, one PNG per picture, paired by <id>: a palette
                                PNG (label = palette index) or a greyscale PNG (label = grey
                                value, 8 or 16 bit); an RGB-coloured PNG only with colors.txt
    <root>/classes.txt          one class name per line: line i (from 0) names label value i
    <root>/train.txt, val.txt   split lists, one <id> per line (optional: a missing list means
                                every pair; `python -m layers.folder split` writes both)
    <root>/mean.txt             optional per-channel mean "B G R" subtracted from the pictures
                                (`python -m layers.folder mean` computes it over train)
    <root>/colors.txt           optional, for RGB-coloured label PNGs: one "R G B class" per
                                line (class: a name of classes.txt or its index)

Label value 255 is the ignore label (pixels neither trained on nor scored); a dataset that
marks them otherwise names its value once (`python -m zoo make-custom --void-label V`).

Nothing here decodes an image (the zoo imports no image library): the data layer
(layers.folder) and the dataset commands read the pictures; the model folder command
(zoo.custom) reads the class names, the mean and the split sizes from here.
"""

from __future__ import annotations

import math
import os

IMAGES, LABELS = "images", "labels"
CLASSES, MEAN, COLORS = "classes.txt", "mean.txt", "colors.txt"
SPLITS = ("train", "val")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp")
VOID = 255  # the ignore label the nets use (SoftmaxWithLoss ignore_label, scoring)
MAX_CLASSES = 255  # label values 0..254; 255 is the ignore label
SHOW = 5  # how many file names an error lists


class UserDataError(ValueError):
    """The dataset folder does not follow the layout; the message names the file and the fix."""


def _listing(names: list, what: str) -> str:
    more = f" and {len(names) - SHOW} more" if len(names) > SHOW else ""
    return f"{len(names)} {what} ({', '.join(names[:SHOW])}{more})"


def _lines(path: str) -> list:
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\r\n") for line in f]


def classes(root: str) -> tuple:
    """Class names from <root>/classes.txt, index = label value -> tuple of str.

    Trailing empty lines are dropped; an empty line between names, a repeated name, no names
    or more than 255 are a UserDataError naming the file and line."""
    path = os.path.join(root, CLASSES)
    if not os.path.isfile(path):
        raise UserDataError(
            f"{path}: not found; write the class names there, one per line, line 1 naming "
            "label value 0 (e.g. 'background'), line 2 value 1, ..."
        )
    names = [line.strip() for line in _lines(path)]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise UserDataError(f"{path}: no class names; write one per line (label value = line - 1)")
    for i, name in enumerate(names):
        if not name:
            raise UserDataError(
                f"{path} line {i + 1}: empty; every line names the class of label value "
                f"{i} (line - 1), so an empty line would shift the classes after it"
            )
        if name in names[:i]:
            raise UserDataError(
                f"{path} line {i + 1}: '{name}' is named already on line {names.index(name) + 1}"
            )
    if len(names) > MAX_CLASSES:
        raise UserDataError(
            f"{path}: {len(names)} classes; at most {MAX_CLASSES} (label values 0..254, "
            "255 is the ignore label)"
        )
    return tuple(names)


def mean(root: str) -> tuple | None:
    """The per-channel mean "B G R" of <root>/mean.txt -> (b, g, r) floats, None without the
    file ('#' lines are comments)."""
    path = os.path.join(root, MEAN)
    if not os.path.isfile(path):
        return None
    words = [w for line in _lines(path) if not line.lstrip().startswith("#") for w in line.split()]
    try:
        values = tuple(float(w) for w in words)
    except ValueError:
        values = ()
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise UserDataError(
            f"{path}: expected three numbers 'B G R' (the mean pixel, blue first), got "
            f"{' '.join(words)!r}; recompute it with python -m layers.folder mean {root}"
        )
    return values


def _colour_class(word: str, names: tuple, void: int, where: str) -> int:
    if word in names:
        return names.index(word)
    if word.isdigit() and (int(word) < len(names) or int(word) == void):
        return int(word)
    raise UserDataError(
        f"{where}: '{word}' is no class of classes.txt ({', '.join(names)}), no class index "
        f"0..{len(names) - 1} and not the ignore label {void}"
    )


def colors(root: str, names: tuple, void: int = VOID) -> dict | None:
    """{(r, g, b): label value} of <root>/colors.txt (RGB-coloured label PNGs), None without
    the file. Each line: 'R G B class', class a name of classes.txt, its index or the ignore
    label; '#' lines are comments."""
    path = os.path.join(root, COLORS)
    if not os.path.isfile(path):
        return None
    out: dict = {}
    for i, line in enumerate(_lines(path), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path} line {i}"
        words = line.split(None, 3)
        try:
            rgb = tuple(int(w) for w in words[:3])
        except ValueError:
            rgb = ()
        if len(words) != 4 or len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
            raise UserDataError(f"{where}: write 'R G B class' (0..255 each), got {line!r}")
        if rgb in out:
            raise UserDataError(f"{where}: colour {rgb} is mapped already")
        out[rgb] = _colour_class(words[3].strip(), names, void, where)
    if not out:
        raise UserDataError(f"{path}: no 'R G B class' lines")
    return out


def _scan(folder: str, exts: tuple, what: str) -> dict:
    """{id: file name} of the files of `folder` whose extension is in exts (case ignored)."""
    if not os.path.isdir(folder):
        raise UserDataError(f"{folder}: no such folder; put the {what} there")
    out: dict = {}
    for name in sorted(os.listdir(folder)):
        stem, ext = os.path.splitext(name)
        if name.startswith(".") or ext.lower() not in exts:
            continue
        if stem in out:
            raise UserDataError(
                f"{folder}: '{out[stem]}' and '{name}' share the id '{stem}'; keep one {what[:-1]} "
                "per id"
            )
        out[stem] = name
    return out


def images(root: str) -> dict:
    """{id: file name} of <root>/images (two pictures with one id are an error)."""
    return _scan(os.path.join(root, IMAGES), IMAGE_EXTS, "pictures")


def labels(root: str) -> dict:
    """{id: file name} of <root>/labels/*.png; label files in other formats are an error (JPEG
    compression changes class values)."""
    folder = os.path.join(root, LABELS)
    found = _scan(folder, (".png",), "label PNGs")
    other = [n for n in sorted(os.listdir(folder)) if not n.startswith(".")]
    other = [n for n in other if os.path.splitext(n)[1].lower() in IMAGE_EXTS]
    other = [n for n in other if not n.lower().endswith(".png")]
    if other:
        raise UserDataError(
            f"{folder}: {_listing(other, 'label files are not PNG')}; labels must be lossless "
            "PNGs (JPEG compression changes class values): save them as PNG"
        )
    return found


def pairs(root: str) -> list:
    """The ids with both a picture and a label PNG, sorted; unpaired files are a UserDataError
    listing a few of each kind."""
    pics, labs = images(root), labels(root)
    alone = [pics[i] for i in sorted(set(pics) - set(labs))]
    orphans = [labs[i] for i in sorted(set(labs) - set(pics))]
    problems = []
    if alone:
        problems.append(f"{_listing(alone, 'pictures')} in {IMAGES}/ have no {LABELS}/<id>.png")
    if orphans:
        problems.append(f"{_listing(orphans, 'label PNGs')} in {LABELS}/ have no picture")
    if problems:
        raise UserDataError(
            f"{root}: unpaired files: {'; '.join(problems)}. Pictures and labels pair by name "
            f"({IMAGES}/<id>.jpg with {LABELS}/<id>.png): add or remove files, or list the ids "
            f"to use in {SPLITS[0]}.txt and {SPLITS[1]}.txt"
        )
    ids = sorted(set(pics))
    if not ids:
        raise UserDataError(
            f"{root}: no pictures in {IMAGES}/ ({', '.join(IMAGE_EXTS)}) paired with "
            f"{LABELS}/<id>.png"
        )
    return ids


def split_path(root: str, split: str) -> str:
    return os.path.join(root, f"{split}.txt")


def split_ids(root: str, split: str) -> tuple[list, bool]:
    """(ids of `split`, True when read from <root>/<split>.txt). Without the list: every pair
    (pairs()). An empty list is a UserDataError."""
    path = split_path(root, split)
    if not os.path.isfile(path):
        return pairs(root), False
    ids = [line.strip() for line in _lines(path) if line.strip()]
    if not ids:
        raise UserDataError(
            f"{path}: the split '{split}' is empty; list its ids one per line (or delete the "
            "file to use every pair)"
        )
    seen = set()
    twice = [i for i in ids if i in seen or seen.add(i)]
    if twice:
        raise UserDataError(f"{path}: {_listing(twice, 'ids')} are listed twice")
    return ids, True


def image_path(root: str, idx: str, index: dict | None = None) -> str:
    """Path of the picture of `idx` (index: images(root), to look up its extension); a missing
    one is <root>/images/<idx>.jpg."""
    name = (index or {}).get(idx, f"{idx}.jpg")
    return os.path.join(root, IMAGES, name)


def label_path(root: str, idx: str) -> str:
    return os.path.join(root, LABELS, f"{idx}.png")
