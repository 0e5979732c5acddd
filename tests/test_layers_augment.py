"""Data augmentation on the Python data layers (issue 16): crop, scale, mirror, batch_size and
ignore_label on SegDataLayer, checked on the synthetic datasets against an independent
re-derivation (torch's interpolate for images, exact fractions for label indices, NumPy slicing,
padding and flipping from the recorded augmentation), plus seeding, resume, prefetch, batches,
defaults and error messages."""

import math
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from layers.augment import (
    apply_augment,
    draw_augment,
    linear_taps,
    nearest_taps,
    resize_bilinear,
    resize_nearest,
    scaled_size,
)
from layers.cityscapes import CityscapesSegDataLayer, load_cityscapes_image, load_cityscapes_label
from layers.nyud import LOADERS as NYUD_LOADERS
from layers.nyud import NYUDSegDataLayer
from layers.prefetch import Prefetcher
from layers.siftflow import SIFTFlowSegDataLayer, load_siftflow_image, load_siftflow_label
from layers.synth import make_nyud, make_sbdd, make_siftflow
from layers.synth.cityscapes import make_cityscapes
from layers.voc import SBDDSegDataLayer, load_sbdd_image, load_sbdd_label
from solvers.evaluation.score import last_id as _last_id
from solvers.training.streams import seek_data

torch.set_num_threads(1)

AUG = dict(crop=(64, 72), scale=[0.6, 1.4], mirror=True)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    r = tmp_path_factory.mktemp("aug")
    out = {
        "sbd": str(r / "sbd"),  # varied sizes (60..120 a side)
        "sbd_eq": str(r / "sbd_eq"),  # all 40 x 50
        "nyud": str(r / "nyud"),
        "siftflow": str(r / "siftflow"),
        "cs": str(r / "cs"),
    }
    make_sbdd(out["sbd"], n=12, seed=4)
    make_sbdd(out["sbd_eq"], n=8, size=(40, 50), seed=5)
    make_nyud(out["nyud"], n=4, size=(40, 50), seed=6)
    make_siftflow(out["siftflow"], n=4, size=(40, 50), seed=7)
    make_cityscapes(out["cs"], n=6, size=(40, 50), seed=8)
    return out


def make(cls, **params):
    from torchcaffe.blob import Blob

    layer = cls()
    layer.param_str = repr(params)
    n_tops = len(params["tops"]) if "tops" in params else {SIFTFlowSegDataLayer: 3}.get(cls, 2)
    tops = [Blob((1,)) for _ in range(n_tops)]
    layer.setup([], tops)
    return layer, tops


def step(layer, tops):
    """One reshape + forward -> (ids, [top arrays copied], augmentation records)."""
    layer.reshape([], tops)
    layer.forward([], tops)
    return list(layer.last_ids), [t.data.copy() for t in tops], list(layer.last_augment)


def stream(cls, steps, **params):
    layer, tops = make(cls, **params)
    out = [step(layer, tops) for _ in range(steps)]
    layer.close()
    return out


def sbd_arrays(d, idx):
    return load_sbdd_image(d, idx), load_sbdd_label(d, idx)


# -- the independent re-derivation ---------------------------------------------------------------
def ref_nearest_index(n_in, n_out):
    """floor((j + 1/2) * n_in / n_out) with exact fractions, clipped to n_in - 1."""
    return [min(math.floor(Fraction(2 * j + 1, 2) * n_in / n_out), n_in - 1) for j in range(n_out)]


def ref_resize(a, size):
    if tuple(a.shape[-2:]) == tuple(size):
        return a.copy()
    if a.dtype.kind == "f":
        # in float64: torch's float32 kernel rounds the source coordinate to float32 (errors of
        # ~1e-5 px, 1e-3 in value on sharp edges); in float64 both agree to ~1e-12
        t = torch.from_numpy(a.astype(np.float64))[None]
        r = F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False)
        return r[0].numpy().astype(a.dtype)
    rows = ref_nearest_index(a.shape[-2], size[0])
    cols = ref_nearest_index(a.shape[-1], size[1])
    return a[:, rows][:, :, cols]


