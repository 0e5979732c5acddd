"""`import torchcaffe.proto.caffe_pb2` gives caffeio's schema module itself (caffeio.caffe_pb2)."""

import sys

from caffeio import caffe_pb2 as _schema

sys.modules[__name__] = _schema
