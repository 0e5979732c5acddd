"""Inference never replaces an input, one of its own outputs or any file it did not write
(unless --overwrite), refuses bad flags with the flag named and refused or diverged weights in
one line, tiles huge images without a full-size float copy (issue: nothing lost, nothing
wrong)."""

import os

import numpy as np
import pytest
from PIL import Image

import caffeio
import zoo
from solvers.inference import cli as infer_cli
from solvers.inference import segment as infer
from zoo.classifiers import random_weights

WIDTH = 1 / 32


@pytest.fixture(scope="module")
def net_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rinfer")
    net = zoo.build("voc-fcn8s", "deploy", width=WIDTH)
    weights = str(tmp / "w.caffemodel")
    caffeio.write_caffemodel(caffeio.params_to_net(random_weights(net, seed=5), net), weights)
    return weights


def _img(path, size=(40, 30), colour=(120, 60, 200)):
    Image.new("RGB", size, colour).save(path)
    return path


def _run(weights, *args):
    return infer_cli.main([*map(str, args), "--weights", weights, "--width", str(WIDTH), "--quiet"])


def test_out_is_the_input_folder(net_files, tmp_path):
    photo = _img(tmp_path / "photo.png")
    before = photo.read_bytes()
    rows = _run(net_files, photo, "--out", tmp_path)
    assert photo.read_bytes() == before  # the user's picture is untouched
    assert rows[0]["label"] == str(tmp_path / "photo-2.png")
    assert Image.open(rows[0]["label"]).mode == "P"


