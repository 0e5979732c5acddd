"""pycaffe's `caffe.io`: BlobProto / Datum <-> ndarray, the Transformer, image load and resize.

Same names, arguments and results as BVLC's python/caffe/io.py, built on caffeio (the schema,
BlobProto writing) and scipy / Pillow, without scikit-image:
- `blobproto_to_array` reads the legacy num/channels/height/width when any is set, else
  `shape.dim`; a blob with neither holds a single value (read as a 0-d array) and anything
  else is a ValueError, as in pycaffe (caffeio.blob_to_array, the toolkit's reader, instead
  takes such a blob as a vector of its values).
- `resize_image` computes what pycaffe's call of skimage.transform.resize computes (range
  normalised to [0, 1], Gaussian anti-aliasing when shrinking, linear interpolation between
  pixel centres with zeros outside, clipped) with scipy.ndimage; other channel counts use
  scipy.ndimage.zoom, as pycaffe does.
- `load_image` reads with Pillow: float32 in [0, 1], H x W x 3 (RGB) or, with color=False,
  H x W x 1 (grey: 0.2125 R + 0.7154 G + 0.0721 B, scikit-image's weights). pycaffe passes
  `as_grey` to skimage.io.imread, which scikit-image >= 0.16 no longer honours.
- `array_to_datum` / `datum_to_array` use numpy's tobytes / frombuffer (pycaffe's tostring /
  fromstring are gone in numpy 2).
- The Transformer never writes into the caller's array (pycaffe's raw_scale and input_scale
  scale a transposed view of it in place).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from scipy import ndimage

import caffeio
from caffeio import caffe_pb2

__all__ = [
    "blobproto_to_array",
    "array_to_blobproto",
    "arraylist_to_blobprotovector_str",
    "blobprotovector_str_to_arraylist",
    "array_to_datum",
    "datum_to_array",
    "Transformer",
    "load_image",
    "resize_image",
    "oversample",
]

_LEGACY = ("num", "channels", "height", "width")


# ---- proto / datum / ndarray conversion
def blobproto_to_array(blob: caffe_pb2.BlobProto, return_diff: bool = False) -> np.ndarray:
    """BlobProto -> float32 ndarray of its data (its diff with return_diff=True), shaped by the
    legacy num/channels/height/width when any is set, else by shape.dim."""
    if any(blob.HasField(f) for f in _LEGACY):
        shape = (blob.num, blob.channels, blob.height, blob.width)
    else:
        shape = tuple(int(d) for d in blob.shape.dim)
    if return_diff:
        values = np.asarray(blob.diff, dtype=np.float32)
    elif len(blob.data) or not len(blob.double_data):
        values = np.asarray(blob.data, dtype=np.float32)
    else:
        values = np.asarray(blob.double_data, dtype=np.float64)
    count = math.prod(shape)
    if values.size != count:
        what = "diff" if return_diff else "data"
        hint = (
            ": it has no shape and no num/channels/height/width, so it can only hold a single "
            "value (set shape.dim)"
            if not shape
            else ""
        )
        raise ValueError(
            f"blobproto_to_array: the BlobProto's {what} has {values.size} values but its shape "
            f"{shape} needs {count}{hint}"
        )
    return values.reshape(shape)


def array_to_blobproto(arr: np.ndarray, diff: np.ndarray | None = None) -> caffe_pb2.BlobProto:
    """N-d array (and optionally its diff, same shape) -> BlobProto with shape.dim and float
    data (caffeio.array_to_blob)."""
    arr = np.asarray(arr)
    if diff is not None and np.shape(diff) != arr.shape:
        raise ValueError(
            f"array_to_blobproto: diff has shape {np.shape(diff)}, the array {arr.shape}"
        )
    return caffeio.array_to_blob(arr, diff=diff)


def arraylist_to_blobprotovector_str(arraylist: Iterable[np.ndarray]) -> bytes:
    """List of arrays -> serialised BlobProtoVector (bytes)."""
    vec = caffe_pb2.BlobProtoVector()
    for arr in arraylist:
        vec.blobs.add().CopyFrom(array_to_blobproto(arr))
    return vec.SerializeToString()


def blobprotovector_str_to_arraylist(str: bytes) -> list[np.ndarray]:  # noqa: A002 - pycaffe's name
    """Serialised BlobProtoVector (bytes) -> list of arrays."""
    vec = caffe_pb2.BlobProtoVector()
    vec.ParseFromString(str)
    return [blobproto_to_array(blob) for blob in vec.blobs]


def array_to_datum(arr: np.ndarray, label: int | None = None) -> caffe_pb2.Datum:
    """C x H x W array -> Datum: uint8 arrays as bytes `data`, others as float `float_data`;
    `label` set when given."""
    arr = np.asarray(arr)
    if arr.ndim != 3:
        raise ValueError(f"Incorrect array shape. array_to_datum needs C x H x W, got {arr.shape}")
    datum = caffe_pb2.Datum()
    datum.channels, datum.height, datum.width = arr.shape
    if arr.dtype == np.uint8:
        datum.data = np.ascontiguousarray(arr).tobytes()
    else:
        datum.float_data.extend(arr.astype(float).flat)
    if label is not None:
        datum.label = label
    return datum


def datum_to_array(datum: caffe_pb2.Datum) -> np.ndarray:
    """Datum -> C x H x W array: uint8 from `data`, else float64 from `float_data` (the label
    is datum.label)."""
    shape = (datum.channels, datum.height, datum.width)
    if len(datum.data):
        return np.frombuffer(datum.data, dtype=np.uint8).reshape(shape).copy()
    return np.array(datum.float_data).astype(float).reshape(shape)


# ---- pre-processing
class Transformer:
    """Formats inputs for a Net: `Transformer({name: blob shape})`, then set_transpose,
    set_channel_swap, set_raw_scale, set_mean, set_input_scale per input; preprocess(name,
    H x W x K image) -> K x H x W array, deprocess inverts it."""

    def __init__(self, inputs: Mapping[str, Sequence[int]]) -> None:
        self.inputs = inputs
        self.transpose = {}
        self.channel_swap = {}
        self.raw_scale = {}
        self.mean = {}
        self.input_scale = {}

    def __check_input(self, in_):
        if in_ not in self.inputs:
            raise KeyError(f"{in_} is not one of the net inputs: {self.inputs}")

    def _steps(self, in_):
        self.__check_input(in_)
        return (
            self.transpose.get(in_),
            self.channel_swap.get(in_),
            self.raw_scale.get(in_),
            self.mean.get(in_),
            self.input_scale.get(in_),
        )

    def preprocess(self, in_: str, data: np.ndarray) -> np.ndarray:
        """H' x W' x K image -> K x H x W float32 input: resized to the input's H x W,
        transposed, channels reordered, times raw_scale, minus the mean, times input_scale."""
        transpose, swap, raw_scale, mean, input_scale = self._steps(in_)
        x = np.array(data, dtype=np.float32)  # a copy: the caller's array stays as it was
        size = tuple(self.inputs[in_][2:])
        if x.shape[:2] != size:
            x = resize_image(x, size)
        if transpose is not None:
            x = x.transpose(transpose)
        if swap is not None:
            x = x[swap, :, :]
        if raw_scale is not None:
            x *= raw_scale
        if mean is not None:
            x -= mean
        if input_scale is not None:
            x *= input_scale
        return x

    def deprocess(self, in_: str, data: np.ndarray) -> np.ndarray:
        """Undo preprocess (all but the resize): K x H x W (or 1 x K x H x W) -> image."""
        transpose, swap, raw_scale, mean, input_scale = self._steps(in_)
        x = data.copy().squeeze()
        if input_scale is not None:
            x /= input_scale
        if mean is not None:
            x += mean
        if raw_scale is not None:
            x /= raw_scale
        if swap is not None:
            x = x[np.argsort(swap), :, :]
        if transpose is not None:
            x = x.transpose(np.argsort(transpose))
        return x

    def set_transpose(self, in_: str, order: Sequence[int]) -> None:
        """Order of the image's axes for the input, e.g. (2, 0, 1): H x W x C -> C x H x W."""
        self.__check_input(in_)
        if len(order) != len(self.inputs[in_]) - 1:
            raise ValueError(
                f"Transpose order needs to have the same number of dimensions as the input: "
                f"{len(order)} given, input '{in_}' is {self.inputs[in_]}"
            )
        self.transpose[in_] = order

    def set_channel_swap(self, in_: str, order: Sequence[int]) -> None:
        """Channel order after the transpose, e.g. (2, 1, 0): RGB -> BGR."""
        self.__check_input(in_)
        if len(order) != self.inputs[in_][1]:
            raise ValueError(
                f"Channel swap needs to have the same number of dimensions as the input "
                f"channels: {len(order)} given, input '{in_}' has {self.inputs[in_][1]}"
            )
        self.channel_swap[in_] = order

    def set_raw_scale(self, in_: str, scale: float) -> None:
        """Scale applied before the mean (e.g. 255 for images in [0, 1])."""
        self.__check_input(in_)
        self.raw_scale[in_] = scale

    def set_mean(self, in_: str, mean: np.ndarray) -> None:
        """Mean to subtract: per channel (K,) or elementwise (K x H x W, resized to the input)."""
        self.__check_input(in_)
        ms = mean.shape
        if mean.ndim == 1:
            if ms[0] != self.inputs[in_][1]:
                raise ValueError(
                    f"Mean channels incompatible with input: {ms[0]} values, input '{in_}' "
                    f"has {self.inputs[in_][1]} channels"
                )
            mean = mean[:, np.newaxis, np.newaxis]
        else:
            if len(ms) == 2:
                ms = (1,) + ms
            if len(ms) != 3:
                raise ValueError(f"Mean shape invalid: {mean.shape} (use K, or K x H x W)")
            if ms != tuple(self.inputs[in_][1:]):
                in_shape = self.inputs[in_][1:]
                m_min, m_max = mean.min(), mean.max()
                normal_mean = (mean - m_min) / (m_max - m_min)
                mean = (
                    resize_image(normal_mean.transpose((1, 2, 0)), in_shape[1:]).transpose(
                        (2, 0, 1)
                    )
                    * (m_max - m_min)
                    + m_min
                )
        self.mean[in_] = mean

    def set_input_scale(self, in_: str, scale: float) -> None:
        """Scale applied last, after the mean."""
        self.__check_input(in_)
        self.input_scale[in_] = scale


