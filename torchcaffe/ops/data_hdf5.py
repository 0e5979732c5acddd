"""HDF5Data (batches from HDF5 files) and HDF5Output (a batch written to an HDF5 file), via h5py.

HDF5Data: hdf5_data_param.source is a text file listing HDF5 files (whitespace-separated paths,
relative to the working directory as in Caffe). Each file holds one dataset per top, named as
the top, of float or integer values with >= 1 axes and the same first dimension (the rows).
Forward copies batch_size rows per top, in order, across files, looping over the list;
shuffle permutes the files and the rows of each file (Caffe uses std::random_shuffle, so the
order differs from Caffe's; here it follows the net's seed). transform_param is refused, as in
Caffe.

HDF5Output: writes its two bottoms as datasets "data" and "label" (float32, N x C x H x W, the
legacy 4-axis shapes) to hdf5_output_param.file_name at the first forward. Caffe can write
one batch per file (its second forward fails on the existing datasets): here a second forward
is the same error. The file is written whole and closed at once (Caffe keeps it open until the
net is destroyed).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import torch

from caffeio.atomic import atomic_path

from ..errors import NetError
from .base import BaseLayer, register
from .loss_base import legacy_dims

if TYPE_CHECKING:
    from .base import Blobs


def _h5py(where):
    try:
        import h5py
    except ImportError:
        raise NetError(
            f"{where}: HDF5 layers need h5py: pip install h5py (or fcn-toolkit[hdf5])"
        ) from None
    return h5py


@register("HDF5Data")
class HDF5Data(BaseLayer):
    """Rows of the datasets named as the tops, batch_size at a time, across the listed files."""

    acts_on_blobs = True
    n_bottom = (0, 0)
    n_top = (1, None)

    def setup_blobs(self, bottom: Blobs, top: Blobs) -> None:
        p = self.lp.hdf5_data_param
        if self.lp.HasField("transform_param"):
            raise NetError(f"{self.where}: HDF5Data does not transform data; drop transform_param")
        if not p.batch_size:
            raise NetError(f"{self.where}: hdf5_data_param.batch_size is not set")
        if not os.path.isfile(p.source):
            raise NetError(f"{self.where}: HDF5 file list '{p.source}' does not exist")
        with open(p.source) as f:
            self.files = f.read().split()
        if not self.files:
            raise NetError(f"{self.where}: '{p.source}' lists no HDF5 files")
        seed = self.ctx.generator.initial_seed() if self.ctx.generator is not None else None
        self.rng = np.random.default_rng(seed)
        self.file_order = list(range(len(self.files)))
        if p.shuffle:
            self.rng.shuffle(self.file_order)
        self.current_file = 0
        self._load(self.files[self.file_order[0]])
        self.row = 0
        self.shapes = [(p.batch_size,) + a.shape[1:] for a in self.arrays]
        for t, s in zip(top, self.shapes):
            t.reshape(s)

    def _load(self, path):
        h5py = _h5py(self.where)
        if not os.path.isfile(path):
            raise NetError(
                f"{self.where}: HDF5 file '{path}' (listed in '{self.lp.hdf5_data_param.source}') "
                "does not exist"
            )
        try:
            with h5py.File(path, "r") as f:
                arrays = [self._dataset(h5py, f, path, name) for name in self.lp.top]
        except OSError as e:
            raise NetError(f"{self.where}: cannot read HDF5 file '{path}': {e}") from None
        self._check_rows(path, arrays)
        self.arrays = arrays
        self.perm = np.arange(arrays[0].shape[0])
        if self.lp.hdf5_data_param.shuffle:
            self.rng.shuffle(self.perm)

    def _dataset(self, h5py, f, path, name):
        """Dataset `name` of open file `f` as a float32 array (float or integer, >= 1 axes)."""
        if name not in f or not isinstance(f[name], h5py.Dataset):
            raise NetError(
                f"{self.where}: '{path}' has no dataset '{name}' (one per top, "
                f"named as the top; it has {sorted(f.keys())})"
            )
        d = f[name]
        if d.dtype.kind not in "fiub" or d.ndim < 1:
            raise NetError(
                f"{self.where}: dataset '{name}' in '{path}' is {d.dtype} with "
                f"{d.ndim} axes; give float or integer values with >= 1 axes"
            )
        return np.ascontiguousarray(d[...], dtype=np.float32)

    def _check_rows(self, path, arrays):
        """Every dataset of the file has the first's row count (> 0) and, after the first
        file, the first file's row shapes."""
        rows = arrays[0].shape[0]
        for name, a in zip(self.lp.top, arrays):
            if a.shape[0] != rows:
                raise NetError(
                    f"{self.where}: in '{path}', dataset '{name}' has {a.shape[0]} rows but "
                    f"'{self.lp.top[0]}' has {rows}"
                )
        if rows == 0:
            raise NetError(f"{self.where}: '{path}' has no rows")
        if hasattr(self, "shapes"):
            for name, a, s in zip(self.lp.top, arrays, self.shapes):
                if a.shape[1:] != s[1:]:
                    raise NetError(
                        f"{self.where}: dataset '{name}' in '{path}' has rows of shape "
                        f"{a.shape[1:]}, the first file's have {s[1:]}"
                    )

    def _next(self):
        self.row += 1
        if self.row == self.arrays[0].shape[0]:
            if len(self.files) > 1:
                self.current_file += 1
                if self.current_file == len(self.files):
                    self.current_file = 0
                    if self.lp.hdf5_data_param.shuffle:
                        self.rng.shuffle(self.file_order)
                self._load(self.files[self.file_order[self.current_file]])
            self.row = 0
            if self.lp.hdf5_data_param.shuffle:
                self.rng.shuffle(self.perm)

    def reshape_blobs(self, bottom: Blobs, top: Blobs) -> None:
        pass

    def forward_blobs(self, bottom: Blobs, top: Blobs) -> None:
        batch = [np.empty(s, np.float32) for s in self.shapes]
        for i in range(self.shapes[0][0]):
            r = self.perm[self.row]
            for b, a in zip(batch, self.arrays):
                b[i] = a[r]
            self._next()
        for t, b, s in zip(top, batch, self.shapes):
            if t.shape != s:
                t.reshape(s)
            t.data_tensor = torch.from_numpy(b)

    def backward_blobs(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        pass


@register("HDF5Output")
class HDF5Output(BaseLayer):
    """Write bottoms 0 and 1 as datasets 'data' and 'label' to hdf5_output_param.file_name."""

    acts_on_blobs = True
    n_bottom = (2, 2)
    n_top = (0, 0)
    differentiable = False

    def setup_blobs(self, bottom: Blobs, top: Blobs) -> None:
        self.path = self.lp.hdf5_output_param.file_name
        if not self.path:
            raise NetError(f"{self.where}: hdf5_output_param.file_name is not set")
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise NetError(f"{self.where}: folder of '{self.path}' does not exist")
        _h5py(self.where)
        self.written = False

    def reshape_blobs(self, bottom: Blobs, top: Blobs) -> None:
        pass

    def forward_blobs(self, bottom: Blobs, top: Blobs) -> None:
        h5py = _h5py(self.where)
        if self.written:
            raise NetError(
                f"{self.where}: '{self.path}' already holds this net's 'data' and 'label' "
                "(HDF5Output writes one batch per file; Caffe stops here too). Build a new net, "
                "or another file_name, for the next batch"
            )
        arrays = []
        for b in bottom:
            if len(b.shape) > 4:
                raise NetError(f"{self.where}: bottom '{b.name}' has more than 4 axes")
            arrays.append(np.ascontiguousarray(b.data.reshape(legacy_dims(b.shape)), np.float32))
        if arrays[0].shape[0] != arrays[1].shape[0]:
            raise NetError(
                f"{self.where}: data has {arrays[0].shape[0]} items and label "
                f"{arrays[1].shape[0]}; they must agree"
            )
        try:
            with atomic_path(self.path) as tmp:
                with h5py.File(tmp, "w") as f:
                    f.create_dataset("data", data=arrays[0])
                    f.create_dataset("label", data=arrays[1])
        except OSError as e:
            raise NetError(f"{self.where}: cannot write '{self.path}': {e}") from None
        self.written = True

    def backward_blobs(self, top: Blobs, propagate_down: list[bool], bottom: Blobs) -> None:
        pass
