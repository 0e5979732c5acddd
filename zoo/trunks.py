"""VGG-16 and AlexNet (CaffeNet) trunks and the FCN heads, in the release's layer names.

Every builder writes into a NetSpec `n` and returns the top it ended with. `width` scales the
channel counts of the trunk (see `channels`); class counts never change. The feature builders
take the convolution style as `conv`: conv_relu (the FCNs': stride and pad always written, the
release's lr/decay multipliers) or classifier_conv (the ILSVRC deploy files': defaults left
out, multipliers and fillers as the classifiers were trained with).
"""

from __future__ import annotations

from collections.abc import Callable

from netspec.builder import L, NetSpec, P, Top
from netspec.coord import crop

# A convolution style: (n, name, relu_name, bottom, nout, ks, stride, pad, group, params) -> top
Conv = Callable[..., Top]

# Release convention: weights learn at 1x with decay, biases at 2x without decay.
CONV_PARAMS = [dict(lr_mult=1, decay_mult=1), dict(lr_mult=2, decay_mult=0)]
FROZEN = [dict(lr_mult=0)]
# The ILSVRC classifiers' fillers (what their training started from).
LEARNED_FILLERS = dict(
    weight_filler=dict(type="gaussian", std=0.01), bias_filler=dict(type="constant")
)

VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def channels(c: int, width: float = 1.0, multiple: int = 1) -> int:
    """Channel count for width multiplier `width`: max(multiple, round(c * width)), rounded
    (half to even) to a multiple of `multiple` (grouped convolutions need divisible counts)."""
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    return max(multiple, int(round(c * width / multiple)) * multiple)


def conv_relu(
    n: NetSpec,
    name: str,
    relu_name: str,
    bottom: Top,
    nout: int,
    ks: int = 3,
    stride: int = 1,
    pad: int = 1,
    group: int = 1,
    params: bool = True,
) -> Top:
    """Convolution `name` + in-place ReLU `relu_name`; returns the conv's top."""
    kw = dict(kernel_size=ks, stride=stride, num_output=nout, pad=pad)
    if group != 1:
        kw["group"] = group
    if params:
        kw["param"] = CONV_PARAMS
    n[name] = L.Convolution(bottom, **kw)
    n[relu_name] = L.ReLU(n[name], in_place=True)
    return n[name]


def classifier_conv(
    n: NetSpec,
    name: str,
    relu_name: str,
    bottom: Top,
    nout: int,
    ks: int = 3,
    stride: int = 1,
    pad: int = 1,
    group: int = 1,
    params: bool = True,
) -> Top:
    """conv_relu as the ILSVRC classifiers write it: stride 1, pad 0 and group 1 left out;
    lr 1/decay 1 weights, lr 2/decay 0 biases, gaussian (std 0.01) weights, constant biases."""
    kw = dict(num_output=nout, kernel_size=ks)
    if stride != 1:
        kw["stride"] = stride
    if pad:
        kw["pad"] = pad
    if group != 1:
        kw["group"] = group
    if params:
        kw.update(param=CONV_PARAMS, **LEARNED_FILLERS)
    n[name] = L.Convolution(bottom, **kw)
    n[relu_name] = L.ReLU(n[name], in_place=True)
    return n[name]


def max_pool(bottom: Top, ks: int = 2, stride: int = 2) -> Top:
    """MAX Pooling (Caffe's default ceil rounding)."""
    return L.Pooling(bottom, pool=P.Pooling.MAX, kernel_size=ks, stride=stride)


def vgg16_features(
    n: NetSpec,
    bottom: Top,
    width: float = 1.0,
    pad: int = 100,
    suffix: str = "",
    conv1_name: str | None = None,
    params: bool = True,
    conv: Conv = conv_relu,
) -> Top:
    """conv1_1 .. pool5 of VGG-16 (conv1_1 padded by `pad`: 100 in FCNs); returns pool5.

    Layer names get `suffix` appended verbatim ('conv1_1' + 'color' -> 'conv1_1color', as in the
    release's two-stream net); `conv1_name` renames the first conv alone (NYUD 'conv1_1_bgrd').
    """
    top = bottom
    for b, block in enumerate(VGG16_BLOCKS, 1):
        for i, c in enumerate(block, 1):
            name = f"conv{b}_{i}{suffix}"
            if b == 1 and i == 1 and conv1_name:
                name = conv1_name
            p = pad if (b, i) == (1, 1) else 1
            top = conv(
                n, name, f"relu{b}_{i}{suffix}", top, channels(c, width), pad=p, params=params
            )
        n[f"pool{b}{suffix}"] = max_pool(top)
        top = n[f"pool{b}{suffix}"]
    return top