# ---- image IO
_GREY = (0.2125, 0.7154, 0.0721)  # scikit-image's rgb2gray weights (Rec. 709 luma)


def load_image(filename: str, color: bool = True) -> np.ndarray:
    """Image file -> float32 in [0, 1]: H x W x 3 RGB (grey files repeated), or with
    color=False H x W x 1 grey. Alpha is dropped."""
    from PIL import Image

    with Image.open(filename) as im:
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        elif im.mode in ("1", "LA", "La"):
            im = im.convert("L")
        elif im.mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBa"):
            im = im.convert("RGB")
        arr = np.asarray(im)
    if arr.dtype.kind in "ui":
        img = arr.astype(np.float64) / np.iinfo(arr.dtype).max
    else:
        img = arr.astype(np.float64)
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if not color and img.ndim == 3:
        img = img @ np.asarray(_GREY)
    img = img.astype(np.float32)
    if img.ndim == 2:
        img = img[:, :, np.newaxis]
        if color:
            img = np.tile(img, (1, 1, 3))
    return img


def _resize_unit(image, output_shape, order):
    """skimage.transform.resize(image, output_shape, order, mode='constant') for an image in
    [0, 1]: Gaussian anti-aliasing (sigma (factor - 1) / 2) on the axes it shrinks, then
    interpolation between pixel centres (ndimage.zoom, grid_mode) with zeros outside, clipped
    to the input's range."""
    output_shape = tuple(int(d) for d in output_shape)
    if len(output_shape) == image.ndim - 1:
        output_shape = output_shape + (image.shape[-1],)
    factors = np.divide(image.shape, output_shape)
    if any(o < i for o, i in zip(output_shape, image.shape)):
        sigma = np.maximum(0, (factors - 1) / 2)
        image_f = ndimage.gaussian_filter(image, sigma, cval=0, mode="grid-constant")
    else:
        image_f = image
    out = ndimage.zoom(
        image_f, [1 / f for f in factors], order=order, mode="grid-constant", cval=0, grid_mode=True
    )
    if order > 0:
        lo, hi = np.min(image), np.max(image)
        np.clip(out, lo, hi, out=out)
    return out


