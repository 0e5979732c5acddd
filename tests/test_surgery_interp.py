"""upsample_filt / interp: bilinear Deconvolution kernels that interpolate exactly."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import surgery
from surgery import ParamSet, SurgeryError


def caffe_bilinear_filler(k, before_888597e=False):
    """BVLC Caffe's BilinearFiller formula (include/caffe/filler.hpp), written here from
    docs/layers.md as an oracle: master's centre c = (k - 1) / (2f), or the one before commit
    888597e (October 2017), c = (2f - 1 - f % 2) / (2f)."""
    f = np.ceil(k / 2.0)
    c = (2 * f - 1 - f % 2) / (2.0 * f) if before_888597e else (k - 1) / (2.0 * f)
    w = 1 - np.abs(np.arange(k) / f - c)
    return np.outer(w, w)


@pytest.mark.parametrize("k", [4, 16, 32, 64, 5, 63, 3, 1, 2, 6, 7, 15, 31])
def test_upsample_filt_shape_symmetry_and_caffe_filler(k):
    """Our kernel is BVLC master's bilinear filler for every size (the pycaffe tier checks the
    real filler); the older filler agrees only for k = 2f - f % 2, i.e. k = 4n or 4n + 1."""
    f = surgery.upsample_filt(k)
    assert f.shape == (k, k) and f.dtype == np.float32
    np.testing.assert_array_equal(f, f[::-1, ::-1])
    np.testing.assert_array_equal(f, f.T)
    np.testing.assert_allclose(f, caffe_bilinear_filler(k), rtol=0, atol=1e-7)
    factor = (k + 1) // 2
    same_before = k == 2 * factor - factor % 2
    assert same_before == (k % 4 in (0, 1))
    assert np.allclose(f, caffe_bilinear_filler(k, before_888597e=True)) == same_before
    if k == 63:  # master centres it on the middle tap (31); the older filler at 31.5
        assert f[31, 31] == 1.0 and f.max() == 1.0
        old = caffe_bilinear_filler(63, before_888597e=True)
        assert old[31, 31] == old[32, 32] < 1


@pytest.mark.parametrize("k, s", [(4, 2), (16, 8), (32, 16), (64, 32), (63, 32)])
def test_kernel_shifts_sum_to_one(k, s):
    f = surgery.upsample_filt(k)
    w = np.sqrt(np.diag(f).astype(np.float64))  # the separable 1-D kernel
    np.testing.assert_allclose(np.outer(w, w), f, atol=1e-7)
    for r in range(s):  # every output phase of a stride-s Deconvolution gets total weight 1
        assert np.isclose(w[r::s].sum(), 1.0), (k, s, r)


def bilinear_reference(img, s, k):
    """Bilinear interpolation of img (H, W) at the output pixels of a stride-s, kernel-k
    Deconvolution: output y sits at input coordinate (y - c) / s, c = the kernel centre.
    Returns the values and a mask of outputs whose two neighbours both exist."""
    factor = (k + 1) // 2
    c = factor - 1 if k % 2 else factor - 0.5
    H, W = img.shape
    out_h, out_w = s * (H - 1) + k, s * (W - 1) + k

    def coords(n_out, n_in):
        u = (np.arange(n_out) - c) / s
        i0 = np.floor(u).astype(int)
        ok = (i0 >= 0) & (i0 + 1 <= n_in - 1) | (u == n_in - 1)
        i0 = np.clip(i0, 0, n_in - 1)
        i1 = np.clip(i0 + 1, 0, n_in - 1)
        return u - i0, i0, i1, ok

    ty, y0, y1, oky = coords(out_h, H)
    tx, x0, x1, okx = coords(out_w, W)
    top = img[y0][:, x0] * (1 - tx) + img[y0][:, x1] * tx
    bot = img[y1][:, x0] * (1 - tx) + img[y1][:, x1] * tx
    val = top * (1 - ty)[:, None] + bot * ty[:, None]
    return val, oky[:, None] & okx[None, :]


@pytest.mark.parametrize("k, s", [(4, 2), (16, 8), (32, 16), (64, 32), (63, 32)])
@pytest.mark.parametrize("grouped", [False, True])
def test_interp_deconvolution_is_bilinear_interpolation(k, s, grouped):
    C, H, W = 3, 5, 6
    yy, xx = np.mgrid[0:H, 0:W]
    # smooth, non-linear per-channel fields (a linear ramp would be too easy)
    img = np.stack([np.sin(0.7 * yy + 0.3 * c) + np.cos(0.5 * xx - c) + 0.1 * c for c in range(C)])
    shape = (C, 1, k, k) if grouped else (C, C, k, k)
    net = ParamSet({"up": [np.full(shape, 7.0)]})
    surgery.interp(net, ["up"], verbose=False)
    w = torch.as_tensor(net.params["up"][0].data, dtype=torch.float64)
    x = torch.as_tensor(img[None], dtype=torch.float64)
    y = F.conv_transpose2d(x, w, stride=s, groups=C if grouped else 1)[0].numpy()
    for c in range(C):
        ref, ok = bilinear_reference(img[c], s, k)
        assert y[c].shape == ref.shape
        assert ok.sum() > (s * (H - 1)) * (s * (W - 1)) * 0.9
        np.testing.assert_allclose(y[c][ok], ref[ok], rtol=0, atol=1e-6)


def test_interp_writes_only_the_diagonal_and_zeroes_bias():
    net = ParamSet({"up": [np.ones((3, 3, 4, 4)), np.ones(3)]})
    report = surgery.interp(net, "up", verbose=False)
    w = net.params["up"][0].data
    for i in range(3):
        for j in range(3):
            expect = surgery.upsample_filt(4) if i == j else 0
            np.testing.assert_array_equal(w[i, j], expect)
    assert np.all(net.params["up"][1].data == 0)
    assert "diagonal" in report.interpolated[0]


@pytest.mark.parametrize(
    "shape, pattern",
    [
        ((3, 2, 4, 4), r"'up'.*\(3, 2, 4, 4\).*3 input to 2 output"),
        ((3, 3, 4, 3), r"'up' kernel is 4x3"),
        ((3, 4), r"'up' weight has shape \(3, 4\)"),
    ],
    ids=["cin-ne-cout", "non-square", "not-4d"],
)
def test_interp_rejects_other_shapes(shape, pattern):
    with pytest.raises(SurgeryError, match=pattern):
        surgery.interp(ParamSet({"up": [np.zeros(shape)]}), ["up"], verbose=False)


def test_interp_unknown_layer():
    with pytest.raises(SurgeryError, match="no layer 'upscore'.*score_fr"):
        surgery.interp(ParamSet({"score_fr": [np.zeros((2, 2))]}), ["upscore"], verbose=False)
