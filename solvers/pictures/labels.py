"""Pictures of segmentations: the VOC palette, label PNGs, colourised labels, overlays, panels.

    from solvers.pictures import make_palette, colorize, overlay, panels, save_panels
    pal = make_palette(256)                  # (256, 3) uint8, class 1 = (128, 0, 0)
    rgb = colorize(label)                    # H x W int labels -> H x W x 3 uint8
    save_label_png(label, "x.png")           # palette PNG: pixel value = class index
    save_panels("x.png", [image, colorize(gt), colorize(pred)], ["image", "truth", "pred"])

Every function works on uint8 RGB arrays (H x W x 3) and integer label maps (H x W, 255 =
void). Label PNGs are palette-mode files (the VOC convention: pixel value = class index).
Files are written atomically (caffeio.atomic).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "make_palette",
    "colorize",
    "overlay",
    "panels",
    "save_panels",
    "save_label_png",
    "to_rgb",
    "label_legend",
    "legend_panel",
]

VOID = 255


def make_palette(n: int = 256) -> np.ndarray:
    """The VOC bit-interleaved colour map: (n, 3) uint8, row i = RGB of class i.

    Bits 0/1/2 of the class index go to the top bits of R/G/B, the next three bits to the next
    bits, and so on: class 1 = (128, 0, 0), 15 = (192, 128, 128), 255 (void) = (224, 224, 192).
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"make_palette: n must be a positive int, got {n!r}")
    pal = np.zeros((int(n), 3), np.uint8)
    for i in range(int(n)):
        c, rgb = i, [0, 0, 0]
        for j in range(8):
            for k in range(3):
                rgb[k] |= ((c >> k) & 1) << (7 - j)
            c >>= 3
        pal[i] = rgb
    return pal


def save_label_png(label: np.ndarray, path: str) -> None:
    """Write an (H, W) integer label map as a palette PNG (values 0..255; 255 = void)."""
    arr = np.asarray(label)
    if arr.ndim != 2:
        raise ValueError(f"{path}: a label image must be H x W, got shape {arr.shape}")
    img = Image.fromarray(arr.astype(np.uint8), mode="P")
    img.putpalette(make_palette().ravel().tolist())
    _save_atomic(img, path)


def _save_atomic(img: Image.Image, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    from caffeio.atomic import atomic_path

    with atomic_path(path) as tmp:  # unpredictable temp name, umask-honouring mode
        img.save(tmp, format="PNG")


def colorize(label: np.ndarray, palette: np.ndarray | None = None) -> np.ndarray:
    """H x W integer label map -> H x W x 3 uint8 RGB through `palette` (default VOC, 256).

    Values outside 0..len(palette)-1 raise ValueError (labels are class indices, 255 = void).
    """
    label = np.asarray(label)
    if label.ndim == 3 and label.shape[0] == 1:
        label = label[0]
    if label.ndim != 2:
        raise ValueError(f"colorize: a label map must be H x W, got shape {label.shape}")
    pal = make_palette(256) if palette is None else np.asarray(palette, np.uint8)
    if label.size and (label.min() < 0 or label.max() >= len(pal)):
        raise ValueError(
            f"colorize: label values {label.min()}..{label.max()} fall outside the palette "
            f"(0..{len(pal) - 1})"
        )
    return pal[label.astype(np.int64)]


def to_rgb(image: np.ndarray, mean: Sequence[float] | None = None) -> np.ndarray:
    """A net input back to a picture: 3 x H x W float BGR (minus `mean`, BGR order) ->
    H x W x 3 uint8 RGB. An H x W x 3 uint8 array is returned unchanged (already RGB)."""
    x = np.asarray(image)
    if x.ndim == 3 and x.shape[-1] == 3 and x.dtype == np.uint8:
        return x
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"to_rgb: expected 3 x H x W BGR or H x W x 3 RGB, got {x.shape}")
    x = x.astype(np.float32)
    if mean is not None:
        x = x + np.asarray(mean, np.float32).reshape(3, 1, 1)
    return np.clip(np.rint(x[::-1].transpose(1, 2, 0)), 0, 255).astype(np.uint8)


