"""Paths in a run folder's prototxt and solver files resolve against the run folder.

The release's nets name their data relative to the folder they sit in (models/voc-fcn8s's
train.prototxt reads '../../data/sbdd/dataset'), and its solver names its nets and snapshot
prefix relative to it ('train.prototxt', 'snapshot/train'). Caffe reads such paths relative to
the working directory; the toolkit never changes the working directory, so the files a run
actually uses are copies with those paths made absolute against the run folder:

- Python data layers: the param_str keys that hold paths, i.e. those the zoo's data layer
  records fill from the data root template '{root}' (voc_dir, sbdd_dir, nyud_dir, ...);
- Caffe's own data layers: the fields that name a file (FILE_FIELDS);
- the solver: train_net, net, test_net and snapshot_prefix.

Absolute paths are left as they are. The files a Caffe `source` list names (ImageData,
HDF5Data) are read as Caffe reads them.
"""

from __future__ import annotations

import ast
import os
from typing import Any

# (LayerParameter sub-message, field) naming one file, as in BVLC Caffe's caffe.proto
FILE_FIELDS = (
    ("data_param", "source"),
    ("image_data_param", "source"),
    ("window_data_param", "source"),
    ("hdf5_data_param", "source"),
    ("hdf5_output_param", "file_name"),
    ("transform_param", "mean_file"),
)


def path_keys() -> frozenset[str]:
    """param_str keys of Python data layers that hold paths: every key that a registered zoo
    dataset fills from its '{root}' template."""
    import zoo

    keys = set()
    for ds in zoo.datasets():
        for layer in ds.layers.values():
            keys.update(k for k, v in layer.params if isinstance(v, str) and "{root}" in v)
    return frozenset(keys)


def _absolute(path: Any, folder: str) -> Any:
    """`path` made absolute against `folder` (absolute ones, empty ones and non-strings as
    they are)."""
    if not isinstance(path, str) or not path or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(folder, path))


def with_python_params(net: Any, **changes: Any) -> Any:
    """Copy of NetParameter `net` with keys changed in every Python layer's param_str dict
    (values may be callables old -> new; keys absent from a layer are left alone)."""
    out = type(net)()
    out.CopyFrom(net)
    for layer in out.layer:
        if layer.type != "Python" or not layer.python_param.param_str:
            continue
        params = ast.literal_eval(layer.python_param.param_str)
        touched = False
        for k, v in changes.items():
            if k in params:
                params[k] = v(params[k]) if callable(v) else v
                touched = True
        if touched:
            layer.python_param.param_str = repr(params)
    return out


def resolve_net(net: Any, folder: str) -> Any:
    """Copy of NetParameter `net` whose relative data paths (Python layers' path_keys(),
    Caffe layers' FILE_FIELDS) are made absolute against `folder`."""

    def resolve(path):
        return _absolute(path, folder)

    out = with_python_params(net, **{k: resolve for k in path_keys()})
    for layer in out.layer:
        for message, field in FILE_FIELDS:
            if layer.HasField(message):
                sub = getattr(layer, message)
                value = getattr(sub, field)
                if value:
                    setattr(sub, field, resolve(value))
    return out


def resolve_solver(param: Any, folder: str) -> Any:
    """Copy of SolverParameter `param` whose net files and snapshot prefix are made absolute
    against `folder`; fields that are not set stay unset (Caffe counts a set empty one)."""
    out = type(param)()
    out.CopyFrom(param)
    for field in ("train_net", "net", "snapshot_prefix"):
        if out.HasField(field):
            setattr(out, field, _absolute(getattr(out, field), folder))
    for i, test in enumerate(out.test_net):
        out.test_net[i] = _absolute(test, folder)
    return out


def run_net(path: str, folder: str, out: str, **changes: Any) -> str:
    """Write the net at `path` to `out` with its data paths resolved against `folder` and the
    Python layers' param_str `changes` applied (with_python_params) -> `out`."""
    import caffeio

    net = resolve_net(caffeio.read_net(path), folder)
    if changes:
        net = with_python_params(net, **changes)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    caffeio.write_net(net, out)
    return out