def test_same_stems_and_suffixes_never_collide(net_files, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name, colour in (("x.jpg", (1, 2, 3)), ("x.png", (50, 2, 3)), ("x-1.png", (90, 9, 9)),
                         ("a.png", (9, 90, 9)), ("a_overlay.png", (9, 9, 90))):  # fmt: skip
        _img(src / name, colour=colour)
    out = tmp_path / "out"
    rows = _run(net_files, src, "--out", out)
    written = [r[k] for r in rows for k in ("label", "overlay")]
    assert len(written) == len(set(written)) == 10
    by_input = {os.path.basename(r["image"]): os.path.basename(r["label"]) for r in rows}
    assert by_input["x-1.png"] == "x-1.png" and by_input["a.png"] == "a.png"
    assert by_input["x.jpg"] == "x.jpg.png" and by_input["x.png"] == "x.png.png"
    assert by_input["a_overlay.png"] != "a_overlay.png"  # that name is a.png's overlay
    assert len([f for f in os.listdir(out) if f.endswith(".png")]) == 10


def test_ids_rule_directly(tmp_path):
    paths = [str(tmp_path / n) for n in ("b.jpg", "b.png", "b.jpg.png")]
    ids = infer.output_ids(paths, str(tmp_path), overlay=True)
    assert len(set(ids)) == 3
    assert all(os.path.join(str(tmp_path), f"{i}.png") not in paths for i in ids)


@pytest.mark.parametrize("flag", [["--tile", "-5"], ["--tile", "0"], ["--width", "nan"]])
def test_bad_flags_are_named(net_files, tmp_path, capsys, flag):
    photo = _img(tmp_path / "p.png")
    with pytest.raises(SystemExit) as e:
        _run(net_files, photo, "--out", tmp_path / "o", *flag)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert flag[0] in err and flag[1] in err and "got 0" not in err


def test_undecodable_image_message(net_files, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(SystemExit) as e:
        _run(net_files, bad, "--out", tmp_path / "o")
    msg = str(e.value.code)
    assert "broken.jpg" in msg and "data/README.md" not in msg


def test_tiled_huge_image_no_full_float_copy(net_files, tmp_path, monkeypatch):
    """--tile preprocesses window by window: no float copy of the whole image is ever made
    (12000 x 12000 was a MemoryError: a full-size float64 copy came first). The labels equal
    the whole-image run."""
    h, w = 820, 900  # larger than a tile plus its margins (receptive field radius)
    rgb = (np.random.default_rng(0).integers(0, 255, (h, w, 3))).astype(np.uint8)
    photo = tmp_path / "big.png"
    Image.fromarray(rgb).save(photo)
    whole = _run(net_files, photo, "--out", tmp_path / "whole", "--no-overlay")
    sizes = []
    real = infer.preprocess

    def spy(image, mean, swap=True):
        sizes.append(image.shape[0] * image.shape[1])
        return real(image, mean, swap)

    monkeypatch.setattr(infer, "preprocess", spy)
    tiled = _run(net_files, photo, "--out", tmp_path / "tiled", "--tile", "128", "--no-overlay")
    assert len(sizes) > 1 and max(sizes) < h * w, sizes
    a = np.asarray(Image.open(whole[0]["label"]))
    b = np.asarray(Image.open(tiled[0]["label"]))
    # equal up to float rounding: NHWC convolutions (the CPU default) sum in an order that can
    # depend on the map's width, so a pixel whose two best classes tie to ~1e-6 (random
    # weights) may flip; a misplaced tile or margin would change thousands
    assert a.shape == b.shape and (a != b).mean() < 1e-5, (a != b).sum()


def test_weights_missing_a_learnable_layer_are_refused(net_files, tmp_path):
    """A caffemodel that lacks a learnable layer of the net (another net's weights, a file cut
    at a layer boundary) would run that layer on its fillers: inference refuses, naming it."""
    from train_files import caffemodel_without

    cut = caffemodel_without(net_files, "score_fr", tmp_path / "cut.caffemodel")
    photo = _img(tmp_path / "p.png")
    with pytest.raises(SystemExit) as e:
        _run(str(cut), photo, "--out", tmp_path / "o")
    assert "score_fr" in str(e.value.code) and "cut.caffemodel" in str(e.value.code)


def test_files_already_in_out_are_kept(net_files, tmp_path, capsys):
    """The audit's case: `infer a.jpg --out <a.jpg's folder>` replaced an unrelated a.png there
    (rc 0). Files this call did not write are kept, the summary names the name taken instead;
    --overwrite replaces them (never an input)."""
    photo = _img(tmp_path / "a.jpg")
    mine = tmp_path / "a.png"
    mine.write_bytes(b"the user's own a.png")
    args = ["--weights", net_files, "--width", str(WIDTH), "--out", str(tmp_path)]
    rows = infer_cli.main([str(photo), *args])
    assert mine.read_bytes() == b"the user's own a.png"
    assert (
        rows[0]["label"] == str(tmp_path / "a-2.png") and Image.open(rows[0]["label"]).mode == "P"
    )
    assert rows[0]["instead_of"] == str(tmp_path / "a.png")
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'a-2.png'}, not {tmp_path / 'a.png'}" in out
    assert "was already there" in out and "--overwrite" in out

    # a second call keeps the first call's outputs too
    again = infer_cli.main([str(photo), *args, "--quiet"])
    assert again[0]["label"] == str(tmp_path / "a-3.png")
    assert Image.open(tmp_path / "a-2.png").mode == "P"

    # --overwrite: files already there may be replaced; the input never is
    before = photo.read_bytes()
    rows = infer_cli.main([str(photo), *args, "--quiet", "--overwrite"])
    assert rows[0]["label"] == str(tmp_path / "a.png") and "instead_of" not in rows[0]
    assert Image.open(mine).mode == "P" and photo.read_bytes() == before


def test_an_overlay_name_already_there_is_kept(net_files, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "p_overlay.png").write_bytes(b"keep")
    rows = _run(net_files, _img(tmp_path / "p.png"), "--out", out)
    assert (out / "p_overlay.png").read_bytes() == b"keep"
    assert rows[0]["label"] == str(out / "p-2.png") and rows[0]["overlay"] == str(
        out / "p-2_overlay.png"
    )
    assert "p_overlay.png was already there" in rows[0]["why"]


def test_a_deploy_file_of_another_net_is_kept(net_files, tmp_path):
    """At a reduced width the net is generated into --out as <model>-deploy.prototxt: a file of
    that name holding something else is kept (the net goes beside it); the same net is reused."""
    out = tmp_path / "out"
    out.mkdir()
    theirs = out / "voc-fcn8s-deploy.prototxt"
    theirs.write_text('name: "my own net"\n')
    _run(net_files, _img(tmp_path / "p.png"), "--out", out)
    assert theirs.read_text() == 'name: "my own net"\n'
    ours = out / "voc-fcn8s-deploy-2.prototxt"
    made = ours.stat().st_mtime_ns
    _run(net_files, _img(tmp_path / "q.png"), "--out", out)
    assert ours.stat().st_mtime_ns == made and not (out / "voc-fcn8s-deploy-3.prototxt").exists()


def _nan_weights(path):
    net = zoo.build("voc-fcn8s", "deploy", width=WIDTH)
    params = random_weights(net, seed=5)
    params["conv1_1"][0][...] = np.nan
    caffeio.write_caffemodel(caffeio.params_to_net(params, net), str(path))
    return str(path)


def _other_width(path):
    net = zoo.build("voc-fcn8s", "deploy", width=2 * WIDTH)
    caffeio.write_caffemodel(caffeio.params_to_net(random_weights(net, seed=5), net), str(path))
    return str(path)


def _huge_weights(path):
    """Finite weights whose forward overflows (a diverged run's snapshot): its scores are NaN."""
    net = zoo.build("voc-fcn8s", "deploy", width=WIDTH)
    params = {k: [a * np.float32(1e12) for a in v] for k, v in random_weights(net, 5).items()}
    caffeio.write_caffemodel(caffeio.params_to_net(params, net), str(path))
    return str(path)


@pytest.mark.parametrize(
    "make", [_nan_weights, _other_width, _huge_weights], ids=["nan", "another-net", "diverged"]
)
def test_refused_weights_end_in_one_line(net_files, tmp_path, make):
    """NaN weights and another net's weights ended in a traceback (torchcaffe's WeightsError),
    finite weights whose forward is NaN in an all-background label map (rc 0): one line naming
    the file and what to do."""
    weights = make(tmp_path / "bad.caffemodel")
    with pytest.raises(SystemExit) as e:
        infer_cli.main([str(_img(tmp_path / "p.png")), "--weights", weights, "--width",
                        str(WIDTH), "--out", str(tmp_path / "o"), "--quiet"])  # fmt: skip
    msg = e.value.code
    assert isinstance(msg, str) and msg.startswith("error: ") and "\n" not in msg, msg
    assert weights in msg and ("conv1_1" in msg or make is _huge_weights)
    assert ("this net" in msg) if make is _other_width else ("earlier snapshot" in msg)
    assert not os.path.exists(tmp_path / "o" / "p.png")
