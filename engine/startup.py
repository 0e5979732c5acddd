"""What a command does with its engine at start: say which it is, pick the device, fast mode."""

import sys

from .choice import adapter, current, current_name


def describe() -> str:
    """One line naming the program's engine (and device, for torchcaffe)."""
    caffe = current()
    if current_name() == "caffe":
        return f"engine: BVLC pycaffe ({getattr(caffe, '__file__', '?')})"
    dev = getattr(caffe, "describe_device", lambda: "cpu")()
    return f"engine: torchcaffe ({dev})"


def announce(stream=None) -> None:
    """Print the engine line at program start (every command says which engine runs)."""
    print(describe(), file=stream or sys.stderr)


def set_device(gpu: int | None = None) -> str:
    """--gpu: -1 CPU, N GPU N; None: torchcaffe's default (CUDA if any), CPU on real Caffe.
    Returns a short device name ('cpu', 'cuda:0', 'gpu 0')."""
    return adapter().set_device(current(), gpu, 0)


def use_fast_mode(stream=None) -> bool:
    """--fast: torchcaffe's fastest exact-enough inference (channels_last + Winograd 3x3
    convolutions; outputs differ from the exact mode by ~1e-5 of their range, see bench/README.md).
    Makes it the default of the nets built afterwards (torchcaffe.options.set_defaults, not the
    environment); says so (or that pycaffe ignores it). Returns whether fast mode is on."""
    if current_name() != "torch":
        print("--fast: applies to torchcaffe only; BVLC pycaffe runs as usual", file=stream)
        return False
    current().options.set_defaults(fast=True)
    print("fast mode: channels_last + Winograd convolutions (not bit-exact)", file=stream)
    return True
