"""`python -m solvers.infer ...`: the command's short name; the code is solvers.inference."""

import sys

from solvers.inference.cli import main

if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
