"""Real BVLC Caffe's "bilinear" filler against surgery.upsample_filt (the FCN release's kernel):
BVLC master, which `make pycaffe` builds, centres the kernel on its middle since commit 888597e,
so the two agree for every kernel size, odd ones (FCN-AlexNet's and FCN-GoogLeNet's k63, the
FCN-ResNets' k15) included: equal to 1.2e-7 (Caffe computes the taps in float32, we in
float64 rounded once; 0 for most sizes)."""

import numpy as np
import pytest

import surgery

SIZES = [1, 2, 3, 4, 5, 6, 7, 15, 16, 31, 32, 63, 64]


def deconv_net(k, channels=2):
    text = (
        'layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 1 '
        f"dim: {channels} dim: 3 dim: 3 }} }} }}\n"
        'layer { name: "up" type: "Deconvolution" bottom: "x" top: "y" convolution_param { '
        f"num_output: {channels} kernel_size: {k} stride: {max(1, (k + 1) // 2)} "
        'bias_term: false weight_filler { type: "bilinear" } } }\n'
    )
    return text


@pytest.mark.parametrize("k", SIZES)
def test_caffe_bilinear_filler_is_upsample_filt(k, tmp_path):
    import caffe

    path = tmp_path / "net.prototxt"
    path.write_text(deconv_net(k))
    net = caffe.Net(str(path), caffe.TEST)
    w = net.params["up"][0].data
    assert w.shape == (2, 2, k, k)
    ours = surgery.upsample_filt(k)
    for i in range(2):
        for j in range(2):  # the filler writes the kernel into every (out, in) pair
            np.testing.assert_allclose(w[i, j], ours, rtol=0, atol=2e-7)
    if k == 63:
        assert w[0, 0, 31, 31] == 1.0  # centred on the middle tap (the pre-888597e filler: 31.5)
