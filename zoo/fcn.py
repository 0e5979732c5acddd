"""An FCN's net from its ModelRecord: data layer or deploy inputs, trunk, heads, losses.

    net = fcn.build(zoo.record("voc-fcn8s"), "val", width=0.125)   # caffe_pb2.NetParameter

What is built is read from the record, never from its name: the dataset gives the data layer of
each split (zoo.pydata), the class counts and the deploy input; the backbone gives the trunk;
`head` picks the scoring head (zoo.heads); `fusion` says how several inputs meet (early: one
trunk on their concatenation; late: one trunk per input, scores averaged); each scored head
gets its SoftmaxWithLoss (ignoring 255) on the train and eval nets.
"""

from __future__ import annotations

from caffeio import caffe_pb2
from netspec.builder import L, NetSpec, P, Top
from netspec.coord import crop
from netspec.errors import NetSpecError

from . import pydata
from . import recipe as recipes
from .heads import HEADS, Build
from .records import ModelRecord
from .trunks import score_conv, softmax_loss, upsample


def check_split(model: str, split: str, stems: tuple) -> None:
    """Raise a NetSpecError naming the model's valid net stems when `split` is not one."""
    if split not in stems:
        raise NetSpecError(
            f"{model}: no net '{split}'; this model has {', '.join(repr(s) for s in stems)}"
        )


def deploy_input(
    channels: int = 3, size: int | tuple[int, int] = 500, name: str | None = None
) -> Top:
    """Input layer top of shape 1 x channels x size x size (size: int or (H, W)).

    name: the layer's name; None names it after its top (net_spec's rule). Deploy nets with one
    image input call it "input" with top "data", as the release's voc-fcn8s deploy net does (and
    as Caffe's upgrade of legacy `input:` fields names the layer it creates).
    """
    h, w = (size, size) if isinstance(size, int) else size
    kw = {} if name is None else dict(name=name)
    return L.Input(shape=dict(dim=[1, channels, h, w]), **kw)


def _class_counts(rec, num_classes):
    counts = [len(h.classes) for h in rec.heads]
    if num_classes is None:
        return counts
    if isinstance(num_classes, int):
        return [num_classes] + counts[1:]
    if len(num_classes) != len(counts):
        raise NetSpecError(
            f"{rec.name}: num_classes {tuple(num_classes)} gives {len(num_classes)} counts for "
            f"{len(counts)} heads ({', '.join(h.name for h in rec.heads)})"
        )
    return list(num_classes)


def data_inputs(b: Build, data_root: str | None = None, batch_size: int = 1) -> Top:
    """Write the net's inputs: the deploy Input layer(s), or the split's Python data layer
    (tops: the inputs, then the labels). One input is blob 'data' (its Input layer 'input');
    several keep their kinds' names. Returns the blob the scores are cropped to."""
    n, rec, ds = b.n, b.record, b.record.dataset
    single = len(rec.inputs) == 1
    names = ["data"] if single else list(rec.inputs)
    if b.split == "deploy":
        for name, kind in zip(names, rec.inputs):
            size, layer_name = ds.deploy_size, "input" if single else None
            n[name] = deploy_input(ds.inputs[kind].channels, size, layer_name)
    else:
        split = ds.split_of[b.split]
        labels = [label for label, _ in ds.labels]
        extra = None
        if b.recipe is not None and b.split == ds.stems[0]:
            extra = recipes.augment_params(b.recipe, batch_size)
        root = data_root or ds.root or None
        kw = pydata.python_layer(ds.layers[split], split, root, [*rec.inputs, *labels], extra)
        for name, top in zip(names + labels, L.Python(**kw)):
            n[name] = top
    return n[names[0]]


def _late_fusion(b, k):
    """One trunk per input (layer names suffixed with its kind), each scored (score_fr<kind>);
    the scores averaged (score_fused), upsampled at the trunk's stride and cropped: score."""
    n, rec = b.n, b.record
    if rec.head != "32s":
        raise NetSpecError(f"{rec.name}: late fusion is built for the 32s head only")
    frs = []
    for kind in rec.inputs:
        top = rec.backbone.trunk(n, n[kind], b.width, dropout=b.train, suffix=kind)
        n["score_fr" + kind] = score_conv(top, k)
        frs.append(n["score_fr" + kind])
    weights = [1 / len(frs)] * len(frs)
    n.score_fused = L.Eltwise(*frs, operation=P.Eltwise.SUM, coeff=weights)
    n.upscore = upsample(n.score_fused, k, 32, rec.backbone.upscore_kernel)
    n.score = crop(n.upscore, n[rec.inputs[0]])
    return n.score


def build(
    rec: ModelRecord,
    split: str,
    width: float = 1.0,
    data_root: str | None = None,
    num_classes: int | tuple[int, ...] | None = None,
    recipe: str | recipes.TrainRecipe | None = None,
    batch_size: int | None = None,
) -> caffe_pb2.NetParameter:
    """caffe_pb2.NetParameter of `rec`'s net `split` (one of rec.net_files).

    width: channel multiplier of the trunk; data_root: written into the data layer's paths;
    num_classes: an int (the first head's) or one count per head; recipe, batch_size: the
    training recipe (zoo.recipe name or TrainRecipe; default the record's) and images per
    forward of the training net, for the models trained by a recipe.
    """
    check_split(rec.name, split, rec.net_files)
    rec_recipe = None
    if rec.recipe:
        rec_recipe = recipes.get(recipe or rec.recipe)
        batch_size, _ = recipes.split_batch(rec_recipe, batch_size)
    elif recipe is not None or batch_size is not None:
        raise NetSpecError(f"{rec.name}: training recipes are for the models trained by one")
    train = split != "deploy"
    training = split == rec.dataset.stems[0]
    aux = bool(rec_recipe is not None and rec_recipe.aux_weight and training)
    b = Build(NetSpec(), rec, split, width, rec_recipe, train, aux)
    n, counts = b.n, _class_counts(rec, num_classes)
    image = data_inputs(b, data_root, batch_size)
    if rec.fusion == "late":
        _late_fusion(b, counts[0])
        heads = rec.heads[:1]
    else:
        options = {}
        if rec.fusion == "early":
            n.data = L.Concat(*(n[kind] for kind in rec.inputs))
            image = n.data
        if rec.first_conv:
            options["conv1_name"] = rec.first_conv
        top = rec.backbone.trunk(n, image, width, dropout=train, taps=b.taps, **options)
        heads = rec.heads
    for head, k in zip(heads, counts):
        if rec.fusion != "late":
            HEADS[rec.head](b, top, image, k, head.suffix)
        if train:
            n[head.loss] = softmax_loss(n[head.score], n[head.label], normalize=rec.normalize_loss)
    if aux:
        label = n[rec.heads[0].label]
        n.loss_aux = softmax_loss(n.score_aux, label, True, rec_recipe.aux_weight)
    return n.to_proto(name=rec.name)
