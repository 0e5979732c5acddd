"""The release's infer.py, on any engine: python infer.py [IMAGE] [WEIGHTS] [OUT.png].

Defaults: the release's example image data/pascal/VOC2010/JPEGImages/2007_000129.jpg and
voc-fcn8s.caffemodel (what solve.py writes here). For folders, overlays and other models use
`python -m solvers.infer`. Input: RGB file -> BGR, 0..255, minus the VOC mean, any size.
"""

import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))

from solvers.engine import caffe  # noqa: E402  (real pycaffe if installed, else torchcaffe)
from solvers.viz import save_label_png  # noqa: E402

args = sys.argv[1:] + [None] * 3
image = args[0] or os.path.join(HERE, "../../data/pascal/VOC2010/JPEGImages/2007_000129.jpg")
weights = args[1] or os.path.join(HERE, "voc-fcn8s.caffemodel")
out_png = args[2] or os.path.splitext(os.path.basename(image))[0] + "_fcn8s.png"
for path in (image, weights):
    if not os.path.isfile(path):
        sys.exit(f"error: {path} not found (usage: python infer.py [IMAGE] [WEIGHTS] [OUT.png])")

# load image, switch to BGR, subtract mean, and make dims C x H x W for Caffe
im = Image.open(image).convert("RGB")
in_ = np.array(im, dtype=np.float32)[:, :, ::-1]
in_ -= np.array((104.00699, 116.66877, 122.67892))
in_ = in_.transpose((2, 0, 1))

# load net, shape it for this image and run it
net = caffe.Net(os.path.join(HERE, "deploy.prototxt"), caffe.TEST, weights=weights)
net.blobs["data"].reshape(1, *in_.shape)
net.blobs["data"].data[...] = in_
net.forward()
out = net.blobs["score"].data[0].argmax(axis=0)

save_label_png(out, out_png)
print(f"{image} -> {out_png} (classes {sorted(np.unique(out).tolist())})")
