"""HHA: depth as three 8-bit channels (Gupta, Girshick, Arbelaez, Malik, ECCV 2014).

    python -m layers.hha data/nyud/data/depth --units mm            # -> data/nyud/data/hha/
    python -m layers.hha depth.png hha.png --units m --fx 525 --fy 525 --cx 319.5 --cy 239.5

    hha = encode(depth_mm, units="mm")                 # uint8 H x W x 3, NYUDv2 intrinsics
    parts = hha_channels(depth_m, NYUD_COLOR)          # the float channels and the gravity

The channels, in the order of the NYUDv2 FCN data's `data/hha/img_<id>.png` (read as RGB):

1. horizontal disparity: 310 / max(z, 1 m), z the depth in metres. The original writes
   31000 / Z with Z in centimetres clamped below at 100 cm ("to prevent large values"); the
   channel saturates at 255 for z <= 1.218 m.
2. height above the ground, in centimetres: the point's position along the estimated up
   direction minus that of the lowest observed point (the ground). When the lowest point is
   less than 90 cm below the camera the ground is taken 130 cm below the camera instead
   (the original's rule for views without floor). 0..255 cm.
3. angle between the local surface normal and gravity, in degrees, plus 38 (the original's
   `angle + 128 - 90`, "keeping some slack"): a floor is 0 deg -> 38, a wall 90 deg -> 128, a
   ceiling 180 deg -> 218.

Each channel becomes uint8 as MATLAB's `uint8()` does in the original: round half away from
zero, saturate to 0..255, undefined (NaN) -> 0. Facts from the paper (Sec. 3 and the
gravity estimate of Gupta, Arbelaez, Malik, CVPR 2013) and the published MATLAB encoder
(s-gupta/rcnn-depth: rcnn/saveHHA.m, mcg/depth_features/processDepthImage.m; s-gupta/rgbdutils:
getYDir.m); this is our own NumPy/SciPy implementation of those rules:

- back-projection with the pinhole intrinsics, x right, y down, z forward, pixel centres at
  integer (0-based) coordinates as in OpenCV-style calibrations. The default is NYUDv2's colour
  camera at 640 x 480 from the NYU Depth V2 toolbox's camera_params.m (fx 518.85790117450188,
  fy 519.46961112127485, cx 325.58244941119034, cy 253.73616633400465). The MATLAB code indexes
  pixels from 1 with the same cx, cy: its rays differ from ours by one pixel of the principal
  point (under 0.11 deg).
- surface normals by a plane fit to the valid points of a square window around each pixel
  (radius 3 for the angle channel, radius 10 for the gravity estimate, as the original's
  patch sizes); we fit by the smallest principal axis of the window's points (the original
  fits n.p = 1 by least squares, each point's equation divided by its depth). Normals face
  the camera.
- gravity: start from the camera's up (-y), then 5 iterations with a 45 deg and 5 with a 15 deg
  threshold: normals within the threshold of the current direction count as parallel to it,
  normals within the threshold of perpendicular as perpendicular, and the new direction is the
  one that best aligns with the first set while being orthogonal to the second (the eigenvector
  of sum(perp n n^T) - sum(par n n^T) with the smallest eigenvalue, signed like the previous).
- missing depth (0, negative or non-finite) is left out of every normal fit; the disparity and
  height channels need a depth everywhere: the original reads the dataset's in-painted depth
  there, we take the nearest valid pixel's depth unless the depth given is already filled and
  `missing` (e.g. from the raw depth, `--raw-depth`) says which pixels were measured. Where a
  window holds fewer than 3 valid points the angle is undefined (channel 3 = 0).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

__all__ = [
    "HHAError",
    "Intrinsics",
    "NYUD_COLOR",
    "HHAChannels",
    "back_project",
    "surface_normals",
    "estimate_gravity",
    "hha_channels",
    "to_uint8",
    "encode",
    "read_depth",
    "main",
]


class HHAError(ValueError):
    """A depth input the HHA encoder cannot use; the message names the file and what to do."""


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera: focal lengths and principal point in pixels (0-based pixel centres).

    size: (height, width) the values belong to, checked against the depth when set."""

    fx: float
    fy: float
    cx: float
    cy: float
    size: tuple | None = None


# NYU Depth V2 toolbox, camera_params.m: the colour camera (RGB intrinsics) at 640 x 480
NYUD_COLOR = Intrinsics(
    fx=5.1885790117450188e02,
    fy=5.1946961112127485e02,
    cx=3.2558244941119034e02,
    cy=2.5373616633400465e02,
    size=(480, 640),
)

