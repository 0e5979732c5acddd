"""zoo: every FCN model by name, as one record of what it is, and the nets built from it.

    import zoo
    zoo.MODELS, zoo.BACKBONE_MODELS, zoo.ALL_MODELS   # the release's 15, the others, both
    rec = zoo.record("voc-fcn8s")       # ModelRecord: dataset, backbone, head, heads scored,
                                        # solver, init source, classes, mean, splits
    zoo.build("voc-fcn8s", "val", width=0.125)     # caffe_pb2.NetParameter
    zoo.solver("voc-fcn8s")                         # caffe_pb2.SolverParameter
    zoo.write("voc-fcn8s", "models/voc-fcn8s")      # train/val/deploy/solver.prototxt
    zoo.register(my_dataset, my_backbone, my_model) # a new one, known to every reader

Packages below the zoo: netspec (builder, shapes) and caffeio. The readers above it: surgery
(staged inits), solvers (training, scoring, inference), layers (class names and means).
"""

from . import cityscapes, nyud, pascalcontext, siftflow, voc
from .backbones import BACKBONE_RECORDS
from .netfiles import build, has_recipe, net_files, num_classes, solver, texts, write
from .records import (
    Backbone,
    DataLayer,
    DatasetRecord,
    Head,
    Init,
    Input,
    ModelRecord,
    SolverSettings,
)
from .registry import (
    backbone,
    backbones,
    dataset,
    datasets,
    is_model,
    names,
    record,
    register,
    unregister,
)

# The zoo's own records, in the order the models are listed (the release's VOC, NYUD, SIFT Flow
# and PASCAL-Context models first, as its model table). A new dataset module goes here.
register(*BACKBONE_RECORDS)
for _module in (voc, nyud, siftflow, pascalcontext, cityscapes):
    register(*_module.MODELS)
MODELS = names(release=True)
BACKBONE_MODELS = names(release=False)
ALL_MODELS = MODELS + BACKBONE_MODELS

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
    "record",
    "register",
    "unregister",
    "is_model",
    "names",
    "dataset",
    "datasets",
    "backbone",
    "backbones",
    "ModelRecord",
    "DatasetRecord",
    "Backbone",
    "DataLayer",
    "Head",
    "Init",
    "Input",
    "SolverSettings",
]
