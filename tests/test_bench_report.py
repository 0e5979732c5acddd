"""bench/report.py: the per-round statistics the speed targets are judged on."""

import os
import subprocess
import sys

import pytest

from bench import peak, report


def _res():
    env = dict(date="2026-11-26T01:00:00", machine="vm", cpu_model="x", cores=2, torch="t")
    env.update(threads=2, size=500, width=1.0, reps=3, rounds=2, loadavg_start=[0, 0, 0])
    spec = {"loadavg_before": [None, None]}
    train = {
        "torchcaffe": {"times": [4.4, 4.0, 4.1, 5.2, 4.2, 4.3], "peak_rss_mb": 3000, "spec": spec},
        "caffe": {"times": [8.0, 8.2, 8.1, 8.4, 8.8, 8.6], "peak_rss_mb": 6000, "spec": spec},
    }
    return {"env": env, "train": train}


def test_round_bests_split_the_times_by_round():
    r = _res()["train"]["torchcaffe"]
    assert report.round_bests(r, 3) == [4.0, 4.2]
    assert report.round_bests(None, 3) == [] and report.round_bests(r, 0) == []


def test_training_table_gives_spread_over_steps_and_over_rounds():
    text = report.table(_res())
    # over single steps 5.2 / 4.0 = 1.30; over the round bests 4.2 / 4.0 = 1.05
    assert "| torchcaffe | 4.00 / 4.30 / 5.20 | 1.30 |" in text
    assert "| torchcaffe | 4.00, 4.20 | 1.05 | 0.50, 0.50 |" in text
    assert "| caffe | 8.00, 8.40 | 1.05 | 1.00, 1.00 |" in text


def test_host_probe_row_has_no_ratios():
    """The fixed probe's round bests show the host's drift; it is no engine: no ratios."""
    res = _res()
    res["train"]["host"] = {"times": [1.0, 1.1, 1.0, 1.2, 1.25, 1.3], "peak_rss_mb": 500}
    res["train"]["host"]["spec"] = res["train"]["caffe"]["spec"]
    text = report.table(res)
    assert "| host | 1.00, 1.20 | 1.20 | - |" in text
    assert "| host | 1.00 / 1.20 / 1.30 | 1.30 | - | - | 500 |" in text


def test_peak_rss_reads_vmhwm(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmPeak:\t 9000000 kB\nVmHWM:\t 2048000 kB\nVmRSS:\t 10 kB\n")
    assert peak.peak_rss_mb(str(status)) == 2000.0
    assert peak.peak_rss_mb(str(tmp_path / "missing")) > 0  # getrusage fallback


def test_child_peak_is_its_own_not_the_parents():
    """Linux carries ru_maxrss across fork and exec: a bench child started after the parent
    held ~400 MB must still report only what it used itself."""
    code = (
        "import subprocess, sys, numpy as np\n"
        "a = np.ones(50 << 20); a += 1; del a\n"  # ~400 MB touched, then freed
        "print(subprocess.run([sys.executable, '-c', 'from bench.peak import peak_rss_mb; "
        "print(peak_rss_mb())'], capture_output=True, text=True, check=True).stdout)\n"
    )
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=repo,
        timeout=120,
    )
    assert float(out.stdout.strip()) < 200


HOST = {
    "vendor": "amd", "model": "AMD EPYC", "native_isa": "avx512", "isa": "avx2",
    "emulated_by": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "cores": 2, "physical_cores": 2, "torch": "2.13.0+cpu", "tuning": "avx2",
    "wait_policy": "spin10k", "tag": "epyc-avx2emu",
}  # fmt: skip


def _caffe_run(date, host=None, scale=1.0):
    """A run with Caffe rows: torchcaffe's times `scale` x the base ones."""
    res = _res()
    res["env"]["date"] = date
    if host is not None:
        res["env"]["host"] = host
    spec = {"loadavg_before": [None, None]}
    res["forward"] = {
        "torchcaffe": {"times": [1.2, 1.1, 1.3, 1.0, 1.4, 1.5], "spec": spec},
        "torchcaffe fast": {"times": [0.9, 0.95, 1.0, 0.9, 1.0, 1.1], "spec": spec},
        "caffe": {"times": [2.8, 2.9, 3.0, 2.5, 2.6, 2.7], "spec": spec},
    }
    for r in res["forward"].values():
        if r is not res["forward"]["caffe"]:
            r["times"] = [t * scale for t in r["times"]]
    res["shared"] = {"together_s": 45.0, "sequential_s": 50.0, "ratio": 0.9}
    return res


