"""caffeio.layertypes against real BVLC Caffe: the registered types, the output sizes of the
windowed layers over a grid of geometries (the corner cases included: a window larger than
the padded input, Pooling's padded-window rule applied to both axes), and the blob shapes of
every type that has blobs."""

import itertools

import numpy as np
import pytest

from caffeio import layertypes as lt


@pytest.fixture(scope="module")
def caffe():
    import caffe

    caffe.set_mode_cpu()
    return caffe


def build(caffe, tmp_path, inputs, body):
    """caffe.Net (TEST) of Input layers {name: shape} followed by `body` (prototxt text)."""
    text = ""
    for name, shape in inputs.items():
        dims = " ".join(f"dim: {d}" for d in shape)
        text += f'layer {{ name: "{name}" type: "Input" top: "{name}" '
        text += f"input_param {{ shape {{ {dims} }} }} }}\n"
    path = tmp_path / "net.prototxt"
    path.write_text(text + body)
    return caffe.Net(str(path), caffe.TEST)


def test_registered_types_are_the_table(caffe):
    got = set(caffe.layer_type_list())
    opencv = {"ImageData", "WindowData"}
    assert got == set(lt.TYPES) - (opencv - got)


GRID = [  # (size, kernel, stride, pad, dilation)
    (3, 5, 4, 0, 1),  # the window passes the padded input: Caffe still gives one pixel
    (4, 5, 3, 0, 1),
    (7, 3, 2, 1, 1),
    (8, 3, 2, 0, 1),
    (9, 2, 3, 0, 1),
    (10, 3, 1, 2, 2),
    (11, 4, 3, 1, 1),
    (13, 1, 2, 0, 1),
]


def test_convolution_im2col_and_deconvolution_sizes(caffe, tmp_path):
    body, want = "", {}
    for i, (n, k, s, p, d) in enumerate(GRID):
        geo = f"kernel_size: {k} stride: {s} pad: {p} dilation: {d}"
        for t in ("Convolution", "Im2col", "Deconvolution"):
            name = f"{t.lower()}{i}"
            body += (
                f'layer {{ name: "{name}" type: "{t}" bottom: "x{i}" top: "{name}" '
                f"convolution_param {{ num_output: 2 {geo} }} }}\n"
            )
            size = lt.deconv_out_size if t == "Deconvolution" else lt.conv_out_size
            c = 3 * k * k if t == "Im2col" else 2
            want[name] = (1, c, size(n, k, s, p, d), size(n + 1, k, s, p, d))
    net = build(caffe, tmp_path, {f"x{i}": (1, 3, g[0], g[0] + 1) for i, g in enumerate(GRID)},
                body)  # fmt: skip
    assert {k: net.blobs[k].data.shape for k in want} == want


def test_pooling_sizes(caffe, tmp_path):
    cases = []
    for (n, k, s, p, _), ceil in itertools.product(GRID, ("CEIL", "FLOOR")):
        if p < k and k <= n + 2 * p:
            cases.append((n, f"kernel_size: {k} stride: {s} pad: {p}", (lt.Window(k, s, p),) * 2,
                          ceil))  # fmt: skip
    # one axis padded: Caffe drops a last window starting past the map on both axes
    cases.append((5, "kernel_h: 2 kernel_w: 1 stride: 3 pad_h: 1 pad_w: 0",
                  (lt.Window(2, 3, 1), lt.Window(1, 3, 0)), "CEIL"))  # fmt: skip
    cases.append((7, "global_pooling: true", (lt.Window(None),) * 2, "CEIL"))
    body, want = "", {}
    for i, (n, geo, windows, ceil) in enumerate(cases):
        body += (
            f'layer {{ name: "p{i}" type: "Pooling" bottom: "x{i}" top: "p{i}" '
            f"pooling_param {{ pool: AVE round_mode: {ceil} {geo} }} }}\n"
        )
        want[f"p{i}"] = (1, 2) + lt.pool_out_shape((n, n), windows, ceil == "CEIL")
    net = build(caffe, tmp_path, {f"x{i}": (1, 2, c[0], c[0]) for i, c in enumerate(cases)}, body)
    assert {k: net.blobs[k].data.shape for k in want} == want


