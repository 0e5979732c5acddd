"""Bilinear interpolation kernels for Deconvolution layers (FCN's upsampling initialisation)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO

import numpy as np

from .errors import SurgeryError
from .paramset import ParamsHolder, as_params
from .report import Report

if TYPE_CHECKING:
    from caffeio import caffe_pb2


def upsample_filt(size: int) -> np.ndarray:
    """(size, size) float32 bilinear kernel for upsampling by factor ceil(size / 2).

    Triangle of half-width f = (size + 1) // 2 centred on the kernel's middle, (size - 1) / 2:
    f - 0.5 for even sizes (size 2f: stride f, as FCN's upscore k64 s32), f - 1 for odd sizes
    (2f - 1: AlexNet's k63 s32), so the stride-f shifts always sum to one. It is BVLC master's
    "bilinear" filler for every size (centre (size - 1) / (2f) in units of f, since Caffe commit
    888597e, October 2017). The filler before that commit agreed only for sizes 4n and 4n + 1
    (FCN's k4, k16, k32, k64) and was centred half a pixel off otherwise (k63 at 31.5, the
    ResNet FCNs' k15 at 7.5: their stride-f shifts do not sum to one).
    """
    size = int(size)
    if size < 1:
        raise SurgeryError(f"upsample_filt: kernel size must be >= 1, got {size}")
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    og = np.arange(size, dtype=np.float64)
    w = 1 - np.abs(og - center) / factor
    return np.outer(w, w).astype(np.float32)


def interp(
    net: ParamsHolder | str,
    layers: str | Iterable[str],
    verbose: bool = True,
    file: TextIO | None = None,
    definition: caffe_pb2.NetParameter | str | None = None,
) -> Report:
    """Write bilinear kernels into the Deconvolution weights of `layers` (in place).

    Weights (C, C, k, k) get upsample_filt(k) on the diagonal (channel c -> c) and zeros elsewhere;
    grouped weights (C, 1, k, k) (group C) get it in every channel. A bias blob, if present, is
    zeroed. Any other shape (C_in != C_out with C_out > 1, non-square or non-4-D kernels) raises
    SurgeryError naming the layer and shape. Returns a Report.

    The kernel/stride check reads each layer's convolution_param from `definition` (a
    NetParameter or prototxt path), else from the net itself (torchcaffe nets, ParamSets that
    carry their definition); a real pycaffe net does not expose its definition, so pass it.
    """
    layer_of = _definition_lookup(net, definition)
    net = as_params(net)
    if isinstance(layers, str):
        layers = [layers]
    report = Report("interp:")
    for name in layers:
        if name not in net.params:
            raise SurgeryError(
                f"interp: no layer '{name}' with parameters in the net "
                f"(layers with params: {', '.join(net.params) or 'none'})"
            )
        weight = net.params[name][0].data
        if weight.ndim != 4:
            raise SurgeryError(
                f"interp: layer '{name}' weight has shape {tuple(weight.shape)}; "
                "a Deconvolution weight (C_in, C_out/group, k, k) is 4-D"
            )
        m, k, h, w = weight.shape
        if h != w:
            raise SurgeryError(
                f"interp: layer '{name}' kernel is {h}x{w}; bilinear upsampling needs a square "
                "kernel (kernel_size 2*stride)"
            )
        if m != k and k != 1:
            raise SurgeryError(
                f"interp: layer '{name}' weight shape {tuple(weight.shape)} maps {m} input to "
                f"{k} output channels; interpolation needs (C, C, k, k) with group 1 or "
                "(C, 1, k, k) with group C"
            )
        filt = upsample_filt(h)
        _check_stride(layer_of(name), name, h, report)
        if k == 1:
            weight[:, 0, :, :] = filt
            how = "every channel (grouped)"
        else:
            weight[...] = 0
            weight[range(m), range(k), :, :] = filt
            how = "diagonal"
        for extra in net.params[name][1:]:
            extra.data[...] = 0
        report.interpolated.append(f"{name} {tuple(weight.shape)} bilinear {h}x{h} on the {how}")
    if verbose:
        report.print(file=file or sys.stdout)
    return report


def _definition_lookup(net, definition):
    """-> function(layer name) -> its LayerParameter (or None when nothing tells)."""
    if isinstance(definition, (str, os.PathLike)):
        import caffeio

        definition = caffeio.read_net(str(definition))
    if definition is None:
        definition = getattr(net, "definition", None)
    if definition is not None:
        by_name = {layer.name: layer for layer in definition.layer}
        return by_name.get
    if hasattr(net, "layer") and callable(net.layer):
        return net.layer
    return lambda name: None


def _check_stride(layer, name, k, report):
    if layer is None:
        report.notes.append(f"{name}: stride not checked (no net definition; pass definition=)")
        return
    if layer.type != "Deconvolution":
        return
    from caffeio.layertypes import conv_geometry

    (_, s, _, _), _ = conv_geometry(layer)  # H axis: (kernel, stride, pad, dilation)
    if k not in (2 * s, 2 * s - 1):
        report.notes.append(
            f"{name}: kernel {k} with stride {s} is not 2*stride (or 2*stride-1): "
            "the bilinear kernels will not sum to one (uneven upsampling)"
        )
