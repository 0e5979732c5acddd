# ruff: noqa: E501  (prototxt one-liners read better unbroken)
"""ImageData and WindowData on real Caffe built with OpenCV and on torchcaffe, in one process
(run with that Caffe first on PYTHONPATH; test_pycaffe_opencv_layers.py does).

    python opencv_side.py WORKDIR     # prints one JSON line per configuration

PNG images of several sizes, a list file and a window file are written to WORKDIR; each
configuration builds both nets after set_random_seed(seed) and compares a few forwards.
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import caffe  # noqa: E402
import cv2  # noqa: E402

import torchcaffe  # noqa: E402

SIZES = [(13, 17), (20, 15), (16, 16), (11, 19), (25, 30)]

IMAGE_CASES = [
    ("one per batch, sizes vary", "batch_size: 1", "", 1),
    ("resized", "batch_size: 2 new_height: 12 new_width: 14", "", 1),
    ("shuffled each epoch", "batch_size: 3 new_height: 12 new_width: 14 shuffle: true", "", 1),
    (
        "gray, TRAIN crop and mirror",
        "batch_size: 3 new_height: 12 new_width: 14 shuffle: true is_color: false",
        "mirror: true crop_size: 9 scale: 0.1 mean_value: 100",
        0,
    ),
    (
        "rand_skip, per-channel means",
        "batch_size: 2 new_height: 12 new_width: 14 rand_skip: 4",
        "mirror: true crop_size: 9 mean_value: 100 mean_value: 50 mean_value: 20",
        0,
    ),
    ("TEST centre crop, mean_file", "batch_size: 2 shuffle: true rand_skip: 3 new_height: 14 new_width: 14", "crop_size: 9 mean_file: 'MEAN'", 1),
]  # fmt: skip

WINDOW_CASES = [
    ("warp", "batch_size: 6 fg_fraction: 0.5", "crop_size: 8", 0),
    ("context pad, mirror, mean_value", "batch_size: 6 fg_fraction: 0.34 context_pad: 2 scale: 0.5", "crop_size: 10 mirror: true mean_value: 90", 0),
    ("square, cached images, thresholds", "batch_size: 5 crop_mode: 'square' context_pad: 1 cache_images: true fg_threshold: 0.7 bg_threshold: 0.2", "crop_size: 12 mirror: true", 1),
    ("square, mean_file", "batch_size: 4 crop_mode: 'square'", "crop_size: 12 mean_file: 'MEAN'", 0),
    ("context pad, mirror, mean_file", "batch_size: 4 context_pad: 3", "crop_size: 12 mirror: true mean_file: 'MEAN'", 0),
]  # fmt: skip


def make_files(d, rng):
    os.makedirs(os.path.join(d, "img"), exist_ok=True)
    lines, windows = [], []
    for i, (h, w) in enumerate(SIZES):
        cv2.imwrite(os.path.join(d, "img", f"im{i}.png"), rng.integers(0, 256, (h, w, 3), np.uint8))
        lines.append(f"im{i}.png {i * 3 - 1}")
        wins = []
        for _ in range(4):
            x1, y1 = int(rng.integers(0, w - 3)), int(rng.integers(0, h - 3))
            x2, y2 = int(rng.integers(x1 + 1, w)), int(rng.integers(y1 + 1, h))
            wins.append(
                f"{int(rng.integers(1, 5))} {rng.choice([0.1, 0.3, 0.6, 0.9])} {x1} {y1} {x2} {y2}"
            )
        windows.append(f"# {i}\nim{i}.png\n3 {h} {w}\n{len(wins)}\n" + "\n".join(wins))
    with open(os.path.join(d, "list.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(d, "windows.txt"), "w") as f:
        f.write("\n".join(windows) + "\n")
    mean = rng.uniform(0, 255, (1, 3, 14, 14)).astype(np.float32)
    with open(os.path.join(d, "mean.binaryproto"), "wb") as f:
        f.write(caffe.io.array_to_blobproto(mean).SerializeToString())


def compare(d, layer, seed, forwards=4):
    path = os.path.join(d, "net.prototxt")
    with open(path, "w") as f:
        f.write('name: "data"\n' + layer + "\n")
    phase = int(layer.split("PHASE=")[1][0]) if "PHASE=" in layer else 1
    caffe.set_random_seed(seed)
    cnet = caffe.Net(path, phase)
    torchcaffe.set_random_seed(seed)
    tnet = torchcaffe.Net(path, phase)
    same, worst = True, 0.0
    for _ in range(forwards):
        cnet.forward()
        tnet.forward()
        for t in ("data", "label"):
            a, b = tnet.blobs[t].data, cnet.blobs[t].data
            if a.shape != b.shape:
                return False, float("inf")
            worst = max(worst, float(np.abs(a - b).max()) if a.size else 0.0)
            same = same and np.array_equal(a, b)
    return bool(same), worst


def main(d):
    caffe.set_mode_cpu()
    torchcaffe.set_mode_cpu()
    make_files(d, np.random.default_rng(0))
    mean = os.path.join(d, "mean.binaryproto")
    for kind, cases, param, source in (
        ("ImageData", IMAGE_CASES, "image_data_param", "list.txt"),
        ("WindowData", WINDOW_CASES, "window_data_param", "windows.txt"),
    ):
        for name, p, tp, phase in cases:
            for seed in (1, 2, 3):
                tp_ = tp.replace("MEAN", mean)
                layer = (
                    f'layer {{ name: "L" type: "{kind}" top: "data" top: "label" {param} {{ '
                    f'source: "{os.path.join(d, source)}" root_folder: "{os.path.join(d, "img")}/" {p} }} '
                    f"transform_param {{ {tp_} }} }}\n# PHASE={phase}"
                )
                same, worst = compare(d, layer, seed)
                print(json.dumps(dict(type=kind, case=name, seed=seed, same=same, worst=worst)))


if __name__ == "__main__":
    main(sys.argv[1])
