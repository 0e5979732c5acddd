"""A caffemodel laid out as the FCN release's (other layer order, bare layer definitions, an
extra layer) scores through score.py on real BVLC pycaffe exactly as the same weights in the
zoo's own order: Caffe's copy_from matches layers by name (tests/release_layout.py)."""

import os

from conftest import NOTORCH, ROOT
from release_layout import check_release_layout_scores


def test_score_loads_release_caffemodel_by_layer_name(tmp_path):
    env = dict(os.environ, FCN_ENGINE="caffe", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = NOTORCH + os.pathsep + ROOT  # torch blocked: real Caffe only
    assert "engine: BVLC pycaffe" in check_release_layout_scores(tmp_path, env)
