"""zoo: the FCN models by name (records of what each model is) and the nets built from them.

import zoo
zoo.MODELS, zoo.BACKBONE_MODELS, zoo.ALL_MODELS
zoo.build("voc-fcn8s", "val", width=0.125)     # caffe_pb2.NetParameter
zoo.solver("voc-fcn8s")                         # caffe_pb2.SolverParameter
zoo.write("voc-fcn8s", "models/voc-fcn8s")      # train/val/deploy/solver.prototxt
"""

from .netfiles import (
    ALL_MODELS,
    BACKBONE_MODELS,
    MODELS,
    build,
    has_recipe,
    net_files,
    num_classes,
    solver,
    texts,
    write,
)

__all__ = [
    "MODELS",
    "BACKBONE_MODELS",
    "ALL_MODELS",
    "build",
    "solver",
    "texts",
    "write",
    "net_files",
    "num_classes",
    "has_recipe",
]
