"""Copy weights between nets by layer name, turning fully connected layers into convolutions."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

import numpy as np

from .errors import SurgeryError
from .paramset import ParamsHolder, as_params
from .report import Report


def _strip(shape):
    # leading 1s dropped: legacy 4-D padding; a one-value blob (a shared PReLU slope stored as
    # (1,) or 1x1x1x1) matches the 0-axis shape () of its layer
    s = list(shape)
    while s and s[0] == 1:
        s.pop(0)
    return tuple(s)


def _views(shape):
    # A shape and its forms with leading 1s dropped (legacy 4-D padding), down to 2 dims.
    shape = tuple(shape)
    out = [shape]
    while len(shape) > 2 and shape[0] == 1:
        shape = shape[1:]
        out.append(shape)
    return out


def coerce(src: np.ndarray, dst_shape: Sequence[int], where: str) -> tuple[np.ndarray, str]:
    """Source blob ndarray -> array of `dst_shape` holding the same values in Caffe's memory order.

    Returns (array, how): how is "copied" when the shapes agree (legacy 4-D shapes right-aligned,
    e.g. a stored 1x1x1x4096 bias into (4096,)), "reshaped" when a fully connected weight
    (Cout, C*kh*kw) becomes a convolution kernel (Cout, C, kh, kw) or back. Any other mismatch,
    above all a different element count, raises SurgeryError naming `where` and both shapes.
    """
    src = np.asarray(src)
    dst_shape = tuple(int(d) for d in dst_shape)
    if _strip(src.shape) == _strip(dst_shape):
        return src.reshape(dst_shape), "copied"
    count_src, count_dst = int(np.prod(src.shape)), int(np.prod(dst_shape))
    if count_src != count_dst:
        raise SurgeryError(
            f"{where}: source shape {tuple(src.shape)} ({count_src} values) does not fit "
            f"target shape {dst_shape} ({count_dst} values). The element counts must match "
            "exactly: check the class count (num_output) and the fc/conv kernel size of the "
            "target net against the source weights"
        )
    if any(
        a[0] == b[0] and (len(a) == 2 or len(b) == 2)
        for a in _views(src.shape)
        for b in _views(dst_shape)
    ):
        return src.reshape(dst_shape), "reshaped"
    raise SurgeryError(
        f"{where}: source shape {tuple(src.shape)} and target shape {dst_shape} hold the same "
        "number of values but are not a fully connected <-> convolution reshape (the output "
        "dimension must come first in both): refusing to scramble the weights"
    )


def transplant(
    new_net: ParamsHolder,
    net: ParamsHolder | str,
    suffix: str = "",
    verbose: bool = True,
    file: TextIO | None = None,
) -> Report:
    """Copy every parameter blob of `net` into the layer of `new_net` with the same name + suffix.

    new_net, net: pycaffe/torchcaffe nets, ParamSets, {layer: [ndarray]} dicts or (net only)
    caffemodel paths. Fully connected weights become the equivalent convolution kernels
    (fc6 (4096, 25088) -> (4096, 512, 7, 7), fc7 -> (4096, 4096, 1, 1)); legacy 4-D shapes
    match their right-aligned modern forms. Element counts must match exactly and the layers
    must hold the same number of blobs, else SurgeryError names layer, blob and both shapes.
    Source layers absent from new_net are dropped (reported). new_net is modified in place.
    Returns a Report (printed unless verbose=False).
    """
    dst = as_params(new_net)
    src = as_params(net)
    report = Report(f"transplant{f' (suffix {suffix!r})' if suffix else ''}:")
    seen = set()
    for name, src_blobs in src.params.items():
        target = name + suffix
        if target not in dst.params:
            shapes = ", ".join(str(tuple(b.data.shape)) for b in src_blobs)
            report.dropped.append(f"{name} [{shapes}] (no layer '{target}' in the target net)")
            continue
        seen.add(target)
        dst_blobs = dst.params[target]
        if len(dst_blobs) != len(src_blobs):
            raise SurgeryError(
                f"layer '{target}': the target holds {len(dst_blobs)} blobs "
                f"{[tuple(b.data.shape) for b in dst_blobs]} but source layer '{name}' holds "
                f"{len(src_blobs)} {[tuple(b.data.shape) for b in src_blobs]} "
                "(bias_term differs?)"
            )
        for i, (sb, db) in enumerate(zip(src_blobs, dst_blobs)):
            where = f"layer '{target}' blob {i} (from source layer '{name}')"
            arr, how = coerce(sb.data, db.data.shape, where)
            db.data[...] = arr
            line = f"{name} -> {target} blob {i} {tuple(sb.data.shape)}"
            if how == "reshaped":
                report.reshaped.append(f"{line} -> {tuple(db.data.shape)}")
            else:
                report.copied.append(line)
    for name in dst.params:
        if name not in seen:
            report.missing.append(name)
    if verbose:
        report.print(file=file or sys.stdout)
    return report
