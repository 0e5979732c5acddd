"""Engine-wide state, as pycaffe keeps it: CPU/GPU mode, device id, random seed."""

from __future__ import annotations

import os

import torch

from . import options as _options

_state = {"mode": "cpu", "device_id": 0, "seed": None}
_generators = {}


def set_mode_cpu() -> None:
    """Run nets built from now on on the CPU (pycaffe's caffe.set_mode_cpu)."""
    _state["mode"] = "cpu"


def set_mode_gpu() -> None:
    """Run nets built from now on on CUDA device `set_device(i)` (default 0).

    Raises RuntimeError when torch sees no CUDA device, rather than silently staying on the CPU.
    """
    if not torch.cuda.is_available():
        raise RuntimeError(
            "caffe.set_mode_gpu(): torch finds no CUDA device (torch "
            f"{torch.__version__}); use caffe.set_mode_cpu() or install a CUDA build of torch"
        )
    _state["mode"] = "gpu"
    cuda_math()


def cuda_math() -> bool:
    """Set torch's CUDA float32 math for Caffe's semantics -> True when TF32 is on.

    Caffe's float32 layers compute in float32; torch lets cuDNN convolutions on Ampere and later
    GPUs round their inputs to TF32 (10-bit mantissa) by default. GPU mode turns TF32 off for
    convolutions and matrix products unless the environment says TORCHCAFFE_TF32=1 (faster,
    relative error ~1e-3 instead of ~1e-6; the mixed precisions bf16/fp16 are the faster choice).
    """
    opts = _options.current()
    tf32 = opts.tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    if opts.deterministic:
        deterministic_cuda()
    return tf32


def deterministic_cuda() -> None:
    """Bitwise-reproducible CUDA runs (TORCHCAFFE_DETERMINISTIC=1 in GPU mode): cuDNN's
    deterministic algorithms only (its fastest backward kernels add with atomics, so two runs,
    or a run and its resume, differ in the last bits) and torch's deterministic mode (warning,
    not failing, where an op has no deterministic CUDA kernel). Slower; CPU runs are
    deterministic already."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read by cuBLAS itself
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)


def set_device(i: int) -> None:
    """Choose CUDA device `i` for GPU mode (pycaffe's caffe.set_device)."""
    i = int(i)
    if torch.cuda.is_available() and not 0 <= i < torch.cuda.device_count():
        raise RuntimeError(
            f"caffe.set_device({i}): only {torch.cuda.device_count()} CUDA device(s) present"
        )
    _state["device_id"] = i


def set_random_seed(seed: int) -> None:
    """Seed the fillers, Dropout masks and Data-layer crops/mirrors of nets (and torch's RNGs)."""
    _state["seed"] = int(seed)
    _state["seedings"] = _state.get("seedings", 0) + 1  # torchcaffe.caffe_rng restarts on it
    _generators.clear()
    torch.manual_seed(int(seed))


def current_device() -> torch.device:
    """torch.device that new nets use: cpu, or cuda:<set_device id> in GPU mode."""
    if _state["mode"] == "gpu":
        return torch.device("cuda", _state["device_id"])
    return torch.device("cpu")


def generator(device: torch.device | str) -> torch.Generator:
    """The engine's torch.Generator for `device` (seeded by set_random_seed when called)."""
    key = str(device)
    if key not in _generators:
        g = torch.Generator(device=device)
        if _state["seed"] is not None:
            g.manual_seed(_state["seed"])
        else:
            g.seed()
        _generators[key] = g
    return _generators[key]


def describe_device() -> str:
    """One line naming the device nets run on: on the CPU its model, the ISA torch's kernels
    run at and the choices made for it (torchcaffe.tuning), e.g. 'cpu: AMD EPYC, avx512, 2
    cores; winograd F2 from 256 ch, channels_last, band 8 MB, 2 threads, wait spin10k; torch
    2.13.0+cpu'; on CUDA 'cuda:0 NVIDIA H100 ...'."""
    dev = current_device()
    if dev.type == "cuda":
        tf32 = "TF32 on" if torch.backends.cudnn.allow_tf32 else "float32 (TF32 off)"
        return f"{dev} {torch.cuda.get_device_name(dev)}, {tf32}, torch {torch.__version__}"
    from . import startup, tuning

    cpu = tuning.describe(
        tuning.current(), threads=torch.get_num_threads(), wait=startup.wait_state()
    )
    return f"cpu: {cpu}; torch {torch.__version__}"
