"""One measurement in a fresh process (so that its peak RSS is its own), as JSON on stdout.

    python -m bench.child '{"what": "forward", "engine": "torchcaffe", "mode": "exact",
                            "size": 500, "width": 1.0, "reps": 3, "threads": 2}'

what: forward | train | layers | probe (engine host: bench.child.host_probe's fixed work, the
machine's own drift). engine: eager | torchcaffe. mode (forward): exact (defaults),
noskip (constant-area skipping off), channels_last, winograd (F(4x4) 3x3 convolutions), fast
(torchcaffe's fast mode), bf16 (autocast), compile (torch.compile of the eager model), thp (eager
as exact; the parent sets THP_MEM_ALLOC_ENABLE=1). With "save": path, the last output
(N x 21 x H x W) is written as .npy.
Prints {"times": [s, ...], "peak_rss_mb": .., ...}; the first run (warm-up) is not timed.
"""

import json
import sys
import time
from collections import defaultdict

import numpy as np
import torch

from bench import fixtures as fx
from bench.peak import peak_rss_mb


def _timed(fn, reps):
    fn()  # warm-up (allocations, oneDNN primitive creation, compilation)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def eager_forward(spec):
    s, mode = spec["size"], spec.get("mode", "exact")
    model = fx.eager_model(spec["width"]).eval()
    x = torch.from_numpy(fx.image(s, s))
    if mode == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if mode == "compile":
        model = torch.compile(model)
    out = {}

    def run():
        with torch.no_grad():
            if mode == "bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    out["y"] = model(x).float()
            else:
                out["y"] = model(x)

    return _timed(run, spec["reps"]), out["y"].contiguous().numpy()


def torchcaffe_forward(spec):
    import torchcaffe

    s, mode = spec["size"], spec.get("mode", "exact")
    net = fx.torchcaffe_net(
        fx.deploy_param(spec["width"]), torchcaffe.TEST, **fx.mode_options(mode)
    )
    net.blobs["data"].reshape(1, 3, s, s)
    net.blobs["data"].data[...] = fx.image(s, s)
    times = _timed(net.forward, spec["reps"])
    return times, np.ascontiguousarray(net.blobs["score"].data)


def eager_train(spec):
    s = spec["size"]
    model = fx.eager_model(spec["width"]).train()
    x = torch.from_numpy(fx.image(s, s))
    y = torch.from_numpy(fx.label(s, s)[:, 0]).long()
    decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
    bias = [p for n, p in model.named_parameters() if n.endswith("bias")]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": 5e-4}, {"params": bias, "lr": 2e-14}],
        lr=1e-14,
        momentum=0.99,
    )
    for m in model.deconvs.values():
        m.weight.requires_grad_(False)

    def run():
        opt.zero_grad(set_to_none=False)
        loss = torch.nn.functional.cross_entropy(model(x), y, ignore_index=255, reduction="sum")
        loss.backward()
        opt.step()

    return _timed(run, spec["reps"]), None


def _sgd_solver(spec, tmp):
    import os

    import caffeio
    import torchcaffe

    s = spec["size"]
    netp = os.path.join(tmp, "train.prototxt")
    with open(netp, "w") as f:
        f.write(caffeio.to_text(fx.train_param(s, s, spec["width"])))
    solver = torchcaffe.SGDSolver(fx.write_sgd_solver(tmp, netp))
    fx.random_params(solver.net)
    solver.net.blobs["data"].data[...] = fx.image(s, s)
    solver.net.blobs["label"].data[...] = fx.label(s, s)
    return solver


def torchcaffe_train(spec):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        solver = _sgd_solver(spec, tmp)
        return _timed(lambda: solver.step(1), spec["reps"]), None


def torchcaffe_layers(spec):
    """Per-layer seconds of one inference forward and one training iteration (forward and
    backward of each layer), by wrapping the Net's per-layer calls with a timer."""
    import tempfile

    import torchcaffe
    from torchcaffe.net import Net

    acc = defaultdict(float)
    orig_f, orig_b = Net._forward_layer, Net._backward_layer

    def fwd(self, i):
        t0 = time.perf_counter()
        orig_f(self, i)
        acc[(self._tag, "forward", self._layer_names[i], self._impls[i].type)] += (
            time.perf_counter() - t0
        )

    def bwd(self, i):
        t0 = time.perf_counter()
        orig_b(self, i)
        acc[(self._tag, "backward", self._layer_names[i], self._impls[i].type)] += (
            time.perf_counter() - t0
        )

    Net._forward_layer, Net._backward_layer = fwd, bwd
    s = spec["size"]
    net = fx.torchcaffe_net(fx.deploy_param(spec["width"]), torchcaffe.TEST)
    net._tag = "inference"
    net.blobs["data"].reshape(1, 3, s, s)
    net.blobs["data"].data[...] = fx.image(s, s)
    net.forward()
    acc.clear()
    net.forward()
    del net
    with tempfile.TemporaryDirectory() as tmp:
        solver = _sgd_solver(spec, tmp)
        solver.net._tag = "train"
        solver.step(1)
        acc_keys = [k for k in acc if k[0] == "train"]
        for k in acc_keys:
            del acc[k]
        solver.step(1)
    rows = [
        {"net": k[0], "pass": k[1], "layer": k[2], "type": k[3], "s": v} for k, v in acc.items()
    ]
    return rows


def host_probe(spec):
    """The same fixed work every time, to see the machine's own drift next to the training
    rows: 8 float32 GEMMs of 2048 x 2048 (compute; ~70 GFLOP) and 8 passes over 128 MB
    (memory bandwidth), about 0.6 s on the 2-core Xeon. Its spread is the host's, not a net's."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2048, 2048, generator=g), torch.randn(2048, 2048, generator=g)
    c = torch.empty(2048, 2048)
    src = torch.randn(32 << 20, generator=g)
    dst = torch.empty_like(src)

    def run():
        for _ in range(8):
            torch.mm(a, b, out=c)
            torch.mul(src, 1.0001, out=dst)

    return _timed(run, spec["reps"]), None


def main(argv=None):
    spec = json.loads((argv or sys.argv[1:])[0])
    torch.set_num_threads(int(spec.get("threads", 2)))
    torch.manual_seed(0)
    what, engine = spec["what"], spec.get("engine", "torchcaffe")
    result = {"spec": spec}
    if what == "layers":
        result["layers"] = torchcaffe_layers(spec)
    else:
        fn = {
            ("forward", "eager"): eager_forward,
            ("forward", "torchcaffe"): torchcaffe_forward,
            ("train", "eager"): eager_train,
            ("train", "torchcaffe"): torchcaffe_train,
            ("probe", "host"): host_probe,
        }[(what, engine)]
        times, y = fn(spec)
        result["times"] = times
        if y is not None and spec.get("save"):
            np.save(spec["save"], y)
    result["peak_rss_mb"] = peak_rss_mb()
    print("BENCH-RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
