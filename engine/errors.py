"""What the engine layer reports to the programs above it (either engine)."""

from __future__ import annotations


class MissingWeights(SystemExit):
    """Inference with a net whose learnable layers did not all get weights from the file."""


class Diverged(FloatingPointError):
    """Training stopped at `iteration`. weights_touched: whether the update of that iteration was
    applied (real Caffe's step() has already updated the weights; torchcaffe checks first).
    `reason`: what was seen, when it was not a NaN/inf loss. `memory_suspect`: the engine ran a
    backward on the NaN forward in native code that may have written outside its buffers (BVLC
    Caffe's MAX pooling keeps index -1 for an all-NaN window and its backward adds at that
    index): the program reports and ends without running that code's destructors."""

    memory_suspect = False

    def __init__(
        self, iteration: int, loss: float, weights_touched: bool, reason: str | None = None
    ) -> None:
        self.iteration = iteration
        self.loss = loss
        self.weights_touched = weights_touched
        self.nan = reason is None  # the loss itself was NaN/inf
        self.reason = reason or f"loss = {loss}"
        super().__init__(
            f"{self.reason} at iteration {iteration}: training diverged (learning rate too "
            "high, or bad weights/data)"
        )


class PythonLayerError(ValueError):
    """A Python layer's setup/reshape/forward/backward raised under real Caffe: the message
    names the layer, its module and class, and the exception (kept as __cause__)."""