def resize_image(im: np.ndarray, new_dims: Sequence[int], interp_order: int = 1) -> np.ndarray:
    """H x W x K array -> new_dims[0] x new_dims[1] x K float32 (interp_order 1: linear)."""
    if im.shape[-1] == 1 or im.shape[-1] == 3:
        im_min, im_max = im.min(), im.max()
        if im_max > im_min:
            im_std = (im - im_min) / (im_max - im_min)
            resized_std = _resize_unit(im_std, new_dims, interp_order)
            resized_im = resized_std * (im_max - im_min) + im_min
        else:  # a constant image
            ret = np.empty((new_dims[0], new_dims[1], im.shape[-1]), dtype=np.float32)
            ret.fill(im_min)
            return ret
    else:
        scale = tuple(np.array(new_dims, dtype=float) / np.array(im.shape[:2]))
        resized_im = ndimage.zoom(im, scale + (1,), order=interp_order)
    return resized_im.astype(np.float32)


def oversample(images: Sequence[np.ndarray], crop_dims: Sequence[int]) -> np.ndarray:
    """The four corner crops and the centre crop of each H x W x K image, then the same five
    mirrored left-right -> (10 N) x crop_h x crop_w x K float32 (image n: rows 10n .. 10n+9)."""
    h, w = images[0].shape[:2]
    ch, cw = (int(d) for d in crop_dims)
    corners = [(0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw)]
    centre = (int(h / 2.0 - ch / 2.0), int(w / 2.0 - cw / 2.0))
    crops = np.empty((10 * len(images), ch, cw, images[0].shape[-1]), dtype=np.float32)
    for n, im in enumerate(images):
        for j, (y, x) in enumerate(corners + [centre]):
            window = im[y : y + ch, x : x + cw, :]
            crops[10 * n + j] = window
            crops[10 * n + 5 + j] = window[:, ::-1, :]
    return crops