def reference(arrays, aug, crop, ignore_label=255):
    """resize to aug['size'], pad bottom/right (0 / ignore), take the window, flip."""
    out = []
    for a in arrays:
        r = ref_resize(a, aug["size"])
        if crop is not None:
            ch, cw = crop
            y, x = aug["offset"]
            c, h, w = r.shape
            fill = 0 if a.dtype.kind == "f" else ignore_label
            padded = np.full((c, max(h, ch), max(w, cw)), fill, dtype=a.dtype)
            padded[:, :h, :w] = r
            r = padded[:, y : y + ch, x : x + cw]
        if aug["mirror"]:
            r = r[:, :, ::-1]
        out.append(r)
    return out


def assert_matches(served, arrays, aug, crop, ignore_label=255):
    for got, want, src in zip(served, reference(arrays, aug, crop, ignore_label), arrays):
        assert got.dtype == src.dtype and got.shape == want.shape
        if src.dtype.kind == "f":
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
        else:
            np.testing.assert_array_equal(got, want)


# -- resampling functions ------------------------------------------------------------------------
SIZES = [((40, 50), (40, 50)), ((40, 50), (23, 71)), ((7, 9), (20, 3)), ((1, 5), (4, 1)),
         ((33, 17), (66, 34))]  # fmt: skip


@pytest.mark.parametrize("src,dst", SIZES)
def test_resize_against_torch(src, dst):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 60, size=(3, *src)).astype(np.float32)
    got = resize_bilinear(x, dst)
    x64 = torch.from_numpy(x.astype(np.float64))[None]
    want = F.interpolate(x64, size=dst, mode="bilinear", align_corners=False)[0].numpy()
    assert got.dtype == np.float32 and got.shape == (3, *dst)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    got64 = resize_bilinear(x.astype(np.float64), dst)  # float64 in, float64 out
    assert got64.dtype == np.float64
    np.testing.assert_allclose(got64, want, rtol=0, atol=1e-9)
    if src == dst:
        np.testing.assert_array_equal(got, x)
    lab = rng.integers(0, 21, size=(1, *src)).astype(np.uint8)
    got = resize_nearest(lab, dst)
    assert got.dtype == np.uint8
    rows, cols = ref_nearest_index(src[0], dst[0]), ref_nearest_index(src[1], dst[1])
    np.testing.assert_array_equal(got, lab[:, rows][:, :, cols])


def test_nearest_agrees_with_torch_nearest_exact_but_at_exact_ties():
    """torch computes the source position in float32; it differs from the exact formula only
    where (j + 1/2) * n_in / n_out is an integer (a tie between two source pixels)."""
    ties = 0
    for n_in in range(1, 60):
        x = torch.arange(n_in, dtype=torch.float32).view(1, 1, 1, n_in)
        for n_out in range(1, 90):
            t = F.interpolate(x, size=(1, n_out), mode="nearest-exact")[0, 0, 0].long().numpy()
            ours = nearest_taps(n_in, n_out)
            for j in np.nonzero(t != ours)[0]:
                assert (Fraction(2 * int(j) + 1, 2) * n_in / n_out).denominator == 1
                ties += 1
    assert ties < 400


def test_window_is_the_full_resize_cropped_bit_for_bit():
    """apply_augment interpolates only the crop window: the same numbers as resizing the whole
    array, padding and slicing."""
    rng = np.random.default_rng(3)
    img = rng.normal(0, 60, size=(3, 37, 53)).astype(np.float32)
    lab = rng.integers(0, 21, size=(1, 37, 53)).astype(np.uint8)
    for k in range(20):
        aug = draw_augment(np.random.default_rng(k), (37, 53), (30, 40), (0.5, 1.6), True)
        got = apply_augment((img, lab), aug, (30, 40))
        h, w = aug["size"]
        y, x = aug["offset"]
        for g, full, fill in ((got[0], resize_bilinear(img, (h, w)), 0),
                              (got[1], resize_nearest(lab, (h, w)), 255)):  # fmt: skip
            padded = np.full((full.shape[0], max(h, 30), max(w, 40)), fill, full.dtype)
            padded[:, :h, :w] = full
            want = padded[:, y : y + 30, x : x + 40][:, :, :: -1 if aug["mirror"] else 1]
            assert g.tobytes() == np.ascontiguousarray(want).tobytes()


