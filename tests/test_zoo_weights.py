"""The weights catalog (zoo.catalog), `python -m solvers.weights` and loading a caffemodel with
the release's layer names through score.py.

The fetch tests serve files from a local HTTP server (tests/test_zoo_download.py's) under
catalog entries added for the test; nothing leaves the machine.
"""

import json
import os
import re

import numpy as np
import pytest
from http_server import Route, serve
from release_layout import check_release_layout_scores

import caffeio
import zoo
from solvers.weights import cli as weights
from zoo import catalog, download
from zoo.catalog import CATALOG, ILSVRC, RELEASE, Published

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEX = {"md5": 32, "sha1": 40, "sha256": 64}


# --- the catalog ------------------------------------------------------------------------------


def test_records_are_well_formed():
    for rec in CATALOG.values():
        assert rec.urls and all(re.match(r"https?://[^ ]+$", u) for u in rec.urls), rec.name
        assert rec.dest.startswith("models/") and rec.source and rec.what, rec.name
        assert rec.size is None or (rec.size > 0 and rec.size_source), rec.name
        for c in rec.checksums:
            assert len(c.value) == HEX[c.kind] and re.fullmatch("[0-9a-f]+", c.value), rec.name
            assert c.source, rec.name
        assert all(os.path.isdir(os.path.join(ROOT, "models", m)) for m in rec.used_by), rec.name
        if rec.deploy:
            assert CATALOG[rec.deploy].dest.endswith(".prototxt")
    assert len({r.dest for r in CATALOG.values()}) == len(CATALOG)


def test_release_weights_go_where_the_scripts_look():
    """One record per caffemodel-url of the release, installed as models/<m>/<m>.caffemodel:
    what solve.py writes, the next stage's staged init and infer.py read."""
    folders = {m for m in os.listdir(os.path.join(ROOT, "models")) if m != "ilsvrc-nets"}
    without = {  # models the release published no caffemodel-url for
        "nyud-fcn32s-color-d",
        "voc-fcn-googlenet",
        "voc-fcn-resnet50",
        "voc-fcn-resnet101",
        "voc-fcn-resnet152",
        "cityscapes-fcn-resnet101",
    }
    assert {r.name for r in RELEASE} == folders - without
    for rec in RELEASE:
        assert rec.dest == f"models/{rec.name}/{rec.name}.caffemodel"
        assert rec.urls[0].startswith("http://dl.caffe.berkeleyvision.org/")
    from surgery.stage import init_source

    sources = {m: init_source(m) for m in zoo.ALL_MODELS}
    for rec in RELEASE:  # used by itself and by the models staged from it
        later = {m for m, s in sources.items() if s == rec.name}
        later |= {
            m for m, s in sources.items() if isinstance(s, tuple) and rec.name in s[1].values()
        }
        assert set(rec.used_by) == {rec.name} | later, rec.name


def test_classifiers_match_the_staged_inits():
    """Each classifier's fcnized base is the one the zoo's backbone records name, under their
    file names (as the model-zoo pages name them), used by the models that start from it."""
    from surgery.stage import init_source

    classifiers = [r for r in ILSVRC if r.fcnized]
    assert {r.fcnized for r in classifiers} == {b.fcnized for b in zoo.backbones()}
    for rec in classifiers:
        proto, model = zoo.backbone(rec.fcnized).files
        assert rec.filename == model and CATALOG[rec.deploy].filename == proto
        assert rec.dest.startswith("models/ilsvrc-nets/")
        assert set(rec.used_by) == {m for m in zoo.ALL_MODELS if init_source(m) == rec.fcnized}
        assert rec.size and rec.checksums  # every classifier has a published size and digest
        assert rec.name == rec.fcnized[: -len("-fcn")]  # solvers.runs' message names it so


def test_missing_base_says_how_to_fetch_it(tmp_path, monkeypatch):
    import solvers.runs.base_weights as run

    monkeypatch.setattr(run, "MODELS_DIR", str(tmp_path / "models"))
    with pytest.raises(run.RunSetupError) as e:
        run.base_weights("voc-fcn32s", str(tmp_path / "run"), str(tmp_path / "models"))
    msg = str(e.value)
    assert "python -m solvers.weights fetch vgg16" in msg
    assert "VGG_ILSVRC_16_layers.caffemodel" in msg and "python -m surgery fcnize" in msg


def test_for_model():
    assert [r.name for r in catalog.for_model("voc-fcn16s")] == ["voc-fcn32s", "voc-fcn16s"]
    assert "vgg16" in [r.name for r in catalog.for_model("voc-fcn8s-atonce")]
    with pytest.raises(KeyError, match="not in the weights catalog"):
        catalog.get("vgg19")


def test_readme_table_is_the_generated_one():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    assert weights.table(markdown=True) in readme, "run: python -m solvers.weights list --markdown"


def test_list_command(capsys):
    assert weights.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "553.4 MB (553,432,081 B)" in out and "recorded at first download" in out
    assert "models/ilsvrc-nets/VGG_ILSVRC_16_layers.caffemodel" in out
    assert weights.main(["fetch", "vgg19"]) == 2
    assert "not in the catalog: vgg19" in capsys.readouterr().err


# --- fetch: a classifier, its prototxt and its fcnized base -----------------------------------

TINY = """name: "tiny"
layer { name: "data" type: "Input" top: "data"
  input_param { shape { dim: 1 dim: 3 dim: 32 dim: 32 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "fc6" type: "InnerProduct" bottom: "pool1" top: "fc6"
  inner_product_param { num_output: 8 } }
layer { name: "relu6" type: "ReLU" bottom: "fc6" top: "fc6" }
layer { name: "fc8" type: "InnerProduct" bottom: "fc6" top: "fc8"
  inner_product_param { num_output: 10 } }
layer { name: "prob" type: "Softmax" bottom: "fc8" top: "prob" }
"""


