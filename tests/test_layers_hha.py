"""HHA encoding (layers.hha) on rendered rooms whose geometry is known in closed form.

A pinhole camera at a known height above a floor, pitched down and rolled by known angles,
sees a floor, three walls and a box; each pixel's depth, surface, world height and normal come
from ray casting. The encoder must find gravity within 0.5 deg, the height above the floor
within 1.5 cm, normals' angles with gravity within 1.5 deg away from surface edges, and the
disparity exactly; the uint8 channels follow the original's scalings.
"""

import os

import numpy as np
import pytest
from PIL import Image

from layers import hha
from layers.hha import HHAError, Intrinsics

K = Intrinsics(fx=259.4, fy=259.7, cx=159.3, cy=119.6)  # NYUDv2's camera at half size
SHAPE = (240, 320)

# a room 4 m wide and 5 m deep, a 80 x 75 x 80 cm box on the floor (metres, world Y up)
ROOM = dict(half_width=2.0, back=5.0, box=((0.4, 1.2), (0.0, 0.75), (2.2, 3.0)))


def camera(height, pitch, roll):
    """Camera-to-world rotation (columns: camera x, y (down), z (forward) in world coordinates,
    world Y up) and the camera centre."""
    t, r = np.radians(pitch), np.radians(roll)
    fwd = np.array([0.0, -np.sin(t), np.cos(t)])
    down = np.array([0.0, -np.cos(t), -np.sin(t)])
    right = np.cross(down, fwd)
    # roll about the viewing axis
    right, down = np.cos(r) * right + np.sin(r) * down, -np.sin(r) * right + np.cos(r) * down
    return np.stack([right, down, fwd], axis=1), np.array([0.0, height, 0.0])


def render(height=1.3, pitch=15.0, roll=4.0, k=K, shape=SHAPE, room=ROOM, ceiling=None):
    """Ray-cast the room -> depth (m), surface id, world height of the hit (m), angle between the
    surface normal and up (deg), the true up direction in camera coordinates."""
    rot, centre = camera(height, pitch, roll)
    h, w = shape
    u, v = np.meshgrid(np.arange(w, dtype=float), np.arange(h, dtype=float))
    d_cam = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u)], axis=-1)
    d = d_cam @ rot.T  # world directions; depth along the camera z is the ray parameter t
    hw, back = room["half_width"], room["back"]
    (bx0, bx1), (by0, by1), (bz0, bz1) = room["box"]
    planes = [  # (id, axis, value, normal sign along axis, extent test)
        (1, 1, 0.0, +1, lambda p: np.abs(p[..., 0]) <= hw),  # floor
        (2, 2, back, -1, lambda p: np.abs(p[..., 0]) <= hw),  # back wall
        (3, 0, -hw, +1, lambda p: p[..., 2] <= back),  # left wall
        (4, 0, hw, -1, lambda p: p[..., 2] <= back),  # right wall
        (5, 1, by1, +1, lambda p: _inside(p, (bx0, bx1), None, (bz0, bz1))),  # box top
        (6, 2, bz0, -1, lambda p: _inside(p, (bx0, bx1), (by0, by1), None)),  # box front
        (7, 0, bx0, -1, lambda p: _inside(p, None, (by0, by1), (bz0, bz1))),  # box left side
        (8, 0, bx1, +1, lambda p: _inside(p, None, (by0, by1), (bz0, bz1))),  # box right side
    ]
    if ceiling is not None:
        planes.append((9, 1, ceiling, -1, lambda p: np.abs(p[..., 0]) <= hw))
    depth = np.full(shape, np.inf)
    surface = np.zeros(shape, int)
    for sid, axis, value, _, inside in planes:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (value - centre[axis]) / d[..., axis]
        p = centre + t[..., None] * d
        hit = (t > 1e-6) & inside(p) & (t < depth)
        depth[hit], surface[hit] = t[hit], sid
    assert np.isfinite(depth).all(), "rays escaped the room"
    world = centre + depth[..., None] * d
    angle = np.where(np.isin(surface, (1, 5)), 0.0, np.where(surface == 9, 180.0, 90.0))
    up = rot.T @ np.array([0.0, 1.0, 0.0])
    return depth, surface, world[..., 1], angle, up


def _inside(p, xs, ys, zs, eps=1e-9):
    ok = np.ones(p.shape[:-1], bool)
    for axis, lim in enumerate((xs, ys, zs)):
        if lim is not None:
            ok &= (p[..., axis] >= lim[0] - eps) & (p[..., axis] <= lim[1] + eps)
    return ok


