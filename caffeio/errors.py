"""The exception types caffeio raises for bad files and failed writes."""


class CaffeFormatError(ValueError):
    """A Caffe file could not be read: the message names the file (and line/column for text)."""


class CaffeWriteError(CaffeFormatError, OSError):
    """A file could not be written (read-only folder, full disk, a directory in the way): the
    message names the file and what to do. Also an OSError, with its errno and filename."""

    def __str__(self):
        return self.args[0] if self.args else ""


class CaffeMissingFile(CaffeFormatError, FileNotFoundError):
    """A file another Caffe file names (a solverstate's learned_net) is not there: the message
    names both and where it was looked for. Also a FileNotFoundError."""

    def __str__(self):
        return self.args[0] if self.args else ""