def tiny_classifier():
    """(V1-format deploy prototxt bytes, caffemodel bytes, params) of a small classifier, as the
    2014 releases shipped them."""
    import tempfile

    from caffeio.legacy import to_v1

    net = caffeio.net_from_text(TINY)
    rng = np.random.default_rng(1)
    params = {
        "conv1": [rng.normal(0, 0.1, (4, 3, 3, 3)), rng.normal(0, 0.1, 4)],
        "fc6": [rng.normal(0, 0.1, (8, 4 * 16 * 16)), rng.normal(0, 0.1, 8)],
        "fc8": [rng.normal(0, 0.1, (10, 8)), rng.normal(0, 0.1, 10)],
    }
    params = {k: [a.astype(np.float32) for a in v] for k, v in params.items()}
    with tempfile.TemporaryDirectory() as d:
        caffeio.write_net(to_v1(net), os.path.join(d, "p"))
        caffeio.write_caffemodel(to_v1(caffeio.params_to_net(params, net)), os.path.join(d, "w"))
        return (
            open(os.path.join(d, "p"), "rb").read(),
            open(os.path.join(d, "w"), "rb").read(),
            params,
        )


def _sha256(data):
    import hashlib

    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def server():
    with serve() as srv:
        yield srv


@pytest.fixture
def tiny_catalog(server, monkeypatch):
    proto, model, params = tiny_classifier()
    server.routes["/tiny.caffemodel"] = Route(model)
    server.routes["/tiny_deploy.prototxt"] = Route(proto)
    common = dict(source="test server", used_by=("voc-fcn32s",))
    recs = [
        Published(
            name="tiny",
            urls=(server.url + "/tiny.caffemodel",),
            dest="models/ilsvrc-nets/tiny.caffemodel",
            what="a tiny classifier",
            size=len(model),
            size_source="test",
            checksums=(catalog.Checksum("sha256", _sha256(model), "test"),),
            deploy="tiny-deploy",
            fcnized="tiny-fcn",
            **common,
        ),
        Published(
            name="tiny-deploy",
            urls=(server.url + "/tiny_deploy.prototxt",),
            dest="models/ilsvrc-nets/tiny_deploy.prototxt",
            what="its deploy prototxt",
            **common,  # nothing published: recorded at first download
        ),
    ]
    for r in recs:
        monkeypatch.setitem(CATALOG, r.name, r)
    return server, params


def test_fetch_classifier_makes_the_fcnized_base(tiny_catalog, tmp_path, capsys):
    server, params = tiny_catalog
    assert weights.main(["fetch", "tiny", "--no-progress"], root=str(tmp_path)) == 0
    nets = tmp_path / "models" / "ilsvrc-nets"
    assert (nets / "tiny.caffemodel").exists() and (nets / "tiny_deploy.prototxt").exists()
    fcn = caffeio.load_params(str(nets / "tiny-fcn.caffemodel"))
    # surgery fcnize made fc6 a 16x16 convolution holding the classifier's weights
    assert fcn["fc6"][0].shape == (8, 4, 16, 16)
    np.testing.assert_array_equal(fcn["fc6"][0].reshape(8, -1), params["fc6"][0])
    np.testing.assert_array_equal(fcn["fc8"][0].reshape(10, 8), params["fc8"][0])
    err = capsys.readouterr().err
    assert "making the fully convolutional base" in err
    record = json.load(open(download.record_path(str(nets / "tiny_deploy.prototxt"))))
    assert record["url"].endswith("/tiny_deploy.prototxt")
    # again: everything verified in place, nothing downloaded or remade
    n = len(server.log)
    before = (nets / "tiny-fcn.caffemodel").stat().st_mtime_ns
    assert weights.main(["fetch", "tiny", "--no-progress"], root=str(tmp_path)) == 0
    assert len(server.log) == n and (nets / "tiny-fcn.caffemodel").stat().st_mtime_ns == before
    assert "already there" in capsys.readouterr().err
    # verify: all present files checked; a changed one fails with exit status 1
    assert weights.main(["verify"], root=str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "tiny: OK" in out and "tiny-deploy: OK" in out and "recorded sha256" in out
    with open(nets / "tiny_deploy.prototxt", "ab") as f:
        f.write(b"# edited\n")
    assert weights.main(["verify", "tiny-deploy"], root=str(tmp_path)) == 1
    assert "tiny-deploy: MISMATCH" in capsys.readouterr().out
    assert weights.main(["fetch", "tiny"], root=str(tmp_path)) == 2
    assert "fails verification" in capsys.readouterr().err


def test_fetch_errors_name_the_url_and_the_path(tiny_catalog, tmp_path, capsys):
    server, _ = tiny_catalog
    server.routes["/tiny.caffemodel"] = Route(b"", mode="404")
    assert weights.main(["fetch", "tiny", "--no-progress"], root=str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "HTTP 404" in err and f"{server.url}/tiny.caffemodel" in err
    assert str(tmp_path / "models" / "ilsvrc-nets" / "tiny.caffemodel") in err
    assert not (tmp_path / "models" / "ilsvrc-nets" / "tiny-fcn.caffemodel").exists()


# --- a caffemodel with the release's layer names through score.py ------------------------------


def test_score_loads_release_caffemodel_by_layer_name(tmp_path):
    """score.py copies weights by layer name (torchcaffe; tests/pycaffe: real Caffe)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", FCN_ENGINE="torch")
    assert "engine: torchcaffe" in check_release_layout_scores(tmp_path, env)
