"""The reliability audit: bad files through the library calls and the CLIs, on both engines.

    python scripts/reliability_audit.py                   # both engines, ~1000 runs, JSON
    python scripts/reliability_audit.py --engines torch --random 40 --out audit.json

The corpus (tests/audit_corpus.py, seeded): 83 known-bad prototxts (geometry, counts, dims,
crops, joins, losses, Python layers and param_str), nets too big for the memory allowed,
mutated caffemodels and solverstates, hostile images and seeded random net mutations. Each case
runs in a child forked from a per-engine process (a "zygote" that has imported its engine
once), under an address-space limit (RLIMIT_AS: what the zygote maps + --mem-gib), a file-size
limit for the write cases, no core files, and a wall-clock limit (--timeout). Targets:

    open        engine.open_net(prototxt, TEST, weights) + forward   (engines torch, caffe)
    infer-cli   python -m solvers.infer --proto ... image             (torch, caffe)
    restore     the engine adapter's make_solver + restore + 1 step   (torch, caffe)
    write       a caffemodel saved under a file-size limit            (torch)
    raw         caffe.Net / solver.restore with no checks of ours     (caffe-raw: the oracle)
    validate    netspec.validate.check_net                            (none: engine-free)
    shapes-cli  python -m netspec shapes;  info-cli  python -m caffeio info   (none)

Outcomes: refused (a project error, or a CLI's exit with an error line), accepted, crash (any
other exception: a raw traceback), signal (abort, segfault: the child died), hang (killed at
the timeout). A refusal whose message lacks what the case needs named (the layer, module,
file) is `unclear`. An accepted run is `silent-wrong` when the input is known bad, when real
Caffe (the oracle) aborts on it, when the outputs are not finite, or when an expected warning
is missing. caffe-raw is real Caffe without our checks: its aborts are the reason the checks
exist, not failures of ours. The pycaffe targets run with torch blocked (tests/pycaffe/notorch).
Prints the counts per engine and outcome and writes every run to --out (JSON).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")
NOTORCH = os.path.join(TESTS, "pycaffe", "notorch")
OUTCOMES = ("refused", "unclear", "accepted", "silent-wrong", "crash", "signal", "hang")
ENGINES = ("torch", "caffe", "caffe-raw", "none")
TEST_PHASE = 1


# ============================================================================ the corpus
def _case(cases, family, subject, target, engine, expect=None, **kw):
    cases.append(
        dict(
            id=len(cases),
            family=family,
            subject=subject,
            target=target,
            engine=engine,
            expect=expect,
            **kw,
        )
    )


def _write(folder, name, content):
    path = os.path.join(folder, name)
    with open(path, "wb" if isinstance(content, bytes) else "w") as f:
        f.write(content)
    return path


def _net_cases(cases, work, seeds, engines, rng, n_random):
    import audit_corpus as corpus

    nets = [(f"seed-{name}", name, text, "accept", ()) for name, text in corpus.SEEDS.items()]
    nets += [(c.name, c.seed, c.text(), "refuse", _named(c)) for c in corpus.BAD_NETS]
    nets += [(n, seed, text, None, ()) for n, seed, text in corpus.random_nets(rng, n_random)]
    for name, seed, text, expect, named in nets:
        proto = _write(work, f"net-{name}.prototxt", text)
        subject = f"net:{name}"
        kw = dict(proto=proto, expect_text=list(named))
        for engine in engines:
            _case(cases, "nets", subject, "open", engine, expect, **kw)
        if "caffe" in engines:
            _case(cases, "nets", subject, "raw", "caffe-raw", expect, **kw)
        if seed != "python":  # static tools: they neither import nor run Python layers
            _case(cases, "nets", subject, "validate", "none", expect, **kw)
            _case(cases, "nets", subject, "shapes-cli", "none", expect, **kw)
        if seed == "fcn" and not name.startswith("random"):
            # the program reshapes the net to the image: a bad declared input size is moot
            moot = expect == "refuse" and name.startswith("input-") and "shape" not in name
            for engine in engines:
                _case(cases, "nets", subject, "infer-cli", engine, None if moot else expect,
                      image="good", weights=seeds["fcn.caffemodel"], **kw)  # fmt: skip


def _named(case):
    """What a refusal of a known-bad Python-layer net must name: the layer and the module."""
    if case.seed != "python":
        return ()
    module = "auditbroken" if "import-fails" in case.name else "auditlayers"
    if "module-missing" in case.name:
        module = "nosuchmodule"
    return ("src", module) if case.name.startswith("python") else ("src", "mean")


def _memory_cases(cases, work, engines):
    import audit_corpus as corpus

    for c in corpus.MEMORY_NETS:
        proto = _write(work, f"mem-{c.name}.prototxt", c.text())
        named = ["tile"] if c.name.startswith("input") else []
        for engine in engines:
            _case(cases, "memory", f"mem:{c.name}", "open", engine, "refuse", proto=proto,
                  expect_text=named)  # fmt: skip
        if "caffe" in engines:
            _case(cases, "memory", f"mem:{c.name}", "raw", "caffe-raw", "refuse", proto=proto)


def _weights_cases(cases, work, seeds, engines, rng):
    import audit_corpus as corpus

    import caffeio

    for seed in ("fcn", "join"):
        model = caffeio.read_caffemodel(seeds[f"{seed}.caffemodel"])
        for name, data, bad in corpus.bad_caffemodels(model, rng):
            path = _write(work, f"w-{seed}-{name}.caffemodel", data)
            subject = f"weights:{seed}-{name}"
            expect = "refuse" if bad else None
            warn = "duplicate" if name.startswith("layer-duplicated") and not bad else None
            kw = dict(proto=seeds[seed], weights=path, expect_warning=warn)
            for engine in engines:
                _case(cases, "weights", subject, "open", engine, expect, **kw)
                if seed == "fcn":
                    _case(cases, "weights", subject, "infer-cli", engine, expect, image="good",
                          **kw)  # fmt: skip
            if "caffe" in engines:
                _case(cases, "weights", subject, "raw", "caffe-raw", expect, **kw)
            _case(cases, "weights", subject, "info-cli", "none", None, path=path)


def _state_cases(cases, work, seeds, engines):
    import audit_corpus as corpus

    import caffeio

    state = caffeio.read_solverstate(seeds["solverstate"])
    states = [("good", state.SerializeToString())] + corpus.bad_solverstates(state)
    for name, data in states:
        path = _write(work, f"s-{name}.solverstate", data)
        expect = "accept" if name == "good" else "refuse"
        kw = dict(solver=seeds["solver"], state=path, expect_text=[os.path.basename(path)])
        for engine in engines:
            _case(cases, "solverstates", f"state:{name}", "restore", engine, expect, **kw)
        if "caffe" in engines:
            _case(cases, "solverstates", f"state:{name}", "raw-restore", "caffe-raw", expect, **kw)
        _case(cases, "solverstates", f"state:{name}", "info-cli", "none", None, path=path)


def _image_cases(cases, work, seeds, engines):
    import audit_corpus as corpus

    for name, data, bad in corpus.bad_images():
        path = _write(work, f"img-{name}", data)
        for engine in engines:
            _case(cases, "images", f"image:{name}", "infer-cli", engine,
                  "refuse" if bad else "accept", proto=seeds["fcn"],
                  weights=seeds["fcn.caffemodel"], image=path)  # fmt: skip


def _write_cases(cases, work, seeds, engines):
    if "torch" not in engines:
        return
    dest = os.path.join(work, "written", "snapshot_iter_7.caffemodel")
    named = ["snapshot_iter_7.caffemodel", "file-size limit"]
    _case(cases, "writes", "write:file-size-limit", "write", "torch", "refuse",
          proto=seeds["fcn"], dest=dest, fsize=256, expect_text=named)  # fmt: skip
    if os.geteuid() == 0:  # permissions do not stop root
        return
    ro = os.path.join(work, "read-only")
    os.makedirs(ro, exist_ok=True)
    os.chmod(ro, 0o555)
    _case(cases, "writes", "write:read-only-folder", "write", "torch", "refuse",
          proto=seeds["fcn"], dest=os.path.join(ro, "x.caffemodel"),
          expect_text=["x.caffemodel", "not writable"])  # fmt: skip


FAMILIES = ("nets", "memory", "weights", "solverstates", "images", "writes")


def build_corpus(work, engines, seed, n_random, families=FAMILIES):
    """Write the corpus into `work` -> the list of cases (dicts) of those `families`."""
    if TESTS not in sys.path:
        sys.path.insert(0, TESTS)
    import audit_corpus as corpus

    seeds = corpus.write_seeds(work)
    _write(work, "img-good.png", corpus.bad_images()[-1][1])
    rng = random.Random(seed)
    cases = []
    makers = {
        "nets": lambda: _net_cases(cases, work, seeds, engines, rng, n_random),
        "memory": lambda: _memory_cases(cases, work, engines),
        "weights": lambda: _weights_cases(cases, work, seeds, engines, rng),
        "solverstates": lambda: _state_cases(cases, work, seeds, engines),
        "images": lambda: _image_cases(cases, work, seeds, engines),
        "writes": lambda: _write_cases(cases, work, seeds, engines),
    }
    for family in FAMILIES:
        if family in families:
            makers[family]()
    for c in cases:
        if c.get("image") == "good":
            c["image"] = os.path.join(work, "img-good.png")
        c.setdefault("weights", None)
    return cases


# ============================================================================ inside a child
def _project_errors():
    """The exception classes that are clean refusals, for what this process can import."""
    import caffeio
    import engine.errors
    import netspec.errors

    out = [caffeio.CaffeFormatError, netspec.errors.NetSpecError, engine.errors.Diverged]
    for module, names in (
        ("engine.pycaffe_checks", ("CaffeInputError",)),
        ("engine.errors", ("PythonLayerError",)),
        ("layers.errors", ("DataError",)),
        ("surgery.errors", ("SurgeryError",)),
        ("torchcaffe.errors", ("NetError",)),
        ("netspec.validate", ("NetCheckError",)),
    ):
        try:
            mod = __import__(module, fromlist=list(names))
        except ImportError:
            continue
        out += [getattr(mod, n) for n in names if hasattr(mod, n)]
    return tuple(out)


def _finite(outputs):
    import numpy as np

    return bool(all(np.isfinite(np.asarray(v)).all() for v in outputs.values()))


def t_open(case):
    import engine

    net = engine.open_net(case["proto"], TEST_PHASE, weights=case["weights"])
    return {"finite": _finite(net.forward())}


def t_raw(case):
    import caffe

    net = caffe.Net(case["proto"], caffe.TEST)
    if case["weights"]:
        net.copy_from(case["weights"])
    return {"finite": _finite(net.forward())}


def t_validate(case):
    if not os.path.exists(os.path.join(ROOT, "netspec", "validate.py")):  # older code
        return {"outcome": "n/a"}
    from netspec import validate

    validate.check_file(case["proto"], TEST_PHASE)
    return None


def _cli(module, argv):
    import runpy

    sys.argv = [module, *argv]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def t_shapes_cli(case):
    _cli("netspec", ["shapes", case["proto"]])


def t_info_cli(case):
    _cli("caffeio", ["info", case["path"]])


def t_infer_cli(case):
    out = os.path.join(os.getcwd(), f"pred-{case['id']}")
    argv = ["--proto", case["proto"], "--weights", case["weights"] or "", "--out", out]
    _cli("solvers.infer", [*argv, "--quiet", "--mean", "0,0,0", case["image"]])


def t_restore(case):
    import engine

    adapter = engine.adapter()
    solver = adapter.make_solver(engine.current(), case["solver"], None)
    adapter.restore(solver, case["state"])
    solver.step(1)


def t_raw_restore(case):
    import caffe

    solver = caffe.get_solver(case["solver"])
    solver.restore(case["state"])
    solver.step(1)


def t_write(case):
    import torchcaffe

    net = torchcaffe.Net(case["proto"], torchcaffe.TEST)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    if case.get("fsize"):  # only around the write: the child's log and result stay writable
        resource.setrlimit(resource.RLIMIT_FSIZE, (case["fsize"], hard))
    try:
        net.save(case["dest"])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


TARGETS = {
    "open": t_open,
    "raw": t_raw,
    "validate": t_validate,
    "shapes-cli": t_shapes_cli,
    "info-cli": t_info_cli,
    "infer-cli": t_infer_cli,
    "restore": t_restore,
    "raw-restore": t_raw_restore,
    "write": t_write,
}
CLI_TARGETS = {"shapes-cli", "info-cli", "infer-cli"}


def _first_line(text, limit=400):
    text = str(text).strip()
    return (text.splitlines()[0] if text else "")[:limit]


def _frame(exc):
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    if last is None:
        return ""
    return f"{os.path.relpath(last.tb_frame.f_code.co_filename, ROOT)}:{last.tb_lineno}"


def execute(case):
    """Run one case here (in the forked child) -> its result dict (with whether torch was
    loaded by the end: never on the pycaffe path)."""
    out = _execute(case)
    out["torch_loaded"] = "torch" in sys.modules
    return out


def _execute(case):
    errors = _project_errors()
    try:
        info = TARGETS[case["target"]](case) or {}
        return {"outcome": info.pop("outcome", "accepted"), **info}
    except SystemExit as e:
        if e.code in (0, None):
            return {"outcome": "accepted"}
        message = e.code if isinstance(e.code, str) else f"exit status {e.code}"
        return {"outcome": "refused", "error": "SystemExit", "message": _first_line(message)}
    except errors as e:
        out = {"outcome": "refused", "error": type(e).__name__, "message": _first_line(e)}
        if case["target"] in CLI_TARGETS:
            out["traceback"] = True  # the CLI let it out: the user sees a traceback above it
        return out
    except Exception as e:  # noqa: BLE001 - a user's Python layer's own exception, or a crash
        if any(str(n).startswith("raised in ") for n in getattr(e, "__notes__", ())):
            # pycaffe's behaviour: the layer's own exception type, with a note naming the layer
            notes = " | ".join(str(n) for n in e.__notes__)
            message = f"{_first_line(e)} | {notes}"
            return {"outcome": "refused", "error": type(e).__name__, "message": message}
        return {
            "outcome": "crash",
            "error": type(e).__name__,
            "message": _first_line(e),
            "at": _frame(e),
        }
    except BaseException as e:  # noqa: BLE001 - the point: anything else is a crash
        return {
            "outcome": "crash",
            "error": type(e).__name__,
            "message": _first_line(e),
            "at": _frame(e),
        }


def _vm_size():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(case, opts, log_path, result_path):
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    limit = _vm_size() + int(opts["mem_gib"] * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.chdir(opts["work"])
    result = execute(case)
    sys.stdout.flush()
    sys.stderr.flush()
    with open(result_path, "w") as f:
        json.dump(result, f)


def run_forked(case, opts):
    """Fork, run `case` in the child under the limits, and classify how it ended."""
    scratch = opts["scratch"]
    log_path = os.path.join(scratch, f"{case['id']}.log")
    result_path = os.path.join(scratch, f"{case['id']}.json")
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            _child(case, opts, log_path, result_path)
        finally:
            os._exit(0)
    status = _wait(pid, opts["timeout"])
    log = _read(log_path)
    result = {"seconds": round(time.monotonic() - start, 3)}
    if status is None:
        result.update(outcome="hang", message=f"killed after {opts['timeout']} s")
    elif os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        result.update(outcome="signal", error=sig, message=_fatal_line(log))
    elif os.path.exists(result_path):
        try:
            with open(result_path) as f:
                result.update(json.load(f))
        except ValueError:
            result.update(outcome="crash", error="result", message="unreadable result")
    else:
        result.update(outcome="crash", error="exit", message=f"exit {os.WEXITSTATUS(status)}")
    result["log_tail"] = log[-1500:]
    for p in (log_path, result_path):
        if os.path.exists(p):
            os.unlink(p)
    return result


def _wait(pid, timeout):
    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _fatal_line(log):
    """Caffe's fatal glog line (F... Check failed ...), else the last line of the child's log."""
    lines = [line for line in log.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("F") and "]" in line:
            return line.split("] ", 1)[-1][:400]
    return lines[-1][:400] if lines else ""


def serve(engine_name, opts):
    """The zygote: import the engine once, then fork one child per case read from stdin."""
    try:
        _prepare_engine(engine_name)
    except Exception as e:  # noqa: BLE001 - reported to the harness, which skips the engine
        print(json.dumps({"ready": False, "why": f"{type(e).__name__}: {e}"}), flush=True)
        return
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        case = json.loads(line)
        out = run_forked(case, opts)
        out["id"] = case["id"]
        print(json.dumps(out), flush=True)


def _prepare_engine(name):
    sys.path.insert(0, ROOT)
    import numpy  # noqa: F401

    import caffeio  # noqa: F401
    import netspec.__main__  # noqa: F401

    if name == "none":
        return
    import engine

    engine.use("caffe" if name == "caffe-raw" else name)
    import solvers  # noqa: F401


# ============================================================================ the harness
def _zygote_env(engine_name, work):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["GLOG_minloglevel"] = "2"
    env.pop("TORCHCAFFE_MEMORY_LIMIT", None)
    torch_free = engine_name != "torch"
    parts = ([NOTORCH] if torch_free else []) + [ROOT, work]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    if engine_name != "none":
        env["FCN_ENGINE"] = "torch" if engine_name == "torch" else "caffe"
    return env


def run_engine(engine_name, cases, opts, progress):
    """Start the zygote of `engine_name`, feed it `cases` -> ({id: result}, why not ready)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--serve", engine_name]
    cmd += ["--timeout", str(opts["timeout"]), "--mem-gib", str(opts["mem_gib"])]
    cmd += ["--work", opts["work"], "--scratch", opts["scratch"]]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=_zygote_env(engine_name, opts["work"]),
        text=True,
        cwd=opts["work"],
    )
    hello = json.loads(proc.stdout.readline() or '{"ready": false, "why": "no answer"}')
    if not hello["ready"]:
        proc.stdin.close()
        proc.wait()
        return {}, hello["why"]
    results = {}
    for case in cases:
        proc.stdin.write(json.dumps(case) + "\n")
        proc.stdin.flush()
        results[case["id"]] = json.loads(proc.stdout.readline())
        progress(engine_name, case, results[case["id"]])
    proc.stdin.close()
    proc.wait()
    return results, None