@pytest.mark.parametrize("hw", [(8, 8), (13, 8), (16, 21)])
def test_spp_sizes(caffe, tmp_path, hw):
    spp = 'type: "SPP" bottom: "x" top: "s" spp_param { pyramid_height: %d }'
    for height in (2, 3):
        from caffeio import net_from_text

        lp = net_from_text(f'layer {{ name: "s" {spp % height} }}').layer[0]
        levels = lt.spp_geometry(lp, hw)
        if any(w.pad >= w.kernel for level in levels for w in level):
            continue  # Caffe's pooling check aborts there
        net = build(caffe, tmp_path, {"x": (2, 3) + hw}, f'layer {{ name: "s" {spp % height} }}')
        n_bins = sum(np.prod(lt.pool_out_shape(hw, level)) for level in levels)
        assert net.blobs["s"].data.shape == (2, 3 * n_bins) == (2, lt.spp_out_size(lp, 3))


BLOB_LAYERS = [
    ({"x": (2, 4, 5, 5)},
     'type: "Convolution" bottom: "x" top: "y" convolution_param { num_output: 6 '
     'kernel_h: 3 kernel_w: 2 group: 2 }'),
    ({"x": (2, 4, 5, 5)},
     'type: "Deconvolution" bottom: "x" top: "y" convolution_param { num_output: 6 '
     'kernel_size: 4 stride: 2 group: 2 bias_term: false }'),
    ({"x": (2, 4, 5, 5)},
     'type: "InnerProduct" bottom: "x" top: "y" inner_product_param { num_output: 7 axis: 2 '
     'transpose: true }'),
    ({"x": (2, 4, 5, 5)}, 'type: "Scale" bottom: "x" top: "y" scale_param { bias_term: true }'),
    ({"x": (2, 4, 5, 5), "s": (4, 5)},
     'type: "Scale" bottom: "x" bottom: "s" top: "y" scale_param { bias_term: true }'),
    ({"x": (2, 4, 5, 5)}, 'type: "Bias" bottom: "x" top: "y" bias_param { num_axes: -1 }'),
    ({"x": (2, 4, 5, 5)}, 'type: "BatchNorm" bottom: "x" top: "y"'),
    ({"x": (2, 4, 5, 5)}, 'type: "PReLU" bottom: "x" top: "y"'),
    ({"x": (2, 4, 5, 5)},
     'type: "PReLU" bottom: "x" top: "y" prelu_param { channel_shared: true }'),
    ({"x": (2, 3)}, 'type: "Embed" bottom: "x" top: "y" embed_param { num_output: 4 '
     'input_dim: 10 }'),
    ({}, 'type: "Parameter" top: "y" parameter_param { shape { dim: 3 dim: 2 } }'),
    ({"x": (3, 2, 4, 2), "c": (3, 2)},
     'type: "LSTM" bottom: "x" bottom: "c" top: "y" recurrent_param { num_output: 5 }'),
    ({"x": (3, 2, 4), "c": (3, 2), "s": (2, 6)},
     'type: "LSTM" bottom: "x" bottom: "c" bottom: "s" top: "y" recurrent_param { '
     'num_output: 5 }'),
    ({"x": (3, 2, 4), "c": (3, 2)},
     'type: "RNN" bottom: "x" bottom: "c" top: "y" recurrent_param { num_output: 5 }'),
    ({"x": (3, 2, 4), "c": (3, 2), "s": (2, 6)},
     'type: "RNN" bottom: "x" bottom: "c" bottom: "s" top: "y" recurrent_param { '
     'num_output: 5 }'),
]  # fmt: skip


@pytest.mark.parametrize("inputs, text", BLOB_LAYERS)
def test_blob_shapes(caffe, tmp_path, inputs, text):
    from caffeio import net_from_text

    lp = net_from_text(f'layer {{ name: "l" {text} }}').layer[0]
    net = build(caffe, tmp_path, inputs, f'layer {{ name: "l" {text} }}')
    got = [b.data.shape for b in net.params["l"]]
    want = lt.param_shapes(lp, [inputs[b] for b in lp.bottom])
    assert got == want
    assert len(lt.blob_names(lp)) == len(want)
