"""netspec: Caffe net specs for the FCN models (pure protobuf, no torch).

from netspec import NetSpec, L, P, crop, to_proto
from netspec import zoo, ilsvrc, shapes
"""

from .builder import L, NetSpec, P, to_proto
from .coord import crop
from .errors import AlignmentError, NetSpecError, ShapeError

__all__ = ["NetSpec", "L", "P", "to_proto", "crop", "NetSpecError", "AlignmentError", "ShapeError"]
