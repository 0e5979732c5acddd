"""Background decoding: the next example is loaded while the net computes.

A single worker thread (PIL decoding, zlib and NumPy release the GIL) loads example k+1 (the
batch at k+N, with stride N) while the net runs on example k. The *order* is fixed by
ExampleOrder before loading, so prefetching never changes which examples are served, only when
they are decoded.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def _shutdown(pool):
    pool.shutdown(wait=True, cancel_futures=True)


class Prefetcher:
    """Load `load(k)` for the requested k, keeping `depth` later ones in flight.

    get(k) returns load(k)'s result (re-raising its error in the caller) and schedules
    k + stride, ..., k + depth * stride (stride: the positions one get() consumes, e.g. the
    batch size when load(k) loads examples k..k+N-1); with depth=0 nothing is loaded ahead
    (prefetch off). close() stops the worker; it is also called at garbage collection and
    interpreter exit.
    """

    def __init__(
        self,
        load: Callable[[int], Any],
        depth: int = 1,
        name: str = "data-prefetch",
        stride: int = 1,
    ) -> None:
        self.load = load
        self.depth = max(0, int(depth))
        self.stride = int(stride)
        if self.stride < 1:
            raise ValueError(f"Prefetcher stride must be >= 1, got {stride}")
        self._pending = {}
        self._lock = threading.Lock()
        self._pool = None
        if self.depth:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
            self._finalizer = weakref.finalize(self, _shutdown, self._pool)

    def get(self, k: int) -> Any:
        """The example at position k (blocks until decoded), then schedule the next `depth`
        positions k + stride, k + 2 * stride, ..."""
        if self._pool is None:
            return self.load(k)
        with self._lock:
            fut = self._pending.pop(k, None)
            for old in [j for j in self._pending if j < k]:
                self._pending.pop(old).cancel()
            for j in range(k + self.stride, k + self.stride * (self.depth + 1), self.stride):
                if j not in self._pending:
                    self._pending[j] = self._pool.submit(self.load, j)
        if fut is None:
            return self.load(k)
        return fut.result()

    def close(self) -> None:
        """Cancel pending loads and join the worker thread (idempotent)."""
        if self._pool is not None:
            with self._lock:
                for fut in self._pending.values():
                    fut.cancel()
                self._pending.clear()
            self._finalizer()
            self._pool = None