def interior(surface, radius):
    """Pixels whose (2r+1)^2 window lies on one surface and inside the image."""
    from scipy import ndimage

    out = np.zeros(surface.shape, bool)
    for sid in np.unique(surface):
        out |= ndimage.binary_erosion(
            surface == sid, np.ones((2 * radius + 1,) * 2), border_value=0
        )
    return out


def angle_between(a, b):
    return np.degrees(np.arccos(np.clip(np.dot(a, b), -1, 1)))


@pytest.mark.parametrize("pitch,roll", [(15.0, 4.0), (30.0, -8.0), (5.0, 0.0)])
def test_closed_form_room(pitch, roll):
    depth, surface, height, angle, up = render(pitch=pitch, roll=roll)
    c = hha.hha_channels(depth, K)
    assert angle_between(c.up, up) < 0.5  # gravity
    assert abs(c.ground + 1.3) < 0.015  # the floor is the lowest point, 1.3 m below
    np.testing.assert_allclose(c.height, 100 * height, atol=2.5)  # cm, every pixel
    inner = interior(surface, hha.NORMAL_RADIUS)
    assert inner.mean() > 0.8 and set(np.unique(surface[inner])) == set(range(1, 8))
    err = np.abs(c.angle - angle)[inner]
    assert err.max() < 1.0, err.max()
    np.testing.assert_array_equal(c.disparity, 310 / np.maximum(depth, 1.0))


def test_uint8_scalings_as_the_original():
    depth, surface, height, angle, _ = render()
    out = hha.encode(depth, "m", K)
    assert out.dtype == np.uint8 and out.shape == SHAPE + (3,)
    # disparity: 31000 / max(Z_cm, 100), MATLAB rounding and saturation
    expect = np.clip(np.floor(31000 / np.maximum(100 * depth, 100) + 0.5), 0, 255)
    np.testing.assert_array_equal(out[..., 0], expect)
    # height in cm, clipped to 0..255 (the box top is 75 cm, the walls' tops are cut at 255)
    assert np.abs(out[..., 1].astype(int) - np.clip(100 * height, 0, 255)).max() <= 2
    inner = interior(surface, hha.NORMAL_RADIUS)
    # angle + 38: floor and box top ~38, walls and box sides ~128
    ch3 = out[..., 2].astype(int)
    assert np.abs(ch3 - (angle + 38))[inner].max() <= 2
    assert set(np.unique(ch3[inner & (surface == 1)])) <= {37, 38, 39}
    assert set(np.unique(ch3[inner & (surface == 2)])) <= {127, 128, 129}


def test_low_camera_close_floor():
    """A camera 70 cm above the floor: the lowest point is < 90 cm below it, so the original's
    rule puts the ground 130 cm below (heights read 60 cm high); the floor nearer than 1.218 m
    saturates the disparity channel."""
    depth, surface, height, angle, up = render(height=0.7, pitch=45.0, roll=0.0)
    c = hha.hha_channels(depth, K)
    assert angle_between(c.up, up) < 0.5 and c.ground == -1.3
    np.testing.assert_allclose(c.height, 100 * (height + 0.6), atol=2.5)
    out = hha.encode(depth, "m", K)
    near = depth <= 310 / 254.5  # 254.5 rounds to 255
    assert near.any() and (out[..., 0][near] == 255).all() and (out[..., 0][~near] < 255).all()


def test_matlab_uint8():
    x = np.array([-3.0, 0.4, 0.5, 1.5, 2.5, 254.5, 300.0, np.nan, np.inf])
    np.testing.assert_array_equal(hha.to_uint8(x), [0, 0, 1, 2, 3, 255, 255, 0, 255])


def test_ceiling_is_180_degrees():
    """Looking up at a ceiling (no floor in view): its normal faces down, 180 deg from up
    (channel 218); the ground falls back to 130 cm below the camera, here the true floor."""
    depth, surface, height, angle, up = render(pitch=-20.0, roll=3.0, ceiling=2.4)
    assert (surface == 9).mean() > 0.2 and not (surface == 1).any()
    c = hha.hha_channels(depth, K)
    assert angle_between(c.up, up) < 0.5
    inner = interior(surface, hha.NORMAL_RADIUS)
    assert np.abs(c.angle - angle)[inner].max() < 1.0
    assert c.ground == -1.3
    np.testing.assert_allclose(c.height, 100 * height, atol=2.5)
    ch3 = hha.encode(depth, "m", K)[..., 2]
    assert set(np.unique(ch3[inner & (surface == 9)])) <= {217, 218, 219}


