"""ImageData (images and labels from a list file) and WindowData (windows of images from a
window file), read with OpenCV as Caffe does, with Caffe's random draws.

Both draw from Caffe's generators (torchcaffe.caffe_rng): after caffe.set_random_seed(s), a net
whose data layers come first shuffles, skips, crops, mirrors and picks windows exactly as
Caffe's does. The setup draws follow Caffe's order: the transformer's seed (when it mirrors,
or crops in TRAIN), the layer's own (shuffle / window choice; rand_skip), the transformer's
again (the one used), and the prefetch thread's.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import torch

from .. import caffe_rng
from ..errors import NetError
from .base import BaseLayer, register
from .data import read_mean_file

if TYPE_CHECKING:
    from caffeio import caffe_pb2

    from .base import Blobs


def _cv2(where):
    try:
        import cv2
    except ImportError:
        raise NetError(
            f"{where}: this layer reads images with OpenCV: pip install opencv-python-headless"
        ) from None
    return cv2


def _atoi(text):
    """C's atoi: optional leading blanks and sign, then digits; 0 when there are none."""
    s = text.lstrip(" \t\n\v\f\r")
    sign, i = 1, 0
    if s[:1] in "+-" and s:
        sign = -1 if s[0] == "-" else 1
        i = 1
    j = i
    while j < len(s) and s[j].isdigit() and s[j].isascii():
        j += 1
    return sign * int(s[i:j]) if j > i else 0


def _lines(path):
    """The lines std::getline yields ('\\n'-separated; no empty line after a final newline)."""
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", "surrogateescape")
    parts = text.split("\n")
    if parts and parts[-1] == "":
        parts.pop()
    return parts


class CaffeTransformer:
    """Caffe's DataTransformer on OpenCV images (H x W x C uint8): mirror (drawn first), crop
    (random in TRAIN, centred in TEST), minus mean_file (at the crop offset) or mean_value,
    times scale -> C x H' x W' float32. Draws from `rng` (a caffe_rng.MT19937) as Caffe does."""

    def __init__(self, tp: caffe_pb2.TransformationParameter, phase: int, where: str) -> None:
        self.tp, self.phase, self.where = tp, phase, where
        self.mean = read_mean_file(tp.mean_file, where) if tp.HasField("mean_file") else None
        if self.mean is not None and len(tp.mean_value):
            raise NetError(f"{where}: give transform_param mean_file or mean_value, not both")
        self.rng = None

    def init_rand(self) -> None:
        """InitRand: a new generator (seeded from Caffe's global one) when the transform draws."""
        self.rng = caffe_rng.transformer_rng(self.tp, self.phase)

    def shape(self, img: np.ndarray) -> tuple[int, int, int]:
        """InferBlobShape: (C, H', W') of the transformed image."""
        h, w = img.shape[:2]
        c = img.shape[2] if img.ndim == 3 else 1
        cs = self.tp.crop_size
        if cs and (cs > h or cs > w):
            raise NetError(f"{self.where}: crop_size {cs} is larger than the image ({h} x {w})")
        return (c, cs or h, cs or w)

    def __call__(self, img, shape, name):
        img = img[:, :, None] if img.ndim == 2 else img
        h, w, c = img.shape
        tp = self.tp
        cs = tp.crop_size
        want = shape
        if c != want[0] or (not cs and (h, w) != want[1:]) or (cs and (h < cs or w < cs)):
            raise NetError(
                f"{self.where}: image '{name}' is {h} x {w} x {c}; this batch's images are "
                f"{want[1]} x {want[2]} x {want[0]} (the first image of a batch sets its shape; "
                "set new_height/new_width or crop_size for images of different sizes)"
            )
        do_mirror = bool(tp.mirror) and self.rng.rand(2) != 0
        h_off = w_off = 0
        oh, ow = h, w
        if cs:
            if self.phase == 0:
                h_off = self.rng.rand(h - cs + 1)
                w_off = self.rng.rand(w - cs + 1)
            else:
                h_off, w_off = (h - cs) // 2, (w - cs) // 2
            oh = ow = cs
        out = img[h_off : h_off + oh, w_off : w_off + ow].transpose(2, 0, 1).astype(np.float32)
        if self.mean is not None:
            if self.mean.shape != (c, h, w):
                raise NetError(
                    f"{self.where}: mean_file is {self.mean.shape}, the image '{name}' "
                    f"{(c, h, w)}; they must match"
                )
            out = out - self.mean[:, h_off : h_off + oh, w_off : w_off + ow]
        elif len(tp.mean_value):
            mv = np.asarray(tp.mean_value, np.float32)
            if len(mv) not in (1, c):
                raise NetError(f"{self.where}: {len(mv)} mean_value entries for {c} channels")
            out = out - (mv if len(mv) == c else np.repeat(mv, c))[:, None, None]
        out = out * np.float32(tp.scale)
        if do_mirror:
            out = out[:, :, ::-1]
        return np.ascontiguousarray(out, np.float32)


