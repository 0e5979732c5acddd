"""What every benchmark shares: the FCN-8s nets (deploy and a train net with Input stand-ins),
seeded random weights in Caffe layout, synthetic images and labels, and both engines built on
the same weights."""

import numpy as np

from caffeio import caffe_pb2

NUM_CLASSES = 21


def deploy_param(width=1.0):
    """caffe_pb2.NetParameter of voc-fcn8s deploy at channel multiplier `width`."""
    import zoo

    return zoo.build("voc-fcn8s", "deploy", width=width)


def train_param(h, w, width=1.0):
    """voc-fcn8s train net with its Python data layer replaced by Input layers data (1x3xHxW)
    and label (1x1xHxW): the same graph (Dropout, SoftmaxWithLoss normalize false) on fed arrays."""
    import zoo

    src = zoo.build("voc-fcn8s", "train", width=width)
    out = caffe_pb2.NetParameter()
    out.CopyFrom(src)
    for lp in out.layer:
        if lp.type == "Python":
            tops = list(lp.top)
            lp.ClearField("python_param")
            lp.type = "Input"
            for t in tops:
                lp.input_param.shape.add().dim.extend([1, 1 if t == "label" else 3, h, w])
    return out


def write_sgd_solver(folder, net_path):
    """The bench's solver prototxt (FCN-8s recipe: fixed lr 1e-14, momentum 0.99, weight decay
    5e-4, no display, no snapshot) for train net `net_path`, written in `folder` -> its path."""
    import os

    path = os.path.join(folder, "solver.prototxt")
    with open(path, "w") as f:
        f.write(
            f'net: "{net_path}"\nbase_lr: 1e-14\nlr_policy: "fixed"\nmomentum: 0.99\n'
            f"weight_decay: 0.0005\ndisplay: 0\nmax_iter: 100000\nsnapshot: 0\n"
            f'snapshot_prefix: "{folder}/snap"\n'
        )
    return path


def random_params(net, seed=0):
    """{layer: [arrays]} of He-scaled random weights and small random biases for `net`'s params
    (score layers too, so that every path carries signal); written into the net as well."""
    g = np.random.default_rng(seed)
    params = {}
    for name, blobs in net.params.items():
        arrs = []
        for b in blobs:
            if len(b.shape) > 1:
                fan = int(np.prod(b.shape[1:]))
                a = g.standard_normal(b.shape) * np.sqrt(2.0 / fan)
                if name.startswith("upscore"):
                    a = np.abs(a) * 0.1
            else:
                a = g.standard_normal(b.shape) * 0.1
            a = a.astype(np.float32)
            b.data[...] = a
            arrs.append(a)
        params[name] = arrs
    return params


def image(h, w, seed=1):
    """A 1 x 3 x h x w float32 'mean-subtracted BGR image': smooth blobs plus noise, +-100."""
    g = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    x = np.zeros((3, h, w), np.float32)
    for c in range(3):
        for _ in range(4):
            cy, cx, r = g.uniform(0, h), g.uniform(0, w), g.uniform(10, max(h, w) / 3)
            x[c] += g.uniform(-80, 80) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    x += g.standard_normal(x.shape).astype(np.float32) * 10
    return x[None]


def label(h, w, seed=2):
    """1 x 1 x h x w float32 labels in 0..20 in blocks, with some 255 (ignored) pixels."""
    g = np.random.default_rng(seed)
    coarse = g.integers(0, NUM_CLASSES, ((h + 31) // 32, (w + 31) // 32))
    lab = np.kron(coarse, np.ones((32, 32), np.int64))[:h, :w].astype(np.float32)
    lab[g.random((h, w)) < 0.02] = 255
    return lab[None, None]


def train_net(h, w, width=1 / 16, seed=None, **options):
    """torchcaffe TRAIN net of train_param(h, w, width) with the bench's random weights and the
    synthetic image and label fed; `seed` (if given) seeds torchcaffe first (dropout masks)."""
    import torchcaffe

    if seed is not None:
        torchcaffe.set_random_seed(seed)
    net = torchcaffe_net(train_param(h, w, width), torchcaffe.TRAIN, **options)
    net.blobs["data"].data[...] = image(h, w)
    net.blobs["label"].data[...] = label(h, w)
    return net


def mode_options(mode):
    """torchcaffe.Net keyword options of a bench mode: exact (defaults), noskip, channels_last,
    winograd (F(4x4) 3x3 layers), fast, bf16. KeyError for an unknown mode."""
    import torch

    return {
        "exact": {},
        "noskip": {"skip_const": False},
        "channels_last": {"channels_last": True},
        "winograd": {"winograd": True},
        "fast": {"fast": True},
        "bf16": {"autocast": torch.bfloat16},
    }[mode]


def torchcaffe_net(param, phase, **options):
    """torchcaffe.Net of `param` with the benchmark's random weights (seed 0)."""
    import torchcaffe

    net = torchcaffe.Net(param, phase, **options)
    random_params(net)
    return net


def eager_model(width=1.0):
    """bench.eager_fcn8s.EagerFCN8s with the same random weights as torchcaffe_net."""
    import torchcaffe
    from bench.eager_fcn8s import EagerFCN8s

    ref = torchcaffe.Net(deploy_param(width), torchcaffe.TEST)
    params = random_params(ref)
    del ref
    return EagerFCN8s(NUM_CLASSES, width=width).load_caffe_params(params)
