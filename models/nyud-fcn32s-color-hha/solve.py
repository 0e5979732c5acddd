"""Train nyud-fcn32s-color-hha with the release's recipe; see --help and solvers/training/."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from solvers.training.cli import main  # noqa: E402

if __name__ == "__main__":
    main("nyud-fcn32s-color-hha")
