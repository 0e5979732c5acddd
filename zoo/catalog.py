"""The published weights the zoo uses: one record per published file, with where each fact
comes from.

    from zoo.catalog import CATALOG, get
    rec = get("voc-fcn8s")      # rec.urls, rec.size, rec.checksums, rec.dest, rec.used_by

A record holds what only the publisher knows: URLs (the publisher's first, then mirrors),
published sizes and checksums with their sources, a line on what the file is, and its catalog
name (`python -m solvers.weights fetch NAME`). Where a file goes and who reads it come from the
zoo registry (zoo.records, zoo.backbones), read when asked, so records registered at run time
(zoo.register) count too:
- a release model's trained weights (catalog name = the zoo model) go where the zoo's scripts
  look for them, models/<m>/<m>.caffemodel (what solve.py writes, what the next stage's staged
  init and infer.py read; pass it to score.py --weights), and are used by that model and by
  the models whose init starts from it (ModelRecord.init_sources);
- an ILSVRC classifier (`backbone`: the zoo backbone whose caffemodel it is; its catalog name
  is the backbone's) and its deploy prototxt (`<backbone>-deploy`) go to models/ilsvrc-nets/
  under the backbone record's file names (Backbone.files), where `fetch` makes them fully
  convolutional as <backbone>-fcn.caffemodel (Backbone.fcnized: solvers/runs/base_weights.py's base
  weights); they are used by the models whose init starts from that fcnized classifier.

A new model or backbone thus needs a catalog entry only for its URLs and published facts.
Sizes and checksums are only those published (each with its `source`); no checksum is made up.
A file with none is checked by size only when that is published, and its SHA-256 is recorded at
first download beside it (<file>.download.json, zoo.download) and checked afterwards.
Paths are relative to the project root.
"""

from dataclasses import dataclass

from . import registry

__all__ = ["Checksum", "Published", "CATALOG", "NAMES", "get", "for_model", "RELEASE", "ILSVRC"]

ILSVRC_DIR = "models/ilsvrc-nets"


@dataclass(frozen=True)
class Checksum:
    """A published digest: kind is a hashlib name (md5, sha1, sha256), value lower-case hex."""

    kind: str
    value: str
    source: str


@dataclass(frozen=True)
class Published:
    """One published file.

    name: catalog name; urls: the publisher's first, then mirrors; what: a line on what it is;
    source: where the URL is published; size: bytes or None when not published (size_source
    says where it is published); checksums: published digests, all checked. backbone: None for
    the trained weights of the zoo model called `name`; else the zoo backbone whose classifier
    caffemodel this is, or (deploy_prototxt=True) whose deploy prototxt.
    Derived from the registry: dest, used_by, deploy, fcnized.
    """

    name: str
    urls: tuple
    what: str
    source: str
    size: int | None = None
    size_source: str | None = None
    checksums: tuple = ()
    backbone: str | None = None
    deploy_prototxt: bool = False

    @property
    def kind(self) -> str:
        """'trained' (a zoo model's weights), 'classifier' (a caffemodel) or 'deploy'."""
        if self.backbone is None:
            return "trained"
        return "deploy" if self.deploy_prototxt else "classifier"

    @property
    def dest(self) -> str:
        """Install path relative to the project root."""
        if self.backbone is None:
            return f"models/{self.name}/{self.name}.caffemodel"
        proto, caffemodel = registry.backbone(self.backbone).files
        return f"{ILSVRC_DIR}/{proto if self.deploy_prototxt else caffemodel}"

    @property
    def filename(self) -> str:
        return self.dest.rsplit("/", 1)[-1]

    @property
    def fcnized(self) -> str | None:
        """For a classifier caffemodel: its fully convolutional base's name ('vgg16-fcn'),
        written beside it by `fetch` (surgery fcnize), as solvers/runs/base_weights.py names it."""
        if self.kind != "classifier":
            return None
        return registry.backbone(self.backbone).fcnized

    @property
    def deploy(self) -> str | None:
        """For a classifier caffemodel: the catalog name of its deploy prototxt."""
        if self.kind != "classifier":
            return None
        for rec in CATALOG.values():
            if rec.kind == "deploy" and rec.backbone == self.backbone:
                return rec.name
        return None

    @property
    def used_by(self) -> tuple:
        """The zoo models that read it: a model's trained weights are read by the model itself
        and by the models staged from it; a classifier's files by the models that start from
        its fcnized form. In registration order."""
        if self.backbone is None:
            start, own = self.name, (self.name,) if registry.is_model(self.name) else ()
        else:
            start, own = registry.backbone(self.backbone).fcnized, ()
        later = tuple(m for m in registry.names() if start in registry.record(m).init_sources)
        return own + later


