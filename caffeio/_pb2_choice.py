"""Which caffe_pb2 module this process uses: pycaffe's when pycaffe is present, else ours.

protobuf's default descriptor pool holds one schema per symbol: pycaffe's generated caffe_pb2 and
ours both define package `caffe`, so whichever is registered second fails ("duplicate symbol
'caffe.Phase'"). Names and field numbers are the same (ours is a subset of BVLC's caffe.proto),
so one module serves both: when pycaffe's module is already imported, or pycaffe can be found on
sys.path, its caffe_pb2 is loaded (by file, without importing the rest of pycaffe) under the name
pycaffe itself imports it by, `caffe.proto.caffe_pb2`; a later `import caffe` then reuses it.
Otherwise our own generated module (caffeio/_caffe_pb2.py) is used. CAFFEIO_SCHEMA=own forces
ours (then pycaffe cannot be imported into the same process).
"""

import glob
import importlib
import importlib.util
import os
import sys

PYCAFFE_PB2 = "caffe.proto.caffe_pb2"

# After choose(): 'pycaffe' or 'caffeio', and why pycaffe's module was not used (or None).
source = None
reason = None


def pycaffe_pb2_path():
    """Path of pycaffe's caffe/proto/caffe_pb2.py when a built pycaffe is on sys.path, else None."""
    try:
        spec = importlib.util.find_spec("caffe")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, "proto", "caffe_pb2.py")
        if os.path.isfile(path) and glob.glob(os.path.join(folder, "_caffe*.so")):
            return path
    return None


def _load_pycaffe(path):
    spec = importlib.util.spec_from_file_location(PYCAFFE_PB2, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[PYCAFFE_PB2] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(PYCAFFE_PB2, None)
        raise
    return module


def choose():
    """-> the caffe_pb2 module to use (sets `source` and `reason`)."""
    global reason, source
    loaded = sys.modules.get(PYCAFFE_PB2)
    if loaded is not None and hasattr(loaded, "NetParameter"):
        source = "pycaffe"
        return loaded
    if os.environ.get("CAFFEIO_SCHEMA", "auto").strip().lower() != "own":
        path = pycaffe_pb2_path()
        if path is not None:
            try:
                module = _load_pycaffe(path)
                source = "pycaffe"
                return module
            except Exception as e:  # an old/new protobuf that pycaffe's gencode does not fit
                reason = f"pycaffe's {path} does not load ({type(e).__name__}: {e})"
    source = "caffeio"
    return importlib.import_module("caffeio._caffe_pb2")
