"""Input (shapes only) and Data (LMDB or LevelDB of caffe_pb2.Datum with transform_param)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from caffeio import blob_to_array, caffe_pb2
from caffeio.binary import parse_binary

from .. import caffe_rng
from ..errors import NetError
from .base import BaseLayer, register

if TYPE_CHECKING:
    from .base import Blobs


@register("Input")
class Input(BaseLayer):
    """Tops with the shapes of input_param (one shape for all tops, or one per top); their data
    is what the script writes; forward leaves it alone."""

    acts_on_blobs = True
    n_bottom = (0, 0)
    n_top = (1, None)

    def setup_blobs(self, bottom: Blobs, top: Blobs) -> None:
        shapes = [tuple(int(d) for d in s.dim) for s in self.lp.input_param.shape]
        if len(shapes) not in (1, len(top)):
            raise NetError(
                f"{self.where}: {len(shapes)} input_param shapes for {len(top)} tops "
                "(give one for all, or one per top)"
            )
        for j, t in enumerate(top):
            shape = shapes[0] if len(shapes) == 1 else shapes[j]
            if any(d < 1 for d in shape):
                raise NetError(
                    f"{self.where}: input_param shape {shape} of top '{t.name}' has a size < 1; "
                    "give every dim (N x C x H x W) as a whole number >= 1"
                )
            t.reshape(shape)

    def reshape_blobs(self, bottom: Blobs, top: Blobs) -> None:
        pass

    def forward_blobs(self, bottom: Blobs, top: Blobs) -> None:
        pass

    def backward_blobs(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        pass


def read_mean_file(path: str, where: str) -> np.ndarray:
    """A BlobProto .binaryproto mean image -> float32 array (C, H, W)."""
    if not os.path.exists(path):
        raise NetError(f"{where}: mean_file '{path}' does not exist")
    with open(path, "rb") as f:
        blob = parse_binary(f.read(), caffe_pb2.BlobProto(), path, "mean binaryproto")
    arr = blob_to_array(blob, path)
    return arr.reshape(arr.shape[-3:]) if arr.ndim >= 3 else arr


def datum_to_array(datum: caffe_pb2.Datum) -> np.ndarray:
    """caffe_pb2.Datum -> float32 (C, H, W); encoded images are decoded with OpenCV (BGR)."""
    if datum.encoded:
        import cv2

        img = cv2.imdecode(np.frombuffer(datum.data, np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ValueError("undecodable encoded Datum")
        img = img[:, :, None] if img.ndim == 2 else img
        return img.transpose(2, 0, 1).astype(np.float32)
    shape = (datum.channels, datum.height, datum.width)
    if len(datum.data):
        return np.frombuffer(datum.data, np.uint8).reshape(shape).astype(np.float32)
    return np.asarray(datum.float_data, np.float32).reshape(shape)


def transform(
    img: np.ndarray,
    tp: caffe_pb2.TransformationParameter,
    phase: int,
    rng: np.random.Generator,
    mean: np.ndarray | None = None,
) -> np.ndarray:
    """Caffe's DataTransformer on one (C, H, W) image: crop (random in TRAIN, centred in TEST),
    mirror (TRAIN, random), subtract mean_file (at the crop offset) or mean_value, times scale."""
    c, h, w = img.shape
    cs = tp.crop_size
    h0 = w0 = 0
    if cs:
        if cs > h or cs > w:
            raise ValueError(f"crop_size {cs} larger than the datum ({h} x {w})")
        if phase == 0:
            h0, w0 = int(rng.integers(h - cs + 1)), int(rng.integers(w - cs + 1))
        else:
            h0, w0 = (h - cs) // 2, (w - cs) // 2
        oh = ow = cs
    else:
        oh, ow = h, w
    out = img[:, h0 : h0 + oh, w0 : w0 + ow]
    if mean is not None:
        out = out - mean[:, h0 : h0 + oh, w0 : w0 + ow]
    elif len(tp.mean_value):
        mv = np.asarray(tp.mean_value, np.float32)
        if len(mv) not in (1, c):
            raise ValueError(f"{len(mv)} mean_value entries for {c} channels")
        out = out - (mv if len(mv) == c else np.repeat(mv, c))[:, None, None]
    if tp.mirror and phase == 0 and rng.integers(2):
        out = out[:, :, ::-1]
    return (out * tp.scale).astype(np.float32)


class LevelDBCursor:
    """A LevelDB (plyvel) read in key order, with the LMDB cursor calls Data uses."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.it = None
        self.item = None

    def first(self) -> bool:
        self.it = self.db.iterator()
        return self.next()

    def next(self) -> bool:
        self.item = next(self.it, None)
        return self.item is not None

    def key(self) -> bytes:
        return self.item[0]

    def value(self) -> bytes:
        return self.item[1]


