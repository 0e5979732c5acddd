"""Synthetic twins of each dataset, written in the real on-disk layouts (docs/datasets.md).

    make_voc(dir, n)            dir = a VOC2011-like folder (JPEGImages, SegmentationClass, ...)
    make_sbdd(dir, n)           dir = SBD's dataset/ folder (img, cls/*.mat GTcls, train/val.txt)
    make_nyud(dir, n)           dir = nyud/ (data/images|depth|hha, segmentation/*.mat, splits)
    make_siftflow(dir, n)       dir = sift-flow/ (Images, SemanticLabels, GeoLabels, splits)
    make_pascalcontext(root, n) root/pascal/VOC2010 + root/pascal-context
    make_voc_family(root, n)    root/pascal/VOC2011 + root/sbdd/dataset + seg11valid
    make_voc12_family(root, n)  root/pascal/VOC2012 + root/sbdd/dataset + trainaug (SBD and VOC
                                lists overlapping in every way; not part of make_data_root)
    make_data_root(root, n)     all of the above under one data root (the nets' data_root)
    make_cityscapes(dir, n)     dir = cityscapes/ (leftImg8bit + gtFine label ids, train/val;
                                not part of make_data_root; see cityscapes.py)
    make_folder_dataset(dir, n) dir = your own dataset's folder (zoo.userdata's layout; see
                                folder.py): images/, labels/ (palette, grey or RGB), classes.txt
    make_voc_test(dir, n)       dir = a VOC2012 test folder (JPEGImages, ImageSets/Segmentation/
                                test.txt; no labels), as the evaluation server's test set
    write_twin(dataset, root)   the twin a zoo DatasetRecord names (any registered dataset),
                                under data root `root` where its nets read it

Images vary in size (60..120 px a side) unless `size=(h, w)`; scenes are coloured shapes whose
class is fixed by colour and shape (see scenes.py), so small nets can learn them.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.io
from PIL import Image

from zoo.classes import CONTEXT59_CLASSES, RENAMED, SIFTFLOW_CLASSES

from .cityscapes import make_cityscapes
from .context_names import full_names
from .folder import make_folder_dataset
from .palette import voc_palette
from .scenes import class_colour, scene, sizes

if TYPE_CHECKING:
    from zoo.records import DatasetRecord

JPEG_QUALITY = 95
# a twin's picture size (h, w); None: sizes vary (60..120 px a side)
Size = tuple[int, int] | None
# (RGB uint8 H x W x 3, label uint8 H x W) per example
Scenes = Sequence[tuple[np.ndarray, np.ndarray]]


def _mkdirs(*dirs):
    for d in dirs:
        os.makedirs(d, exist_ok=True)


def _write_ids(path, ids):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(f"{i}\n" for i in ids)


def _jpeg(rgb, path):
    Image.fromarray(rgb, "RGB").save(path, quality=JPEG_QUALITY)


def _palette_png(label, path):
    im = Image.fromarray(label.astype(np.uint8), "P")
    im.putpalette(voc_palette().tobytes())
    im.save(path)


def _halves(ids):
    k = max(1, len(ids) // 2)
    return ids[:k], ids[k:] or ids[:1]


def _voc_scenes(n, size, seed, void_border):
    rng = np.random.default_rng(seed)
    out = []
    for h, w in sizes(rng, n, size):
        rgb, label, _ = scene(rng, h, w, range(1, 21), 21, 0, void_border=void_border)
        out.append((rgb, label))
    return out


def make_voc(
    voc_dir: str,
    n: int = 8,
    size: Size = None,
    seed: int = 0,
    ids: Sequence[str] | None = None,
    scenes: Scenes | None = None,
) -> list[str]:
    """VOC2011-like folder: JPEGImages/{id}.jpg, SegmentationClass/{id}.png (palette, 0..20,
    255 outlines), ImageSets/Segmentation/{train,val,trainval}.txt. Returns the ids."""
    ids = list(ids or [f"2011_{i:06d}" for i in range(n)])
    scenes = scenes or _voc_scenes(len(ids), size, seed, void_border=2)
    _mkdirs(os.path.join(voc_dir, "JPEGImages"), os.path.join(voc_dir, "SegmentationClass"))
    for idx, (rgb, label) in zip(ids, scenes):
        _jpeg(rgb, os.path.join(voc_dir, "JPEGImages", f"{idx}.jpg"))
        _palette_png(label, os.path.join(voc_dir, "SegmentationClass", f"{idx}.png"))
    train, val = _halves(ids)
    sets = os.path.join(voc_dir, "ImageSets", "Segmentation")
    _write_ids(os.path.join(sets, "train.txt"), train)
    _write_ids(os.path.join(sets, "val.txt"), val)
    _write_ids(os.path.join(sets, "trainval.txt"), ids)
    return ids


def make_voc_test(voc_dir: str, n: int = 8, size: Size = None, seed: int = 0) -> list[str]:
    """A VOC2012 test folder as the test tarball unpacks (VOCdevkit/VOC2012): JPEGImages/{id}.jpg
    and ImageSets/Segmentation/test.txt, no labels (the evaluation server holds them). Sizes
    vary unless `size`. Returns the ids."""
    ids = [f"{2008 + i % 4}_{i:06d}" for i in range(n)]
    scenes = _voc_scenes(n, size, seed, void_border=0)
    os.makedirs(os.path.join(voc_dir, "JPEGImages"), exist_ok=True)
    for idx, (rgb, _) in zip(ids, scenes):
        _jpeg(rgb, os.path.join(voc_dir, "JPEGImages", f"{idx}.jpg"))
    _write_ids(os.path.join(voc_dir, "ImageSets", "Segmentation", "test.txt"), ids)
    return ids


def _gtcls(label):
    """SBD's GTcls struct: Segmentation (uint8), Boundaries (20 sparse cells), CategoriesPresent."""
    from scipy import ndimage, sparse

    bounds = np.empty((20, 1), dtype=object)
    for c in range(1, 21):
        m = label == c
        edge = m & ~ndimage.binary_erosion(m) if m.any() else m
        bounds[c - 1, 0] = sparse.csc_matrix(edge)
    present = np.unique(label[(label > 0) & (label < 255)]).astype(np.uint8).reshape(-1, 1)
    return {
        "Segmentation": label.astype(np.uint8),
        "Boundaries": bounds,
        "CategoriesPresent": present,
    }


