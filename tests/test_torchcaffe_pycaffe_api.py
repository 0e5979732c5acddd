"""torchcaffe's side of the pycaffe API beyond what both engines share (tests/pycaffe_compat.py):
its error messages, the deliberate differences (NCCL, 2-D coordinate maps), the HDF5 format's
checks, Python-layer parameters shared by name, draw's command line, Detector windows."""

import subprocess
import sys

import numpy as np
import optional_deps
import pytest
from pycaffe_compat import CLASSIFIER, SIMPLE, coord_net_spec, layer_module, python_net, write

import caffeio
import torchcaffe as caffe
from netspec.errors import AlignmentError, NetSpecError
from torchcaffe.errors import NetError


def test_python_layer_exception_keeps_type_and_names_layer(tmp_path):
    path = python_net(caffe, tmp_path, [("boom", "ForwardErrorLayer", "data", "top", "")])
    net = caffe.Net(path, caffe.TRAIN)
    own = sys.modules[layer_module(caffe)].CompatError
    with pytest.raises(own) as info:
        net.forward()
    assert type(info.value) is own and not isinstance(info.value, NetError)
    (note,) = info.value.__notes__
    assert "ForwardErrorLayer.forward()" in note and "layer 'boom'" in note
    assert "python.prototxt:" in note


def test_python_layer_params_shared_by_name(tmp_path):
    spec = "param { name: 'w' } param { name: 'v' lr_mult: 0 }"
    path = python_net(
        caffe,
        tmp_path,
        [("a", "ScaleLayer", "data", "a", spec), ("b", "ScaleLayer", "a", "b", spec)],
    )
    net = caffe.Net(path, caffe.TRAIN)
    assert net.params["b"][0] is net.params["a"][0] and net.params["b"][1] is net.params["a"][1]
    # Caffe's learnable params: the owner's blobs once, with the owner's multipliers
    assert [(p.layer, p.index, p.lr_mult) for p in net.learnable_params_info] == [
        ("a", 0, 1.0),
        ("a", 1, 0.0),
    ]
    assert net.layer_dict["b"].blobs[0] is net.layer_dict["a"].blobs[0]


def test_python_layer_shared_param_shape_mismatch(tmp_path):
    spec = "param { name: 'w' }"
    path = python_net(
        caffe,
        tmp_path,
        [("a", "ScaleLayer", "data", "a", spec), ("b", "ParameterLayer", "a", "b", "")],
    )
    caffe.Net(path, caffe.TEST)  # no shared names: fine
    text = open(path).read().replace("layer: 'ParameterLayer' }", "layer: 'ScaleLayer' }")
    text = text.replace("top: 'b' ", "top: 'b' param { name: 'x' } param { name: 'w' } ")
    with pytest.raises(
        NetError, match=r"layer 'b'.*shared param 'w' \(blob 1\) has shape \(2, 3\)"
    ):
        caffe.Net(write(tmp_path, "bad.prototxt", text), caffe.TEST)


def test_hdf5_errors_name_file_and_layer(tmp_path):
    h5py = optional_deps.h5py()
    proto = write(tmp_path, "simple.prototxt", SIMPLE)
    net = caffe.Net(proto, caffe.TEST)
    path = str(tmp_path / "w.h5")
    net.save_hdf5(path)
    with h5py.File(path, "r+") as f:
        del f["data/ip/0"]
        f["data/ip"].create_dataset("0", data=np.zeros((13, 5), np.float32))
    with pytest.raises(NetError, match=r"w\.h5: layer 'ip' blob 0: shape \(13, 5\) in the file"):
        net.copy_from(path)
    with h5py.File(path, "r+") as f:
        del f["data/ip/0"]
    with pytest.raises(NetError, match=r"layer 'ip' has no dataset '0'"):
        net.load_hdf5(path)
    with h5py.File(str(tmp_path / "other.h5"), "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(NetError, match="no group 'data'"):
        net.load_hdf5(str(tmp_path / "other.h5"))
    # a file of another net's layers: the layers it lacks are reported, nothing changes
    before = net.params["conv"][0].data.copy()
    with h5py.File(str(tmp_path / "partial.h5"), "w") as f:
        f.create_group("data/unrelated")
    assert net.load_hdf5(str(tmp_path / "partial.h5")) == ["conv", "ip"]
    np.testing.assert_array_equal(net.params["conv"][0].data, before)


def test_hdf5_signature_sniffing(tmp_path):
    from torchcaffe import hdf5

    net = caffe.Net(write(tmp_path, "simple.prototxt", SIMPLE), caffe.TEST)
    net.save(str(tmp_path / "w.caffemodel"))
    assert not hdf5.is_hdf5(str(tmp_path / "w.caffemodel"))
    assert not hdf5.is_hdf5(str(tmp_path / "missing.h5"))
    blob = bytearray(600)
    blob[512:520] = hdf5.SIGNATURE  # after a 512-byte user block
    (tmp_path / "ub.h5").write_bytes(bytes(blob))
    assert hdf5.is_hdf5(str(tmp_path / "ub.h5"))


def test_nccl_is_torch_ddp():
    assert caffe.has_nccl() is False
    with pytest.raises(RuntimeError, match="torchrun"):
        caffe.NCCL(None, b"uid")
    with pytest.raises(RuntimeError, match="DistributedDataParallel"):
        caffe.NCCL.new_uid()


def test_timer_reading_stops_it():
    t = caffe.Timer()
    t.start()
    first = t.ms  # reading a running timer stops it (Caffe's MilliSeconds)
    assert not t.running and t.ms == first


def test_proto_is_caffeio_schema():
    import torchcaffe.proto.caffe_pb2 as pb2
    from torchcaffe.proto import caffe_pb2

    assert pb2 is caffeio.caffe_pb2 and caffe_pb2 is caffeio.caffe_pb2
    assert caffe.proto.caffe_pb2 is caffeio.caffe_pb2


def test_all_exports_pycaffe_names():
    for name in ("SGDSolver", "AdamSolver", "get_solver", "Timer", "NCCL", "Classifier", "io"):
        assert name in caffe.__all__
    namespace = {}
    exec("from torchcaffe import *", namespace)
    assert namespace["Classifier"] is caffe.Classifier and namespace["io"] is caffe.io


def test_forward_all_needs_arrays(tmp_path):
    net = caffe.Net(write(tmp_path, "simple.prototxt", SIMPLE), caffe.TEST)
    with pytest.raises(RuntimeError, match=r"forward_all\(data=images\)"):
        net.forward_all()


def test_forward_blobs_unknown_is_keyerror(tmp_path):
    net = caffe.Net(write(tmp_path, "simple.prototxt", SIMPLE), caffe.TEST)
    with pytest.raises(KeyError, match="names 'nope', not a blob"):
        net.forward(blobs=["nope"])


def test_net_callbacks_see_each_layer(tmp_path):
    net = caffe.Net(write(tmp_path, "simple.prototxt", SIMPLE), caffe.TRAIN)
    seen = []
    net.before_forward(lambda i: seen.append(("bf", i)))
    net.after_forward(lambda i: seen.append(("af", i)))
    net.before_backward(lambda i: seen.append(("bb", i)))
    net.forward(start="conv", end="ip")
    net.backward(start="ip", end="conv")
    assert seen == [("bf", 1), ("af", 1), ("bf", 2), ("af", 2), ("bb", 2), ("bb", 1)]
    with pytest.raises(TypeError, match="callable"):
        net.after_backward(3)


def test_coord_map_is_two_dimensional():
    L = caffe.layers
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[2, 3, 20, 20, 20]))
    n.conv = L.Convolution(n.data, num_output=2, kernel_size=[3, 3, 3])
    with pytest.raises(NotImplementedError, match="two spatial axes"):
        caffe.coord_map.coord_map_from_to(n.conv, n.data)