def test_taps_and_sizes():
    i0, i1, f = linear_taps(4, 8)  # 2x up: c = j/2 - 1/4
    np.testing.assert_array_equal(i0, [0, 0, 0, 1, 1, 2, 2, 3])
    np.testing.assert_array_equal(i1, [1, 1, 1, 2, 2, 3, 3, 3])
    np.testing.assert_allclose(f, [0, 0.25, 0.75, 0.25, 0.75, 0.25, 0.75, 0])
    np.testing.assert_array_equal(nearest_taps(4, 2), [1, 3])
    np.testing.assert_array_equal(nearest_taps(2, 4), [0, 0, 1, 1])
    assert scaled_size((40, 50), 0.5) == (20, 25)
    assert scaled_size((3, 3), 0.01) == (1, 1)
    with pytest.raises(ValueError):
        linear_taps(0, 3)


# -- defaults: bit for bit the loaders' arrays ---------------------------------------------------
@pytest.mark.parametrize("prefetch", [True, False])
def test_defaults_serve_the_loaders_arrays_bit_for_bit(dirs, prefetch):
    d = dirs["sbd"]
    p = dict(sbdd_dir=d, split="train", seed=3, prefetch=prefetch)
    plain = stream(SBDDSegDataLayer, 5, **p)
    keys = dict(crop=None, scale=None, mirror=False, batch_size=1, ignore_label=255)
    explicit = stream(SBDDSegDataLayer, 5, **p, **keys)
    for (ids, tops, augs), (ids2, tops2, augs2) in zip(plain, explicit):
        assert ids == ids2 and augs == augs2
        img, label = sbd_arrays(d, ids[0])
        for got, got2, want in zip(tops, tops2, (img, label)):
            assert got.shape == (1, *want.shape)
            assert got.dtype == np.float32  # the Blob's dtype, as before
            assert got.tobytes() == want.astype(np.float32).tobytes() == got2.tobytes()
        assert augs == [{"scale": None, "size": img.shape[1:], "offset": None, "mirror": False}]
    layer, tops = make(SBDDSegDataLayer, sbdd_dir=d, split="train", seed=3)
    assert layer.batch_size == 1 and layer.rng_state() == {"seed": 3, "position": 0}
    ids, _, _ = step(layer, tops)
    for got, want in zip(layer.example, sbd_arrays(d, ids[0])):  # the loader's arrays, unbatched
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    layer.close()


# -- augmented examples against the re-derivation ------------------------------------------------
def test_sbd_crops_scale_mirror_pixel_exact(dirs):
    d = dirs["sbd"]
    served = stream(SBDDSegDataLayer, 16, sbdd_dir=d, split="train", seed=11, **AUG)
    padded = mirrored = plain = 0
    for ids, tops, augs in served:
        (idx,), (aug,) = ids, augs
        img, label = sbd_arrays(d, idx)
        assert 0.6 <= aug["scale"] <= 1.4
        s = aug["scale"]
        assert aug["size"] == (round(img.shape[1] * s), round(img.shape[2] * s))
        assert tops[0].shape == (1, 3, 64, 72) and tops[1].shape == (1, 1, 64, 72)
        assert_matches([tops[0][0], tops[1][0].astype(np.uint8)], (img, label), aug, (64, 72))
        h, w = aug["size"]
        if h < 64 or w < 72:
            padded += 1
            lab = tops[1][0, 0][:, ::-1] if aug["mirror"] else tops[1][0, 0]
            pic = tops[0][0][:, :, ::-1] if aug["mirror"] else tops[0][0]
            assert (lab[h:] == 255).all() and (lab[:, w:] == 255).all()
            assert (pic[:, h:] == 0).all() and (pic[:, :, w:] == 0).all()
            assert (lab[: min(h, 64), : min(w, 72)] != 255).all()  # SBD labels have no void
        mirrored += aug["mirror"]
        plain += not aug["mirror"]
    assert padded and mirrored and plain  # every case was exercised


