"""A smoke test of `make demo`'s pieces at tiny size (the full demo is not a unit test)."""

import json
import os

import numpy as np
from PIL import Image

from solvers.demos import staged as demo
from solvers.pictures import make_palette


def test_demo_tiny_end_to_end_and_rerun(tmp_path, capsys):
    out = str(tmp_path / "demo")
    argv = ["--out", out, "--width", "0.03125", "--iters", "3", "3", "6",
            "--n-train", "4", "--n-val", "2", "--size", "48", "56", "--overlays", "2",
            "--no-progress"]  # fmt: skip
    results = demo.main(argv)
    text = capsys.readouterr().out
    assert 0.0 <= results["mean_iu"] <= 1.0
    assert "mean IU on the synthetic seg11valid" in text and "weights were random" in text
    assert "each stage, while training: voc-fcn32s" in text
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert metrics["model"] == "voc-fcn8s" and "mean_iu" in metrics["results"]["score"]
    assert metrics["results"]["score"]["images"] == 2

    data = json.load(open(os.path.join(out, "data", ".complete")))
    assert len(data["val"]) == 2
    for idx in data["val"]:
        panel = np.asarray(Image.open(os.path.join(out, "overlays", f"{idx}.png")))
        # 4 panels of 56 px + 3 gaps of 4, title strip 14, all scaled by 2
        assert panel.shape == (2 * (48 + 14), 2 * (4 * 56 + 12), 3)
        gt = np.asarray(
            Image.open(os.path.join(data["voc_dir"], "SegmentationClass", f"{idx}.png"))
        )
        # the ground-truth panel shows the label in the VOC palette where the objects are
        gt_panel = panel[28::2, 2 * 60 :: 2][:48, :56]
        np.testing.assert_array_equal(gt_panel, make_palette(256)[gt])
        assert set(np.unique(gt)) - {0, 255} <= set(demo.CLASSES)
    assert Image.open(os.path.join(out, "curves.png")).size == (1000, 380)
    # the staged chain: 32s -> 16s -> 8s, each from the previous stage's trained weights
    for model in demo.STAGES:
        assert os.path.exists(os.path.join(out, "runs", model, f"{model}.caffemodel"))
    log = os.path.join(out, "runs", "voc-fcn8s", "snapshot", "train.jsonl")
    rows = [json.loads(line) for line in open(log)]
    assert [r["iter"] for r in rows if "scores" in r] == [2, 4, 6]

    # a second run reuses data, base weights and the trained net, and gives the same result
    again = demo.main(argv)
    assert again["mean_iu"] == results["mean_iu"]
    assert capsys.readouterr().err.count("reusing") == len(demo.STAGES)
    rows2 = [json.loads(line) for line in open(log)]
    assert rows2 == rows
