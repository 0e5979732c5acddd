"""`make bench`: torchcaffe vs the eager FCN-8s baseline, side by side in one run.

    python -m bench [--quick] [--only forward,train,memory,shared,layers,modes,data,score,cuda]
                    [--size 500] [--width 1] [--reps 3] [--rounds 5] [--threads 2] [--no-write]
                    [--emulate avx2] [--variant VAR=VALUE[,VAR=VALUE]]...
                    [--policies all|libgomp,spin10k,...] [--shared-width W] [--shared-size S]
                    [--shared-reps N]

With BVLC pycaffe importable (make pycaffe), Caffe itself is a row of the forward and training
tables (bench.child_caffe, no torch in that process), so ratios can be read against Caffe.

Every speed/memory number comes from a fresh child process (bench.child), so peak RSS is the
high-water mark of that measurement alone. Results go to bench/results/<date>-<host>.json (host:
the kind of CPU, e.g. epyc-avx512, epyc-avx2emu; bench.host records it) and the table in
bench/README.md (between the RESULTS markers). --quick = 250x250, width 0.5, 2 reps.
--emulate avx2 runs everything as on an AVX2-only host (bench.host). --variant adds torchcaffe
rows to the forward and training tables with those variables set (e.g. TORCHCAFFE_BAND_MB=4,
TORCHCAFFE_CHANNELS_LAST=0, GOMP_SPINCOUNT=1000). --policies: the OpenMP wait policies the
shared section compares (torchcaffe.waitpolicy.WAIT_POLICIES; default: the one chosen here).
"""

import argparse
import datetime
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
# The environment this command started with: children start from it, not from os.environ, which
# `import torchcaffe` in this process may have added its own settings to.
BASE_ENV = dict(os.environ)
_LIBGOMP = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")
SECTIONS = ("forward", "train", "memory", "shared", "layers", "modes", "data", "score", "cuda")
BEGIN, END = "<!-- RESULTS BEGIN -->", "<!-- RESULTS END -->"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return [float(v) for v in f.read().split()[:3]]
    except OSError:
        return None


def pycaffe_available():
    """Whether BVLC pycaffe imports in a fresh interpreter (then Caffe is a row of every table)."""
    env = dict(BASE_ENV, GLOG_minloglevel="2")
    code = "import caffe; caffe.Net"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env)
    return p.returncode == 0


