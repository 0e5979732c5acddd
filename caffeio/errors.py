"""The one exception type caffeio raises for bad files."""


class CaffeFormatError(ValueError):
    """A Caffe file could not be read: the message names the file (and line/column for text)."""