def fc_convs(
    n: NetSpec,
    bottom: Top,
    width: float = 1.0,
    ks: int = 7,
    suffix: str = "",
    dropout: bool = True,
    params: bool = True,
) -> Top:
    """fc6 (ks x ks conv, 4096) and fc7 (1x1 conv, 4096), each with ReLU (+ Dropout 0.5)."""
    top = bottom
    for i, k in ((6, ks), (7, 1)):
        top = conv_relu(
            n,
            f"fc{i}{suffix}",
            f"relu{i}{suffix}",
            top,
            channels(4096, width),
            ks=k,
            pad=0,
            params=params,
        )
        if dropout:
            n[f"drop{i}{suffix}"] = L.Dropout(top, dropout_ratio=0.5, in_place=True)
            top = n[f"drop{i}{suffix}"]
    return top


def vgg16_trunk(
    n: NetSpec,
    bottom: Top,
    width: float = 1.0,
    dropout: bool = True,
    taps: dict[int, Top] | None = None,
    suffix: str = "",
    conv1_name: str | None = None,
) -> Top:
    """The FCN VGG-16 trunk: conv1_1 (pad 100) .. pool5, fc6 7x7, fc7; returns fc7's last top.

    taps: unused (the skip heads find pool3/pool4 by name)."""
    pool5 = vgg16_features(n, bottom, width, pad=100, suffix=suffix, conv1_name=conv1_name)
    return fc_convs(n, pool5, width, ks=7, suffix=suffix, dropout=dropout)


ALEXNET_CONVS = (
    # name, channels, kernel, stride, pad, group
    ("conv1", 96, 11, 4, None, 1),
    ("conv2", 256, 5, 1, 2, 2),
    ("conv3", 384, 3, 1, 1, 1),
    ("conv4", 384, 3, 1, 1, 2),
    ("conv5", 256, 3, 1, 1, 2),
)


def alexnet_features(
    n: NetSpec,
    bottom: Top,
    width: float = 1.0,
    pad: int = 100,
    params: bool = True,
    conv: Conv = conv_relu,
) -> Top:
    """CaffeNet conv1 .. pool5 (pool before LRN; groups 2 on conv2/4/5); returns pool5.

    conv1 is padded by `pad` (100 in the FCN, 0 in the classifier). With width != 1 every conv
    keeps an even channel count so that the group-2 convolutions stay valid.
    """
    top = bottom
    for name, c, k, s, p, g in ALEXNET_CONVS:
        i = name[-1]
        nout = channels(c, width, multiple=2)
        top = conv(
            n,
            name,
            f"relu{i}",
            top,
            nout,
            ks=k,
            stride=s,
            pad=pad if p is None else p,
            group=g,
            params=params,
        )
        if i in "12":
            n[f"pool{i}"] = max_pool(top, 3, 2)
            n[f"norm{i}"] = L.LRN(n[f"pool{i}"], local_size=5, alpha=1e-4, beta=0.75)
            top = n[f"norm{i}"]
    n.pool5 = max_pool(top, 3, 2)
    return n.pool5


def alexnet_trunk(
    n: NetSpec,
    bottom: Top,
    width: float = 1.0,
    dropout: bool = True,
    taps: dict[int, Top] | None = None,
) -> Top:
    """The FCN-AlexNet trunk: conv1 (pad 100) .. pool5, fc6 6x6 conv, fc7; returns the last top.

    Unlike the VGG trunk, these layers carry no `param` blocks, as in the release: Caffe's
    defaults (lr_mult 1, decay_mult 1 for weights and biases alike) apply.
    """
    pool5 = alexnet_features(n, bottom, width, pad=100, params=False)
    return fc_convs(n, pool5, width, ks=6, dropout=dropout, params=False)


def score_conv(bottom: Top, num_classes: int) -> Top:
    """1x1 scoring convolution (zero-initialised: no filler, as in the release)."""
    return L.Convolution(bottom, num_output=num_classes, kernel_size=1, pad=0, param=CONV_PARAMS)


