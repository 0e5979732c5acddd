"""`python -m solvers.export ...` (solvers.export.cli)."""

import sys

from .cli import main

sys.exit(main())
