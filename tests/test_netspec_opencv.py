"""Every deploy net, with random weights written as a caffemodel, loads and runs in OpenCV's
independent Caffe importer (cv2.dnn.readNetFromCaffe) at two input sizes."""

import numpy as np
import pytest
from optional_deps import opencv_with_caffe

import caffeio
import zoo
from caffeio import caffe_pb2
from netspec import shapes

cv2 = opencv_with_caffe(module_level=True)  # requirements-dev.txt; always installed by make
cv2.setNumThreads(1)


def _packed_floats(blob, arr):
    # Field 5 (data) as one packed run: in-place, without copying large blobs again.
    payload = np.ascontiguousarray(arr, dtype="<f4").tobytes()

    def varint(n):
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)

    blob.MergeFromString(varint(5 << 3 | 2) + varint(len(payload)) + payload)


def write_random_caffemodel(net, path, seed=0):
    """Deploy net + random weights (shapes from netspec.shapes) -> caffemodel; returns params."""
    rng = np.random.default_rng(seed)
    model = caffe_pb2.NetParameter()
    model.CopyFrom(net)
    pshapes = shapes.param_shapes(net)
    for layer in model.layer:
        for shape in pshapes.get(layer.name, []):
            blob = layer.blobs.add()
            blob.shape.dim.extend(shape)
            arr = rng.standard_normal(shape, dtype=np.float32)
            arr *= np.float32(1.0 / np.sqrt(max(1, np.prod(shape[1:]))))
            _packed_floats(blob, arr)
    caffeio.write_caffemodel(model, path)
    return pshapes


def sized(net, h, w):
    """Copy of a deploy net whose Input layers take h x w images."""
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    for layer in out.layer:
        if layer.type == "Input":
            for s in layer.input_param.shape:
                s.dim[2], s.dim[3] = h, w
    return out


def outputs(net):
    """The score blobs (final crops) of a deploy net."""
    return [
        x.top[0]
        for x in net.layer
        if x.type == "Crop" and x.name.startswith("score") and not x.name.endswith("c")
    ]


def run_opencv(net, caffemodel, tmp_path, h, w, seed=1):
    proto = str(tmp_path / f"deploy_{h}x{w}.prototxt")
    caffeio.write_net(sized(net, h, w), proto)
    cvnet = cv2.dnn.readNetFromCaffe(proto, caffemodel)
    rng = np.random.default_rng(seed)
    for layer in net.layer:
        if layer.type == "Input":
            c = layer.input_param.shape[0].dim[1]
            cvnet.setInput(rng.standard_normal((1, c, h, w)).astype(np.float32), layer.top[0])
    names = outputs(net)
    return dict(zip(names, cvnet.forward(names)))


@pytest.mark.parametrize("model", zoo.MODELS)
def test_deploy_net_runs_in_opencv(model, tmp_path):
    net = zoo.build(model, "deploy", width=1 / 16)
    weights = str(tmp_path / "random.caffemodel")
    write_random_caffemodel(net, weights)
    classes = zoo.num_classes(model)
    classes = classes if isinstance(classes, tuple) else (classes,)
    for h, w in ((37, 53), (64, 48)):
        out = run_opencv(net, weights, tmp_path, h, w)
        assert [o.shape for o in out.values()] == [(1, c, h, w) for c in classes]
        for o in out.values():
            assert np.isfinite(o).all() and np.abs(o).max() > 0


def test_voc_fcn8s_full_width_in_opencv(tmp_path):
    net = zoo.build("voc-fcn8s", "deploy")
    weights = str(tmp_path / "random.caffemodel")
    pshapes = write_random_caffemodel(net, weights)
    n_params = sum(int(np.prod(s)) for v in pshapes.values() for s in v)
    assert n_params > 134_000_000  # the full VGG-16 FCN-8s, ~538 MB of weights
    for h, w in ((1, 1), (9, 12)):
        out = run_opencv(net, weights, tmp_path, h, w)
        assert out["score"].shape == (1, 21, h, w) and np.isfinite(out["score"]).all()
