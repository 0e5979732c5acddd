"""A user's own dataset (zoo/userdata.py's folder layout): the data layer reads palette, grey and
RGB-coloured labels alike; every layout mistake stops with a message naming the file, the value
and what to do; the split, mean and check commands (python -m layers.folder)."""

import os
import shutil

import numpy as np
import pytest
from PIL import Image
from test_layers_preprocessing import Blob, serve

from layers.errors import DataError
from layers.folder import FolderSegDataLayer
from layers.folder.__main__ import main as folder_main
from layers.folder.tools import check, compute_mean, write_mean, write_split
from layers.synth import make_folder_dataset, voc_palette
from zoo import userdata

SIZE = (24, 32)


def make(tmp_path, labels="palette", n=6, name="data"):
    root = str(tmp_path / name)
    ids = make_folder_dataset(root, n=n, size=SIZE, seed=3, labels=labels)
    return root, ids


def setup(root, split="train", **extra):
    layer = FolderSegDataLayer()
    layer.param_str = repr(dict(data_dir=root, split=split, **extra))
    tops = [Blob(), Blob()]
    layer.setup([], tops)
    return layer, tops


def labels_of(root, n):
    out = serve(FolderSegDataLayer, dict(data_dir=root, split="val"), 2, n)
    return {idx: tops[1][0, 0].astype(int) for idx, tops in out}


def test_palette_grey_and_rgb_labels_read_alike(tmp_path):
    roots = {kind: make(tmp_path, kind, name=kind)[0] for kind in ("palette", "grey", "rgb")}
    read = {kind: labels_of(root, 6) for kind, root in roots.items()}
    assert read["palette"].keys() == read["grey"].keys() == read["rgb"].keys()
    for idx, lab in read["palette"].items():
        assert lab.shape == SIZE and set(np.unique(lab)) <= {0, 1, 2, 3, 255}
        np.testing.assert_array_equal(lab, read["grey"][idx])
        np.testing.assert_array_equal(lab, read["rgb"][idx])
    assert any((lab == 255).any() for lab in read["palette"].values())  # the ignore outlines
    # no split lists: every pair, in name order; the image is BGR minus the mean
    (_, (img, _)), *_ = serve(FolderSegDataLayer, dict(data_dir=roots["grey"], split="val"), 2, 1)
    rgb = np.asarray(Image.open(os.path.join(roots["grey"], "images", "shape_0000.jpg")))
    mean = np.array([104.00699, 116.66877, 122.67892], np.float32)
    np.testing.assert_allclose(img[0], rgb[:, :, ::-1].transpose(2, 0, 1) - mean[:, None, None])


def test_void_label_and_mean_file(tmp_path):
    root, ids = make(tmp_path, "grey")
    path = os.path.join(root, "labels", f"{ids[0]}.png")
    lab = np.asarray(Image.open(path)).copy()
    lab[lab == 255] = 9  # the dataset marks its unlabelled pixels 9
    Image.fromarray(lab).save(path)
    with open(os.path.join(root, "val.txt"), "w") as f:
        f.write(f"{ids[0]}\n")
    with open(os.path.join(root, "mean.txt"), "w") as f:
        f.write("# B G R\n1 2 3\n")
    (_, (img, got)), *_ = serve(FolderSegDataLayer, dict(data_dir=root, split="val", void_label=9),
                                2, 1)  # fmt: skip
    np.testing.assert_array_equal(got[0, 0], np.where(lab == 9, 255, lab))
    rgb = np.asarray(Image.open(os.path.join(root, "images", f"{ids[0]}.jpg")), np.float32)
    np.testing.assert_allclose(img[0, 0], rgb[:, :, 2] - 1)  # blue minus the mean's B
    with pytest.raises(DataError, match=r"values outside the 4 classes.*9 \([\d,]+ px\)"):
        labels_of(root, 1)  # read as 255-ignore, 9 is no class


def _message(excinfo):
    return str(excinfo.value)


def test_unpaired_files_are_listed(tmp_path):
    root, ids = make(tmp_path, n=8)
    for idx in ids[:7]:
        os.remove(os.path.join(root, "labels", f"{idx}.png"))
    shutil.copy(
        os.path.join(root, "labels", f"{ids[7]}.png"), os.path.join(root, "labels", "x.png")
    )
    with pytest.raises(DataError) as e:
        setup(root)
    msg = _message(e)
    assert "7 pictures (shape_0000.jpg, shape_0001.jpg" in msg and "and 2 more" in msg
    assert "1 label PNGs (x.png) in labels/ have no picture" in msg and root in msg


def test_label_values_outside_the_classes(tmp_path):
    root, ids = make(tmp_path, "grey")
    path = os.path.join(root, "labels", f"{ids[1]}.png")
    lab = np.asarray(Image.open(path)).copy()
    lab[:2, :5] = 7
    lab[5, :3] = 12
    Image.fromarray(lab).save(path)
    with open(os.path.join(root, "val.txt"), "w") as f:
        f.write(f"{ids[1]}\n")
    with pytest.raises(DataError) as e:
        labels_of(root, 1)
    msg = _message(e)
    assert f"id '{ids[1]}'" in msg and path in msg and "0..3" in msg
    assert "7 (10 px), 12 (3 px)" in msg and "greyscale PNG" in msg


def test_size_mismatch_names_both_sizes(tmp_path):
    root, ids = make(tmp_path)
    path = os.path.join(root, "labels", f"{ids[0]}.png")
    Image.open(path).crop((0, 0, 30, 24)).save(path)
    with pytest.raises(DataError, match=r"sizes differ \(image 24x32, label 24x30\)"):
        labels_of(root, 1)


