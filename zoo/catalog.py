"""The published weights the zoo uses: one record per file, with where each fact comes from.

    from zoo.catalog import CATALOG, get
    rec = get("voc-fcn8s")      # rec.urls, rec.size, rec.checksums, rec.dest, rec.used_by

Two kinds of files:
- the FCN release's trained models (fcn.berkeleyvision.org: the `caffemodel-url` file in each
  model folder of shelhamer/fcn.berkeleyvision.org), installed where the zoo's scripts look for
  a model's trained weights: models/<m>/<m>.caffemodel (what solve.py writes, what the next
  stage's staged init and infer.py read; pass it to score.py --weights);
- the ILSVRC classifiers the staged inits start from (VGG-16, AlexNet, GoogLeNet, ResNet-50/101/
  152), each a caffemodel plus its deploy prototxt, installed in models/ilsvrc-nets/ and made
  fully convolutional there as <x>-fcn.caffemodel (solvers/run.py's base weights).

Sizes and checksums are only those published (each with its `source`); no checksum is made up.
A file with none is checked by size only when that is published, and its SHA-256 is recorded at
first download beside it (<file>.download.json, zoo.download) and checked afterwards.
Paths are relative to the project root. This module holds data only: no imports from the rest
of the zoo.
"""

from dataclasses import dataclass

__all__ = ["Checksum", "Published", "CATALOG", "NAMES", "get", "for_model", "RELEASE", "ILSVRC"]


@dataclass(frozen=True)
class Checksum:
    """A published digest: kind is a hashlib name (md5, sha1, sha256), value lower-case hex."""

    kind: str
    value: str
    source: str


@dataclass(frozen=True)
class Published:
    """One published file.

    name: catalog name (`python -m solvers.weights fetch NAME`); urls: the publisher's first,
    then mirrors; dest: install path relative to the project root; size: bytes or None when
    not published (size_source says where it is published); checksums: published digests,
    all checked; source: where the URL is published; what: a line on what it is; used_by: the
    zoo models that read it (directly or as their staged init's source); deploy: for a
    classifier caffemodel, the catalog name of its deploy prototxt; fcnized: for a classifier,
    the fully convolutional base written beside it (surgery fcnize), as solvers/run.py names it.
    """

    name: str
    urls: tuple
    dest: str
    what: str
    source: str
    used_by: tuple
    size: int | None = None
    size_source: str | None = None
    checksums: tuple = ()
    deploy: str | None = None
    fcnized: str | None = None

    @property
    def filename(self) -> str:
        return self.dest.rsplit("/", 1)[-1]


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


def _release(model, filename, what, also=(), size=None, size_source=None, checksums=()):
    return Published(
        name=model,
        urls=(_DL + filename,),
        dest=f"models/{model}/{model}.caffemodel",
        what=what,
        source=f"FCN release, {_RELEASE_REPO} {model}/caffemodel-url ({filename})",
        used_by=(model, *also),
        size=size,
        size_source=size_source,
        checksums=checksums,
    )


RELEASE = (
    _release(
        "voc-fcn32s",
        "fcn32s-heavy-pascal.caffemodel",
        "FCN-32s, PASCAL VOC (SBD train), 63.6 mean IU on seg11valid",
        also=("voc-fcn16s",),
        checksums=(Checksum("sha1", "05eb922d7829c39448f57e5ab9d8cd75d6c0be6d", _OPENCV_OLD),),
    ),
    _release(
        "voc-fcn16s",
        "fcn16s-heavy-pascal.caffemodel",
        "FCN-16s, PASCAL VOC, 65.0 mean IU",
        also=("voc-fcn8s",),
    ),
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
        "voc-fcn-alexnet",
        "fcn-alexnet-pascal.caffemodel",
        "FCN-AlexNet, PASCAL VOC, 48.0 mean IU",
    ),
    _release(
        "nyud-fcn32s-color",
        "nyud-fcn32s-color-heavy.caffemodel",
        "FCN-32s, NYUDv2 colour",
        also=("nyud-fcn32s-color-hha",),
    ),
    _release(
        "nyud-fcn32s-hha",
        "nyud-fcn32s-hha-heavy.caffemodel",
        "FCN-32s, NYUDv2 HHA (layers.hha makes HHA from depth)",
        also=("nyud-fcn32s-color-hha",),
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
        also=("siftflow-fcn16s",),
    ),
    _release(
        "siftflow-fcn16s",
        "siftflow-fcn16s-heavy.caffemodel",
        "FCN-16s, SIFT Flow, 39.5 semantic mean IU",
        also=("siftflow-fcn8s",),
    ),
    _release("siftflow-fcn8s", "siftflow-fcn8s-heavy.caffemodel", "FCN-8s, SIFT Flow"),
    _release(
        "pascalcontext-fcn32s",
        "pascalcontext-fcn32s-heavy.caffemodel",
        "FCN-32s, PASCAL-Context (59 classes + background)",
        also=("pascalcontext-fcn16s",),
    ),
    _release(
        "pascalcontext-fcn16s",
        "pascalcontext-fcn16s-heavy.caffemodel",
        "FCN-16s, PASCAL-Context",
        also=("pascalcontext-fcn8s",),
    ),
    _release(
        "pascalcontext-fcn8s",
        "pascalcontext-fcn8s-heavy.caffemodel",
        "FCN-8s, PASCAL-Context",
    ),
)

