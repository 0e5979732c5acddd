"""Seeded fuzz over the caffeio readers, torchcaffe.Net and `netspec shapes` (issue 14).

Random mutations and truncations of small prototxt, caffemodel and solverstate files (written
here) must end in a project error (CaffeFormatError, NetError, NetSpecError, DataError,
SurgeryError, or a CLI's error exit with a message): never a raw numpy/torch/KeyError/
IndexError/ZeroDivisionError traceback. Known garbage (the issue's cases: NaN weights, weights of
another net, dims < 1, stride/kernel/group 0, a Crop axis beyond the blob, a top written twice,
a caffemodel cut at a layer boundary, a bad solverstate) must never be accepted silently.
Run with -s to see the counts.
"""

import io
import math
import os
import random
import re
import time
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest
from test_solvers_toynet import ToyNet, write_toy

import caffeio
import torchcaffe
from caffeio import caffe_pb2
from caffeio.__main__ import main as info_main
from caffeio.errors import CaffeFormatError
from caffeio.legacy import to_v1
from caffeio.weights_check import check_weights
from layers.errors import DataError
from netspec.__main__ import main as netspec_main
from netspec.errors import NetSpecError
from surgery.errors import SurgeryError
from torchcaffe.errors import NetError
from torchcaffe.solver import get_solver

PROJECT_ERRORS = (CaffeFormatError, NetError, NetSpecError, DataError, SurgeryError)
# FUZZ_SEED / FUZZ_SCALE explore further (e.g. FUZZ_SCALE=10 for a long local run).
SEED = int(os.environ.get("FUZZ_SEED", "14"))
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
N_TEXT, N_FIELDS, N_BINARY, N_STATE = (int(n * SCALE) for n in (300, 300, 240, 80))

SEEDS = {
    "fcn": """name: "fuzz"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 16 dim: 16 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "drop" type: "Dropout" bottom: "pool1" top: "pool1"
        dropout_param { dropout_ratio: 0.5 } }
layer { name: "score" type: "Convolution" bottom: "pool1" top: "score"
        convolution_param { num_output: 3 kernel_size: 1 } }
layer { name: "up" type: "Deconvolution" bottom: "score" top: "up" param { lr_mult: 0 }
        convolution_param { num_output: 3 group: 3 kernel_size: 4 stride: 2 bias_term: false } }
layer { name: "crop" type: "Crop" bottom: "up" bottom: "data" top: "crop"
        crop_param { axis: 2 offset: 1 } }
""",
    "mixed": """name: "fuzz2"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 2 dim: 3 dim: 6 dim: 6 } } }
layer { name: "bn" type: "BatchNorm" bottom: "data" top: "bn" }
layer { name: "sc" type: "Scale" bottom: "bn" top: "sc" scale_param { bias_term: true } }
layer { name: "a" type: "Convolution" bottom: "sc" top: "a"
        convolution_param { num_output: 2 kernel_size: 3 pad: 1 } }
layer { name: "b" type: "Convolution" bottom: "sc" top: "b"
        convolution_param { num_output: 2 kernel_size: 1 } }
layer { name: "sum" type: "Eltwise" bottom: "a" bottom: "b" top: "sum" }
layer { name: "cat" type: "Concat" bottom: "a" bottom: "sum" top: "cat" }
layer { name: "pool" type: "Pooling" bottom: "cat" top: "pool"
        pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "fc" type: "InnerProduct" bottom: "pool" top: "fc"
        inner_product_param { num_output: 5 } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
""",
}