def test_palette_and_grey_labels_mixed(tmp_path):
    root, ids = make(tmp_path)
    path = os.path.join(root, "labels", f"{ids[1]}.png")
    Image.fromarray(np.asarray(Image.open(path))).save(path)  # re-saved as greyscale
    with pytest.raises(DataError) as e:
        labels_of(root, 2)
    msg = _message(e)
    assert "grey PNG but" in msg and f"{ids[0]}.png is a palette PNG" in msg
    report = check(root)
    assert any("mix kinds: 5 palette" in p and "1 grey" in p for p in report.problems)


def test_rgb_labels_need_a_colour_map(tmp_path):
    root, ids = make(tmp_path, "rgb")
    os.remove(os.path.join(root, "colors.txt"))
    with pytest.raises(DataError, match="RGB-coloured.*colors.txt"):
        labels_of(root, 1)
    with open(os.path.join(root, "colors.txt"), "w") as f:
        f.write("0 0 0 background\n128 0 0 disc\n")
    with pytest.raises(DataError, match=r"colour\(s\) colors.txt does not map: \("):
        labels_of(root, 1)
    with open(os.path.join(root, "colors.txt"), "w") as f:
        f.write("0 0 0 bird\n")
    with pytest.raises(DataError, match="line 1: 'bird' is no class of classes.txt"):
        setup(root)


def test_empty_split_and_missing_files(tmp_path):
    root, ids = make(tmp_path)
    open(os.path.join(root, "train.txt"), "w").write("\n")
    with pytest.raises(DataError, match="the split 'train' is empty"):
        setup(root)
    open(os.path.join(root, "train.txt"), "w").write(f"{ids[0]}\nnosuch\n")
    with pytest.raises(DataError, match="id 'nosuch': image not found; also label of 'nosuch'"):
        setup(root)


def test_classes_file_mistakes(tmp_path):
    root, _ = make(tmp_path)
    path = os.path.join(root, "classes.txt")
    os.remove(path)
    with pytest.raises(DataError, match="classes.txt: not found; write the class names"):
        setup(root)
    open(path, "w").write("background\n\ndisc\n")
    with pytest.raises(DataError, match="line 2: empty"):
        setup(root)
    open(path, "w").write("background\ndisc\nbackground\n")
    with pytest.raises(DataError, match="line 3: 'background' is named already on line 1"):
        setup(root)
    open(path, "w").write("background\ndisc\nsquare\nball\n")
    with pytest.raises(DataError, match="made for 5 classes but classes.txt now lists 4"):
        setup(root, classes=5)


def test_jpeg_labels_are_refused(tmp_path):
    root, ids = make(tmp_path)
    Image.new("L", (4, 4)).save(os.path.join(root, "labels", "extra.jpg"))
    with pytest.raises(DataError, match="1 label files are not PNG.*extra.jpg.*JPEG compression"):
        setup(root)


def test_split_command_is_deterministic_and_keeps_lists(tmp_path, capsys):
    root, ids = make(tmp_path, n=10)
    train, val = write_split(root, val=0.3, seed=4)
    assert len(val) == 3 and sorted(train + val) == ids and not set(train) & set(val)
    assert open(os.path.join(root, "val.txt")).read().split() == val
    other = make(tmp_path, n=10, name="again")[0]
    assert write_split(other, val=0.3, seed=4) == (train, val)  # same ids, same seed
    assert folder_main(["split", root]) == 1
    assert "exist already" in capsys.readouterr().err
    assert userdata.split_ids(root, "train") == (train, True)


def test_mean_command(tmp_path, capsys):
    root, ids = make(tmp_path, n=4)
    open(os.path.join(root, "train.txt"), "w").write(f"{ids[0]}\n{ids[2]}\n")
    pics = [np.asarray(Image.open(os.path.join(root, "images", f"{i}.jpg"))) for i in ids[::2]]
    want = np.concatenate([p.reshape(-1, 3) for p in pics]).mean(axis=0)[::-1]
    mean, n, _ = compute_mean(root)
    np.testing.assert_allclose(mean, want, rtol=1e-12)
    assert n == 2
    assert folder_main(["mean", root]) == 0
    assert np.allclose(userdata.mean(root), want, atol=1e-5)
    with pytest.raises(userdata.UserDataError, match="mean.txt exists already"):
        write_mean(root)


def test_check_command_reports(tmp_path, capsys):
    root, ids = make(tmp_path, "grey", n=5)
    assert folder_main(["check", root]) == 0
    out = capsys.readouterr().out
    assert "5 pairs, 4 classes" in out and "5 grey" in out and "ok:" in out
    assert "1 disc" in out and "train: 5 images (no list: every pair)" in out
    path = os.path.join(root, "labels", f"{ids[3]}.png")
    lab = np.asarray(Image.open(path)).copy()
    lab[0, 0] = 50
    Image.fromarray(lab).save(path)
    os.remove(os.path.join(root, "images", f"{ids[4]}.jpg"))
    assert folder_main(["check", root]) == 1
    err = capsys.readouterr().err
    assert "50 (1 px)" in err and f"{ids[4]}.png" in err and "2 problem(s)" in err


def test_twin_palette_is_the_voc_palette(tmp_path):
    root, ids = make(tmp_path)
    im = Image.open(os.path.join(root, "labels", f"{ids[0]}.png"))
    assert im.mode == "P" and bytes(im.getpalette()[:768]) == voc_palette().tobytes()
    assert userdata.classes(root) == ("background", "disc", "square", "ball")
