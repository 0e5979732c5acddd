"""A net's weights in Caffe's HDF5 layout (Net::ToHDF5, CopyTrainedLayersFromHDF5), via h5py.

    /data/<layer name>/<k>    float32 dataset of parameter blob k, in the blob's shape

Every layer of the net gets a group under /data (an empty one when it has no blobs); a blob
shared from another layer's param (ParamSpec name) is written only at its owner, as Caffe does.
Loading matches layers by name: groups of layers the net lacks are ignored, a layer may not
have more datasets than blobs, a missing dataset is allowed only for a shared blob, shapes
must be equal (Caffe aborts on these; here they are NetErrors naming file, layer and blob).
A layer name with '/' (GoogLeNet's) is stored as nested groups (Caffe cannot write one).
Needs h5py (the [hdf5] extra).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from caffeio.atomic import atomic_path

from .errors import NetError

# HDF5's format signature: at byte 0 of a file, or after a user block of 512 * 2**n bytes
SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5(path: str) -> bool:
    """True when `path` is an HDF5 file (the signature at 0, 512, 1024, ...: H5Fis_hdf5)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            offset = 0
            while offset + len(SIGNATURE) <= size:
                f.seek(offset)
                if f.read(len(SIGNATURE)) == SIGNATURE:
                    return True
                offset = 512 if offset == 0 else offset * 2
    except OSError:
        return False
    return False


def _h5py():
    try:
        import h5py
    except ImportError as e:
        raise ImportError(
            f"Caffe's HDF5 weights need h5py ({e}): pip install h5py, or the toolkit's [hdf5] "
            "extra (pip install -e '.[hdf5]')"
        ) from None
    return h5py


def save(net: Any, path: str) -> None:
    """Write the parameters of `net` (a torchcaffe.Net) to `path` in Caffe's HDF5 layout
    (atomically)."""
    h5py = _h5py()
    path = os.fspath(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            data = f.create_group("data")
            for name, impl, specs in zip(net._layer_names, net._impls, net._param_specs):
                group = data.require_group(name)
                for k, blob in enumerate(impl.blobs):
                    owned = specs[k][2] if k < len(specs) else True
                    if owned:
                        group.create_dataset(str(k), data=np.asarray(blob.data, np.float32))


def load(net: Any, path: str) -> list:
    """Copy parameters from the Caffe HDF5 weights file `path` into `net` (a torchcaffe.Net;
    layers by name); returns the names of the net's layers with parameters that the file has no
    group for."""
    h5py = _h5py()
    path = os.fspath(path)
    index = {name: i for i, name in enumerate(net._layer_names)}
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise NetError(f"{path}: cannot open as an HDF5 weights file ({e})") from None
    missing = []
    with f:
        data = f.get("data")
        if not isinstance(data, h5py.Group):
            raise NetError(
                f"{path}: no group 'data' at the top: not a Caffe HDF5 weights file "
                "(Net.save_hdf5 writes one)"
            )
        for name, i in index.items():
            group = data.get(name)
            impl = net._impls[i]
            if not isinstance(group, h5py.Group):
                if impl.blobs:
                    missing.append(name)
                continue
            specs = net._param_specs[i]
            n_source = sum(1 for v in group.values() if isinstance(v, h5py.Dataset))
            if n_source > len(impl.blobs):
                raise NetError(
                    f"{path}: layer '{name}' has {n_source} datasets but the net's layer "
                    f"'{name}' (type {impl.type}, {net._where}) has {len(impl.blobs)} blobs"
                )
            for k, blob in enumerate(impl.blobs):
                ds = group.get(str(k))
                if ds is None:
                    if k < len(specs) and not specs[k][2]:
                        continue  # shared from its owner layer: fine, as in Caffe
                    raise NetError(
                        f"{path}: layer '{name}' has no dataset '{k}' for its blob {k} "
                        f"{blob.shape} (incompatible number of blobs)"
                    )
                if tuple(ds.shape) != blob.shape:
                    raise NetError(
                        f"{path}: layer '{name}' blob {k}: shape {tuple(ds.shape)} in the file, "
                        f"{blob.shape} in the net ({net._where})"
                    )
                arr = np.asarray(ds[()], dtype=np.float32)
                t = blob.data_tensor
                t.copy_(torch.from_numpy(np.ascontiguousarray(arr)).reshape(t.shape))
                blob.data_tensor = t
            if impl.blobs:
                net._loaded.add(name)
    return missing
