"""python -m layers.folder check|split|mean DIR: your own dataset folder (zoo/userdata.py).

python -m layers.folder check data/mydata [--void-label 255]   # read every pair, report
python -m layers.folder split data/mydata [--val 0.2] [--seed 0]   # train.txt, val.txt
python -m layers.folder mean data/mydata [--split train]       # mean.txt (B G R)
"""

from __future__ import annotations

import argparse
import sys

from zoo.userdata import UserDataError

from ..errors import DataError
from .tools import check, summary, write_mean, write_split


def _check(args):
    report = check(args.dir, args.void_label)
    for line in summary(report, args.void_label):
        print(line)
    for problem in report.problems:
        print(f"error: {problem}", file=sys.stderr)
    if report.problems:
        print(f"{len(report.problems)} problem(s) in {args.dir}", file=sys.stderr)
        return 1
    print("ok: every pair reads as the data layer reads it")
    return 0


def _split(args):
    train, val = write_split(args.dir, args.val, args.seed)
    print(f"wrote {args.dir}/train.txt ({len(train)} ids) and val.txt ({len(val)} ids), seed "
          f"{args.seed}")  # fmt: skip
    return 0


def _mean(args):
    mean, n = write_mean(args.dir, args.split)
    print(f"wrote {args.dir}/mean.txt: B G R {' '.join(f'{v:.5f}' for v in mean)} ({n} images "
          f"of {args.split})")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m layers.folder check|split|mean DIR` -> exit status (0, or 1 with the
    problems on stderr)."""
    ap = argparse.ArgumentParser(prog="python -m layers.folder", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="read every pair; report problems and pixels per class")
    c.add_argument("dir")
    c.add_argument("--void-label", type=int, default=255, help="the ignore value (default 255)")
    s = sub.add_parser("split", help="write train.txt and val.txt (deterministic)")
    s.add_argument("dir")
    s.add_argument("--val", type=float, default=0.2, help="fraction for val (default 0.2)")
    s.add_argument("--seed", type=int, default=0, help="the draw's seed (default 0)")
    m = sub.add_parser("mean", help="write mean.txt: the mean pixel (B G R) of a split")
    m.add_argument("dir")
    m.add_argument("--split", default="train", help="which split's pictures (default train)")
    args = ap.parse_args(argv)
    try:
        return {"check": _check, "split": _split, "mean": _mean}[args.cmd](args)
    except (UserDataError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
