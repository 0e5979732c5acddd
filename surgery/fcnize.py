"""Turn an ImageNet classifier (deploy prototxt + caffemodel) into its fully convolutional twin.

Any Caffe classifier (VGG, AlexNet, GoogLeNet, ResNet, ...): the graph rules are in
surgery.fullconv (paper 3.1); here the weights follow by layer name (InnerProduct weights
reshaped to the kernels), and the files are written. The result loads into FCN nets by name.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

import caffeio
import zoo
from caffeio import caffe_pb2

from .errors import SurgeryError
from .fullconv import fully_conv_definition
from .paramset import ParamSet, check_out, write_params
from .report import Report
from .transplant import transplant


def archs() -> dict[str, int]:
    """{backbone: native input side} of the zoo's backbones (vgg16 224, alexnet 227, ...), for
    train/val prototxt that state no input shape."""
    return {b.name: b.input_size for b in zoo.backbones()}


def _size(size, arch):
    if size is None and arch is not None:
        known = archs()
        if arch not in known:
            raise SurgeryError(f"unknown --arch {arch!r}: use one of {', '.join(known)}")
        size = known[arch]
    return (size, size) if isinstance(size, int) else size


def fcnize_params(
    definition: caffe_pb2.NetParameter | str | os.PathLike[str],
    weights: ParamSet | str | os.PathLike[str],
    arch: str | None = None,
    verbose: bool = True,
    file: TextIO | None = None,
    size: int | tuple[int, int] | None = None,
) -> tuple[ParamSet, caffe_pb2.NetParameter, Report]:
    """File-level fcnize: classifier prototxt/NetParameter + caffemodel path (or ParamSet)
    -> (ParamSet of the fully conv net with its weights, fully conv definition, Report).

    size: native input (H, W) or side, only for nets whose prototxt states no input shape
    (arch, a zoo backbone such as 'vgg16' or 'alexnet', names theirs). Every learnable layer of
    the classifier must get its weights from the file (else SurgeryError); weights of layers the
    prototxt lacks are dropped and reported.
    """
    if isinstance(definition, (str, os.PathLike)):
        definition = caffeio.read_net(str(definition))
    elif caffeio.needs_upgrade(definition):
        definition = caffeio.upgrade_net(definition)
    fc_def, input_shapes, notes = fully_conv_definition(definition, _size(size, arch))
    src = ParamSet.from_caffemodel(weights) if isinstance(weights, (str, os.PathLike)) else weights
    dst = ParamSet.from_definition(fc_def, input_shapes=input_shapes, fill=False)
    missing = [name for name in dst.params if name not in src.params]
    if missing:
        raise SurgeryError(
            f"{getattr(src, 'source', 'weights')}: holds no weights for layer(s) "
            f"{', '.join(missing)} of the prototxt: weights and prototxt do not belong together"
        )
    report = transplant(dst, src, verbose=False)
    report.title = f"fcnize ({definition.name or 'net'}): {getattr(src, 'source', '')}"
    report.notes.extend(notes)
    if verbose:
        report.print(file=file or sys.stdout)
    return dst, fc_def, report


def fcnize(
    proto: caffe_pb2.NetParameter | str,
    weights: str,
    out: str,
    arch: str | None = None,
    force: bool = False,
    out_proto: str | None = None,
    verbose: bool = True,
    file: TextIO | None = None,
    size: int | tuple[int, int] | None = None,
) -> Report:
    """Write the fully convolutional twin of a classifier caffemodel to `out` (-> Report).

    proto: classifier deploy prototxt (current or V1 format); weights: its caffemodel (either
    format). The caffemodel written holds the fully conv definition with the weights (fc
    reshaped to conv kernels). An existing `out` is never overwritten unless force=True.
    out_proto: also write the fully conv deploy prototxt there. size/arch: see fcnize_params.
    """
    stem = os.path.splitext(os.path.basename(weights))[0]
    check_out(out, force, f"{stem}-fcn.caffemodel")
    if out_proto:
        check_out(out_proto, force, f"{stem}-fcn-deploy.prototxt")
    dst, fc_def, report = fcnize_params(proto, weights, size=size, arch=arch, verbose=False)
    # phase TEST on every layer, as Caffe (and torchcaffe) save a deploy net they ran
    write_params(dst, out, definition=fc_def, force=force, phase=caffe_pb2.TEST)
    report.notes.append(f"wrote {out}")
    if out_proto:
        caffeio.write_net(fc_def, out_proto)
        report.notes.append(f"wrote {out_proto}")
    if verbose:
        report.print(file=file or sys.stdout)
    return report


__all__ = ["archs", "Report", "fully_conv_definition", "fcnize_params", "fcnize"]
