"""Nets of the program's engine, opened with the checks each engine needs."""

from __future__ import annotations

from typing import Any

from .choice import adapter, current
from .errors import MissingWeights


def open_net(
    path: str,
    phase: int,
    weights: str | None = None,
    require_weights: bool = False,
    fast: bool = False,
) -> Any:
    """A Net of the program's engine (engine.current()) for prototxt `path` in `phase` (0 TRAIN,
    1 TEST), weights copied from caffemodel `weights`; on real Caffe the files are checked first
    (its own checks abort the process). require_weights: refuse (MissingWeights, a SystemExit
    naming them) when learnable layers got no weights: their fillers would answer. fast:
    torchcaffe's fast inference mode (see fast_mode; real Caffe has none)."""
    net, missing = adapter().open_net(current(), path, phase, weights, fast=fast)
    if require_weights and missing:
        raise MissingWeights(
            f"error: {weights} has no weights for {', '.join(missing)} of {path}: these layers "
            "would run on their fillers (zeros), not trained values. Use the caffemodel trained "
            "for this net (same model, --width and layer names)"
        )
    return net
