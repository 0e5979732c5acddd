# ruff: noqa: E501  (prototxt one-liners read better unbroken)
"""The data layers beyond Input/Data/Python, without pycaffe: DummyData, MemoryData, HDF5Data,
HDF5Output, Data on LevelDB, ImageData and WindowData (file formats, batching, Caffe's random
streams), and torchcaffe.caffe_rng's generators (tests/pycaffe compares them with real Caffe)."""

import os

import numpy as np
import pytest

import caffeio
import torchcaffe as caffe
from caffeio import caffe_pb2
from torchcaffe import caffe_rng


def make_net(tmp_path, text, phase=caffe.TEST):
    path = tmp_path / "net.prototxt"
    path.write_text('name: "d"\n' + text + "\n")
    return caffe.Net(str(path), phase)


# ------------------------------------------------------------------ Caffe's generators
def test_mt19937_is_the_standard_generator():
    """std::mt19937 (= boost::mt19937) with the default seed 5489: its 10000th output is
    4123659995 (the C++ standard's check value)."""
    mt = caffe_rng.MT19937(5489)
    for _ in range(9999):
        mt()
    assert mt() == 4123659995


def test_uniform_int_and_shuffle_follow_boost():
    """boost::uniform_int on a 32-bit engine: bucket = (2^32 - 1) // (n + 1) (+1 when the
    remainder is n), draws above n rejected; caffe::shuffle swaps i with such a draw, i from
    the end."""
    a, b = caffe_rng.MT19937(7), caffe_rng.MT19937(7)
    for n in (1, 2, 6, 1000, 2**31):
        bucket = 0xFFFFFFFF // (n + 1) + (0xFFFFFFFF % (n + 1) == n)
        while True:
            r = b() // bucket
            if r <= n:
                break
        assert a.uniform_int(0, n) == r
    items = list(range(50))
    caffe_rng.MT19937(3).shuffle(items)
    assert sorted(items) == list(range(50)) and items != list(range(50))


def test_global_stream_restarts_on_set_random_seed():
    caffe.set_random_seed(11)
    first = [caffe_rng.global_rand() for _ in range(3)]
    caffe.set_random_seed(11)
    assert [caffe_rng.global_rand() for _ in range(3)] == first
    mt = caffe_rng.MT19937(11)
    assert first == [mt() for _ in range(3)]


# ------------------------------------------------------------------ DummyData, MemoryData
def test_dummy_data_shapes_and_fillers(tmp_path):
    net = make_net(
        tmp_path,
        'layer { name: "L" type: "DummyData" top: "a" top: "b" dummy_data_param { shape { dim: 2 dim: 3 } shape { dim: 500 } data_filler { type: "constant" value: 2 } data_filler { type: "uniform" min: -1 max: 0 } } }\n'
        'layer { name: "L2" type: "DummyData" top: "c" top: "d" dummy_data_param { num: 2 channels: 3 channels: 1 height: 4 width: 5 } }',
    )
    net.forward()
    first = net.blobs["b"].data.copy()
    net.forward()
    assert (net.blobs["a"].data == 2).all() and net.blobs["a"].data.shape == (2, 3)
    b = net.blobs["b"].data
    assert b.min() >= -1 and b.max() <= 0 and not np.array_equal(b, first)  # refilled
    assert net.blobs["c"].data.shape == (2, 3, 4, 5) and net.blobs["d"].data.shape == (2, 1, 4, 5)
    assert not net.blobs["c"].data.any()
    with pytest.raises(caffe.NetError, match="3 data_filler entries for 2 tops"):
        make_net(
            tmp_path,
            'layer { name: "L" type: "DummyData" top: "a" top: "b" dummy_data_param { shape { dim: 1 } data_filler {} data_filler {} data_filler {} } }',
        )
    with pytest.raises(caffe.NetError, match="give 'channels' once, or once per top"):
        make_net(
            tmp_path,
            'layer { name: "L" type: "DummyData" top: "a" top: "b" top: "c" dummy_data_param { num: 1 channels: 1 channels: 2 height: 1 width: 1 } }',
        )


