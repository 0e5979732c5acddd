"""Pieces shared by the dataset modules: split checks and deploy inputs."""

from netspec.builder import L
from netspec.errors import NetSpecError

DEPLOY_SIZE = 500


def check_split(model, split, stems):
    """Raise a NetSpecError naming the model's valid net stems when `split` is not one."""
    if split not in stems:
        raise NetSpecError(
            f"{model}: no net '{split}'; this model has {', '.join(repr(s) for s in stems)}"
        )


def deploy_input(channels=3, size=DEPLOY_SIZE, name=None):
    """Input layer top of shape 1 x channels x size x size (size: int or (H, W)).

    name: the layer's name; None names it after its top (net_spec's rule). Deploy nets with one
    image input call it "input" with top "data", as the release's voc-fcn8s deploy net does (and
    as Caffe's upgrade of legacy `input:` fields names the layer it creates).
    """
    h, w = (size, size) if isinstance(size, int) else size
    kw = {} if name is None else dict(name=name)
    return L.Input(shape=dict(dim=[1, channels, h, w]), **kw)
