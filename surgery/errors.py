"""The exception surgery raises when weights and nets do not fit together."""


class SurgeryError(ValueError):
    """Weights cannot be moved as asked: the message names the layer, blob and shapes involved."""
