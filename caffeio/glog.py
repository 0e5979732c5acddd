"""Log lines in Caffe's glog format (both engines), so Caffe's log parsers read our logs.

    I1121 13:39:22.381027 12345 solver.cpp:218] Iteration 20 (1.5 iter/s, 13.3s/20 iters), loss = 3

Lines go to stderr (as glog's default) and, when set, appended to a log file.
"""

from __future__ import annotations

import datetime
import os
import sys
from typing import TextIO

# The source locations Caffe prints for each message (the parsers ignore them; humans grep them).
WHERE = {
    "solving": "solver.cpp:289",
    "policy": "solver.cpp:290",
    "restore": "solver.cpp:294",
    "iteration": "solver.cpp:218",
    "train_output": "solver.cpp:237",
    "lr": "sgd_solver.cpp:105",
    "testing": "solver.cpp:330",
    "test_loss": "solver.cpp:393",
    "test_output": "solver.cpp:406",
    "snapshot": "solver.cpp:447",
    "snapshot_state": "sgd_solver.cpp:273",
    "done": "solver.cpp:310",
    "clip": "sgd_solver.cpp:138",
    "multistep": "sgd_solver.cpp:46",
    "stopped": "solver.cpp:302",
}


def fmt_float(x: float) -> str:
    """A float as C++ ostream prints it by default (6 significant digits, %g-like)."""
    return f"{float(x):.6g}"


def glog_prefix(where: str, now: datetime.datetime | None = None, pid: int | None = None) -> str:
    """`I1121 13:39:22.381027 12345 solver.cpp:218] ` for the current time and process."""
    now = now or datetime.datetime.now()
    pid = os.getpid() if pid is None else pid
    return f"I{now:%m%d %H:%M:%S}.{now.microsecond:06d} {pid:5d} {where}] "


class SolverLog:
    """Writes glog-format INFO lines; `enabled=False` (non-root DDP ranks) writes nothing."""

    def __init__(
        self, path: str | None = None, stream: TextIO | None = None, enabled: bool = True
    ) -> None:
        self.path = path
        self.stream = stream
        self.enabled = enabled

    def __call__(self, key: str, message: str) -> None:
        """Log `message` with the source location Caffe uses for `key` (see WHERE)."""
        if not self.enabled:
            return
        line = glog_prefix(WHERE.get(key, "solver.cpp:0")) + message
        stream = self.stream if self.stream is not None else sys.stderr
        print(line, file=stream, flush=True)
        if self.path:
            with open(self.path, "a") as f:
                f.write(line + "\n")
