"""Write a dataset split as Caffe Datum LMDBs, readable by Caffe's Data layer.

    python -m layers.lmdb_convert --dataset voc --split seg11valid --dir data/pascal/VOC2011 OUT
    python -m layers.lmdb_convert --dataset nyud --split test --dir data/nyud \
        --tops color,hha,label OUT

One database per top, OUT/<top>_lmdb (e.g. data_lmdb, label_lmdb), keys '%08d_<id>' in split
order (Caffe's Data layer reads in key order, so all databases stay aligned). Records hold the
*unnormalised* arrays: images uint8 BGR C x H x W (set transform_param mean_value to the mean),
labels uint8 1 x H x W after the dataset's mapping (wraps, Context 60-way); NYUD depth is
float_data of log(depth) - 7.844. Use batch_size 1: images differ in size.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from caffeio import caffe_pb2

from .errors import DataError

DATASETS = ("voc", "sbdd", "nyud", "siftflow", "pascalcontext")
ZERO_MEAN = np.zeros(3, np.float32)

# an example id -> its arrays in Datum form, one per top
Loader = Callable[[str], tuple[np.ndarray, ...]]


def raw_image(array_bgr_minus_zero: np.ndarray) -> np.ndarray:
    """float32 3 x H x W BGR computed with a zero mean -> uint8 (exact: pixels are integers)."""
    return array_bgr_minus_zero.astype(np.uint8)


def _voc(dataset_dir, split, tops, context_dir):
    from . import io, voc

    ids = io.read_split(voc.voc_split_path(dataset_dir, split), "PASCAL VOC", split)

    def load(idx):
        c = ("PASCAL VOC", split, idx)
        img = raw_image(voc.load_voc_image(dataset_dir, idx, ZERO_MEAN, c))
        return img, voc.load_voc_label(dataset_dir, idx, c)

    return ids, ("data", "label"), load


def _sbdd(dataset_dir, split, tops, context_dir):
    from . import io, voc

    ids = io.read_split(voc.sbdd_split_path(dataset_dir, split), "SBD", split)

    def load(idx):
        c = ("SBD", split, idx)
        img = raw_image(voc.load_sbdd_image(dataset_dir, idx, ZERO_MEAN, c))
        return img, voc.load_sbdd_label(dataset_dir, idx, c)

    return ids, ("data", "label"), load


def _siftflow(dataset_dir, split, tops, context_dir):
    from . import io, siftflow

    ids = io.read_split(os.path.join(dataset_dir, f"{split}.txt"), "SIFT Flow", split)

    def load(idx):
        c = ("SIFT Flow", split, idx)
        paths = siftflow.siftflow_paths(dataset_dir, idx)
        img = raw_image(io.load_image(paths["image"], ZERO_MEAN, c))
        sem = siftflow.load_siftflow_label(dataset_dir, idx, "sem", c)
        return img, sem, siftflow.load_siftflow_label(dataset_dir, idx, "geo", c)

    return ids, ("data", "sem", "geo"), load


def _pascalcontext(dataset_dir, split, tops, context_dir):
    from . import io, pascalcontext

    if not context_dir:
        raise ValueError("--dataset pascalcontext needs --context-dir")
    lut = pascalcontext.context_lut(context_dir)
    split_path = os.path.join(dataset_dir, "VOC2010", "ImageSets", "Main", f"{split}.txt")
    ids = io.read_split(split_path, "PASCAL-Context", split)

    def load(idx):
        c = ("PASCAL-Context", split, idx)
        img = raw_image(pascalcontext.load_context_image(dataset_dir, idx, ZERO_MEAN, c))
        return img, pascalcontext.load_context_label(context_dir, idx, lut, c)

    return ids, ("data", "label"), load


def _nyud_top(dataset_dir, idx, top, paths, c):
    """One NYUD top of example `idx` in Datum form."""
    from . import io, nyud

    if top == "color":
        return raw_image(io.load_image(paths["color"], ZERO_MEAN, c))
    if top == "hha":
        hha = io.read_rgb(paths["hha"], c, what="HHA image")
        return np.ascontiguousarray(hha.transpose(2, 0, 1))
    return nyud.LOADERS[top](dataset_dir, idx, c)


def _nyud(dataset_dir, split, tops, context_dir):
    from . import io, nyud

    tops = tuple(tops or ("color", "label"))
    bad = [t for t in tops if t not in nyud.NYUD_TOPS]
    if bad:
        raise ValueError(f"unknown NYUD top(s) {bad}; choose from {nyud.NYUD_TOPS}")
    ids = io.read_split(os.path.join(dataset_dir, f"{split}.txt"), "NYUDv2", split)

    def load(idx):
        c = ("NYUDv2", split, idx)
        paths = nyud.nyud_paths(dataset_dir, idx)
        return tuple(_nyud_top(dataset_dir, idx, t, paths, c) for t in tops)

    return ids, tops, load


_LOADERS = {
    "voc": _voc,
    "sbdd": _sbdd,
    "siftflow": _siftflow,
    "pascalcontext": _pascalcontext,
    "nyud": _nyud,
}


def example_loader(
    dataset: str,
    dataset_dir: str,
    split: str,
    tops: Sequence[str] | None = None,
    context_dir: str | None = None,
) -> tuple[list[str], tuple[str, ...], Loader]:
    """-> (ids, top names, load(idx) -> tuple of arrays in Datum form: uint8 or float32)."""
    if dataset not in _LOADERS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    return _LOADERS[dataset](dataset_dir, split, tops, context_dir)


def to_datum(array: np.ndarray) -> caffe_pb2.Datum:
    """C x H x W uint8 -> Datum with bytes data; float32 -> Datum with float_data."""
    c, h, w = array.shape
    d = caffe_pb2.Datum(channels=c, height=h, width=w)
    if array.dtype == np.uint8:
        d.data = np.ascontiguousarray(array).tobytes()
    else:
        d.float_data.extend(np.asarray(array, np.float32).ravel().tolist())
    return d


def datum_to_array(datum: caffe_pb2.Datum) -> np.ndarray:
    """Datum -> C x H x W array (uint8 from data, float32 from float_data)."""
    shape = (datum.channels, datum.height, datum.width)
    if datum.data:
        return np.frombuffer(datum.data, np.uint8).reshape(shape)
    return np.asarray(datum.float_data, np.float32).reshape(shape)


def _lmdb():
    try:
        import lmdb
    except ImportError:
        raise SystemExit(
            "error: the LMDB path needs the lmdb package: pip install -e '.[lmdb]' "
            "(make installs it)"
        ) from None
    return lmdb


def convert(
    dataset: str,
    dataset_dir: str,
    split: str,
    out_dir: str,
    tops: Sequence[str] | None = None,
    context_dir: str | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> dict[str, str]:
    """Write OUT/<top>_lmdb for every top -> {top: path}. Returns after all records commit."""
    ids, names, load = example_loader(dataset, dataset_dir, split, tops, context_dir)
    lmdb = _lmdb()
    os.makedirs(out_dir, exist_ok=True)
    envs = {}
    paths = {}
    try:
        for t in names:
            paths[t] = os.path.join(out_dir, f"{t}_lmdb")
            envs[t] = lmdb.open(paths[t], map_size=1 << 40, subdir=True, lock=True)
        txns = {t: envs[t].begin(write=True) for t in names}
        for k, idx in enumerate(ids):
            key = f"{k:08d}_{idx}".encode()
            for t, arr in zip(names, load(idx)):
                txns[t].put(key, to_datum(arr).SerializeToString())
            if (k + 1) % 500 == 0:
                for t in names:
                    txns[t].commit()
                    txns[t] = envs[t].begin(write=True)
            if progress:
                progress(k + 1, len(ids))
        for t in names:
            txns[t].commit()
    finally:
        for env in envs.values():
            env.close()
    return paths


def read_lmdb(path: str) -> Iterator[tuple[str, np.ndarray]]:
    """Iterate (key str, C x H x W array) over an LMDB written by convert, in key order."""
    env = _lmdb().open(path, readonly=True, lock=False, subdir=True)
    try:
        with env.begin() as txn:
            for key, value in txn.cursor():
                d = caffe_pb2.Datum()
                d.ParseFromString(value)
                yield key.decode(), datum_to_array(d)
    finally:
        env.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m layers.lmdb_convert --dataset D --split S --dir DIR OUT` -> exit status."""
    ap = argparse.ArgumentParser(
        prog="python -m layers.lmdb_convert", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--dataset", required=True, choices=DATASETS)
    ap.add_argument("--split", required=True)
    ap.add_argument(
        "--dir",
        required=True,
        help="dataset folder (voc: VOC2011, sbdd: dataset/, pascalcontext: folder holding VOC2010)",
    )
    ap.add_argument("--context-dir", help="pascal-context folder (pascalcontext only)")
    ap.add_argument("--tops", help="NYUD tops, comma separated (default color,label)")
    ap.add_argument("out", help="output folder: gets <top>_lmdb databases")
    args = ap.parse_args(argv)
    tops = args.tops.split(",") if args.tops else None
    try:
        paths = convert(args.dataset, args.dir, args.split, args.out, tops, args.context_dir)
    except (DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for t, p in paths.items():
        print(f"{t}: {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
