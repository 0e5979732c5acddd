"""The weights catalog (zoo.catalog), `python -m solvers.weights` and loading a caffemodel with
the release's layer names through score.py.

The fetch tests serve files from a local HTTP server (tests/test_zoo_download.py's) under
catalog entries added for the test; nothing leaves the machine.
"""

import json
import os
import re
from dataclasses import replace

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
        assert rec.used_by, rec.name  # every published file is read by some zoo model
        assert all(os.path.isdir(os.path.join(ROOT, "models", m)) for m in rec.used_by), rec.name
        if rec.deploy:
            assert CATALOG[rec.deploy].dest.endswith(".prototxt")
    assert len({r.dest for r in CATALOG.values()}) == len(CATALOG)


def test_model_init_sources_are_the_staged_inits():
    """ModelRecord.init_sources (what the catalog's used_by reads) names what surgery's staged
    init starts from, for every zoo model."""
    from surgery.stage import init_source

    for m in zoo.ALL_MODELS:
        src = init_source(m)
        want = tuple(src[1].values()) if isinstance(src, tuple) else (src,)
        assert zoo.record(m).init_sources == want, m


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
        assert rec.kind == "trained" and rec.backbone is None
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
    assert catalog.get("voc-fcn32s").used_by == ("voc-fcn32s", "voc-fcn16s")
    assert catalog.get("nyud-fcn32s-hha").used_by == ("nyud-fcn32s-hha", "nyud-fcn32s-color-hha")


def test_classifiers_match_the_staged_inits():
    """Each backbone has one classifier caffemodel and one deploy prototxt in the catalog,
    installed under the file names of its backbone record (as the model-zoo pages name them),
    used by the models that start from its fcnized form."""
    from surgery.stage import init_source

    classifiers = [r for r in ILSVRC if r.kind == "classifier"]
    deploys = [r for r in ILSVRC if r.kind == "deploy"]
    assert len(classifiers) + len(deploys) == len(ILSVRC)
    assert sorted(r.backbone for r in classifiers) == sorted(b.name for b in zoo.backbones())
    assert sorted(r.backbone for r in deploys) == sorted(b.name for b in zoo.backbones())
    for rec in classifiers:
        b = zoo.backbone(rec.backbone)
        proto, model = b.files
        assert rec.dest == f"models/ilsvrc-nets/{model}"
        assert CATALOG[rec.deploy].dest == f"models/ilsvrc-nets/{proto}"
        assert rec.fcnized == b.fcnized
        assert set(rec.used_by) == {m for m in zoo.ALL_MODELS if init_source(m) == rec.fcnized}
        assert rec.used_by and CATALOG[rec.deploy].used_by == rec.used_by
        assert rec.size and rec.checksums  # every classifier has a published size and digest
        assert rec.name == b.name  # solvers.runs' message names it so (<x>-fcn -> <x>)


CAFFENET_ORDER = [  # BVLC models/bvlc_reference_caffenet/deploy.prototxt, layer by layer
    "data", "conv1", "relu1", "pool1", "norm1", "conv2", "relu2", "pool2", "norm2", "conv3",
    "relu3", "conv4", "relu4", "conv5", "relu5", "pool5", "fc6", "relu6", "drop6", "fc7",
    "relu7", "drop7", "fc8", "prob",
]  # fmt: skip


