"""What a dataset, a backbone and a model are: frozen records, one place for each fact.

    DatasetRecord   class names, means, splits and their sizes, which split trains and which
                    evaluates, the Python data layer of each split (module/class names and
                    param_str keys, as netspec writes them into python_param), the synthetic twin
    Backbone        an ILSVRC trunk: its FCN trunk builder, its classifier builder, the
                    classifier files as the model-zoo pages name them, the classifier layer
    ModelRecord     one FCN: dataset, backbone, head, inputs and fusion, scored heads, solver
                    settings or training recipe, where its initialisation comes from

The records hold names and numbers only (no data is read, nothing is imported from the
packages that use them): netspec builds nets from them (zoo.fcn), surgery stages inits,
solvers train, score and infer, layers read class names and means.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Input:
    """One kind of input image a data layer serves (colour, HHA, depth, ...).

    mean: per-channel mean subtracted from the pixels, in the order the net sees them (BGR for
    colour pictures); mean_dtype: the dtype the release subtracted it in (float64 for VOC/SBD,
    float32 elsewhere: the rounding of `image - mean` depends on it); bgr: colour pictures are
    read as RGB and turned to BGR (False: the channels are kept as stored, as HHA's).
    """

    channels: int = 3
    mean: tuple = ()
    mean_dtype: str = "float32"
    bgr: bool = True

    def mean_array(self) -> np.ndarray:
        """The mean as the data layers subtract it: ndarray (channels,) of mean_dtype."""
        return np.array(self.mean, dtype=self.mean_dtype)


# DataLayer.params value written as the list of the layer's top kinds (NYUD's 'tops' key).
TOPS = "<tops>"


@dataclass(frozen=True)
class DataLayer:
    """A Python data layer: python_param module and layer (class) names, and the param_str keys
    in the order they are written. String values are templates: '{root}' is the data root and
    '{split}' the split; the value TOPS becomes the list of the layer's top kinds."""

    module: str
    layer: str
    params: tuple = ()  # ((key, value), ...)


@dataclass(frozen=True)
class Head:
    """One scored output: `score` blob (N x C x H x W), `label` blob, its own `loss` blob;
    `classes` its class names; `exclude` class indices left out of the means (classes absent
    from the evaluation split)."""

    name: str
    score: str
    label: str
    loss: str
    classes: tuple
    exclude: tuple = ()

    @property
    def suffix(self) -> str:
        """What the head's layer names end with: 'score' + suffix is its score blob."""
        return self.score[len("score") :]


@dataclass(frozen=True)
class DatasetRecord:
    """A dataset as the nets, the data layers, scoring and inference see it.

    labels: ((label top, class names), ...) in the data layer's order; the first is the main
    task (most datasets have one, 'label'). inputs: {kind: Input} of the images its data layer
    can serve. splits: {split: images}. stems: the net files (training net, evaluation net);
    split_of maps each to the split it reads. layers: {split: DataLayer}. absent: {label top:
    class names absent from the evaluation split}. deploy_size: the deploy nets' input side
    (int or (H, W)). synth: 'module:function' writing a synthetic twin in the real layout,
    called as function(synth_dir with {root} = the data root, n=, size=, seed=). root: the
    data root its nets read when none is given (a user's own dataset folder, zoo.custom);
    '' for the zoo's datasets, which sit under the toolkit's data root.
    """

    name: str
    title: str
    labels: tuple
    inputs: Mapping[str, Input]
    splits: Mapping[str, int]
    stems: tuple
    split_of: Mapping[str, str]
    layers: Mapping[str, DataLayer]
    absent: Mapping[str, tuple] = field(default_factory=dict)
    deploy_size: int | tuple = 500
    synth: str = ""
    synth_dir: str = "{root}"
    root: str = ""

    @property
    def classes(self) -> tuple:
        """Class names of the main task (the first label), in output order."""
        return self.labels[0][1]

    @property
    def train_split(self) -> str:
        return self.split_of[self.stems[0]]

    @property
    def eval_split(self) -> str:
        return self.split_of[self.stems[1]]

    @property
    def train_size(self) -> int:
        """Images in the training split (a recipe's epochs count over it)."""
        return self.splits[self.train_split]

    @property
    def eval_size(self) -> int:
        """Images in the evaluation split (the solver's test_iter)."""
        return self.splits[self.eval_split]

    def heads(self) -> tuple:
        """The scored heads of a net on this dataset, by the release's naming: one label ->
        score/label/loss; several -> score_<label>, loss for the first, loss_<label> after."""
        if len(self.labels) == 1:
            label, names = self.labels[0]
            return (Head("score", "score", label, "loss", names, self._exclude(label, names)),)
        out = []
        for i, (label, names) in enumerate(self.labels):
            loss = "loss" if i == 0 else f"loss_{label}"
            exclude = self._exclude(label, names)
            out.append(Head(label, f"score_{label}", label, loss, names, exclude))
        return tuple(out)

    def _exclude(self, label, names):
        return tuple(names.index(c) for c in self.absent.get(label, ()))

    def top_channels(self) -> dict:
        """{top kind: channels} of what the data layers serve (labels: 1 channel)."""
        out = {kind: inp.channels for kind, inp in self.inputs.items()}
        out.update({label: 1 for label, _ in self.labels})
        return out


@dataclass(frozen=True)
class Backbone:
    """An ILSVRC classifier and the FCN trunk made from it.

    trunk(n, bottom, width=1.0, dropout=True, taps=None, **options) -> top: the FCN trunk
    written into NetSpec `n` (options: suffix, conv1_name where the trunk has them; taps: a dict
    that receives the trunk's stage tops by stride, where it has them). classifier(width=1.0,
    num_classes=1000, input_size=None) -> NetParameter: the ILSVRC deploy net (layer names as the
    released ones). files: (deploy prototxt, caffemodel) as the model-zoo pages name them;
    classifier_layer: the last learned layer (present in an fcnized net, absent from an FCN);
    input_size: the classifier's native input side; upscore_kernel: the kernel of the FCN's
    final upsampling at the trunk's stride (2 x stride; 2 x stride - 1 where odd pooling kernels
    put the grid on whole pixels). The fcnized classifier is called '<name>-fcn'.
    """

    name: str
    title: str
    trunk: Callable
    classifier: Callable
    files: tuple
    classifier_layer: str
    input_size: int
    upscore_kernel: int = 64

    @property
    def fcnized(self) -> str:
        """Name of the fcnized classifier (models/ilsvrc-nets/<fcnized>.caffemodel)."""
        return f"{self.name}-fcn"


@dataclass(frozen=True)
class Init:
    """Where a model's training starts: the fcnized classifier of its backbone (ilsvrc), a
    trained model (`model`: 16s from 32s, 8s from 16s), or late fusion of trained models
    (`late`: ((suffix, model), ...)). early=True: the first convolution takes more channels
    than the classifier's (color-d: BGR + depth), the extra ones start at zero."""

    ilsvrc: str = ""
    model: str = ""
    late: tuple = ()
    early: bool = False

    @property
    def kind(self) -> str:
        """'ilsvrc', 'model' or 'late'."""
        return "late" if self.late else "model" if self.model else "ilsvrc"


# The usual start: the fcnized ILSVRC classifier of the model's backbone.
FROM_ILSVRC = Init()


@dataclass(frozen=True)
class SolverSettings:
    """A model's solver values (the release's, field by field); the rest is zoo.solver's.
    snapshot None leaves the field out (the release's SIFT Flow solvers)."""

    base_lr: float | None = None
    momentum: float = 0.99
    iter_size: int = 1
    max_iter: int = 100000
    snapshot: int | None = 4000

    def kwargs(self) -> dict:
        """These settings as zoo.solver.solver keyword arguments."""
        return dict(
            base_lr=self.base_lr,
            momentum=self.momentum,
            iter_size=self.iter_size,
            max_iter=self.max_iter,
            snapshot=self.snapshot,
        )


@dataclass(frozen=True)
class ModelRecord:
    """One FCN model.

    head: how the trunk is scored and upsampled (zoo.heads.HEADS: '32s', '16s', '8s',
    '8s-atonce', 'dilated8s'). inputs: the input kinds its nets read (dataset.inputs keys);
    one input is blob 'data'. fusion: '' (one trunk), 'early' (inputs concatenated into one
    trunk whose first convolution is renamed `first_conv`) or 'late' (one trunk per input, layer
    names suffixed with the input kind, scores averaged). scored: its heads (None: the
    dataset's). solver: SolverSettings; recipe: the default training recipe (zoo.recipe) of
    models trained by one (its values replace the solver's rate, momentum, iter_size and
    max_iter). score_every: iterations between scorings while training. normalize_loss: the
    loss is averaged over pixels (else summed, as the release's VGG nets). release: one of the
    FCN release's models (zoo.MODELS); else a model on another backbone (zoo.BACKBONE_MODELS).
    """

    name: str
    dataset: DatasetRecord
    backbone: Backbone
    head: str
    init: Init
    solver: SolverSettings = SolverSettings()
    inputs: tuple = ("data",)
    fusion: str = ""
    first_conv: str = ""
    scored: tuple | None = None
    recipe: str | None = None
    score_every: int = 4000
    normalize_loss: bool = False
    release: bool = True

    @property
    def heads(self) -> tuple:
        """Its scored heads (solvers.evaluation.score reads score/label/loss blobs, classes,
        exclusions)."""
        return self.scored if self.scored is not None else self.dataset.heads()

    @property
    def num_classes(self) -> int | tuple:
        """Class count of its head, or a tuple with one per head (SIFT Flow: (33, 3))."""
        counts = tuple(len(h.classes) for h in self.heads)
        return counts[0] if len(counts) == 1 else counts

    @property
    def net_files(self) -> tuple:
        """Its net file stems: (training net, evaluation net, 'deploy')."""
        return (*self.dataset.stems, "deploy")

    @property
    def image_input(self) -> Input:
        """The Input of its first input kind (its mean, channels, channel order)."""
        return self.dataset.inputs[self.inputs[0]]

    @property
    def mean(self) -> tuple:
        """Mean of its (first) input, in the order the net sees the channels (BGR)."""
        return self.image_input.mean

    @property
    def classes(self) -> tuple:
        """Class names of its main head, in output order."""
        return self.heads[0].classes

    @property
    def train_split(self) -> str:
        return self.dataset.train_split

    @property
    def eval_split(self) -> str:
        return self.dataset.eval_split

    @property
    def eval_size(self) -> int:
        return self.dataset.eval_size

    @property
    def classifier_files(self) -> tuple:
        """(deploy prototxt, caffemodel) of the ILSVRC classifier its trunk comes from."""
        return self.backbone.files

    @property
    def init_sources(self) -> tuple:
        """What its training starts from, by name: (fcnized classifier,) as 'vgg16-fcn',
        (trained model,) for 16s from 32s, or the late-fused models in `init.late` order."""
        if self.init.kind == "late":
            return tuple(model for _, model in self.init.late)
        if self.init.kind == "model":
            return (self.init.model,)
        return (self.init.ilsvrc or self.backbone.fcnized,)
