"""Measured forward speed of a deploy net under torchcaffe (CPU, and CUDA where torch sees one).

    from bench import speed
    speed.forward_speed(net_param, (500, 500))            # {"seconds": .., "images_per_s": ..}
    speed.forward_speed(net_param, (500, 500), "cuda")
    speed.measure(net_param, (500, 500))                  # {"cpu": {..}, "cuda": {..}}

Random weights (He-scaled kernels, small biases, BatchNorm at mean 0 / variance 1), one
warm-up forward, then the best of `reps` timed forwards of one image. torchcaffe's defaults
(exact mode: constant padded areas are skipped, Winograd for wide 3x3 layers) are kept.
"""

import time

import numpy as np

from caffeio import caffe_pb2


def _sized(net_param, image_size):
    """A copy of `net_param` whose Input layers take image_size (H, W)."""
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net_param)
    for layer in out.layer:
        if layer.type == "Input":
            for shape in layer.input_param.shape:
                shape.dim[-2:] = list(image_size)
    return out


def _randomize(net, seed=0):
    g = np.random.default_rng(seed)
    for name, blobs in net.params.items():
        kind = net.layer_dict[name].type
        for i, b in enumerate(blobs):
            if kind == "BatchNorm":
                b.data[...] = (0.0, 1.0, 1.0)[i]
            elif len(b.shape) > 1:
                fan = int(np.prod(b.shape[1:]))
                b.data[...] = g.standard_normal(b.shape) * np.sqrt(2.0 / fan)
            else:
                b.data[...] = 1.0 if kind == "Scale" and i == 0 else 0.01


def cuda_available():
    """True when torch sees a CUDA device."""
    import torch

    return torch.cuda.is_available()


def forward_speed(net_param, image_size, device="cpu", reps=3):
    """{"seconds": best forward time, "images_per_s", "device", "threads"} at image_size."""
    import torch

    import torchcaffe

    if device == "cuda":
        torchcaffe.set_mode_gpu()
    else:
        torchcaffe.set_mode_cpu()
    try:
        net = torchcaffe.Net(_sized(net_param, image_size), torchcaffe.TEST)
    finally:
        torchcaffe.set_mode_cpu()
    _randomize(net)
    g = np.random.default_rng(1)
    for name in net.inputs:
        net.blobs[name].data[...] = g.standard_normal(net.blobs[name].shape) * 50

    def run():
        net.forward()
        if device == "cuda":
            torch.cuda.synchronize()

    run()  # warm-up: allocations, oneDNN primitives, cuDNN autotuning
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    best = min(times)
    return dict(
        device=device,
        threads=torch.get_num_threads(),
        seconds=best,
        images_per_s=1.0 / best,
        times=times,
    )


def measure(net_param, image_size):
    """{"cpu": forward_speed, "cuda": forward_speed or {"skipped": why}}: what
    `python -m bench.timed_profile` prints with each profile."""
    out = {"cpu": forward_speed(net_param, image_size, "cpu")}
    if cuda_available():
        out["cuda"] = forward_speed(net_param, image_size, "cuda")
    else:
        out["cuda"] = {"skipped": "torch sees no GPU"}
    return out
