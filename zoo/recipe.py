"""Training recipes of the FCN-ResNets (docs/recipes.md): augmentation, batch, schedule, heads.

    from zoo.recipe import RECIPES, augment_params
    RECIPES["caffe"]         # DeepLab-v2's Caffe recipe: the default of the ResNet models
    RECIPES["torchvision"]   # torchvision's reference recipe for its FCN-ResNet

A recipe says what the train net's data layer does to each image (random scale, crop, mirror;
layers.augment), how many images one solver step sees (`batch` = the data layer's batch_size x
the solver's iter_size), the SGD schedule (poly lr), the head's learning-rate multiplier and the
auxiliary loss on res4 (torchvision's; 0 = none). Where the torchvision recipe is not expressed
here: its BatchNorm layers learn with batch statistics; here every BatchNorm stays frozen
(global statistics, lr_mult 0) in both recipes, because batches small enough for one GPU or a
CPU make batch statistics noisy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from netspec.errors import NetSpecError


@dataclass(frozen=True)
class TrainRecipe:
    """One training recipe; sizes in pixels, rates per iteration (one solver step)."""

    name: str
    crop: int  # random crop side (pixels); smaller images are padded (mean, ignore label)
    scale: tuple  # random scale range (lo, hi) applied before cropping
    mirror: bool  # random horizontal flip
    batch: int  # images per solver step
    base_lr: float
    momentum: float
    weight_decay: float
    power: float  # poly: lr = base_lr * (1 - iter / max_iter) ** power
    max_iter: int = 0  # iterations; 0: from `epochs` over the dataset's training set
    epochs: int = 0
    head_lr: int = 10  # the new head's multiplier of the trunk's rate
    aux_weight: float = 0.0  # loss weight of the auxiliary head on res4 (0: none)
    aux_lr: int = 10
    source: str = ""

    def iterations(self, train_size: int) -> int:
        """Solver max_iter on a training set of `train_size` images (a DatasetRecord's
        train_size: VOC 2012 trainaug 10,582, Cityscapes train 2,975)."""
        if self.max_iter:
            return self.max_iter
        return math.ceil(self.epochs * train_size / self.batch)


RECIPES = {
    "caffe": TrainRecipe(
        "caffe",
        crop=321,
        scale=(0.5, 1.5),
        mirror=True,
        batch=10,
        base_lr=2.5e-4,
        momentum=0.9,
        weight_decay=5e-4,
        power=0.9,
        max_iter=20000,
        head_lr=10,
        source="DeepLab-v2's published Caffe solver (docs/recipes.md)",
    ),
    "torchvision": TrainRecipe(
        "torchvision",
        crop=480,
        scale=(0.5, 2.0),
        mirror=True,
        batch=8,
        base_lr=0.01,
        momentum=0.9,
        weight_decay=1e-4,
        power=0.9,
        epochs=30,
        head_lr=1,
        aux_weight=0.5,
        aux_lr=10,
        source="torchvision's segmentation reference (batch: its script's default 8)",
    ),
}
DEFAULT = "caffe"


def get(name: str | TrainRecipe | None) -> TrainRecipe:
    """The TrainRecipe called `name` (None: the default, 'caffe'; a TrainRecipe is returned as
    it is); NetSpecError names the known recipes."""
    if isinstance(name, TrainRecipe):
        return name
    name = name or DEFAULT
    if name not in RECIPES:
        raise NetSpecError(f"unknown recipe '{name}'; known recipes: {', '.join(RECIPES)}")
    return RECIPES[name]


def with_crop(recipe: str | TrainRecipe | None, crop: int | None = None) -> TrainRecipe:
    """`recipe` (a name or TrainRecipe) with its crop side replaced by `crop` (pixels > 0)."""
    rec = get(recipe)
    if crop is None:
        return rec
    if int(crop) < 1:
        raise NetSpecError(f"crop must be a positive number of pixels, got {crop}")
    return replace(rec, crop=int(crop))


def split_batch(recipe: TrainRecipe, batch_size: int | None = None) -> tuple[int, int]:
    """(data layer batch_size, solver iter_size) giving the recipe's images per step.

    batch_size None: 1 image per forward and iter_size = batch (Caffe's way, any memory);
    otherwise batch_size must divide the recipe's batch (NetSpecError saying which would)."""
    if batch_size is None:
        return 1, recipe.batch
    b = int(batch_size)
    if b < 1 or recipe.batch % b:
        ok = [d for d in range(1, recipe.batch + 1) if recipe.batch % d == 0]
        raise NetSpecError(
            f"--batch {batch_size}: the {recipe.name} recipe steps on {recipe.batch} images; "
            f"use a batch that divides it ({', '.join(map(str, ok))})"
        )
    return b, recipe.batch // b


def augment_params(recipe: TrainRecipe, batch_size: int = 1) -> dict[str, Any]:
    """The data-layer param_str keys of the recipe's augmentation (layers.augment)."""
    return dict(
        crop=recipe.crop, scale=tuple(recipe.scale), mirror=recipe.mirror, batch_size=batch_size
    )


def solver_settings(
    recipe: TrainRecipe, train_size: int, batch_size: int | None = None
) -> dict[str, Any]:
    """zoo solver keyword arguments (base_lr, momentum, weight_decay, poly, iter_size, max_iter)
    for a training set of `train_size` images."""
    _, iter_size = split_batch(recipe, batch_size)
    return dict(
        base_lr=recipe.base_lr,
        momentum=recipe.momentum,
        weight_decay=recipe.weight_decay,
        lr_policy="poly",
        power=recipe.power,
        iter_size=iter_size,
        max_iter=recipe.iterations(train_size),
    )
