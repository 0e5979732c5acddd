"""What each model of the release needs to be trained and scored: heads, classes, schedule."""

from dataclasses import dataclass, field

from zoo.classes import (
    CITYSCAPES_CLASSES,
    CONTEXT_CLASSES,
    NYUD_CLASSES,
    SIFTFLOW_ABSENT_IN_TEST,
    SIFTFLOW_CLASSES,
    SIFTFLOW_GEO_CLASSES,
    VOC_CLASSES,
)


@dataclass(frozen=True)
class Head:
    """One scored output: `score` blob (N x C x H x W), `label` blob, its own `loss` blob."""

    name: str
    score: str
    label: str
    loss: str
    classes: tuple
    exclude: tuple = ()  # class indices left out of the means (absent from the eval split)


@dataclass(frozen=True)
class Recipe:
    """Per-model training recipe: eval net stem, heads, iterations between scorings."""

    model: str
    family: str
    heads: tuple
    eval_stem: str
    train_stem: str
    score_every: int
    extra: dict = field(default_factory=dict)


_VOC = (Head("score", "score", "label", "loss", VOC_CLASSES),)
_NYUD = (Head("score", "score", "label", "loss", NYUD_CLASSES),)
_CONTEXT = (Head("score", "score", "label", "loss", CONTEXT_CLASSES),)
_CITYSCAPES = (Head("score", "score", "label", "loss", CITYSCAPES_CLASSES),)
_SIFT = (
    Head(
        "sem",
        "score_sem",
        "sem",
        "loss",
        SIFTFLOW_CLASSES,
        tuple(SIFTFLOW_CLASSES.index(c) for c in SIFTFLOW_ABSENT_IN_TEST),
    ),
    # The release scored this head with the semantic loss; each head reports its own here.
    Head("geo", "score_geo", "geo", "loss_geo", SIFTFLOW_GEO_CLASSES),
)


def recipe(model):
    """The Recipe of a model name (one of zoo.ALL_MODELS)."""
    if model.startswith("voc-"):
        return Recipe(model, "voc", _VOC, "val", "train", 4000)
    if model.startswith("nyud-"):
        return Recipe(model, "nyud", _NYUD, "test", "trainval", 2000)
    if model.startswith("siftflow-"):
        return Recipe(model, "siftflow", _SIFT, "test", "trainval", 2000)
    if model.startswith("pascalcontext-"):
        return Recipe(model, "pascalcontext", _CONTEXT, "val", "train", 4000)
    if model.startswith("cityscapes-"):
        return Recipe(model, "cityscapes", _CITYSCAPES, "val", "train", 2000)
    raise ValueError(f"unknown model '{model}'")
