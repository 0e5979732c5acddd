"""`python -m solvers.plotlog LOG [LOG...] --out curves.png`: the command's short name; the code
is solvers.pictures.plotlog."""

import sys

from solvers.pictures.plotlog import main

if __name__ == "__main__":
    sys.exit(main())