def test_results_file_is_named_for_the_host_and_never_overwritten(tmp_path):
    res = _caffe_run("2026-12-06T10:15:00", HOST)
    first = report.write_report(res, str(tmp_path))
    assert os.path.basename(first) == "2026-12-06-epyc-avx2emu.json"
    second = report.write_report(res, str(tmp_path))
    assert os.path.basename(second) == "2026-12-06-epyc-avx2emu-1015.json"
    third = report.write_report(res, str(tmp_path))
    assert os.path.basename(third) == "2026-12-06-epyc-avx2emu-2.json"
    assert (
        "Host `epyc-avx2emu`: AMD EPYC (amd), avx2 emulated on avx512 by "
        in (tmp_path / "README.md").read_text()
    )
    res["env"].pop("host")  # a run from before the host was recorded
    assert report.results_name(res["env"]).endswith("-unrecorded")


def test_table_names_the_host_and_how_its_isa_was_emulated():
    text = report.table(_caffe_run("2026-12-06T10:15:00", HOST))
    assert text.startswith("Host `epyc-avx2emu`: AMD EPYC (amd), avx2 emulated on avx512 by "
                           "ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2, 2 cores")  # fmt: skip
    native = dict(HOST, isa="avx512", emulated_by={}, tag="epyc-avx512")
    assert "avx512 native" in report.table(_caffe_run("2026-12-06T10:15:00", native))


def test_host_rows_give_each_row_its_latest_run():
    native = dict(HOST, isa="avx512", emulated_by={}, tag="epyc-avx512", tuning="avx512-amd")
    native["wait_policy"] = "spin2k"  # the two-at-once row: the policy its tuning row takes
    avx2 = dict(HOST, wait_policy="spin1k")
    runs = [
        ("a.json", _caffe_run("2026-12-05T10:00:00", avx2, scale=2.0)),  # older: not shown
        ("b.json", _caffe_run("2026-12-06T10:00:00", avx2)),
        ("c.json", _caffe_run("2026-12-06T11:00:00", native, scale=0.5)),
        ("d.json", _res()),  # no Caffe forward rows, no shared row: nothing to show
        ("e.json", _caffe_run("2026-12-06T12:00:00", native, scale=0.25)),  # forward only
    ]
    runs[3][1]["train"].pop("caffe")
    for key in ("train", "shared"):
        runs[4][1].pop(key, None)
    lines = report.host_rows(runs)
    text = "\n".join(lines)
    assert text.index("**epyc-avx2emu**") < text.index("**epyc-avx512**")
    assert "a.json" not in text and "`b.json`" in text and "`c.json`" in text
    # best 1.0 s vs Caffe's best 2.5 s; per round: 1.1 / 2.8 and 1.0 / 2.5
    assert (
        "| | exact forward (2026-12-06T10:00, `b.json`) | 1.00 s | 2.50 s | "
        "0.40x (0.39-0.40 per round) | <= 0.45x |" in text
    )
    # the native host's forward from its newest run, its training from the run that timed it
    assert "| | exact forward (2026-12-06T12:00, `e.json`) | 0.25 s | 2.50 s |" in text
    assert "| | exact forward (2026-12-06T11:00" not in text
    assert "| | training iteration (2026-12-06T11:00, `c.json`) |" in text
    assert (
        "| | training iteration (2026-12-06T10:00, `b.json`) | 4.00 s | 8.00 s | "
        "0.50x (0.50-0.50 per round) | <= 0.6x |" in text
    )
    assert "| 3.00 GB | 6.00 GB | 0.50x | <= 0.5x |" in text
    assert "| 45.0 s | 50.0 s | 0.90x, spin1k |" in text and "0.90x, spin2k |" in text
    # a run under a policy the host's row no longer takes has no two-at-once row
    old = [("f.json", _caffe_run("2026-12-06T13:00:00", HOST))]  # recorded spin10k
    assert "two trainings" not in "\n".join(report.host_rows(old))


