"""The published weights: list them, fetch them (resumable, verified), verify what is here.

    python -m solvers.weights list [--markdown]
    python -m solvers.weights fetch vgg16 voc-fcn8s [--replace-bad] [--no-progress]
    python -m solvers.weights verify [NAME ...]

`fetch` of an ILSVRC classifier (vgg16, alexnet, googlenet, resnet50/101/152) also fetches its
deploy prototxt and makes the fully convolutional base the staged inits start from
(models/ilsvrc-nets/<x>-fcn.caffemodel, by `surgery fcnize`), so that solve.py runs next.
The catalog with its sources is zoo/catalog.py, the download rules zoo/download.py.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from solvers.runs.folder import ROOT
from zoo.catalog import CATALOG, NAMES, get
from zoo.download import DownloadError, fetch, verify

COLUMNS = ("name", "size", "checksum", "installed at", "used by")


def _size(n):
    if n is None:
        return "not published"
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:.1f} {unit} ({n:,} B)"
    return f"{n:,} B"


def _checksum(rec, full=False):
    if not rec.checksums:
        return "recorded at first download"
    c = rec.checksums[0]
    more = f" (+{len(rec.checksums) - 1})" if len(rec.checksums) > 1 else ""
    return f"{c.kind} {c.value if full else c.value[:12] + '…'}{more}"


def _used_by(rec):
    return ", ".join(rec.used_by)


def rows(markdown: bool = False) -> list[tuple[str, ...]]:
    """The catalog as rows of COLUMNS (strings)."""
    out = []
    for rec in CATALOG.values():
        name = f"`{rec.name}`" if markdown else rec.name
        dest = f"`{rec.dest}`" if markdown else rec.dest
        out.append((name, _size(rec.size), _checksum(rec), dest, _used_by(rec)))
    return out


def table(markdown: bool = False) -> str:
    """The catalog as a plain-text or markdown table (the README's is `list --markdown`)."""
    data = rows(markdown)
    if markdown:
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(r) + " |" for r in data]
        return "\n".join(lines)
    widths = [max(len(c), *(len(r[i]) for r in data)) for i, c in enumerate(COLUMNS)]
    fmt = "  ".join(f"{{:{w}}}" for w in widths[:-1]) + "  {}"
    return "\n".join(fmt.format(*r) for r in (COLUMNS, *data))


def _fcnize(rec, root, log):
    """Make models/ilsvrc-nets/<x>-fcn.caffemodel from a fetched classifier (once)."""
    from surgery.fcnize import fcnize

    folder = os.path.dirname(os.path.join(root, rec.dest))
    out = os.path.join(folder, rec.fcnized + ".caffemodel")
    if os.path.exists(out):
        log(f"{rec.name}: {out} already made (delete it to make it again)")
        return out
    proto = os.path.join(root, get(rec.deploy).dest)
    log(f"{rec.name}: making the fully convolutional base {out} (surgery fcnize)")
    fcnize(proto, os.path.join(root, rec.dest), out, verbose=False)
    return out


def cmd_fetch(
    names: Sequence[str],
    root: str,
    replace_bad: bool = False,
    progress: bool = True,
    fcnize: bool = True,
    log: Callable[[str], None] | None = None,
) -> list[str]:
    """Fetch catalog entries (with a classifier's deploy prototxt and fcnized base); -> paths."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    done = []
    for name in names:
        rec = get(name)
        todo = [rec] + ([get(rec.deploy)] if rec.deploy else [])
        for r in todo:
            done.append(fetch(r, root, replace_bad=replace_bad, progress=progress, log=log))
            log(f"{r.name}: {done[-1]} verified")
        if rec.fcnized and fcnize:
            done.append(_fcnize(rec, root, log))
    return done


def cmd_verify(names: Sequence[str], root: str) -> int:
    """Print each entry's state; -> number of files that fail verification."""
    bad = shown = 0
    for name in names or list(CATALOG):
        rec = get(name)
        v = verify(rec, root)
        if v.status == "missing" and not names:
            continue
        shown += 1
        detail = {
            "ok": f"{', '.join(v.checked)} match",
            "mismatch": "; ".join(v.problems),
            "missing": "not there (python -m solvers.weights fetch " + rec.name + ")",
            "unverified": "nothing published or recorded to check it against",
        }[v.status]
        print(f"{rec.name}: {v.status.upper()}: {v.path}: {detail}")
        bad += v.status == "mismatch"
    if not shown:
        print(f"no catalog file is installed under {root} (python -m solvers.weights list)")
    return bad


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m solvers.weights", description=__doc__.split("\n")[0]
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="the catalog: name, size, checksum, where it goes, users")
    ls.add_argument("--markdown", action="store_true", help="a markdown table (the README's)")
    f = sub.add_parser("fetch", help="download, verify and install NAME... (see list)")
    f.add_argument("names", nargs="+", metavar="NAME", help=", ".join(NAMES))
    f.add_argument(
        "--replace-bad",
        action="store_true",
        help="move an installed file that fails verification to .bad and download it again",
    )
    f.add_argument("--no-progress", action="store_true", help="no progress bar")
    f.add_argument("--no-fcnize", action="store_true", help="do not make <x>-fcn.caffemodel")
    v = sub.add_parser("verify", help="check installed files (all present ones by default)")
    v.add_argument("names", nargs="*", metavar="NAME")
    return p


def main(argv: list[str] | None = None, root: str = ROOT) -> int:
    """Command line; -> exit status (0 fine, 1 a file fails verification, 2 an error)."""
    args = _parser().parse_args(argv)
    names = getattr(args, "names", None) or []
    unknown = [n for n in names if n not in CATALOG]
    if unknown:
        print(
            f"python -m solvers.weights: error: not in the catalog: {', '.join(unknown)} "
            f"(python -m solvers.weights list shows the names: {', '.join(NAMES)})",
            file=sys.stderr,
        )
        return 2
    if args.cmd == "list":
        print(table(args.markdown))
        return 0
    if args.cmd == "verify":
        return 1 if cmd_verify(names, root) else 0
    try:
        cmd_fetch(names, root, args.replace_bad, not args.no_progress, not args.no_fcnize)
    except DownloadError as e:
        print(f"python -m solvers.weights fetch: error: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as e:  # fcnize: a classifier that does not fit its prototxt
        print(f"python -m solvers.weights fetch: error: {e}", file=sys.stderr)
        return 2
    return 0