CLASSIFIER = """name: "cls"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 12 dim: 12 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        param { lr_mult: 1 } param { lr_mult: 2 }
        convolution_param { num_output: 4 kernel_size: 3 stride: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "norm1" type: "LRN" bottom: "conv1" top: "norm1"
        lrn_param { local_size: 3 alpha: 0.0001 beta: 0.75 } }
layer { name: "pool1" type: "Pooling" bottom: "norm1" top: "pool1"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "fc6" type: "InnerProduct" bottom: "pool1" top: "fc6"
        inner_product_param { num_output: 6 } }
layer { name: "drop6" type: "Dropout" bottom: "fc6" top: "fc6" }
layer { name: "prob" type: "Softmax" bottom: "fc6" top: "prob" }
"""
# The 2014 ILSVRC releases' format: V1 `layers` with enum types, input/input_dim, blobs_lr.
SEEDS["v1"] = caffeio.to_text(to_v1(caffeio.net_from_text(CLASSIFIER, upgrade=False)))

# Known garbage: (seed, old text, new text); each must be refused by torchcaffe and netspec.
GARBAGE_TEXT = [
    ("fcn", "stride: 2 }", "stride: 0 }"),
    ("fcn", "kernel_size: 4 stride: 2", "kernel_size: 4 stride: 0"),
    ("fcn", "num_output: 4 kernel_size: 3", "num_output: 4 group: 0 kernel_size: 3"),
    ("fcn", "kernel_size: 3 pad", "kernel_size: 0 pad"),
    ("fcn", "num_output: 3 kernel_size: 1", "num_output: 0 kernel_size: 1"),
    ("fcn", "dim: 3 dim: 16", "dim: 0 dim: 16"),
    ("fcn", "dim: 16 dim: 16", "dim: -16 dim: 16"),
    ("fcn", "axis: 2 offset", "axis: 7 offset"),
    ("fcn", 'top: "score"\n', 'top: "conv1"\n'),
    ("mixed", "num_output: 5", "num_output: 0"),
    ("mixed", 'top: "b"\n', 'top: "a"\n'),
    ("mixed", "kernel_size: 3 stride: 2", "kernel_size: 3 stride: 0"),
    ("mixed", "dim: 2 dim: 3", "dim: 2 dim: 0"),
    ("v1", "input_dim: 12", "input_dim: 0"),
    ("v1", "kernel_size: 3\n    stride: 2", "kernel_size: 3\n    stride: 0"),
    ("v1", "num_output: 6", "num_output: 0"),
]

NUMBERS = [
    "0",
    "-1",
    "-7",
    "1",
    "2",
    "3",
    "5",
    "64",
    "65536",
    "4294967295",
    "2147483648",
    "99999999999",
    "-99999999999",
    "1e9",
    "0.5",
    "nan",
    "inf",
    "-0",
    "07",
    "0x10",
]
WORDS = [
    "kernel_size",
    "stride",
    "pad",
    "group",
    "axis",
    "offset",
    "num_output",
    "dim",
    "MAX",
    "AVE",
    "STOCHASTIC",
    "bias_term",
    "lr_mult",
    "bottom",
    "top",
    "type",
    "name",
    "layer",
    "engine",
    "dilation",
    "global_pooling",
    "foo",
    "Python",
    "Crop",
    "Deconvolution",
]
JUNK = ["{", "}", '"', ":", "#", "\x00", "\xff", "layer {", "\n}", " 1e400 ", "\ud7ff"]


class Tally:
    """Counts of outcomes; crashes and silently accepted garbage keep a few examples."""

    def __init__(self):
        self.tried = self.clean = self.accepted = 0
        self.crashes, self.silent = [], []
        self.garbage = 0

    def run(self, what, fn, garbage=False):
        self.tried += 1
        self.garbage += garbage
        out, err = io.StringIO(), io.StringIO()
        try:
            with redirect_stdout(out), redirect_stderr(err):
                rc = fn()
        except PROJECT_ERRORS:
            self.clean += 1
            return
        except SystemExit as e:  # argparse: usage line + message on stderr, exit status 2
            ok = e.code not in (0, None) and err.getvalue().strip()
            self._end(ok, what, f"SystemExit {e.code!r} {err.getvalue()[-200:]}")
            return
        except Exception as e:  # noqa: BLE001 - the point: anything else is a crash
            self.crashes.append(f"{what[:300]}: {type(e).__name__}: {str(e)[:300]}")
            return
        if rc == "reported":  # loaded, with the layers that got no weights named on stderr
            self._end("get no weights" in err.getvalue(), what, "missing weights not reported")
            return
        if isinstance(rc, int) and rc != 0:  # a CLI that printed its one error line
            self._end("error:" in err.getvalue(), what, f"exit {rc}, no error line")
            return
        if garbage:
            self.silent.append(what)
        self.accepted += 1

    def _end(self, ok, what, detail):
        if ok:
            self.clean += 1
        else:
            self.crashes.append(f"{what[:300]}: {detail[:300]}")

    def summary(self):
        return (
            f"fuzz: {self.tried} cases tried, {self.clean} clean errors, {len(self.crashes)} "
            f"crashes, {self.accepted} accepted ({len(self.silent)} of {self.garbage} known-bad "
            "inputs silently accepted)"
        )


