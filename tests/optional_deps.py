"""Test dependencies that a foreign environment may lack: skip with the reason, never fail.

`make test` installs all of them (requirements-dev.txt, the [lmdb] extra); a run elsewhere (a
GPU machine's own Python, say) may have OpenCV 5, which dropped the Caffe importer, or no lmdb.
"""

import pytest


def opencv_with_caffe(module_level=False):
    """cv2 with cv2.dnn.readNetFromCaffe, else skip (the module, with module_level=True)."""
    cv2 = pytest.importorskip("cv2")
    if not hasattr(cv2.dnn, "readNetFromCaffe"):
        pytest.skip(
            f"OpenCV {cv2.__version__} has no Caffe importer (removed in OpenCV 5; "
            "requirements-dev.txt pins opencv-python-headless<5)",
            allow_module_level=module_level,
        )
    return cv2


def lmdb():
    """The lmdb module, else skip (the [lmdb] extra: pip install -e '.[lmdb]')."""
    return pytest.importorskip("lmdb", reason="needs the [lmdb] extra (pip install lmdb)")


def pydot():
    """The pydot module, else skip (torchcaffe.draw's dependency: the [draw] extra)."""
    return pytest.importorskip("pydot", reason="needs pydot (the [draw] extra: pip install pydot)")


def graphviz_dot():
    """Path of Graphviz's `dot` program, else skip (make test installs the Debian package:
    scripts/install_graphviz.sh)."""
    import shutil

    dot = shutil.which("dot")
    if dot is None:
        pytest.skip("needs Graphviz's dot program to render diagrams (apt-get install graphviz)")
    return dot


def h5py():
    """The h5py module, else skip (HDF5 weights: pip install h5py)."""
    return pytest.importorskip("h5py", reason="needs h5py (pip install h5py)")
