"""pycaffe's Classifier: a TEST-phase Net that predicts class probabilities of images, with
pycaffe's preprocessing (caffe.io.Transformer), resizing and 10-crop oversampling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from . import io as caffe_io
from .net import TEST, Net

if TYPE_CHECKING:
    import os

    from caffeio import caffe_pb2


class Classifier(Net):
    """Classifier(model_file, pretrained_file, image_dims=None, mean=None, input_scale=None,
    raw_scale=None, channel_swap=None): `predict(images)` -> N x classes.

    Images (H x W x K) are resized to image_dims (default: the input blob's H x W), then
    cropped to the input's H x W: the centre crop, or with oversample the 4 corners, the
    centre and their mirrors, whose predictions are averaged. The preprocessing options are
    the Transformer's (transpose (2, 0, 1) is always set) for the net's first input."""

    def __init__(
        self,
        model_file: str | os.PathLike | caffe_pb2.NetParameter,
        pretrained_file: str | os.PathLike | None,
        image_dims: Sequence[int] | np.ndarray | None = None,
        mean: np.ndarray | None = None,
        input_scale: float | None = None,
        raw_scale: float | None = None,
        channel_swap: Sequence[int] | None = None,
    ) -> None:
        Net.__init__(self, model_file, TEST, weights=pretrained_file)
        self.transformer = _transformer(self, mean, input_scale, raw_scale, channel_swap)
        self.crop_dims = np.array(self.blobs[self.inputs[0]].shape[2:])
        self.image_dims = (
            self.crop_dims if image_dims is None or not len(image_dims) else image_dims
        )

    def predict(self, inputs: Sequence[np.ndarray], oversample: bool = True) -> np.ndarray:
        """Class probabilities (the net's first output) of each H x W x K image in `inputs`,
        averaged over the 10 crops with oversample (default), else of the centre crop."""
        h, w = (int(d) for d in self.image_dims)
        resized = np.zeros((len(inputs), h, w, inputs[0].shape[2]), dtype=np.float32)
        for i, image in enumerate(inputs):
            resized[i] = caffe_io.resize_image(image, (h, w))
        if oversample:
            crops = caffe_io.oversample(resized, self.crop_dims)
        else:
            ch, cw = (int(d) for d in self.crop_dims)
            y, x = int(h / 2.0 - ch / 2.0), int(w / 2.0 - cw / 2.0)
            crops = resized[:, y : y + ch, x : x + cw, :]
        name = self.inputs[0]
        batch = np.zeros((len(crops), crops.shape[3], crops.shape[1], crops.shape[2]), np.float32)
        for i, crop in enumerate(crops):
            batch[i] = self.transformer.preprocess(name, crop)
        predictions = self.forward_all(**{name: batch})[self.outputs[0]]
        if oversample:
            predictions = predictions.reshape((len(predictions) // 10, 10, -1)).mean(1)
        return predictions


def _transformer(net, mean, input_scale, raw_scale, channel_swap):
    """The Transformer of Classifier and Detector for the net's first input."""
    name = net.inputs[0]
    t = caffe_io.Transformer({name: net.blobs[name].shape})
    t.set_transpose(name, (2, 0, 1))
    if mean is not None:
        t.set_mean(name, mean)
    if input_scale is not None:
        t.set_input_scale(name, input_scale)
    if raw_scale is not None:
        t.set_raw_scale(name, raw_scale)
    if channel_swap is not None:
        t.set_channel_swap(name, channel_swap)
    return t