# ---------------------------------------------------------------- mutations
def _change_number(text, lines, rng):
    nums = list(re.finditer(r"-?\d+(\.\d+)?", text))
    if not nums:
        return text
    m = rng.choice(nums)
    return text[: m.start()] + rng.choice(NUMBERS) + text[m.end() :]


def _drop_line(text, lines, rng):
    if len(lines) <= 1:
        return _swap_lines(text, lines, rng)
    del lines[rng.randrange(len(lines))]
    return "\n".join(lines)


def _repeat_line(text, lines, rng):
    i = rng.randrange(len(lines))
    lines.insert(i, lines[i])
    return "\n".join(lines)


def _cut(text, lines, rng):
    return text[: rng.randrange(len(text) + 1)]


def _change_string(text, lines, rng):
    quoted = list(re.finditer(r'"[^"\n]*"', text))
    if not quoted:
        return text
    m = rng.choice(quoted)
    new = rng.choice(quoted).group(0) if rng.random() < 0.7 else f'"{rng.choice(WORDS)}"'
    return text[: m.start()] + new + text[m.end() :]


def _change_word(text, lines, rng):
    words = list(re.finditer(r"\b[A-Za-z_]+\b", text))
    if not words:
        return text
    m = rng.choice(words)
    return text[: m.start()] + rng.choice(WORDS) + text[m.end() :]


def _insert_junk(text, lines, rng):
    i = rng.randrange(len(text) + 1)
    return text[:i] + rng.choice(JUNK) + text[i:]


def _swap_lines(text, lines, rng):
    if len(lines) <= 2:
        return text
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


# one mutation each, drawn uniformly (op 7: swap two lines)
_TEXT_MUTATIONS = (
    _change_number,
    _drop_line,
    _repeat_line,
    _cut,
    _change_string,
    _change_word,
    _insert_junk,
    _swap_lines,
)


def mutate_text(text, rng):
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(8)
        text = _TEXT_MUTATIONS[op](text, text.split("\n"), rng)
    return text


_TYPES = [
    "Convolution",
    "Deconvolution",
    "Pooling",
    "InnerProduct",
    "Crop",
    "Eltwise",
    "Concat",
    "ReLU",
    "Dropout",
    "Softmax",
    "BatchNorm",
    "Scale",
    "LRN",
    "Split",
    "Flatten",
    "Input",
    "SoftmaxWithLoss",
    "Accuracy",
    "ArgMax",
    "Silence",
    "Reshape",
    "Bias",
    "Python",
]
_INTS = [0, 1, 2, 3, 7, -1, -5, 2**31 - 1, 2**20, 10**6]
_FLOATS = [0.0, 1.0, -1.0, 0.5, 2.0, 1e30, -1e30, math.nan, math.inf, -math.inf]


