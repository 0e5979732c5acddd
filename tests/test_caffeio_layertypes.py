"""caffeio.layertypes: one record per Caffe layer type, and the rules its readers share
(geometry parsing, output sizes, crop offsets, spatial kinds, blob shapes)."""

import ast
import os
import sys

import pytest

import caffeio
from caffeio import caffe_pb2
from caffeio import layertypes as lt
from caffeio.upgrade import V1_TYPE_NAMES

# caffe.layer_type_list() of a BVLC master CPU build without OpenCV (59 types); ImageData and
# WindowData are registered only with OpenCV. (tests/pycaffe checks the list on real Caffe.)
BVLC_TYPES = """AbsVal Accuracy ArgMax BNLL BatchNorm BatchReindex Bias Clip Concat ContrastiveLoss
Convolution Crop Data Deconvolution Dropout DummyData ELU Eltwise Embed EuclideanLoss Exp Filter
Flatten HDF5Data HDF5Output HingeLoss Im2col InfogainLoss InnerProduct Input LRN LSTM LSTMUnit Log
MVN MemoryData MultinomialLogisticLoss PReLU Parameter Pooling Power Python RNN ReLU Reduction
Reshape SPP Scale Sigmoid SigmoidCrossEntropyLoss Silence Slice Softmax SoftmaxWithLoss Split
Swish TanH Threshold Tile""".split()
WITH_OPENCV = ["ImageData", "WindowData"]


def layer(text):
    """A LayerParameter from prototxt text (inside `layer { ... }`)."""
    net = caffeio.net_from_text(f'layer {{ name: "l" {text} }}')
    return net.layer[0]


# ---------------------------------------------------------------- coverage
def test_the_table_covers_every_registered_type():
    assert len(BVLC_TYPES) == 59
    assert sorted(lt.TYPES) == sorted(BVLC_TYPES + WITH_OPENCV)


def test_every_schema_type_is_in_the_table():
    """The V1 type enum of caffeio's schema (what upgrade maps to type names) and every
    *_param message of LayerParameter belong to some record."""
    for name in V1_TYPE_NAMES.values():
        assert name == "" or name in lt.TYPES, name
    fields = {f.name for f in caffe_pb2.LayerParameter.DESCRIPTOR.fields}
    params = {f for f in fields if f.endswith("_param")} - {"transform_param", "loss_param"}
    used = {row.param for row in lt.TYPES.values() if row.param}
    assert used <= fields
    # spp_param ... python_param: each read by its type; softmax_param also by SoftmaxWithLoss
    assert params == used | {"softmax_param"}


def test_every_torchcaffe_type_is_in_the_table_with_counts_caffe_accepts():
    """torchcaffe never accepts bottom/top counts Caffe refuses (it may accept fewer: no
    Pooling mask top)."""
    from torchcaffe.ops import REGISTRY

    def widest(a, b):
        return min(a[0], b[0]), None if None in (a[1], b[1]) else max(a[1], b[1])

    for name, cls in REGISTRY.items():
        row = lt.TYPES.get(name)
        assert row is not None, f"torchcaffe implements {name}, which the table lacks"
        bottoms, tops = row.bottoms, row.tops
        if name in ("RNN", "LSTM"):  # a class's counts cover the exposed-states form too
            lp = caffe_pb2.LayerParameter(type=name)
            lp.recurrent_param.expose_hidden = True
            b2, t2 = lt.counts(lp)
            bottoms, tops = widest(bottoms, b2), widest(tops, t2)
        for (lo, hi), (tlo, thi) in ((cls.n_bottom, bottoms), (cls.n_top, tops)):
            assert lo >= tlo and (thi is None or (hi is not None and hi <= thi)), name


