"""On PYTHONPATH, makes `import torch` (and torchcaffe) fail: the pycaffe tier runs the Caffe
engine's workflows this way to prove they never import torch."""

import sys


class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchcaffe"):
            raise ImportError(f"{name} is blocked: the pycaffe path must not import torch")
        return None


sys.meta_path.insert(0, _NoTorch())