MEMORY = 'layer { name: "L" type: "MemoryData" top: "data" top: "label" memory_data_param { batch_size: 2 channels: 1 height: 2 width: 3 } }\nlayer { name: "r" type: "ReLU" bottom: "data" top: "r" }'


def test_memory_data_batches_in_place(tmp_path):
    net = make_net(tmp_path, MEMORY)
    with pytest.raises(caffe.NetError, match="set_input_arrays"):
        net.forward()
    x = np.arange(24, dtype=np.float32).reshape(4, 1, 2, 3) - 10
    y = np.array([5, 6, 7, 8], np.float32)
    net.set_input_arrays(x, y)
    for k in (0, 1, 0):
        net.forward()
        assert np.array_equal(net.blobs["data"].data, x[2 * k : 2 * k + 2])
        assert np.array_equal(net.blobs["label"].data.ravel(), y[2 * k : 2 * k + 2])
        assert net.blobs["label"].data.shape == (2, 1, 1, 1)
        assert np.array_equal(net.blobs["r"].data, np.maximum(x[2 * k : 2 * k + 2], 0))
    x[2, 0, 0, 0] = 99  # the arrays are used in place, as in pycaffe
    net.forward()
    assert net.blobs["data"].data[0, 0, 0, 0] == 99


@pytest.mark.parametrize("data,labels,msg", [
    (np.zeros((4, 1, 2, 3)), np.zeros(4, np.float32), "float32"),
    (np.zeros((4, 2, 2, 3), np.float32), np.zeros(4, np.float32), "wrong channels"),
    (np.zeros((3, 1, 2, 3), np.float32), np.zeros(3, np.float32), "multiple of batch size"),
    (np.zeros((4, 1, 2, 3), np.float32), np.zeros(2, np.float32), "same first dimension"),
    (np.zeros((4, 1, 3, 2), np.float32).transpose(0, 1, 3, 2), np.zeros(4, np.float32), "C contiguous"),
])  # fmt: skip
def test_memory_data_checks_arrays_as_pycaffe(tmp_path, data, labels, msg):
    net = make_net(tmp_path, MEMORY)
    with pytest.raises(RuntimeError, match=msg):
        net.set_input_arrays(data, labels)


def test_set_input_arrays_needs_memory_data_first(tmp_path):
    net = make_net(
        tmp_path, 'layer { name: "i" type: "Input" top: "x" input_param { shape { dim: 1 } } }'
    )
    with pytest.raises(RuntimeError, match="first layer is a MemoryDataLayer"):
        net.set_input_arrays(np.zeros((1, 1, 1, 1), np.float32), np.zeros(1, np.float32))


# ------------------------------------------------------------------ HDF5
def _h5_files(tmp_path, rows=(3, 4)):
    h5py = pytest.importorskip("h5py")
    data = []
    for i, n in enumerate(rows):
        d = np.random.default_rng(i).standard_normal((n, 2, 3)).astype(np.float32)
        with h5py.File(tmp_path / f"f{i}.h5", "w") as f:
            f["data"] = d
            f["label"] = np.arange(n, dtype=np.int64) + 10 * i
        data.append(d)
    (tmp_path / "list.txt").write_text(
        " ".join(str(tmp_path / f"f{i}.h5") for i in range(len(rows))) + "\n"
    )
    return data


def test_hdf5_data_batches_cross_files_and_wrap(tmp_path):
    data = _h5_files(tmp_path)
    rows = np.concatenate(data)
    labels = np.array([0, 1, 2, 10, 11, 12, 13], np.float32)
    net = make_net(
        tmp_path,
        f'layer {{ name: "L" type: "HDF5Data" top: "data" top: "label" hdf5_data_param {{ source: "{tmp_path}/list.txt" batch_size: 5 }} }}',
    )
    for k in range(3):
        idx = [(5 * k + i) % 7 for i in range(5)]
        net.forward()
        assert np.array_equal(net.blobs["data"].data, rows[idx])
        assert np.array_equal(net.blobs["label"].data, labels[idx])