def judge(cases, results):
    """Refine outcomes: unclear refusals, silent-wrong acceptances (see the module docstring)."""
    raw = {c["subject"]: results.get(c["id"], {}) for c in cases if c["engine"] == "caffe-raw"}
    for c in cases:
        r = results.get(c["id"])
        if r is None:
            continue
        if r["outcome"] == "refused" and c["engine"] != "caffe-raw":
            text = (r.get("message") or "") + " " + r.get("log_tail", "")
            missing = [w for w in c.get("expect_text") or [] if w not in text]
            if missing:
                r["outcome"] = "unclear"
                r["why"] = f"the message does not name {missing}"
        elif r["outcome"] == "accepted" and c["engine"] != "caffe-raw":
            why = _silent(c, r, raw.get(c["subject"]))
            if why:
                r["outcome"] = "silent-wrong"
                r["why"] = why


def _silent(case, result, raw):
    if case["expect"] == "refuse":
        return "known-bad input accepted"
    same_call = case["target"] in ("open", "validate", "shapes-cli")
    if raw is not None and raw.get("outcome") == "signal" and same_call:
        return f"real Caffe aborts on it ({raw.get('message', '')[:120]})"
    if result.get("finite") is False:
        return "the outputs hold NaN/inf"
    warn = case.get("expect_warning")
    if warn and warn not in result.get("log_tail", "").lower():
        return f"no warning mentioning '{warn}'"
    return None


