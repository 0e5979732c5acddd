"""The README's walk-through for your own dataset on real BVLC pycaffe, with torch blocked from
import: the same commands as the main suite's (tests/test_own_dataset_workflow.py) from raw
folders to scores and inference, the data layer (layers.folder) run by Caffe's Python layer."""

import os

from conftest import NOTORCH, ROOT
from test_own_dataset_workflow import check_walkthrough, walkthrough


def test_walkthrough_on_real_caffe(tmp_path):
    env = {"PYTHONPATH": NOTORCH + os.pathsep + ROOT, "GLOG_minloglevel": "2"}
    out = walkthrough(str(tmp_path), engine="caffe", env_extra=env)
    head = check_walkthrough(str(tmp_path), out)
    assert "engine: BVLC pycaffe" in out["solve32"].stderr
    assert "engine: BVLC pycaffe" in out["infer"].stderr
    print(f"mean IU {head['mean_iu']:.3f}")
