"""Each synthetic twin read by its layer == an independent NumPy re-derivation of the release's
preprocessing (PIL/scipy reads, BGR, per-channel mean, C x H x W, wraps, Context mapping)."""

import os

import numpy as np
import pytest
import scipy.io
from PIL import Image

from layers.nyud import NYUDSegDataLayer
from layers.pascalcontext import PASCALContextSegDataLayer
from layers.siftflow import SIFTFlowSegDataLayer
from layers.synth import make_data_root
from layers.voc import SBDDSegDataLayer, VOCSegDataLayer

CAT = "spatial_envelope_256x256_static_8outdoorcategories"


class Blob:
    """Stand-in for a pycaffe Blob: .data/.diff numpy arrays and reshape(*dims)."""

    def __init__(self):
        self.data = np.zeros((1,), np.float32)
        self.diff = np.zeros((1,), np.float32)

    def reshape(self, *dims):
        self.data = np.zeros(dims, np.float32)
        self.diff = np.zeros(dims, np.float32)


def serve(cls, params, ntop, steps):
    """Run setup + (reshape, forward) x steps -> list of (id, [top arrays])."""
    layer = cls()
    layer.param_str = repr(params)
    tops = [Blob() for _ in range(ntop)]
    layer.setup([], tops)
    out = []
    for _ in range(steps):
        layer.reshape([], tops)
        layer.forward([], tops)
        out.append((layer.last_id, [t.data.copy() for t in tops]))
    layer.close()
    return out


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    r = str(tmp_path_factory.mktemp("data"))
    make_data_root(r, n=6, seed=3)
    return r


def ref_bgr(path, mean):
    """The release: float32 image, RGB->BGR, -= mean (its dtype), transpose to C x H x W."""
    x = np.array(Image.open(path), dtype=np.float32)
    x = x[:, :, ::-1]
    x -= mean
    return x.transpose((2, 0, 1))


def check(served, expected_by_id):
    assert served
    for idx, arrays in served:
        want = expected_by_id(idx)
        assert len(arrays) == len(want)
        for got, exp in zip(arrays, want):
            assert got.shape == (1,) + exp.shape
            np.testing.assert_array_equal(got[0], exp.astype(np.float32))


def test_voc(root):
    voc = os.path.join(root, "pascal", "VOC2011")
    mean = np.array((104.00699, 116.66877, 122.67892))

    def ref(idx):
        img = ref_bgr(f"{voc}/JPEGImages/{idx}.jpg", mean)
        lab = np.array(Image.open(f"{voc}/SegmentationClass/{idx}.png"), dtype=np.uint8)
        return img, lab[np.newaxis]

    served = serve(
        VOCSegDataLayer,
        dict(voc_dir=voc, split="seg11valid", mean=(104.00699, 116.66877, 122.67892)),
        2,
        4,
    )
    check(served, ref)
    labels = np.concatenate([a[1].ravel() for _, a in served])
    assert 255 in labels and set(np.unique(labels)) <= set(range(21)) | {255}
    assert Image.open(f"{voc}/SegmentationClass/{served[0][0]}.png").mode == "P"


def test_sbdd(root):
    sbdd = os.path.join(root, "sbdd", "dataset")
    mean = np.array((104.00699, 116.66877, 122.67892))

    def ref(idx):
        img = ref_bgr(f"{sbdd}/img/{idx}.jpg", mean)
        mat = scipy.io.loadmat(f"{sbdd}/cls/{idx}.mat")
        lab = mat["GTcls"][0]["Segmentation"][0].astype(np.uint8)
        return img, lab[np.newaxis]

    served = serve(SBDDSegDataLayer, dict(sbdd_dir=sbdd, split="train", seed=1337), 2, 4)
    check(served, ref)
    assert all(a[1].max() <= 20 for _, a in served)  # SBD has no void


@pytest.mark.parametrize(
    "tops",
    [["color", "label"], ["hha", "label"], ["color", "depth", "label"], ["color", "hha", "label"]],
)
def test_nyud_tops(root, tops):
    nyud = os.path.join(root, "nyud")
    mean_bgr = np.array((116.190, 97.203, 92.318), dtype=np.float32)
    mean_hha = np.array((132.431, 94.076, 118.477), dtype=np.float32)

    def one(top, idx):
        if top == "color":
            return ref_bgr(f"{nyud}/data/images/img_{idx}.png", mean_bgr)
        if top == "hha":  # no channel swap
            x = np.array(Image.open(f"{nyud}/data/hha/img_{idx}.png"), dtype=np.float32)
            x -= mean_hha
            return x.transpose((2, 0, 1))
        if top == "depth":
            d = np.log(np.array(Image.open(f"{nyud}/data/depth/img_{idx}.png"), dtype=np.float32))
            d -= np.array((7.844,), dtype=np.float32)
            return d[np.newaxis]
        seg = scipy.io.loadmat(f"{nyud}/segmentation/img_{idx}.mat")["segmentation"]
        lab = seg.astype(np.uint8)
        lab -= 1
        return lab[np.newaxis]

    served = serve(
        NYUDSegDataLayer, dict(nyud_dir=nyud, split="trainval", tops=tops, seed=1337), len(tops), 3
    )
    check(served, lambda idx: [one(t, idx) for t in tops])
    # tops come in the order asked: channel counts follow `tops`
    chans = {"color": 3, "hha": 3, "depth": 1, "label": 1}
    assert [a.shape[1] for a in served[0][1]] == [chans[t] for t in tops]
    label = served[0][1][-1]
    assert 255 in label and label[label != 255].max() <= 39  # 0 (void) wrapped to 255


