"""pycaffe's Detector: a TEST-phase Net that classifies windows of images (R-CNN style), with
optional context padding around each window."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import io as caffe_io
from .classifier import _transformer
from .net import TEST, Net

if TYPE_CHECKING:
    from typing import TypeAlias

    from caffeio import caffe_pb2

    Window: TypeAlias = Sequence[float] | np.ndarray  # (ymin, xmin, ymax, xmax)


class Detector(Net):
    """Detector(model_file, pretrained_file, mean=None, input_scale=None, raw_scale=None,
    channel_swap=None, context_pad=None): `detect_windows([(image file, windows), ...])`.

    Windows are (ymin, xmin, ymax, xmax); each crop is warped to the net's input size. With
    context_pad, a border of that many input pixels around the warped window is context taken
    from the image (the mean where the image ends), as in R-CNN's feature extraction."""

    def __init__(
        self,
        model_file: str | os.PathLike | caffe_pb2.NetParameter,
        pretrained_file: str | os.PathLike | None,
        mean: np.ndarray | None = None,
        input_scale: float | None = None,
        raw_scale: float | None = None,
        channel_swap: Sequence[int] | None = None,
        context_pad: int | None = None,
    ) -> None:
        Net.__init__(self, model_file, TEST, weights=pretrained_file)
        self.transformer = _transformer(self, mean, input_scale, raw_scale, channel_swap)
        self.configure_crop(context_pad)

    def detect_windows(
        self, images_windows: Iterable[tuple[str, Iterable[Window]]]
    ) -> list[dict[str, Any]]:
        """[(image filename, [window, ...]), ...] -> [{'window', 'prediction', 'filename'}]
        per window, in order; prediction = the net's first output for the warped crop."""
        pairs = [(f, list(ws)) for f, ws in images_windows]
        crops = []
        for filename, windows in pairs:
            image = caffe_io.load_image(filename).astype(np.float32)
            crops.extend(self.crop(image, window) for window in windows)
        name = self.inputs[0]
        size = self.blobs[name].shape[2:]
        batch = np.zeros((len(crops), crops[0].shape[2]) + tuple(size), dtype=np.float32)
        for i, crop in enumerate(crops):
            batch[i] = self.transformer.preprocess(name, crop)
        predictions = self.forward_all(**{name: batch})[self.outputs[0]]
        out = []
        for filename, windows in pairs:
            for window in windows:
                out.append(
                    {"window": window, "prediction": predictions[len(out)], "filename": filename}
                )
        return out

    def detect_selective_search(self, image_fnames: Iterable[str]) -> list[dict[str, Any]]:
        """detect_windows on Selective Search proposals (needs the external
        selective_search_ijcv_with_python module and MATLAB, as pycaffe's)."""
        try:
            import selective_search_ijcv_with_python as selective_search
        except ImportError as e:
            raise ImportError(
                f"detect_selective_search needs selective_search_ijcv_with_python ({e}); "
                "compute windows yourself and call detect_windows"
            ) from None
        image_fnames = [os.path.abspath(f) for f in image_fnames]
        windows = selective_search.get_windows(image_fnames, cmd="selective_search_rcnn")
        return self.detect_windows(zip(image_fnames, windows))

    def crop(self, im: np.ndarray, window: Window) -> np.ndarray:
        """The window (ymin, xmin, ymax, xmax) of H x W x K image `im`; with context_pad the
        window grown so that context_pad input pixels of context surround it once warped to
        the input size, parts outside the image filled with the mean."""
        window = np.asarray(window)
        crop = im[int(window[0]) : int(window[2]), int(window[1]) : int(window[3])]
        if not self.context_pad:
            return crop
        size = self.blobs[self.inputs[0]].shape[3]  # the input's width (square inputs)
        scale = size / (1.0 * size - self.context_pad * 2)
        half = np.array([(window[2] - window[0] + 1) / 2.0, (window[3] - window[1] + 1) / 2.0])
        centre = np.array([window[0], window[1]]) + half
        box = np.round(np.tile(centre, 2) + scale * np.concatenate([-half, half]))
        full = np.array([box[2] - box[0] + 1, box[3] - box[1] + 1])
        scale_hw = size / full
        pad_y = int(round(max(0, -box[0]) * scale_hw[0]))
        pad_x = int(round(max(0, -box[1]) * scale_hw[1]))
        im_h, im_w = im.shape[:2]
        box = np.clip(box, 0.0, [im_h, im_w, im_h, im_w])
        clip = np.array([box[2] - box[0] + 1, box[3] - box[1] + 1])
        if not (clip > 0).all():
            raise ValueError(f"Detector.crop: window {window.tolist()} lies outside the image")
        crop_h = min(int(round(clip[0] * scale_hw[0])), size - pad_y)
        crop_w = min(int(round(clip[1] * scale_hw[1])), size - pad_x)
        b = box.astype(int)
        context = caffe_io.resize_image(im[b[0] : b[2], b[1] : b[3]], (crop_h, crop_w))
        out = np.ones(self.crop_dims, dtype=np.float32) * self.crop_mean
        out[pad_y : pad_y + crop_h, pad_x : pad_x + crop_w] = context
        return out

    def configure_crop(self, context_pad: int | None) -> None:
        """Set crop_dims (the input's H x W x K) and context_pad; with context, crop_mean is
        the mean in image space (un-transposed, channels un-swapped, divided by raw_scale)."""
        name = self.inputs[0]
        t = self.transformer
        order = t.transpose[name]
        back = [order[i] for i in order]
        self.crop_dims = np.array(self.blobs[name].shape[1:])[back]
        self.context_pad = context_pad
        if not context_pad:
            return
        mean = t.mean.get(name)
        if mean is None:
            self.crop_mean = np.zeros(self.crop_dims, dtype=np.float32)
            return
        crop_mean = mean.copy().transpose(back)
        swap = t.channel_swap.get(name)
        if swap is not None:
            crop_mean = crop_mean[:, :, [list(swap).index(i) for i in range(crop_mean.shape[2])]]
        raw_scale = t.raw_scale.get(name)
        if raw_scale is not None:
            crop_mean = crop_mean / raw_scale
        self.crop_mean = crop_mean
