"""Caffe's own random streams, for the layers whose draws must equal real Caffe's.

Caffe draws data-layer randomness (ImageData's shuffle and rand_skip, WindowData's window
choice, the data transformer's crops and mirrors) from Mersenne Twisters (boost::mt19937, the
same generator as std::mt19937) seeded by the global one: `caffe.set_random_seed(s)` seeds that
global generator with s, and each data layer takes its seeds from it, in the order the net sets
its layers up. This module keeps that global stream (restarted by torchcaffe.set_random_seed;
seeded from the OS when no seed was set, as Caffe does) and the per-layer generators, so that
with the same seed the same net draws the same numbers as Caffe.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from . import device as _device

if TYPE_CHECKING:
    from caffeio import caffe_pb2

_global = {"serial": None, "mt": None}


class MT19937:
    """boost::mt19937 seeded with a 32-bit integer: `mt()` returns its next 32-bit output."""

    def __init__(self, seed: int):
        self._bg = np.random.MT19937(0)
        self._bg._legacy_seeding(int(seed) & 0xFFFFFFFF)  # init_genrand, as boost and std do

    def __call__(self) -> int:
        return int(self._bg.random_raw())

    def rand(self, n: int) -> int:
        """The data transformer's Rand(n): next output modulo n."""
        return self() % n

    def uniform_int(self, lo: int, hi: int) -> int:
        """boost::uniform_int<>(lo, hi)(mt): an integer in [lo, hi] by boost's bucket rule."""
        span = hi - lo
        if span == 0:
            return lo
        brange = 0xFFFFFFFF
        bucket = brange // (span + 1)
        if brange % (span + 1) == span:
            bucket += 1
        while True:
            r = self() // bucket
            if r <= span:
                return lo + r

    def shuffle(self, items: list) -> None:
        """caffe::shuffle (util/rng.hpp) in place: Fisher-Yates from the end, boost draws."""
        for i in range(len(items) - 1, 0, -1):
            j = self.uniform_int(0, i)
            items[i], items[j] = items[j], items[i]


def global_rand() -> int:
    """caffe_rng_rand(): the next output of Caffe's global generator."""
    serial = _device._state.get("seedings", 0)
    if _global["mt"] is None or _global["serial"] != serial:
        seed = _device._state["seed"]
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little")
        _global["mt"] = MT19937(seed)
        _global["serial"] = serial
    return _global["mt"]()


def layer_rng() -> MT19937:
    """A new Caffe::RNG seeded by caffe_rng_rand(), as a data layer makes at setup."""
    return MT19937(global_rand())


def transformer_rng(tp: caffe_pb2.TransformationParameter, phase: int) -> MT19937 | None:
    """DataTransformer::InitRand: a generator when the transform draws (mirror, or crop_size in
    TRAIN), else None; draws its seed from the global stream only then."""
    if tp.mirror or (phase == 0 and tp.crop_size):
        return layer_rng()
    return None
