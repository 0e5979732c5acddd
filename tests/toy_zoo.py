"""Worked examples of docs/adding.md, as a user's own module would hold them: a dataset and a
backbone added to the zoo at run time, without editing the toolkit.

- Dataset "toyshapes" (3 classes: background, square, disc): its record, its data layer
  (ToySegDataLayer; this module is the python_param module the nets name) and its synthetic
  twin (make_toy); model toyshapes-fcn32s = the VGG-16 FCN-32s on it.
- Backbone "tinynet": five 3x3 convolutions, each followed by a 2x2 max pooling (stride 32),
  fc6/fc7 of 64 channels; its FCN trunk, its ILSVRC-style classifier (for a random-weight
  stand-in to fcnize) and its record; model voc-fcn-tinynet = FCN-32s on the release's VOC.

register() adds the records to the zoo, unregister() takes them out again.
"""

import os

import numpy as np
from PIL import Image

import zoo
from layers.base import SegDataLayer
from layers.io import check_same_size, load_image, load_png_label, read_split
from layers.synth.scenes import scene, sizes
from netspec.builder import L, NetSpec
from zoo.trunks import channels, classifier_conv, conv_relu, max_pool

# ------------------------------------------------------------------ a dataset

TOY_CLASSES = ("background", "square", "disc")
TOY_MEAN = (110.0, 112.0, 115.0)  # BGR


class ToySegDataLayer(SegDataLayer):
    """toyshapes: {toy_dir}/{split}.txt, images/{id}.png (RGB), labels/{id}.png (class index,
    255 void); tops data (1x3xHxW, BGR minus mean), label (1x1xHxW)."""

    DATASET = "toyshapes"
    REQUIRED = ("toy_dir", "split")
    OPTIONAL = {"mean": TOY_MEAN}

    def configure(self, params):
        self.toy_dir = params["toy_dir"]
        self.mean = np.asarray(params["mean"], dtype=np.float32)
        path = os.path.join(self.toy_dir, f"{self.split}.txt")
        self.ids = read_split(path, self.DATASET, self.split)
        self.top_names = ("data", "label")

    def example_paths(self, idx):
        return {
            "image": os.path.join(self.toy_dir, "images", f"{idx}.png"),
            "label": os.path.join(self.toy_dir, "labels", f"{idx}.png"),
        }

    def load_example(self, idx):
        ctx, paths = self.ctx(idx), self.example_paths(idx)
        img = load_image(paths["image"], self.mean, ctx)
        label = load_png_label(paths["label"], ctx)
        check_same_size((img, label), ("image", "label"), ctx, paths["label"])
        return img, label


