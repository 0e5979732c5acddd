"""The exceptions torchcaffe raises for nets it cannot build or run."""

from caffeio.errors import CaffeFormatError


class NetError(ValueError):
    """A net could not be built or run: the message names the prototxt, layer and blob involved."""


class WeightsError(NetError, CaffeFormatError):
    """A caffemodel does not fit the net or holds NaN/inf values (copy_from): a NetError and a
    caffeio.CaffeFormatError at once, so handlers of either catch it."""


class MemoryBudgetError(NetError, MemoryError):
    """A blob or parameter would need more memory than the machine has free: the message names
    the layer/blob, its shape and size, and what to do (a smaller input, tiling, another device)."""
