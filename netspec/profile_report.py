"""Text and JSON reports of netspec.profile (`python -m netspec profile`, `python -m zoo profile`).

    report([("deploy.prototxt", net, None)], (500, 500), out=sys.stdout)

`measure`, when given, is a function (net, image_size) -> {device: timing dict} whose results are
printed with each profile (bench.speed.measure times torchcaffe's forward; netspec runs nothing).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

import caffeio

from . import profile

if TYPE_CHECKING:
    from caffeio import caffe_pb2

# (net, (H, W)) -> {device: timing dict}
Measure = Callable[[caffeio.caffe_pb2.NetParameter, tuple[int, int]], dict[str, dict[str, Any]]]


def _g(n):
    return f"{n / 1e9:.3f}"


def _rf(p):
    s = p["score"]
    rf = s["receptive_field"]
    rf = "x".join(map(str, rf)) if isinstance(rf, list) else rf
    return f"{rf} px at {s['blob']}, stride {s['stride']} (max stride {s['max_stride']})"


def _speed(m):
    if m.get("skipped"):
        return f"skipped: {m['skipped']}"
    return (
        f"{m['images_per_s']:.3g} images/s ({m['seconds']:.3f} s, best of {len(m['times'])} "
        f"after a warm-up; torchcaffe, {m['threads']} threads)"
    )


def _width(p):
    return f", width {p['width']:g}" if p.get("width") is not None else ""


def summary(p: dict[str, Any]) -> str:
    """The per-model block of text."""
    t = p["totals"]
    h, w = p["input"]
    lines = [
        f"{p['model']}: deploy net at {h}x{w}" + _width(p),
        f"  parameters       {t['parameters']:,} (trainable {t['trainable']:,}, "
        f"frozen {t['frozen']:,})",
        f"  apart            fixed bilinear upsampling {t['fixed_upsampling']:,}, "
        f"BatchNorm statistics {t['bn_statistics']:,}",
        f"  multiply-adds    {_g(t['macs'])} GMAC ({t['macs']:,})",
        f"  FLOPs            {_g(t['flops'])} GFLOP = 2 x MACs + {_g(t['elem_ops'])} G element ops",
        f"  receptive field  {_rf(p)}",
    ]
    for dev, m in p.get("measured", {}).items():
        lines.append(f"  forward {dev:<8} {_speed(m)}")
    if p["uncounted"]:
        lines.append(f"  no op rule for   {', '.join(p['uncounted'])} (counted as 0)")
    return "\n".join(lines)


def per_layer_table(p: dict[str, Any]) -> str:
    """Per-layer table: layer, type, top shape, parameters (all kinds), MMAC, MFLOP."""
    rows = [("layer", "type", "top", "blob elements", "MMAC", "MFLOP")]
    for r in p["layers"]:
        top = "x".join(map(str, r["top"])) if r["top"] else "-"
        n = sum(r["params"].values())
        mmac, mflop = f"{r['macs'] / 1e6:.1f}", f"{r['flops'] / 1e6:.1f}"
        rows.append((r["name"], r["type"], top, f"{n:,}", mmac, mflop))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    out = []
    for row in rows:
        left = [f"{c:<{w}}" for c, w in zip(row[:3], widths)]
        right = [f"{c:>{w}}" for c, w in zip(row[3:], widths[3:])]
        out.append("  " + "  ".join(left + right))
    return "\n".join(out)


def table(profiles: Sequence[dict[str, Any]]) -> str:
    """Markdown table, one row per profile."""
    out = [
        "| model | input | parameters | GMACs | GFLOPs | receptive field | stride | images/s CPU |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in profiles:
        t, s = p["totals"], p["score"]
        cpu = p.get("measured", {}).get("cpu", {})
        ips = f"{cpu['images_per_s']:.3g}" if "images_per_s" in cpu else ""
        out.append(
            f"| {p['model']} | {p['input'][0]}x{p['input'][1]} | {t['parameters'] / 1e6:.2f}M | "
            f"{_g(t['macs'])} | {_g(t['flops'])} | {s['receptive_field']} | {s['stride']} | "
            f"{ips} |"
        )
    return "\n".join(out)


def report(
    nets: Iterable[tuple[str, caffe_pb2.NetParameter, float | None]],
    image_size: tuple[int, int],
    out: TextIO,
    per_layer: bool = False,
    json_path: str | None = None,
    measure: Measure | None = None,
) -> list[dict[str, Any]]:
    """Print the profile of each (name, NetParameter, width or None) at image_size (H, W), a
    table for several, the counting rules; write them as JSON to json_path. Returns the list."""
    profiles = []
    for name, net, width in nets:
        p = dict(model=name, width=width, **profile.profile_net(net, image_size))
        if measure is not None:
            p["measured"] = measure(net, image_size)
        print(summary(p), file=out)
        if per_layer:
            print(per_layer_table(p), file=out)
        print(file=out, flush=True)
        profiles.append(p)
    if len(profiles) > 1:
        print(table(profiles) + "\n", file=out)
    print(f"counting: {profile.RULES}", file=out)
    if json_path:
        data = json.dumps(profiles, indent=1).encode("utf-8")
        caffeio.atomic_write(json_path, data)
        print(f"wrote {json_path}", file=out)
    return profiles
