"""The release's infer.py, on any engine: python infer.py [IMAGE] [WEIGHTS] [OUT.png] [--engine E].

Defaults: the release's example image data/pascal/VOC2010/JPEGImages/2007_000129.jpg and
voc-fcn8s.caffemodel (what solve.py writes here); --engine auto|caffe|torch (default FCN_ENGINE,
else auto: real pycaffe if installed, else torchcaffe). For folders, overlays and other models
use `python -m solvers.infer`. Input: RGB file -> BGR, 0..255, minus the VOC mean, any size.
"""

import argparse
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import engine  # noqa: E402
from solvers.pictures import save_label_png  # noqa: E402

p = argparse.ArgumentParser(description="Segment one image with voc-fcn8s.")
p.add_argument("image", nargs="?", help="default: the release's example VOC image")
p.add_argument("weights", nargs="?", help="default: voc-fcn8s.caffemodel beside this script")
p.add_argument("out_png", nargs="?", help="default: <image stem>_fcn8s.png")
p.add_argument("--engine", choices=engine.CHOICES, help="default: FCN_ENGINE, else auto")
args = p.parse_args()
caffe = engine.use(args.engine)
image = args.image or os.path.join(HERE, "../../data/pascal/VOC2010/JPEGImages/2007_000129.jpg")
weights = args.weights or os.path.join(HERE, "voc-fcn8s.caffemodel")
out_png = args.out_png or os.path.splitext(os.path.basename(image))[0] + "_fcn8s.png"
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
