"""Errors raised by netspec: each names the layer/blob at fault and what to do."""


class NetSpecError(ValueError):
    """A net specification that cannot be turned into a valid Caffe net."""


class NetSpecTypeError(NetSpecError, TypeError):
    """A layer got something other than a layer output (Top) as a bottom: a NetSpecError and
    the TypeError Caffe's net_spec raises, with Caffe's message (the hint is a note)."""


class AlignmentError(NetSpecError):
    """Two blobs cannot be aligned by a Crop (other scales, bad offset)."""


class ShapeError(NetSpecError):
    """Shape inference failed with Caffe's rules (e.g. a Crop out of range, mismatched Eltwise)."""
