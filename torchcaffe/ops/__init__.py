"""Layer implementations, one module per family; REGISTRY maps Caffe type names to classes."""

from . import (  # noqa: F401  (registration)
    activations,
    common,
    data,
    data_hdf5,
    data_image,
    data_memory,
    exp_log_power,
    learned,
    loss,
    loss_class,
    loss_distance,
    neuron,
    python,
    recurrent,
    reduce,
    slicing,
    spatial,
    vision,
)
from .base import REGISTRY, BaseLayer, Context

__all__ = ["REGISTRY", "BaseLayer", "Context"]