_RELEASE_REPO = "shelhamer/fcn.berkeleyvision.org"
_DL = "http://dl.caffe.berkeleyvision.org/"
_OPENCV_NOW = "OpenCV's test-data downloader: opencv/opencv_extra testdata/dnn/download_models.py"
_OPENCV_OLD = (
    "OpenCV's test-data downloader, an earlier revision: opencv/opencv_extra "
    "testdata/dnn/download_models.py (as kept at alalek/opencv_extra@50ee1ef)"
)
_OMZ = "OpenVINO Open Model Zoo: openvinotoolkit/open_model_zoo models/public/{}/model.yml"
_OMZ_CAFFE = _OMZ + " (before its Caffe models' removal in 2024; as at c681039e)"
_OMZ_RESNET = _OMZ + " (removed in 2020; as at {})"
_MXNET = "http://data.mxnet.io/models/imagenet/test/caffe/"
_MXNET_SOURCE = (
    "Apache MXNet tools/caffe_converter/convert_caffe_modelzoo.py and Microsoft MMdnn "
    "mmdnn/conversion/examples/caffe/extractor.py (data.mxnet.io)"
)
_BVLC = "BVLC/caffe models/{}/readme.md (sha1 field)"
_BVLC_COMMIT = "9b891540183ddc834a02b2bd81b31afae71b2153"  # BVLC/caffe master, 2020-02-13
_KH = "KaimingHe/deep-residual-networks"
_KH_COMMIT = "a7026cb6d478e131b765b898c312e25f9f6dc031"
_KH_ONEDRIVE = "https://onedrive.live.com/download?cid=4006CBB8476FF777&resid=4006CBB8476FF777%21{}&authkey=AAFW2-FVoxeVRck"


def _release(model, filename, what, size=None, size_source=None, checksums=()):
    return Published(
        name=model,
        urls=(_DL + filename,),
        what=what,
        source=f"FCN release, {_RELEASE_REPO} {model}/caffemodel-url ({filename})",
        size=size,
        size_source=size_source,
        checksums=checksums,
    )