def test_multi_top_layers_keep_tops_aligned(dirs):
    nyud, sf = dirs["nyud"], dirs["siftflow"]
    tops_n = ["color", "depth", "hha", "label"]
    for ids, tops, augs in stream(NYUDSegDataLayer, 4, nyud_dir=nyud, split="train",
                                  tops=tops_n, seed=2, **AUG):  # fmt: skip
        arrays = [NYUD_LOADERS[t](nyud, ids[0]) for t in tops_n]
        assert [a.dtype.kind for a in arrays] == ["f", "f", "f", "u"]  # label uint8
        served = [t[0].astype(a.dtype) for t, a in zip(tops, arrays)]
        assert_matches(served, arrays, augs[0], (64, 72))
    for ids, tops, augs in stream(SIFTFlowSegDataLayer, 4, siftflow_dir=sf, split="trainval",
                                  seed=2, crop=30, scale=[0.5, 1.5], mirror=True):  # fmt: skip
        idx = ids[0]
        arrays = [load_siftflow_image(sf, idx)]
        arrays += [load_siftflow_label(sf, idx, k) for k in ("sem", "geo")]
        assert [a.dtype for a in arrays[1:]] == [np.uint8, np.uint8]
        served = [tops[0][0]] + [t[0].astype(np.uint8) for t in tops[1:]]
        assert all(t.shape[-2:] == (30, 30) for t in tops)
        assert_matches(served, arrays, augs[0], (30, 30))


def test_mirror_alone_flips_every_top_together(dirs):
    d = dirs["sbd_eq"]
    flips = []
    for ids, tops, augs in stream(SBDDSegDataLayer, 10, sbdd_dir=d, split="train", seed=5,
                                  mirror=True):  # fmt: skip
        img, label = sbd_arrays(d, ids[0])
        flip = augs[0]["mirror"]
        assert augs[0]["scale"] is None and augs[0]["offset"] is None
        np.testing.assert_array_equal(tops[0][0], img[:, :, ::-1] if flip else img)
        np.testing.assert_array_equal(tops[1][0], label[:, :, ::-1] if flip else label)
        flips.append(flip)
    assert any(flips) and not all(flips)


def test_ignore_label_pads_labels(dirs):
    d = dirs["sbd_eq"]  # 40 x 50 images, crop 48 x 56: always padded
    for ids, tops, augs in stream(SBDDSegDataLayer, 3, sbdd_dir=d, split="train", seed=1,
                                  crop=[48, 56], ignore_label=99):  # fmt: skip
        img, label = sbd_arrays(d, ids[0])
        assert augs[0]["offset"] == (0, 0)
        assert (tops[1][0, 0, 40:] == 99).all() and (tops[1][0, 0, :, 50:] == 99).all()
        assert (tops[0][0, :, 40:] == 0).all() and (tops[0][0, :, :, 50:] == 0).all()
        np.testing.assert_array_equal(tops[0][0, :, :40, :50], img)
        np.testing.assert_array_equal(tops[1][0, :, :40, :50], label)
    layer, tops = make(SBDDSegDataLayer, sbdd_dir=d, split="train", crop=48, ignore_label=300)
    with pytest.raises(ValueError, match="ignore_label 300 does not fit the uint8"):
        layer.reshape([], tops)
    layer.close()


# -- seeding, resume, prefetch -------------------------------------------------------------------
def same(a, b):
    for (ids, tops, augs), (ids2, tops2, augs2) in zip(a, b, strict=True):
        assert ids == ids2 and augs == augs2
        for t, t2 in zip(tops, tops2):
            assert t.tobytes() == t2.tobytes()