def make_sbdd(
    sbdd_dir: str,
    n: int = 8,
    size: Size = None,
    seed: int = 1,
    ids: Sequence[str] | None = None,
    scenes: Scenes | None = None,
) -> list[str]:
    """SBD dataset/ folder: img/{id}.jpg, cls/{id}.mat (struct GTcls, Segmentation 0..20, no
    void), train.txt, val.txt. Returns the ids."""
    ids = list(ids or [f"2008_{i:06d}" for i in range(n)])
    scenes = scenes or _voc_scenes(len(ids), size, seed, void_border=0)
    _mkdirs(os.path.join(sbdd_dir, "img"), os.path.join(sbdd_dir, "cls"))
    for idx, (rgb, label) in zip(ids, scenes):
        _jpeg(rgb, os.path.join(sbdd_dir, "img", f"{idx}.jpg"))
        mat = {"GTcls": _gtcls(label)}
        scipy.io.savemat(os.path.join(sbdd_dir, "cls", f"{idx}.mat"), mat, do_compression=True)
    train, val = _halves(ids)
    _write_ids(os.path.join(sbdd_dir, "train.txt"), train)
    _write_ids(os.path.join(sbdd_dir, "val.txt"), val)
    return ids


def make_voc_family(root: str, n: int = 8, size: Size = None, seed: int = 0) -> dict[str, Any]:
    """root/pascal/VOC2011 + root/sbdd/dataset + seg11valid, as a net with data_root=root expects.

    VOC has n ids (half train, half val); SBD train holds the first half of VOC val (same
    images, labels without the void outlines) plus n // 2 SBD-only ids, so seg11valid = the
    second half of VOC val. Returns {'voc_dir', 'sbdd_dir', 'seg11valid', 'sbdd_train'}.
    """
    from ..splits import derive_seg11valid

    n = max(4, n)
    voc_dir = os.path.join(root, "pascal", "VOC2011")
    sbdd_dir = os.path.join(root, "sbdd", "dataset")
    voc_ids = [f"2011_{i:06d}" for i in range(n)]
    voc_scenes = _voc_scenes(n, size, seed, void_border=2)
    make_voc(voc_dir, ids=voc_ids, scenes=voc_scenes)
    _, val = _halves(voc_ids)
    shared = val[: len(val) // 2]
    own = [f"2008_{i:06d}" for i in range(n // 2)]
    own_scenes = _voc_scenes(len(own), size, seed + 1, void_border=0)
    unvoid = []
    for idx in shared:
        rgb, label = voc_scenes[voc_ids.index(idx)]
        unvoid.append((rgb, _fill_void(label)))
    sbd_ids = own + shared
    make_sbdd(sbdd_dir, ids=sbd_ids, scenes=own_scenes + unvoid)
    _write_ids(os.path.join(sbdd_dir, "train.txt"), sbd_ids)
    _write_ids(os.path.join(sbdd_dir, "val.txt"), own[:1])
    seg11valid = derive_seg11valid(voc_dir, sbdd_dir)
    return {
        "voc_dir": voc_dir,
        "sbdd_dir": sbdd_dir,
        "seg11valid": seg11valid,
        "sbdd_train": sbd_ids,
    }


def make_voc12_family(root: str, n: int = 12, size: Size = None, seed: int = 0) -> dict[str, Any]:
    """root/pascal/VOC2012 + root/sbdd/dataset (its own SBD: it replaces one make_voc_family
    wrote) + trainaug, with SBD's and VOC's lists overlapping in every way trainaug's set algebra
    meets on the real data.

    VOC has n ids (n >= 6): the first half VOC seg train, the rest VOC seg val. Each half is cut
    in thirds: also in SBD train, also in SBD val, VOC only. SBD has n // 2 ids of its own (half
    train, half val). Shared ids have the same picture in both, the SBD label without VOC's void
    outlines. Returns {'voc_dir', 'sbdd_dir', 'trainaug', 'groups'}, groups naming the ids of
    each kind: sbd_train_only, sbd_val_only, voc_train_sbd_train, voc_train_sbd_val,
    voc_train_only, voc_val_sbd_train, voc_val_sbd_val, voc_val_only.
    """
    from ..splits import derive_voc12_trainaug

    n = max(6, n)
    voc_dir = os.path.join(root, "pascal", "VOC2012")
    sbdd_dir = os.path.join(root, "sbdd", "dataset")
    # years interleave, so sorting trainaug is not the order the lists were written in
    voc_ids = [f"{2008 + i % 4}_{i:06d}" for i in range(n)]
    voc_scenes = _voc_scenes(n, size, seed, void_border=2)
    make_voc(voc_dir, ids=voc_ids, scenes=voc_scenes)
    train, val = _halves(voc_ids)

    def thirds(ids):
        k = max(1, len(ids) // 3)
        return ids[:k], ids[k : 2 * k], ids[2 * k :]

    groups = {}
    for name, ids in (("voc_train", train), ("voc_val", val)):
        in_train, in_val, alone = thirds(ids)
        groups[f"{name}_sbd_train"] = in_train
        groups[f"{name}_sbd_val"] = in_val
        groups[f"{name}_only"] = alone
    own = [f"{2007 + 2 * (i % 3)}_{500 + i:06d}" for i in range(max(2, n // 2))]
    groups["sbd_train_only"], groups["sbd_val_only"] = _halves(own)
    own_scenes = _voc_scenes(len(own), size, seed + 1, void_border=0)
    shared = [i for k in groups if "_sbd_" in k for i in groups[k]]
    unvoid = []
    for idx in shared:
        rgb, label = voc_scenes[voc_ids.index(idx)]
        unvoid.append((rgb, _fill_void(label)))
    make_sbdd(sbdd_dir, ids=own + shared, scenes=own_scenes + unvoid)
    sbd_train = groups["sbd_train_only"] + groups["voc_train_sbd_train"]
    sbd_train += groups["voc_val_sbd_train"]
    sbd_val = groups["sbd_val_only"] + groups["voc_train_sbd_val"] + groups["voc_val_sbd_val"]
    _write_ids(os.path.join(sbdd_dir, "train.txt"), sbd_train)
    _write_ids(os.path.join(sbdd_dir, "val.txt"), sbd_val)
    trainaug = derive_voc12_trainaug(voc_dir, sbdd_dir)
    return {"voc_dir": voc_dir, "sbdd_dir": sbdd_dir, "trainaug": trainaug, "groups": groups}


def _fill_void(label):
    """Replace 255 outline pixels by the nearest labelled class (SBD has no void)."""
    from scipy import ndimage

    void = label == 255
    if not void.any():
        return label
    _, (iy, ix) = ndimage.distance_transform_edt(void, return_indices=True)
    return label[iy, ix]


def make_nyud(
    nyud_dir: str, n: int = 8, size: Size = None, seed: int = 0, hha_encoder: bool = False
) -> list[str]:
    """NYUDv2 folder: data/images/img_{id}.png (RGB), data/depth/img_{id}.png (uint16 mm, > 0),
    data/hha/img_{id}.png, segmentation/img_{id}.mat key `segmentation` (uint8 0 void, 1..40),
    train/val/test/trainval.txt. Depth and HHA also encode the class. Returns the ids.
    hha_encoder: HHA encoded from the depth by layers.hha (NYUDv2's camera scaled to the
    image) instead of class-coding channels; everything else is the same."""
    rng = np.random.default_rng(seed)
    ids = [str(5001 + i) for i in range(n)]
    sub = {k: os.path.join(nyud_dir, "data", k) for k in ("images", "depth", "hha")}
    _mkdirs(*sub.values(), os.path.join(nyud_dir, "segmentation"))
    for idx, (h, w) in zip(ids, sizes(rng, n, size)):
        rgb, label, _ = scene(rng, h, w, range(2, 41), 41, 1)  # background: wall (1)
        label[: max(1, h // 20)] = 0  # an unlabelled strip at the top (void)
        depth = (3500 - 1500 * np.linspace(0, 1, h)[:, None] * np.ones((1, w))).astype(np.float64)
        obj = label > 1
        depth[obj] = 700 + 60 * label[obj]
        depth = np.clip(depth + rng.normal(0, 15, size=depth.shape), 400, 9000).astype(np.uint16)
        hha = np.stack(
            [
                np.clip(255 * 700 / depth, 0, 255),
                (6 * label) % 256,
                np.where(label % 2 == 1, 200, 60) + rng.normal(0, 4, size=label.shape),
            ],
            axis=-1,
        )
        hha = np.clip(np.rint(hha), 0, 255).astype(np.uint8)
        if hha_encoder:
            from .. import hha as encoder

            k, sx, sy = encoder.NYUD_COLOR, w / 640, h / 480
            cam = encoder.Intrinsics(k.fx * sx, k.fy * sy, k.cx * sx, k.cy * sy)
            hha = encoder.encode(depth, "mm", cam)
        Image.fromarray(rgb, "RGB").save(os.path.join(sub["images"], f"img_{idx}.png"))
        Image.fromarray(depth).save(os.path.join(sub["depth"], f"img_{idx}.png"))
        Image.fromarray(hha, "RGB").save(os.path.join(sub["hha"], f"img_{idx}.png"))
        seg = {"segmentation": label.astype(np.uint8)}
        scipy.io.savemat(os.path.join(nyud_dir, "segmentation", f"img_{idx}.mat"), seg)
    k = max(1, n // 3)
    train, val, test = ids[:k], ids[k : 2 * k] or ids[:1], ids[2 * k :] or ids[-1:]
    _write_ids(os.path.join(nyud_dir, "train.txt"), train)
    _write_ids(os.path.join(nyud_dir, "val.txt"), val)
    _write_ids(os.path.join(nyud_dir, "test.txt"), test)
    _write_ids(os.path.join(nyud_dir, "trainval.txt"), train + val)
    return ids


# geometric class (1 sky, 2 horizontal, 3 vertical) of each SIFT Flow semantic class
_SKY = {"sky", "sun", "moon"}
_HORIZONTAL = {"road", "sidewalk", "field", "grass", "sand", "sea", "river", "crosswalk", "desert"}


def siftflow_geo_of(sem: int) -> int:
    """Raw geometric label (1..3) implied by raw semantic label sem (1..33)."""
    name = SIFTFLOW_CLASSES[sem - 1]
    return 1 if name in _SKY else 2 if name in _HORIZONTAL else 3


def make_siftflow(siftflow_dir: str, n: int = 8, size: Size = None, seed: int = 0) -> list[str]:
    """SIFT Flow folder: Images/<cat>/{id}.jpg, SemanticLabels/<cat>/{id}.mat and
    GeoLabels/<cat>/{id}.mat (key `S`: sem 0 unlabelled, 1..33; geo -1 void, 1..3),
    trainval.txt, test.txt. Returns the ids."""
    from ..siftflow import SIFTFLOW_CATEGORY

    rng = np.random.default_rng(seed)
    d = {
        k: os.path.join(siftflow_dir, k, SIFTFLOW_CATEGORY)
        for k in ("Images", "SemanticLabels", "GeoLabels")
    }
    _mkdirs(*d.values())
    kinds = (
        "coast",
        "forest",
        "highway",
        "insidecity",
        "mountain",
        "opencountry",
        "street",
        "tallbuilding",
    )
    ids = [f"{kinds[i % len(kinds)]}_synth{i:04d}" for i in range(n)]
    sky, road = SIFTFLOW_CLASSES.index("sky") + 1, SIFTFLOW_CLASSES.index("road") + 1
    objects = [c for c in range(1, 34) if c not in (sky, road)]
    lut = np.array([0] + [siftflow_geo_of(c) for c in range(1, 34)], np.int16)
    for idx, (h, w) in zip(ids, sizes(rng, n, size)):
        rgb, sem, _ = scene(rng, h, w, objects, 34, sky)
        ground = np.arange(h)[:, None] >= h // 2
        road_img, _, _ = scene(rng, h, w, [road], 34, road, n_shapes=(0, 0))
        keep = ground & (sem == sky)
        rgb[keep] = road_img[keep]
        sem[keep] = road
        sem[:, : max(1, w // 25)] = 0  # unlabelled strip
        geo = lut[sem].astype(np.int16)
        geo[sem == 0] = -1
        _jpeg(rgb, os.path.join(d["Images"], f"{idx}.jpg"))
        scipy.io.savemat(
            os.path.join(d["SemanticLabels"], f"{idx}.mat"), {"S": sem.astype(np.int16)}
        )
        scipy.io.savemat(os.path.join(d["GeoLabels"], f"{idx}.mat"), {"S": geo})
    k = max(1, (2 * n) // 3)
    _write_ids(os.path.join(siftflow_dir, "trainval.txt"), ids[:k])
    _write_ids(os.path.join(siftflow_dir, "test.txt"), ids[k:] or ids[-1:])
    return ids


def make_pascalcontext(root: str, n: int = 8, size: Size = None, seed: int = 0) -> list[str]:
    """root/pascal/VOC2010 (JPEGImages, ImageSets/Main/{train,val}.txt) and root/pascal-context
    (labels.txt: 459 'N: name' lines, placeholders marked; 59_labels.txt; trainval/{id}.mat
    `LabelMap` uint16 full-list indices). Returns the ids."""
    rng = np.random.default_rng(seed)
    voc = os.path.join(root, "pascal", "VOC2010")
    ctx = os.path.join(root, "pascal-context")
    _mkdirs(os.path.join(voc, "JPEGImages"), os.path.join(voc, "ImageSets", "Main"))
    _mkdirs(os.path.join(ctx, "trainval"))
    full = full_names()
    with open(os.path.join(ctx, "labels.txt"), "w", encoding="utf-8") as f:
        f.writelines(f"{i}: {name}\n" for i, name in enumerate(full, 1))
    with open(os.path.join(ctx, "59_labels.txt"), "w", encoding="utf-8") as f:
        f.writelines(f"{i}: {name}\n" for i, name in enumerate(CONTEXT59_CLASSES, 1))
    squeezed = [x.replace(" ", "") for x in full]
    main = [squeezed.index(RENAMED.get(c, c)) + 1 for c in CONTEXT59_CLASSES]
    others = [i for i in range(1, len(full) + 1) if i not in set(main)]
    background = others[0]
    pool = main + others[1:6]  # mostly task classes, a few full-list-only ones (-> background)
    ids = [f"2010_{i:06d}" for i in range(n)]
    for idx, (h, w) in zip(ids, sizes(rng, n, size)):
        rgb, label, _ = scene(rng, h, w, pool, len(full) + 1, background)
        _jpeg(rgb, os.path.join(voc, "JPEGImages", f"{idx}.jpg"))
        lm = {"LabelMap": label.astype(np.uint16)}
        scipy.io.savemat(os.path.join(ctx, "trainval", f"{idx}.mat"), lm, do_compression=True)
    train, val = _halves(ids)
    _write_ids(os.path.join(voc, "ImageSets", "Main", "train.txt"), train)
    _write_ids(os.path.join(voc, "ImageSets", "Main", "val.txt"), val)
    return ids


def make_data_root(root: str, n: int = 8, size: Size = None, seed: int = 0) -> dict[str, Any]:
    """Every synthetic dataset under root in the layout the generated nets read (data_root)."""
    out = make_voc_family(root, n, size, seed)
    out["nyud_dir"] = os.path.join(root, "nyud")
    make_nyud(out["nyud_dir"], n, size, seed)
    out["siftflow_dir"] = os.path.join(root, "sift-flow")
    make_siftflow(out["siftflow_dir"], n, size, seed)
    make_pascalcontext(root, n, size, seed)
    out["context_dir"] = os.path.join(root, "pascal-context")
    return out


def write_twin(
    dataset: str | DatasetRecord, root: str, n: int = 8, size: Size = None, seed: int = 0
) -> Any:
    """Write the synthetic twin of `dataset` (a zoo DatasetRecord or a registered dataset's
    name) under the data root `root`, where its nets read it (data_root=root): the record's
    `synth` writer ('module:function') called on its synth_dir. Returns the writer's result."""
    import zoo

    rec = zoo.dataset(dataset) if isinstance(dataset, str) else dataset
    if not rec.synth or ":" not in rec.synth:
        raise ValueError(
            f"dataset '{rec.name}' names no synthetic twin writer (DatasetRecord.synth "
            f"'module:function', got {rec.synth!r})"
        )
    module, function = rec.synth.split(":", 1)
    writer = getattr(importlib.import_module(module), function)
    return writer(rec.synth_dir.format(root=root), n=n, size=size, seed=seed)


__all__ = [
    "class_colour",
    "make_cityscapes",
    "make_data_root",
    "make_folder_dataset",
    "make_nyud",
    "make_pascalcontext",
    "make_sbdd",
    "make_siftflow",
    "make_voc",
    "make_voc_family",
    "make_voc12_family",
    "make_voc_test",
    "voc_palette",
    "write_twin",
]
