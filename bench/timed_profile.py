"""`python -m zoo profile` plus the measured forward speed under torchcaffe (CPU; CUDA if seen).

    python -m bench.timed_profile voc-fcn8s [more models] --input 500x500 [--width 1] [--per-layer]
        [--json out.json]

Counts as `python -m zoo profile` (netspec.profile); timings from bench.speed.measure: random
weights, one warm-up forward, the best of 3 timed forwards of one image.
"""

import sys

from bench import speed
from zoo.__main__ import profile_models, profile_parser, run


def main(argv=None, out=sys.stdout):
    """Entry point; returns the exit status (errors: one line on stderr, status 1)."""
    args = profile_parser("python -m bench.timed_profile", __doc__.splitlines()[0]).parse_args(argv)
    return run(
        lambda: profile_models(
            args.models, args.input, args.width, out, args.per_layer, args.json, speed.measure
        )
    )


if __name__ == "__main__":
    sys.exit(main())
