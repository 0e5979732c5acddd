import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import engine  # noqa: E402

# The main suite runs torchcaffe (it tests torchcaffe itself, and the torch-only options): its
# code chooses it here, and the commands the tests start inherit FCN_ENGINE=torch as their
# default. The real-pycaffe tier lives in tests/pycaffe/ (make test-pycaffe, FCN_ENGINE=caffe);
# its conftest chooses the caffe engine.
os.environ.setdefault("FCN_ENGINE", "torch")
if engine.requested() == "caffe":
    collect_ignore = []
else:
    collect_ignore = ["pycaffe"]
    engine.use("torch")

# No test joins a distributed job that its environment may describe (torchrun, a cluster's
# runner): solve.py would otherwise wait for ranks that never come.
for _name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
    os.environ.pop(_name, None)

# Two xdist workers on two cores: one intra-op thread each keeps them from fighting.
os.environ.setdefault("OMP_NUM_THREADS", "1")
try:
    import torch

    torch.set_num_threads(1)
except ImportError:
    pass


@pytest.fixture(autouse=True)
def _torchcaffe_code_defaults():
    """torchcaffe.options.set_defaults (what --fast calls) lasts for the process: undone after
    every test, as monkeypatch undoes the environment."""
    yield
    options = sys.modules.get("torchcaffe.options")
    if options is not None:
        options.reset_defaults()
