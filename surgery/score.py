"""Grow a score (classifier) layer to more classes, keeping the classes it already had."""

from __future__ import annotations

import numpy as np

from .errors import SurgeryError
from .paramset import ParamsHolder, as_params


def expand_score(
    new_net: ParamsHolder | str, new_layer: str, net: ParamsHolder | str, layer: str
) -> int:
    """Copy the first n outputs of score layer `layer` in `net` into `new_layer` of `new_net`.

    Weights (n, C, kh, kw) (or fc (n, K)) go to rows [:n] of (m, C, kh, kw) with m >= n; the
    bias goes to [:n] of a modern 1-D (m,) bias or the last axis of a legacy (1, 1, 1, m) one.
    The remaining rows keep their values. Errors name both layers and shapes. Returns n.
    """
    dst, src = as_params(new_net), as_params(net)
    for owner, name, what in ((src, layer, "source"), (dst, new_layer, "target")):
        if name not in owner.params:
            raise SurgeryError(f"expand_score: no layer '{name}' in the {what} net")
    src_blobs, dst_blobs = src.params[layer], dst.params[new_layer]
    if len(src_blobs) != len(dst_blobs):
        raise SurgeryError(
            f"expand_score: '{layer}' holds {len(src_blobs)} blobs, '{new_layer}' holds "
            f"{len(dst_blobs)} (bias_term differs?)"
        )
    w_src, w_dst = np.asarray(src_blobs[0].data), dst_blobs[0].data
    n, m = w_src.shape[0], w_dst.shape[0]
    if w_src.ndim != w_dst.ndim or w_src.shape[1:] != w_dst.shape[1:] or n > m:
        raise SurgeryError(
            f"expand_score: weight of '{layer}' {tuple(w_src.shape)} does not fit the first "
            f"rows of '{new_layer}' {tuple(w_dst.shape)} (same input shape and at least as "
            "many outputs needed)"
        )
    w_dst[:n] = w_src
    for i, (sb, db) in enumerate(zip(src_blobs[1:], dst_blobs[1:]), 1):
        b_src, b_dst = np.asarray(sb.data), db.data
        if b_src.size != n or b_dst.size != m or b_dst.shape[-1] != m:
            raise SurgeryError(
                f"expand_score: blob {i} of '{layer}' {tuple(b_src.shape)} and of '{new_layer}' "
                f"{tuple(b_dst.shape)}: expected biases of {n} and {m} values"
            )
        b_dst[..., :n] = b_src.reshape(-1)
    return n
