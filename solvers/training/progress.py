"""The training progress bar (tqdm on stderr, rank 0) with the log lines written above it."""

from __future__ import annotations

import sys
from typing import Any


def progress_bar(total: int, enabled: bool) -> Any | None:
    """A tqdm bar of `total` iterations on stderr, or None (disabled, or tqdm missing)."""
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="it", dynamic_ncols=True, file=sys.stderr)


class BarStream:
    """A file-like object writing log lines above the progress bar."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar

    def write(self, text: str) -> None:
        text = text.rstrip("\n")
        if text:
            self.bar.write(text, file=sys.stderr)

    def flush(self) -> None:
        pass
