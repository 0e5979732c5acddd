"""torchcaffe's half of a cross-engine comparison, in its own process (FCN_ENGINE=torch: the
Python data layers subclass torchcaffe's Layer there).

    python torch_side.py forward NET PHASE WEIGHTS OUT.npz DATA_TOPS OUTPUTS
        three forwards; saves '<blob>.<i>' for the data tops and outputs named
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import torchcaffe  # noqa: E402


def forward(net_path, phase, weights, out, data_tops, outputs):
    torchcaffe.set_mode_cpu()
    net = torchcaffe.Net(net_path, int(phase), weights=weights)
    saved = {}
    for i in range(3):
        net.forward()
        for t in [t for t in data_tops.split(",") + outputs.split(",") if t]:
            saved[f"{t}.{i}"] = net.blobs[t].data.copy()
    np.savez(out, **saved)


if __name__ == "__main__":
    {"forward": forward}[sys.argv[1]](*sys.argv[2:])