NORMAL_RADIUS = 3  # window radius of the normals whose angle is channel 3 (original: 3)
GRAVITY_RADIUS = 10  # window radius of the normals the gravity estimate uses (original: 10)
GRAVITY_THRESHOLDS = (45.0, 15.0)  # degrees, one stage each (original: [45 15])
GRAVITY_ITERATIONS = (5, 5)  # iterations per stage (original: [5 5])
FLOOR_RULE = (0.9, 1.3)  # lowest point < 0.9 m below the camera: ground at 1.3 m below
MIN_DEPTH_DISPARITY = 1.0  # m; disparity = 310 / max(z, 1 m) (original: 31000 / max(Z_cm, 100))
ANGLE_OFFSET = 38.0  # channel 3 = angle + 128 - 90


def back_project(depth: np.ndarray, k: Intrinsics) -> np.ndarray:
    """Depth (H x W, metres) -> H x W x 3 points in metres: x right, y down, z forward."""
    h, w = depth.shape
    u = np.arange(w, dtype=np.float64)[None, :]
    v = np.arange(h, dtype=np.float64)[:, None]
    z = np.asarray(depth, dtype=np.float64)
    return np.stack([(u - k.cx) * z / k.fx, (v - k.cy) * z / k.fy, z], axis=-1)


def _box_sum(a, radius):
    """Sum of `a` over the (2r+1)^2 window around each pixel, zeros outside the image."""
    size = 2 * radius + 1
    return ndimage.uniform_filter(a, size=size, mode="constant", cval=0.0) * (size * size)


def surface_normals(points: np.ndarray, valid: np.ndarray, radius: int) -> np.ndarray:
    """Unit normals (H x W x 3) of the plane best fitting the valid points in the square window
    of `radius` around each pixel, facing the camera; NaN where fewer than 3 valid points (or
    only collinear ones) lie in the window. points: H x W x 3 metres; valid: H x W bool."""
    w = valid.astype(np.float64)
    # centre on a per-image reference so that the window sums keep their precision
    ref = points[valid].mean(axis=0) if valid.any() else np.zeros(3)
    p = np.where(valid[..., None], points - ref, 0.0)
    n = _box_sum(w, radius)
    s = [_box_sum(p[..., i], radius) for i in range(3)]
    pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    ss = {ij: _box_sum(p[..., ij[0]] * p[..., ij[1]], radius) for ij in pairs}
    ok = n >= 2.5  # 3 or more valid points (n is a float sum of ones)
    nn = np.where(ok, n, 1.0)
    mean = np.stack([si / nn for si in s], axis=-1)
    cov = np.empty(points.shape[:2] + (3, 3))
    for i, j in pairs:
        c = ss[(i, j)] / nn - mean[..., i] * mean[..., j]
        cov[..., i, j] = cov[..., j, i] = c
    out = np.full(points.shape, np.nan)
    idx = np.nonzero(ok)
    if idx[0].size:
        evals, evecs = np.linalg.eigh(cov[idx])
        normal = evecs[:, :, 0]
        planar = evals[:, 1] > 1e-12 * np.maximum(evals[:, 2], 1e-300)  # not a line or a point
        centre = mean[idx] + ref  # the window's centroid, seen from the camera at the origin
        flip = np.sum(normal * centre, axis=1) > 0
        normal[flip] *= -1
        normal[~planar] = np.nan
        out[idx] = normal
    return out


def estimate_gravity(
    normals: np.ndarray,
    up: Sequence[float] = (0.0, -1.0, 0.0),
    thresholds: Sequence[float] = GRAVITY_THRESHOLDS,
    iterations: Sequence[int] = GRAVITY_ITERATIONS,
) -> np.ndarray:
    """The up direction (unit 3-vector, camera coordinates) most normals are parallel or
    perpendicular to; normals: ... x 3 (NaN rows ignored); up: the starting guess."""
    nrm = np.asarray(normals, dtype=np.float64).reshape(-1, 3)
    nrm = nrm[np.isfinite(nrm).all(axis=1)]
    if not len(nrm):
        raise HHAError("no surface normal could be estimated: too few valid depth pixels")
    g = np.asarray(up, dtype=np.float64)
    g = g / np.linalg.norm(g)
    for thresh, count in zip(thresholds, iterations):
        cos_t, sin_t = np.cos(np.radians(thresh)), np.sin(np.radians(thresh))
        for _ in range(count):
            c = np.abs(nrm @ g)
            par, perp = nrm[c > cos_t], nrm[c < sin_t]
            if not len(par) and not len(perp):
                break
            a = perp.T @ perp - par.T @ par
            _, vecs = np.linalg.eigh(a)
            new = vecs[:, 0]
            g = new if new @ g >= 0 else -new
    return g


