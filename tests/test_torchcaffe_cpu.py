"""torchcaffe's options (one module reads the environment), CPU detection with ISA emulation,
the per-host tables of kernel choices, and the OpenMP wait policy set before torch loads."""

import dataclasses
import itertools
import os
import re
import subprocess
import sys
import textwrap

import pytest

import torchcaffe as caffe
from torchcaffe import cpuinfo, options, tuning, waitpolicy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
zoo = pytest.importorskip("zoo")


def _cpuinfo(vendor, model, flags, cores=2, family=6, number=143):
    procs = []
    for i in range(cores):
        procs.append(
            f"processor\t: {i}\nvendor_id\t: {vendor}\ncpu family\t: {family}\n"
            f"model\t\t: {number}\nmodel name\t: {model}\nphysical id\t: 0\ncore id\t\t: {i}\n"
            f"flags\t\t: {flags}\n"
        )
    return "\n".join(procs)


BASE = "fpu sse sse2 ssse3 sse4_1 sse4_2 avx"
XEON = _cpuinfo(
    "GenuineIntel",
    "Intel(R) Xeon(R) Platinum 8480+",
    BASE + " avx2 fma avx512f avx512dq avx512bw avx512vl avx512_vnni avx512_bf16 avx512_fp16 "
    "amx_tile amx_bf16 amx_int8",
)
EPYC_ZEN4 = _cpuinfo(
    "AuthenticAMD",
    "AMD EPYC 9654 96-Core Processor",
    BASE + " avx2 fma avx512f avx512dq avx512bw avx512vl avx512_vnni avx512_bf16",
    family=25,
    number=17,
)
EPYC_ZEN2 = _cpuinfo("AuthenticAMD", "AMD EPYC 7B12", BASE + " avx2 fma", family=23, number=49)
OLD = _cpuinfo("GenuineIntel", "Intel(R) Core(TM) i7-2600 CPU @ 3.40GHz", BASE)


def _detect(text, caps=None, aten=None):
    return cpuinfo.detect(caps or {}, cpuinfo_text=text, sysfs="/nonexistent", aten=aten)


def test_detects_vendor_isa_features_and_cores():
    x = _detect(XEON)
    assert (x.vendor, x.native_isa, x.isa, x.cores, x.physical_cores) == (
        "intel",
        *2 * ("avx512",),
        2,
        2,
    )
    assert {"avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16"} <= set(x.features)
    assert not x.emulated and x.tag == "xeon-avx512" and x.libraries["mkl"] == "avx512"
    z = _detect(EPYC_ZEN4)
    assert (z.vendor, z.isa, z.tag) == ("amd", "avx512", "epyc-avx512")
    assert z.libraries == {
        "aten": "avx512",
        "onednn": "avx512",
        "mkl": "avx2",
        "openblas": "avx512",
    }
    assert "amx_tile" not in z.features  # MKL runs its AVX2 Zen kernels on AMD (see cpuinfo)
    assert _detect(EPYC_ZEN2).isa == "avx2" and _detect(EPYC_ZEN2).tag == "epyc-avx2"
    old = _detect(OLD)
    assert old.isa == "avx" and old.tag == "core-avx"
    assert cpuinfo.detect({}, cpuinfo_text=XEON, sysfs="/nonexistent", affinity={1}).cores == 1


def test_emulation_variables_lower_the_isa_and_say_which():
    x = _detect(XEON, cpuinfo.AVX2_EMULATION)
    assert (x.native_isa, x.isa, x.tag) == ("avx512", "avx2", "xeon-avx2emu")
    assert set(x.libraries.values()) == {"avx2"}
    assert set(x.emulated_by) == set(cpuinfo.AVX2_EMULATION)  # on Intel MKL takes its cap
    z = _detect(EPYC_ZEN4, cpuinfo.AVX2_EMULATION)
    assert z.isa == "avx2" and z.emulated and "MKL_ENABLE_INSTRUCTIONS" not in z.emulated_by
    # an AVX2-only host runs the same whether emulated or not
    e = _detect(EPYC_ZEN2, cpuinfo.AVX2_EMULATION)
    assert e.isa == "avx2" and not e.emulated and e.tag == "epyc-avx2"
    # oneDNN's newer variable wins over its older one; torch's own answer wins over the variable
    assert _detect(XEON, {"ONEDNN_MAX_CPU_ISA": "ALL", "DNNL_MAX_CPU_ISA": "AVX2"}).isa == "avx512"
    assert _detect(XEON, {"DNNL_MAX_CPU_ISA": "AVX2"}).isa == "avx2"
    assert _detect(XEON, {"ATEN_CPU_CAPABILITY": "avx2"}, aten="AVX512").isa == "avx512"
    assert _detect(XEON, {}, aten="AVX2").libraries["aten"] == "avx2"
    only_blas = _detect(XEON, {"OPENBLAS_CORETYPE": "Haswell"})  # numpy's/Caffe's, not torch's
    assert only_blas.isa == "avx512" and only_blas.libraries["openblas"] == "avx2"