def test_the_module_imports_only_the_standard_library_and_caffeio():
    path = os.path.join(os.path.dirname(caffeio.__file__), "layertypes.py")
    tree = ast.parse(open(path).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [] if node.level else [node.module.split(".")[0]]
        else:
            continue
        for n in names:
            assert n in sys.stdlib_module_names, n


def test_records_are_consistent():
    for name, row in lt.TYPES.items():
        assert row.spatial in lt.KINDS and row.role in ("op", "data", "loss", "metric", "sink",
                                                        "user"), name  # fmt: skip
        assert row.summary and row.bottoms[0] <= (row.bottoms[1] or 99), name
        assert (row.role == lt.DATA) == (row.spatial == lt.SOURCE), name
        assert not row.neuron or (row.same_shape and row.bottoms == row.tops == (1, 1)), name
        assert not row.learnable or row.blobs, name
        assert not row.in_place or row.bottoms == (1, 1) or name in ("Scale", "Bias"), name
        assert (row.role == lt.LOSS) == name.endswith("Loss"), name
    neurons = {n for n, r in lt.TYPES.items() if r.neuron}
    assert neurons == set("AbsVal BNLL Clip Dropout ELU Exp Log Power PReLU ReLU Sigmoid Swish "
                          "TanH Threshold".split())  # fmt: skip
    # backward reads the bottom in a way the output does not keep: wrong in place in Caffe
    assert {n for n in neurons if not lt.TYPES[n].in_place} == {"AbsVal", "BNLL", "Clip",
                                                                 "Log", "Power"}  # fmt: skip


# ---------------------------------------------------------------- geometry
@pytest.mark.parametrize(
    "text, n, want",
    [
        ("kernel_size: 3", 2, [(3, 1, 0, 1)] * 2),
        ("kernel_size: 3 kernel_size: 5 stride: 2 pad: 1 pad: 2", 2, [(3, 2, 1, 1), (5, 2, 2, 1)]),
        ("kernel_h: 3 kernel_w: 1 stride_h: 2 stride_w: 1 pad_h: 1", 2,
         [(3, 2, 1, 1), (1, 1, 0, 1)]),  # pad_h without pad_w: pad_w reads as 0
        ("kernel_size: 3 dilation: 2", 2, [(3, 1, 0, 2)] * 2),
        ("kernel_size: 2 kernel_size: 3 kernel_size: 4 dilation: 1 dilation: 2 dilation: 3", 3,
         [(2, 1, 0, 1), (3, 1, 0, 2), (4, 1, 0, 3)]),
    ],
)  # fmt: skip
def test_conv_geometry_follows_caffe_precedence(text, n, want):
    lp = layer(f'type: "Convolution" convolution_param {{ num_output: 1 {text} }}')
    assert [tuple(w) for w in lt.conv_geometry(lp, n)] == want


@pytest.mark.parametrize(
    "text, error",
    [
        ("kernel_size: 3 kernel_h: 3 kernel_w: 3", "not both"),
        ("kernel_size: 3 stride: 2 stride_h: 2 stride_w: 2", "not both"),
        ("kernel_h: 3", "kernel size 0 on axis W"),  # kernel_w reads 0, as in Caffe
        ("kernel_size: 3 stride_h: 2", "stride 0 on axis W"),
        ("kernel_size: 3 kernel_size: 3 kernel_size: 3", "3 times for 2 spatial axes"),
        ("stride: 2", "no kernel_size"),
        ("kernel_size: 3 stride: 0", "stride 0"),
        ("kernel_size: 3 dilation: 0", "dilation 0"),
    ],
)
def test_conv_geometry_refuses_what_caffe_refuses(text, error):
    lp = layer(f'type: "Convolution" convolution_param {{ num_output: 1 {text} }}')
    with pytest.raises(lt.LayerTypeError, match=rf"layer 'l' \(Convolution\): .*{error}"):
        lt.conv_geometry(lp)
    with pytest.raises(KeyError, match="mine"):  # the caller's error class and place
        lt.conv_geometry(lp, where="mine", error=KeyError)


def test_pool_geometry():
    pool = 'type: "Pooling" pooling_param { %s }'
    assert (
        lt.pool_geometry(layer(pool % "kernel_size: 3 stride: 2 pad: 1"))
        == (lt.Window(3, 2, 1),) * 2
    )
    got = lt.pool_geometry(layer(pool % "kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1"))
    assert got == (lt.Window(3, 2, 0), lt.Window(2, 1, 0))
    glob = layer(pool % "pool: AVE global_pooling: true")
    assert lt.pool_geometry(glob) == (lt.Window(None), lt.Window(None))
    assert lt.pool_geometry(glob, map_hw=(7, 5)) == (lt.Window(7), lt.Window(5))
    for text, error in [
        ("kernel_size: 3 kernel_h: 3 kernel_w: 3", "not with kernel_size"),
        ("kernel_h: 3", "kernel_h and kernel_w"),
        ("kernel_size: 3 pad_h: 1", "pad_h and pad_w"),
        ("kernel_size: 3 pad: 1 pad_h: 1 pad_w: 1", "pad_h and pad_w"),
        ("kernel_size: 3 stride_w: 2", "stride_h and stride_w"),
        ("global_pooling: true kernel_size: 3", "no kernel size"),
        ("global_pooling: true stride: 2", "pad 0 and stride 1"),
        ("kernel_size: 2 pad: 2", "pad 2 must be smaller than the kernel size 2"),
        ("pool: STOCHASTIC kernel_size: 3 pad: 1", "MAX or AVE"),
        ("kernel_size: 3 stride: 0", "stride 0"),
    ]:
        with pytest.raises(lt.LayerTypeError, match=error):
            lt.pool_geometry(layer(pool % text))


def test_window_geometry_of_lrn_and_spp():
    within = layer('type: "LRN" lrn_param { local_size: 5 norm_region: WITHIN_CHANNEL }')
    assert lt.window_geometry(within) == (lt.Window(5, 1, 2),) * 2
    across = layer('type: "LRN" lrn_param { local_size: 5 }')
    assert lt.window_geometry(across) is None
    spp = layer('type: "SPP" spp_param { pyramid_height: 3 }')
    # level 2: 4 bins over 13 -> kernel 4, 16 - 13 = 3 missing, pad 2 (pads both sides)
    assert lt.spp_geometry(spp, (13, 8)) == [
        (lt.Window(13, 13, 0), lt.Window(8, 8, 0)),
        (lt.Window(7, 7, 1), lt.Window(4, 4, 0)),
        (lt.Window(4, 4, 2), lt.Window(2, 2, 0)),
    ]
    assert lt.spp_out_size(spp, 10) == 10 * (1 + 4 + 16)


# ---------------------------------------------------------------- output sizes
def test_conv_sizes():
    assert lt.conv_out_size(500, 3, 1, 100) == 698  # VGG conv1_1 with pad 100
    assert lt.conv_out_size(224, 7, 2, 3) == 112
    assert lt.conv_out_size(65, 3, 1, 2, dilation=2) == 65
    # C++ division truncates toward 0: a 3-pixel input under a 5-pixel window, stride 4,
    # still gives one output pixel (floor would give 0)
    assert lt.conv_out_size(3, 5, 4) == 1 and lt.conv_out_size(1, 5, 2) == -1
    assert lt.deconv_out_size(16, 4, 2) == 34 and lt.deconv_out_size(5, 3, 2, 1, 2) == 11


def test_pool_sizes_and_caffes_padded_window_rule():
    assert lt.pool_out_size(7, 3, 2) == 3 and lt.pool_out_size(8, 3, 2) == 4  # ceil
    assert lt.pool_out_size(8, 3, 2, ceil=False) == 3
    # ceil((3 + 2 - 2) / 2) + 1 = 3, but window 3 would start at 4 >= 3 + 1: dropped -> 2
    assert lt.pool_out_size(3, 2, 2, 1) == 2
    # kernel 1 stride 3 over 5: the last window starts at 6 >= 5; kept without padding...
    w0 = lt.Window(1, 3, 0)
    assert lt.pool_out_shape((5, 5), (w0, w0)) == (3, 3)
    # ... and dropped on W too once H pads (Caffe tests `pad_h || pad_w` for both axes)
    assert lt.pool_out_shape((5, 5), (lt.Window(2, 3, 1), w0)) == (2, 2)
    assert lt.pool_out_shape((7, 5), (lt.Window(None), lt.Window(None))) == (1, 1)


def test_crop_offsets():
    crop = 'type: "Crop" crop_param { %s }'
    assert lt.crop_offsets(layer(crop % "axis: 2 offset: 19")) == (2, (0, 0, 19, 19))
    assert lt.crop_offsets(layer(crop % "offset: 5 offset: 9")) == (2, (0, 0, 5, 9))
    assert lt.crop_offsets(layer(crop % "axis: -1 offset: 4")) == (3, (0, 0, 0, 4))
    assert lt.crop_offsets(layer(crop % "axis: 1"), ndim=3) == (1, (0, 0, 0))
    with pytest.raises(lt.LayerTypeError, match="3 crop offsets given; give one, or exactly 2"):
        lt.crop_offsets(layer(crop % "offset: 1 offset: 2 offset: 3"))
    with pytest.raises(lt.LayerTypeError, match="axis 4 is beyond the 4 axes"):
        lt.crop_offsets(layer(crop % "axis: 4"))


# ---------------------------------------------------------------- spatial kinds and counts
@pytest.mark.parametrize(
    "text, kind",
    [
        ('type: "ReLU"', lt.POINTWISE),
        ('type: "Concat"', lt.POINTWISE),
        ('type: "Concat" concat_param { axis: 2 }', lt.NONE),
        ('type: "Concat" concat_param { concat_dim: 3 }', lt.NONE),
        ('type: "Softmax"', lt.POINTWISE),
        ('type: "Softmax" softmax_param { axis: -1 }', lt.GRID),
        ('type: "ArgMax"', lt.NONE),
        ('type: "ArgMax" argmax_param { axis: 1 }', lt.POINTWISE),
        ('type: "BatchNorm"', lt.POINTWISE),
        ('type: "BatchNorm" batch_norm_param { use_global_stats: false }', lt.GRID),
        ('type: "LRN" lrn_param { norm_region: WITHIN_CHANNEL }', lt.WINDOW),
        ('type: "MVN"', lt.GRID),
        ('type: "Python"', lt.SOURCE),
        ('type: "Python" bottom: "x"', lt.NONE),
        ('type: "Deconvolution"', lt.UPSAMPLE),
        ('type: "Crop"', lt.CROP),
        ('type: "InnerProduct"', lt.NONE),
        ('type: "Nonesuch"', None),
    ],
)
def test_spatial_kind(text, kind):
    assert lt.spatial_kind(layer(text)) == kind
    assert lt.passes_through(layer(text)) == (kind in (lt.POINTWISE, lt.GRID))


def test_softmax_over_a_vector_is_over_channels():
    assert lt.spatial_kind(layer('type: "Softmax" softmax_param { axis: -1 }'), ndim=2) == (
        lt.POINTWISE
    )


def test_counts_that_depend_on_parameters():
    assert lt.counts(layer('type: "Pooling" pooling_param { pool: AVE }'))[1] == (1, 1)
    assert lt.counts(layer('type: "Pooling"'))[1] == (1, 2)  # MAX: the optional mask top
    assert lt.counts(layer('type: "Convolution" bottom: "a" bottom: "b"'))[1] == (2, 2)
    assert lt.counts(layer('type: "Filter" bottom: "a" bottom: "b" bottom: "s"'))[1] == (2, 2)
    lstm = layer('type: "LSTM" recurrent_param { expose_hidden: true }')
    assert lt.counts(lstm) == ((4, 5), (3, 3))


# ---------------------------------------------------------------- blob shapes
@pytest.mark.parametrize(
    "text, bottoms, want, names",
    [
        ('type: "Convolution" convolution_param { num_output: 8 kernel_size: 3 group: 2 }',
         [(1, 4, 9, 9)], [(8, 2, 3, 3), (8,)], ("weights", "bias")),
        ('type: "Deconvolution" convolution_param { num_output: 6 kernel_size: 4 group: 3 '
         'bias_term: false }', [(1, 3, 9, 9)], [(3, 2, 4, 4)], ("weights",)),
        ('type: "InnerProduct" inner_product_param { num_output: 5 transpose: true }',
         [(2, 3, 4, 4)], [(48, 5), (5,)], ("weights", "bias")),
        ('type: "Scale" scale_param { bias_term: true }', [(1, 3, 4, 4)], [(3,), (3,)],
         ("scale", "bias")),
        ('type: "Scale" bottom: "x" bottom: "s" scale_param { axis: 0 bias_term: true }',
         [(2, 3, 4, 4), (2, 3)], [(2, 3)], ("bias",)),
        ('type: "Bias" bias_param { num_axes: -1 }', [(1, 3, 4, 4)], [(3, 4, 4)], ("bias",)),
        ('type: "BatchNorm"', [(1, 3, 4, 4)], [(3,), (3,), (1,)],
         ("mean", "variance", "moving-average factor")),
        ('type: "PReLU" prelu_param { channel_shared: true }', [(1, 3, 4, 4)], [()],
         ("slopes",)),
        ('type: "Embed" embed_param { num_output: 4 input_dim: 10 }', [(5,)], [(10, 4), (4,)],
         ("weights", "bias")),
        ('type: "Parameter" parameter_param { shape { dim: 2 dim: 3 } }', [], [(2, 3)],
         ("parameter",)),
        ('type: "LSTM" bottom: "x" bottom: "c" recurrent_param { num_output: 5 }',
         [(4, 2, 3), (4, 2)], [(20, 3), (20,), (20, 5)], ("W_xc", "b_c", "W_hc")),
        ('type: "RNN" bottom: "x" bottom: "c" bottom: "s" recurrent_param { num_output: 5 }',
         [(4, 2, 3), (4, 2), (2, 7)], [(5, 3), (5,), (5, 7), (5, 5), (5, 5), (5,)],
         ("W_xh", "b_h", "W_xh_static", "W_hh", "W_ho", "b_o")),
        ('type: "ReLU"', [(1, 3, 4, 4)], [], ()),
    ],
)  # fmt: skip
def test_param_shapes(text, bottoms, want, names):
    lp = layer(text)
    assert lt.param_shapes(lp, bottoms) == want
    assert lt.blob_names(lp) == names
    declared = lt.declared_param_shapes(lp)
    assert (declared is None) == (not want)


def test_param_shapes_agree_with_torchcaffe():
    """The table and torchcaffe's layer implementations give the same blob shapes."""
    from torchcaffe.ops import REGISTRY, Context

    cases = [
        ('type: "Convolution" convolution_param { num_output: 4 kernel_h: 3 kernel_w: 1 }',
         [(1, 2, 5, 5)]),
        ('type: "Deconvolution" convolution_param { num_output: 4 kernel_size: 4 group: 2 }',
         [(1, 2, 5, 5)]),
        ('type: "InnerProduct" inner_product_param { num_output: 3 axis: 2 }', [(2, 3, 4, 5)]),
        ('type: "Scale" scale_param { axis: 1 num_axes: 2 bias_term: true }', [(1, 3, 4, 4)]),
        ('type: "Bias"', [(1, 3, 4, 4)]),
        ('type: "BatchNorm"', [(2, 6, 3, 3)]),
    ]  # fmt: skip
    for text, bottoms in cases:
        lp = layer(text + "".join(f' bottom: "b{i}"' for i in range(len(bottoms))) + ' top: "t"')
        impl = REGISTRY[lp.type](lp, Context(1, "cpu", None, "test"))
        got = [tuple(s) for s, _ in impl.param_shapes(bottoms)]
        assert got == lt.param_shapes(lp, bottoms), text


def test_param_shape_errors_name_the_layer():
    lp = layer('type: "InnerProduct" inner_product_param { num_output: 3 axis: 4 }')
    with pytest.raises(lt.LayerTypeError, match=r"layer 'l' \(InnerProduct\).*axis 4"):
        lt.param_shapes(lp, [(1, 2, 3, 4)])
    lp = layer('type: "Scale" scale_param { num_axes: 4 }')
    with pytest.raises(lt.LayerTypeError, match="num_axes 4 from axis 1 runs past"):
        lt.param_shapes(lp, [(1, 2, 3, 4)])
