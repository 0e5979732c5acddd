"""The backbone models (FCN-GoogLeNet, FCN-ResNets) on real Caffe: deploy forwards agree with
torchcaffe (dilated convolutions, BatchNorm with global statistics, Scale, Concat of inception
branches), and solve.py trains from an fcnized classifier through surgery's staged init."""

import os

import numpy as np
import pytest
from conftest import ROOT, WIDTH, run, share_base, solve

import caffeio
import zoo
from zoo.classifiers import random_weights


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = np.abs(b).max()
    return float(np.abs(a - b).max() / scale) if scale else float(np.abs(a).max())


@pytest.mark.parametrize("model", zoo.BACKBONE_MODELS)
def test_backbone_deploy_agrees(model, tmp_path):
    import caffe

    import torchcaffe

    caffe.set_mode_cpu()
    net = zoo.build(model, "deploy", width=float(WIDTH))
    path, weights = tmp_path / "deploy.prototxt", tmp_path / "w.caffemodel"
    caffeio.write_net(net, str(path))
    # random weights with valid BatchNorm statistics (positive variances)
    caffeio.write_caffemodel(caffeio.params_to_net(random_weights(net, seed=3), net), str(weights))
    x = (np.random.RandomState(0).randn(1, 3, 67, 83) * 40).astype(np.float32)
    cnet = caffe.Net(str(path), caffe.TEST, weights=str(weights))
    cnet.blobs["data"].reshape(*x.shape)
    cnet.blobs["data"].data[...] = x
    ref = cnet.forward()["score"].copy()
    tnet = torchcaffe.Net(str(path), torchcaffe.TEST, weights=str(weights))
    out = tnet.forward(data=x)["score"]
    d = rel(out, ref)
    print(f"{model}: max rel diff {d:.2e}")
    assert out.shape == ref.shape == (1, ref.shape[1], 67, 83)
    assert d < 1e-4


@pytest.mark.parametrize("engine", ["caffe", "torch"])
@pytest.mark.parametrize(
    "model,arch", [("voc-fcn-resnet50", "resnet50"), ("voc-fcn-googlenet", "googlenet")]
)
def test_backbone_trains_from_fcnized_classifier(world, model, arch, engine):
    """surgery fcnize of the classifier -> solve.py (staged init, interp) -> score.py, on each
    engine."""
    from surgery.fcnize import fcnize
    from surgery.stage import init_source
    from zoo.classifiers import write_classifier

    runs = f"runs-{arch}-{engine}"
    share_base(world, runs)
    base_net = world / "runs" / "ilsvrc-nets" / f"{init_source(model)}.caffemodel"
    if not base_net.exists():
        proto, weights = write_classifier(str(world / "cls" / arch), arch, width=float(WIDTH))
        fcnize(proto, weights, str(base_net), verbose=False)
    data = ["--data-root", str(world / "data")]
    if arch == "resnet50":  # VOC 2012 trainaug -> val (zoo.recipe), small crops
        from layers.synth import make_voc12_family

        if not (world / "data12").exists():
            make_voc12_family(str(world / "data12"), n=6, size=(48, 56))
        data = ["--data-root", str(world / "data12"), "--crop", "65", "--batch", "2"]
    p = solve(world, model, "--iters", "4", "--score-every", "4", "--lr", "1e-5", *data,
              runs=runs, engine=engine)  # fmt: skip
    assert f"{model}: trained weights" in p.stderr, p.stderr[-2000:]
    trained = world / runs / model / f"{model}.caffemodel"
    init = caffeio.load_params(str(world / runs / model / "snapshot" / "init.caffemodel"))
    after = caffeio.load_params(str(trained))
    bn = [k for k in init if k.startswith("bn") or "/" in k]  # frozen BN / GoogLeNet trunk
    assert bn
    if arch == "resnet50":  # frozen BatchNorm statistics and Scale stay as initialised
        for k in [k for k in init if k.startswith(("bn", "scale"))]:
            for a, b in zip(init[k], after[k]):
                np.testing.assert_array_equal(a, b, err_msg=k)
    args = [os.path.join(ROOT, "models", model, "score.py"), "--width", WIDTH, "--normalize"]
    args += [*data, "--runs", str(world / runs)]
    p = run([*args, "--weights", trained, "--out", world / runs / "score"], engine=engine)
    assert "mean IU" in p.stdout


@pytest.fixture(scope="module")
def backbone_data(tmp_path_factory):
    from layers.synth import make_cityscapes, make_data_root, make_voc12_family

    root = tmp_path_factory.mktemp("bdata")
    make_data_root(str(root), n=4, size=(40, 48), seed=4)
    make_voc12_family(str(root), n=6, size=(40, 48), seed=4)  # the FCN-ResNets' trainaug
    make_cityscapes(str(root / "cityscapes"), n=4, seed=1)
    return str(root)


@pytest.mark.parametrize("model", zoo.BACKBONE_MODELS)
def test_every_backbone_trains_on_caffe(model, backbone_data, tmp_path):
    """Each backbone train net (width 1/64, its dataset's synthetic twin: VOC/SBD or
    Cityscapes) takes SGD steps in real Caffe with its own solver settings; frozen BatchNorm
    statistics stay put, the head learns."""
    import caffe

    caffe.set_mode_cpu()
    from train_files import zoo_train_solver

    # small steps: random deep nets at width 1/64 stay finite
    spath = zoo_train_solver(model, tmp_path, 1 / 64, backbone_data, crop=49, iter_size=1,
                             base_lr=1e-6)  # fmt: skip
    train = tmp_path / "train.prototxt"
    deploy = zoo.build(model, "deploy", width=1 / 64)  # same learnable layers, stated shapes
    weights = tmp_path / "w.caffemodel"
    params = random_weights(deploy, seed=5)
    caffeio.write_caffemodel(caffeio.params_to_net(params, deploy), str(weights))
    s = caffe.get_solver(spath)
    from engine.pycaffe_adapter import copy_weights

    copy_weights(s.net, str(weights), None)  # checked first: Caffe would abort on a mismatch
    import surgery

    surgery.interp(s.net, ["upscore"], verbose=False, definition=str(train))
    before = {k: [b.data.copy() for b in v] for k, v in s.net.params.items()}
    s.net.forward()
    assert np.isfinite(float(s.net.blobs["loss"].data)), "loss of the initial weights"
    s.step(2)
    loss = float(s.net.blobs["loss"].data)
    assert np.isfinite(loss)
    after = {k: [b.data.copy() for b in v] for k, v in s.net.params.items()}
    frozen = [k for k in before if k.startswith(("bn", "scale"))]
    for k in frozen:
        for a, b in zip(before[k], after[k]):
            np.testing.assert_array_equal(a, b, err_msg=k)
    assert not np.array_equal(before["score_fr"][0], after["score_fr"][0])
