"""The caffemodel a fresh run starts from: the release's staged inits, made by surgery."""

from __future__ import annotations

import os

from .folder import MODELS_DIR, RunSetupError


def base_weights(model: str, folder: str, runs_root: str, width: float = 1.0) -> str:
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
