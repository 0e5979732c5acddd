"""Mixed-precision training for torchcaffe solvers: autocast dtype, dynamic loss scaling, skips.

    solver = torchcaffe.get_solver("solver.prototxt")
    solver.set_precision("fp16")          # or "bf16"; "fp32" (the default) is the exact path

What runs in 16 bits: the layers, under torch.autocast with that dtype (train net and test nets).
What stays float32: every parameter and its diff (the master weights; autocast casts copies
inside the ops), the blobs between layers, the solver's history, the update, and therefore the
snapshots (ordinary Caffe caffemodels and solverstates).

fp16 uses dynamic loss scaling (LossScaler): the loss diffs seeded for the backward are
multiplied by the scale S (initially 2**16), the parameter diffs are divided by S after the
iter_size passes, and when any parameter diff (or the loss) is NaN/inf the update is skipped
(no weight, history or learning-rate-counter change), the skip is counted and S halves (never
below 1); after `growth_interval` (2000) good steps in a row S doubles. bf16 has float32's
exponent range: no scaling (S = 1), the same skip rule.

A skipped step still advances `solver.iter` (torch.cuda.amp.GradScaler's convention: the
optimizer step is skipped, the loop's step counts), so the data position (iter * iter_size), the
lr schedule and resume stay exact (Adam's bias correction, t = iter + 1 as in Caffe, counts it).
`max_consecutive_skips` (25) skipped steps in a row stop the run with NonFiniteLoss (weights
untouched): more than the 16 halvings from 2**16 to 1, so only a loss or gradient that stays
non-finite at every scale stops it. The scaler's state is saved in
the snapshot's .rngstate (key "mixed_precision") and restored with it.

Loss scaling relies on the loss layers multiplying their gradient by their top diff, as Caffe's
built-in losses do (a Python loss layer that ignores top[0].diff would get gradients 1/S too
small under fp16). On the CPU, bf16 keeps Deconvolution layers in fp32 (fp32_layer_types).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from .net import Net

PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
_ALIASES = {
    "float32": "fp32",
    "float": "fp32",
    "float16": "fp16",
    "half": "fp16",
    "bfloat16": "bf16",
}
STATE_KEY = "mixed_precision"  # the key of the scaler state in a snapshot's .rngstate


class PrecisionError(ValueError):
    """A precision this device (or engine) cannot train in; the message names what can."""


def parse(precision: str | torch.dtype | None) -> str:
    """Canonical name ('fp32', 'fp16', 'bf16') of `precision` (None -> 'fp32'); also accepts
    torch dtypes and the names float32/float16/half/bfloat16."""
    if precision is None:
        return "fp32"
    if isinstance(precision, torch.dtype):
        for name, dtype in PRECISIONS.items():
            if dtype == precision or (dtype is None and precision == torch.float32):
                return name
    else:
        name = str(precision).strip().lower()
        name = _ALIASES.get(name, name)
        if name in PRECISIONS:
            return name
    raise PrecisionError(f"precision {precision!r} is unknown: use fp32, fp16 or bf16")


def autocast_dtype(precision: str | torch.dtype | None) -> torch.dtype | None:
    """The torch dtype autocast runs layers in for `precision` (None for fp32)."""
    return PRECISIONS[parse(precision)]


def fp32_layer_types(
    precision: str | torch.dtype | None, device: torch.device | str
) -> frozenset[str]:
    """Layer types that stay float32 under `precision`'s autocast on `device`: Deconvolution
    with bf16 on the CPU (torch's bfloat16 conv_transpose2d there takes a path 17-30x slower
    than float32's: FCN's 64x64-kernel upscore went from 43 ms to 715 ms; bf16 conv2d is 2x
    faster than fp32 on an AMX CPU)."""
    if parse(precision) == "bf16" and torch.device(device).type == "cpu":
        return frozenset({"Deconvolution"})
    return frozenset()


def _cpu_autocasts(dtype):
    """Whether torch's CPU autocast runs a matrix product in `dtype` (it warns and disables
    itself for a dtype it does not support)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.autocast("cpu", dtype=dtype):
                y = torch.mm(torch.ones(2, 2), torch.ones(2, 2))
        return y.dtype == dtype
    except (RuntimeError, ValueError, TypeError):
        return False


def check_device(precision: str | torch.dtype | None, device: torch.device | str) -> str:
    """PrecisionError when `device` cannot run `precision`'s autocast (fp16 on a CPU whose torch
    has no float16 CPU autocast, bf16 on a GPU without bfloat16)."""
    name = parse(precision)
    dtype = PRECISIONS[name]
    if dtype is None:
        return name
    device = torch.device(device)
    if device.type == "cpu":
        if not _cpu_autocasts(dtype):
            hint = "run on a CUDA device (--gpu N)" if name == "fp16" else "use fp32"
            raise PrecisionError(
                f"precision {name}: torch {torch.__version__} has no {name} autocast on the "
                f"CPU; {hint}, or use --precision {'bf16' if name == 'fp16' else 'fp32'}"
            )
    elif device.type == "cuda" and name == "bf16" and not torch.cuda.is_bf16_supported():
        raise PrecisionError(
            f"precision bf16: CUDA device {device} does not support bfloat16; use fp16 "
            "(dynamic loss scaling) or fp32"
        )
    return name


