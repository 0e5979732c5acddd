"""FCN-ResNet: Kaiming He's Caffe ResNet-50/101/152 trunk, dilated to stride 8, simple head.

Names are the original release's (conv1, bn_conv1, scale_conv1, res<S><B>_branch2a,
bn<S><B>_branch2a, scale<S><B>_branch2a, ...; ResNet-101/152 number res3b1.., res4b1..), so the
ILSVRC caffemodels transplant by name. ResNet-50's conv1 has a bias, 101/152's have none, as in
the released deploy files. Downsampling sits on branch1 and branch2a (1x1) as in the original;
res4 and res5 keep stride 1 and dilate their 3x3 convolutions by 2 and 4 (DeepLab): output
stride 8. Every BatchNorm uses global statistics and, with its Scale, never learns (lr_mult 0):
batches of one image make batch statistics useless.

Head (new layers at 10x the trunk's rate; zoo.heads 'dilated8s'): head (3x3, 512, no bias),
head_bn + head_scale, head_relu, head_drop (0.1, train/val), score_fr (1x1 -> classes, zero
init), upscore (fixed bilinear Deconvolution, kernel 15 = 2 * 8 - 1: the stride-2 windows have
odd kernels, so only an odd kernel lands on whole pixels), score (Crop at the computed offset, 5).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netspec.builder import L, NetSpec, P, Top

from .trunks import channels

BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
DILATION = {2: 1, 3: 1, 4: 2, 5: 4}  # stage -> 3x3 dilation (stride 2 kept only on res3a)
UPSCORE_KERNEL = 15
HEAD_LR = 10

TRUNK_CONV = [dict(lr_mult=1, decay_mult=1)]
TRUNK_CONV_BIAS = TRUNK_CONV + [dict(lr_mult=2, decay_mult=0)]
STATS = [dict(lr_mult=0, decay_mult=0)] * 3  # BatchNorm mean, variance, moving-average factor
AFFINE_FROZEN = [dict(lr_mult=0, decay_mult=0)] * 2  # Scale gamma, beta


def block_names(stage: int, count: int, depth: int) -> list[str]:
    """Block suffixes of a stage: ResNet-50 (and stages of <= 3 blocks) 'a', 'b', 'c', ...;
    deeper ones 'a', 'b1', 'b2', ... (ResNet-101/152)."""
    if depth == 50 or count <= 3:
        return [f"{stage}{chr(ord('a') + i)}" for i in range(count)]
    return [f"{stage}a"] + [f"{stage}b{i}" for i in range(1, count)]


def conv_bn(
    n: NetSpec,
    conv: str,
    bn: str,
    scale: str,
    bottom: Top,
    nout: int,
    ks: int,
    stride: int = 1,
    pad: int = 0,
    dilation: int = 1,
    bias: bool = False,
    conv_params: list[dict[str, Any]] | None = None,
    affine_params: list[dict[str, Any]] | None = None,
    weight_filler: dict[str, Any] | None = None,
    params: bool = True,
) -> Top:
    """Convolution `conv` + in-place BatchNorm `bn` (global stats, frozen) + Scale `scale`
    (bias); returns the conv's top (N x nout x H' x W'). params=False: no `param` blocks (the
    classifier's deploy net)."""
    kw = dict(num_output=nout, kernel_size=ks)
    if pad:
        kw["pad"] = pad
    if stride != 1:
        kw["stride"] = stride
    if dilation != 1:
        kw["dilation"] = dilation
    if not bias:
        kw["bias_term"] = False
    if weight_filler:
        kw["weight_filler"] = weight_filler
    default = TRUNK_CONV_BIAS if bias else TRUNK_CONV
    conv_p, stats_p, affine_p = [
        dict(param=p) if params else {}
        for p in (conv_params or default, STATS, affine_params or AFFINE_FROZEN)
    ]
    n[conv] = L.Convolution(bottom, **conv_p, **kw)
    n[bn] = L.BatchNorm(n[conv], use_global_stats=True, **stats_p, in_place=True)
    n[scale] = L.Scale(n[bn], bias_term=True, **affine_p, in_place=True)
    return n[conv]


