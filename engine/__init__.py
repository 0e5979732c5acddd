"""The engine that runs Caffe nets: real BVLC pycaffe or torchcaffe, chosen by the program.

    import engine
    caffe = engine.use(args.engine)     # "auto" | "caffe" | "torch"; None -> FCN_ENGINE, else auto
    net = engine.open_net("deploy.prototxt", caffe.TEST, weights="net.caffemodel")

Importing engine (or any module of the toolkit) chooses nothing and imports neither engine;
nothing on the pycaffe path imports torch. Modules: choice (use, current, requested: the one
place FCN_ENGINE is read), nets (open_net), startup (announce, set_device, fast_mode,
refuse_precision), pycaffe_adapter / torchcaffe_adapter (the same few training functions per
engine), pycaffe_checks (what real Caffe would abort on, checked first), python_layer
(PortableLayer: Python layers for whichever engine builds the net), errors.
"""

from .choice import CHOICES, adapter, choose, chosen, current, current_name, requested, use
from .errors import Diverged, MissingWeights
from .nets import open_net
from .python_layer import PortableLayer
from .startup import announce, describe, fast_mode, refuse_precision, set_device

__all__ = [
    "CHOICES",
    "Diverged",
    "MissingWeights",
    "PortableLayer",
    "adapter",
    "announce",
    "choose",
    "chosen",
    "current",
    "current_name",
    "describe",
    "fast_mode",
    "open_net",
    "refuse_precision",
    "requested",
    "set_device",
    "use",
]
