"""Base class for Python layers, with pycaffe's contract."""

from .blob import BlobVec


class Layer:
    """A Python layer as pycaffe defines it.

    The engine sets `self.param_str` (python_param.param_str) and `self.phase` (0 TRAIN, 1 TEST)
    before calling `setup(bottom, top)`; then `reshape(bottom, top)` runs before every
    `forward(bottom, top)`, and `backward(top, propagate_down, bottom)` on the way back.
    `bottom`/`top` hold Blobs (`.data`, `.diff` numpy views, `.reshape(*dims)`), indexed as
    pycaffe's vectors are (len() and [i]). `self.blobs` is a BlobVec: `self.blobs.add_blob(*shape)`
    in setup gives the layer parameters (in net.params, updated by the solver, saved and loaded
    with the net's weights; lr_mult/decay_mult from the layer's `param` specs). An exception
    raised in setup, reshape, forward or backward reaches the caller as it is, with a note
    naming the layer.
    """

    param_str = ""
    phase = 0
    type = "Python"

    def __init__(self, param=None):
        # pycaffe constructs Python layers with their LayerParameter; keep it for subclasses.
        self.layer_param = param
        self.blobs = BlobVec()

    def setup(self, bottom, top):
        pass

    def reshape(self, bottom, top):
        pass

    def forward(self, bottom, top):
        pass

    def backward(self, top, propagate_down, bottom):
        pass
