"""Train voc-fcn-resnet152 (recipe: solver.prototxt); see --help and solvers/train.py."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from solvers.train import main  # noqa: E402

if __name__ == "__main__":
    main("voc-fcn-resnet152")
