"""Which example comes next: the release's rule, made deterministic per seed.

Splits whose name contains "train" are shuffled (when `randomize` is on): every step draws an
index uniformly with replacement, `randint(0, n - 1)`, from a private `random.Random(seed)`, which
is the same stream the release drew from the global `random` after `random.seed(seed)`.
Other splits are read in file order and wrap around. seed=None draws a fresh seed (logged in
`ExampleOrder.seed`) so a run can still be repeated.
"""

from __future__ import annotations

import random
import threading


def shuffles(split: object, randomize: bool = True) -> bool:
    """True when examples of `split` are drawn at random (name contains 'train' and randomize)."""
    return bool(randomize) and "train" in str(split)


class ExampleOrder:
    """Index sequence over n examples: `at(k)` is the index of the k-th example (k = 0, 1, ...).

    Random orders are generated lazily and remembered, so `at(k)` is deterministic and may be
    asked in any order (the prefetcher asks one step ahead of the net).
    """

    def __init__(self, n: int, shuffle: bool, seed: int | None = None) -> None:
        if n <= 0:
            raise ValueError("ExampleOrder needs at least one example")
        self.n = n
        self.shuffle = shuffle
        self.seed = random.SystemRandom().randrange(2**31) if seed is None else seed
        self._rng = random.Random(self.seed)
        self._drawn = []  # one small int per step served: a few MB over 300k steps
        self._lock = threading.Lock()

    def at(self, k: int) -> int:
        """Index (0 <= i < n) of the k-th example served (thread-safe)."""
        if not self.shuffle:
            return k % self.n
        with self._lock:
            while len(self._drawn) <= k:
                self._drawn.append(self._rng.randint(0, self.n - 1))
            return self._drawn[k]
