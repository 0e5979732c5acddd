"""Layer implementations, one module per family; REGISTRY maps Caffe type names to classes."""

from . import common, data, loss, neuron, python, vision  # noqa: F401  (registration)
from .base import REGISTRY, BaseLayer, Context

__all__ = ["REGISTRY", "BaseLayer", "Context"]
