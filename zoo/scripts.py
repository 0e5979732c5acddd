"""The two scripts of a model folder, models/<model>/solve.py and score.py, from one template.

They put the repository root (two folders up) on sys.path and hand over to the command lines
solvers.training.cli and solvers.evaluation.cli with the model's name; `python -m zoo make`
writes them next to the prototxt when the model folder sits two levels below the repository
(models/<model>). A user's model folder (zoo.custom) gets scripts that register its records
first (custom_solve_py, custom_score_py).
"""

import os

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


_CUSTOM = '''"""{doc}"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, {root})

from {cli} import main  # noqa: E402
from zoo.custom import load  # noqa: E402

if __name__ == "__main__":
    main(load(HERE))
'''


def custom_root(folder: str, repository: str) -> str:
    """The sys.path entry a user's model folder's scripts write: two folders up when the folder
    sits at <repository>/<dir>/<model> (movable with the repository), else the absolute path."""
    up = os.path.abspath(os.path.join(folder, "..", ".."))
    return (
        'os.path.join(HERE, "..", "..")' if up == os.path.abspath(repository) else repr(repository)
    )


def custom_solve_py(model: str, arch: str, root: str) -> str:
    """Text of <folder>/solve.py of a user's model folder (zoo.custom): registers the folder's
    records (zoo.custom.load), then trains as every model's solve.py does."""
    doc = f"Train {model} ({arch} on your dataset; recipe: solver.prototxt); see --help."
    return _CUSTOM.format(doc=doc, root=root, cli="solvers.training.cli")


def custom_score_py(model: str, root: str) -> str:
    """Text of <folder>/score.py of a user's model folder (zoo.custom)."""
    doc = f"Score {model}: --weights X [--split S] [--out DIR] [--png]; see --help."
    return _CUSTOM.format(doc=doc, root=root, cli="solvers.evaluation.cli")
