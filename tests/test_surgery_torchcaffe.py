"""Surgery through torchcaffe nets agrees bit for bit with surgery on caffemodel files."""

import numpy as np
import pytest

import caffeio
import surgery
from surgery.fcnize import fcnize, fcnize_params
from surgery.stage import model_nets, staged_init
from zoo import classifiers as testnets

caffe = pytest.importorskip("torchcaffe")

W = 1 / 16


@pytest.mark.parametrize("arch, width, legacy", [("vgg16", W, True), ("alexnet", 1 / 8, False)])
def test_net_and_file_surgery_give_identical_caffemodels(tmp_path, arch, width, legacy):
    proto, weights = testnets.write_classifier(tmp_path, arch, width, legacy=legacy)
    _, fc_def, _ = fcnize_params(proto, weights, verbose=False)
    fc_proto = str(tmp_path / "fcn.prototxt")
    caffeio.write_net(fc_def, fc_proto)

    # through nets (the release's way)
    net = caffe.Net(proto, caffe.TEST, weights=weights)
    new_net = caffe.Net(fc_proto, caffe.TEST)
    report = surgery.transplant(new_net, net, verbose=False)
    assert len(report.reshaped) == 3 and not report.missing
    by_net = str(tmp_path / "by-net.caffemodel")
    new_net.save(by_net)
    by_net_ours = str(tmp_path / "by-net-ours.caffemodel")
    surgery.write_params(new_net, by_net_ours, definition=fc_def, phase=caffe.TEST)

    # through files, no net built
    by_file = str(tmp_path / "by-file.caffemodel")
    fcnize(proto, weights, by_file, verbose=False)

    assert open(by_file, "rb").read() == open(by_net_ours, "rb").read()
    assert open(by_file, "rb").read() == open(by_net, "rb").read()  # net.save: same bytes
    a, b = caffeio.load_params(by_net), caffeio.load_params(by_file)
    assert list(a) == list(b)
    for name in a:
        for x, y in zip(a[name], b[name]):
            assert x.shape == y.shape and x.tobytes() == y.tobytes(), name

    # and the twin computes the classifier's scores in torchcaffe too (float32)
    size = 224 if arch == "vgg16" else 227
    x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32) * 50
    ref = net.forward(data=x)["prob"].copy()
    fcn = caffe.Net(fc_proto, caffe.TEST, weights=by_file)
    out = fcn.forward(data=x)["prob"]
    np.testing.assert_allclose(out[:, :, 0, 0], ref, rtol=1e-4, atol=1e-7)


def test_staged_init_loads_with_copy_from(tmp_path):
    proto, weights = testnets.write_classifier(tmp_path, "vgg16", W)
    vgg = str(tmp_path / "vgg16-fcn.caffemodel")
    fcnize(proto, weights, vgg, verbose=False)
    for model, src in (("voc-fcn32s", vgg), ("nyud-fcn32s-color-d", vgg)):
        out = str(tmp_path / f"{model}.caffemodel")
        staged_init(model, src, out, width=W, verbose=False)
        _, _, deploy = model_nets(model, W)
        deploy_proto = str(tmp_path / f"{model}-deploy.prototxt")
        caffeio.write_net(deploy, deploy_proto)
        net = caffe.Net(deploy_proto, caffe.TEST)
        net.copy_from(out)  # Caffe's rules: by name, shapes must match
        stored = caffeio.load_params(out)
        for name, blobs in net.params.items():
            for k, b in enumerate(blobs):
                assert np.array_equal(b.data, stored[name][k]), (model, name)
        # interp through a torchcaffe net equals interp on the file
        surgery.interp(net, ["upscore"], verbose=False)
        assert np.array_equal(net.params["upscore"][0].data, stored["upscore"][0])
