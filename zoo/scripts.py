"""The two scripts of a model folder, models/<model>/solve.py and score.py, from one template.

They put the repository root (two folders up) on sys.path and hand over to the command lines
solvers.training.cli and solvers.evaluation.cli with the model's name; `python -m zoo make`
writes them next to the prototxt when the model folder sits two levels below the repository
(models/<model>).
"""

_HEAD = '''"""{doc}"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

'''
_TAIL = """  # noqa: E402

if __name__ == "__main__":
    main("{model}")
"""


def solve_py(model: str, release: bool = True) -> str:
    """Text of models/<model>/solve.py (release models: "with the release's recipe")."""
    how = "with the release's recipe" if release else "(recipe: solver.prototxt)"
    doc = f"Train {model} {how}; see --help and solvers/training/."
    text = "from solvers.training.cli import main"
    return _HEAD.format(doc=doc) + text + _TAIL.format(model=model)


def score_py(model: str) -> str:
    """Text of models/<model>/score.py."""
    doc = f"Score {model}: --weights X [--split S] [--out DIR] [--png]; see --help."
    text = "from solvers.evaluation.cli import main"
    return _HEAD.format(doc=doc) + text + _TAIL.format(model=model)
