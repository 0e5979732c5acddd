"""Pictures: label maps as images (VOC palette, label PNGs, overlays, panels) and training
curves from logs (plotlog: `python -m solvers.plotlog`). numpy and PIL only (matplotlib for the
curves); no engine."""

from .labels import (
    colorize,
    label_legend,
    legend_panel,
    make_palette,
    overlay,
    panels,
    save_label_png,
    save_panels,
    to_rgb,
)

__all__ = [
    "colorize",
    "label_legend",
    "legend_panel",
    "make_palette",
    "overlay",
    "panels",
    "save_label_png",
    "save_panels",
    "to_rgb",
]