def make_toy(toy_dir, n=8, size=None, seed=0):
    """The synthetic twin: n scenes of squares (class 1) and discs (2) on a textured background
    (0), the first two thirds 'train', the rest 'val' -> {'train': ids, 'val': ids}."""
    rng = np.random.default_rng(seed)
    for sub in ("images", "labels"):
        os.makedirs(os.path.join(toy_dir, sub), exist_ok=True)
    ids = [f"toy_{i:04d}" for i in range(n)]
    for idx, (h, w) in zip(ids, sizes(rng, n, size, 40, 64)):
        rgb, label, _ = scene(rng, h, w, (1, 2), 3, 0, n_shapes=(1, 2), frac=(0.3, 0.6))
        Image.fromarray(rgb, "RGB").save(os.path.join(toy_dir, "images", f"{idx}.png"))
        Image.fromarray(label.astype(np.uint8), "L").save(
            os.path.join(toy_dir, "labels", f"{idx}.png")
        )
    cut = max(1, (2 * n) // 3)
    out = {"train": ids[:cut], "val": ids[cut:] or ids[:1]}
    for split, split_ids in out.items():
        with open(os.path.join(toy_dir, f"{split}.txt"), "w") as f:
            f.writelines(i + "\n" for i in split_ids)
    return out


TOY = zoo.DatasetRecord(
    name="toyshapes",
    title="toy shapes (worked example)",
    labels=(("label", TOY_CLASSES),),
    inputs={"data": zoo.Input(3, TOY_MEAN)},
    splits={"train": 4, "val": 2},  # the twin of n=6 images
    stems=("train", "val"),
    split_of={"train": "train", "val": "val"},
    layers={
        split: zoo.DataLayer(
            "toy_zoo",
            "ToySegDataLayer",
            (
                ("toy_dir", "{root}/toyshapes"),
                ("split", "{split}"),
                ("seed", 1337),
                ("mean", TOY_MEAN),
            ),
        )  # fmt: skip
        for split in ("train", "val")
    },
    synth="toy_zoo:make_toy",
    synth_dir="{root}/toyshapes",
)
TOY_FCN32S = zoo.ModelRecord(
    "toyshapes-fcn32s", TOY, zoo.backbone("vgg16"), "32s", zoo.Init(),
    zoo.SolverSettings(1e-4, momentum=0.9, max_iter=1000, snapshot=500), score_every=500,
    normalize_loss=True, release=False,
)  # fmt: skip

# ------------------------------------------------------------------ a backbone

STAGES = (8, 16, 16, 32, 32)  # channels of conv1..conv5 at width 1
FC = 64


def tinynet_features(n, bottom, width=1.0, pad=100, conv=conv_relu):
    """conv1 (padded by `pad`) .. pool5: each a 3x3 convolution + ReLU + 2x2 max pooling."""
    top = bottom
    for i, c in enumerate(STAGES, 1):
        top = conv(n, f"conv{i}", f"relu{i}", top, channels(c, width), pad=pad if i == 1 else 1)
        n[f"pool{i}"] = max_pool(top)
        top = n[f"pool{i}"]
    return top


def tinynet_trunk(n, bottom, width=1.0, dropout=True, taps=None):
    """The FCN trunk: conv1 (pad 100) .. pool5, fc6 (2x2 conv: pool5 of the 64 px classifier),
    fc7 (1x1), each with ReLU (+ Dropout 0.5)."""
    top = tinynet_features(n, bottom, width)
    for i, k in ((6, 2), (7, 1)):
        top = conv_relu(n, f"fc{i}", f"relu{i}", top, channels(FC, width), ks=k, pad=0)
        if dropout:
            n[f"drop{i}"] = L.Dropout(top, dropout_ratio=0.5, in_place=True)
            top = n[f"drop{i}"]
    return top


def tinynet_classifier(width=1.0, num_classes=1000, input_size=None):
    """The ILSVRC-style classifier: Input 1x3x64x64, conv1..pool5, fc6/fc7 (InnerProduct, 64),
    fc8 (num_classes), prob."""
    size = input_size or 64
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, size, size]))
    top = tinynet_features(n, n.data, width, pad=1, conv=classifier_conv)
    for i in (6, 7):
        n[f"fc{i}"] = L.InnerProduct(top, num_output=channels(FC, width))
        n[f"relu{i}"] = L.ReLU(n[f"fc{i}"], in_place=True)
        n[f"drop{i}"] = L.Dropout(n[f"fc{i}"], dropout_ratio=0.5, in_place=True)
        top = n[f"fc{i}"]
    n.fc8 = L.InnerProduct(top, num_output=num_classes)
    n.prob = L.Softmax(n.fc8)
    return n.to_proto(name="TinyNet")


TINYNET = zoo.Backbone(
    "tinynet", "TinyNet (worked example)", tinynet_trunk, tinynet_classifier,
    ("tinynet_deploy.prototxt", "tinynet.caffemodel"), "fc8", 64,
)  # fmt: skip
VOC_FCN_TINYNET = zoo.ModelRecord(
    "voc-fcn-tinynet", zoo.dataset("voc"), TINYNET, "32s", zoo.Init(),
    zoo.SolverSettings(1e-4, momentum=0.9, iter_size=1), normalize_loss=True, release=False,
)  # fmt: skip

RECORDS = (TOY_FCN32S, VOC_FCN_TINYNET)


def register():
    """Add the toy dataset, backbone and models to the zoo."""
    zoo.register(*RECORDS)


def unregister():
    """Take them out again."""
    for name in ("toyshapes-fcn32s", "voc-fcn-tinynet", "toyshapes", "tinynet"):
        zoo.unregister(name)
