"""The same nets refused by all three: netspec's validation, `python -m netspec shapes` and
torchcaffe (the corpus of scripts/reliability_audit.py: tests/audit_corpus.py).

Known-bad nets (83: geometry, counts, dims, crops, joins, losses, Python layers, param_str)
must be refused by each with the layer named; the seed nets accepted by each; seeded random
mutations of the seeds get the same verdict from the validation (which the pycaffe path runs
before real Caffe, tests/pycaffe/test_pycaffe_reliability.py) and from torchcaffe.
"""

import contextlib
import io
import random
import re

import audit_corpus as corpus
import pytest

import caffeio
import torchcaffe
from netspec import validate
from netspec.__main__ import main as netspec_main
from netspec.errors import NetSpecError
from torchcaffe.errors import NetError

STATIC = [c for c in corpus.BAD_NETS if c.seed != "python"]  # no Python layer to run
RUNTIME = [c for c in corpus.BAD_NETS if c.seed == "python"]
N_RANDOM = 120


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    paths = corpus.write_seeds(str(folder))
    return folder, paths


@pytest.fixture(autouse=True)
def _limits(monkeypatch, seeds):
    monkeypatch.setenv("TORCHCAFFE_MEMORY_LIMIT", str(256 << 20))  # no big allocations
    monkeypatch.syspath_prepend(str(seeds[0]))  # the Python layer modules
    monkeypatch.chdir(seeds[0])


def _validate(path):
    try:
        validate.check_file(path, phase=1, import_python=True)
    except (NetSpecError, caffeio.CaffeFormatError) as e:
        return str(e)
    return None


def _shapes_cli(path):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = netspec_main(["shapes", path])
    assert rc in (0, 1) and (rc == 0) == (not err.getvalue()), err.getvalue()
    return err.getvalue().strip() or None


def _torch(path):
    try:
        torchcaffe.Net(path, torchcaffe.TEST).forward()
    except (NetError, caffeio.CaffeFormatError) as e:
        return str(e)
    return None


def _torch_python_layer(path):
    """A Python layer's own exception reaches the caller as pycaffe's does (its own type), with
    a PEP 678 note naming the layer, its module and the prototxt line: message + notes."""
    try:
        torchcaffe.Net(path, torchcaffe.TEST).forward()
    except Exception as e:  # noqa: BLE001 - the layer's own exception type is the point
        return "\n".join([str(e), *getattr(e, "__notes__", ())])
    return None


def _write(folder, name, text):
    path = folder / f"{name}.prototxt"
    path.write_text(text)
    return str(path)


def _layer_names(text):
    """The net's layer names, or None when the text does not parse (then file:line:col)."""
    try:
        net = caffeio.net_from_text(text)
    except caffeio.CaffeFormatError:
        return None
    return [layer.name for layer in net.layer]


@pytest.mark.parametrize("case", STATIC, ids=[c.name for c in STATIC])
def test_known_bad_net_refused_by_all_three_naming_the_layer(seeds, case):
    path = _write(seeds[0], case.name, case.text())
    verdicts = {"validate": _validate(path), "shapes": _shapes_cli(path), "torch": _torch(path)}
    assert all(verdicts.values()), f"{case.name} ({case.why}) accepted: {verdicts}"
    names = _layer_names(case.text())
    for who, message in verdicts.items():
        if names is None:  # a parse error: file, line and column
            assert re.search(re.escape(path) + r":\d+:\d+: ", message), (who, message)
        else:
            assert path in message and any(f"'{n}'" in message for n in names), (who, message)


def test_seed_nets_accepted_by_all_three(seeds):
    _, paths = seeds
    for name in ("fcn", "join", "loss"):
        assert _validate(paths[name]) is None and _torch(paths[name]) is None, name
        assert _shapes_cli(paths[name]) is None, name
    assert _validate(paths["python"]) is None and _torch(paths["python"]) is None


@pytest.mark.parametrize("case", RUNTIME, ids=[c.name for c in RUNTIME])
def test_python_layer_failures_name_the_layer_and_module(seeds, case):
    path = _write(seeds[0], case.name, case.text())
    message = _torch_python_layer(path)
    assert message and "'src'" in message, message
    module = "auditbroken" if "import-fails" in case.name else "auditlayers"
    module = "nosuchmodule" if "module-missing" in case.name else module
    assert module in message, message
    static = _validate(path)  # the validation imports the module and looks the class up
    if case.name in ("python-module-missing", "python-class-missing", "python-import-fails"):
        assert static and "'src'" in static and module in static, static
    else:
        assert static is None, static  # the rest needs the layer to run
    if case.name.startswith("param-str"):
        assert "mean" in message or "nope" in message, message


def test_random_mutations_get_the_same_verdict_from_validation_and_torchcaffe(seeds):
    rng = random.Random(7)
    refused = agreed = 0
    differ = []
    for name, _, text in corpus.random_nets(rng, N_RANDOM):
        path = _write(seeds[0], name, text)
        v, t = _validate(path), _torch(path)
        refused += v is not None
        agreed += (v is None) == (t is None)
        if (v is None) != (t is None):
            differ.append(f"{name}: validation {v!r} / torchcaffe {t!r}")
    print(f"\n{N_RANDOM} random nets: {refused} refused, {agreed} same verdicts")
    assert not differ, "\n".join(differ[:10])
    assert 0.3 * N_RANDOM < refused < N_RANDOM  # the corpus has both kinds


def test_validation_skips_other_phases_and_names_duplicates_only_in_one_net(tmp_path):
    text = corpus.SEEDS["fcn"].replace(
        'layer { name: "relu1"',
        'layer { name: "conv1" type: "ReLU" bottom: "conv1" top: "conv1" '
        'include { phase: TRAIN } }\nlayer { name: "relu1"',
    )
    path = _write(tmp_path, "phases", text)
    validate.check_file(path, phase=1)  # the TRAIN-only copy is not in the TEST net
    with pytest.raises(validate.NetCheckError, match=r"phases.prototxt:\d+: layer 'conv1'"):
        validate.check_file(path, phase=0)


def test_net_bytes_counts_tops_parameters_and_im2col(tmp_path):
    rows = validate.check_net(caffeio.net_from_text(corpus.SEEDS["fcn"]), phase=1)
    total, biggest = validate.net_bytes(rows, phase=1)
    # data 768 + conv1 1024 + norm1 1024 + pool1 256 + score 192 + up 972 + crop 768 floats,
    # weights 112 + 15 + 48, im2col buffers: conv1 27 x 256, up (3 x 4 x 4) x 64 (its bottom's
    # pixels); relu1 and drop1 run in place, score is 1x1 (no im2col)
    tops = 768 + 1024 + 1024 + 256 + 192 + 972 + 768
    assert total == 4 * (tops + 112 + 15 + 48 + 27 * 256 + 48 * 64)
    assert "conv1" in biggest and validate.net_bytes(rows, phase=0)[0] == 2 * total
