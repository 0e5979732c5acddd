"""pycaffe's init_log and log: glog-format lines on stderr (caffeio.glog's format).

`init_log(level)` sets the least severity logged (glog's minloglevel: 0 INFO, 1 WARNING,
2 ERROR, 3 FATAL; default from GLOG_minloglevel, else 0); `log(s)` writes `s` as an INFO line.
The `stderr` flag of init_log is accepted: torchcaffe logs to stderr only (no log files).
"""

import sys

from caffeio.glog import glog_prefix

from . import options

_state = {"minloglevel": None, "stderr": True}


def _level():
    if _state["minloglevel"] is None:
        return options.current().glog_minloglevel
    return _state["minloglevel"]


def init_log(level: int | None = None, stderr: bool | None = None) -> None:
    """init_log(), init_log(level) or init_log(level, stderr), as pycaffe's overloads."""
    if level is not None:
        _state["minloglevel"] = int(level)
    if stderr is not None:
        _state["stderr"] = bool(stderr)


def log(message: str) -> None:
    """Write `message` as a glog INFO line on stderr (unless init_log raised the level)."""
    if _level() <= 0:
        print(glog_prefix("_caffe.cpp:67") + str(message), file=sys.stderr, flush=True)