def test_nyud_all_four_tops_in_any_order(root):
    nyud = os.path.join(root, "nyud")
    tops = ["label", "depth", "hha", "color"]
    a = serve(NYUDSegDataLayer, dict(nyud_dir=nyud, split="test", tops=tops), 4, 1)[0][1]
    b = serve(NYUDSegDataLayer, dict(nyud_dir=nyud, split="test", tops=tops[::-1]), 4, 1)[0][1]
    for x, y in zip(a, b[::-1]):
        np.testing.assert_array_equal(x, y)


def test_siftflow_two_label_tops(root):
    sf = os.path.join(root, "sift-flow")
    mean = np.array((114.578, 115.294, 108.353), dtype=np.float32)

    def ref(idx):
        img = ref_bgr(f"{sf}/Images/{CAT}/{idx}.jpg", mean)
        sem = scipy.io.loadmat(f"{sf}/SemanticLabels/{CAT}/{idx}.mat")["S"].astype(np.uint8)
        sem -= 1
        geo = scipy.io.loadmat(f"{sf}/GeoLabels/{CAT}/{idx}.mat")["S"]
        geo[geo == -1] = 0
        geo = geo.astype(np.uint8)
        geo -= 1
        return img, sem[np.newaxis], geo[np.newaxis]

    served = serve(SIFTFlowSegDataLayer, dict(siftflow_dir=sf, split="trainval", seed=1337), 3, 4)
    check(served, ref)
    for _, (_, sem, geo) in served:
        assert set(np.unique(sem)) <= set(range(33)) | {255}
        assert set(np.unique(geo)) <= {0, 1, 2, 255}
        assert np.array_equal(sem == 255, geo == 255)  # void in the same places
        assert (geo != 255).any() and (sem != 255).any()


def context_ref_label(ctx_dir, idx):
    """The release's mapping, re-derived: 59-list names (three renamed) -> full-list index."""

    def names(path):
        return [
            line.split(":", 1)[1].replace(" ", "").strip() for line in open(path) if line.strip()
        ]

    full = names(f"{ctx_dir}/labels.txt")
    task = names(f"{ctx_dir}/59_labels.txt")
    rename = {"diningtable": "table", "bedcloth": "bedclothes", "clothes": "cloth"}
    task = [rename.get(t, t) for t in task]
    lm = scipy.io.loadmat(f"{ctx_dir}/trainval/{idx}.mat")["LabelMap"]
    label = np.zeros_like(lm, dtype=np.uint8)
    for j, name in enumerate(task):
        label[lm == full.index(name) + 1] = j + 1
    return label[np.newaxis]


def test_pascalcontext_60_way(root):
    voc = os.path.join(root, "pascal")
    ctx = os.path.join(root, "pascal-context")
    mean = np.array((104.007, 116.669, 122.679), dtype=np.float32)

    def ref(idx):
        return ref_bgr(f"{voc}/VOC2010/JPEGImages/{idx}.jpg", mean), context_ref_label(ctx, idx)

    params = dict(voc_dir=voc, context_dir=ctx, split="val", seed=1337)
    served = serve(PASCALContextSegDataLayer, params, 2, 3)
    check(served, ref)
    assert len(open(f"{ctx}/labels.txt").read().split("\n")) - 1 == 459
    for _, (_, label) in served:
        assert label.max() <= 59 and (label == 0).any()


def test_pascalcontext_renamed_and_dropped_classes(root, tmp_path):
    """A hand-made LabelMap: table/bedclothes/cloth reach diningtable/bedcloth/clothes; a
    full-list-only class and out-of-range values become background 0."""
    ctx = os.path.join(root, "pascal-context")
    full = [line.split(":", 1)[1].strip() for line in open(f"{ctx}/labels.txt") if line.strip()]
    task = [line.split(":", 1)[1].strip() for line in open(f"{ctx}/59_labels.txt") if line.strip()]
    lm = np.array(
        [[full.index("table") + 1, full.index("bedclothes") + 1, full.index("cloth") + 1],
         [full.index("accordion") + 1, full.index("person") + 1, 0],
         [460, 2, full.index("wood") + 1]],
        dtype=np.uint16,
    )  # fmt: skip
    from layers.pascalcontext import context_lut, load_context_label

    os.makedirs(tmp_path / "trainval")
    scipy.io.savemat(tmp_path / "trainval" / "x.mat", {"LabelMap": lm})
    got = load_context_label(str(tmp_path), "x", context_lut(ctx))[0]
    want = [
        [task.index("diningtable") + 1, task.index("bedcloth") + 1, task.index("clothes") + 1],
        [0, task.index("person") + 1, 0],
        [0, task.index("aeroplane") + 1, task.index("wood") + 1],
    ]
    np.testing.assert_array_equal(got, np.array(want, np.uint8))