def bottleneck(
    n: NetSpec,
    name: str,
    bottom: Top,
    nout: int,
    stride: int = 1,
    dilation: int = 1,
    project: bool = False,
    params: bool = True,
) -> Top:
    """Block res<name>: 1x1 (stride) -> 3x3 (dilation) -> 1x1 (4 * nout) + shortcut, ReLU."""

    def unit(branch, x, c, ks, s=1, pad=0, d=1, relu=True):
        top = conv_bn(
            n, f"res{name}_{branch}", f"bn{name}_{branch}", f"scale{name}_{branch}", x, c, ks,
            s, pad, d, params=params,
        )  # fmt: skip
        if relu:
            n[f"res{name}_{branch}_relu"] = L.ReLU(top, in_place=True)
        return top

    short = unit("branch1", bottom, 4 * nout, 1, stride, relu=False) if project else bottom
    x = unit("branch2a", bottom, nout, 1, stride)
    x = unit("branch2b", x, nout, 3, pad=dilation, d=dilation)
    x = unit("branch2c", x, 4 * nout, 1, relu=False)
    n[f"res{name}"] = L.Eltwise(short, x)
    n[f"res{name}_relu"] = L.ReLU(n[f"res{name}"], in_place=True)
    return n[f"res{name}"]


def resnet_trunk(
    n: NetSpec,
    bottom: Top,
    depth: int,
    width: float = 1.0,
    taps: dict[int, Top] | None = None,
    dilated: bool = True,
    params: bool = True,
) -> Top:
    """conv1 .. res5c (dilated): 1 x 2048*width x ~H/8 x ~W/8; returns the last block's top.

    taps: a dict that receives each stage's last top by stage number (2..5), when given.
    dilated=False: the classifier's trunk (stride 2 on res3a, res4a and res5a, no dilation,
    ~H/32); params=False: no `param` blocks (the classifier's deploy net)."""
    c1 = conv_bn(n, "conv1", "bn_conv1", "scale_conv1", bottom, channels(64, width), 7, 2, 3,
                 bias=depth == 50, params=params)  # fmt: skip
    n.conv1_relu = L.ReLU(c1, in_place=True)
    n.pool1 = L.Pooling(c1, pool=P.Pooling.MAX, kernel_size=3, stride=2)  # ceil rule
    x = n.pool1
    for i, count in enumerate(BLOCKS[depth]):
        stage = i + 2
        nout = channels(64 * 2**i, width)
        for j, block in enumerate(block_names(stage, count, depth)):
            first = j == 0 and (stage == 3 if dilated else stage > 2)
            dilation = DILATION[stage] if dilated else 1
            x = bottleneck(n, block, x, nout, 2 if first else 1, dilation, j == 0, params)
        if taps is not None:
            taps[stage] = x
    return x


def _rates(lr):
    conv = [dict(lr_mult=lr, decay_mult=1)]
    return conv, conv + [dict(lr_mult=2 * lr, decay_mult=0)], [
        dict(lr_mult=lr, decay_mult=0), dict(lr_mult=2 * lr, decay_mult=0)]  # fmt: skip


def simple_head(
    n: NetSpec,
    bottom: Top,
    num_classes: int,
    width: float = 1.0,
    dropout: bool = True,
    head_lr: float = HEAD_LR,
    name: str = "head",
    channels_out: int = 512,
    score: str = "score_fr",
) -> Top:
    """`name` 3x3 (512) + `name`_bn/_scale + ReLU (+ Dropout 0.1) + `score` 1x1 at `head_lr`
    times the trunk's rate; returns the score top (N x classes x h x w)."""
    conv, conv_bias, affine = _rates(head_lr)
    x = conv_bn(
        n, name, f"{name}_bn", f"{name}_scale", bottom, channels(channels_out, width), 3, pad=1,
        conv_params=conv, affine_params=affine, weight_filler=dict(type="msra"),
    )  # fmt: skip
    n[f"{name}_relu"] = L.ReLU(x, in_place=True)
    if dropout:
        n[f"{name}_drop"] = L.Dropout(x, dropout_ratio=0.1, in_place=True)
        x = n[f"{name}_drop"]
    n[score] = L.Convolution(x, num_output=num_classes, kernel_size=1, param=conv_bias)
    return n[score]


def trunk(depth: int) -> Callable[..., Top]:
    """The Backbone.trunk of ResNet-`depth`: (n, bottom, width, dropout, taps) -> res5c's top
    (dilated; dropout is the head's)."""

    def resnet(n, bottom, width=1.0, dropout=True, taps=None):
        return resnet_trunk(n, bottom, depth, width, taps)

    resnet.__name__ = f"resnet{depth}_trunk"
    return resnet
