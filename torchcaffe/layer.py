"""Base class for Python layers, with pycaffe's contract."""


class Layer:
    """A Python layer as pycaffe defines it.

    The engine sets `self.param_str` (python_param.param_str) and `self.phase` (0 TRAIN, 1 TEST)
    before calling `setup(bottom, top)`; then `reshape(bottom, top)` runs before every
    `forward(bottom, top)`, and `backward(top, propagate_down, bottom)` on the way back.
    `bottom`/`top` are lists of Blobs (`.data`, `.diff` numpy views, `.reshape(*dims)`).
    """

    param_str = ""
    phase = 0
    type = "Python"

    def __init__(self, param=None):
        # pycaffe constructs Python layers with their LayerParameter; keep it for subclasses.
        self.layer_param = param
        self.blobs = []

    def setup(self, bottom, top):
        pass

    def reshape(self, bottom, top):
        pass

    def forward(self, bottom, top):
        pass

    def backward(self, top, propagate_down, bottom):
        pass
