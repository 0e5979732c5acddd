"""Ctrl-C and SIGTERM during training: the solver stops after the iteration it is in."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


class StopRequest:
    """Signal handler state: the solver asks it after each iteration (Caffe's action hook)."""

    def __init__(self) -> None:
        self.signal: int | None = None

    @property
    def stop_pending(self) -> bool:
        return self.signal is not None

    def handler(self, signum: int, frame: object) -> None:
        self.signal = signum
        # a second Ctrl-C interrupts at once
        signal.signal(signum, signal.SIG_DFL)

    def __call__(self) -> str | None:
        return "stop" if self.signal is not None else None

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequest]:
        """SIGINT and SIGTERM set this request inside the block; the handlers before it are
        restored after, whatever happens (an in-process caller keeps its own)."""
        old = {s: signal.signal(s, self.handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    @property
    def name(self) -> str:
        """The signal's name (SIGINT, ...); '' when none came."""
        return signal.Signals(self.signal).name if self.signal is not None else ""
