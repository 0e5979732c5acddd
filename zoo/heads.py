"""How an FCN scores its trunk and upsamples the score: the heads a ModelRecord names.

    HEADS["32s"](b, top, image, k, suffix)  ->  the score top (N x k x H x W of `image`)

`b` is the Build (below) of the net being written (NetSpec `n`, the record, split, width,
recipe, the trunk's taps); `top` the trunk's last top, `image` the input blob the score is
cropped to, `k` the class count, `suffix` the head's layer-name suffix ('_sem', '_geo' for SIFT
Flow's two heads; '' for one).

    32s         score_fr -> upscore (2 x 32, or the backbone's odd kernel) -> score
    16s / 8s    the skip architectures from pool4 (and pool3), VGG-16's names
    8s-atonce   8s with pool4 and pool3 scaled by 0.01 and 0.0001 (the at-once net)
    dilated8s   the dilated FCN-ResNets' simple head (zoo.resnet) -> upscore k15 s8 -> score,
                and the recipe's auxiliary head on the trunk's stage-4 tap when it has one
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from netspec.coord import crop
from netspec.errors import NetSpecError

from .resnet import simple_head
from .trunks import fcn8s_head, fcn16s_head, fcn32s_head, upsample

if TYPE_CHECKING:
    from netspec.builder import NetSpec, Top

    from .recipe import TrainRecipe
    from .records import ModelRecord


@dataclass
class Build:
    """One net being written: NetSpec `n`, the record, the net stem `split`, `width`; `train`:
    a net with losses and dropout (not deploy); `aux`: the recipe's auxiliary loss is on (the
    training net of a recipe with aux_weight); `taps`: the trunk's stage tops."""

    n: NetSpec
    record: ModelRecord
    split: str
    width: float
    recipe: TrainRecipe | None
    train: bool
    aux: bool
    taps: dict[int, Top] = field(default_factory=dict)


def fcn32s(b: Build, top: Top, image: Top, k: int, suffix: str = "") -> Top:
    """score_fr -> upscore (the backbone's kernel, stride 32) -> score."""
    return fcn32s_head(b.n, top, image, k, suffix, kernel=b.record.backbone.upscore_kernel)


def fcn16s(b: Build, top: Top, image: Top, k: int, suffix: str = "") -> Top:
    """The skip from pool4: upscore2 + score_pool4 -> upscore16 -> score."""
    return fcn16s_head(b.n, top, image, k, suffix)


def fcn8s(b: Build, top: Top, image: Top, k: int, suffix: str = "") -> Top:
    """The skips from pool4 and pool3 -> upscore8 -> score."""
    return fcn8s_head(b.n, top, image, k, suffix)


def fcn8s_atonce(b: Build, top: Top, image: Top, k: int, suffix: str = "") -> Top:
    """fcn8s with pool4 scaled by 0.01 and pool3 by 0.0001 (the at-once net)."""
    return fcn8s_head(b.n, top, image, k, suffix, atonce=True)


def dilated8s(b: Build, top: Top, image: Top, k: int, suffix: str = "") -> Top:
    """The FCN-ResNets' simple head -> upscore (stride 8) -> score (+ the auxiliary head)."""
    if suffix:
        raise NetSpecError(f"{b.record.name}: the dilated8s head scores one label only")
    n, rec, kernel = b.n, b.recipe, b.record.backbone.upscore_kernel
    kw = {} if rec is None else dict(head_lr=rec.head_lr)
    fr = simple_head(n, top, k, b.width, b.train, **kw)
    n.upscore = upsample(fr, k, 8, kernel)
    n.score = crop(n.upscore, image)
    if b.aux:
        if 4 not in b.taps:
            raise NetSpecError(f"{b.record.name}: the auxiliary head needs the trunk's stage 4")
        aux = simple_head(n, b.taps[4], k, b.width, b.train, rec.aux_lr, "head_aux", 256,
                          "score_aux_fr")  # fmt: skip
        n.upscore_aux = upsample(aux, k, 8, kernel)
        n.score_aux = crop(n.upscore_aux, image)
    return n.score


HEADS = {
    "32s": fcn32s,
    "16s": fcn16s,
    "8s": fcn8s,
    "8s-atonce": fcn8s_atonce,
    "dilated8s": dilated8s,
}
