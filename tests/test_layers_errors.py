"""Every bad input stops with a message naming the dataset, split, id and path (+ layout hint)."""

import os
import shutil

import numpy as np
import pytest
import scipy.io
from PIL import Image
from test_layers_preprocessing import Blob, serve

from layers.errors import DataError
from layers.nyud import NYUDSegDataLayer
from layers.pascalcontext import PASCALContextSegDataLayer
from layers.siftflow import SIFTFlowSegDataLayer
from layers.synth import make_nyud, make_pascalcontext, make_siftflow, make_voc, make_voc_family
from layers.voc import SBDDSegDataLayer, VOCSegDataLayer


def setup_layer(cls, params, ntop=2):
    layer = cls()
    layer.param_str = params if isinstance(params, str) else repr(params)
    tops = [Blob() for _ in range(ntop)]
    layer.setup([], tops)
    return layer, tops


@pytest.fixture()
def voc(tmp_path):
    d = str(tmp_path / "VOC2011")
    ids = make_voc(d, n=4, size=(20, 24))
    return d, ids


def test_missing_split_file(voc):
    d, _ = voc
    with pytest.raises(DataError) as e:
        setup_layer(VOCSegDataLayer, dict(voc_dir=d, split="nosuch"))
    msg = str(e.value)
    assert "PASCAL VOC split 'nosuch'" in msg and "nosuch.txt" in msg and "data/README.md" in msg


def test_missing_seg11valid_says_how_to_derive(voc):
    with pytest.raises(DataError, match="python -m layers.splits seg11valid"):
        setup_layer(VOCSegDataLayer, dict(voc_dir=voc[0], split="seg11valid"))


def test_empty_split(voc):
    d, _ = voc
    open(f"{d}/ImageSets/Segmentation/empty.txt", "w").write("\n\n")
    with pytest.raises(DataError, match="split 'empty'.*empty"):
        setup_layer(VOCSegDataLayer, dict(voc_dir=d, split="empty"))


def test_missing_dataset_dir(tmp_path):
    with pytest.raises(DataError, match="split file not found"):
        setup_layer(SBDDSegDataLayer, dict(sbdd_dir=str(tmp_path / "nope"), split="train"))


def test_missing_image_at_setup(voc):
    d, ids = voc
    os.remove(f"{d}/JPEGImages/{ids[1]}.jpg")
    with pytest.raises(DataError) as e:
        setup_layer(VOCSegDataLayer, dict(voc_dir=d, split="trainval"))
    msg = str(e.value)
    assert f"id '{ids[1]}'" in msg and "image not found" in msg and f"{ids[1]}.jpg" in msg


def test_corrupt_image_at_the_bad_example(voc):
    d, ids = voc
    bad = ids[1]
    open(f"{d}/JPEGImages/{bad}.jpg", "wb").write(b"not a jpeg at all")
    layer, tops = setup_layer(VOCSegDataLayer, dict(voc_dir=d, split="trainval", randomize=False))
    layer.reshape([], tops)
    layer.forward([], tops)  # example 0 is fine
    with pytest.raises(DataError) as e:
        layer.reshape([], tops)
    msg = str(e.value)
    assert f"id '{bad}'" in msg and "cannot be decoded" in msg and "split 'trainval'" in msg
    layer.close()


def test_colour_label_png(voc):
    d, ids = voc
    Image.new("RGB", (24, 20)).save(f"{d}/SegmentationClass/{ids[2]}.png")
    with pytest.raises(DataError, match="mode RGB.*palette"):
        serve(VOCSegDataLayer, dict(voc_dir=d, split="val", prefetch=False), 2, 1)


def test_size_mismatch(voc):
    d, ids = voc
    Image.new("P", (5, 5)).save(f"{d}/SegmentationClass/{ids[2]}.png")
    with pytest.raises(DataError, match="sizes differ.*image 20x24, label 5x5"):
        serve(VOCSegDataLayer, dict(voc_dir=d, split="val"), 2, 1)


def test_param_errors(voc):
    d, _ = voc
    with pytest.raises(ValueError, match="unknown param_str key.*'sead'"):
        setup_layer(VOCSegDataLayer, dict(voc_dir=d, split="train", sead=1))
    with pytest.raises(ValueError, match="lacks required key.*voc_dir"):
        setup_layer(VOCSegDataLayer, dict(split="train"))
    with pytest.raises(ValueError, match="not a Python literal dict"):
        setup_layer(VOCSegDataLayer, "dict(voc_dir='x', split='train')")
    with pytest.raises(ValueError, match="must be a dict"):
        setup_layer(VOCSegDataLayer, "['a']")
    with pytest.raises(ValueError, match="needs 2 tops \\(data, label\\), got 3"):
        setup_layer(VOCSegDataLayer, dict(voc_dir=d, split="train"), ntop=3)
    with pytest.raises(ValueError, match="mean must be 3 numbers"):
        setup_layer(VOCSegDataLayer, dict(voc_dir=d, split="train", mean=(1, 2)))
    layer = VOCSegDataLayer()
    layer.param_str = repr(dict(voc_dir=d, split="train"))
    with pytest.raises(ValueError, match="takes no bottoms"):
        layer.setup([Blob()], [Blob(), Blob()])