@dataclass
class HHAChannels:
    """The HHA channels before uint8 scaling, each H x W float64: disparity (310 / max(z, 1 m)),
    height (cm above the ground), angle (degrees between normal and up; NaN: undefined); up:
    the estimated up direction in camera coordinates (x right, y down, z forward); ground:
    the ground's position along `up` in metres (negative: below the camera)."""

    disparity: np.ndarray
    height: np.ndarray
    angle: np.ndarray
    up: np.ndarray
    ground: float


def hha_channels(
    depth: np.ndarray, intrinsics: Intrinsics = NYUD_COLOR, missing: np.ndarray | None = None
) -> HHAChannels:
    """Depth in metres (H x W; <= 0 or non-finite = missing) -> HHAChannels.

    missing: H x W bool of pixels without a measurement when `depth` is already filled there
    (they are left out of the normals but keep their filled depth for disparity and height)."""
    depth = np.asarray(depth, dtype=np.float64)
    bad = ~np.isfinite(depth) | (depth <= 0)
    valid = ~bad if missing is None else ~bad & ~np.asarray(missing, dtype=bool)
    if not valid.any():
        raise HHAError("the depth has no valid pixel (all zero or missing)")
    filled = depth
    if bad.any():  # nearest valid (measured or filled) depth where there is none
        _, (iy, ix) = ndimage.distance_transform_edt(bad, return_indices=True)
        filled = depth[iy, ix]
    points = back_project(filled, intrinsics)
    up = estimate_gravity(surface_normals(points, valid, GRAVITY_RADIUS))
    normals = surface_normals(points, valid, NORMAL_RADIUS)
    angle = np.degrees(np.arccos(np.clip(normals @ up, -1.0, 1.0)))
    along = points @ up
    ground = float(along[valid].min())
    if ground > -FLOOR_RULE[0]:
        ground = -FLOOR_RULE[1]
    height = 100.0 * (along - ground)
    disparity = 310.0 / np.maximum(filled, MIN_DEPTH_DISPARITY)
    return HHAChannels(disparity, height, angle, up, ground)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """MATLAB's uint8(x): round half away from zero, saturate to 0..255, NaN -> 0."""
    x = np.asarray(x, dtype=np.float64)
    r = np.sign(x) * np.floor(np.abs(x) + 0.5)
    return np.clip(np.nan_to_num(r, nan=0.0), 0, 255).astype(np.uint8)


def _metres(depth, units, name):
    if units not in ("mm", "m"):
        raise HHAError(f"{name}: units must be 'mm' or 'm', not {units!r}")
    d = np.asarray(depth, dtype=np.float64)
    if d.ndim != 2:
        raise HHAError(
            f"{name}: depth must be one channel (H x W), got shape {d.shape}: a colour image "
            "is not a depth map"
        )
    good = d[np.isfinite(d) & (d > 0)]
    if not good.size:
        raise HHAError(f"{name}: every depth pixel is 0 or missing: nothing to encode")
    med = float(np.median(good))
    if units == "mm" and med < 50:
        raise HHAError(
            f"{name}: median depth {med:g} read as millimetres puts the scene {med / 10:g} cm "
            "from the camera: the values look like metres, use --units m"
        )
    if units == "m" and med > 50:
        raise HHAError(
            f"{name}: median depth {med:g} read as metres puts the scene {med / 1000:g} km "
            "away: the values look like millimetres (16-bit depth PNGs, NYUDv2, Kinect), use "
            "--units mm"
        )
    return d / 1000.0 if units == "mm" else d


def _check_size(shape, intrinsics, name):
    if intrinsics.size is not None and tuple(shape) != tuple(intrinsics.size):
        h, w = intrinsics.size
        raise HHAError(
            f"{name}: depth is {shape[0]}x{shape[1]} but the camera intrinsics are for {h}x{w} "
            "images (NYUDv2's colour camera by default): pass your camera's --fx --fy --cx "
            "--cy (for a crop of the 640x480 frame subtract the crop's left/top from cx/cy; "
            "for a resize scale all four)"
        )