def test_seeded_resumable_and_prefetch_invariant(dirs):
    p = dict(sbdd_dir=dirs["sbd"], split="train", seed=21, **AUG)
    whole = stream(SBDDSegDataLayer, 8, **p)
    same(whole, stream(SBDDSegDataLayer, 8, **p))
    same(whole, stream(SBDDSegDataLayer, 8, **dict(p, prefetch=False)))
    other = stream(SBDDSegDataLayer, 8, **dict(p, seed=22))
    assert [a for _, _, a in other] != [a for _, _, a in whole]
    # seek: the tail of the stream, prefetch on and off
    for prefetch in (True, False):
        layer, tops = make(SBDDSegDataLayer, **dict(p, prefetch=prefetch))
        step(layer, tops)  # an example (and a prefetched one) from before the seek
        layer.seek(5)
        same(whole[5:], [step(layer, tops) for _ in range(3)])
        layer.close()
    # set_rng_state on a layer whose seed was drawn at random
    state = {"seed": 21, "position": 3}
    layer, tops = make(SBDDSegDataLayer, **dict(p, seed=None))
    step(layer, tops)
    layer.set_rng_state(state)
    assert layer.rng_state() == state
    same(whole[3:], [step(layer, tops) for _ in range(5)])
    assert layer.rng_state() == {"seed": 21, "position": 8}
    layer.close()


def test_random_seed_is_recorded_and_replays(dirs):
    p = dict(sbdd_dir=dirs["sbd"], split="train", seed=None, **AUG)
    layer, tops = make(SBDDSegDataLayer, **p)
    first = [step(layer, tops) for _ in range(3)]
    seed = layer.rng_state()["seed"]
    layer.close()
    same(first, stream(SBDDSegDataLayer, 3, **dict(p, seed=seed)))


# -- batches -------------------------------------------------------------------------------------
def test_batch_equals_single_examples(dirs):
    p = dict(sbdd_dir=dirs["sbd"], split="train", seed=9, **AUG)
    singles = stream(SBDDSegDataLayer, 9, **p)
    layer, tops = make(SBDDSegDataLayer, batch_size=3, **p)
    assert layer._prefetcher.stride == 3
    for b in range(3):
        ids, arrays, augs = step(layer, tops)
        chunk = singles[3 * b : 3 * b + 3]
        assert ids == [s[0][0] for s in chunk] and layer.last_id == ids[0]
        assert augs == [s[2][0] for s in chunk]
        assert arrays[0].shape == (3, 3, 64, 72) and arrays[1].shape == (3, 1, 64, 72)
        for i, s in enumerate(chunk):
            for t, t1 in zip(arrays, s[1]):
                assert t[i].tobytes() == t1[0].tobytes()
        assert layer.position == 3 * (b + 1)
        assert _last_id(SimpleNamespace(layers=[layer]), 0) == ids[0]
    assert layer.rng_state()["position"] == 9
    # resume after 2 forwards: seek_data counts forwards, the layer examples
    assert seek_data(SimpleNamespace(layers=[layer]), 2) == 1
    assert layer.position == 6
    ids, _, _ = step(layer, tops)
    assert ids == [s[0][0] for s in singles[6:9]]
    layer.close()


def test_batch_of_equal_size_images_without_crop(dirs):
    cs = dirs["cs"]
    layer, tops = make(CityscapesSegDataLayer, cityscapes_dir=cs, split="train", batch_size=2,
                       randomize=False)  # fmt: skip
    ids, arrays, augs = step(layer, tops)
    assert arrays[0].shape == (2, 3, 40, 50) and arrays[1].shape == (2, 1, 40, 50)
    for i, idx in enumerate(ids):
        np.testing.assert_array_equal(arrays[0][i], load_cityscapes_image(cs, "train", idx))
        np.testing.assert_array_equal(arrays[1][i], load_cityscapes_label(cs, "train", idx))
    assert [a["size"] for a in augs] == [(40, 50)] * 2
    layer.close()