class LossScaler:
    """Loss scale and skip bookkeeping of one mixed-precision run.

    `scale`: S (fp16: dynamic, from `init_scale`; bf16: always 1). `skipped`: skipped steps in
    total (resumed runs included); `consecutive`: skipped steps in a row up to now;
    `good_steps`: finite steps since the scale last changed (fp16).
    """

    def __init__(
        self,
        precision: str | torch.dtype | None,
        init_scale: float = 2.0**16,
        growth_interval: int = 2000,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        min_scale: float = 1.0,
        max_consecutive_skips: int = 25,
    ) -> None:
        self.precision = parse(precision)
        if self.precision == "fp32":
            raise PrecisionError("LossScaler is for fp16/bf16; fp32 runs without one")
        if not (math.isfinite(init_scale) and init_scale > 0):
            raise PrecisionError(f"init_scale must be a finite number > 0, got {init_scale!r}")
        if int(growth_interval) < 1:
            raise PrecisionError(f"growth_interval must be >= 1, got {growth_interval!r}")
        if not (growth_factor > 1 and 0 < backoff_factor < 1 and min_scale > 0):
            raise PrecisionError("need growth_factor > 1, 0 < backoff_factor < 1, min_scale > 0")
        self.dynamic = self.precision == "fp16"
        self.init_scale = float(init_scale)
        self.growth_interval = int(growth_interval)
        self.growth_factor = float(growth_factor)
        self.backoff_factor = float(backoff_factor)
        self.min_scale = float(min_scale)
        self.max_consecutive_skips = int(max_consecutive_skips)
        self.reset()

    def reset(self) -> None:
        """Back to the initial state: scale init_scale (fp16) or 1 (bf16), no skips counted."""
        self.scale = max(self.min_scale, self.init_scale) if self.dynamic else 1.0
        self.good_steps = 0
        self.skipped = 0
        self.consecutive = 0

    def update(self, finite: bool) -> bool:
        """After a step's diffs were checked: -> True when that step is skipped (not finite).
        fp16: halve the scale on a skip, double it after growth_interval good steps."""
        if finite:
            self.consecutive = 0
            if self.dynamic:
                self.good_steps += 1
                if self.good_steps >= self.growth_interval:
                    self.scale *= self.growth_factor
                    self.good_steps = 0
            return False
        self.skipped += 1
        self.consecutive += 1
        self.good_steps = 0
        if self.dynamic:
            self.scale = max(self.min_scale, self.scale * self.backoff_factor)
        return True

    @property
    def exhausted(self) -> bool:
        """Whether max_consecutive_skips steps in a row were skipped (0: never)."""
        return 0 < self.max_consecutive_skips <= self.consecutive

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state (saved in the snapshot's .rngstate under STATE_KEY)."""
        return {
            "precision": self.precision,
            "scale": self.scale,
            "good_steps": self.good_steps,
            "skipped": self.skipped,
            "consecutive": self.consecutive,
        }

    def load_state_dict(self, state: object) -> bool:
        """Take `state` (state_dict's) when it was saved for this precision -> whether it was."""
        if not isinstance(state, dict) or state.get("precision") != self.precision:
            return False
        scale = float(state["scale"])
        if not (math.isfinite(scale) and scale > 0):
            return False
        self.scale = scale if self.dynamic else 1.0
        self.good_steps = int(state["good_steps"])
        self.skipped = int(state["skipped"])
        self.consecutive = int(state["consecutive"])
        return True

    def describe(self) -> str:
        """One line for the log: what runs in which precision."""
        if self.dynamic:
            return (
                f"Mixed precision fp16: layers under autocast, fp32 weights and diffs; dynamic "
                f"loss scale {self.scale:g} (halved on overflow, doubled after "
                f"{self.growth_interval} good steps)"
            )
        return "Mixed precision bf16: layers under autocast, fp32 weights and diffs; no loss scale"

    def status(self) -> str:
        """The display line's text: skipped steps and the current scale."""
        return f"skipped overflow steps: {self.skipped}, loss scale {self.scale:g}"


def scale_loss_diffs(net: Net, names: Iterable[str], scale: float) -> None:
    """Multiply the seeded diffs of the loss blobs `names` by `scale` (before the backward)."""
    if scale == 1.0:
        return
    for name in names:
        net.blobs[name].diff_tensor.mul_(scale)


def unscale_and_check(diffs: Sequence[torch.Tensor], scale: float) -> bool:
    """Divide every tensor of `diffs` by `scale` in place -> whether all are finite (one pass
    over each: torch's fused unscale-and-check kernel, the one torch.amp's GradScaler runs, when
    all are float32 on one device; else a multiply and a min/max; one synchronisation)."""
    diffs = [d for d in diffs if d.numel()]
    if not diffs:
        return True
    device = diffs[0].device
    fused = getattr(torch, "_amp_foreach_non_finite_check_and_unscale_", None)
    if fused is not None and all(d.dtype == torch.float32 and d.device == device for d in diffs):
        found = torch.zeros(1, device=device)
        fused(diffs, found, torch.full((1,), 1.0 / scale, device=device))
        return not bool(found.item())
    inv = 1.0 / scale
    flags = []
    for d in diffs:
        if inv != 1.0:
            d.mul_(inv)
        lo, hi = torch.aminmax(d)  # NaN propagates into both
        flags.append((torch.isfinite(lo) & torch.isfinite(hi)).to(device))
    return bool(torch.stack(flags).all())