def summarise(cases, results):
    """{engine: Counter(outcome)} and {family: {engine: Counter}} over the runs made."""
    per_engine = collections.defaultdict(collections.Counter)
    per_family = collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
    for c in cases:
        r = results.get(c["id"])
        if r is None or r["outcome"] == "n/a":
            continue
        per_engine[c["engine"]][r["outcome"]] += 1
        per_family[c["family"]][c["engine"]][r["outcome"]] += 1
    return per_engine, per_family


def report(cases, results, skipped, out=sys.stdout):
    per_engine, per_family = summarise(cases, results)
    width = max(len(o) for o in OUTCOMES)
    print(f"{'engine':<10} {'runs':>5} " + " ".join(f"{o:>{width}}" for o in OUTCOMES), file=out)
    for engine in ENGINES:
        if engine in per_engine:
            n = per_engine[engine]
            row = " ".join(f"{n[o]:>{width}}" for o in OUTCOMES)
            print(f"{engine:<10} {sum(n.values()):>5} {row}", file=out)
    print("\nper family (engine: nonzero outcomes):", file=out)
    for family, engines in per_family.items():
        parts = [
            f"{e}: " + ", ".join(f"{o} {n[o]}" for o in OUTCOMES if n[o])
            for e, n in engines.items()
        ]
        print(f"  {family:<13} " + "; ".join(parts), file=out)
    bad = [(c, results[c["id"]]) for c in cases if c["id"] in results]
    bad = [(c, r) for c, r in bad if r["outcome"] not in ("refused", "accepted", "n/a")]
    ours = [(c, r) for c, r in bad if c["engine"] != "caffe-raw"]
    if ours:
        print(f"\nnot clean ({len(ours)} runs, oracle excluded):", file=out)
        for c, r in ours:
            detail = r.get("why") or f"{r.get('error', '')}: {r.get('message', '')}"
            print(f"  [{c['engine']}/{c['target']}] {c['subject']}: {r['outcome']}: "
                  f"{detail[:160]}", file=out)  # fmt: skip
    stricter = sorted(
        {
            c["subject"]
            for c in cases
            if c["engine"] == "caffe-raw" and c["expect"] == "refuse"
            and results.get(c["id"], {}).get("outcome") == "accepted"
        }
    )  # fmt: skip
    if stricter:
        print(f"\nrefused here, run by real Caffe ({len(stricter)}): {', '.join(stricter)}",
              file=out)  # fmt: skip
    tracebacks = sum(1 for c in cases if results.get(c["id"], {}).get("traceback"))
    if tracebacks:
        print(f"\n{tracebacks} CLI refusals came with a traceback (a project error the CLI let "
              "out: its last line is the message)", file=out)  # fmt: skip
    for engine, why in skipped.items():
        print(f"\n{engine}: not run ({why})", file=out)
    return per_engine, per_family


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default="torch,caffe", help="torch,caffe (default: both)")
    ap.add_argument("--seed", type=int, default=2, help="random seed of the corpus")
    ap.add_argument("--random", type=int, default=90, help="random net mutations")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per run")
    ap.add_argument("--mem-gib", type=float, default=2.0, help="address space over the zygote")
    ap.add_argument("--out", default="reliability-audit.json", help="JSON of every run")
    ap.add_argument("--work", help="folder for the corpus (default: a temporary one)")
    ap.add_argument("--scratch", help=argparse.SUPPRESS)
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--jobs", type=int, default=2, help="engines run at once")
    ap.add_argument("--families", help=f"only these, comma-separated: {','.join(FAMILIES)}")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    opts = {"timeout": args.timeout, "mem_gib": args.mem_gib}
    if args.serve:
        opts.update(work=args.work, scratch=args.scratch)
        serve(args.serve, opts)
        return 0
    return audit(args, opts)