_VGG_MODELS = (
    "voc-fcn32s",
    "voc-fcn8s-atonce",
    "nyud-fcn32s-color",
    "nyud-fcn32s-hha",
    "nyud-fcn32s-color-d",
    "siftflow-fcn32s",
    "pascalcontext-fcn32s",
)
_RESNET101_MODELS = ("voc-fcn-resnet101", "cityscapes-fcn-resnet101")


def _bvlc_deploy(model):
    return f"https://raw.githubusercontent.com/BVLC/caffe/{{}}/models/{model}/deploy.prototxt"


def _resnet(depth, model_id, proto_id, size, sha256, proto_size, proto_sha256, omz_commit,
            more=(), checksums=(), used_by=None):  # fmt: skip
    omz = _OMZ_RESNET.format(f"resnet-{depth}", omz_commit)
    caffemodel = Published(
        name=f"resnet{depth}",
        urls=(_KH_ONEDRIVE.format(model_id), _MXNET + f"ResNet-{depth}-model.caffemodel", *more),
        dest=f"models/ilsvrc-nets/ResNet-{depth}-model.caffemodel",
        what=f"ResNet-{depth} ILSVRC-2012 classifier (Kaiming He et al., Caffe release)",
        source=(
            f"{_KH} README (its OneDrive folder); the file's direct link as in "
            + omz.split(" (")[0]
            + f"; mirrors: {_MXNET_SOURCE}"
            + (", OpenCV (dl.opencv.org, in " + _OPENCV_NOW.split(": ")[1] + ")" if more else "")
        ),
        used_by=used_by or (f"voc-fcn-resnet{depth}",),
        size=size,
        size_source=omz,
        checksums=(Checksum("sha256", sha256, omz), *checksums),
        deploy=f"resnet{depth}-deploy",
        fcnized=f"resnet{depth}-fcn",
    )
    deploy = Published(
        name=f"resnet{depth}-deploy",
        urls=(
            f"https://raw.githubusercontent.com/{_KH}/{_KH_COMMIT}/prototxt/"
            f"ResNet-{depth}-deploy.prototxt",
            _KH_ONEDRIVE.format(proto_id),
            _MXNET + f"ResNet-{depth}-deploy.prototxt",
        ),
        dest=f"models/ilsvrc-nets/ResNet-{depth}-deploy.prototxt",
        what=f"ResNet-{depth} deploy prototxt",
        source=f"{_KH} prototxt/ResNet-{depth}-deploy.prototxt; mirrors: OneDrive, data.mxnet.io",
        used_by=caffemodel.used_by,
        size=proto_size,
        size_source=omz,
        checksums=(Checksum("sha256", proto_sha256, omz),),
    )
    return caffemodel, deploy