def test_this_host_follows_torch_and_the_variables(monkeypatch):
    here = cpuinfo.host()
    assert here.libraries["aten"] == {"AVX512": "avx512", "AVX2": "avx2"}.get(
        str(__import__("torch").backends.cpu.get_cpu_capability()), "sse"
    )
    assert here.cores == len(os.sched_getaffinity(0)) and here.model
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # re-detected when a cap changes
    lowered = cpuinfo.host()
    assert lowered.isa == ("avx2" if here.native_isa == "avx512" else here.isa)


# The rules the table replaced (torchcaffe.winograd before the table): its rows must give the
# same tiles everywhere.
def _old_fast(avx512, cin, cout, h, w):
    work = cin * cout * h * w
    if avx512:
        if min(cin, cout) >= 128 and min(h, w) >= 8 and work >= 1 << 25:
            return 4
        return 2 if min(cin, cout) >= 256 and work >= 1 << 23 else 0
    if min(cin, cout) < 128:
        return 0
    if h * w <= 24 * 24:
        return 2 if cin * cout >= 256 * 256 else 0
    return 4 if work >= 1 << 26 else 0


def _old_exact(avx512, cin, cout, h, w):
    if min(cin, cout) < 256:
        return 0
    if avx512:
        return 2 if cin * cout * h * w >= 1 << 23 else 0
    return 2 if h * w >= 16 else 0


def test_tables_keep_the_measured_rules():
    grid = list(
        itertools.product(
            (3, 64, 128, 256, 512),
            (64, 128, 256, 512, 4096),
            (1, 4, 6, 8, 12, 22, 24, 25, 44, 88, 175),
            (1, 4, 6, 16, 24, 88, 131),
        )
    )
    for key, avx512 in (("avx512-intel", True), ("avx512-amd", True), ("avx2", False)):
        rules = tuning.TABLE[key]
        for g in grid:
            assert tuning.pick(rules.fast, *g) == _old_fast(avx512, *g), (key, g)
            assert tuning.pick(rules.exact, *g) == _old_exact(avx512, *g), (key, g)
            old7 = 2 if min(g[:2]) >= 256 and g[0] * g[1] * g[2] * g[3] >= 1 << 27 else 0
            assert tuning.pick(rules.fc6, *g) == old7


def test_every_table_entry_says_where_it_was_measured():
    entries = {"exact", "fast", "fc6", "channels_last", "train_channels_last", "band_mb",
               "winograd_band_mb", "threads", "wait_policy", "weight_grad",
               "wgrad_winograd"}  # fmt: skip
    for key, rules in tuning.TABLE.items():
        assert rules.key == key and set(rules.measured) == entries, key
        assert rules.wait_policy in waitpolicy.WAIT_POLICIES
    assert "Xeon" in tuning.TABLE["avx512-intel"].measured["exact"]
    assert "EPYC" in tuning.TABLE["avx2"].measured["exact"]
    assert "not measured" in tuning.TABLE["avx512-amd"].measured["fast"]
    assert "EPYC" in tuning.TABLE["avx512-amd"].measured["exact"]


def test_rows_by_isa_and_vendor():
    assert tuning.rules_key(_detect(XEON)) == "avx512-intel"
    assert tuning.rules_key(_detect(EPYC_ZEN4)) == "avx512-amd"
    assert tuning.rules_key(_detect(EPYC_ZEN4, cpuinfo.AVX2_EMULATION)) == "avx2"
    assert tuning.rules_key(_detect(OLD)) == "baseline"


