"""What a command does with its engine at start: say which it is, pick the device, fast mode."""

from __future__ import annotations

import sys
from typing import TextIO

from .choice import adapter, current, current_name, requested


def describe() -> str:
    """One line naming the program's engine (and device, for torchcaffe)."""
    caffe = current()
    if current_name() == "caffe":
        return f"engine: BVLC pycaffe ({getattr(caffe, '__file__', '?')})"
    dev = getattr(caffe, "describe_device", lambda: "cpu")()
    return f"engine: torchcaffe ({dev})"


def announce(stream: TextIO | None = None) -> None:
    """Print the engine line at program start (every command says which engine runs)."""
    print(describe(), file=stream or sys.stderr)


def refuse_precision(name: str | None, precision: str) -> None:
    """Exit with a message, before any engine is imported, when the engine `name` asks for
    (use()'s argument: None = FCN_ENGINE, else auto) cannot train in `precision`: BVLC Caffe
    trains in fp32 only. The engine's adapter checks the device later (check_precision)."""
    if requested(name) == "caffe":
        from .pycaffe_adapter import check_precision

        check_precision(precision)


def set_device(gpu: int | None = None) -> str:
    """--gpu: -1 CPU, N GPU N; None: torchcaffe's default (CUDA if any), CPU on real Caffe.
    Returns a short device name ('cpu', 'cuda:0', 'gpu 0')."""
    return adapter().set_device(current(), gpu, 0)


def fast_mode(stream: TextIO | None = None) -> bool:
    """--fast: whether the program's engine has torchcaffe's fastest exact-enough inference
    (channels_last + Winograd 3x3 convolutions; outputs differ from the exact mode by ~1e-5 of
    their range, see bench/README.md); says so, or that pycaffe ignores it. The command passes
    the answer to the nets it opens: open_net(..., fast=...). Sets nothing."""
    if current_name() != "torch":
        print("--fast: applies to torchcaffe only; BVLC pycaffe runs as usual", file=stream)
        return False
    print("fast mode: channels_last + Winograd convolutions (not bit-exact)", file=stream)
    return True