def encode(
    depth: np.ndarray,
    units: str = "mm",
    intrinsics: Intrinsics = NYUD_COLOR,
    missing: np.ndarray | None = None,
    name: str = "depth",
) -> np.ndarray:
    """Depth (H x W, millimetres or metres; 0 = missing) -> HHA uint8 H x W x 3.

    intrinsics: the depth's camera (NYUDv2's colour camera at 640 x 480 by default); missing:
    see hha_channels. Raises HHAError naming `name` for unusable input."""
    d = _metres(depth, units, name)
    _check_size(d.shape, intrinsics, name)
    if missing is not None and np.shape(missing) != d.shape:
        raise HHAError(f"{name}: the missing-pixel mask is {np.shape(missing)}, depth {d.shape}")
    c = hha_channels(d, intrinsics, missing)
    return np.stack(
        [to_uint8(c.disparity), to_uint8(c.height), to_uint8(c.angle + ANGLE_OFFSET)], axis=-1
    )


# --- files ---------------------------------------------------------------------------------

DEPTH_SUFFIXES = (".png", ".tif", ".tiff", ".npy")


def read_depth(path: str, units: str) -> np.ndarray:
    """A depth file -> H x W float64 in its stored units: a single-channel 16-bit PNG (the
    NYUDv2/Kinect convention: millimetres), a 32-bit float TIFF or a .npy array."""
    if not os.path.isfile(path):
        raise HHAError(f"{path}: no such depth file")
    if path.lower().endswith(".npy"):
        try:
            a = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise HHAError(f"{path}: cannot read the .npy array ({e})") from None
        if a.dtype.kind not in "iuf":
            raise HHAError(f"{path}: a {a.dtype} array is not depth (numbers expected)")
        return np.asarray(a, dtype=np.float64)
    from PIL import Image

    try:
        im = Image.open(path)
        im.load()
    except Exception as e:  # noqa: BLE001 - PIL raises many types for foreign/truncated files
        raise HHAError(f"{path}: cannot decode the image ({e})") from None
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        if units == "m":
            raise HHAError(
                f"{path}: a 16-bit integer image holds whole units: read as metres its depth "
                "has 1 m steps; 16-bit depth PNGs hold millimetres: use --units mm"
            )
        return np.asarray(im, dtype=np.float64)
    if im.mode == "F":
        return np.asarray(im, dtype=np.float64)
    bits = {"1": "1-bit", "L": "8-bit grey", "P": "8-bit palette", "LA": "8-bit grey+alpha"}
    raise HHAError(
        f"{path}: a {bits.get(im.mode, im.mode + ' colour')} image is not depth: HHA needs a "
        "single-channel 16-bit PNG (millimetres, 0 = missing), a 32-bit float TIFF or a .npy "
        "array (8 bits cannot hold indoor depth)"
    )


def _inputs(src):
    if os.path.isdir(src):
        files = sorted(
            os.path.join(src, f)
            for f in os.listdir(src)
            if f.lower().endswith(DEPTH_SUFFIXES) and not f.startswith(".")
        )
        if not files:
            raise HHAError(f"{src}: no depth files ({', '.join(DEPTH_SUFFIXES)}) in the folder")
        return files, True
    if not os.path.exists(src):
        raise HHAError(f"{src}: no such file or folder")
    return [src], False


def _default_out(src, is_dir):
    folder = os.path.normpath(src if is_dir else os.path.dirname(os.path.abspath(src)))
    if os.path.basename(folder) != "depth":
        raise HHAError(
            f"{src}: give OUT (the default, a `hha` folder beside a `depth` folder as in "
            "NYUDv2's data/depth -> data/hha, applies only to inputs in a folder named depth)"
        )
    return os.path.join(os.path.dirname(folder), "hha")


def _outputs(files, out, is_dir):
    def name(f):
        return os.path.splitext(os.path.basename(f))[0] + ".png"

    if not is_dir and out.lower().endswith(".png") and not os.path.isdir(out):
        return [out]
    if os.path.exists(out) and not os.path.isdir(out):
        raise HHAError(f"{out}: exists and is not a folder: give a folder or a new .png path")
    return [os.path.join(out, name(f)) for f in files]