@register("ImageData")
class ImageData(BaseLayer):
    """Batches of images named in image_data_param.source ('<path> <label>' per line, the
    label after the last space), read from root_folder + path with OpenCV (color BGR, or
    grayscale with is_color: false), resized to new_height x new_width when both are set, then
    transform_param; shuffle (at start and every epoch) and rand_skip as Caffe. Tops: data
    (batch_size x C x H x W, the shape of each batch's first image) and labels (batch_size)."""

    acts_on_blobs = True
    n_bottom = (0, 0)
    n_top = (2, 2)

    def setup_blobs(self, bottom: Blobs, top: Blobs) -> None:
        p = self.lp.image_data_param
        self.cv2 = _cv2(self.where)
        if (p.new_height > 0) != (p.new_width > 0):
            raise NetError(f"{self.where}: set new_height and new_width together (or neither)")
        if p.batch_size < 1:
            raise NetError(f"{self.where}: image_data_param.batch_size must be positive")
        if not os.path.isfile(p.source):
            raise NetError(f"{self.where}: image list '{p.source}' does not exist")
        self.items = []
        for line in _lines(p.source):
            pos = line.rfind(" ")
            if pos < 0:
                self.items.append((line, _atoi(line)))
            else:
                self.items.append((line[:pos], _atoi(line[pos + 1 :])))
        if not self.items:
            raise NetError(f"{self.where}: image list '{p.source}' is empty")
        self.transform = CaffeTransformer(self.lp.transform_param, self.phase, self.where)
        self.transform.init_rand()
        self.shuffle_rng = None
        if p.shuffle:
            self.shuffle_rng = caffe_rng.layer_rng()
            self.shuffle_rng.shuffle(self.items)
        self.pos = 0
        if p.rand_skip:
            skip = caffe_rng.global_rand() % p.rand_skip
            if skip >= len(self.items):
                raise NetError(
                    f"{self.where}: rand_skip drew {skip}, but the list has only "
                    f"{len(self.items)} images"
                )
            self.pos = skip
        shape = self.transform.shape(self._read(self.pos))
        self.transform.init_rand()
        caffe_rng.global_rand()  # the prefetch thread's seed
        top[0].reshape((p.batch_size,) + shape)
        top[1].reshape(p.batch_size)

    def _read(self, i):
        p = self.lp.image_data_param
        name = p.root_folder + self.items[i][0]
        flag = self.cv2.IMREAD_COLOR if p.is_color else self.cv2.IMREAD_GRAYSCALE
        img = self.cv2.imread(name, flag) if os.path.isfile(name) else None
        if img is None:
            raise NetError(
                f"{self.where}: could not load image '{name}' (line {i + 1} of "
                f"'{p.source}' after shuffling/skipping, root_folder '{p.root_folder}')"
            )
        if p.new_height > 0 and p.new_width > 0:
            img = self.cv2.resize(img, (p.new_width, p.new_height))
        return img

    def reshape_blobs(self, bottom: Blobs, top: Blobs) -> None:
        pass

    def forward_blobs(self, bottom: Blobs, top: Blobs) -> None:
        p = self.lp.image_data_param
        shape = self.transform.shape(self._read(self.pos))
        data = np.empty((p.batch_size,) + shape, np.float32)
        labels = np.empty(p.batch_size, np.float32)
        for k in range(p.batch_size):
            img = self._read(self.pos)
            data[k] = self.transform(img, shape, p.root_folder + self.items[self.pos][0])
            labels[k] = self.items[self.pos][1]
            self.pos += 1
            if self.pos >= len(self.items):
                self.pos = 0
                if self.shuffle_rng is not None:
                    self.shuffle_rng.shuffle(self.items)
        if top[0].shape != data.shape:
            top[0].reshape(data.shape)
        top[0].data_tensor = torch.from_numpy(data)
        top[1].data_tensor = torch.from_numpy(labels)

    def backward_blobs(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        pass


def _cround(v):
    """C's round() of a float32 value: halves away from zero."""
    d = float(v)
    return int(np.floor(d + 0.5)) if d >= 0 else -int(np.floor(-d + 0.5))


class _WindowFile:
    """The tokens of a window file, read in order; errors name the layer and the file."""

    def __init__(self, where, path):
        self.where, self.path = where, path
        with open(path) as f:
            self.tokens = f.read().split()
        self.k = 0

    def more(self):
        return self.k < len(self.tokens)

    def take(self, what):
        """The next token; NetError saying `what` was expected when the file ends early."""
        if self.k >= len(self.tokens):
            raise NetError(f"{self.where}: window file '{self.path}' ends early ({what})")
        self.k += 1
        return self.tokens[self.k - 1]

    def integer(self, what):
        """The next token as an int; NetError naming `what` when it is not one."""
        tok = self.take(what)
        try:
            return int(tok)
        except ValueError:
            raise NetError(
                f"{self.where}: window file '{self.path}': {what} '{tok}' is not an integer"
            ) from None


@register("WindowData")
class WindowData(BaseLayer):
    """Batches of image windows (R-CNN style) from window_data_param.source, a text file of
    records '# <image index>', '<image path>', '<channels> <height> <width>', '<windows>', then
    one '<label> <overlap> <x1> <y1> <x2> <y2>' line per window. Windows with overlap >=
    fg_threshold are foreground (label > 0 required), below bg_threshold background (label 0);
    each batch takes batch_size - int(batch_size * fg_fraction) background windows, then the
    foreground ones, drawn at random; each is cut out with context_pad (crop_mode warp or
    square), warped to transform_param.crop_size, mirrored at random with mirror, minus the
    mean, times window_data_param.scale. Tops: data (batch_size x C x crop x crop), labels."""

    acts_on_blobs = True
    n_bottom = (0, 0)
    n_top = (2, 2)

    def setup_blobs(self, bottom: Blobs, top: Blobs) -> None:
        p = self.lp.window_data_param
        tp = self.lp.transform_param
        self.cv2 = _cv2(self.where)
        caffe_rng.transformer_rng(tp, self.phase)  # BaseDataLayer's InitRand
        self.prefetch_rng = caffe_rng.layer_rng() if (tp.mirror or tp.crop_size) else None
        if not os.path.isfile(p.source):
            raise NetError(f"{self.where}: window file '{p.source}' does not exist")
        src = _WindowFile(self.where, p.source)
        self.images, self.fg, self.bg = [], [], []
        self.cache = {}
        channels = 0
        if not src.tokens:
            raise NetError(f"{self.where}: window file '{p.source}' is empty")
        thresholds = np.float32(p.fg_threshold), np.float32(p.bg_threshold)
        while src.more():
            channels = self._read_image(src, thresholds)
        cs = tp.crop_size
        if cs < 1:
            raise NetError(f"{self.where}: WindowData needs transform_param.crop_size > 0")
        self._setup_mean(tp, channels)
        self.channels = channels
        caffe_rng.transformer_rng(tp, self.phase)  # BasePrefetchingDataLayer's InitRand
        caffe_rng.global_rand()  # the prefetch thread's seed
        top[0].reshape((p.batch_size, channels, cs, cs))
        top[1].reshape(p.batch_size)

    def _read_image(self, src, thresholds):
        """One image record of the window file (its image, optionally cached, and its
        windows sorted into foreground and background); returns its channel count."""
        p = self.lp.window_data_param
        tag = src.take("'#'")
        if tag != "#":
            raise NetError(
                f"{self.where}: window file '{p.source}': expected '#' to start an image "
                f"record, found '{tag}'"
            )
        index = src.integer("image index")
        path = p.root_folder + src.take("image path")
        size = [src.integer("image size") for _ in range(3)]
        self.images.append(path)
        if p.cache_images:
            if not os.path.isfile(path):
                raise NetError(f"{self.where}: could not open or find file '{path}'")
            with open(path, "rb") as f:
                self.cache[len(self.images) - 1] = np.frombuffer(f.read(), np.uint8)
        for _ in range(src.integer("window count")):
            self._read_window(src, index, thresholds)
        return size[0]

    def _read_window(self, src, index, thresholds):
        """One '<label> <overlap> <x1> <y1> <x2> <y2>' window of image `index`: foreground at
        overlap >= fg_threshold (label > 0), background below bg_threshold, else dropped."""
        fg_t, bg_t = thresholds
        label = src.integer("label")
        overlap = np.float32(src.take("overlap"))
        box = [src.integer("window corner") for _ in range(4)]
        if overlap >= fg_t:
            if label <= 0:
                raise NetError(
                    f"{self.where}: foreground window (overlap {overlap}) of image "
                    f"{index} has label {label}; foreground labels must be > 0"
                )
            self.fg.append((index, label, *box))
        elif overlap < bg_t:
            self.bg.append((index, 0, *box))

    def _setup_mean(self, tp, channels):
        """The mean to subtract: mean_file's image or mean_value (one, or one per channel)."""
        self.mean = read_mean_file(tp.mean_file, self.where) if tp.HasField("mean_file") else None
        self.mean_values = None
        if len(tp.mean_value):
            if self.mean is not None:
                raise NetError(f"{self.where}: give mean_file or mean_value, not both")
            mv = list(tp.mean_value)
            if len(mv) not in (1, channels):
                raise NetError(
                    f"{self.where}: {len(mv)} mean_value entries for {channels} channels"
                )
            self.mean_values = np.asarray(mv * channels if len(mv) == 1 else mv, np.float32)

    def reshape_blobs(self, bottom: Blobs, top: Blobs) -> None:
        pass

    def _image(self, index):
        if not 0 <= index < len(self.images):
            raise NetError(
                f"{self.where}: a window names image index {index}, but the window file has "
                f"{len(self.images)} images (indices must count from 0 in file order)"
            )
        if index in self.cache:
            img = self.cv2.imdecode(self.cache[index], self.cv2.IMREAD_COLOR)
        else:
            path = self.images[index]
            img = self.cv2.imread(path, self.cv2.IMREAD_COLOR) if os.path.isfile(path) else None
        if img is None:
            raise NetError(f"{self.where}: could not open or find file '{self.images[index]}'")
        return img

    def forward_blobs(self, bottom: Blobs, top: Blobs) -> None:
        p = self.lp.window_data_param
        tp = self.lp.transform_param
        cs = tp.crop_size
        n = p.batch_size
        if not self.fg or not self.bg:
            raise NetError(
                f"{self.where}: the window file has {len(self.fg)} foreground and "
                f"{len(self.bg)} background windows; Caffe needs both"
            )
        data = np.zeros((n, self.channels, cs, cs), np.float32)
        labels = np.zeros(n, np.float32)
        num_fg = int(np.float32(n) * np.float32(p.fg_fraction))
        item = 0
        for is_fg, count in ((0, n - num_fg), (1, num_fg)):
            pool = self.fg if is_fg else self.bg
            for _ in range(count):
                window = pool[self.prefetch_rng() % len(pool)]
                do_mirror = bool(tp.mirror) and self.prefetch_rng() % 2 != 0
                self._paste(data[item], window, do_mirror)
                labels[item] = window[1]
                item += 1
        top[0].data_tensor = torch.from_numpy(data)
        top[1].data_tensor = torch.from_numpy(labels)

    def _paste(self, out, window, do_mirror):
        p = self.lp.window_data_param
        cs = self.lp.transform_param.crop_size
        img = self._image(window[0])
        rows, cols, c = img.shape
        if c != self.channels:
            raise NetError(
                f"{self.where}: image '{self.images[window[0]]}' has {c} channels, the window "
                f"file says {self.channels}"
            )
        x1, y1, x2, y2 = window[2:]
        pad_w = pad_h = 0
        crop_w = crop_h = cs
        if p.context_pad > 0 or p.crop_mode == "square":
            f = np.float32
            context_scale = f(cs) / f(cs - 2 * p.context_pad)
            half_h = f((y2 - y1 + 1) / 2.0)
            half_w = f((x2 - x1 + 1) / 2.0)
            cx, cy = f(x1) + half_w, f(y1) + half_h
            if p.crop_mode == "square":
                half_h = half_w = max(half_h, half_w)
            x1 = _cround(cx - half_w * context_scale)
            x2 = _cround(cx + half_w * context_scale)
            y1 = _cround(cy - half_h * context_scale)
            y2 = _cround(cy + half_h * context_scale)
            unclipped_h, unclipped_w = y2 - y1 + 1, x2 - x1 + 1
            pad_x1, pad_y1 = max(0, -x1), max(0, -y1)
            pad_x2, pad_y2 = max(0, x2 - cols + 1), max(0, y2 - rows + 1)
            x1, x2, y1, y2 = x1 + pad_x1, x2 - pad_x2, y1 + pad_y1, y2 - pad_y2
            if not (x1 > -1 and y1 > -1 and x2 < cols and y2 < rows):
                raise NetError(f"{self.where}: window {window} does not fit its image")
            scale_x, scale_y = f(cs) / f(unclipped_w), f(cs) / f(unclipped_h)
            crop_w = _cround(f(x2 - x1 + 1) * scale_x)
            crop_h = _cround(f(y2 - y1 + 1) * scale_y)
            pad_x1, pad_x2 = _cround(f(pad_x1) * scale_x), _cround(f(pad_x2) * scale_x)
            pad_y1 = _cround(f(pad_y1) * scale_y)
            pad_h = pad_y1
            pad_w = pad_x2 if do_mirror else pad_x1
            crop_h = min(crop_h, cs - pad_h)
            crop_w = min(crop_w, cs - pad_w)
        if not (0 <= x1 <= x2 < cols and 0 <= y1 <= y2 < rows) or crop_w < 1 or crop_h < 1:
            raise NetError(
                f"{self.where}: window {window[2:]} of image '{self.images[window[0]]}' "
                f"({cols} x {rows}) cannot be cut out"
            )
        roi = img[y1 : y2 + 1, x1 : x2 + 1]
        warped = self.cv2.resize(roi, (crop_w, crop_h), interpolation=self.cv2.INTER_LINEAR)
        if do_mirror:
            warped = self.cv2.flip(warped, 1)
        warped = warped.reshape(crop_h, crop_w, c).transpose(2, 0, 1).astype(np.float32)
        if self.mean is not None:
            mh, mw = self.mean.shape[1:]
            off = (mw - cs) // 2
            m = self.mean[:, pad_h + off : pad_h + off + crop_h, pad_w + off : pad_w + off + crop_w]
            if m.shape != warped.shape:
                raise NetError(
                    f"{self.where}: mean_file {self.mean.shape} is too small for crop_size {cs}"
                )
            warped = warped - m
        elif self.mean_values is not None:
            warped = warped - self.mean_values[:, None, None]
        out[:, pad_h : pad_h + crop_h, pad_w : pad_w + crop_w] = warped * np.float32(p.scale)

    def backward_blobs(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        pass
