"""Your own dataset (zoo.userdata's folder layout): its data layer, label reading, commands.

FolderSegDataLayer        the data layer the nets of `python -m zoo make-custom` name
python -m layers.folder check DIR      every pair read and checked, pixels per class
python -m layers.folder split DIR      a deterministic train/val split (train.txt, val.txt)
python -m layers.folder mean DIR       the per-channel mean of train (mean.txt, B G R)
"""

from .labels import check_values, read_label
from .layer import FolderSegDataLayer

__all__ = ["FolderSegDataLayer", "check_values", "read_label"]