def audit(args, opts):
    engines = [e for e in args.engines.split(",") if e]
    work = args.work or tempfile.mkdtemp(prefix="reliability-audit-")
    os.makedirs(work, exist_ok=True)
    opts.update(work=work, scratch=tempfile.mkdtemp(prefix="scratch-", dir=work))
    families = args.families.split(",") if args.families else FAMILIES
    cases = build_corpus(work, engines, args.seed, args.random, families)
    start = time.monotonic()
    done = collections.Counter()

    def progress(engine, case, result):
        done[engine] += 1
        if not args.quiet and done[engine] % 100 == 0:
            print(f"  {engine}: {done[engine]} runs", file=sys.stderr, flush=True)

    results, skipped = {}, {}
    groups = {e: [c for c in cases if c["engine"] == e] for e in ENGINES}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {
            e: pool.submit(run_engine, e, mine, opts, progress)
            for e, mine in groups.items()
            if mine
        }
        for engine, future in futures.items():
            got, why = future.result()
            if why:
                skipped[engine] = why
            results.update(got)
    judge(cases, results)
    per_engine, _ = report(cases, results, skipped)
    seconds = round(time.monotonic() - start, 1)
    print(f"\n{len(results)} runs in {seconds} s; corpus in {work}; runs in {args.out}")
    with open(args.out, "w") as f:
        json.dump(
            {
                "seed": args.seed,
                "random": args.random,
                "engines": engines,
                "seconds": seconds,
                "skipped": skipped,
                "counts": {e: dict(n) for e, n in per_engine.items()},
                "runs": [dict(c, **results[c["id"]]) for c in cases if c["id"] in results],
            },
            f,
            indent=1,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
