"""The training stop both engines raise when the loss stops being a finite number."""


class Diverged(FloatingPointError):
    """Loss NaN/inf at `iteration`. weights_touched: whether the update of that iteration was
    applied (real Caffe's step() has already updated the weights; torchcaffe checks first)."""

    def __init__(self, iteration, loss, weights_touched):
        self.iteration = iteration
        self.loss = loss
        self.weights_touched = weights_touched
        super().__init__(
            f"loss = {loss} at iteration {iteration}: training diverged (learning rate too "
            "high, or bad weights/data)"
        )