def test_batch_of_unequal_sizes_says_set_crop(dirs):
    layer, tops = make(SBDDSegDataLayer, sbdd_dir=dirs["sbd"], split="train", batch_size=4,
                       randomize=False)  # fmt: skip
    with pytest.raises(ValueError) as e:
        layer.reshape([], tops)
    msg = str(e.value)
    assert "SBDDSegDataLayer" in msg and "batch_size 4" in msg and "'crop'" in msg
    assert layer.ids[0] in msg and "x" in msg
    layer.close()


def test_prefetcher_stride():
    asked = []
    pf = Prefetcher(lambda k: asked.append(k) or k, depth=2, stride=3)
    assert pf.get(0) == 0 and pf.get(3) == 3 and pf.get(6) == 6
    pf.close()
    assert sorted(set(asked)) == [0, 3, 6, 9, 12]
    with pytest.raises(ValueError, match="stride"):
        Prefetcher(lambda k: k, stride=0)


def test_in_a_torchcaffe_net(dirs, tmp_path):
    import torchcaffe

    params = repr(dict(sbdd_dir=dirs["sbd"], split="train", seed=1, crop=32, scale=[0.5, 1.0],
                       mirror=True, batch_size=2)).replace('"', '\\"')  # fmt: skip
    path = tmp_path / "net.prototxt"
    path.write_text(
        'layer { name: "data" type: "Python" top: "data" top: "label" python_param { module: '
        f'"layers.voc" layer: "SBDDSegDataLayer" param_str: "{params}" }} }}\n'
        'layer { name: "score" type: "Convolution" bottom: "data" top: "score" '
        "convolution_param { num_output: 21 kernel_size: 1 } }\n"
        'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" '
        'top: "loss" loss_param { ignore_label: 255 } }\n'
    )
    net = torchcaffe.Net(str(path), torchcaffe.TRAIN)
    layer = net.layers[list(net._layer_names).index("data")]
    for _ in range(2):
        out = net.forward()
        assert net.blobs["data"].data.shape == (2, 3, 32, 32)
        assert net.blobs["label"].data.shape == (2, 1, 32, 32)
        assert np.isfinite(float(np.asarray(out["loss"]).ravel()[0]))
    assert layer.position == 4 and len(layer.last_ids) == 2


# -- parameter errors ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "key,value,match",
    [
        ("crop", 0, "positive int"),
        ("crop", [32, -1], "positive int"),
        ("crop", [32, 32, 3], "positive int"),
        ("crop", True, "positive int"),
        ("crop", 32.0, "positive int"),
        ("scale", [1.5, 0.5], "lo <= hi"),
        ("scale", [0, 1.0], "> 0"),
        ("scale", 1.5, r"\[lo, hi\]"),
        ("mirror", 1, "True or False"),
        ("mirror", "yes", "True or False"),
        ("batch_size", 0, ">= 1"),
        ("batch_size", 2.0, ">= 1"),
        ("ignore_label", "255", "an int"),
    ],
)
def test_bad_values_name_the_layer_and_key(dirs, key, value, match):
    with pytest.raises(ValueError, match=rf"SBDDSegDataLayer: param_str key '{key}'.*{match}"):
        make(SBDDSegDataLayer, sbdd_dir=dirs["sbd"], split="train", **{key: value})


def test_non_integer_seed_with_augmentation(dirs):
    with pytest.raises(ValueError, match="SBDDSegDataLayer: param_str key 'seed'"):
        make(SBDDSegDataLayer, sbdd_dir=dirs["sbd"], split="train", seed="abc", mirror=True)


def test_all_dataset_layers_accept_the_keys(dirs):
    """The keys come from SegDataLayer: every dataset layer takes them."""
    layer, _ = make(CityscapesSegDataLayer, cityscapes_dir=dirs["cs"], split="val", crop=16,
                    scale=[1.0, 1.0], mirror=False, batch_size=2, ignore_label=0)  # fmt: skip
    assert layer.augment == {"crop": (16, 16), "scale": (1.0, 1.0), "mirror": False,
                             "batch_size": 2, "ignore_label": 0}  # fmt: skip
    layer.close()
