"""LMDB Datum records decode to the Python path's arrays; split derivation; synth CLI/layouts."""

import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
from optional_deps import lmdb
from PIL import Image
from test_layers_preprocessing import serve

from caffeio import caffe_pb2
from layers.lmdb_convert import convert, read_lmdb
from layers.nyud import NYUDSegDataLayer
from layers.pascalcontext import PASCALContextSegDataLayer
from layers.siftflow import SIFTFlowSegDataLayer
from layers.splits import derive_nyud_trainval, derive_seg11valid
from layers.splits import main as splits_main
from layers.synth import make_data_root, voc_palette
from layers.voc import VOCSegDataLayer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    lmdb()  # every test of this module with this fixture writes or reads LMDB
    r = str(tmp_path_factory.mktemp("lmdb"))
    return r, make_data_root(r, n=6, seed=11)


def eval_order(cls, params, ntop, n):
    return serve(cls, dict(params, randomize=False, prefetch=False), ntop, n)


def check_lmdb(paths, served, mean, names):
    """Records (key order) == served arrays, images compared before mean subtraction."""
    dbs = {t: list(read_lmdb(p)) for t, p in paths.items()}
    assert [t for t in paths] == list(names)
    n = len(served)
    for t in names:
        assert len(dbs[t]) == n
    for k, (idx, arrays) in enumerate(served):
        for t, arr in zip(names, arrays):
            key, rec = dbs[t][k]
            assert key == f"{k:08d}_{idx}"
            if t in ("data", "color"):
                # Caffe's Data layer: float(uint8 BGR) - mean_value
                got = rec.astype(np.float32) - np.asarray(mean, np.float32)[:, None, None]
                np.testing.assert_allclose(got, arr[0], atol=1e-4)
                assert rec.dtype == np.uint8
            else:
                np.testing.assert_array_equal(rec.astype(np.float32), arr[0])


def test_lmdb_voc_matches_python_path(root, tmp_path):
    r, fam = root
    n = len(fam["seg11valid"])
    served = eval_order(VOCSegDataLayer, dict(voc_dir=fam["voc_dir"], split="seg11valid"), 2, n)
    paths = convert("voc", fam["voc_dir"], "seg11valid", str(tmp_path / "out"))
    check_lmdb(paths, served, (104.00699, 116.66877, 122.67892), ("data", "label"))
    # the record is a plain caffe.Datum as Caffe's Data layer parses it
    env = lmdb().open(paths["data"], readonly=True, lock=False)
    with env.begin() as txn:
        d = caffe_pb2.Datum.FromString(next(iter(txn.cursor()))[1])
    env.close()
    assert d.channels == 3 and not d.encoded and len(d.data) == 3 * d.height * d.width


def test_lmdb_siftflow_nyud_context(root, tmp_path):
    r, fam = root
    sf = fam["siftflow_dir"]
    n = len(open(f"{sf}/test.txt").read().split())
    served = eval_order(SIFTFlowSegDataLayer, dict(siftflow_dir=sf, split="test"), 3, n)
    paths = convert("siftflow", sf, "test", str(tmp_path / "sf"))
    check_lmdb(paths, served, (114.578, 115.294, 108.353), ("data", "sem", "geo"))

    ny = fam["nyud_dir"]
    tops = ["color", "depth", "label"]
    n = len(open(f"{ny}/test.txt").read().split())
    served = eval_order(NYUDSegDataLayer, dict(nyud_dir=ny, split="test", tops=tops), 3, n)
    paths = convert("nyud", ny, "test", str(tmp_path / "ny"), tops=tops)
    check_lmdb(paths, served, (116.190, 97.203, 92.318), tops)

    voc, ctx = os.path.join(r, "pascal"), fam["context_dir"]
    n = len(open(f"{voc}/VOC2010/ImageSets/Main/val.txt").read().split())
    p = dict(voc_dir=voc, context_dir=ctx, split="val")
    served = eval_order(PASCALContextSegDataLayer, p, 2, n)
    paths = convert("pascalcontext", voc, "val", str(tmp_path / "ctx"), context_dir=ctx)
    check_lmdb(paths, served, (104.007, 116.669, 122.679), ("data", "label"))