def open_cursor(p: caffe_pb2.DataParameter, where: str) -> tuple[Any, Any]:
    """A cursor at the first record of data_param.source, by its backend (LMDB or LEVELDB)."""
    if not os.path.exists(p.source):
        kind = caffe_pb2.DataParameter.DB.Name(p.backend)
        raise NetError(f"{where}: {kind} source '{p.source}' does not exist")
    if p.backend == caffe_pb2.DataParameter.LEVELDB:
        try:
            import plyvel
        except ImportError:
            raise NetError(f"{where}: backend LEVELDB needs `pip install plyvel`") from None
        try:
            db = plyvel.DB(p.source, create_if_missing=False)
        except Exception as e:
            raise NetError(f"{where}: cannot open LevelDB '{p.source}': {e}") from None
        return db, LevelDBCursor(db)
    try:
        import lmdb
    except ImportError:
        raise NetError(f"{where}: the Data layer needs `pip install lmdb`") from None
    env = lmdb.open(p.source, readonly=True, lock=False, readahead=False)
    return env, env.begin().cursor()


@register("Data")
class Data(BaseLayer):
    """Batches from an LMDB or LevelDB of Datum records (data_param source/batch_size/backend):
    top 0 data (N, C, H, W) after transform_param, top 1 (optional) labels (N,)."""

    acts_on_blobs = True
    n_bottom = (0, 0)
    n_top = (1, 2)

    def setup_blobs(self, bottom: Blobs, top: Blobs) -> None:
        p = self.lp.data_param
        if not p.batch_size:
            raise NetError(f"{self.where}: data_param.batch_size is not set")
        self.env, self.cursor = open_cursor(p, self.where)
        if not self.cursor.first():
            raise NetError(f"{self.where}: database '{p.source}' is empty")
        # Caffe's data layer takes three seeds from its global generator here (the
        # transformer's, twice, when it draws; the prefetch thread's): later layers drawing
        # from it (torchcaffe.caffe_rng) then see the same stream.
        caffe_rng.transformer_rng(self.lp.transform_param, self.phase)
        caffe_rng.transformer_rng(self.lp.transform_param, self.phase)
        caffe_rng.global_rand()
        seed = self.ctx.generator.initial_seed() if self.ctx.generator is not None else None
        self.rng = np.random.default_rng(seed)
        tp = self.lp.transform_param
        self.mean = read_mean_file(tp.mean_file, self.where) if tp.HasField("mean_file") else None
        if self.mean is not None and len(tp.mean_value):
            raise NetError(f"{self.where}: give mean_file or mean_value, not both")
        first = self._transform(self._datum())
        top[0].reshape((p.batch_size,) + first.shape)
        if len(top) > 1:
            top[1].reshape(p.batch_size)

    def _datum(self):
        d = caffe_pb2.Datum()
        try:
            d.ParseFromString(self.cursor.value())
        except Exception as e:
            raise NetError(
                f"{self.where}: record '{self.cursor.key()!r}' is not a Datum: {e}"
            ) from None
        return d

    def _transform(self, d):
        try:
            return transform(
                datum_to_array(d), self.lp.transform_param, self.phase, self.rng, self.mean
            )
        except ValueError as e:
            raise NetError(f"{self.where}: record {self.cursor.key()!r}: {e}") from None

    def reshape_blobs(self, bottom: Blobs, top: Blobs) -> None:
        pass

    def forward_blobs(self, bottom: Blobs, top: Blobs) -> None:
        n = self.lp.data_param.batch_size
        imgs, labels = [], []
        for _ in range(n):
            d = self._datum()
            imgs.append(self._transform(d))
            labels.append(d.label)
            if not self.cursor.next():
                self.cursor.first()
        batch = np.stack(imgs)
        if batch.shape != top[0].shape:
            top[0].reshape(batch.shape)
        top[0].data_tensor = torch.from_numpy(batch)
        if len(top) > 1:
            top[1].data_tensor = torch.tensor(labels, dtype=torch.float32)

    def backward_blobs(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        pass
