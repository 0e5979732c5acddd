"""Score siftflow-fcn8s: --weights X [--split S] [--out DIR] [--png]; see --help."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from solvers.evaluation.cli import main  # noqa: E402

if __name__ == "__main__":
    main("siftflow-fcn8s")
