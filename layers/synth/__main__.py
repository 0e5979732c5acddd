"""python -m layers.synth voc|sbdd|nyud|siftflow|pascalcontext|cityscapes|voc-family|voc12|all|
folder|voc-test DIR --n N [--size HxW] [--seed S]: write a small synthetic dataset in the real
on-disk layout.

DIR is the dataset folder itself for voc (a VOC2011-like folder), sbdd (SBD's dataset/), nyud,
siftflow, cityscapes (data_root/cityscapes for the nets), folder (your own dataset's layout,
zoo/userdata.py: images/, labels/, classes.txt) and voc-test (a VOC2012 test folder); for
pascalcontext, voc-family, voc12 (pascal/VOC2012 + sbdd/dataset + trainaug) and all it is a
data root (pascal/, sbdd/, ...).
"""

from __future__ import annotations

import argparse
import sys

from . import (
    make_cityscapes,
    make_data_root,
    make_folder_dataset,
    make_nyud,
    make_pascalcontext,
    make_sbdd,
    make_siftflow,
    make_voc,
    make_voc12_family,
    make_voc_family,
    make_voc_test,
)

MAKERS = {
    "voc": make_voc,
    "sbdd": make_sbdd,
    "nyud": make_nyud,
    "siftflow": make_siftflow,
    "pascalcontext": make_pascalcontext,
    "cityscapes": make_cityscapes,
    "voc-family": make_voc_family,
    "voc12": make_voc12_family,
    "all": make_data_root,
    "folder": make_folder_dataset,
    "voc-test": make_voc_test,
}


def _size(text):
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size {text!r}: write HxW, e.g. 375x500") from None
    if h < 8 or w < 8:
        raise argparse.ArgumentTypeError(f"--size {text!r}: at least 8x8")
    return h, w


def main(argv: list[str] | None = None) -> int:
    """`python -m layers.synth DATASET DIR [--n N] [--size HxW] [--seed S]` -> exit status 0."""
    ap = argparse.ArgumentParser(prog="python -m layers.synth", description=__doc__.split("\n")[0])
    ap.add_argument("dataset", choices=sorted(MAKERS))
    ap.add_argument("dir")
    ap.add_argument("--n", type=int, default=8, help="number of images (default 8)")
    ap.add_argument("--size", type=_size, default=None, help="HxW for all images (default varied)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.n < 2:
        ap.error("--n must be at least 2 (every split needs an id)")
    out = MAKERS[args.dataset](args.dir, n=args.n, size=args.size, seed=args.seed)
    count = len(out) if isinstance(out, list) else args.n
    print(f"wrote synthetic {args.dataset} ({count} images) under {args.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
