"""Palette, colourised labels, overlays, panels and the training-log plotter."""

import json

import numpy as np
import pytest
from PIL import Image

from solvers.pictures import (
    colorize,
    make_palette,
    overlay,
    panels,
    plotlog,
    save_label_png,
    save_panels,
)


def bitwise_palette_entry(i):
    """VOC colour of class i, straight from the definition (bit 3k+c -> channel c, bit 7-k)."""
    rgb = [0, 0, 0]
    for k in range(8):
        for c in range(3):
            if i >> (3 * k + c) & 1:
                rgb[c] |= 1 << (7 - k)
    return tuple(rgb)


def test_palette_known_values():
    pal = make_palette(256)
    assert pal.shape == (256, 3) and pal.dtype == np.uint8
    assert tuple(pal[0]) == (0, 0, 0)
    assert tuple(pal[1]) == (128, 0, 0)
    assert tuple(pal[2]) == (0, 128, 0)
    assert tuple(pal[15]) == (192, 128, 128)  # person
    assert tuple(pal[255]) == (224, 224, 192)  # void
    for i in range(256):
        assert tuple(pal[i]) == bitwise_palette_entry(i)
    assert len({tuple(c) for c in pal}) == 256
    np.testing.assert_array_equal(make_palette(21), pal[:21])
    with pytest.raises(ValueError):
        make_palette(0)


def test_colorize_and_label_png(tmp_path):
    label = np.zeros((5, 7), np.int64)
    label[1:3, 2:5] = 15
    label[4, :] = 255
    rgb = colorize(label)
    assert rgb.shape == (5, 7, 3)
    assert tuple(rgb[1, 2]) == (192, 128, 128) and tuple(rgb[4, 0]) == (224, 224, 192)
    assert tuple(rgb[0, 0]) == (0, 0, 0)
    with pytest.raises(ValueError, match="outside the palette"):
        colorize(label - 1)
    path = str(tmp_path / "x.png")
    save_label_png(label, path)
    im = Image.open(path)
    assert im.mode == "P"  # pixel values are the class indices
    np.testing.assert_array_equal(np.asarray(im), label.astype(np.uint8))
    np.testing.assert_array_equal(np.asarray(im.convert("RGB")), rgb)


def test_overlay_and_panels(tmp_path):
    img = np.full((6, 8, 3), 100, np.uint8)
    label = np.zeros((6, 8), np.uint8)
    label[2:4, 2:4] = 1
    out = overlay(img, label, alpha=0.5)
    assert out.shape == (6, 8, 3)
    assert tuple(out[0, 0]) == (100, 100, 100)  # background left alone
    assert tuple(out[2, 2]) == (114, 50, 50)  # half (128, 0, 0), half 100
    with pytest.raises(ValueError, match="label is"):
        overlay(img, label[:3])
    arr = panels([img, label, img[:4]], ["a", "b", "c"], gap=2)
    assert arr.shape == (6 + 14, 8 * 3 + 4, 3)
    path = save_panels(str(tmp_path / "p.png"), [img, label, label], scale=2)
    assert Image.open(path).size == (2 * (24 + 8), 12)


GLOG = """\
I1121 13:39:20.000001 4242 solver.cpp:289] Solving voc-fcn8s
I1121 13:39:22.381027 4242 solver.cpp:218] Iteration 0 (0 iter/s, 0.5s/20 iters), loss = 3.0445
I1121 13:39:22.381100 4242 solver.cpp:237]     Train net output #0: loss = 3.04 (* 1 = 3.04 loss)
I1121 13:39:22.381200 4242 sgd_solver.cpp:105] Iteration 0, lr = 1e-14
I1121 13:40:22.381027 4242 solver.cpp:218] Iteration 20 (0.3 iter/s, 60s/20 iters), loss = 2.5
I1121 13:40:22.381200 4242 sgd_solver.cpp:105] Iteration 20, lr = 1e-14
I1121 13:41:00.000000 4242 solver.cpp:330] Iteration 40, Testing net (#0)
I1121 13:41:01.000000 4242 solver.cpp:406]     Test net output #0: accuracy = 0.75
I1121 13:41:22.381027 4242 solver.cpp:218] Iteration 40, loss = 1.25
>>> 2016-03-01 10:00:00.000000 Iteration 40 mean IU 0.512
>>> iteration 60
overall acc 0.9000  mean acc 0.7000  mean IU 0.6312  fwavacc 0.8000
I1121 13:45:00.000000 4242 solver.cpp:310] Optimization Done.
"""


def test_plotlog_reads_caffe_log_and_jsonl(tmp_path):
    log = tmp_path / "caffe.INFO"
    log.write_text(GLOG)
    parsed = plotlog.parse_log(str(log))
    assert parsed["format"] == "caffe"
    assert parsed["loss"] == [(0, 3.0445), (20, 2.5), (40, 1.25)]  # old and new formats
    assert parsed["lr"] == [(0, 1e-14), (20, 1e-14)]
    assert parsed["test"] == {"accuracy": [(40, 0.75)]}
    assert parsed["mean_iu"] == [(40, 0.512), (60, 0.6312)]

    jsonl = tmp_path / "train.jsonl"
    rows = [{"iter": i, "loss": 3.0 / i, "lr": 1e-3} for i in range(1, 41)]
    rows.insert(20, {"iter": 20, "scores": {"score": {"mean_iu": 0.25, "loss": 1.5}}})
    rows.append({"iter": 40, "scores": {"score": {"mean_iu": None}}})  # NaN written as null
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pj = plotlog.parse_log(str(jsonl))
    assert pj["format"] == "jsonl" and len(pj["loss"]) == 40 and pj["mean_iu"] == [(20, 0.25)]

    out = tmp_path / "curves.png"
    assert plotlog.main([str(log), str(jsonl), "--out", str(out)]) == 0
    im = Image.open(out)
    assert im.size == (1000, 380) and len(np.unique(np.asarray(im.convert("L")))) > 10

    bad = tmp_path / "notes.txt"
    bad.write_text("hello\nworld\n")
    with pytest.raises(plotlog.LogFormatError, match="notes.txt"):
        plotlog.parse_log(str(bad))
    (tmp_path / "broken.jsonl").write_text('{"iter": 1, "loss": 2}\n{oops\n')
    with pytest.raises(plotlog.LogFormatError, match="broken.jsonl:2"):
        plotlog.parse_log(str(tmp_path / "broken.jsonl"))


def test_smooth_is_a_trailing_average():
    assert plotlog.smooth([1, 2, 3, 4], window=2) == [1, 1.5, 2.5, 3.5]