def test_no_floor_in_view_uses_the_130cm_rule():
    """Facing the back wall with no floor seen: the lowest point is < 90 cm below the camera,
    so the ground is put 130 cm below it (the original's rule)."""
    room = dict(ROOM, box=((9.0, 9.5), (0.0, 0.1), (9.0, 9.5)))  # box out of view
    depth, surface, height, _, _ = render(pitch=-10.0, roll=0.0, height=1.6, room=room)
    keep = height > 1.0  # crop to the part above 1 m: the lowest point is 0.6 m below
    rows = np.nonzero(keep.all(axis=1))[0]
    d = depth[rows]
    k = Intrinsics(K.fx, K.fy, K.cx, K.cy - rows[0])
    c = hha.hha_channels(d, k)
    assert c.ground == -1.3
    np.testing.assert_allclose(c.height, 100 * (height[rows] - 1.6 + 1.3), atol=2.5)


def test_missing_depth_is_filled_and_left_out_of_normals():
    depth, surface, height, angle, up = render()
    holed = depth.copy()
    holed[100:130, 200:240] = 0  # a hole on the back wall / box
    rng = np.random.default_rng(0)
    holed[rng.random(SHAPE) < 0.02] = 0  # speckle
    holed[5, 5] = np.nan
    c = hha.hha_channels(holed, K)
    assert angle_between(c.up, up) < 0.5
    far = interior(surface, 3) & (holed > 0)
    far[95:135, 195:245] = False
    assert np.abs(c.angle - angle)[far].max() < 1.0
    # the hole takes the nearest measured depth: disparity stays within the hole's neighbours
    hole = np.s_[100:130, 200:240]
    ring = 310 / np.maximum(depth[98:132, 198:242], 1)
    assert ring.min() - 1e-9 <= c.disparity[hole].min() <= c.disparity[hole].max() <= ring.max()
    # the filled depth with the raw mask gives the exact disparity inside the hole
    c2 = hha.hha_channels(depth, K, missing=holed == 0)
    np.testing.assert_array_equal(c2.disparity, 310 / np.maximum(depth, 1.0))
    assert angle_between(c2.up, up) < 0.5


def test_bad_inputs():
    depth = render()[0]
    with pytest.raises(HHAError, match="every depth pixel is 0"):
        hha.encode(np.zeros(SHAPE), "mm", K)
    with pytest.raises(HHAError, match="look like metres, use --units m"):
        hha.encode(depth, "mm", K)
    with pytest.raises(HHAError, match="look like millimetres"):
        hha.encode(depth * 1000, "m", K)
    with pytest.raises(HHAError, match="one channel"):
        hha.encode(np.dstack([depth] * 3), "m", K)
    with pytest.raises(HHAError, match="intrinsics are for 480x640"):
        hha.encode(depth, "m")  # the default camera is NYUDv2's 640x480
    with pytest.raises(HHAError, match="mask is"):
        hha.encode(depth, "m", K, missing=np.zeros((3, 3), bool))


def _write_depth(path, depth_mm):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.asarray(depth_mm, dtype=np.uint16)).save(path)


def test_cli_nyud_layout_default_camera(tmp_path, capsys):
    """640x480 uint16 mm depth in data/depth -> data/hha/img_<id>.png with the NYUDv2 camera;
    existing outputs are never replaced unless --overwrite."""
    k = hha.NYUD_COLOR
    depth, surface, _, angle, up = render(k=k, shape=(480, 640))
    mm = np.rint(depth * 1000)
    mm[200:220, 300:330] = 0  # missing
    d = tmp_path / "nyud" / "data" / "depth"
    _write_depth(str(d / "img_5001.png"), mm)
    _write_depth(str(d / "img_5002.png"), mm[:, ::-1])
    assert hha.main([str(d), "--units", "mm"]) == 0
    out = tmp_path / "nyud" / "data" / "hha"
    assert sorted(os.listdir(out)) == ["img_5001.png", "img_5002.png"]
    im = Image.open(out / "img_5001.png")
    assert im.mode == "RGB" and im.size == (640, 480)
    a = np.asarray(im)
    inner = interior(surface, 3) & (mm > 0)
    assert np.abs(a[..., 2].astype(int) - (angle + 38))[inner].max() <= 3  # 1 mm steps
    # nothing is replaced without --overwrite
    before = (out / "img_5001.png").read_bytes()
    (out / "img_5002.png").write_bytes(b"mine")
    assert hha.main([str(d), "--units", "mm"]) == 2
    err = capsys.readouterr().err
    assert "already exist" in err and "--overwrite" in err and "nothing written" in err
    assert (out / "img_5002.png").read_bytes() == b"mine"
    os.remove(out / "img_5001.png")
    assert hha.main([str(d), "--units", "mm", "--skip-existing"]) == 0
    assert (out / "img_5002.png").read_bytes() == b"mine"
    assert (out / "img_5001.png").read_bytes() == before
    assert hha.main([str(d / "img_5002.png"), "--units", "mm", "--overwrite"]) == 0
    assert (out / "img_5002.png").read_bytes() != b"mine"
    assert not [f for f in os.listdir(out) if f.startswith(".")]  # no temporary files left


