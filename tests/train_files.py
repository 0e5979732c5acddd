"""Test helpers that write small run files: the zoo's solver on a train net, a caffemodel with
one layer left out."""

import os

import caffeio
import zoo


def zoo_train_solver(model, folder, width, data_root=None, crop=None, **fields):
    """Write `model`'s train net at `width` (reading data_root; crop: the FCN-ResNets' crop side
    instead of their recipe's 321) and its release solver aimed at it (no test nets, no display,
    snapshots under folder/snap, `fields` overriding) into `folder` -> the solver path."""
    folder = os.fspath(folder)
    train = os.path.join(folder, "train.prototxt")
    kw = {}
    if crop is not None and zoo.has_recipe(model):
        from zoo.recipe import with_crop

        kw = dict(recipe=with_crop("caffe", crop))
    net = zoo.build(model, zoo.net_files(model)[0], width=width, data_root=data_root, **kw)
    caffeio.write_net(net, train)
    s = zoo.solver(model)
    s.train_net = train
    s.ClearField("test_net")
    s.ClearField("test_iter")
    s.test_interval = 999999999  # Caffe aborts on 0 when test nets exist; none here
    s.display = 0
    s.snapshot_prefix = os.path.join(folder, "snap")
    for k, v in fields.items():
        setattr(s, k, v(getattr(s, k)) if callable(v) else v)
    path = os.path.join(folder, "solver.prototxt")
    caffeio.write_solver(s, path)
    return path


def caffemodel_without(src, layer, out):
    """Copy caffemodel `src` to `out` leaving out the layer named `layer` -> out."""
    net = caffeio.read_caffemodel(os.fspath(src))
    kept = caffeio.caffe_pb2.NetParameter()
    kept.CopyFrom(net)
    del kept.layer[:]
    for lp in net.layer:
        if lp.name != layer:
            kept.layer.add().CopyFrom(lp)
    caffeio.write_caffemodel(kept, os.fspath(out))
    return out