def _raw_for(raw, depth_file, is_dir):
    if raw is None:
        return None
    if os.path.isdir(raw):
        path = os.path.join(raw, os.path.basename(depth_file))
        if not os.path.isfile(path):
            raise HHAError(f"{path}: --raw-depth has no file named like {depth_file}")
        return path
    if is_dir:
        raise HHAError(f"--raw-depth {raw}: a folder of depth files needs a folder of raw ones")
    return raw


def _write_png(hha, path):
    from PIL import Image

    from caffeio.atomic import atomic_path

    with atomic_path(path) as tmp:
        Image.fromarray(hha, "RGB").save(tmp, format="PNG")


def _intrinsics(args):
    given = {k: getattr(args, k) for k in ("fx", "fy", "cx", "cy") if getattr(args, k) is not None}
    for k, v in given.items():
        if not np.isfinite(v) or (k in ("fx", "fy") and v <= 0):
            raise HHAError(f"--{k} {v}: focal lengths must be > 0 and all values finite")
    return replace(NYUD_COLOR, size=None, **given) if given else NYUD_COLOR


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m layers.hha",
        description="Encode depth as HHA PNGs (disparity, height, angle; NYUDv2's data/hha).",
    )
    p.add_argument("depth", help="a depth file (16-bit PNG, float TIFF, .npy) or a folder of them")
    p.add_argument(
        "out",
        nargs="?",
        help="output .png or folder (default: the `hha` folder beside an input `depth` folder)",
    )
    p.add_argument("--units", required=True, choices=("mm", "m"), help="units of the depth values")
    for k, v in (("fx", NYUD_COLOR.fx), ("fy", NYUD_COLOR.fy)):
        p.add_argument(f"--{k}", type=float, help=f"focal length in pixels (default {v:.4f})")
    for k, v in (("cx", NYUD_COLOR.cx), ("cy", NYUD_COLOR.cy)):
        p.add_argument(f"--{k}", type=float, help=f"principal point, 0-based (default {v:.4f})")
    p.add_argument(
        "--raw-depth",
        help="raw (unfilled) depth file/folder: its 0 pixels are left out of the normals",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--overwrite", action="store_true", help="replace existing output files")
    g.add_argument("--skip-existing", action="store_true", help="leave existing outputs alone")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command line; returns the exit status (0 done, 2 bad input: nothing more written)."""
    args = _parser().parse_args(argv)
    done = 0
    try:
        k = _intrinsics(args)
        files, is_dir = _inputs(args.depth)
        out = args.out or _default_out(args.depth, is_dir)
        targets = _outputs(files, out, is_dir)
        existing = [t for t in targets if os.path.exists(t)]
        if existing and not (args.overwrite or args.skip_existing):
            raise HHAError(
                f"{existing[0]}"
                + (f" and {len(existing) - 1} more output(s)" if len(existing) > 1 else "")
                + " already exist: nothing written; pass --overwrite to replace them or "
                "--skip-existing to encode only the missing ones"
            )
        from tqdm import tqdm

        todo = [(f, t) for f, t in zip(files, targets) if args.overwrite or t not in existing]
        for f, t in tqdm(todo, desc="HHA", unit="image", disable=len(todo) < 2, file=sys.stderr):
            depth, missing = read_depth(f, args.units), None
            raw = _raw_for(args.raw_depth, f, is_dir)
            if raw is not None:
                rd = read_depth(raw, args.units)
                if rd.shape != depth.shape:
                    raise HHAError(
                        f"{raw}: raw depth is {rd.shape[0]}x{rd.shape[1]} but depth {f} is "
                        f"{depth.shape[0]}x{depth.shape[1]}: they must be the same view"
                    )
                missing = ~(np.isfinite(rd) & (rd > 0))
            hha = encode(depth, args.units, k, missing, name=f)
            _write_png(hha, t)
            done += 1
    except HHAError as e:
        note = f" ({done} file(s) written before it; rerun with --skip-existing)" if done else ""
        print(f"python -m layers.hha: error: {e}{note}", file=sys.stderr)
        return 2
    except OSError as e:  # caffeio's CaffeWriteError (full disk, read-only folder) included
        print(f"python -m layers.hha: error: {e}", file=sys.stderr)
        return 2
    skipped = len(files) - len(todo)
    where = os.path.dirname(os.path.abspath(targets[0])) if targets else out
    extra = f", {skipped} existing left alone" if skipped else ""
    print(f"HHA: {done} image(s) written to {where}{extra}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
