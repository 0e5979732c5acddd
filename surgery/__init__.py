"""Weight surgery: from an ILSVRC classifier caffemodel to an FCN initialisation.

    import surgery
    surgery.transplant(new_net, net)            # copy by layer name, fc -> conv, exact counts
    surgery.interp(new_net, ["upscore"])        # bilinear kernels in Deconvolution weights
    surgery.expand_score(new_net, "score_fr", net, "score_fr")
    surgery.fcnize("VGG_deploy.prototxt", "VGG.caffemodel", "vgg16-fcn.caffemodel")
    surgery.staged_init("voc-fcn16s", "fcn32s.caffemodel", "fcn16s-init.caffemodel")

Every function takes pycaffe / torchcaffe nets (anything with `net.params`) or, for file-level
surgery without a net, a ParamSet (surgery.ParamSet.from_caffemodel / from_definition).
"""

from .errors import SurgeryError
from .fusion import init_color_d, init_late_fusion
from .interp import interp, upsample_filt
from .paramset import ParamBlob, ParamSet, as_params, infer_shapes, param_shapes, write_params
from .report import Report
from .score import expand_score
from .transplant import coerce, transplant

__all__ = [
    "SurgeryError",
    "Report",
    "ParamBlob",
    "ParamSet",
    "as_params",
    "write_params",
    "transplant",
    "coerce",
    "upsample_filt",
    "interp",
    "expand_score",
    "init_color_d",
    "init_late_fusion",
    "infer_shapes",
    "param_shapes",
]
