"""The exception torchcaffe raises for nets it cannot build or run."""


class NetError(ValueError):
    """A net could not be built or run: the message names the prototxt, layer and blob involved."""
