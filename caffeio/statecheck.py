"""What a .solverstate must hold to resume from, checked the same way for both engines.

    check_counters(state, "x.solverstate")   # CaffeFormatError naming the file, or None

Caffe keeps the iteration and the multistep position (current_step) in C++ ints: a state at
iteration 2^31 - 1 cannot take one more step (the counter wraps negative), and negative values
are corrupt. A state without learned_net would resume from the initial weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import CaffeFormatError

if TYPE_CHECKING:
    from . import caffe_pb2

INT_MAX = 2**31 - 1


def check_counters(state: caffe_pb2.SolverState, path: str) -> None:
    """Refuse a SolverState whose iter or current_step Caffe cannot hold or count on, or that
    names no learned_net; the message names `path` and what to do."""
    if not 0 <= state.iter < INT_MAX or not 0 <= state.current_step < INT_MAX:
        if state.iter < 0 or state.current_step < 0:
            why = "negative values mean a corrupt solverstate"
        else:
            why = f"Caffe counts both in ints, so at most {INT_MAX - 1} (one more step must fit)"
        raise CaffeFormatError(
            f"{path}: iteration {state.iter}, current_step {state.current_step}: {why}; resume "
            "from another snapshot"
        )
    if not state.learned_net.strip():
        raise CaffeFormatError(
            f"{path}: names no learned_net (the caffemodel holding the weights), so resuming "
            "would keep the initial weights; resume from a .solverstate written together with "
            "its .caffemodel"
        )
