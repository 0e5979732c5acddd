"""pycaffe's Timer: start(), stop(), `ms` (milliseconds between them), as Caffe's CPU timer."""

from __future__ import annotations

import time


class Timer:
    """Wall-clock timer. Reading `ms` while it runs stops it first (as Caffe's MilliSeconds);
    `ms` before any start is 0. On a CUDA device, start/stop wait for the queued kernels first
    so that the time covers them (Caffe's GPU timer times the device with events)."""

    def __init__(self) -> None:
        self._start = None
        self._elapsed = 0.0
        self.running = False

    @staticmethod
    def _sync():
        from . import device

        dev = device.current_device()
        if dev.type == "cuda":
            import torch

            torch.cuda.synchronize(dev)

    def start(self) -> None:
        """Start (or restart) timing."""
        if not self.running:
            self._sync()
            self._start = time.perf_counter()
            self.running = True

    def stop(self) -> None:
        """Stop timing; `ms` then holds the time since start()."""
        if self.running:
            self._sync()
            self._elapsed = (time.perf_counter() - self._start) * 1000.0
            self.running = False

    @property
    def ms(self) -> float:
        """Milliseconds between the last start() and stop() (stops a running timer)."""
        if self._start is None:
            return 0.0
        self.stop()
        return self._elapsed
