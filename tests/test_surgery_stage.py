"""Staged initialisations for all 15 models (width 1/16 nets): shapes, interp, chains, errors."""

import numpy as np
import pytest

import caffeio
import surgery
from surgery import SurgeryError
from surgery.__main__ import main
from surgery.fcnize import fcnize
from surgery.stage import init_source, is_ilsvrc, model_nets, staged_init
from zoo import classifiers as testnets

W = 1 / 16


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """fcnized VGG-16 and AlexNet at width 1/16 + the folder to write into."""
    root = tmp_path_factory.mktemp("stage")
    out = {"root": root}
    for arch in ("vgg16", "alexnet"):
        proto, weights = testnets.write_classifier(root, arch, W, legacy=True, seed=7)
        out[arch] = str(root / f"{arch}-fcn.caffemodel")
        fcnize(proto, weights, out[arch], verbose=False)
    return out


def _train_param_shapes(model):
    name, train, deploy = model_nets(model, W)
    inputs = {
        t: tuple(s.dim)
        for lyr in deploy.layer
        if lyr.type == "Input"
        for t, s in zip(lyr.top, lyr.input_param.shape)
    }
    return train, surgery.param_shapes(train, inputs)


def _check_loads_into_train_net(model, path):
    """What Caffe's copy_from checks: every stored layer the train net has, with equal shapes."""
    train, shapes = _train_param_shapes(model)
    stored = caffeio.load_params(path)
    for name, arrays in stored.items():
        assert name in shapes, f"{model}: {name} is not a layer of the train net"
        assert [a.shape for a in arrays] == [tuple(s) for s in shapes[name]], name
    for layer in train.layer:
        if layer.type == "Deconvolution":
            w = stored[layer.name][0]
            c, filt = w.shape[0], surgery.upsample_filt(w.shape[-1])
            np.testing.assert_array_equal(w[range(c), range(c)][0], filt)
            assert np.count_nonzero(w) == c * np.count_nonzero(filt)
    return stored


def _perturb_scores(path):
    """Stand-in for training: random score layers, so the next stage must carry them over."""
    p = surgery.ParamSet.from_caffemodel(path)
    rng = np.random.default_rng(1)
    for name, blobs in p.params.items():
        if name.startswith("score"):
            for b in blobs:
                b.data[...] = rng.standard_normal(b.data.shape)
    p.save(path)
    return caffeio.load_params(path)


# The release's staged inits (and the backbones'), as surgery's table said before the zoo's
# records held them.
STAGES = {
    "voc-fcn32s": "vgg16-fcn",
    "voc-fcn16s": "voc-fcn32s",
    "voc-fcn8s": "voc-fcn16s",
    "voc-fcn8s-atonce": "vgg16-fcn",
    "voc-fcn-alexnet": "alexnet-fcn",
    "nyud-fcn32s-color": "vgg16-fcn",
    "nyud-fcn32s-hha": "vgg16-fcn",
    "nyud-fcn32s-color-d": "vgg16-fcn",
    "nyud-fcn32s-color-hha": ("late", {"color": "nyud-fcn32s-color", "hha": "nyud-fcn32s-hha"}),
    "siftflow-fcn32s": "vgg16-fcn",
    "siftflow-fcn16s": "siftflow-fcn32s",
    "siftflow-fcn8s": "siftflow-fcn16s",
    "pascalcontext-fcn32s": "vgg16-fcn",
    "pascalcontext-fcn16s": "pascalcontext-fcn32s",
    "pascalcontext-fcn8s": "pascalcontext-fcn16s",
    "voc-fcn-googlenet": "googlenet-fcn",
    "voc-fcn-resnet50": "resnet50-fcn",
    "voc-fcn-resnet101": "resnet101-fcn",
    "voc-fcn-resnet152": "resnet152-fcn",
    "cityscapes-fcn-resnet101": "resnet101-fcn",
}


def test_every_model_has_a_stage():
    import zoo

    assert {m: init_source(m) for m in zoo.ALL_MODELS} == STAGES
    for m in zoo.ALL_MODELS:
        src = init_source(m)
        if isinstance(src, str) and not is_ilsvrc(src):
            assert zoo.ALL_MODELS.index(src) < zoo.ALL_MODELS.index(m)  # an earlier stage
    assert init_source("some-folder") == "vgg16-fcn"  # a folder that is no zoo model
    assert not is_ilsvrc("voc-fcn32s") and is_ilsvrc("resnet152-fcn")


