"""Example order: same seed -> same sequence; only 'train' splits shuffle (randint with
replacement, the release's stream); prefetching changes nothing but timing."""

import random
import threading

import numpy as np
import pytest
from test_layers_preprocessing import Blob, serve

from layers.nyud import NYUDSegDataLayer
from layers.order import ExampleOrder, shuffles
from layers.prefetch import Prefetcher
from layers.synth import make_nyud, make_sbdd, make_voc_family
from layers.voc import SBDDSegDataLayer, VOCSegDataLayer


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    r = tmp_path_factory.mktemp("order")
    fam = make_voc_family(str(r), n=8, seed=5)
    make_sbdd(str(r / "sbd12"), n=12, seed=6)
    make_nyud(str(r / "nyud"), n=6, seed=7)
    fam["sbd12"] = str(r / "sbd12")
    fam["nyud"] = str(r / "nyud")
    return fam


def ids_of(cls, params, ntop=2, steps=12):
    return [idx for idx, _ in serve(cls, params, ntop, steps)]


def test_same_seed_same_sequence_and_release_stream(dirs):
    p = dict(sbdd_dir=dirs["sbd12"], split="train", seed=1337)
    a = ids_of(SBDDSegDataLayer, p)
    b = ids_of(SBDDSegDataLayer, dict(p, prefetch=False))
    assert a == b
    split = open(f"{dirs['sbd12']}/train.txt").read().split()
    rng = random.Random(1337)  # the release: random.seed(seed); randint(0, n - 1) per step
    assert a == [split[rng.randint(0, len(split) - 1)] for _ in range(12)]
    c = ids_of(SBDDSegDataLayer, dict(p, seed=7))
    assert c != a


def test_train_shuffles_others_do_not(dirs):
    val = ids_of(
        VOCSegDataLayer, dict(voc_dir=dirs["voc_dir"], split="seg11valid", seed=1), steps=5
    )
    n = len(dirs["seg11valid"])
    assert val == [dirs["seg11valid"][k % n] for k in range(5)]  # file order, wraps around
    # even randomize=True is ignored without "train" in the split name
    val2 = ids_of(
        VOCSegDataLayer, dict(voc_dir=dirs["voc_dir"], split="val", randomize=True, seed=3), steps=6
    )
    order = open(f"{dirs['voc_dir']}/ImageSets/Segmentation/val.txt").read().split()
    assert val2 == [order[k % len(order)] for k in range(6)]
    train = ids_of(VOCSegDataLayer, dict(voc_dir=dirs["voc_dir"], split="train", seed=3), steps=12)
    torder = open(f"{dirs['voc_dir']}/ImageSets/Segmentation/train.txt").read().split()
    assert train != [torder[k % len(torder)] for k in range(12)]
    # randomize=False keeps file order on a train split
    fixed = ids_of(
        VOCSegDataLayer,
        dict(voc_dir=dirs["voc_dir"], split="train", randomize=False),
        steps=len(torder),
    )
    assert fixed == torder
    assert shuffles("trainval") and shuffles("train") and not shuffles("test")
    assert not shuffles("train", randomize=False)


def test_prefetch_gives_identical_arrays(dirs):
    p = dict(nyud_dir=dirs["nyud"], split="trainval", tops=["color", "depth", "label"], seed=9)
    a = serve(NYUDSegDataLayer, p, 3, 8)
    b = serve(NYUDSegDataLayer, dict(p, prefetch=False), 3, 8)
    assert [i for i, _ in a] == [i for i, _ in b]
    for (_, xs), (_, ys) in zip(a, b):
        for x, y in zip(xs, ys):
            np.testing.assert_array_equal(x, y)


def test_reshape_twice_serves_same_example(dirs):
    """Caffe calls reshape at net setup and again before the first forward."""
    layer = VOCSegDataLayer()
    layer.param_str = repr(dict(voc_dir=dirs["voc_dir"], split="seg11valid"))
    tops = [Blob(), Blob()]
    layer.setup([], tops)
    layer.reshape([], tops)
    layer.reshape([], tops)
    layer.forward([], tops)
    assert layer.last_id == dirs["seg11valid"][0]
    layer.reshape([], tops)
    layer.forward([], tops)
    assert layer.last_id == dirs["seg11valid"][1 % len(dirs["seg11valid"])]
    layer.close()


def test_order_random_access_is_deterministic():
    o1, o2 = ExampleOrder(50, True, seed=4), ExampleOrder(50, True, seed=4)
    forward = [o1.at(k) for k in range(30)]
    backward = [o2.at(k) for k in reversed(range(30))][::-1]
    assert forward == backward
    assert ExampleOrder(3, True, seed=None).seed is not None
    with pytest.raises(ValueError):
        ExampleOrder(0, False)


def test_prefetcher_loads_ahead_and_shuts_down():
    seen = []
    ev = threading.Event()

    def load(k):
        seen.append(k)
        if k == 1:
            ev.set()
        return k * 10

    pf = Prefetcher(load, depth=1)
    assert pf.get(0) == 0
    assert ev.wait(5)  # example 1 decoded in the background before it is asked for
    assert pf.get(1) == 10
    thread_names = [t.name for t in threading.enumerate()]
    assert any(n.startswith("data-prefetch") for n in thread_names)
    pf.close()
    pf.close()
    assert pf.get(5) == 50  # after close: loads synchronously
    assert sorted(set(seen)) >= [0, 1]


def test_prefetcher_reraises_load_error_in_caller():
    def load(k):
        if k == 1:
            raise ValueError("bad example 1")
        return k

    pf = Prefetcher(load, depth=1)
    assert pf.get(0) == 0
    with pytest.raises(ValueError, match="bad example 1"):
        pf.get(1)
    pf.close()


def test_seek_resumes_the_stream_exactly(dirs):
    p = dict(sbdd_dir=dirs["sbd12"], split="train", seed=1337)
    whole = ids_of(SBDDSegDataLayer, p, steps=10)
    layer = SBDDSegDataLayer()
    layer.param_str = repr(p)
    tops = [Blob(), Blob()]
    layer.setup([], tops)
    layer.seek(6)
    assert layer.position == 6
    got = []
    for _ in range(4):
        layer.reshape([], tops)
        layer.forward([], tops)
        got.append(layer.last_id)
    assert got == whole[6:] and layer.position == 10
    with pytest.raises(ValueError, match="seek position"):
        layer.seek(-1)
    layer.close()