def test_overrides_win_over_the_table():
    cpu = _detect(XEON)
    plain = tuning.choose(cpu, options.from_env({}))
    assert plain.rules.key == "avx512-intel" and not plain.overridden
    assert (plain.band_bytes, plain.channels_last, plain.wait_policy) == (8 << 20, True, "spin10k")
    env = {
        "TORCHCAFFE_TUNING": "avx2",
        "TORCHCAFFE_BAND_MB": "2.5",
        "TORCHCAFFE_WINOGRAD_BAND_MB": "1",
        "TORCHCAFFE_CHANNELS_LAST": "0",
        "TORCHCAFFE_THREADS": "3",
        "TORCHCAFFE_WAIT_POLICY": "passive",
    }
    c = tuning.choose(cpu, options.from_env(env))
    assert c.rules.key == "avx2" and c.band_bytes == int(2.5 * (1 << 20))
    assert c.winograd_band_bytes == 1 << 20
    assert (c.channels_last, c.threads, c.wait_policy) == (False, 3, "passive")
    assert set(c.overridden) == set(env)
    line = tuning.describe(c)
    assert "avx2 table" in line and "band 2.5 MB" in line and "3 threads" in line
    assert "wait passive" in line and "channels_last" not in line


def test_options_parse_and_refuse_bad_values():
    o = options.from_env({"TORCHCAFFE_FAST": "yes", "TORCHCAFFE_WINOGRAD": "0",
                          "TORCHCAFFE_MALLOPT": "1048576", "TORCHCAFFE_MEMORY_LIMIT": "0",
                          "GOMP_SPINCOUNT": "500", "ATEN_CPU_CAPABILITY": "avx2"})  # fmt: skip
    assert o.fast and o.winograd == 0 and o.mallopt == 1 << 20 and o.memory_limit == 0
    assert o.user_wait_policy() == "GOMP_SPINCOUNT=500" and o.isa_caps == {
        "ATEN_CPU_CAPABILITY": "avx2"
    }
    assert options.from_env({}) == options.Options()
    for name, bad, says in [
        ("TORCHCAFFE_WINOGRAD", "3", "use 0 (off), 2"),
        ("TORCHCAFFE_BAND_MB", "big", "size in MB"),
        ("TORCHCAFFE_FAST", "maybe", "use 1 (on) or 0 (off)"),
        ("TORCHCAFFE_THREADS", "0", "whole number >= 1"),
        ("TORCHCAFFE_TUNING", "avx9", "avx512-intel"),
        ("TORCHCAFFE_WAIT_POLICY", "sleepy", "spin10k"),
        ("TORCHCAFFE_MALLOPT", "32MB", "byte count"),
    ]:
        with pytest.raises(ValueError, match=re.escape(f"{name}={bad!r}") + ".*" + re.escape(says)):
            options.from_env({name: bad})
    with pytest.warns(UserWarning, match="TORCHCAFFE_WINOGRAND: not read by torchcaffe"):
        options.from_env({"TORCHCAFFE_WINOGRAND": "0"})
    with pytest.raises(TypeError, match="unknown option"):
        options.set_defaults(winogrand=0)


def test_keyword_beats_code_default_beats_environment(monkeypatch):
    param = zoo.build("voc-fcn32s", "deploy", width=1 / 16)
    monkeypatch.setenv("TORCHCAFFE_WINOGRAD", "0")
    monkeypatch.setenv("TORCHCAFFE_BAND_MB", "2")
    net = caffe.Net(param, caffe.TEST)
    assert net.winograd == 0 and net.band_bytes == 2 << 20
    options.set_defaults(fast=True)  # what --fast does (conftest undoes it)
    assert caffe.Net(param, caffe.TEST).winograd == 4
    assert caffe.Net(param, caffe.TEST, fast=False, winograd=2, band_mb=1).winograd == 2
    assert caffe.Net(param, caffe.TEST, band_mb=1, buffers_min_mb=0).band_bytes == 1 << 20
    with pytest.raises(ValueError, match="band_mb='x'"):
        caffe.Net(param, caffe.TEST, band_mb="x")