def overlay(
    image: np.ndarray,
    label: np.ndarray,
    alpha: float = 0.5,
    palette: np.ndarray | None = None,
    skip: Sequence[int] = (0,),
) -> np.ndarray:
    """Class colours blended over an RGB image: H x W x 3 uint8.

    Pixels whose class is in `skip` (default: background 0) keep the image; void (255) pixels
    are blended like any other class. alpha: weight of the class colour (0..1).
    """
    image = np.asarray(image)
    label = np.asarray(label)
    if label.ndim == 3 and label.shape[0] == 1:
        label = label[0]
    if image.shape[:2] != label.shape:
        raise ValueError(f"overlay: image is {image.shape[:2]} but the label is {label.shape}")
    colours = colorize(label, palette).astype(np.float32)
    out = image.astype(np.float32)
    mask = ~np.isin(label, list(skip))
    out[mask] = (1 - alpha) * out[mask] + alpha * colours[mask]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def panels(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    gap: int = 4,
    background: int = 255,
) -> np.ndarray:
    """Images side by side -> one H x W x 3 uint8 array (heights padded to the tallest).

    images: H x W x 3 uint8 arrays (or H x W label maps, colourised with the VOC palette);
    titles: optional captions drawn in a strip above each panel.
    """
    arrs = [colorize(a) if np.asarray(a).ndim == 2 else np.asarray(a, np.uint8) for a in images]
    if not arrs:
        raise ValueError("panels: no images")
    if titles is not None and len(titles) != len(arrs):
        raise ValueError(f"panels: {len(titles)} titles for {len(arrs)} images")
    strip = 14 if titles else 0
    h = max(a.shape[0] for a in arrs) + strip
    w = sum(a.shape[1] for a in arrs) + gap * (len(arrs) - 1)
    canvas = np.full((h, w, 3), background, np.uint8)
    x = 0
    for a in arrs:
        canvas[strip : strip + a.shape[0], x : x + a.shape[1]] = a
        x += a.shape[1] + gap
    if titles:
        im = Image.fromarray(canvas)
        draw = ImageDraw.Draw(im)
        x = 0
        for a, t in zip(arrs, titles):
            draw.text((x + 2, 1), str(t), fill=(0, 0, 0))
            x += a.shape[1] + gap
        canvas = np.asarray(im)
    return canvas


def save_panels(
    path: str, images: Sequence[np.ndarray], titles: Sequence[str] | None = None, scale: int = 1
) -> str:
    """Write panels(images, titles) as an RGB PNG at `path` (atomically); scale: integer
    nearest-neighbour magnification for small images. Returns the path."""
    arr = panels(images, titles)
    im = Image.fromarray(arr, "RGB")
    if scale != 1:
        im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    _save_atomic(im, path)
    return path


def label_legend(
    labels: Sequence[np.ndarray], class_names: Sequence[str], palette: np.ndarray | None = None
) -> list[tuple[int, str, tuple[int, int, int]]]:
    """[(class index, name, (r, g, b))] for the classes present in any of `labels` (void
    excluded): what a caption needs to say which colour is which class."""
    pal = make_palette(256) if palette is None else np.asarray(palette, np.uint8)
    present = set()
    for lab in labels:
        present.update(int(v) for v in np.unique(np.asarray(lab)))
    present.discard(VOID)
    return [
        (c, class_names[c] if c < len(class_names) else str(c), tuple(int(v) for v in pal[c]))
        for c in sorted(present)
    ]


def legend_panel(
    entries: Sequence[tuple], height: int | None = None, background: int = 255
) -> np.ndarray:
    """A legend as a picture: one row per (class index, name, (r, g, b)[, share 0..1]) entry,
    a colour swatch then the index and name (and the share in %) -> H x W x 3 uint8. height:
    the rows wrap into more columns to fit it (at least one row a column); None: one column."""
    row, swatch = 14, 10
    texts = []
    for entry in entries:
        c, name, _ = entry[:3]
        share = f" {100 * entry[3]:.1f}%" if len(entry) > 3 else ""
        texts.append(f"{c} {name}{share}")
    per_column = max(1, ((height or 0) - 4) // row) if height else max(1, len(texts))
    columns = max(1, -(-len(texts) // per_column))
    col_width = 8 + swatch + 6 * max([len(t) for t in texts] + [6])
    rows = min(per_column, max(1, len(texts)))
    im = Image.new(
        "RGB", (columns * col_width, max(rows * row + 4, height or 0)), (background,) * 3
    )
    draw = ImageDraw.Draw(im)
    for i, (entry, text) in enumerate(zip(entries, texts)):
        x, y = (i // per_column) * col_width + 2, 2 + (i % per_column) * row
        box = [x, y + 1, x + swatch, y + 1 + swatch]
        draw.rectangle(box, fill=tuple(entry[2]), outline=(0, 0, 0))
        draw.text((x + 4 + swatch, y), text, fill=(0, 0, 0))
    return np.asarray(im)