def test_wait_policy_comparison_table():
    res = _res()
    spin = {"GOMP_SPINCOUNT": "10000", "OMP_WAIT_POLICY": None}
    res["shared_policies"] = {
        "spin10k": [
            {"ratio": 1.3, "together_s": 26.0, "sequential_s": 20.0, "alone_s": [10.0, 11.0],
             "policy_env": spin},
            {"ratio": 1.2, "together_s": 24.0, "sequential_s": 20.0, "alone_s": [10.5, 10.2],
             "policy_env": spin},
        ],
        "libgomp": [{"ratio": 1.6, "alone_s": [9.0, 9.5], "policy_env": {}}],
    }  # fmt: skip
    text = report.table(res)
    assert "| spin10k | GOMP_SPINCOUNT=10000 | 1.30, 1.20 | 1.20 | 10.0 / 11.0 |" in text
    assert "| libgomp | (none) | 1.60 | 1.60 | 9.0 / 9.5 |" in text
    # the row shows the policy the host's tuning row takes today (the Xeon's: spin10k)
    res["env"]["host"] = dict(HOST, tuning="avx512-intel", wait_policy="spin10k")
    rows = report.host_summary(res)
    assert rows[-1] == (
        "two trainings at once vs one after the other", "24.0 s", "20.0 s",
        "1.20x (1.20-1.30 per round), spin10k", "<= 1.1x",
    )  # fmt: skip
    # a run that did not time the policy the row takes now (AVX2: spin1k) shows no such row
    res["env"]["host"] = dict(HOST, tuning="avx2", wait_policy="spin10k")
    assert all(r[0] != rows[-1][0] for r in report.host_summary(res))


def test_variants_and_wait_policy_environments():
    import bench.__main__ as bm
    from torchcaffe import waitpolicy

    assert bm.parse_variant("TORCHCAFFE_BAND_MB=4, GOMP_SPINCOUNT=1000") == {
        "TORCHCAFFE_BAND_MB": "4",
        "GOMP_SPINCOUNT": "1000",
    }
    for bad in ("TORCHCAFFE_BAND_MB", "=4", ","):
        with pytest.raises(SystemExit, match="--variant"):
            bm.parse_variant(bad)
    env = waitpolicy.child_env("passive", {"GOMP_SPINCOUNT": "5", "PATH": "/bin"})
    assert env == {"OMP_WAIT_POLICY": "PASSIVE", "PATH": "/bin"}
    assert waitpolicy.child_env("libgomp", {"GOMP_SPINCOUNT": "5"}) == {}
    assert bm.torchcaffe_env("spin1k") == {
        "THP_MEM_ALLOC_ENABLE": "1", "GOMP_SPINCOUNT": "1000", "OMP_WAIT_POLICY": None,
    }  # fmt: skip
    with pytest.raises(ValueError, match="use one of libgomp, spin100k"):
        waitpolicy.policy_env("sleepy")
    assert waitpolicy.policy_env("spin3k")["GOMP_SPINCOUNT"] == "3000"
    assert waitpolicy.policy_env("spin250")["GOMP_SPINCOUNT"] == "250"


def test_emulated_bench_reexecs_itself_with_the_variables(tmp_path):
    """--emulate avx2: the command runs again with every emulation variable set, so the
    children and the recorded host say avx2."""
    from torchcaffe.cpuinfo import AVX2_EMULATION

    code = (
        "import os, sys\n"
        "from bench import host\n"
        "host.reexec_emulated('avx2', 'bench.host_probe_env', [])\n"
    )
    probe = tmp_path / "bench_probe"
    probe.mkdir()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k not in AVX2_EMULATION}
    env["PYTHONPATH"] = repo
    p = subprocess.run(
        [sys.executable, "-c", code + "print('not re-executed')"],
        capture_output=True, text=True, cwd=repo, env=env, timeout=300,
    )  # fmt: skip
    # re-executed as `python -m bench.host_probe_env`, which does not exist: its error proves
    # the exec happened (and with which module)
    assert "not re-executed" not in p.stdout
    assert "No module named bench.host_probe_env" in p.stderr
    env.update(AVX2_EMULATION)
    p = subprocess.run(
        [sys.executable, "-c", code + "print('not re-executed')"],
        capture_output=True, text=True, cwd=repo, env=env, timeout=300,
    )  # fmt: skip
    assert p.stdout.strip() == "not re-executed"


def test_bf16_rows_are_skipped_where_torch_is_capped_below_bf16(monkeypatch):
    """Under --emulate avx2 the CPU's flags still list avx512_bf16, but torch's kernels run at
    AVX2 and emulate bf16 (45 s per FCN-8s forward instead of 1.3 s): those rows are skipped."""
    import bench.__main__ as bm

    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert bm.native_bf16() is False
    monkeypatch.delenv("ATEN_CPU_CAPABILITY")
    with open("/proc/cpuinfo") as f:
        flags = f.read()
    assert bm.native_bf16() is ("avx512_bf16" in flags or "amx_bf16" in flags)
