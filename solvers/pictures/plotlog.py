"""Training curves from logs: loss and mean IU against iteration, as a PNG.

    python -m solvers.plotlog runs/voc-fcn8s/snapshot/train.jsonl --out curves.png
    python -m solvers.plotlog caffe.INFO [more logs...] --out curves.png

Reads three kinds of log (detected per file):
- ours: the training driver's JSON lines (`snapshot/train.jsonl`: {"iter", "loss", "lr"} per
  iteration, {"iter", "scores": {head: {"mean_iu", ...}}} per scoring; the rows of the last
  run only, by their "run" id);
- Caffe's glog text (`Iteration N (...), loss = L` or the older `Iteration N, loss = L`;
  `Test net output #k: blob = v`; `Iteration N, lr = r`), which torchcaffe also writes to
  `snapshot/train.log`;
- the release's score printout mixed into such logs (`>>> <date> Iteration N mean IU 0.63`,
  and our driver's `>>> iteration N` followed by `... mean IU 0.6312 ...`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys

from caffeio.atomic import atomic_path

_ITER_LOSS = re.compile(r"Iteration (\d+)(?: \([^)]*\))?, loss = ([-+0-9.eEinfa]+)")
_LR = re.compile(r"Iteration (\d+), lr = ([-+0-9.eE]+)")
_TESTING = re.compile(r"Iteration (\d+), Testing net")
_TEST_OUT = re.compile(r"Test net output #\d+: (\S+) = ([-+0-9.eEinfa]+)")
_RELEASE_SCORE = re.compile(r">>> .*?Iteration (\d+) mean IU ([-+0-9.eEna]+)", re.IGNORECASE)
_OUR_SCORE_ITER = re.compile(r">>> iteration (\d+)\s*$")
_MEAN_IU = re.compile(r"mean IU ([-+0-9.eEna]+)")


class LogFormatError(ValueError):
    """A log this module cannot read; the message names the file and line."""


def _float(text):
    try:
        return float(text)
    except ValueError:
        return math.nan


def parse_log(path: str) -> dict:
    """Read a training log -> {'loss': [(iter, loss)], 'lr': [(iter, lr)],
    'mean_iu': [(iter, value)], 'test': {blob: [(iter, value)]}, 'format': 'jsonl'|'caffe'}.

    mean IU values are fractions (0..1): percentages found in logs are divided by 100.
    """
    if not os.path.isfile(path):
        raise LogFormatError(f"{path}: no such log file")
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if first.lstrip().startswith("{"):
        return _parse_jsonl(path, text)
    return _parse_caffe(path, text)


def _jsonl_rows(path, text):
    """The rows of the last run in a train.jsonl (rows carry the "run" that wrote them; a log
    from before run ids: every row)."""
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise LogFormatError(f"{path}:{n}: not a JSON line ({e.msg})") from None
    rows = [r for r in rows if isinstance(r, dict)]
    runs = [r["run"] for r in rows if "run" in r]
    return [r for r in rows if r.get("run") == runs[-1]] if runs else rows


def _parse_jsonl(path, text):
    out = {"loss": [], "lr": [], "mean_iu": [], "test": {}, "format": "jsonl"}
    for row in _jsonl_rows(path, text):
        it = row.get("iter")
        if it is None:
            continue
        if "scores" in row and isinstance(row["scores"], dict):
            for head, r in row["scores"].items():
                if isinstance(r, dict) and r.get("mean_iu") is not None:
                    key = "mean_iu" if head in ("score", "sem") else f"mean_iu_{head}"
                    out.setdefault(key, []).append((it, float(r["mean_iu"])))
                    if r.get("loss") is not None:
                        out["test"].setdefault(f"{head} loss", []).append((it, float(r["loss"])))
        elif "loss" in row and "error" not in row and row["loss"] is not None:
            out["loss"].append((it, float(row["loss"])))
            if row.get("lr") is not None:
                out["lr"].append((it, float(row["lr"])))
    return out


def _parse_caffe(path, text):
    out = {"loss": [], "lr": [], "mean_iu": [], "test": {}, "format": "caffe"}
    test_iter = None
    score_iter = None
    for line in text.splitlines():
        m = _ITER_LOSS.search(line)
        if m:
            out["loss"].append((int(m.group(1)), _float(m.group(2))))
            continue
        m = _LR.search(line)
        if m:
            out["lr"].append((int(m.group(1)), _float(m.group(2))))
            continue
        m = _TESTING.search(line)
        if m:
            test_iter = int(m.group(1))
            continue
        m = _TEST_OUT.search(line)
        if m and test_iter is not None:
            out["test"].setdefault(m.group(1), []).append((test_iter, _float(m.group(2))))
            continue
        m = _RELEASE_SCORE.search(line)
        if m:
            out["mean_iu"].append((int(m.group(1)), _fraction(_float(m.group(2)))))
            continue
        m = _OUR_SCORE_ITER.search(line)
        if m:
            score_iter = int(m.group(1))
            continue
        m = _MEAN_IU.search(line)
        if m and score_iter is not None:
            out["mean_iu"].append((score_iter, _fraction(_float(m.group(1)))))
            score_iter = None
    if not (out["loss"] or out["mean_iu"] or out["test"]):
        raise LogFormatError(
            f"{path}: no 'Iteration N ..., loss = L' lines, test outputs or mean IU lines: is "
            "this a Caffe/torchcaffe training log or a train.jsonl?"
        )
    return out


def _fraction(v):
    return v / 100.0 if v > 1.0 else v


def smooth(values: list[float], window: int = 20) -> list[float]:
    """Trailing moving average (Caffe's average_loss) of a list of floats, same length."""
    out, acc, buf = [], 0.0, []
    for v in values:
        buf.append(v)
        acc += v
        if len(buf) > window:
            acc -= buf.pop(0)
        out.append(acc / len(buf))
    return out


def plot(
    logs: list[dict],
    out_png: str,
    labels: list[str] | None = None,
    title: str | None = None,
    smooth_window: int = 20,
) -> str:
    """Draw loss (left, log scale when positive) and mean IU (right) against iteration for
    each parsed log (parse_log dicts) into out_png. Returns out_png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = labels or [f"log {i + 1}" for i in range(len(logs))]
    fig, (ax_l, ax_m) = plt.subplots(1, 2, figsize=(10, 3.8))
    for log, name in zip(logs, labels):
        if log["loss"]:
            its, vals = zip(*log["loss"])
            if log["format"] == "jsonl":  # every iteration: show raw and Caffe's average
                ax_l.plot(its, vals, alpha=0.25, lw=0.8)
                ax_l.plot(its, smooth(list(vals), smooth_window), lw=1.6, label=name,
                          color=ax_l.lines[-1].get_color())  # fmt: skip
            else:  # glog lines already carry the solver's average_loss
                ax_l.plot(its, vals, lw=1.6, marker=".", label=name)
        ius = log.get("mean_iu") or []
        if ius:
            its, vals = zip(*ius)
            ax_m.plot(its, [100 * v for v in vals], marker="o", label=name)
        else:
            for blob, pts in log["test"].items():
                if "loss" not in blob and pts:
                    its, vals = zip(*pts)
                    ax_m.plot(its, vals, marker=".", label=f"{name}: {blob}")
    ax_l.set_xlabel("iteration")
    ax_l.set_ylabel("training loss")
    if all(v > 0 for log in logs for _, v in log["loss"] if not math.isnan(v)) and any(
        log["loss"] for log in logs
    ):
        ax_l.set_yscale("log")
    ax_m.set_xlabel("iteration")
    top = max([100 * v for log in logs for _, v in log.get("mean_iu") or [] if v == v] or [0])
    if top:
        ax_m.set_ylim(0, min(100, max(10, top * 1.15)))
    ax_m.set_ylabel("mean IU (%) on the eval split")
    for ax in (ax_l, ax_m):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        with atomic_path(out_png) as tmp:  # O_EXCL temp name: nothing planted there is followed
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)
    return out_png


def main(argv: list[str] | None = None) -> int:
    """CLI: python -m solvers.plotlog LOG [LOG...] --out curves.png."""
    p = argparse.ArgumentParser(
        prog="python -m solvers.plotlog",
        description="Plot training loss and mean IU from train.jsonl or Caffe/torchcaffe logs.",
    )
    p.add_argument("logs", nargs="+", help="train.jsonl, train.log or a Caffe glog file")
    p.add_argument("--out", default="curves.png", help="PNG to write (default curves.png)")
    p.add_argument("--title")
    p.add_argument("--smooth", type=int, default=20, help="moving average window for the loss")
    args = p.parse_args(argv)
    try:
        logs = [parse_log(path) for path in args.logs]
    except LogFormatError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    plot(logs, args.out, labels=[os.path.basename(x) for x in args.logs], title=args.title,
         smooth_window=args.smooth)  # fmt: skip
    for path, log in zip(args.logs, logs):
        last = log["mean_iu"][-1] if log["mean_iu"] else None
        tail = f", last mean IU {100 * last[1]:.1f}% at {last[0]}" if last else ""
        print(f"{path}: {len(log['loss'])} loss points{tail}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
