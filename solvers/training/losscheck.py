"""The 'weights not initialised' hint: the per-pixel loss of the first iterations at ln(C)."""

from __future__ import annotations

import math
from typing import Any


class LossCheck:
    """Per-pixel loss of the first iterations vs ln(C): the 'weights not initialised' hint."""

    def __init__(self, net_param: Any, n_iters: int) -> None:
        self.n_iters = n_iters
        self.layers = [layer for layer in net_param.layer if layer.type == "SoftmaxWithLoss"]
        self.seen = []
        self.done = False

    def per_pixel(self, net: Any) -> tuple[float | None, int | None]:
        """(the first SoftmaxWithLoss's loss per valid pixel, its classes); (None, None) when
        the net has none."""
        import numpy as np

        if not self.layers:
            return None, None
        layer = self.layers[0]
        score, label = net.blobs[layer.bottom[0]], net.blobs[layer.bottom[1]]
        loss = float(np.sum(net.blobs[layer.top[0]].data))
        lp = layer.loss_param
        lab = label.data
        valid = lab != lp.ignore_label if lp.HasField("ignore_label") else np.ones_like(lab, bool)
        n_valid = max(int(valid.sum()), 1)
        mode = lp.normalization if lp.HasField("normalization") else None
        if mode is None:
            mode = lp.VALID if (not lp.HasField("normalize") or lp.normalize) else lp.BATCH_SIZE
        shape = score.shape
        norm = {
            lp.VALID: n_valid,
            lp.BATCH_SIZE: shape[0],
            lp.FULL: int(np.prod(shape)) // shape[1],
            lp.NONE: 1,
        }[mode]
        return loss * max(norm, 1) / n_valid, shape[1]

    def __call__(self, net: Any, iteration: int) -> str | None:
        """Record this iteration; -> hint text once when the loss sat at ln(C) throughout."""
        if self.done or not self.layers:
            return None
        value, classes = self.per_pixel(net)
        self.seen.append((value, classes))
        if len(self.seen) < self.n_iters:
            return None
        self.done = True
        ln_c = math.log(classes)
        if all(abs(v - ln_c) <= 0.01 * ln_c for v, _ in self.seen):
            return (
                f"the loss per pixel stayed at ln({classes}) = {ln_c:.4f} for the first "
                f"{self.n_iters} iterations: the weights were probably not initialised "
                "(all-zero trunk). Run surgery (python -m surgery fcnize / stage) or check "
                "--weights."
            )
        return None
