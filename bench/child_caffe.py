"""One BVLC Caffe (real pycaffe) measurement in a fresh process, printed as BENCH-RESULT JSON,
the counterpart of bench.child for the `caffe` rows. Imports no torch, so its peak RSS is
Caffe's own. Threads: OpenBLAS's, from OPENBLAS_NUM_THREADS (set by bench/__main__).

    python -m bench.child_caffe '{"what": "forward", "size": 500, "width": 1, "reps": 3}'
"""

import json
import os
import sys
import tempfile
import time

import numpy as np

from bench import fixtures as fx
from bench.peak import peak_rss_mb


def _timed(fn, reps):
    fn()  # warm-up: allocations, OpenBLAS threads
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def forward(caffe, spec, tmp):
    s = spec["size"]
    path = os.path.join(tmp, "deploy.prototxt")
    import caffeio

    caffeio.write_net(fx.deploy_param(spec["width"]), path)
    net = caffe.Net(path, caffe.TEST)
    fx.random_params(net)
    net.blobs["data"].reshape(1, 3, s, s)
    net.blobs["data"].data[...] = fx.image(s, s)
    times = _timed(net.forward, spec["reps"])
    return times, np.ascontiguousarray(net.blobs["score"].data)


def train(caffe, spec, tmp):
    import caffeio

    s = spec["size"]
    netp = os.path.join(tmp, "train.prototxt")
    caffeio.write_net(fx.train_param(s, s, spec["width"]), netp)
    solver = caffe.SGDSolver(fx.write_sgd_solver(tmp, netp))
    fx.random_params(solver.net)
    solver.net.blobs["data"].data[...] = fx.image(s, s)
    solver.net.blobs["label"].data[...] = fx.label(s, s)
    return _timed(lambda: solver.step(1), spec["reps"]), None


def main(argv=None):
    spec = json.loads((argv or sys.argv[1:])[0])
    os.environ.setdefault("GLOG_minloglevel", "2")
    import caffe

    caffe.set_mode_cpu()
    result = {"spec": spec}
    with tempfile.TemporaryDirectory() as tmp:
        times, y = {"forward": forward, "train": train}[spec["what"]](caffe, spec, tmp)
    result["times"] = times
    if y is not None and spec.get("save"):
        np.save(spec["save"], y)
    result["peak_rss_mb"] = peak_rss_mb()
    assert "torch" not in sys.modules, "the Caffe child must not load torch"
    print("BENCH-RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