@pytest.mark.parametrize("family", ["voc", "siftflow", "pascalcontext"])
def test_staged_chain_32s_16s_8s(base, tmp_path, family):
    vgg = caffeio.load_params(base["vgg16"])
    prev = base["vgg16"]
    for stage in ("32s", "16s", "8s"):
        model = f"{family}-fcn{stage}"
        out = str(tmp_path / f"{model}.caffemodel")
        _, report = staged_init(model, prev, out, width=W, verbose=False)
        stored = _check_loads_into_train_net(model, out)
        for name in ("conv1_1", "conv5_3", "fc6", "fc7"):
            for a, b in zip(stored[name], vgg[name]):
                assert a.tobytes() == b.tobytes(), (model, name)
        if stage == "32s":
            assert all(not np.any(stored[n][0]) for n in stored if n.startswith("score"))
        else:
            src = caffeio.load_params(prev)
            for n in stored:
                if n.startswith("score") and n in src:  # trained in the previous stage
                    assert stored[n][0].tobytes() == src[n][0].tobytes(), n
                elif n.startswith("score"):  # new in this stage: zero, as in the release
                    assert not np.any(stored[n][0]), n
        assert report.interpolated
        src_scores = _perturb_scores(out)
        assert any(n.startswith("score_fr") for n in src_scores)
        prev = out


def test_atonce_and_alexnet_from_ilsvrc(base, tmp_path):
    out = str(tmp_path / "atonce.caffemodel")
    staged_init("voc-fcn8s-atonce", base["vgg16"], out, width=W, verbose=False)
    stored = _check_loads_into_train_net("voc-fcn8s-atonce", out)
    scales = [n for n in stored if stored[n][0].ndim == 1]
    values = sorted(float(stored[n][0][0]) for n in scales)
    assert values == pytest.approx([1e-4, 1e-2])  # fixed Scale layers keep their fillers
    out = str(tmp_path / "alexnet.caffemodel")
    staged_init("voc-fcn-alexnet", base["alexnet"], out, width=W, verbose=False)
    stored = _check_loads_into_train_net("voc-fcn-alexnet", out)
    assert [s for s in stored if stored[s][0].shape[-1] == 63]


def test_nyud_color_d_and_late_fusion(base, tmp_path):
    vgg = caffeio.load_params(base["vgg16"])
    out = {}
    for m in ("color", "hha", "color-d"):
        out[m] = str(tmp_path / f"{m}.caffemodel")
        staged_init(f"nyud-fcn32s-{m}", base["vgg16"], out[m], width=W, verbose=False)
        _check_loads_into_train_net(f"nyud-fcn32s-{m}", out[m])
    bgrd = caffeio.load_params(out["color-d"])["conv1_1_bgrd"][0]
    np.testing.assert_array_equal(bgrd[:, :3], vgg["conv1_1"][0])
    np.testing.assert_allclose(bgrd[:, 3], vgg["conv1_1"][0].mean(1), rtol=1e-6)
    color, hha = _perturb_scores(out["color"]), _perturb_scores(out["hha"])
    fused = str(tmp_path / "color-hha.caffemodel")
    # CLI form: --from color=... --from hha=...
    assert (
        main(
            [
                "stage",
                "--from",
                f"color={out['color']}",
                "--from",
                f"hha={out['hha']}",
                "--to",
                "nyud-fcn32s-color-hha",
                "--out",
                fused,
                "--width",
                str(W),
            ]
        )
        == 0
    )
    stored = _check_loads_into_train_net("nyud-fcn32s-color-hha", fused)
    assert stored["score_frcolor"][0].tobytes() == color["score_fr"][0].tobytes()
    assert stored["score_frhha"][0].tobytes() == hha["score_fr"][0].tobytes()
    assert stored["conv3_2hha"][0].tobytes() == hha["conv3_2"][0].tobytes()


def test_model_folder_and_default_out(base, tmp_path, capsys):
    import zoo

    folder = tmp_path / "voc-fcn32s"
    zoo.write("voc-fcn32s", str(folder), width=W)
    assert main(["stage", "--from", base["vgg16"], "--to", str(folder)]) == 0
    assert "interp: upscore" in capsys.readouterr().out
    _check_loads_into_train_net("voc-fcn32s", str(folder / "init.caffemodel"))
    assert main(["stage", "--from", base["vgg16"], "--to", str(folder)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_wrong_sources_are_loud(base, tmp_path):
    with pytest.raises(SurgeryError, match="no score_fr layer.*previous stage"):
        staged_init("voc-fcn16s", base["vgg16"], None, width=W, verbose=False)
    with pytest.raises(SurgeryError, match=r"conv1_1.*ln\(#classes\)"):
        staged_init("voc-fcn32s", base["alexnet"], None, width=W, verbose=False)
    with pytest.raises(SurgeryError, match="two models"):
        staged_init("nyud-fcn32s-color-hha", base["vgg16"], None, width=W, verbose=False)
    with pytest.raises(SurgeryError, match="unknown model 'voc-fcn4s'"):
        staged_init("voc-fcn4s", base["vgg16"], None, width=W, verbose=False)
    out32 = str(tmp_path / "32s.caffemodel")
    staged_init("voc-fcn32s", base["vgg16"], out32, width=W, verbose=False)
    _perturb_scores(out32)
    with pytest.raises(SurgeryError, match="wrong stage"):
        staged_init("voc-fcn8s-atonce", out32, None, width=W, verbose=False)
    with pytest.raises(SurgeryError, match="score_fr.*\\(21, 16, 1, 1\\)|\\(21, 256, 1, 1\\)"):
        staged_init("pascalcontext-fcn16s", out32, None, width=W, verbose=False)
