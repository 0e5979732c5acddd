"""Split derivation: seg11valid (VOC2011 seg val minus SBD train), VOC 2012 trainaug and NYUD
trainval.

python -m layers.splits seg11valid VOC_DIR SBDD_DIR          # -> VOC_DIR/ImageSets/Segmentation/
python -m layers.splits voc12-trainaug VOC2012_DIR SBDD_DIR  # -> VOC2012_DIR/ImageSets/...
python -m layers.splits nyud-trainval NYUD_DIR               # -> NYUD_DIR/trainval.txt
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable

from caffeio import atomic_write

from .io import read_split
from .voc import sbdd_split_path, voc_split_path

SEG11VALID_REAL_SIZE = 736
TRAINAUG_REAL_SIZE = 10582


def write_split(path: str, ids: Iterable[str]) -> None:
    """Write ids one per line (atomically)."""
    atomic_write(path, "".join(f"{i}\n" for i in ids).encode("utf-8"))


def derive_seg11valid(voc_dir: str, sbdd_dir: str, name: str = "seg11valid") -> list[str]:
    """VOC2011 segmentation val ids minus SBD train ids, in val order -> written and returned.

    Written to {voc_dir}/ImageSets/Segmentation/{name}.txt, where VOCSegDataLayer reads it.
    736 ids on the real VOC2011 + SBD data. An empty result is an error.
    """
    val = read_split(voc_split_path(voc_dir, "val"), "PASCAL VOC", "val")
    train = set(read_split(sbdd_split_path(sbdd_dir, "train"), "SBD", "train"))
    ids = [i for i in val if i not in train]
    if not ids:
        raise ValueError(
            f"{name}: every VOC val id is in SBD train ({voc_dir}, {sbdd_dir}); nothing left to "
            "evaluate on"
        )
    write_split(voc_split_path(voc_dir, name), ids)
    return ids


def derive_voc12_trainaug(voc_dir: str, sbdd_dir: str, name: str = "trainaug") -> list[str]:
    """VOC 2012 "trainaug": (SBD train | SBD val | VOC seg train) minus VOC seg val, sorted.

    voc_dir: the VOC2012 folder; sbdd_dir: SBD's dataset/ folder. Written to
    {voc_dir}/ImageSets/Segmentation/{name}.txt (where TrainAugSegDataLayer reads it) and
    returned; 10,582 ids on the real VOC 2012 + SBD data. An empty result is an error.
    """
    sbd = read_split(sbdd_split_path(sbdd_dir, "train"), "SBD", "train")
    sbd += read_split(sbdd_split_path(sbdd_dir, "val"), "SBD", "val")
    train = read_split(voc_split_path(voc_dir, "train"), "PASCAL VOC", "train")
    val = set(read_split(voc_split_path(voc_dir, "val"), "PASCAL VOC", "val"))
    ids = sorted(set(sbd).union(train).difference(val))
    if not ids:
        raise ValueError(
            f"{name}: every SBD and VOC train id is in VOC val ({voc_dir}, {sbdd_dir}); "
            "nothing left to train on"
        )
    write_split(voc_split_path(voc_dir, name), ids)
    return ids


def derive_nyud_trainval(nyud_dir: str) -> list[str]:
    """NYUD train ids then val ids -> {nyud_dir}/trainval.txt, returned (795 on the real data)."""
    ids = read_split(os.path.join(nyud_dir, "train.txt"), "NYUDv2", "train")
    ids += read_split(os.path.join(nyud_dir, "val.txt"), "NYUDv2", "val")
    write_split(os.path.join(nyud_dir, "trainval.txt"), ids)
    return ids


def main(argv: list[str] | None = None) -> int:
    """`python -m layers.splits seg11valid|voc12-trainaug|nyud-trainval DIR...` -> exit status."""
    ap = argparse.ArgumentParser(prog="python -m layers.splits", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("seg11valid", help="VOC2011 seg val minus SBD train")
    p.add_argument("voc_dir", help="e.g. data/pascal/VOC2011")
    p.add_argument("sbdd_dir", help="e.g. data/sbdd/dataset")
    p = sub.add_parser(
        "voc12-trainaug", help="(SBD train + val + VOC2012 seg train) minus VOC2012 seg val"
    )
    p.add_argument("voc_dir", help="e.g. data/pascal/VOC2012")
    p.add_argument("sbdd_dir", help="e.g. data/sbdd/dataset")
    p = sub.add_parser("nyud-trainval", help="NYUD train + val")
    p.add_argument("nyud_dir", help="e.g. data/nyud")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "seg11valid":
            ids = derive_seg11valid(args.voc_dir, args.sbdd_dir)
            where = voc_split_path(args.voc_dir, "seg11valid")
            note = f" ({SEG11VALID_REAL_SIZE} on the real VOC2011 + SBD)"
        elif args.cmd == "voc12-trainaug":
            ids = derive_voc12_trainaug(args.voc_dir, args.sbdd_dir)
            where = voc_split_path(args.voc_dir, "trainaug")
            note = f" ({TRAINAUG_REAL_SIZE} on the real VOC2012 + SBD)"
        else:
            ids = derive_nyud_trainval(args.nyud_dir)
            where = os.path.join(args.nyud_dir, "trainval.txt")
            note = " (795 on the real NYUDv2)"
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(ids)} ids to {where}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
