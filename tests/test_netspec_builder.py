"""NetSpec / L / P behaviour (Caffe net_spec rules), coordinate maps and crop errors."""

import pytest

from caffeio import caffe_pb2
from netspec import AlignmentError, L, NetSpec, NetSpecError, P, coord, crop, to_proto


def _layers(net):
    return [(lay.name, lay.type, list(lay.bottom), list(lay.top)) for lay in net.layer]


def test_names_in_place_and_ntop():
    n = NetSpec()
    n.data, n.label = L.Python(module="m", layer="X", ntop=2)
    n.conv = L.Convolution(n.data, kernel_size=3, num_output=4)
    n.relu = L.ReLU(n.conv, in_place=True)
    n.loss = L.SoftmaxWithLoss(n.relu, n.label)
    net = n.to_proto()
    assert _layers(net) == [
        ("data", "Python", [], ["data", "label"]),
        ("conv", "Convolution", ["data"], ["conv"]),
        ("relu", "ReLU", ["conv"], ["conv"]),  # in place: layer named by attribute, top = bottom
        ("loss", "SoftmaxWithLoss", ["conv", "label"], ["loss"]),
    ]


def test_unnamed_tops_get_type_counts_and_ntop0_returns_layer():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 4, 4]))
    hidden = L.ReLU(L.ReLU(n.data))
    n.out = L.ReLU(hidden)
    silence = L.Silence(n.out, ntop=0)
    assert not isinstance(silence, tuple) and silence.type_name == "Silence"
    net = n.to_proto()
    assert [lay.name for lay in net.layer] == ["data", "ReLU1", "ReLU2", "out"]
    assert list(net.layer[2].top) == ["ReLU2"]
    # a bare to_proto(top) knows no attribute names: everything gets <Type><count>
    bare = to_proto(n.out)
    assert [lay.name for lay in bare.layer] == ["Input1", "ReLU1", "ReLU2", "ReLU3"]


def test_param_routing_from_schema():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 8, 8]))
    n.conv = L.Convolution(
        n.data,
        kernel_size=3,
        pad=[1],
        num_output=8,
        weight_filler=dict(type="xavier"),
        param=[dict(lr_mult=1, decay_mult=1), dict(lr_mult=2, decay_mult=0)],
        loss_weight=[0],
    )
    n.up = L.Deconvolution(
        n.conv,
        convolution_param=dict(num_output=8, kernel_size=4, stride=2, bias_term=False),
        param=[dict(lr_mult=0)],
    )
    n.ip = L.InnerProduct(n.up, num_output=10)
    n.pool = L.Pooling(n.conv, pool=P.Pooling.AVE, kernel_size=2, stride=2)
    n.pool2 = L.Pooling(n.conv, pool="MAX", kernel_size=2, round_mode="FLOOR")
    n.py = L.Python(n.pool, module="layers.x", layer="Y", param_str=str(dict(a=1)))
    n.loss = L.SoftmaxWithLoss(n.ip, n.py, loss_param=dict(ignore_label=255, normalize=False))
    lay = {x.name: x for x in n.to_proto().layer}
    conv = lay["conv"]
    assert list(conv.convolution_param.pad) == [1] and conv.convolution_param.kernel_size == [3]
    assert conv.convolution_param.weight_filler.type == "xavier"
    assert [(p.lr_mult, p.decay_mult) for p in conv.param] == [(1, 1), (2, 0)]
    assert list(conv.loss_weight) == [0]
    assert lay["up"].convolution_param.stride == [2] and not lay["up"].convolution_param.bias_term
    assert lay["ip"].inner_product_param.num_output == 10
    assert lay["pool"].pooling_param.pool == caffe_pb2.PoolingParameter.AVE
    assert lay["pool2"].pooling_param.round_mode == caffe_pb2.PoolingParameter.FLOOR
    assert lay["py"].python_param.module == "layers.x"
    assert lay["loss"].loss_param.ignore_label == 255 and not lay["loss"].loss_param.normalize


