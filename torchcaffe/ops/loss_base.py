"""What Caffe's LossLayer gives every loss: a scalar top (loss weight 1 by default), bottoms
0 and 1 with the same first dimension, no forced backward to the labels (bottom 1), and an
error, as Caffe's fatal check, when a backward to the labels is asked for anyway."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import NetError
from .base import BaseLayer

if TYPE_CHECKING:
    from .base import Tensors

LOG_THRESHOLD = float(np.float32(1e-20))  # Caffe's kLOG_THRESHOLD


class LossLayer(BaseLayer):
    is_loss = True
    n_bottom = (2, 2)
    n_top = (1, 1)
    label_bottoms = (1,)  # bottoms Caffe never backpropagates to

    def allow_force_backward(self, j: int) -> bool:
        return j not in self.label_bottoms

    def check_first_dims(self, xs: Tensors) -> None:
        a, b = xs[0], xs[1]
        if a.dim() == 0 or b.dim() == 0 or a.shape[0] != b.shape[0]:
            raise NetError(
                f"{self.where}: bottoms 0 {tuple(a.shape)} and 1 {tuple(b.shape)} must have the "
                "same first dimension (the batch)"
            )

    def refuse_label_backward(self, j: int) -> NetError:
        """The error Caffe stops with when a backward to bottom j (a label input) is needed."""
        return NetError(
            f"{self.where}: {self.type} cannot backpropagate to bottom {j} "
            f"'{self.lp.bottom[j]}' (labels); set propagate_down: false for it"
        )

    def labels(
        self, label: torch.Tensor, classes: int, ignore: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer labels as Caffe casts them (truncation toward 0); values outside
        0..classes-1 (other than `ignore`) are an error here (Caffe reads past its buffer)."""
        lab = label.detach().to(torch.int64)  # float -> int truncates toward zero, as C++
        valid = torch.ones_like(lab, dtype=torch.bool) if ignore is None else lab != ignore
        bad = valid & ((lab < 0) | (lab >= classes))
        if bool(bad.any()):
            v = int(lab[bad][0])
            raise NetError(
                f"{self.where}: label value {v} in bottom '{self.lp.bottom[1]}' is outside "
                f"0..{classes - 1}" + (f" (ignore_label {ignore})" if ignore is not None else "")
            )
        return lab, valid


def legacy_dims(shape: Sequence[int]) -> tuple[int, ...]:
    """Caffe's num, channels, height, width of a blob with <= 4 axes (1 where absent)."""
    s = tuple(shape) + (1,) * (4 - len(shape))
    return s[:4]


def loss_normalizer(mode: str, outer: int, inner: int, valid: float) -> float:
    """LossParameter normalization: FULL outer*inner, VALID the valid count, BATCH_SIZE outer,
    NONE 1; never below 1."""
    n = {"FULL": outer * inner, "VALID": valid, "BATCH_SIZE": outer, "NONE": 1}[mode]
    return max(1.0, float(n))


MODES = {0: "FULL", 1: "VALID", 2: "BATCH_SIZE", 3: "NONE"}
