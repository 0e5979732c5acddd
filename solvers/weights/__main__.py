"""`python -m solvers.weights list|fetch|verify` (solvers.weights.cli)."""

import sys

from .cli import main

sys.exit(main())
