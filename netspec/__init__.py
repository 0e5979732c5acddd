"""netspec: the generic Caffe toolkit (pure protobuf, no torch), as Caffe's net_spec/coord_map.

from netspec import NetSpec, L, P, crop, to_proto    # the builder, computed crop offsets
from netspec import shapes, coord, profile          # shape inference, coordinate maps, costs
from netspec import validate, hostmem               # Caffe's refusals checked first; free memory

It knows no model: the FCN models are the zoo's (import zoo), built with this toolkit.
"""

from .builder import L, NetSpec, P, to_proto
from .coord import crop
from .errors import AlignmentError, NetSpecError, ShapeError

__all__ = ["NetSpec", "L", "P", "to_proto", "crop", "NetSpecError", "AlignmentError", "ShapeError"]