def test_hdf5_data_shuffle_and_errors(tmp_path):
    _h5_files(tmp_path, rows=(6,))
    text = 'layer {{ name: "L" type: "HDF5Data" top: "label" {extra} hdf5_data_param {{ source: "{src}" batch_size: 3 {p} }} }}'
    net = make_net(tmp_path, text.format(extra="", src=tmp_path / "list.txt", p="shuffle: true"))
    seen = []
    for _ in range(2):
        net.forward()
        seen += net.blobs["label"].data.tolist()
    assert sorted(seen) == list(range(6))
    with pytest.raises(caffe.NetError, match="does not transform data"):
        make_net(
            tmp_path,
            text.format(extra="transform_param { scale: 2 }", src=tmp_path / "list.txt", p=""),
        )
    with pytest.raises(caffe.NetError, match="does not exist"):
        make_net(tmp_path, text.format(extra="", src=tmp_path / "nope.txt", p=""))
    with pytest.raises(caffe.NetError, match="no dataset 'other'"):
        make_net(
            tmp_path,
            text.format(extra="", src=tmp_path / "list.txt", p="").replace(
                'top: "label"', 'top: "other"'
            ),
        )


def test_hdf5_output_writes_one_batch(tmp_path):
    h5py = pytest.importorskip("h5py")
    data = _h5_files(tmp_path, rows=(4,))
    out = tmp_path / "out.h5"
    net = make_net(
        tmp_path,
        f'layer {{ name: "L" type: "HDF5Data" top: "data" top: "label" hdf5_data_param {{ source: "{tmp_path}/list.txt" batch_size: 2 }} }}\n'
        f'layer {{ name: "O" type: "HDF5Output" bottom: "data" bottom: "label" hdf5_output_param {{ file_name: "{out}" }} }}',
    )
    assert not out.exists()
    net.forward()
    with h5py.File(out) as f:
        assert f["data"].shape == (2, 2, 3, 1) and f["label"].shape == (2, 1, 1, 1)
        assert np.array_equal(f["data"][...].reshape(2, 2, 3), data[0][:2])
        assert f["label"][...].ravel().tolist() == [0, 1]
    with pytest.raises(caffe.NetError, match="one batch per file"):
        net.forward()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_leveldb_data_layer(tmp_path):
    plyvel = pytest.importorskip("plyvel")
    rng = np.random.default_rng(0)
    db = plyvel.DB(str(tmp_path / "db"), create_if_missing=True)
    imgs = []
    for i in range(3):
        img = rng.integers(0, 256, (2, 4, 5), dtype=np.uint8)
        imgs.append(img)
        d = caffe_pb2.Datum(channels=2, height=4, width=5, label=i, data=img.tobytes())
        db.put(f"{i:04d}".encode(), d.SerializeToString())
    db.close()
    net = make_net(
        tmp_path,
        f'layer {{ name: "L" type: "Data" top: "data" top: "label" data_param {{ source: "{tmp_path}/db" batch_size: 2 backend: LEVELDB }} transform_param {{ scale: 0.5 crop_size: 3 mean_value: 1 mean_value: 2 }} }}',
    )
    for k in range(2):
        net.forward()
        for j in range(2):
            i = (2 * k + j) % 3
            want = (
                imgs[i][:, 0:3, 1:4].astype(np.float32)
                - np.array([1, 2], np.float32)[:, None, None]
            ) * 0.5
            assert np.array_equal(net.blobs["data"].data[j], want)
            assert net.blobs["label"].data[j] == i
    with pytest.raises(caffe.NetError, match="LEVELDB source .* does not exist"):
        make_net(
            tmp_path,
            'layer { name: "L" type: "Data" top: "data" data_param { source: "nope" batch_size: 1 backend: LEVELDB } }',
        )


