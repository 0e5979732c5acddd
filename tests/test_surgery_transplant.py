"""transplant / expand_score / color-d / late fusion on param dicts and ParamSets."""

import numpy as np
import pytest

import surgery
from surgery import ParamSet, SurgeryError


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_fc_weights_become_conv_kernels_in_caffe_order():
    src = ParamSet({"fc6": [rand(8, 4 * 3 * 3), rand(8)], "fc7": [rand(5, 8, seed=1), rand(5)]})
    dst = ParamSet(
        {"fc6": [np.zeros((8, 4, 3, 3)), np.zeros(8)], "fc7": [np.zeros((5, 8, 1, 1)), np.zeros(5)]}
    )
    report = surgery.transplant(dst, src, verbose=False)
    w = dst.params["fc6"][0].data
    # Caffe flattens C x H x W row-major: input index c*9 + h*3 + w.
    assert w[2, 1, 2, 0] == src.params["fc6"][0].data[2, 1 * 9 + 2 * 3 + 0]
    np.testing.assert_array_equal(w.reshape(8, -1), src.params["fc6"][0].data)
    np.testing.assert_array_equal(dst.params["fc7"][0].data[:, :, 0, 0], src.params["fc7"][0].data)
    assert len(report.reshaped) == 2 and len(report.copied) == 2
    assert not report.dropped and not report.missing


def test_legacy_4d_blobs_match_their_right_aligned_shapes():
    src = {"fc7": [rand(1, 1, 6, 10), rand(1, 1, 1, 6)]}
    dst = ParamSet({"fc7": [np.zeros((6, 10, 1, 1)), np.zeros(6)]})
    surgery.transplant(dst, src, verbose=False)
    np.testing.assert_array_equal(dst.params["fc7"][1].data, src["fc7"][1].reshape(6))
    np.testing.assert_array_equal(dst.params["fc7"][0].data.reshape(6, 10), src["fc7"][0][0, 0])


def test_report_lists_dropped_and_uninitialised_layers(capsys):
    src = {"conv1": [rand(2, 3, 3, 3), rand(2)], "fc8": [rand(10, 2), rand(10)]}
    dst = ParamSet({"conv1": [np.zeros((2, 3, 3, 3)), np.zeros(2)], "score_fr": [np.zeros((4, 2))]})
    report = surgery.transplant(dst, src)
    out = capsys.readouterr().out
    assert "dropped: fc8" in out and "score_fr" in out and "copied: conv1" in out
    assert report.missing == ["score_fr"]
    assert np.all(dst.params["score_fr"][0].data == 0)


@pytest.mark.parametrize(
    "src_shape, dst_shape",
    [((1000, 4096), (21, 4096, 1, 1)), ((4096, 25088), (4096, 512, 6, 6))],
    ids=["class-count", "fc-kernel"],
)
def test_mismatched_element_counts_name_layer_blob_and_shapes(src_shape, dst_shape):
    src = {"fc8": [np.zeros(src_shape, np.float32)]}
    dst = ParamSet({"fc8": [np.zeros(dst_shape, np.float32)]})
    with pytest.raises(SurgeryError) as e:
        surgery.transplant(dst, src, verbose=False)
    msg = str(e.value)
    assert "layer 'fc8' blob 0" in msg
    assert str(tuple(src_shape)) in msg and str(tuple(dst_shape)) in msg
    assert "element counts must match" in msg
    assert np.all(dst.params["fc8"][0].data == 0)  # nothing silently written


def test_same_count_but_not_an_fc_reshape_is_refused():
    with pytest.raises(SurgeryError, match=r"\(4, 6\).*\(6, 4\)"):
        surgery.transplant(ParamSet({"a": [np.zeros((6, 4))]}), {"a": [rand(4, 6)]}, verbose=False)


def test_blob_count_mismatch_is_an_error():
    with pytest.raises(SurgeryError, match="conv1.*holds 1 blobs.*holds 2"):
        surgery.transplant(
            ParamSet({"conv1": [np.zeros((2, 3, 1, 1))]}),
            {"conv1": [rand(2, 3, 1, 1), rand(2)]},
            verbose=False,
        )


def test_suffix_transplant_for_late_fusion():
    src = {"conv1_1": [rand(2, 3, 3, 3), rand(2)]}
    dst = ParamSet(
        {
            "conv1_1color": [np.zeros((2, 3, 3, 3)), np.zeros(2)],
            "conv1_1hha": [np.zeros((2, 3, 3, 3)), np.zeros(2)],
        }
    )
    other = {"conv1_1": [rand(2, 3, 3, 3, seed=5), rand(2, seed=6)]}
    report = surgery.init_late_fusion(dst, {"color": src, "hha": other}, verbose=False)
    np.testing.assert_array_equal(dst.params["conv1_1color"][0].data, src["conv1_1"][0])
    np.testing.assert_array_equal(dst.params["conv1_1hha"][1].data, other["conv1_1"][1])
    assert report.missing == []


@pytest.mark.parametrize("bias_shape", [(7,), (1, 1, 1, 7)], ids=["1d", "legacy-4d"])
def test_expand_score_keeps_old_classes(bias_shape):
    old = {"score": [rand(3, 5, 1, 1), rand(3)]}
    new = ParamSet({"score": [np.full((7, 5, 1, 1), 9.0), np.full(bias_shape, 9.0)]})
    assert surgery.expand_score(new, "score", old, "score") == 3
    w, b = new.params["score"][0].data, new.params["score"][1].data
    np.testing.assert_array_equal(w[:3], old["score"][0])
    assert np.all(w[3:] == 9.0)
    np.testing.assert_array_equal(b.reshape(-1)[:3], old["score"][1])
    assert np.all(b.reshape(-1)[3:] == 9.0)


def test_expand_score_refuses_fewer_classes():
    with pytest.raises(SurgeryError, match=r"\(5, 2, 1, 1\).*\(3, 2, 1, 1\)"):
        surgery.expand_score(
            ParamSet({"s": [np.zeros((3, 2, 1, 1))]}), "s", {"s": [rand(5, 2, 1, 1)]}, "s"
        )


def test_color_d_first_layer():
    src = {"conv1_1": [rand(4, 3, 3, 3), rand(4)], "conv1_2": [rand(4, 4, 3, 3), rand(4)]}
    dst = ParamSet(
        {
            "conv1_1_bgrd": [np.zeros((4, 4, 3, 3)), np.zeros(4)],
            "conv1_2": [np.zeros((4, 4, 3, 3)), np.zeros(4)],
        }
    )
    report = surgery.init_color_d(dst, src, verbose=False)
    w = dst.params["conv1_1_bgrd"][0].data
    np.testing.assert_array_equal(w[:, :3], src["conv1_1"][0])
    np.testing.assert_allclose(w[:, 3], src["conv1_1"][0].mean(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(dst.params["conv1_1_bgrd"][1].data, src["conv1_1"][1])
    np.testing.assert_array_equal(dst.params["conv1_2"][0].data, src["conv1_2"][0])
    assert report.missing == [] and report.dropped == []


def test_color_d_wrong_shape():
    with pytest.raises(SurgeryError, match="conv1_1_bgrd.*one more input channel"):
        surgery.init_color_d(
            ParamSet({"conv1_1_bgrd": [np.zeros((4, 5, 3, 3))]}),
            {"conv1_1": [rand(4, 3, 3, 3)]},
            verbose=False,
        )