def test_sbdd_bad_mat(tmp_path):
    fam = make_voc_family(str(tmp_path), n=4, size=(16, 16))
    sbdd = fam["sbdd_dir"]
    idx = fam["sbdd_train"][0]
    scipy.io.savemat(f"{sbdd}/cls/{idx}.mat", {"Other": np.zeros((16, 16))})
    with pytest.raises(DataError, match=f"SBD split 'train' id '{idx}': no variable 'GTcls'"):
        serve(SBDDSegDataLayer, dict(sbdd_dir=sbdd, split="train", randomize=False), 2, 1)
    open(f"{sbdd}/cls/{idx}.mat", "wb").write(b"garbage")
    with pytest.raises(DataError, match="cannot be read by scipy.io.loadmat"):
        serve(SBDDSegDataLayer, dict(sbdd_dir=sbdd, split="train", randomize=False), 2, 1)


def test_nyud_errors(tmp_path):
    d = str(tmp_path / "nyud")
    ids = make_nyud(d, n=4, size=(12, 14))
    with pytest.raises(ValueError, match="unknown top.*'rgb'"):
        setup_layer(NYUDSegDataLayer, dict(nyud_dir=d, split="train", tops=["rgb", "label"]))
    with pytest.raises(ValueError, match="needs 3 tops \\(color, hha, label\\), got 2"):
        setup_layer(
            NYUDSegDataLayer, dict(nyud_dir=d, split="train", tops=["color", "hha", "label"])
        )
    with pytest.raises(ValueError, match="tops must be a non-empty list"):
        setup_layer(NYUDSegDataLayer, dict(nyud_dir=d, split="train", tops="color"))
    os.remove(f"{d}/trainval.txt")
    with pytest.raises(DataError, match="layers.splits nyud-trainval"):
        setup_layer(NYUDSegDataLayer, dict(nyud_dir=d, split="trainval", tops=["color", "label"]))
    train0 = open(f"{d}/train.txt").read().split()[0]
    Image.fromarray(np.zeros((12, 14), np.uint16)).save(f"{d}/data/depth/img_{train0}.png")
    p = dict(nyud_dir=d, split="train", tops=["depth", "label"], randomize=False)
    with pytest.raises(DataError, match=f"id '{train0}': depth image has 168 non-positive"):
        serve(NYUDSegDataLayer, p, 2, 1)
    shutil.rmtree(f"{d}/data/hha")
    with pytest.raises(DataError, match="hha not found"):
        setup_layer(NYUDSegDataLayer, dict(nyud_dir=d, split="test", tops=["hha", "label"]))
    assert ids


def test_siftflow_missing_geo(tmp_path):
    d = str(tmp_path / "sf")
    ids = make_siftflow(d, n=3, size=(10, 10))
    cat = "spatial_envelope_256x256_static_8outdoorcategories"
    os.remove(f"{d}/GeoLabels/{cat}/{ids[0]}.mat")
    with pytest.raises(DataError, match=f"SIFT Flow split 'trainval' id '{ids[0]}': geo not found"):
        setup_layer(SIFTFlowSegDataLayer, dict(siftflow_dir=d, split="trainval"), 3)


def test_context_bad_label_lists(tmp_path):
    make_pascalcontext(str(tmp_path), n=2, size=(10, 10))
    ctx = str(tmp_path / "pascal-context")
    p = dict(voc_dir=str(tmp_path / "pascal"), context_dir=ctx, split="train")
    lines = open(f"{ctx}/59_labels.txt").read().splitlines()
    open(f"{ctx}/59_labels.txt", "w").write("\n".join(lines[:5] + ["6: unicorn"]) + "\n")
    with pytest.raises(DataError, match="class 'unicorn' is not in labels.txt"):
        setup_layer(PASCALContextSegDataLayer, p)
    open(f"{ctx}/59_labels.txt", "w").write("1 aeroplane\n")
    with pytest.raises(DataError, match="59_labels.txt line 1 .*expected 'N: name'"):
        setup_layer(PASCALContextSegDataLayer, p)
    os.remove(f"{ctx}/labels.txt")
    with pytest.raises(DataError, match="labels.txt not found"):
        setup_layer(PASCALContextSegDataLayer, p)