# ------------------------------------------------------------------ ImageData, WindowData
@pytest.fixture
def images(tmp_path):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(4)
    os.makedirs(tmp_path / "img")
    arrs = []
    for i, (h, w) in enumerate([(10, 12), (10, 12), (9, 14)]):
        a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        cv2.imwrite(str(tmp_path / "img" / f"a {i}.png"), a)  # a space in the name
        arrs.append(a)
    (tmp_path / "list.txt").write_text("a 0.png 3\na 1.png -1\r\na 2.png 7x\n")
    return cv2, arrs


def test_image_data_list_format_and_batches(tmp_path, images):
    """The label is after the last space (C's atoi: '7x' -> 7; a CR is ignored); the first
    image of each batch sets its shape; images are BGR C x H x W, minus mean, times scale."""
    cv2, arrs = images
    text = f'layer {{ name: "L" type: "ImageData" top: "data" top: "label" image_data_param {{ source: "{tmp_path}/list.txt" root_folder: "{tmp_path}/img/" batch_size: 2 }} transform_param {{ scale: 0.5 mean_value: 10 }} }}'
    net = make_net(tmp_path, text)
    assert net.blobs["data"].data.shape == (2, 3, 10, 12)
    net.forward()
    for j in range(2):
        assert np.array_equal(
            net.blobs["data"].data[j], (arrs[j].transpose(2, 0, 1).astype(np.float32) - 10) * 0.5
        )
    assert net.blobs["label"].data.tolist() == [3, -1]
    with pytest.raises(
        caffe.NetError, match="a 0.png' is 10 x 12 x 3; this batch's images are 9 x 14 x 3"
    ):
        net.forward()  # images 2 and 0: the batch takes image 2's shape, image 0 differs
    gray = text.replace("batch_size: 2", "batch_size: 3 new_height: 5 new_width: 6 is_color: false")
    net = make_net(tmp_path, gray)
    net.forward()
    assert net.blobs["data"].data.shape == (3, 1, 5, 6)
    want = cv2.resize(cv2.imread(str(tmp_path / "img" / "a 2.png"), cv2.IMREAD_GRAYSCALE), (6, 5))
    assert np.array_equal(net.blobs["data"].data[2, 0], (want.astype(np.float32) - 10) * 0.5)
    assert net.blobs["label"].data.tolist() == [3, -1, 7]


def test_image_data_random_draws_follow_the_seed(tmp_path, images):
    text = f'layer {{ name: "L" type: "ImageData" top: "data" top: "label" image_data_param {{ source: "{tmp_path}/list.txt" root_folder: "{tmp_path}/img/" batch_size: 3 shuffle: true new_height: 8 new_width: 8 }} transform_param {{ crop_size: 5 mirror: true }} }}'

    def batches(seed):
        caffe.set_random_seed(seed)
        net = make_net(tmp_path, text, caffe.TRAIN)
        out = []
        for _ in range(3):
            net.forward()
            out.append((net.blobs["data"].data.copy(), net.blobs["label"].data.copy()))
        return out

    a, b, c = batches(1), batches(1), batches(2)
    assert all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert not all(np.array_equal(x[0], y[0]) for x, y in zip(a, c))
    for data, labels in a:
        assert sorted(labels.tolist()) == [-1, 3, 7]  # each epoch is a permutation
        assert data.shape == (3, 3, 5, 5)


