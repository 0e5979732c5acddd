"""Inference on your own pictures (segment: label PNGs, overlays, exact tiles for huge images);
cli: `python -m solvers.infer`."""