def test_fcn_alexnet_starts_from_caffenet():
    """The release's voc-fcn-alexnet pools before LRN, as CaffeNet (bvlc_reference_caffenet),
    the base net its ilsvrc-nets/README.md names: the backbone's files, the catalog's URL and
    digest, the classifier builder and the FCN trunk all follow CaffeNet."""
    from zoo import ilsvrc

    b = zoo.backbone("alexnet")
    assert b.files == (
        "bvlc_reference_caffenet_deploy.prototxt",
        "bvlc_reference_caffenet.caffemodel",
    )
    rec = catalog.get("alexnet")
    assert rec.urls[0] == "http://dl.caffe.berkeleyvision.org/bvlc_reference_caffenet.caffemodel"
    sha1 = {c.kind: c.value for c in rec.checksums}["sha1"]
    assert sha1 == "4c8d77deb20ea792f84eb5e6d0a11ca0a8660a46"  # its readme.md's sha1 field
    assert "bvlc_reference_caffenet/deploy.prototxt" in catalog.get("alexnet-deploy").urls[0]
    net = ilsvrc.alexnet()
    assert net.name == "CaffeNet" and [x.name for x in net.layer] == CAFFENET_ORDER
    assert ilsvrc.alexnet(fully_conv=True).name == "CaffeNet_fullconv"
    types = {x.name: x.type for x in net.layer}
    assert [types[n] for n in ("pool1", "norm1", "pool2", "norm2")] == ["Pooling", "LRN"] * 2
    layers = {x.name: x for x in net.layer}
    assert layers["norm1"].bottom == ["pool1"] and layers["conv2"].bottom == ["norm1"]
    fcn = zoo.build("voc-fcn-alexnet", "deploy")
    trunk = [x.name for x in fcn.layer if x.name in CAFFENET_ORDER[1:16]]
    assert trunk == CAFFENET_ORDER[1:16]


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
def tiny_backbone():
    """A backbone 'tiny' (VGG-16's builders, its own file names) registered for the test."""
    b = replace(zoo.backbone("vgg16"), name="tiny", title="tiny",
                files=("tiny_deploy.prototxt", "tiny.caffemodel"))  # fmt: skip
    zoo.register(b)
    yield b
    zoo.unregister("tiny")


@pytest.fixture
def tiny_catalog(server, monkeypatch, tiny_backbone):
    proto, model, params = tiny_classifier()
    server.routes["/tiny.caffemodel"] = Route(model)
    server.routes["/tiny_deploy.prototxt"] = Route(proto)
    recs = [
        Published(
            name="tiny",
            urls=(server.url + "/tiny.caffemodel",),
            what="a tiny classifier",
            source="test server",
            size=len(model),
            size_source="test",
            checksums=(catalog.Checksum("sha256", _sha256(model), "test"),),
            backbone="tiny",
        ),
        Published(
            name="tiny-deploy",
            urls=(server.url + "/tiny_deploy.prototxt",),
            what="its deploy prototxt",
            source="test server",  # nothing published: recorded at first download
            backbone="tiny",
            deploy_prototxt=True,
        ),
    ]
    for r in recs:
        monkeypatch.setitem(CATALOG, r.name, r)
    return server, params


def test_a_new_backbone_and_model_need_one_catalog_entry_each(tiny_catalog, monkeypatch):
    """Where a file goes and who reads it come from the registry: a backbone and two models
    registered at run time get their catalog records' paths, users and fcnized name."""
    tiny, first = zoo.backbone("tiny"), zoo.record("voc-fcn32s")
    models = (
        replace(first, name="tiny-fcn32s", backbone=tiny, release=False),
        replace(zoo.record("voc-fcn16s"), name="tiny-fcn16s", backbone=tiny, release=False,
                init=zoo.Init(model="tiny-fcn32s")),
    )  # fmt: skip
    zoo.register(*models)
    try:
        trained = Published(name="tiny-fcn32s", urls=("http://x/t",), what="t", source="t")
        monkeypatch.setitem(CATALOG, trained.name, trained)
        rec, deploy = catalog.get("tiny"), catalog.get("tiny-deploy")
        assert rec.dest == "models/ilsvrc-nets/tiny.caffemodel"
        assert deploy.dest == "models/ilsvrc-nets/tiny_deploy.prototxt"
        assert (rec.deploy, rec.fcnized, deploy.deploy, deploy.fcnized) == (
            "tiny-deploy", "tiny-fcn", None, None
        )  # fmt: skip
        assert rec.used_by == deploy.used_by == ("tiny-fcn32s",)
        assert trained.dest == "models/tiny-fcn32s/tiny-fcn32s.caffemodel"
        assert trained.used_by == ("tiny-fcn32s", "tiny-fcn16s")
        assert [r.name for r in catalog.for_model("tiny-fcn16s")] == ["tiny-fcn32s"]
        assert [r.name for r in catalog.for_model("tiny-fcn32s")] == [
            "tiny", "tiny-deploy", "tiny-fcn32s"
        ]  # fmt: skip
        row = next(r for r in weights.rows() if r[0] == "tiny")
        assert row[3:] == ("models/ilsvrc-nets/tiny.caffemodel", "tiny-fcn32s")
    finally:
        for m in models:
            zoo.unregister(m.name)
    assert catalog.get("tiny").used_by == ()


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
