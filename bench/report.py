"""Write a bench run: bench/results/<date>-<machine>.json and the table in bench/README.md."""

import json
import math
import os

BEGIN, END = "<!-- RESULTS BEGIN -->", "<!-- RESULTS END -->"


def _t(r):
    return min(r["times"]) if r and r.get("times") else float("nan")


def _spread(r):
    """(min, median, max, max/min) of a row's times."""
    t = sorted(r["times"]) if r and r.get("times") else []
    if not t:
        return (math.nan,) * 4
    return t[0], t[len(t) // 2], t[-1], t[-1] / t[0]


def round_bests(r, reps):
    """Best time of each round of a row (its times are the rounds' `reps` runs, in order)."""
    t = (r.get("times") or []) if r else []
    return [min(t[i : i + reps]) for i in range(0, len(t) - reps + 1, reps)] if reps else []


def _per_round(rows, reps, what):
    """Lines of a per-round table: each row's best per round, its spread over rounds (max/min
    of the round bests) and, with a caffe row, the ratio to Caffe's best of the same round."""
    caffe = round_bests(rows.get("caffe"), reps)
    out = [
        f"| {what}, per round | best of each round (s) | spread over rounds | x Caffe per round |",
        "|---|---|---|---|",
    ]
    for k, r in rows.items():
        b = round_bests(r, reps)
        if not b or k == "caffe" and not caffe:
            continue
        ratio = ", ".join(_fmt(x / c) for x, c in zip(b, caffe)) if caffe else "n/a"
        if k == "host":
            ratio = "-"
        out.append(f"| {k} | {', '.join(_fmt(x) for x in b)} | {_fmt(max(b) / min(b))} | {ratio} |")
    return out + [""]


def _fmt(v, nd=2):
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{nd}f}"


def table(res):
    """Markdown text of the run's results."""
    env = res["env"]
    lines = [
        f"Run {env['date']} on `{env['machine']}` ({env['cpu_model']}, {env['cores']} cores, "
        f"torch {env['torch']}, {env['threads']} threads), input {env['size']}x{env['size']}, "
        f"width {env['width']}, best of {env.get('rounds', 1)} interleaved rounds x {env['reps']} "
        "runs after a warm-up, each round in a fresh process. "
        f"Load average at start {env['loadavg_start']}, at end {env.get('loadavg_end')}.",
        "",
    ]
    fwd = res.get("forward", {})
    if fwd:
        base = _t(fwd.get("eager"))
        lines += [
            "| forward (inference) | time (s) | x eager | peak RSS (MB) | max rel. diff | "
            "argmax agreement | load before |",
            "|---|---|---|---|---|---|---|",
        ]
        for k, r in fwd.items():
            if r.get("skipped") or r.get("error"):
                why = r.get("skipped") or "failed: " + r["error"].strip().splitlines()[-1]
                lines.append(f"| {k} | {why} | | | | | |")
                continue
            acc = r.get("accuracy_vs_exact") or r.get("accuracy_vs_eager") or {}
            ref = " (vs eager)" if "accuracy_vs_eager" in r else ""
            lines.append(
                f"| {k} | {_fmt(_t(r))} | {_fmt(_t(r) / base)} | {_fmt(r.get('peak_rss_mb'), 0)}"
                f" | {_fmt(acc.get('max_rel_diff'), 7)}{ref} | "
                f"{_fmt(acc.get('argmax_agreement'), 5)} | {r['spec'].get('loadavg_before')} |"
            )
        lines.append("")
        lines += _per_round(fwd, env["reps"], "forward")
    tr = res.get("train", {})
    if tr:
        base = _t(tr.get("eager"))
        caffe = _t(tr.get("caffe")) if tr.get("caffe") else math.nan
        lines += [
            "| training iteration (fwd + bwd + SGD) | min / median / max (s) | spread over steps "
            "| x eager "
            "| x Caffe | peak RSS (MB) | peak RSS per round min / median / max (MB) |",
            "|---|---|---|---|---|---|---|",
        ]
        for k, r in tr.items():
            lo, med, hi, sp = _spread(r)
            xe, xc = (_fmt(_t(r) / base), _fmt(_t(r) / caffe)) if k != "host" else ("-", "-")
            lines.append(
                f"| {k} | {_fmt(lo)} / {_fmt(med)} / {_fmt(hi)} | {_fmt(sp)} | "
                f"{xe} | {xc} | {_fmt(r.get('peak_rss_mb'), 0)} | {_rss_rounds(r)} |"
            )
        lines.append("")
        lines += _per_round(tr, env["reps"], "training iteration")
    shared = res.get("shared")
    if shared:
        lines.append(
            f"Two trainings at once: {shared['together_s']:.1f} s together against "
            f"{shared['sequential_s']:.1f} s one after the other ({shared['ratio']:.2f}x)."
        )
        lines.append("")
    miu = res.get("mean_iu")
    if miu:
        lines += [
            "| mode | mean IU (synthetic val, random weights) | diff vs exact |",
            "|---|---|---|",
        ]
        for k, v in miu.items():
            lines.append(f"| {k} | {_fmt(v['mean_iu'], 5)} | {_fmt(v['mean_iu_diff'], 5)} |")
        lines.append("")
    layers = res.get("layers")
    if isinstance(layers, list) and layers:
        lines += ["Per-layer time (torchcaffe, top 12 per pass):", ""]
        lines += ["| net | pass | layer | type | s |", "|---|---|---|---|---|"]
        for tag in ("inference", "train"):
            for p in ("forward", "backward"):
                rows = [r for r in layers if r["net"] == tag and r["pass"] == p]
                if not rows:
                    continue
                total = sum(r["s"] for r in rows)
                for r in sorted(rows, key=lambda r: -r["s"])[:12]:
                    lines.append(f"| {tag} | {p} | {r['layer']} | {r['type']} | {r['s']:.3f} |")
                lines.append(f"| {tag} | {p} | **total** | | **{total:.3f}** |")
        lines.append("")
    data = res.get("data")
    if data:
        lines += ["| data layer | images/s |", "|---|---|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in data.items()]
        lines.append("")
    if res.get("score"):
        lines.append(
            f"Scoring (confusion matrix + metrics, 500x500, 21 classes): "
            f"{res['score']['images_per_s_500x500']:.1f} images/s."
        )
        lines.append("")
    if res.get("cuda"):
        from bench import cuda

        lines += cuda.table(res["cuda"])
        lines.append("")
    return "\n".join(lines)


def write_report(res, bench_dir):
    """Write the JSON results file and replace the RESULTS block of bench/README.md; returns
    the JSON path."""
    env = res["env"]
    os.makedirs(os.path.join(bench_dir, "results"), exist_ok=True)
    stem = f"{env['date'][:10]}-{env['machine']}"
    if env["size"] != 500 or env["width"] != 1.0:
        stem += f"-{env['size']}px-w{env['width']:g}"
    path = os.path.join(bench_dir, "results", stem + ".json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    readme = os.path.join(bench_dir, "README.md")
    text = open(readme).read() if os.path.exists(readme) else ""
    block = f"{BEGIN}\n{table(res)}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text + ("\n" if text else "") + block + "\n"
    with open(readme, "w") as f:
        f.write(text)
    return path


def _rss_rounds(r):
    """'min / median / max' of a row's per-round peak RSS (MB); '-' for runs that lack them."""
    rounds = sorted(r.get("peak_rss_rounds_mb") or [])
    if not rounds:
        return "-"
    mid = rounds[len(rounds) // 2]
    return f"{rounds[0]:.0f} / {mid:.0f} / {rounds[-1]:.0f}"
