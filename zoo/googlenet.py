"""FCN-GoogLeNet: the bvlc_googlenet trunk in its own layer names, final head only.

Layer names (slashes included) are bvlc_googlenet's, so the ILSVRC caffemodel (fcnized or not)
transplants by name. As in the paper, the auxiliary heads (loss1/*, loss2/*) and the final
average pooling (pool5/7x7_s1) are gone: score_fr scores inception_5b/output (stride 32).

Every layer below is "same"-padded except the five stride-2 windows (conv1 and four 3x3 MAX
pools with Caffe's ceil rule), so there is no pad 100: no fc window needs a minimum input, and
inputs from about 31 px up keep every map non-empty. The pools have odd kernels, so the grid
sits on whole pixels and the upsampling kernel is 63 (2 * 32 - 1, as voc-fcn-alexnet) for an
integer crop offset (1).
"""

from __future__ import annotations

from collections.abc import Sequence

from netspec.builder import L, NetSpec, P, Top

from .trunks import Conv, channels, conv_relu

# inception module -> (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj), bvlc_googlenet
INCEPTION = (
    ("3a", (64, 96, 128, 16, 32, 32)),
    ("3b", (128, 128, 192, 32, 96, 64)),
    ("4a", (192, 96, 208, 16, 48, 64)),
    ("4b", (160, 112, 224, 24, 64, 64)),
    ("4c", (128, 128, 256, 24, 64, 64)),
    ("4d", (112, 144, 288, 32, 64, 64)),
    ("4e", (256, 160, 320, 32, 128, 128)),
    ("5a", (256, 160, 320, 32, 128, 128)),
    ("5b", (384, 192, 384, 48, 128, 128)),
)
# last module of a stage -> the stride-2 pool after it
STAGE_POOL = {"3b": "pool3/3x3_s2", "4e": "pool4/3x3_s2"}
DROPOUT = 0.4  # bvlc_googlenet's pool5/drop_7x7_s1 ratio, kept on inception_5b/output
UPSCORE_KERNEL = 63


def _pool(bottom, ks, stride, pad=0):
    kw = dict(pad=pad) if pad else {}
    return L.Pooling(bottom, pool=P.Pooling.MAX, kernel_size=ks, stride=stride, **kw)


def _lrn(bottom):
    return L.LRN(bottom, local_size=5, alpha=1e-4, beta=0.75)


def inception(
    n: NetSpec,
    name: str,
    bottom: Top,
    widths: Sequence[int],
    width: float = 1.0,
    conv: Conv = conv_relu,
) -> Top:
    """Module `name` (e.g. 'inception_3a'): four branches concatenated into <name>/output.

    Channels out = 1x1 + 3x3 + 5x5 + pool_proj (x width); H and W unchanged. conv: the
    convolution style (zoo.trunks.conv_relu or classifier_conv).
    """
    c1, r3, c3, r5, c5, pp = (channels(c, width) for c in widths)
    outs = []
    for branch, reduce_, nout, k in (("1x1", None, c1, 1), ("3x3", r3, c3, 3), ("5x5", r5, c5, 5)):
        x = bottom
        if reduce_:
            x = conv(
                n, f"{name}/{branch}_reduce", f"{name}/relu_{branch}_reduce", x, reduce_, 1, pad=0
            )
        outs.append(conv(n, f"{name}/{branch}", f"{name}/relu_{branch}", x, nout, k, pad=k // 2))
    n[f"{name}/pool"] = _pool(bottom, 3, 1, pad=1)
    outs.append(
        conv(n, f"{name}/pool_proj", f"{name}/relu_pool_proj", n[f"{name}/pool"], pp, 1, pad=0)
    )
    n[f"{name}/output"] = L.Concat(*outs)
    return n[f"{name}/output"]


def googlenet_trunk(
    n: NetSpec,
    bottom: Top,
    width: float = 1.0,
    dropout: bool = True,
    taps: dict[int, Top] | None = None,
    conv: Conv = conv_relu,
) -> Top:
    """conv1/7x7_s2 .. inception_5b/output: 1 x 1024*width x ~H/32 x ~W/32; returns its top.

    dropout=True adds Dropout 0.4 on inception_5b/output (train/val nets). taps: unused.
    conv: the convolution style (zoo.trunks.conv_relu or classifier_conv).
    """
    x = conv(n, "conv1/7x7_s2", "conv1/relu_7x7", bottom, channels(64, width), 7, 2, 3)
    n["pool1/3x3_s2"] = _pool(x, 3, 2)
    n["pool1/norm1"] = _lrn(n["pool1/3x3_s2"])
    x = conv(
        n,
        "conv2/3x3_reduce",
        "conv2/relu_3x3_reduce",
        n["pool1/norm1"],
        channels(64, width),
        1,
        pad=0,
    )
    x = conv(n, "conv2/3x3", "conv2/relu_3x3", x, channels(192, width), 3, pad=1)
    n["conv2/norm2"] = _lrn(x)
    n["pool2/3x3_s2"] = _pool(n["conv2/norm2"], 3, 2)
    x = n["pool2/3x3_s2"]
    for module, widths in INCEPTION:
        x = inception(n, f"inception_{module}", x, widths, width, conv)
        pool = STAGE_POOL.get(module)
        if pool:
            n[pool] = _pool(x, 3, 2)
            x = n[pool]
    if dropout:
        n["inception_5b/drop"] = L.Dropout(x, dropout_ratio=DROPOUT, in_place=True)
        x = n["inception_5b/drop"]
    return x