def test_coord_map_errors_are_also_alignment_errors():
    n = coord_net_spec(caffe, pool=3, dstride=2)
    with pytest.raises(AlignmentError) as info:
        caffe.coord_map.crop(n.deconv, n.data)
    assert isinstance(info.value, AssertionError)
    assert "different strides" in info.value.__notes__[0]
    n = coord_net_spec(caffe)
    n.ip = caffe.layers.InnerProduct(n.deconv, num_output=10)
    with pytest.raises(AlignmentError, match="Could not compute map") as info:
        caffe.coord_map.coord_map_from_to(n.ip, n.data)
    assert isinstance(info.value, RuntimeError) and "InnerProduct" in info.value.__notes__[0]


def test_net_spec_type_error_is_netspec_error():
    with pytest.raises(NetSpecError) as info:
        caffe.layers.ReLU("data")
    assert isinstance(info.value, TypeError)
    assert "not a layer output (Top)" in info.value.__notes__[0]


def test_io_blobproto_errors_say_what_to_do():
    blob = caffe.proto.caffe_pb2.BlobProto()
    blob.data.extend([1.0, 2.0])
    with pytest.raises(ValueError, match="no shape.*single value.*shape.dim"):
        caffe.io.blobproto_to_array(blob)
    blob.shape.dim.extend([3])
    with pytest.raises(ValueError, match=r"2 values but its shape \(3,\) needs 3"):
        caffe.io.blobproto_to_array(blob)


def test_io_transformer_leaves_callers_array():
    t = caffe.io.Transformer({"data": (1, 3, 2, 2)})
    t.set_transpose("data", (2, 0, 1))
    t.set_raw_scale("data", 255)
    image = np.ones((2, 2, 3), np.float32)
    t.preprocess("data", image)
    assert (image == 1).all()  # pycaffe's scales a transposed view of it in place


def test_detector_windows_and_context(tmp_path):
    from PIL import Image

    proto = write(tmp_path, "cls.prototxt", CLASSIFIER.replace("dim: 2 dim: 4", "dim: 3 dim: 4"))
    weights = str(tmp_path / "cls.caffemodel")
    caffe.Net(proto, caffe.TEST).save(weights)
    rgb = (np.random.default_rng(0).uniform(size=(12, 14, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "im.png")
    det = caffe.Detector(proto, weights)
    windows = [np.array([0, 0, 6, 6]), np.array([3, 4, 12, 14])]
    out = det.detect_windows([(str(tmp_path / "im.png"), windows)])
    assert [d["filename"] for d in out] == [str(tmp_path / "im.png")] * 2
    assert all(d["prediction"].shape == (3,) for d in out)
    np.testing.assert_allclose(out[0]["prediction"].sum(), 1, rtol=1e-5)
    ctx = caffe.Detector(proto, weights, mean=np.array([0.5, 0.5, 0.5]), context_pad=1)
    crop = ctx.crop(rgb.astype(np.float32) / 255, np.array([0, 0, 6, 6]))
    assert crop.shape == (4, 4, 3)
    assert (crop[0] == 0.5).all()  # above the image: the mean


def test_draw_command_line(tmp_path):
    optional_deps.pydot()
    proto = write(tmp_path, "simple.prototxt", SIMPLE)
    out = tmp_path / "net.raw"  # the DOT text: no Graphviz needed
    p = subprocess.run(
        [sys.executable, "-m", "torchcaffe.draw", proto, str(out), "--phase", "TEST"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    assert text.startswith("digraph testnet") and "ip_blob" in text and "kernel size: 2" in text
