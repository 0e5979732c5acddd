"""Initialisations for the NYUDv2 fusion nets: early (color-d) and late (color-hha) fusion."""

from __future__ import annotations

import sys
from collections.abc import Mapping

import numpy as np

from .errors import SurgeryError
from .paramset import ParamsHolder, as_params
from .report import Report
from .transplant import transplant


def init_color_d(
    new_net: ParamsHolder | str,
    net: ParamsHolder | str,
    layer: str = "conv1_1_bgrd",
    source_layer: str = "conv1_1",
    verbose: bool = True,
) -> Report:
    """Early fusion: transplant `net` into `new_net`, then build the 4-channel first layer.

    `layer` (Cout, 4, k, k) takes source `source_layer`'s (Cout, 3, k, k) for its BGR channels
    and, for the depth channel, the mean of those 3 channels; the bias is copied. Returns the
    Report of the whole step.
    """
    dst, src = as_params(new_net), as_params(net)
    report = transplant(dst, src, verbose=False)
    for owner, name, what in ((src, source_layer, "source"), (dst, layer, "target")):
        if name not in owner.params:
            raise SurgeryError(f"color-d init: no layer '{name}' in the {what} net")
    w_src = np.asarray(src.params[source_layer][0].data)
    w_dst = dst.params[layer][0].data
    c = w_src.shape[1] if w_src.ndim == 4 else None
    if (
        w_src.ndim != 4
        or w_dst.ndim != 4
        or w_dst.shape[1] != c + 1
        or w_dst.shape[0] != w_src.shape[0]
        or w_dst.shape[2:] != w_src.shape[2:]
    ):
        raise SurgeryError(
            f"color-d init: '{layer}' weight {tuple(w_dst.shape)} must be source "
            f"'{source_layer}' weight {tuple(w_src.shape)} with one more input channel"
        )
    w_dst[:, :c] = w_src
    w_dst[:, c] = w_src.mean(axis=1)
    for i, (sb, db) in enumerate(zip(src.params[source_layer][1:], dst.params[layer][1:]), 1):
        from .transplant import coerce

        db.data[...] = coerce(sb.data, db.data.shape, f"layer '{layer}' blob {i}")[0]
    report.missing = [m for m in report.missing if m != layer]
    report.dropped = [d for d in report.dropped if not d.startswith(source_layer + " ")]
    report.notes.append(
        f"{layer} {tuple(w_dst.shape)}: channels 0..{c - 1} from {source_layer}, channel {c} "
        f"(depth) = mean of {source_layer} over its {c} input channels"
    )
    if verbose:
        report.print(file=sys.stdout)
    return report


def init_late_fusion(
    new_net: ParamsHolder | str,
    sources: Mapping[str, ParamsHolder | str],
    verbose: bool = True,
) -> Report:
    """Late fusion: transplant each single-modality net with its suffix into `new_net`.

    sources: {suffix: net or caffemodel path}, e.g. {"color": "color32s.caffemodel",
    "hha": "hha32s.caffemodel"}. A target layer filled by no source is reported. Returns Report.
    """
    dst = as_params(new_net)
    report = Report("late fusion:")
    filled = set()
    for suffix, src in sources.items():
        r = transplant(dst, src, suffix=suffix, verbose=False)
        report.copied += r.copied
        report.reshaped += r.reshaped
        report.dropped += r.dropped
        filled |= set(dst.params) - set(r.missing)
    report.missing = [n for n in dst.params if n not in filled]
    if verbose:
        report.print(file=sys.stdout)
    return report