def test_param_errors_are_clear():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 8, 8]))
    n.loss = L.SoftmaxWithLoss(n.data, n.data, ignore_label=255)
    with pytest.raises(NetSpecError, match=r"loss.*SoftmaxWithLoss.*ignore_label.*loss_param"):
        n.to_proto()
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 8, 8]))
    n.conv = L.Convolution(n.data, kernel_sise=3)
    with pytest.raises(NetSpecError, match=r"conv.*kernel_sise.*convolution_param"):
        n.to_proto()
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 8, 8]))
    n.pool = L.Pooling(n.data, pool="MIN")
    with pytest.raises(NetSpecError, match=r"MIN.*MAX, AVE, STOCHASTIC"):
        n.to_proto()
    with pytest.raises(NetSpecError, match="Top"):
        L.ReLU("data")
    with pytest.raises(NetSpecError, match="only layer outputs"):
        NetSpec().x = 3
    with pytest.raises(AttributeError, match="PoolingParameter has no"):
        _ = P.Pooling.MEDIAN


def _chain():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 64, 64]))
    n.conv1 = L.Convolution(n.data, kernel_size=3, pad=100, num_output=4)
    n.pool1 = L.Pooling(n.conv1, pool=P.Pooling.MAX, kernel_size=2, stride=2)
    n.conv2 = L.Convolution(n.pool1, kernel_size=7, num_output=4)
    n.up = L.Deconvolution(n.conv2, convolution_param=dict(num_output=4, kernel_size=4, stride=2))
    return n


def test_crop_offset_is_computed():
    n = _chain()
    # conv1: x + 99; pool1: x/2 + (99 - 1/2)/2; conv2: b - 3; up: 2b + 3/2 -> x + 94
    n.score = crop(n.up, n.data)
    lay = n.to_proto().layer[-1]
    assert lay.type == "Crop" and list(lay.bottom) == ["up", "data"]
    assert lay.crop_param.axis == 2 and list(lay.crop_param.offset) == [94]
    assert coord.top_map(n.up) == ((1, 94), (1, 94))


def test_crop_different_scales_names_both_blobs():
    n = _chain()
    with pytest.raises(AlignmentError, match=r"'pool1'.*'data'.*different scales"):
        crop(n.pool1, n.data)


def test_crop_fractional_and_negative_offsets_fail():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 64, 64]))
    n.even = L.Convolution(n.data, kernel_size=2, num_output=4)  # center at +1/2
    with pytest.raises(AlignmentError, match=r"'data'.*'even'.*1/2.*not a non-negative integer"):
        crop(n.data, n.even)
    n.padded = L.Convolution(n.data, kernel_size=3, pad=5, num_output=4)  # x + 4
    with pytest.raises(AlignmentError, match=r"-4.*not a non-negative integer"):
        crop(n.data, n.padded)
    n.ok = crop(n.padded, n.data)
    assert list(n.to_proto().layer[-1].crop_param.offset) == [4]


def test_crop_rectangular_kernels_give_two_offsets():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 64, 64]))
    n.c = L.Convolution(n.data, kernel_h=3, kernel_w=5, pad_h=4, pad_w=7, num_output=2)
    n.s = crop(n.c, n.data)
    assert list(n.to_proto().layer[-1].crop_param.offset) == [3, 5]


def test_eltwise_of_misaligned_blobs_and_no_map():
    n = _chain()
    n.bad = L.Eltwise(n.conv1, n.up)
    with pytest.raises(AlignmentError, match=r"'bad'.*Eltwise.*\['conv1', 'up'\]"):
        crop(n.bad, n.data)
    n.fc = L.InnerProduct(n.conv2, num_output=3)
    with pytest.raises(AlignmentError, match=r"'fc' has no spatial"):
        crop(n.fc, n.data)


def test_blob_maps_of_a_net_match_builder_maps():
    n = _chain()
    n.score = crop(n.up, n.data)
    maps = coord.blob_maps(n.to_proto())
    assert maps["score"] == coord.IDENTITY
    assert maps["pool1"] == coord.top_map(n.pool1)
    assert coord.describe(maps["pool1"]) == "x * 1/2 + 197/4"
