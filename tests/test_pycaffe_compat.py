"""The pycaffe compatibility checks (tests/pycaffe_compat.py) on torchcaffe; the pycaffe tier
runs the same checks on real BVLC pycaffe (tests/pycaffe/test_pycaffe_compat.py)."""

import pytest
from pycaffe_compat import *  # noqa: F403 - the checks (test_*) and their fixtures
from pycaffe_compat import engine_module


@pytest.fixture(scope="module")
def caffe():
    return engine_module("torchcaffe")