def test_image_data_errors(tmp_path, images):
    base = f'layer {{ name: "L" type: "ImageData" top: "data" top: "label" image_data_param {{ source: "{tmp_path}/SRC" root_folder: "{tmp_path}/img/" batch_size: 1 EXTRA }} }}'
    with pytest.raises(caffe.NetError, match="new_height and new_width together"):
        make_net(tmp_path, base.replace("SRC", "list.txt").replace("EXTRA", "new_height: 4"))
    (tmp_path / "missing.txt").write_text("nothere.png 1\n")
    with pytest.raises(caffe.NetError, match="could not load image .*nothere.png"):
        make_net(tmp_path, base.replace("SRC", "missing.txt").replace("EXTRA", ""))
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(caffe.NetError, match="is empty"):
        make_net(tmp_path, base.replace("SRC", "empty.txt").replace("EXTRA", ""))


def _window_file(tmp_path, arrs, cv2):
    rows = []
    for i, a in enumerate(arrs):
        h, w = a.shape[:2]
        cv2.imwrite(str(tmp_path / "img" / f"w{i}.png"), a)  # window files split paths at spaces
        rows.append(
            f"# {i}\nw{i}.png\n3 {h} {w}\n3\n{i + 1} 0.9 1 2 6 7\n0 0.1 0 0 {w - 1} {h - 1}\n2 0.4 2 2 4 4"
        )
    (tmp_path / "win.txt").write_text("\n".join(rows) + "\n")


def test_window_data_sampling_and_warp(tmp_path, images):
    """batch_size - int(batch_size * fg_fraction) background windows (label 0), then the
    foreground ones (overlap >= fg_threshold); with no context_pad each window is the image
    region warped to crop_size by OpenCV's bilinear resize; overlaps between the thresholds
    are dropped."""
    cv2, arrs = images
    _window_file(tmp_path, arrs, cv2)
    text = f'layer {{ name: "L" type: "WindowData" top: "data" top: "label" window_data_param {{ source: "{tmp_path}/win.txt" root_folder: "{tmp_path}/img/" batch_size: 5 fg_fraction: 0.4 }} transform_param {{ crop_size: 6 }} }}'
    caffe.set_random_seed(5)
    net = make_net(tmp_path, text, caffe.TRAIN)
    net.forward()
    labels = net.blobs["label"].data.tolist()
    assert labels[:3] == [0, 0, 0] and all(v in (1, 2, 3) for v in labels[3:])
    for j in range(3, 5):
        img = arrs[int(labels[j]) - 1]
        want = cv2.resize(img[2:8, 1:7], (6, 6), interpolation=cv2.INTER_LINEAR)
        assert np.array_equal(net.blobs["data"].data[j], want.transpose(2, 0, 1).astype(np.float32))
    assert net.blobs["data"].data.shape == (5, 3, 6, 6)
    (tmp_path / "bad.txt").write_text("% 0\n")
    with pytest.raises(caffe.NetError, match="expected '#'"):
        make_net(tmp_path, text.replace("win.txt", "bad.txt"))
    with pytest.raises(caffe.NetError, match="crop_size > 0"):
        make_net(tmp_path, text.replace("crop_size: 6", "scale: 1"))


def test_infogain_matrix_file_round_trip(tmp_path):
    """A binaryproto H written by caffeio is read by InfogainLoss (source)."""
    h = np.eye(3, dtype=np.float32) * 2
    (tmp_path / "h.binaryproto").write_bytes(caffeio.array_to_blob(h).SerializeToString())
    text = (
        'layer { name: "x" type: "Input" top: "x" top: "y" input_param { shape { dim: 2 dim: 3 } shape { dim: 2 } } }\n'
        f'layer {{ name: "L" type: "InfogainLoss" bottom: "x" bottom: "y" top: "l" infogain_loss_param {{ source: "{tmp_path}/h.binaryproto" }} }}'
    )
    net = make_net(tmp_path, text)
    net.blobs["y"].data[...] = [0, 2]
    loss = float(net.forward()["l"])
    assert abs(loss - 2 * np.log(3)) < 1e-5  # uniform softmax: -2 log(1/3) per item
