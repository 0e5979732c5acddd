"""pycaffe's `caffe.proto` package: `caffe_pb2` is the process's Caffe schema module, the one
caffeio uses (pycaffe's own when pycaffe is importable, else caffeio's generated one)."""

from caffeio import caffe_pb2

__all__ = ["caffe_pb2"]
