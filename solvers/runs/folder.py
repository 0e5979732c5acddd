"""Where a model runs: its folder, generated small-width nets, base weights, rank-specific nets.

A run folder is named after the model (`<runs>/<model>`): for the release's own settings it is
models/<model> itself; `--width`/`--data-root`/`--normalize` runs generate their nets into
`<runs>/<model>` (default runs/ under the project, never touching models/<m>/*.prototxt). Run
products (snapshots, logs, scores, the solver actually used) go to `<run>/snapshot/`.
"""

import ast
import os

import caffeio

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.path.join(ROOT, "models")


class RunSetupError(SystemExit):
    """A run cannot start; the message says what file is missing and how to make it."""

    def __init__(self, message):
        super().__init__(f"error: {message}")


def run_dir(model, runs=None, width=1.0, data_root=None, normalize=False, recipe=None,
            batch=None, crop=None):  # fmt: skip
    """The run folder for `model`; generates the nets there when the settings differ from the
    release (width, data root, normalised loss; for the FCN-ResNets a training recipe other than
    the default, a batch per forward or a crop side). Returns an absolute path."""
    custom = width != 1.0 or data_root is not None or normalize
    custom = custom or recipe not in (None, "caffe") or batch is not None or crop is not None
    if runs is None:
        tag = f"w{width:g}" + (f"-{recipe}" if recipe else "") + (f"-b{batch}" if batch else "")
        tag += f"-c{crop}" if crop else ""
        runs = os.path.join(ROOT, "runs", tag) if custom else MODELS_DIR
    folder = os.path.join(os.path.abspath(runs), model)
    if custom:
        import zoo

        root = os.path.abspath(data_root) if data_root else os.path.join(ROOT, "data")
        try:
            if crop is not None:
                from zoo.recipe import with_crop

                recipe = with_crop(recipe, crop)
            zoo.write(model, folder, width=width, data_root=root, recipe=recipe, batch_size=batch)
        except ValueError as e:  # NetSpecError: a recipe for a model without one, a bad batch
            raise RunSetupError(str(e)) from None
        if normalize:
            for stem in zoo.net_files(model):
                path = os.path.join(folder, stem + ".prototxt")
                net = caffeio.read_net(path)
                for layer in net.layer:
                    if layer.type == "SoftmaxWithLoss":
                        layer.loss_param.ClearField("normalize")
                        layer.loss_param.normalization = layer.loss_param.VALID
                caffeio.write_net(net, path)
    elif not os.path.exists(os.path.join(folder, "solver.prototxt")):
        raise RunSetupError(
            f"{folder}/solver.prototxt not found: run `make {model}` (writes the model's "
            "prototxt files)"
        )
    return folder


def stems(folder):
    """(train net file, eval net file) of a run folder, from its solver.prototxt."""
    solver = caffeio.read_solver(os.path.join(folder, "solver.prototxt"))
    train = solver.train_net or solver.net
    test = solver.test_net[0] if len(solver.test_net) else train
    return train, test


def with_python_params(net, **changes):
    """Copy of NetParameter `net` with keys changed in every Python layer's param_str dict
    (values may be callables old -> new; keys absent from a layer are left alone)."""
    out = type(net)()
    out.CopyFrom(net)
    for layer in out.layer:
        if layer.type != "Python" or not layer.python_param.param_str:
            continue
        params = ast.literal_eval(layer.python_param.param_str)
        touched = False
        for k, v in changes.items():
            if k in params:
                params[k] = v(params[k]) if callable(v) else v
                touched = True
        if touched:
            layer.python_param.param_str = repr(params)
    return out


def base_weights(model, folder, runs_root, width=1.0):
    """The caffemodel a fresh run of `model` starts from, made by surgery when missing.

    Staged inits as in the release: VGG-16 based models from <runs>/ilsvrc-nets/
    vgg16-fcn.caffemodel (models/ilsvrc-nets/ for width 1, also for width-1 run folders of
    another recipe, batch or crop when <runs>/ilsvrc-nets lacks it), 16s from 32s's final weights
    <runs>/<32s>/<32s>.caffemodel, 8s from 16s, color-hha from color and hha. The init is
    written to <run>/snapshot/init.caffemodel once.
    """
    import zoo
    from surgery.stage import init_source, is_ilsvrc, staged_init

    out = os.path.join(folder, "snapshot", "init.caffemodel")
    if os.path.exists(out):
        return out
    source = init_source(model)
    ilsvrc = os.path.join(runs_root, "ilsvrc-nets")

    def need(src):
        if is_ilsvrc(src):
            path = os.path.join(ilsvrc, src + ".caffemodel")
            shared = os.path.join(MODELS_DIR, "ilsvrc-nets", src + ".caffemodel")
            if not os.path.exists(path) and width == 1.0 and os.path.exists(shared):
                return shared  # a width-1 recipe/batch run folder shares models/ilsvrc-nets
            if not os.path.exists(path):
                proto, weights = zoo.backbone(src).files  # as the model-zoo pages name them
                fetch = (
                    f"Fetch it with\n  python -m solvers.weights fetch {src[: -len('-fcn')]}\n"
                    f"(downloads {weights} and its deploy prototxt, checks them and makes "
                    f"{shared}), or download"
                    if width == 1.0 and src.endswith("-fcn")
                    else "Download"
                )
                raise RunSetupError(
                    f"{model} starts from {path}, which does not exist. {fetch} the ILSVRC "
                    f"classifier ({weights} and its deploy prototxt, see README: Published "
                    f"weights) and make it with\n  python -m surgery fcnize --proto <{proto}> "
                    f"--weights <{weights}> --out {path}\nor pass --weights"
                )
            return path
        path = os.path.join(runs_root, src, src + ".caffemodel")
        if not os.path.exists(path):
            raise RunSetupError(
                f"{model} starts from {src}'s trained weights {path}, which do not exist: "
                f"train {src} first (python models/{src}/solve.py with the same --width/"
                "--data-root/--runs), or pass --weights"
            )
        return path

    if isinstance(source, tuple):
        src = {k: need(v) for k, v in source[1].items()}
    else:
        src = need(source)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    staged_init(folder, src, out=out, width=width, force=True, verbose=False)
    return out