RELEASE = (
    _release(
        "voc-fcn32s",
        "fcn32s-heavy-pascal.caffemodel",
        "FCN-32s, PASCAL VOC (SBD train), 63.6 mean IU on seg11valid",
        checksums=(Checksum("sha1", "05eb922d7829c39448f57e5ab9d8cd75d6c0be6d", _OPENCV_OLD),),
    ),
    _release("voc-fcn16s", "fcn16s-heavy-pascal.caffemodel", "FCN-16s, PASCAL VOC, 65.0 mean IU"),
    _release(
        "voc-fcn8s",
        "fcn8s-heavy-pascal.caffemodel",
        "FCN-8s, PASCAL VOC, 65.5 mean IU",
        checksums=(Checksum("sha1", "c449ea74dd7d83751d1357d6a8c323fcf4038962", _OPENCV_NOW),),
    ),
    _release(
        "voc-fcn8s-atonce",
        "fcn8s-atonce-pascal.caffemodel",
        "FCN-8s trained all at once, PASCAL VOC, 65.4 mean IU",
    ),
    _release(
        "voc-fcn-alexnet", "fcn-alexnet-pascal.caffemodel", "FCN-AlexNet, PASCAL VOC, 48.0 mean IU"
    ),
    _release("nyud-fcn32s-color", "nyud-fcn32s-color-heavy.caffemodel", "FCN-32s, NYUDv2 colour"),
    _release(
        "nyud-fcn32s-hha",
        "nyud-fcn32s-hha-heavy.caffemodel",
        "FCN-32s, NYUDv2 HHA (layers.hha makes HHA from depth)",
    ),
    _release(
        "nyud-fcn32s-color-hha",
        "nyud-fcn32s-color-hha-heavy.caffemodel",
        "FCN-32s, NYUDv2 colour + HHA, late fusion",
    ),
    _release(
        "siftflow-fcn32s",
        "siftflow-fcn32s-heavy.caffemodel",
        "FCN-32s, SIFT Flow (semantic + geometric)",
    ),
    _release(
        "siftflow-fcn16s",
        "siftflow-fcn16s-heavy.caffemodel",
        "FCN-16s, SIFT Flow, 39.5 semantic mean IU",
    ),
    _release("siftflow-fcn8s", "siftflow-fcn8s-heavy.caffemodel", "FCN-8s, SIFT Flow"),
    _release(
        "pascalcontext-fcn32s",
        "pascalcontext-fcn32s-heavy.caffemodel",
        "FCN-32s, PASCAL-Context (59 classes + background)",
    ),
    _release(
        "pascalcontext-fcn16s", "pascalcontext-fcn16s-heavy.caffemodel", "FCN-16s, PASCAL-Context"
    ),
    _release(
        "pascalcontext-fcn8s", "pascalcontext-fcn8s-heavy.caffemodel", "FCN-8s, PASCAL-Context"
    ),
)


def _classifier(backbone, caffemodel, deploy):
    """The catalog records of a zoo backbone's classifier: its caffemodel (catalog name: the
    backbone's) and its deploy prototxt ('<backbone>-deploy'); each a dict of Published fields."""
    return (
        Published(name=backbone, backbone=backbone, **caffemodel),
        Published(name=f"{backbone}-deploy", backbone=backbone, deploy_prototxt=True, **deploy),
    )


def _bvlc_deploy(model, *commits):
    return tuple(
        f"https://raw.githubusercontent.com/BVLC/caffe/{c}/models/{model}/deploy.prototxt"
        for c in commits
    )


def _resnet(depth, model_id, proto_id, size, sha256, proto_size, proto_sha256, omz_commit,
            more=(), checksums=()):  # fmt: skip
    omz = _OMZ_RESNET.format(f"resnet-{depth}", omz_commit)
    opencv = ", OpenCV (dl.opencv.org, in " + _OPENCV_NOW.split(": ")[1] + ")" if more else ""
    mirrors = "mirrors: OneDrive, data.mxnet.io"
    return _classifier(
        f"resnet{depth}",
        caffemodel=dict(
            urls=(
                _KH_ONEDRIVE.format(model_id),
                _MXNET + f"ResNet-{depth}-model.caffemodel",
                *more,
            ),
            what=f"ResNet-{depth} ILSVRC-2012 classifier (Kaiming He et al., Caffe release)",
            source=(
                f"{_KH} README (its OneDrive folder); the file's direct link as in "
                + omz.split(" (")[0]
                + f"; mirrors: {_MXNET_SOURCE}"
                + opencv
            ),
            size=size,
            size_source=omz,
            checksums=(Checksum("sha256", sha256, omz), *checksums),
        ),
        deploy=dict(
            urls=(
                f"https://raw.githubusercontent.com/{_KH}/{_KH_COMMIT}/prototxt/"
                f"ResNet-{depth}-deploy.prototxt",
                _KH_ONEDRIVE.format(proto_id),
                _MXNET + f"ResNet-{depth}-deploy.prototxt",
            ),
            what=f"ResNet-{depth} deploy prototxt",
            source=f"{_KH} prototxt/ResNet-{depth}-deploy.prototxt; {mirrors}",
            size=proto_size,
            size_source=omz,
            checksums=(Checksum("sha256", proto_sha256, omz),),
        ),
    )