def test_solver_takes_fused_sgd_as_a_parameter(monkeypatch, tmp_path):
    from test_solvers_toynet import real_net, write_toy

    path = write_toy(
        str(tmp_path), 'base_lr: 0.1 lr_policy: "fixed" momentum: 0.9', python_data=True
    )
    monkeypatch.setenv("TORCHCAFFE_FUSED_SGD", "0")
    assert not caffe.SGDSolver(path, net_factory=real_net).fuse_sgd
    assert caffe.SGDSolver(path, net_factory=real_net, fuse_sgd=True).fuse_sgd
    assert caffe.get_solver(path, net_factory=real_net, fuse_sgd=True).fuse_sgd
    monkeypatch.delenv("TORCHCAFFE_FUSED_SGD")
    assert caffe.get_solver(path, net_factory=real_net).fuse_sgd


def test_only_options_reads_the_environment():
    """One place for each fact: no other torchcaffe module reads os.environ (they ask
    torchcaffe.options); writing what a library reads at load (startup, cuBLAS) is allowed."""
    pkg = os.path.join(ROOT, "torchcaffe")
    reads = re.compile(r"os\.environ\.get|os\.getenv|os\.environ\[[^\]]+\](?!\s*=)|in os\.environ")
    offenders = []
    for folder, _, files in os.walk(pkg):
        for name in files:
            path = os.path.join(folder, name)
            if not name.endswith(".py") or path.endswith(os.path.join("torchcaffe", "options.py")):
                continue
            with open(path) as f:
                for n, line in enumerate(f, 1):
                    if reads.search(line.split("#")[0]):
                        offenders.append(f"{os.path.relpath(path, ROOT)}:{n}: {line.strip()}")
    assert not offenders, offenders


def test_engine_line_names_the_cpu_and_the_choices(monkeypatch):
    line = caffe.describe_device()
    cpu = cpuinfo.host()
    assert line.startswith(f"cpu: {cpu.model}, {cpu.isa}")
    assert "winograd F2 from 256 ch" in line and "band 8 MB" in line and "wait " in line
    monkeypatch.setenv("TORCHCAFFE_BAND_MB", "4")
    assert "band 4 MB" in caffe.describe_device()


def _python(code, env_extra, drop=()):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    for k in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "OMP_NUM_THREADS", *cpuinfo.AVX2_EMULATION,
              "TORCHCAFFE_WAIT_POLICY", "TORCHCAFFE_TUNING"):  # fmt: skip
        env.pop(k, None)
    env.update(env_extra, OMP_DISPLAY_ENV="verbose", PYTHONPATH=ROOT)
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    spin = re.search(r"GOMP_SPINCOUNT = '(\d+)'", p.stderr)
    return p.stdout, spin.group(1) if spin else None


def _host_policy():
    """(the wait policy of this host's row, the GOMP_SPINCOUNT it sets) as _python's children
    see the host (no ISA caps: under forced AVX2 dispatch this process's row is another)."""
    out, _ = _python("from torchcaffe import tuning; print(tuning.current().wait_policy)", {})
    mine = out.strip().splitlines()[-1]
    return mine, waitpolicy.policy_env(mine)["GOMP_SPINCOUNT"]


def test_wait_policy_is_set_before_torch_loads():
    """libgomp prints the values it read at load (OMP_DISPLAY_ENV): `import torchcaffe` first
    gives the table's policy; TORCHCAFFE_WAIT_POLICY and the user's GOMP_SPINCOUNT win; torch
    imported first keeps libgomp's default, and the engine line says so."""
    first = "import torchcaffe; print(torchcaffe.describe_device())"
    mine, count = _host_policy()
    out, spin = _python(first, {})
    assert spin == count and f"wait {mine};" in out
    out, _ = _python("import runpy; runpy.run_module('torchcaffe', run_name='__main__')", {})
    assert re.search(rf"GOMP_SPINCOUNT +'{count}' \(torchcaffe's\)", out), out
    assert re.search(r"TORCHCAFFE_BAND_MB +\(unset\)", out) and "engine: torchcaffe (cpu: " in out
    out, spin = _python(first, {"TORCHCAFFE_WAIT_POLICY": "passive"})
    assert spin == "0" and "wait passive (TORCHCAFFE_WAIT_POLICY)" in out
    out, spin = _python(first, {"GOMP_SPINCOUNT": "777", "TORCHCAFFE_WAIT_POLICY": "spin1k"})
    assert spin == "777" and "GOMP_SPINCOUNT=777 (user)" in out
    out, _ = _python("import runpy; runpy.run_module('torchcaffe', run_name='__main__')",
                     {"GOMP_SPINCOUNT": "777"})  # fmt: skip
    assert re.search(r"GOMP_SPINCOUNT +'777' +libgomp", out), out
    out, spin = _python("import torch\n" + first, {})
    assert spin == "300000" and "wait libgomp (torch loaded before torchcaffe)" in out
    # another library's OpenMP runtime (here torch's own libgomp, loaded without torch) counts
    gomp_first = (
        "import ctypes, importlib.util, os\n"
        "lib = os.path.dirname(importlib.util.find_spec('torch').origin)\n"
        "ctypes.CDLL(os.path.join(lib, 'lib', 'libgomp.so.1'))\n"
    )
    out, spin = _python(gomp_first + first, {})
    assert spin == "300000" and "wait libgomp (libgomp loaded before torchcaffe)" in out