ILSVRC = (
    Published(
        name="vgg16",
        urls=(
            "http://www.robots.ox.ac.uk/~vgg/software/very_deep/caffe/"
            "VGG_ILSVRC_16_layers.caffemodel",
            _MXNET + "VGG_ILSVRC_16_layers.caffemodel",
        ),
        dest="models/ilsvrc-nets/VGG_ILSVRC_16_layers.caffemodel",
        what="VGG-16 ILSVRC-2014 classifier (Simonyan & Zisserman, configuration D)",
        source=(
            "VGG group's Caffe model-zoo gist ksimonyan/211839e770f7b538e2d8 (caffemodel_url); "
            f"mirror: {_MXNET_SOURCE}"
        ),
        used_by=_VGG_MODELS,
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
        deploy="vgg16-deploy",
        fcnized="vgg16-fcn",
    ),
    Published(
        name="vgg16-deploy",
        urls=(
            "https://gist.githubusercontent.com/ksimonyan/211839e770f7b538e2d8/raw/"
            "0067c9b32f60362c74f4c445a080beed06b07eb3/VGG_ILSVRC_16_layers_deploy.prototxt",
        ),
        dest="models/ilsvrc-nets/VGG_ILSVRC_16_layers_deploy.prototxt",
        what="VGG-16 deploy prototxt (V1 format)",
        source="gist ksimonyan/211839e770f7b538e2d8, revision 0067c9b",
        used_by=_VGG_MODELS,
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
    Published(
        name="alexnet",
        urls=(_DL + "bvlc_alexnet.caffemodel",),
        dest="models/ilsvrc-nets/bvlc_alexnet.caffemodel",
        what="BVLC AlexNet ILSVRC-2012 classifier (bvlc_alexnet)",
        source="BVLC/caffe models/bvlc_alexnet/readme.md (caffemodel_url)",
        used_by=("voc-fcn-alexnet",),
        size=243862414,
        size_source=_OMZ_CAFFE.format("alexnet"),
        checksums=(
            Checksum(
                "sha1", "9116a64c0fbe4459d18f4bb6b56d647b63920377", _BVLC.format("bvlc_alexnet")
            ),
            Checksum(
                "sha256",
                "4bff209a9837298157915ef50a4831a59636a6ca1a6b8ebacd990c3a5f3053e0",
                _OMZ_CAFFE.format("alexnet"),
            ),
        ),
        deploy="alexnet-deploy",
        fcnized="alexnet-fcn",
    ),
    Published(
        name="alexnet-deploy",
        urls=(
            _bvlc_deploy("bvlc_alexnet").format(_BVLC_COMMIT),
            _bvlc_deploy("bvlc_alexnet").format("88c96189bcbf3853b93e2b65c7b5e4948f9d5f67"),
        ),
        dest="models/ilsvrc-nets/bvlc_alexnet_deploy.prototxt",
        what="AlexNet deploy prototxt",
        source="BVLC/caffe models/bvlc_alexnet/deploy.prototxt (identical at both commits)",
        used_by=("voc-fcn-alexnet",),
        size=3629,
        size_source=_OMZ_CAFFE.format("alexnet"),
        checksums=(
            Checksum(
                "sha256",
                "b564ba76416b4ac1e062c6621cbd80d9c19304ba152d9d791c75870f3182c4fa",
                _OMZ_CAFFE.format("alexnet"),
            ),
        ),
    ),
    Published(
        name="googlenet",
        urls=(_DL + "bvlc_googlenet.caffemodel",),
        dest="models/ilsvrc-nets/bvlc_googlenet.caffemodel",
        what="BVLC GoogLeNet ILSVRC-2014 classifier (bvlc_googlenet)",
        source="BVLC/caffe models/bvlc_googlenet/readme.md (caffemodel_url)",
        used_by=("voc-fcn-googlenet",),
        size=53533754,
        size_source=_OMZ_CAFFE.format("googlenet-v1"),
        checksums=(
            Checksum(
                "sha1", "405fc5acd08a3bb12de8ee5e23a96bec22f08204", _BVLC.format("bvlc_googlenet")
            ),
            Checksum(
                "sha256",
                "6f7101e3a2183738a7125a0c5021ba82a1feb4228c5ca0924d991b6daf6f6fad",
                _OMZ_CAFFE.format("googlenet-v1"),
            ),
        ),
        deploy="googlenet-deploy",
        fcnized="googlenet-fcn",
    ),
    Published(
        name="googlenet-deploy",
        urls=(
            _bvlc_deploy("bvlc_googlenet").format(_BVLC_COMMIT),
            _bvlc_deploy("bvlc_googlenet").format("88c96189bcbf3853b93e2b65c7b5e4948f9d5f67"),
        ),
        dest="models/ilsvrc-nets/bvlc_googlenet_deploy.prototxt",
        what="GoogLeNet deploy prototxt",
        source="BVLC/caffe models/bvlc_googlenet/deploy.prototxt (identical at both commits)",
        used_by=("voc-fcn-googlenet",),
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
        used_by=_RESNET101_MODELS,
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