def _random_value(field, rng):
    fd = field
    if fd.cpp_type == fd.CPPTYPE_ENUM:
        return rng.choice(fd.enum_type.values).number
    if fd.cpp_type == fd.CPPTYPE_BOOL:
        return rng.random() < 0.5
    if fd.cpp_type in (fd.CPPTYPE_FLOAT, fd.CPPTYPE_DOUBLE):
        return rng.choice(_FLOATS)
    if fd.cpp_type == fd.CPPTYPE_STRING:
        return rng.choice(["data", "conv1", "", "x", "up", "label"])
    v = rng.choice(_INTS)
    if fd.cpp_type in (fd.CPPTYPE_UINT32, fd.CPPTYPE_UINT64):
        v = abs(v)
    return min(v, 2**31 - 1) if fd.cpp_type == fd.CPPTYPE_INT32 else v


def mutate_fields(text, rng):
    """Set random values (of the right types) in a parsed net: a parameter field, the layer
    type, a bottom or top name, or an input dim -> prototxt text."""
    net = caffeio.net_from_text(text)
    for _ in range(rng.randint(1, 2)):
        layer = rng.choice(net.layer)
        op = rng.randrange(4)
        if op == 0:
            params = [f for f in layer.DESCRIPTOR.fields if f.name.endswith("_param")]
            sub = getattr(layer, rng.choice(params).name)
            fd = rng.choice(sub.DESCRIPTOR.fields)
            if fd.cpp_type == fd.CPPTYPE_MESSAGE:
                continue
            value = _random_value(fd, rng)
            repeated = getattr(fd, "is_repeated", None)
            if repeated is None:  # protobuf < 5.x
                repeated = fd.label == fd.LABEL_REPEATED
            if repeated:
                getattr(sub, fd.name).append(value)
            else:
                setattr(sub, fd.name, value)
        elif op == 1:
            layer.type = rng.choice(_TYPES)
        elif op == 2:
            names = [t for other in net.layer for t in other.top] + ["nowhere"]
            if layer.bottom and rng.random() < 0.5:
                layer.bottom[rng.randrange(len(layer.bottom))] = rng.choice(names)
            else:
                (layer.top if rng.random() < 0.5 else layer.bottom).append(rng.choice(names))
        else:
            dims = net.layer[0].input_param.shape[0].dim
            dims[rng.randrange(len(dims))] = rng.choice([0, 1, 2, 5, 64, -2, 3000])
    return caffeio.to_text(net)


def _top_level_ends(data):
    """Offsets where each top-level protobuf field of `data` ends (layer boundaries)."""
    ends, i = [], 0
    while i < len(data):
        tag, i = _varint(data, i)
        wire = tag & 7
        if wire == 0:
            _, i = _varint(data, i)
        elif wire == 2:
            n, i = _varint(data, i)
            i += n
        elif wire == 5:
            i += 4
        elif wire == 1:
            i += 8
        else:
            break
        ends.append(i)
    return ends


def _varint(data, i):
    v, shift = 0, 0
    while True:
        b = data[i]
        v |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return v, i
        shift += 7