def upsample(bottom: Top, num_classes: int, factor: int, kernel: int | None = None) -> Top:
    """Fixed (lr_mult 0) Deconvolution, kernel 2*factor, stride factor, no bias, group 1."""
    return L.Deconvolution(
        bottom,
        convolution_param=dict(
            num_output=num_classes,
            kernel_size=kernel or 2 * factor,
            stride=factor,
            bias_term=False,
        ),
        param=FROZEN,
    )


def fcn32s_head(
    n: NetSpec,
    trunk_top: Top,
    image: Top,
    num_classes: int,
    suffix: str = "",
    kernel: int = 64,
    fr_name: str | None = None,
) -> Top:
    """score_fr -> upscore (k64 s32) -> score (crop to `image`); returns the score top."""
    fr = fr_name or f"score_fr{suffix}"
    n[fr] = score_conv(trunk_top, num_classes)
    n[f"upscore{suffix}"] = upsample(n[fr], num_classes, 32, kernel)
    n[f"score{suffix}"] = crop(n[f"upscore{suffix}"], image)
    return n[f"score{suffix}"]


def _skip(n, pool, up, num_classes, suffix, scale=None):
    """score_<pool>(c) cropped to `up` and summed with it: returns the fuse top."""
    bottom = n[pool]
    if scale is not None:
        n[f"scale_{pool}{suffix}"] = L.Scale(
            bottom, filler=dict(type="constant", value=scale), param=FROZEN
        )
        bottom = n[f"scale_{pool}{suffix}"]
    n[f"score_{pool}{suffix}"] = score_conv(bottom, num_classes)
    n[f"score_{pool}{suffix}c"] = crop(n[f"score_{pool}{suffix}"], up)
    n[f"fuse_{pool}{suffix}"] = L.Eltwise(up, n[f"score_{pool}{suffix}c"], operation=P.Eltwise.SUM)
    return n[f"fuse_{pool}{suffix}"]


def fcn16s_head(n: NetSpec, trunk_top: Top, image: Top, num_classes: int, suffix: str = "") -> Top:
    """score_fr, upscore2, score_pool4(c), fuse_pool4, upscore16 (k32 s16), score."""
    n[f"score_fr{suffix}"] = score_conv(trunk_top, num_classes)
    n[f"upscore2{suffix}"] = upsample(n[f"score_fr{suffix}"], num_classes, 2)
    fuse = _skip(n, "pool4", n[f"upscore2{suffix}"], num_classes, suffix)
    n[f"upscore16{suffix}"] = upsample(fuse, num_classes, 16)
    n[f"score{suffix}"] = crop(n[f"upscore16{suffix}"], image)
    return n[f"score{suffix}"]


def fcn8s_head(
    n: NetSpec,
    trunk_top: Top,
    image: Top,
    num_classes: int,
    suffix: str = "",
    atonce: bool = False,
) -> Top:
    """fcn16s's skip from pool4 plus one from pool3, upscore8 (k16 s8), score.

    atonce=True scales pool4 by 0.01 and pool3 by 0.0001 first (fixed Scale layers), as the
    at-once net does.
    """
    n[f"score_fr{suffix}"] = score_conv(trunk_top, num_classes)
    n[f"upscore2{suffix}"] = upsample(n[f"score_fr{suffix}"], num_classes, 2)
    fuse4 = _skip(n, "pool4", n[f"upscore2{suffix}"], num_classes, suffix, 0.01 if atonce else None)
    n[f"upscore_pool4{suffix}"] = upsample(fuse4, num_classes, 2)
    fuse3 = _skip(
        n,
        "pool3",
        n[f"upscore_pool4{suffix}"],
        num_classes,
        suffix,
        0.0001 if atonce else None,
    )
    n[f"upscore8{suffix}"] = upsample(fuse3, num_classes, 8)
    n[f"score{suffix}"] = crop(n[f"upscore8{suffix}"], image)
    return n[f"score{suffix}"]


def softmax_loss(
    score: Top, label: Top, normalize: bool = False, loss_weight: float | None = None
) -> Top:
    """SoftmaxWithLoss ignoring 255; normalize=False sums over pixels (the VGG FCNs);
    loss_weight: written when given (an auxiliary loss's weight)."""
    kw = {} if loss_weight is None else dict(loss_weight=loss_weight)
    return L.SoftmaxWithLoss(
        score, label, loss_param=dict(normalize=normalize, ignore_label=255), **kw
    )