def test_entry_points_load_torch_after_torchcaffe():
    """solve.py/score.py (solvers.training.cli, solvers.evaluation.cli), solvers.inference.cli
    and the demos import no torch before the engine imports torchcaffe: they get the wait
    policy."""
    code = """
        import sys
        import solvers.demos.staged, solvers.demos.resnet, solvers.inference.cli
        import solvers.evaluation.cli, solvers.training.cli
        assert "torch" not in sys.modules, "an entry point imported torch before torchcaffe"
        import engine
        engine.use("torch")
        print(engine.describe())
    """
    out, spin = _python(code, {"FCN_ENGINE": "torch"})
    mine, count = _host_policy()
    assert spin == count and f"wait {mine};" in out


def test_avx2_emulation_reaches_torch_and_the_table():
    code = """
        import torch, torchcaffe
        from torchcaffe import cpuinfo, tuning
        print(torch.backends.cpu.get_cpu_capability(), tuning.current().rules.key)
        print(cpuinfo.host().emulated, torchcaffe.describe_device())
    """
    out, _ = _python(code, dict(cpuinfo.AVX2_EMULATION))
    cap_row, line = out.splitlines()
    assert cap_row == "AVX2 avx2"
    native = cpuinfo.host().native_isa
    assert line.startswith(str(native == "avx512"))
    assert ("avx2 (emulated)" if native == "avx512" else ", avx2,") in line


def _nchw_training_row(monkeypatch):
    """The AVX2 row as it was before the GEMM weight gradients: training NCHW, inference NHWC
    (a row may set a training layout of its own)."""
    row = dataclasses.replace(tuning.TABLE["avx2"], train_channels_last=False)
    monkeypatch.setitem(tuning.TABLE, "avx2", row)
    return row


def test_training_nets_take_the_rows_training_layout(monkeypatch):
    """Every row trains and infers NHWC now (the AVX2 row with the GEMM weight gradients); a
    row with its own training layout gives it to training nets only; TORCHCAFFE_CHANNELS_LAST
    sets both."""
    for key in ("avx2", "avx512-intel", "avx512-amd"):
        c = tuning.choose(_detect(XEON), options.from_env({"TORCHCAFFE_TUNING": key}))
        assert (c.channels_last, c.train_channels_last) == (True, True), key
    _nchw_training_row(monkeypatch)
    avx2 = tuning.choose(_detect(XEON), options.from_env({"TORCHCAFFE_TUNING": "avx2"}))
    assert (avx2.channels_last, avx2.train_channels_last) == (True, False)
    assert "channels_last (training NCHW)" in tuning.describe(avx2)
    env = {"TORCHCAFFE_TUNING": "avx2", "TORCHCAFFE_CHANNELS_LAST": "1"}
    forced = tuning.choose(_detect(XEON), options.from_env(env))
    assert (forced.channels_last, forced.train_channels_last) == (True, True)


def test_a_net_takes_the_training_layout_only_when_it_records_gradients(monkeypatch):
    import torchcaffe.net as tcnet
    from bench import fixtures

    _nchw_training_row(monkeypatch)
    avx2 = tuning.choose(_detect(XEON), options.from_env({"TORCHCAFFE_TUNING": "avx2"}))
    monkeypatch.setattr(tcnet._tuning, "current", lambda: avx2)
    assert caffe.Net(fixtures.deploy_param(1 / 16), caffe.TEST).channels_last is True
    train = fixtures.train_param(64, 64, 1 / 16)
    assert caffe.Net(train, caffe.TRAIN).channels_last is False
    assert caffe.Net(train, caffe.TRAIN, channels_last=True).channels_last is True