def mutate_bytes(data, rng):
    data = bytearray(data)
    op = rng.randrange(5)
    if op == 0:
        return bytes(data[: rng.randrange(1, len(data))])
    if op == 1:
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif op == 2:
        i = rng.randrange(len(data))
        data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    elif op == 3:
        i = rng.randrange(len(data))
        del data[i : i + rng.randint(1, 16)]
    else:
        i = rng.randrange(len(data))
        data[i : i + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\xc0\x7f", b"\x7f\x7f"])
    return bytes(data)


def blobbed(net):
    return [(i, j) for i, layer in enumerate(net.layer) for j in range(len(layer.blobs))]


def mutate_model(net, rng):
    """A semantic mutation of a caffemodel -> (NetParameter, is it known garbage?)."""
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    i, j = rng.choice(blobbed(out))
    blob = out.layer[i].blobs[j]
    op = rng.randrange(6)
    if op == 0:
        blob.data[rng.randrange(len(blob.data))] = rng.choice([math.nan, math.inf, -math.inf])
        return out, True
    dims = list(blob.shape.dim)
    blob.shape.ClearField("dim")
    if op == 1 and len(dims) > 1 and len(set(dims)) > 1:  # same count, another shape
        blob.shape.dim.extend(dims[::-1] if dims[::-1] != dims else dims[1:] + dims[:1])
        return out, True
    if op == 2:
        blob.shape.dim.extend([rng.choice([-1, 0, 2**40, 2**62])] + dims[1:])
        return out, True
    if op == 3:
        blob.shape.dim.extend(dims + [rng.randint(2, 3)])
        return out, True
    blob.shape.dim.extend(dims)
    if op == 4:
        del out.layer[i].blobs[j]
        return out, True
    other = rng.choice(out.layer)
    other.name = out.layer[i].name if other is not out.layer[i] else other.name + "_x"
    return out, False


def mutate_state(state, rng):
    out = caffe_pb2.SolverState()
    out.CopyFrom(state)
    op = rng.randrange(4)
    if op == 0:
        out.iter = -rng.randint(1, 10**6)
    elif op == 1:
        h = out.history[rng.randrange(len(out.history))]
        h.data[rng.randrange(len(h.data))] = math.nan
    elif op == 2:
        out.learned_net = ""
    else:
        del out.history[rng.randrange(len(out.history))]
    return out


# ---------------------------------------------------------------- the run
@pytest.fixture()
def world(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHCAFFE_MEMORY_LIMIT", str(64 << 20))  # no big allocations
    monkeypatch.delenv("CAFFEIO_ALLOW_NONFINITE", raising=False)
    paths = {}
    for name, text in SEEDS.items():
        p = tmp_path / f"{name}.prototxt"
        p.write_text(text)
        net = torchcaffe.Net(str(p), torchcaffe.TEST)
        rs = np.random.default_rng(0)
        for blobs in net.params.values():
            for b in blobs:
                b.data[...] = rs.standard_normal(b.data.shape)
        net.save(str(tmp_path / f"{name}.caffemodel"))
        if name == "v1":
            model = to_v1(caffeio.read_caffemodel(str(tmp_path / "v1.caffemodel")))
            caffeio.write_caffemodel(model, str(tmp_path / "v1.caffemodel"))
        paths[name] = str(p)
    return tmp_path, paths


def _net_run(proto, weights=None):
    def fn():
        net = torchcaffe.Net(proto, torchcaffe.TEST, weights=weights)
        net.forward()
        return 0

    return fn


def _loaded_all(proto, weights):
    def fn():
        net = torchcaffe.Net(proto, torchcaffe.TEST, weights=weights)
        return "reported" if net.layers_without_weights else 0

    return fn


def test_fuzz_inputs_end_in_project_errors(world):
    tmp, seeds = world
    rng = random.Random(SEED)
    t = Tally()
    start = time.time()
    n = 0

    def write(name, content):
        nonlocal n
        n += 1
        p = tmp / f"case{n}_{name}"
        (p.write_bytes if isinstance(content, bytes) else p.write_text)(content)
        return str(p)

    # known garbage prototxts: torchcaffe and netspec shapes must both refuse
    for seed, old, new in GARBAGE_TEXT:
        assert old in SEEDS[seed], old
        p = write(f"{seed}.prototxt", SEEDS[seed].replace(old, new, 1))
        t.run(f"Net {seed}: {new!r}", _net_run(p), garbage=True)
        t.run(f"shapes {seed}: {new!r}", lambda p=p: netspec_main(["shapes", p]), garbage=True)
    for size in ("0x0", "-3x5", "0", "1x1x1", "nanxnan"):
        t.run(
            f"shapes --input {size}",
            lambda size=size: netspec_main(["shapes", seeds["fcn"], f"--input={size}"]),
            garbage=True,
        )
    # random text mutations
    for k in range(N_TEXT):
        seed = rng.choice(sorted(SEEDS))
        text = mutate_text(SEEDS[seed], rng)
        p = write(f"{seed}.prototxt", text)
        t.run(f"read_net #{k}", lambda p=p: caffeio.read_net(p))
        t.run(f"shapes #{k}", lambda p=p: netspec_main(["shapes", p]))
        weights = str(tmp / f"{seed}.caffemodel") if k % 3 == 0 else None
        t.run(f"Net #{k} ({p})", _net_run(p, weights))
    # typed field mutations: parse, then set a random value of the field's type
    for k in range(N_FIELDS):
        seed = rng.choice(sorted(SEEDS))
        p = write(f"{seed}-f.prototxt", mutate_fields(SEEDS[seed], rng))
        t.run(f"shapes fields #{k} ({p})", lambda p=p: netspec_main(["shapes", p]))
        weights = str(tmp / f"{seed}.caffemodel") if k % 2 == 0 else None
        t.run(f"Net fields #{k} ({p})", _net_run(p, weights))
    # caffemodels: byte-level and semantic mutations, cuts at layer boundaries
    for seed in sorted(SEEDS):
        good = (tmp / f"{seed}.caffemodel").read_bytes()
        net = caffeio.read_caffemodel(str(tmp / f"{seed}.caffemodel"))
        ends = _top_level_ends(good)
        blob_ends = [e for e, layer in zip(ends[1:], net.layer) if len(layer.blobs)]
        for e in blob_ends[:-1]:  # cut after a layer with weights: later ones get none
            p = write(f"{seed}-cut.caffemodel", good[:e])
            t.run(f"cut {seed} at {e}", _loaded_all(seeds[seed], p), garbage=True)
        for k in range(N_BINARY // 2):
            data = mutate_bytes(good, rng)
            p = write(f"{seed}.caffemodel", data)
            t.run(f"read_caffemodel {seed} #{k}", lambda p=p: caffeio.read_caffemodel(p))
            t.run(f"load_params {seed} #{k}", lambda p=p: caffeio.load_params(p))
            t.run(f"info {seed} #{k}", lambda p=p: info_main(["info", p]))
            t.run(f"Net weights {seed} #{k}", _net_run(seeds[seed], p))
        for k in range(N_BINARY // 4):
            model, bad = mutate_model(net, rng)
            p = write(f"{seed}-sem.caffemodel", model.SerializeToString())
            t.run(f"Net semantic {seed} #{k}", _net_run(seeds[seed], p), garbage=bad)
            t.run(
                f"check_weights {seed} #{k}",
                lambda p=p, s=seed: check_weights(caffeio.read_net(seeds[s]), p),
                garbage=False,
            )
    # solverstates: bytes, and semantic garbage through a real restore
    toy = write_toy(str(tmp), 'base_lr: 0.1 momentum: 0.9 snapshot_prefix: "{}"'.format(tmp / "t"))
    solver = get_solver(toy, net_factory=ToyNet)
    solver.step(1)
    _, state_path = solver.snapshot()
    state = caffeio.read_solverstate(state_path)
    good = state.SerializeToString()
    for k in range(N_STATE):
        p = write("x.solverstate", mutate_bytes(good, rng))
        t.run(f"read_solverstate #{k}", lambda p=p: caffeio.read_solverstate(p))
        t.run(f"info state #{k}", lambda p=p: info_main(["info", p]))
    for k in range(N_STATE // 2):
        p = write("sem.solverstate", mutate_state(state, rng).SerializeToString())
        fresh = get_solver(toy, net_factory=ToyNet)
        t.run(f"restore semantic #{k}", lambda p=p, s=fresh: s.restore(p), garbage=True)
    elapsed = time.time() - start
    print(f"\n{t.summary()} in {elapsed:.1f} s (seed {SEED}, scale {SCALE})")
    assert not t.crashes, f"{len(t.crashes)} crashes:\n" + "\n".join(t.crashes[:15])
    assert not t.silent, "silently accepted:\n" + "\n".join(t.silent[:15])
    assert t.tried >= 300 * SCALE and elapsed < 60 * SCALE
    assert t.clean > t.tried // 2