ILSVRC = (
    *_classifier(
        "vgg16",
        caffemodel=dict(
            urls=(
                "http://www.robots.ox.ac.uk/~vgg/software/very_deep/caffe/"
                "VGG_ILSVRC_16_layers.caffemodel",
                _MXNET + "VGG_ILSVRC_16_layers.caffemodel",
            ),
            what="VGG-16 ILSVRC-2014 classifier (Simonyan & Zisserman, configuration D)",
            source=(
                "VGG group's Caffe model-zoo gist ksimonyan/211839e770f7b538e2d8 "
                f"(caffemodel_url); mirror: {_MXNET_SOURCE}"
            ),
            size=553432081,
            size_source=_OMZ_CAFFE.format("vgg16"),
            checksums=(
                Checksum(
                    "sha256",
                    "a6196bc498e45ea4cb2637114ae8db9410cf1556fd60a55ae93272371beba197",
                    _OMZ_CAFFE.format("vgg16"),
                ),
                Checksum("sha1", "9363e1f6d65f7dba68c4f27a1e62105cdf6c4e24", _OPENCV_OLD),
                Checksum(
                    "md5",
                    "441315b0ff6932dbfde97731be7ca852",
                    "ry/tensorflow-vgg16 README.md (MD5 of the file it converts)",
                ),
            ),
        ),
        deploy=dict(
            urls=(
                "https://gist.githubusercontent.com/ksimonyan/211839e770f7b538e2d8/raw/"
                "0067c9b32f60362c74f4c445a080beed06b07eb3/VGG_ILSVRC_16_layers_deploy.prototxt",
            ),
            what="VGG-16 deploy prototxt (V1 format)",
            source="gist ksimonyan/211839e770f7b538e2d8, revision 0067c9b",
            size=4776,
            size_source=_OMZ_CAFFE.format("vgg16"),
            checksums=(
                Checksum(
                    "sha256",
                    "9fdb04e3f5b9224af473e82441b05b76368dfa6dc841e80655303823e9770962",
                    _OMZ_CAFFE.format("vgg16"),
                ),
            ),
        ),
    ),
    # FCN-AlexNet's base is CaffeNet: the release's ilsvrc-nets/README.md names it, and its
    # voc-fcn-alexnet net pools before LRN as CaffeNet does (bvlc_alexnet normalises first).
    *_classifier(
        "alexnet",
        caffemodel=dict(
            urls=(_DL + "bvlc_reference_caffenet.caffemodel",),
            what=(
                "CaffeNet ILSVRC-2012 classifier (bvlc_reference_caffenet: BVLC's AlexNet "
                "replication, pooling before LRN)"
            ),
            source=(
                "BVLC/caffe models/bvlc_reference_caffenet/readme.md (caffemodel_url), the "
                f"base net {_RELEASE_REPO} ilsvrc-nets/README.md names for FCN-AlexNet"
            ),
            size=243862418,
            size_source=_OMZ_CAFFE.format("caffenet"),
            checksums=(
                Checksum(
                    "sha1",
                    "4c8d77deb20ea792f84eb5e6d0a11ca0a8660a46",
                    _BVLC.format("bvlc_reference_caffenet"),
                ),
                Checksum(
                    "sha256",
                    "472d4a06035497b180636d8a82667129960371375bd10fcb6df5c6c7631f25e0",
                    _OMZ_CAFFE.format("caffenet"),
                ),
            ),
        ),
        deploy=dict(
            urls=_bvlc_deploy(
                "bvlc_reference_caffenet", _BVLC_COMMIT, "2cc3844cb2a4a72de10d321781dc8f994bef95c7"
            ),
            what="CaffeNet deploy prototxt",
            source=(
                "BVLC/caffe models/bvlc_reference_caffenet/deploy.prototxt (last changed in "
                "2cc3844; identical at both commits)"
            ),
            size=2878,
            size_source=_OMZ_CAFFE.format("caffenet"),
            checksums=(
                Checksum(
                    "sha256",
                    "922248a4d2f6aac1cc8e7e5dbd996cc2ecd3356480d67c198f6cf96b12311a04",
                    _OMZ_CAFFE.format("caffenet"),
                ),
            ),
        ),
    ),
    *_classifier(
        "googlenet",
        caffemodel=dict(
            urls=(_DL + "bvlc_googlenet.caffemodel",),
            what="BVLC GoogLeNet ILSVRC-2014 classifier (bvlc_googlenet)",
            source="BVLC/caffe models/bvlc_googlenet/readme.md (caffemodel_url)",
            size=53533754,
            size_source=_OMZ_CAFFE.format("googlenet-v1"),
            checksums=(
                Checksum(
                    "sha1",
                    "405fc5acd08a3bb12de8ee5e23a96bec22f08204",
                    _BVLC.format("bvlc_googlenet"),
                ),
                Checksum(
                    "sha256",
                    "6f7101e3a2183738a7125a0c5021ba82a1feb4228c5ca0924d991b6daf6f6fad",
                    _OMZ_CAFFE.format("googlenet-v1"),
                ),
            ),
        ),
        deploy=dict(
            urls=_bvlc_deploy(
                "bvlc_googlenet", _BVLC_COMMIT, "88c96189bcbf3853b93e2b65c7b5e4948f9d5f67"
            ),
            what="GoogLeNet deploy prototxt",
            source="BVLC/caffe models/bvlc_googlenet/deploy.prototxt (identical at both commits)",
            size=35862,
            size_source=_OMZ_CAFFE.format("googlenet-v1"),
            checksums=(
                Checksum(
                    "sha256",
                    "fa36cd4112a3240a29600a5aa35333f31bec33daa1a6085b0af308a9f50f0c50",
                    _OMZ_CAFFE.format("googlenet-v1"),
                ),
            ),
        ),
    ),
    *_resnet(
        50,
        17895,
        17891,
        102462397,
        "44ee2b08816cede2b7aaa047888df07dcab52f73399aa1c8bef05a17bfdd4888",
        32500,
        "2f8fb64f68c6bcda94eb2640f80aed94efb91664122e72a6b7587012cc57dedc",
        "aa20ab6d",
        more=("https://dl.opencv.org/models/ResNet-50-model.caffemodel",),
        checksums=(Checksum("sha1", "b7c79ccc21ad0479cddc0dd78b1d20c4d722908d", _OPENCV_NOW),),
    ),
    *_resnet(
        101,
        17896,
        17892,
        178662602,
        "2847d93346d7928ec1f257f49f60ea53e9075c15265c494469610e67ffb7f2e2",
        65439,
        "5df4375748076544e6cc4bfde7885e633312b5ed529d65cc2ff6573a819ea972",
        "6eb7b04f",
    ),
    *_resnet(
        152,
        17897,
        17893,
        241444171,
        "6253c4c4132c0b25c112b166629aa57dcaeec044a4c68ac9f003b6c801329d55",
        98034,
        "9e0fc0df6ac038048a87c63d56fd534471b6b4f39d55651beaf201763e028489",
        "aa20ab6d",
    ),
)

CATALOG = {rec.name: rec for rec in (*RELEASE, *ILSVRC)}
NAMES = tuple(CATALOG)


def get(name: str) -> Published:
    """The record named `name`; KeyError naming the valid names otherwise."""
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(
            f"{name!r} is not in the weights catalog: use one of {', '.join(NAMES)}"
        ) from None


def for_model(model: str) -> list:
    """Records a zoo model reads (its trained weights, or what its staged init starts from)."""
    return [rec for rec in CATALOG.values() if model in rec.used_by]
