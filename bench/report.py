"""Write a bench run: bench/results/<date>-<host>.json and the table in bench/README.md.

    python -m bench.report [RESULTS.json ...]   # the Caffe-ratio rows, one set per kind of host

`host_rows` renders, from results files (default: every bench/results/*.json), one set of rows
per kind of host (bench.host.tag: 'epyc-avx512', 'epyc-avx2emu', ...), each from that host's
latest run with Caffe rows: the README's performance table.
"""

import glob
import json
import math
import os
import sys

from bench import host as _host

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
    lines = _run_lines(env)
    if res.get("forward"):
        lines += _forward_lines(res["forward"], env["reps"])
    if res.get("train"):
        lines += _train_lines(res["train"], env["reps"])
    if res.get("shared"):
        lines += _shared_lines(res["shared"])
    if res.get("shared_policies"):
        lines += policy_table(res["shared_policies"])
    if res.get("mean_iu"):
        lines += _mean_iu_lines(res["mean_iu"])
    layers = res.get("layers")
    if isinstance(layers, list) and layers:
        lines += _layer_lines(layers)
    if res.get("data"):
        lines += ["| data layer | images/s |", "|---|---|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in res["data"].items()]
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


def _run_lines(env):
    """The host (when recorded) and the run's settings and load."""
    lines = [
        f"Run {env['date']} on `{env['machine']}` ({env['cpu_model']}, {env['cores']} cores, "
        f"torch {env['torch']}, {env['threads']} threads), input {env['size']}x{env['size']}, "
        f"width {env['width']}, best of {env.get('rounds', 1)} interleaved rounds x {env['reps']} "
        "runs after a warm-up, each round in a fresh process. "
        f"Load average at start {env['loadavg_start']}, at end {env.get('loadavg_end')}.",
        "",
    ]
    if env.get("host"):
        lines[0:0] = [f"Host `{_host.tag(env['host'])}`: {_host.line(env['host'])}.", ""]
    return lines


def _forward_lines(fwd, reps):
    """The forward table (time, ratio to eager, RSS, accuracy) and its per-round table."""
    base = _t(fwd.get("eager"))
    lines = [
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
    return lines + _per_round(fwd, reps, "forward")


def _train_lines(tr, reps):
    """The training table (spread, ratios to eager and Caffe, RSS) and its per-round table."""
    base = _t(tr.get("eager"))
    caffe = _t(tr.get("caffe")) if tr.get("caffe") else math.nan
    lines = [
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
    return lines + _per_round(tr, reps, "training iteration")


def _shared_lines(shared):
    return [
        f"Two trainings at once: {shared['together_s']:.1f} s together against "
        f"{shared['sequential_s']:.1f} s one after the other ({shared['ratio']:.2f}x).",
        "",
    ]


def _mean_iu_lines(miu):
    lines = [
        "| mode | mean IU (synthetic val, random weights) | diff vs exact |",
        "|---|---|---|",
    ]
    for k, v in miu.items():
        lines.append(f"| {k} | {_fmt(v['mean_iu'], 5)} | {_fmt(v['mean_iu_diff'], 5)} |")
    return lines + [""]


def _layer_lines(layers):
    """The 12 slowest layers of each net and pass, with the pass's total."""
    lines = ["Per-layer time (torchcaffe, top 12 per pass):", ""]
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
    return lines + [""]


def policy_table(runs):
    """Lines of the wait-policy comparison: per policy (its variables), the rounds' ratios of two
    trainings together to the two one after the other, and one job's time alone."""
    out = [
        "| wait policy | variables | together / one after the other, per round | best | "
        "one job alone (s), min / max |",
        "|---|---|---|---|---|",
    ]
    for name, rounds in runs.items():
        if not rounds:
            continue
        env = rounds[0].get("policy_env") or {}
        var = " ".join(f"{k}={v}" for k, v in env.items() if v is not None) or "(none)"
        ratios = [r["ratio"] for r in rounds]
        alone = [t for r in rounds for t in r.get("alone_s", [])]
        alone_s = f"{_fmt(min(alone), 1)} / {_fmt(max(alone), 1)}" if alone else "n/a"
        out.append(
            f"| {name} | {var} | {', '.join(_fmt(x) for x in ratios)} | {_fmt(min(ratios))} | "
            f"{alone_s} |"
        )
    return out + [""]


def results_name(env):
    """'<date>-<host tag>[-<size>px-w<width>]' of a run's env."""
    stem = f"{env['date'][:10]}-{_host.tag(env.get('host') or env)}"
    if env["size"] != 500 or env["width"] != 1.0:
        stem += f"-{env['size']}px-w{env['width']:g}"
    return stem


def write_report(res, bench_dir):
    """Write the JSON results file (never over an earlier one: a second run of the day gets
    its time appended) and replace the RESULTS block of bench/README.md; returns the JSON
    path."""
    env = res["env"]
    os.makedirs(os.path.join(bench_dir, "results"), exist_ok=True)
    stem = results_name(env)
    path = os.path.join(bench_dir, "results", stem + ".json")
    if os.path.exists(path):
        path = os.path.join(
            bench_dir, "results", f"{stem}-{env['date'][11:16].replace(':', '')}.json"
        )
    n = 2
    while os.path.exists(path):
        path = os.path.join(bench_dir, "results", f"{stem}-{n}.json")
        n += 1
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


# The speed issue's targets: torchcaffe / BVLC Caffe (both on the same host, same run).
TARGETS = {
    "exact forward": 0.45,
    "fast mode forward": 0.35,
    "training iteration": 0.6,
    "peak training memory": 0.5,
    "two trainings at once vs one after the other": 1.1,
}


def _ratio_row(name, rows, key, reps):
    """(name, torchcaffe best, Caffe best, 'best (per-round lo-hi)') of a timed row vs Caffe."""
    r, c = rows.get(key), rows.get("caffe")
    if not r or not c or not r.get("times") or not c.get("times"):
        return None
    per = [a / b for a, b in zip(round_bests(r, reps), round_bests(c, reps))]
    span = f" ({_fmt(min(per))}-{_fmt(max(per))} per round)" if len(per) > 1 else ""
    return name, f"{_t(r):.2f} s", f"{_t(c):.2f} s", f"{_fmt(_t(r) / _t(c))}x{span}"


def host_summary(res):
    """The Caffe-ratio rows of one run: [(what, torchcaffe, Caffe, ratio, target)]."""
    reps = res["env"]["reps"]
    fwd, tr = res.get("forward", {}), res.get("train", {})
    rows = [
        _ratio_row("exact forward", fwd, "torchcaffe", reps),
        _ratio_row("fast mode forward", fwd, "torchcaffe fast", reps),
        _ratio_row("training iteration", tr, "torchcaffe", reps),
    ]
    t, c = tr.get("torchcaffe") or {}, tr.get("caffe") or {}
    if t.get("peak_rss_mb") and c.get("peak_rss_mb"):
        rows.append((
            "peak training memory", f"{t['peak_rss_mb'] / 1000:.2f} GB",
            f"{c['peak_rss_mb'] / 1000:.2f} GB", f"{_fmt(t['peak_rss_mb'] / c['peak_rss_mb'])}x",
        ))  # fmt: skip
    host = res["env"].get("host") or {}
    chosen = _chosen_policy(host)
    runs = [res["shared"]] if res.get("shared") else []
    ran = runs[0].get("policy", "default") if runs else None
    ran = host.get("wait_policy") if ran == "default" else ran  # the row's at the time
    if ran and chosen and ran != chosen:
        runs = []  # a policy this host's row no longer takes
    if res.get("shared_policies"):  # the policy this host's row takes now
        runs, ran = res["shared_policies"].get(chosen) or runs, chosen
    if runs:
        best = min(runs, key=lambda r: r["ratio"])
        ratios = [r["ratio"] for r in runs]
        span = f" ({_fmt(min(ratios))}-{_fmt(max(ratios))} per round)" if len(runs) > 1 else ""
        spec = best.get("spec") or {}
        how = (f", {ran}" if ran else "") + (
            f", width {spec['width']:g}" if spec.get("width") else ""
        )
        rows.append((
            "two trainings at once vs one after the other",
            f"{best['together_s']:.1f} s", f"{best['sequential_s']:.1f} s",
            f"{_fmt(best['ratio'])}x{span}{how}",
        ))  # fmt: skip
    out = []
    for row in filter(None, rows):
        goal = TARGETS[row[0]]
        out.append((*row, f"<= {goal}x"))
    return out


def _chosen_policy(host: dict) -> str | None:
    """The wait policy the host's tuning row takes today (torchcaffe.tuning_table), else the
    one the run recorded."""
    from torchcaffe.tuning_table import TABLE

    row = TABLE.get(host.get("tuning") or "")
    return row.wait_policy if row is not None else host.get("wait_policy")


def load_results(paths):
    """[(path, results)] of the JSON files that parse and have an env."""
    out = []
    for p in paths:
        try:
            with open(p) as f:
                res = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(res, dict) and isinstance(res.get("env"), dict):
            out.append((p, res))
    return out


def host_rows(results):
    """Markdown lines: one set of Caffe-ratio rows per kind of host, each row from that host's
    latest run that has it (a run may time only some sections: `--only forward,modes`), with the
    run's file on the row (`results`: [(path, results)], load_results' answer)."""
    latest = {}  # kind -> {row name: (date, path, row)}, and the kind's newest run
    newest = {}
    for path, res in results:
        rows = host_summary(res)
        if not rows:
            continue
        env = res["env"]
        kind = _host.tag(env.get("host") or env)
        if kind not in newest or env["date"] > newest[kind]["date"]:
            newest[kind] = env
        mine = latest.setdefault(kind, {})
        for row in rows:
            if row[0] not in mine or env["date"] > mine[row[0]][0]:
                mine[row[0]] = (env["date"], path, row)
    lines = [
        "| host | | torchcaffe | BVLC Caffe | ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    for kind in sorted(latest):
        env = newest[kind]
        where = _host.line(env["host"]) if env.get("host") else env.get("cpu_model", "?")
        lines.append(f"| **{kind}** | {where} | | | | |")
        for name in TARGETS:
            if name not in latest[kind]:
                continue
            date, path, (what, mine, caffe, ratio, goal) = latest[kind][name]
            run = f"{date[:16]}, `{os.path.basename(path)}`"
            lines.append(f"| | {what} ({run}) | {mine} | {caffe} | {ratio} | {goal} |")
    return lines


def main(argv=None):
    """Print host_rows for the given results files (default: bench/results/*.json)."""
    paths = list(argv if argv is not None else sys.argv[1:])
    if not paths:
        here = os.path.dirname(os.path.abspath(__file__))
        paths = sorted(glob.glob(os.path.join(here, "results", "*.json")))
    lines = host_rows(load_results(paths))
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
