"""The exception types caffeio raises for bad files and failed writes."""


class CaffeFormatError(ValueError):
    """A Caffe file could not be read: the message names the file (and line/column for text)."""


class CaffeWriteError(CaffeFormatError, OSError):
    """A file could not be written (read-only folder, full disk, a directory in the way): the
    message names the file and what to do. Also an OSError, with its errno and filename."""

    def __str__(self):
        return self.args[0] if self.args else ""


def add_note(e: BaseException, note: str) -> BaseException:
    """Attach `note` to exception `e` (PEP 678: shown under the traceback, not in str(e));
    Python 3.10, without BaseException.add_note, gets `__notes__` set by hand. Returns e."""
    if hasattr(e, "add_note"):
        e.add_note(note)
    else:
        e.__notes__ = [*getattr(e, "__notes__", ()), note]
    return e


class CaffeMissingFile(CaffeFormatError, FileNotFoundError):
    """A file another Caffe file names (a solverstate's learned_net) is not there: the message
    names both and where it was looked for. Also a FileNotFoundError."""

    def __str__(self):
        return self.args[0] if self.args else ""
