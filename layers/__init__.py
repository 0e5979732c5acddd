"""Python data layers (one module per dataset, a shared SegDataLayer shell) and their
synthetic twins (layers.synth), in the real on-disk layouts (docs/datasets.md)."""
