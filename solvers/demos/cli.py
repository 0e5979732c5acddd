"""`python -m solvers.demo [--recipe resnet] ...`: the staged FCN demo (solvers.demos.staged),
or with --recipe resnet the FCN-ResNet recipe demo (solvers.demos.resnet)."""

from __future__ import annotations

import sys
from typing import Any


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the demo the flags ask for; returns the metrics dict of its score head."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a == "--recipe" or a.startswith("--recipe=") for a in argv):
        from .resnet import main as recipe_demo

        return recipe_demo(argv)
    from .staged import main as staged_demo

    return staged_demo(argv)
