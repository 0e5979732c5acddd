"""The Python data layers the FCN nets read from (modules of this project's `layers` package).

Each function returns the keyword arguments of L.Python(...) for one dataset and split;
param_str is str(dict), read back with ast.literal_eval (never eval). `data_root` is written
into the paths; the default '../../data' is relative to models/<model>/, where solve.py runs.
"""

from netspec.datatops import register_top_channels

DEFAULT_ROOT = "../../data"
VOC_MEAN = (104.00699, 116.66877, 122.67892)


def _root(data_root):
    return (data_root or DEFAULT_ROOT).rstrip("/") or "/"


def _python(module, layer, params, ntop, extra=None):
    params = {**params, **(extra or {})}
    return dict(module=module, layer=layer, param_str=str(params), ntop=ntop)


def voc(split, data_root=None):
    """VOCSegDataLayer (evaluation on VOC2011 seg11valid): tops data, label."""
    root = _root(data_root)
    return _python(
        "layers.voc",
        "VOCSegDataLayer",
        dict(voc_dir=f"{root}/pascal/VOC2011", split=split, mean=VOC_MEAN),
        2,
    )


def sbdd(split, data_root=None):
    """SBDDSegDataLayer (training on SBD train, shuffled with seed 1337): tops data, label."""
    root = _root(data_root)
    return _python(
        "layers.voc",
        "SBDDSegDataLayer",
        dict(sbdd_dir=f"{root}/sbdd/dataset", split=split, seed=1337, mean=VOC_MEAN),
        2,
    )


def nyud(split, tops, data_root=None):
    """NYUDSegDataLayer with the given `tops` (from color, depth, hha, label)."""
    root = _root(data_root)
    return _python(
        "layers.nyud",
        "NYUDSegDataLayer",
        dict(nyud_dir=f"{root}/nyud", split=split, tops=list(tops), seed=1337),
        len(tops),
    )


def siftflow(split, data_root=None):
    """SIFTFlowSegDataLayer: tops data, sem, geo."""
    root = _root(data_root)
    return _python(
        "layers.siftflow",
        "SIFTFlowSegDataLayer",
        dict(siftflow_dir=f"{root}/sift-flow", split=split, seed=1337),
        3,
    )


def pascalcontext(split, data_root=None):
    """PASCALContextSegDataLayer: tops data, label."""
    root = _root(data_root)
    return _python(
        "layers.pascalcontext",
        "PASCALContextSegDataLayer",
        dict(
            voc_dir=f"{root}/pascal", context_dir=f"{root}/pascal-context", split=split, seed=1337
        ),
        2,
    )


def voc12_trainaug(data_root=None, extra=None):
    """TrainAugSegDataLayer (VOC 2012 trainaug: SBD + VOC 2012 train minus VOC 2012 val, 10,582
    images), shuffled with seed 1337; `extra`: more param_str keys (augmentation). Tops data,
    label."""
    root = _root(data_root)
    params = dict(
        voc_dir=f"{root}/pascal/VOC2012", sbdd_dir=f"{root}/sbdd/dataset", split="trainaug",
        seed=1337, mean=VOC_MEAN,
    )  # fmt: skip
    return _python("layers.voc12", "TrainAugSegDataLayer", params, 2, extra)


def voc12(split, data_root=None):
    """VOCSegDataLayer on VOC 2012 (split 'val': 1,449 images): tops data, label."""
    root = _root(data_root)
    params = dict(voc_dir=f"{root}/pascal/VOC2012", split=split, mean=VOC_MEAN)
    return _python("layers.voc", "VOCSegDataLayer", params, 2)


def cityscapes(split, data_root=None, extra=None):
    """CityscapesSegDataLayer (layers.cityscapes; 19 train ids, 255 ignored): tops data, label.

    `extra`: more param_str keys (the training recipe's seed and augmentation)."""
    root = _root(data_root)
    return _python(
        "layers.cityscapes",
        "CityscapesSegDataLayer",
        dict(cityscapes_dir=f"{root}/cityscapes", split=split),
        2,
        extra,
    )


# Channels of the kinds of top these layers produce (label-like tops have one channel), for
# netspec's shape inference from an image size.
register_top_channels({"color": 3, "hha": 3, "depth": 1, "sem": 1, "geo": 1})