def child(spec, env_extra=None):
    """Run bench.child (bench.child_caffe for engine 'caffe') with `spec` in a fresh
    interpreter; returns its result dict. `env_extra`: variables to set (None: to remove)."""
    env = dict(BASE_ENV)
    for k, v in (env_extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    module = "bench.child"
    if spec.get("engine") == "caffe":
        module = "bench.child_caffe"
        env.update(GLOG_minloglevel="2", OPENBLAS_NUM_THREADS=str(spec.get("threads", 2)))
    spec = dict(spec, loadavg_before=loadavg())
    p = subprocess.run(
        [sys.executable, "-m", module, json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        cwd=os.path.dirname(HERE),
    )
    for line in p.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            return json.loads(line[len("BENCH-RESULT ") :])
    return {"spec": spec, "error": (p.stderr or p.stdout)[-2000:]}


def _best(r):
    return min(r["times"]) if r.get("times") else float("nan")


def _median(r):
    return float(np.median(r["times"])) if r.get("times") else float("nan")


def _max(r):
    return max(r["times"]) if r.get("times") else float("nan")


def native_bf16():
    """True when the CPU has bf16 arithmetic (AVX512-BF16 or AMX) and torch may use it (not
    capped at AVX2 by ATEN_CPU_CAPABILITY, as --emulate avx2 does); elsewhere bf16 is emulated
    and far slower than float32."""
    if os.environ.get("ATEN_CPU_CAPABILITY", "").lower() in ("default", "avx2"):
        return False  # --emulate avx2 (or a user's cap): torch's kernels run without bf16
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def torchcaffe_env(policy=None):
    """What `import torchcaffe` first would set for a torchcaffe child (bench.child imports
    torch first, so it is passed): huge pages, and the wait policy `policy` (default: this
    host's choice, or the libgomp variables this command was started with)."""
    from torchcaffe import tuning, waitpolicy

    env = {"THP_MEM_ALLOC_ENABLE": "1"}
    if policy is None and any(k in BASE_ENV for k in _LIBGOMP):
        return env  # the user's own
    env.update(waitpolicy.policy_env(policy or tuning.current().wait_policy))
    return env


def parse_variant(text):
    """'A=1,B=2' -> {'A': '1', 'B': '2'}; SystemExit naming the bad part."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        k, sep, v = part.partition("=")
        if not sep or not k.strip():
            raise SystemExit(f"--variant {text!r}: {part!r} is not VAR=VALUE")
        out[k.strip()] = v.strip()
    if not out:
        raise SystemExit(f"--variant {text!r}: give VAR=VALUE[,VAR=VALUE]")
    return out


def speed(args, what, engine, mode="exact", save=None, env=None):
    if mode == "bf16" and not native_bf16():
        msg = "skipped: this CPU has no bf16 arithmetic (no AVX512-BF16/AMX); bf16 is emulated"
        print(f"  {what} {engine} {mode}: {msg}", flush=True)
        return {"spec": {"mode": mode, "loadavg_before": loadavg()}, "skipped": msg}
    spec = dict(
        what=what,
        engine=engine,
        mode=mode,
        size=args.size,
        width=args.width,
        reps=args.reps,
        threads=args.threads,
    )
    if save:
        spec["save"] = save
    # `import torchcaffe` turns on torch's transparent huge pages (the child imports torch
    # first, so say it here); the eager baseline runs with torch's defaults, and once with
    # huge pages too ("thp") to show what that setting alone gives; torchcaffe's training
    # once without them ("nothp")
    thp = (engine == "torchcaffe" and mode != "nothp") or mode == "thp"
    extra = torchcaffe_env() if engine == "torchcaffe" else {}
    extra["THP_MEM_ALLOC_ENABLE"] = "1" if thp else "0"
    extra.update(env or {})
    r = child(spec, extra)
    if env:
        r["spec"]["env"] = env
    tag = f"{what} {engine} {mode}" + (f" [{_variant_name(env)}]" if env else "")
    if "error" in r:
        print(f"  {tag}: FAILED\n{r['error']}", flush=True)
    else:
        print(
            f"  {tag}: min {_best(r):.3f} s, median {_median(r):.3f} s, max {_max(r):.3f} s, "
            f"peak RSS {r['peak_rss_mb']:.0f} MB (load {r['spec']['loadavg_before']})",
            flush=True,
        )
    return r


def _variant_name(env):
    return ",".join(f"{k}={v}" for k, v in env.items() if v is not None) or "libgomp's own"


def interleaved(args, configs):
    """Run every (key, what, engine, mode, save[, env]) config once per round, rounds interleaved so
    that each engine sees the same share of a busy machine; times of all rounds are kept (the
    tables show the best), peak RSS is the largest (each round's in `peak_rss_rounds_mb`), the
    load before each run is listed."""
    out = {}
    for rnd in range(args.rounds):
        for key, what, engine, mode, save, *env in configs:
            env = env[0] if env else None
            r = speed(args, what, engine, mode, save=save if rnd == 0 else None, env=env)
            if key not in out:
                out[key] = r
                r["spec"]["loadavg_before"] = [r["spec"].get("loadavg_before")]
                if "peak_rss_mb" in r:
                    r["peak_rss_rounds_mb"] = [r["peak_rss_mb"]]
                continue
            o = out[key]
            if r.get("times") and "times" in o:
                o["times"] += r["times"]
                o["peak_rss_mb"] = max(o["peak_rss_mb"], r["peak_rss_mb"])
                o.setdefault("peak_rss_rounds_mb", []).append(r["peak_rss_mb"])
                o["spec"]["loadavg_before"].append(r["spec"].get("loadavg_before"))
    return out


def _shared_spec(args):
    return dict(
        what="train", engine="torchcaffe", mode="exact",
        size=args.shared_size or args.size, width=args.shared_width or args.width,
        reps=args.shared_reps or args.reps, threads=args.threads,
    )  # fmt: skip


def _timed_children(spec, env, together):
    """Wall time of two bench.child runs of `spec` (started together, or one after the other)
    and each one's own wall time and step times."""
    cmd = [sys.executable, "-m", "bench.child", json.dumps(spec)]
    cwd = os.path.dirname(HERE)
    jobs = []
    t0 = time.perf_counter()
    if together:
        procs = [
            (time.perf_counter(), subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=cwd, env=env))
            for _ in range(2)
        ]
        for start, p in procs:
            out, _ = p.communicate()
            jobs.append((time.perf_counter() - start, p.returncode, out))
    else:
        for _ in range(2):
            start = time.perf_counter()
            p = subprocess.run(cmd, stdout=subprocess.PIPE, cwd=cwd, env=env)
            jobs.append((time.perf_counter() - start, p.returncode, p.stdout))
    wall = time.perf_counter() - t0
    job_s, steps = [], []
    for secs, rc, out in jobs:
        if rc != 0:
            raise SystemExit(f"bench.child {json.dumps(spec)} failed (exit {rc})")
        job_s.append(secs)
        for line in out.decode().splitlines():
            if line.startswith("BENCH-RESULT "):
                steps.append(json.loads(line[len("BENCH-RESULT ") :]).get("times"))
    return wall, job_s, steps


def two_at_once(args, policy=None):
    """Wall time of two torchcaffe training runs started together against the same two run one
    after the other (a shared machine: data preparation, scoring, a second training), with
    OpenMP wait policy `policy` (torchcaffe.waitpolicy.WAIT_POLICIES; default: what torchcaffe
    chooses here). `alone_s`: each job's own wall time when it ran alone."""
    from torchcaffe import waitpolicy

    spec = _shared_spec(args)
    env = waitpolicy.child_env(policy, BASE_ENV) if policy else dict(BASE_ENV)
    env.update({k: v for k, v in torchcaffe_env(policy).items() if v is not None})
    sequential, alone, alone_steps = _timed_children(spec, env, together=False)
    together, jobs, steps = _timed_children(spec, env, together=True)
    out = {
        "policy": policy or "default",
        "policy_env": {k: env.get(k) for k in _LIBGOMP},
        "spec": spec,
        "sequential_s": sequential,
        "together_s": together,
        "ratio": together / sequential,
        "alone_s": alone,
        "together_job_s": jobs,
        "alone_step_s": alone_steps,
        "together_step_s": steps,
        "loadavg_before": loadavg(),
    }
    print(
        f"  two trainings ({out['policy']}: {_variant_name(out['policy_env'])}): one after the "
        f"other {sequential:.1f} s (alone {alone[0]:.1f}, {alone[1]:.1f} s), together "
        f"{together:.1f} s ({out['ratio']:.2f}x)",
        flush=True,
    )
    return out


def shared_policies(args):
    """two_at_once for each wait policy of --policies ('all': every candidate), interleaved
    over --rounds rounds when more than one; returns {policy: [run per round]}."""
    from torchcaffe import waitpolicy

    names = list(waitpolicy.WAIT_POLICIES) if args.policies == "all" else args.policies.split(",")
    for n in names:
        waitpolicy.policy_env(n)  # ValueError naming the candidates
    rounds = args.rounds if len(names) > 1 else 1
    out = {n: [] for n in names}
    for _ in range(rounds):
        for n in names:
            out[n].append(two_at_once(args, n))
    return out


def compare(a, b):
    """Accuracy of output b against the exact output a (N x C x H x W scores)."""
    scale = float(np.abs(a).max()) or 1.0
    pa, pb = a.argmax(1), b.argmax(1)
    return {
        "max_abs_diff": float(np.abs(a - b).max()),
        "max_rel_diff": float(np.abs(a - b).max() / scale),
        "argmax_agreement": float((pa == pb).mean()),
    }


def mean_iu_diff(args, modes):
    """Mean IU of each mode's prediction on a synthetic validation set (seeded images and
    block labels, bench.fixtures) and its difference from the exact mode's. The weights are
    random, so the IU itself is near chance; the difference is what the mode changes."""
    import torch

    import torchcaffe
    from bench import fixtures as fx
    from solvers.evaluation.metrics import fast_hist, scores

    torch.set_num_threads(args.threads)
    n, s = (2, 160) if args.quick else (4, 192)
    if "bf16" in modes and not native_bf16():
        n, s = 2, 128  # emulated bf16 is ~20x slower than float32: a smaller set
    out = {}
    for mode in modes:
        net = fx.torchcaffe_net(
            fx.deploy_param(args.width), torchcaffe.TEST, **fx.mode_options(mode)
        )
        hist = np.zeros((fx.NUM_CLASSES,) * 2)
        for k in range(n):
            x, lab = fx.image(s, s, seed=100 + k), fx.label(s, s, seed=200 + k)
            pred = net.forward(data=x)["score"][0].argmax(0)
            hist += fast_hist(lab[0, 0].astype(np.int64).ravel(), pred.ravel(), fx.NUM_CLASSES)
        out[mode] = float(scores(hist)["mean_iu"])
    base = out.get("exact")
    return {
        m: {"mean_iu": v, "mean_iu_diff": (v - base) if base is not None else None}
        for m, v in out.items()
    }


def data_rates(args):
    """images/s of the VOC and SBD Python data layers (prefetch off/on) and the LMDB path,
    through bench.bench_layers' timers."""
    import torch

    from bench import bench_layers as bl
    from layers.lmdb_convert import convert
    from layers.synth import make_data_root
    from layers.voc import SBDDSegDataLayer, VOCSegDataLayer

    torch.set_num_threads(1)
    steps = 12 if args.quick else 32
    out = {}
    with tempfile.TemporaryDirectory() as root:
        fam = make_data_root(root, n=8 if args.quick else 16, size=(375, 500), seed=0)
        cases = [
            ("VOC seg11valid", VOCSegDataLayer, dict(voc_dir=fam["voc_dir"], split="seg11valid")),
            ("SBD train", SBDDSegDataLayer, dict(sbdd_dir=fam["sbdd_dir"], split="train", seed=1)),
        ]
        for name, cls, params in cases:
            for pf in (False, True):
                key = f"{name} prefetch {'on' if pf else 'off'}"
                out[key] = bl.layer_rate(cls, dict(params, prefetch=pf), 2, steps, 0.0)
        paths = convert("voc", fam["voc_dir"], "trainval", os.path.join(root, "lmdb"))
        out["LMDB VOC trainval"] = bl.lmdb_rate(
            [paths["data"], paths["label"]], (104.00699, 116.66877, 122.67892), steps
        )
    for k, v in out.items():
        print(f"  {k}: {v:.1f} images/s", flush=True)
    return out


def score_rate(args):
    """images/s of solvers.evaluation.metrics.fast_hist on 500x500 (21 classes) label/prediction
    pairs."""
    from solvers.evaluation.metrics import fast_hist, scores

    g = np.random.default_rng(0)
    n = 20 if args.quick else 100
    gt = g.integers(0, 21, (n, 500, 500))
    gt[:, ::9] = 255
    pred = g.integers(0, 21, (n, 500, 500))
    hist = np.zeros((21, 21))
    t0 = time.perf_counter()
    for a, b in zip(gt, pred):
        hist += fast_hist(a.ravel(), b.ravel(), 21)
    scores(hist)
    rate = n / (time.perf_counter() - t0)
    print(f"  scoring (confusion matrix + metrics), 500x500: {rate:.1f} images/s", flush=True)
    return {"images_per_s_500x500": rate}


def cuda_section(args):
    """CUDA rows (bench/cuda.py): images/s, TFLOP/s and share of peak per precision; skipped
    with a message where torch sees no CUDA device."""
    from bench import cuda

    res = cuda.run(args.size, args.width, iters=max(args.reps, 10))
    print("\n".join("  " + line for line in cuda.table(res)), flush=True)
    return res


def environment(args):
    import torch

    from bench import host

    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": socket.gethostname(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "host": host.record(),
        "variants": args.variant,
        "torch": torch.__version__,
        "threads": args.threads,
        "size": args.size,
        "width": args.width,
        "reps": args.reps,
        "rounds": args.rounds,
        "loadavg_start": loadavg(),
    }


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def run(args):
    """Run the sections --only names (default all) -> the results dict (env first)."""
    only = _sections(args)
    res = {"env": environment(args)}
    caffe = pycaffe_available()
    res["env"]["pycaffe"] = caffe
    print(f"bench: {res['env']}", flush=True)
    if not caffe:
        print("  (BVLC pycaffe not importable: no caffe rows; build it with make pycaffe)")
    tmp = tempfile.mkdtemp(prefix="bench-")
    if only & {"forward", "modes"}:
        res.update(forward_section(args, only, caffe, tmp))
    if only & {"train", "memory"}:
        print("training iteration (forward + backward + SGD update)", flush=True)
        res["train"] = interleaved(args, _train_configs(args, caffe))
    if "shared" in only:
        print("two trainings at once on the same cores", flush=True)
        if args.policies:
            res["shared_policies"] = shared_policies(args)
        else:
            res["shared"] = two_at_once(args)
    if "layers" in only:
        res["layers"] = layers_section(args)
    for name, title, section in (
        ("data", "data layers", data_rates),
        ("score", "scoring", score_rate),
        ("cuda", "cuda", cuda_section),
    ):
        if name in only:
            print(title, flush=True)
            res[name] = section(args)
    res["env"]["loadavg_end"] = loadavg()
    return res


def _sections(args):
    """The sections --only names (all when empty); SystemExit naming any unknown one."""
    only = set(args.only.split(",")) if args.only else set(SECTIONS)
    unknown = only - set(SECTIONS)
    if unknown:
        raise SystemExit(f"--only: unknown section(s) {sorted(unknown)}; choose from {SECTIONS}")
    return only


def forward_section(args, only, caffe, tmp):
    """Forward rows (interleaved), each with its accuracy against the exact output; with
    'modes', torchcaffe's and eager's modes too and the mean IU per mode -> {"forward": ...
    [, "mean_iu": ...]}. Outputs are compared through .npy files in `tmp`."""
    print(f"forward (inference) at {args.size}x{args.size}, width {args.width:g}")
    fwd = interleaved(args, _forward_configs(args, only, caffe, tmp))
    _compare_outputs(fwd, tmp)
    out = {"forward": fwd}
    if "modes" in only:
        print("mean IU on the synthetic validation set, per mode", flush=True)
        out["mean_iu"] = mean_iu_diff(
            args, ["exact", "noskip", "channels_last", "winograd", "fast", "bf16"]
        )
        print(f"  {out['mean_iu']}", flush=True)
    return out


def _forward_configs(args, only, caffe, tmp):
    """The forward rows: (label, what, engine, mode, output .npy or None[, env])."""
    configs = [
        ("eager", "forward", "eager", "exact", f"{tmp}/eager.npy"),
        ("torchcaffe", "forward", "torchcaffe", "exact", f"{tmp}/exact.npy"),
    ]
    if caffe:
        configs.append(("caffe", "forward", "caffe", "exact", f"{tmp}/caffe.npy"))
    for v in args.variant:
        env = parse_variant(v)
        configs.append((f"torchcaffe [{v}]", "forward", "torchcaffe", "exact", None, env))
    if "modes" in only:
        for mode in ("noskip", "channels_last", "winograd", "fast", "bf16"):
            configs.append(
                (f"torchcaffe {mode}", "forward", "torchcaffe", mode, f"{tmp}/{mode}.npy")
            )
        for mode in ("thp", "channels_last", "bf16", "compile"):
            configs.append((f"eager {mode}", "forward", "eager", mode, f"{tmp}/e{mode}.npy"))
    return configs


def _compare_outputs(fwd, tmp):
    """Add accuracy_vs_exact to each forward row (torchcaffe's exact row: accuracy_vs_eager)
    whose output file is in `tmp` and that did not fail."""
    exact = np.load(f"{tmp}/exact.npy") if os.path.exists(f"{tmp}/exact.npy") else None
    eager = np.load(f"{tmp}/eager.npy") if os.path.exists(f"{tmp}/eager.npy") else None
    for key, r in fwd.items():
        mode = key.split(" ", 1)[1] if " " in key else "exact"
        path = f"{tmp}/{'e' if key.startswith('eager ') else ''}{mode}.npy"
        if key == "eager":
            path = f"{tmp}/eager.npy"
        if key == "caffe":
            path = f"{tmp}/caffe.npy"
        ref = exact if key != "torchcaffe" else eager
        if ref is not None and os.path.exists(path) and "error" not in r:
            r["accuracy_vs_" + ("exact" if key != "torchcaffe" else "eager")] = compare(
                ref, np.load(path)
            )


def _train_configs(args, caffe):
    """The training rows, the host probe first."""
    configs = [  # "host": the same fixed work each round (bench.child.host_probe)
        ("host", "probe", "host", "exact", None),
        ("eager", "train", "eager", "exact", None),
        ("torchcaffe", "train", "torchcaffe", "exact", None),
        ("eager thp", "train", "eager", "thp", None),
        ("torchcaffe nothp", "train", "torchcaffe", "nothp", None),
    ]
    if caffe:
        configs.append(("caffe", "train", "caffe", "exact", None))
    for v in args.variant:
        env = parse_variant(v)
        configs.append((f"torchcaffe [{v}]", "train", "torchcaffe", "exact", None, env))
    return configs


def layers_section(args):
    """Per-layer times of torchcaffe's inference and training nets (a child process) -> its
    rows, or the error text; prints each net's total and five slowest layers."""
    print("per-layer breakdown (torchcaffe)", flush=True)
    r = child(dict(what="layers", size=args.size, width=args.width, threads=args.threads, reps=1))
    rows_or_error = r.get("layers", r.get("error"))
    if isinstance(rows_or_error, list):
        for tag in ("inference", "train"):
            rows = [x for x in rows_or_error if x["net"] == tag]
            top = sorted(rows, key=lambda x: -x["s"])[:5]
            print(
                f"  {tag}: total {sum(x['s'] for x in rows):.3f} s; slowest "
                + ", ".join(f"{x['layer']} {x['pass']} {x['s']:.3f}" for x in top)
            )
    else:
        print(f"  FAILED: {rows_or_error}")
    return rows_or_error


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="250x250, width 0.5, 2 reps")
    ap.add_argument("--only", default="", help=f"comma list of {','.join(SECTIONS)}")
    ap.add_argument("--size", type=int, default=None, help="square input side (default 500)")
    ap.add_argument("--width", type=float, default=None, help="channel multiplier (default 1)")
    ap.add_argument("--reps", type=int, default=None, help="timed repetitions (default 3)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument(
        "--rounds", type=int, default=None, help="interleaved rounds of speed runs (default 5)"
    )
    ap.add_argument("--no-write", action="store_true", help="print only; no results file")
    ap.add_argument("--emulate", choices=("avx2",), help="run as on an AVX2-only host")
    ap.add_argument(
        "--variant", action="append", default=[],
        help="extra torchcaffe rows with these variables set: VAR=VALUE[,VAR=VALUE] (repeat)",
    )  # fmt: skip
    ap.add_argument(
        "--policies", default="",
        help="shared: compare these OpenMP wait policies ('all' or a comma list of "
        "libgomp,spin100k,spin10k,spin1k,passive or spin<N>[k]), each over --rounds rounds",
    )  # fmt: skip
    ap.add_argument("--shared-width", type=float, help="shared: width (default --width)")
    ap.add_argument("--shared-size", type=int, help="shared: input side (default --size)")
    ap.add_argument("--shared-reps", type=int, help="shared: steps per job (default --reps)")
    args = ap.parse_args(argv)
    from bench.host import reexec_emulated

    reexec_emulated(args.emulate, "bench", sys.argv[1:] if argv is None else list(argv))
    for v in args.variant:
        parse_variant(v)
    q = args.quick
    args.size = args.size or (250 if q else 500)
    args.width = args.width or (0.5 if q else 1.0)
    args.reps = args.reps or (2 if q else 3)
    args.rounds = args.rounds or (1 if q else 5)
    res = run(args)
    if args.no_write:
        return res
    from bench.report import write_report

    path = write_report(res, HERE)
    print(f"results: {path}; table: {os.path.join(HERE, 'README.md')}")
    return res


if __name__ == "__main__":
    main()
