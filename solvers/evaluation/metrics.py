"""Segmentation metrics of the FCN paper from a dataset-level confusion matrix.

hist[i, j] = number of pixels of ground-truth class i predicted as j, counted over pixels with
0 <= gt < C (void / ignore labels such as 255 drop out). Classes absent from the ground truth
and never predicted get NaN accuracy / IU and are left out of the means (nanmean), silently.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def fast_hist(gt: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """Confusion matrix (n, n) int64 of integer label arrays `gt` and `pred` (any equal shape)."""
    gt = np.asarray(gt).ravel()
    pred = np.asarray(pred).ravel()
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth has {gt.size} pixels but prediction has {pred.size}")
    k = (gt >= 0) & (gt < n)
    pred_k = pred[k].astype(np.int64)
    if pred_k.size and (pred_k.min() < 0 or pred_k.max() >= n):
        raise ValueError(f"predictions must lie in 0..{n - 1}, got {pred_k.min()}..{pred_k.max()}")
    return np.bincount(n * gt[k].astype(np.int64) + pred_k, minlength=n * n).reshape(n, n)


def scores(hist: np.ndarray, exclude: Sequence[int] = ()) -> dict:
    """Metrics of a confusion matrix -> dict.

    overall_acc = trace / sum; per_class_acc = diag / rowsum; per_class_iu =
    diag / (rowsum + colsum - diag); mean_acc / mean_iu = nanmean of those over the classes not
    in `exclude` (indices); fwavacc = sum over classes with freq > 0 of freq * IU. NaN where a
    class never occurs (in ground truth or prediction); no warnings.
    """
    hist = np.asarray(hist, dtype=np.float64)
    n = hist.shape[0]
    diag, rows, cols = np.diag(hist), hist.sum(1), hist.sum(0)
    total = hist.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = diag / rows
        iu = diag / (rows + cols - diag)
    keep = np.ones(n, bool)
    keep[list(exclude)] = False
    freq = rows / total if total else np.zeros(n)

    def nanmean(x):
        x = x[keep]
        x = x[~np.isnan(x)]
        return float(x.mean()) if x.size else float("nan")

    valid = (freq > 0) & keep & ~np.isnan(iu)
    return {
        "overall_acc": float(diag.sum() / total) if total else float("nan"),
        "mean_acc": nanmean(acc),
        "mean_iu": nanmean(iu),
        "fwavacc": float((freq[valid] * iu[valid]).sum()) if total else float("nan"),
        "per_class_acc": [float(a) for a in acc],
        "per_class_iu": [float(a) for a in iu],
        "pixels": int(total),
        "excluded": sorted(int(i) for i in exclude),
    }


def table(result: dict, names: Sequence[str] | None = None, title: str | None = None) -> str:
    """Printable per-class table (class, IU %, acc %, note) plus the summary lines."""
    n = len(result["per_class_iu"])
    names = list(names) if names is not None else [str(i) for i in range(n)]
    if len(names) != n:
        raise ValueError(f"{len(names)} class names for {n} classes")
    width = max(8, max(len(s) for s in names))
    lines = [title] if title else []
    lines.append(f"{'class':<{width}}  {'IU %':>6}  {'acc %':>6}")
    excluded = set(result.get("excluded", ()))
    for i, name in enumerate(names):
        iu, acc = result["per_class_iu"][i], result["per_class_acc"][i]
        note = "  (excluded)" if i in excluded else ("  (absent)" if np.isnan(iu) else "")
        lines.append(f"{name:<{width}}  {_pct(iu):>6}  {_pct(acc):>6}{note}")
    lines.append(
        f"overall acc {_pct(result['overall_acc'])}  mean acc {_pct(result['mean_acc'])}  "
        f"mean IU {_pct(result['mean_iu'])}  fwavacc {_pct(result['fwavacc'])}"
    )
    return "\n".join(lines)


def _pct(x):
    return "n/a" if x is None or np.isnan(x) else f"{100 * x:.1f}"