def test_cli_intrinsics_raw_depth_and_errors(tmp_path, capsys):
    depth, surface, _, angle, _ = render()
    mm = np.rint(depth * 1000)
    f = tmp_path / "d.png"
    _write_depth(str(f), mm)
    cam = ["--fx", str(K.fx), "--fy", str(K.fy), "--cx", str(K.cx), "--cy", str(K.cy)]

    def run(*args):
        code = hha.main([str(a) for a in args])
        return code, capsys.readouterr().err

    code, err = run(f, tmp_path / "x.png", "--units", "mm")  # default camera: 640x480
    assert code == 2 and "intrinsics are for 480x640" in err and "--fx" in err
    code, err = run(f, tmp_path / "x.png", "--units", "mm", *cam)
    assert code == 0 and (tmp_path / "x.png").exists()
    code, err = run(f, "--units", "mm", *cam)
    assert code == 2 and "give OUT" in err
    code, err = run(f, tmp_path / "y.png", "--units", "m", *cam)
    assert code == 2 and "use --units mm" in err
    # a raw depth with holes: the filled depth keeps its values, the holes leave the normals
    raw = mm.copy()
    raw[50:80, 50:90] = 0
    _write_depth(str(tmp_path / "raw.png"), raw)
    code, _ = run(f, tmp_path / "r.png", "--units", "mm", "--raw-depth", tmp_path / "raw.png", *cam)
    assert code == 0
    a = np.asarray(Image.open(tmp_path / "r.png"))
    b = np.asarray(Image.open(tmp_path / "x.png"))
    np.testing.assert_array_equal(a[..., 0], b[..., 0])
    _write_depth(str(tmp_path / "small.png"), raw[:100])
    code, err = run(
        f, tmp_path / "s.png", "--units", "mm", "--raw-depth", tmp_path / "small.png", *cam
    )
    assert code == 2 and "same view" in err
    # wrong bit depth, all zero, not an image
    Image.fromarray(np.full(SHAPE, 7, np.uint8)).save(tmp_path / "eight.png")
    code, err = run(tmp_path / "eight.png", tmp_path / "e.png", "--units", "mm", *cam)
    assert code == 2 and "8-bit grey image is not depth" in err and "16-bit PNG" in err
    _write_depth(str(tmp_path / "zero.png"), np.zeros(SHAPE))
    code, err = run(tmp_path / "zero.png", tmp_path / "z.png", "--units", "mm", *cam)
    assert code == 2 and "every depth pixel is 0" in err and "zero.png" in err
    (tmp_path / "junk.png").write_bytes(b"not a png")
    code, err = run(tmp_path / "junk.png", tmp_path / "j.png", "--units", "mm", *cam)
    assert code == 2 and "cannot decode" in err
    assert not (tmp_path / "e.png").exists() and not (tmp_path / "z.png").exists()
    # float metres in a .npy
    np.save(tmp_path / "m.npy", depth)
    code, _ = run(tmp_path / "m.npy", tmp_path / "m.png", "--units", "m", *cam)
    assert code == 0
    m = np.asarray(Image.open(tmp_path / "m.png"))
    assert np.abs(m.astype(int) - b.astype(int)).max() <= 3  # mm rounding only


def test_synthetic_nyud_twin_with_the_encoder(tmp_path):
    """layers.synth's NYUD twin can write HHA made by this encoder from its own depth; the rest
    of the twin is unchanged, and the data layer reads it."""
    from layers.nyud import load_nyud_hha
    from layers.synth import make_nyud

    a, b = tmp_path / "a", tmp_path / "b"
    ids = make_nyud(str(a), n=3, size=(48, 64))
    assert make_nyud(str(b), n=3, size=(48, 64), hha_encoder=True) == ids
    for idx in ids:
        for sub in ("images", "depth"):
            name = f"data/{sub}/img_{idx}.png"
            assert (a / name).read_bytes() == (b / name).read_bytes()
        depth = np.asarray(Image.open(b / f"data/depth/img_{idx}.png"), dtype=np.float64)
        k = hha.NYUD_COLOR
        cam = Intrinsics(k.fx / 10, k.fy / 10, k.cx / 10, k.cy / 10)
        expect = hha.encode(depth, "mm", cam)
        np.testing.assert_array_equal(np.asarray(Image.open(b / f"data/hha/img_{idx}.png")), expect)
        assert load_nyud_hha(str(b), idx).shape == (3, 48, 64)
