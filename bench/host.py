"""The host a benchmark runs on, recorded with every result, and AVX2 emulation for a whole run.

`record()` is what every results file keeps under env["host"]: the CPU's vendor and model, the
ISA torch's kernels run at (native, or emulated and by which variables), cores, caches, torch's
version and the OpenMP wait policy torchcaffe chooses here. `tag()` names the kind of host in
result file names ('epyc-avx512', 'epyc-avx2emu', 'xeon-avx512').

`--emulate avx2` (python -m bench, python -m bench.winograd_micro): the command re-executes
itself with torchcaffe.cpuinfo.AVX2_EMULATION in the environment before anything loads torch,
numpy or Caffe's OpenBLAS, so every library of every child runs AVX2 code.
"""

import os
import sys

EMULATIONS = ("avx2",)


def reexec_emulated(isa, module, argv):
    """When `isa` is given and the environment does not emulate it yet, replace this process by
    `python -m module argv` with the emulation variables set (never returns then)."""
    if not isa:
        return
    if isa not in EMULATIONS:
        raise SystemExit(f"--emulate {isa}: only {', '.join(EMULATIONS)} can be emulated")
    env = dict(os.environ)  # before torchcaffe's import adds its own settings to os.environ
    from torchcaffe.cpuinfo import AVX2_EMULATION

    if all(env.get(k) == v for k, v in AVX2_EMULATION.items()):
        return
    env.update(AVX2_EMULATION)
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", module, *argv], env)


def record():
    """The host as a results file keeps it (env["host"])."""
    import torch

    from torchcaffe import cpuinfo, startup, tuning

    cpu = cpuinfo.host()
    choice = tuning.current()
    out = cpu.as_dict()
    out.update(
        torch=torch.__version__,
        aten_capability=str(torch.backends.cpu.get_cpu_capability()),
        torch_threads=torch.get_num_threads(),
        tuning=choice.rules.key,
        wait_policy=choice.wait_policy,
        wait_policy_in_this_process=startup.wait_state(),
    )
    return out


def tag(host):
    """The short name of the kind of host of a record() (or an older results file's env)."""
    if host.get("tag"):
        return host["tag"]
    model = (host.get("cpu_model") or host.get("model") or "").lower()
    for name in ("epyc", "xeon", "ryzen", "core", "threadripper"):
        if name in model:
            return f"{name}-unrecorded"
    return "unrecorded"


def line(host):
    """'AMD EPYC (amd), avx512 native, 2 cores (2 physical), torch 2.13.0+cpu' or '..., avx2
    emulated on avx512 by ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 ...'."""
    if "isa" not in host:
        return f"{host.get('cpu_model', '?')} (no ISA recorded)"
    if host.get("emulated_by"):
        how = " ".join(f"{k}={v}" for k, v in host["emulated_by"].items())
        isa = f"{host['isa']} emulated on {host['native_isa']} by {how}"
    else:
        isa = f"{host['isa']} native"
    return (
        f"{host['model']} ({host['vendor']}), {isa}, {host['cores']} cores "
        f"({host['physical_cores']} physical), torch {host.get('torch', '?')}, "
        f"tuning {host.get('tuning', '?')}, wait policy {host.get('wait_policy', '?')}"
    )