def test_lmdb_cli_reports_errors(tmp_path):
    cmd = [sys.executable, "-m", "layers.lmdb_convert", "--dataset", "voc", "--split", "val"]
    res = subprocess.run(
        cmd + ["--dir", str(tmp_path / "none"), str(tmp_path / "o")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 1 and "split file not found" in res.stderr


def test_seg11valid_is_val_minus_sbd_train(root, tmp_path):
    r, fam = root
    voc_dir, sbdd_dir = fam["voc_dir"], fam["sbdd_dir"]
    val = open(f"{voc_dir}/ImageSets/Segmentation/val.txt").read().split()
    train = set(open(f"{sbdd_dir}/train.txt").read().split())
    want = [i for i in val if i not in train]
    assert 0 < len(want) < len(val)  # the synthetic family overlaps, so this is not trivial
    assert derive_seg11valid(voc_dir, sbdd_dir) == want
    assert open(f"{voc_dir}/ImageSets/Segmentation/seg11valid.txt").read().split() == want
    assert splits_main(["seg11valid", voc_dir, sbdd_dir]) == 0


def test_seg11valid_all_overlapping_is_an_error(tmp_path):
    from layers.synth import make_sbdd, make_voc

    ids = make_voc(str(tmp_path / "voc"), n=4, size=(8, 8))
    make_sbdd(str(tmp_path / "sbd"), ids=ids, size=(8, 8))
    open(tmp_path / "sbd" / "train.txt", "w").write("\n".join(ids) + "\n")
    with pytest.raises(ValueError, match="nothing left to evaluate"):
        derive_seg11valid(str(tmp_path / "voc"), str(tmp_path / "sbd"))


def test_nyud_trainval_is_train_then_val(root):
    _, fam = root
    ny = fam["nyud_dir"]
    os.remove(f"{ny}/trainval.txt")
    train = open(f"{ny}/train.txt").read().split()
    val = open(f"{ny}/val.txt").read().split()
    assert derive_nyud_trainval(ny) == train + val
    assert open(f"{ny}/trainval.txt").read().split() == train + val


def test_synth_cli_and_real_formats(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "layers.synth", "nyud", str(tmp_path / "ny"), "--n", "3",
         "--size", "20x30", "--seed", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    ny = tmp_path / "ny"
    ids = open(ny / "train.txt").read().split() + open(ny / "test.txt").read().split()
    idx = ids[0]
    depth = Image.open(ny / "data" / "depth" / f"img_{idx}.png")
    assert depth.mode.startswith("I") and np.array(depth).dtype == np.uint16
    assert np.array(depth).min() > 0 and depth.size == (30, 20)
    seg = scipy.io.loadmat(ny / "segmentation" / f"img_{idx}.mat")["segmentation"]
    assert seg.dtype == np.uint8 and seg.max() <= 40 and (seg == 0).any()
    bad = subprocess.run(
        [sys.executable, "-m", "layers.synth", "voc", str(tmp_path / "v"), "--size", "3by4"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "HxW" in bad.stderr


def test_synth_layouts(root):
    r, fam = root
    # VOC palette PNG with the bit-interleaved map; 255 = (224, 224, 192)
    voc = fam["voc_dir"]
    idx = open(f"{voc}/ImageSets/Segmentation/train.txt").read().split()[0]
    im = Image.open(f"{voc}/SegmentationClass/{idx}.png")
    pal = np.array(im.getpalette()[: 256 * 3], np.uint8).reshape(256, 3)
    assert im.mode == "P" and tuple(pal[255]) == (224, 224, 192) and tuple(pal[1]) == (128, 0, 0)
    np.testing.assert_array_equal(pal, voc_palette())
    # SBD struct GTcls with Segmentation
    sb = fam["sbdd_train"][0]
    gt = scipy.io.loadmat(f"{fam['sbdd_dir']}/cls/{sb}.mat")["GTcls"]
    assert set(gt.dtype.names) >= {"Segmentation", "Boundaries", "CategoriesPresent"}
    # SIFT Flow: S in both, geo -1 exactly where sem is 0
    cat = "spatial_envelope_256x256_static_8outdoorcategories"
    sf = fam["siftflow_dir"]
    sid = open(f"{sf}/trainval.txt").read().split()[0]
    sem = scipy.io.loadmat(f"{sf}/SemanticLabels/{cat}/{sid}.mat")["S"]
    geo = scipy.io.loadmat(f"{sf}/GeoLabels/{cat}/{sid}.mat")["S"]
    assert np.array_equal(sem == 0, geo == -1) and (sem == 0).any()
    assert set(np.unique(geo)) <= {-1, 1, 2, 3}
    # Context: 459 numbered names, placeholders marked, LabelMap of full-list indices
    ctx = fam["context_dir"]
    lines = open(f"{ctx}/labels.txt").read().splitlines()
    assert len(lines) == 459 and lines[0].startswith("1: ")
    assert len(open(f"{ctx}/59_labels.txt").read().splitlines()) == 59
    cid = open(f"{r}/pascal/VOC2010/ImageSets/Main/train.txt").read().split()[0]
    lm = scipy.io.loadmat(f"{ctx}/trainval/{cid}.mat")["LabelMap"]
    assert lm.max() <= 459 and lm.min() >= 1
    # varied sizes by default
    sizes = {Image.open(f"{voc}/JPEGImages/{i}.jpg").size for i in fam["seg11valid"] + [idx]}
    assert len(sizes) > 1


def test_synthetic_scenes_are_learnable(root):
    """A per-pixel nearest-class-colour rule already labels most VOC twin pixels right, so
    class follows from appearance (what a net must learn)."""
    from layers.synth import class_colour

    _, fam = root
    voc = fam["voc_dir"]
    table = np.stack([class_colour(c, 21) for c in range(21)])  # 21 x 3 RGB
    hits = total = 0
    for idx in open(f"{voc}/ImageSets/Segmentation/trainval.txt").read().split():
        rgb = np.array(Image.open(f"{voc}/JPEGImages/{idx}.jpg"), np.float32)
        label = np.array(Image.open(f"{voc}/SegmentationClass/{idx}.png"))
        pred = np.argmin(((rgb[:, :, None, :] - table) ** 2).sum(-1), axis=-1)
        keep = label != 255
        hits += int((pred[keep] == label[keep]).sum())
        total += int(keep.sum())
    assert hits / total > 0.9
