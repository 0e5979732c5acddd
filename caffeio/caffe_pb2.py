"""The process's Caffe schema module: pycaffe's caffe_pb2 when pycaffe is present, else ours.

`from caffeio import caffe_pb2` (or `import caffeio.caffe_pb2`) gives the very module object
that pycaffe uses, so caffeio and pycaffe live in one process in either import order. See
caffeio/_pb2_choice.py for the rule; the generated schema itself is caffeio/_caffe_pb2.py.
"""

import sys

from caffeio import _pb2_choice

sys.modules[__name__] = _pb2_choice.choose()
