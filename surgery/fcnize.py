"""Turn an ILSVRC classifier (deploy prototxt + caffemodel) into its fully convolutional twin.

Paper section 3.1: an InnerProduct layer over a C x h x w input is a Convolution with kernel
h x w and the same weights (Caffe flattens C, h, w in that order, as a conv kernel is laid out);
over a 1-D input it is a 1x1 convolution. The result loads into every FCN net by layer name.
"""

import os
import sys

import caffeio
from caffeio import caffe_pb2

from .errors import SurgeryError
from .paramset import ParamSet, check_out, infer_shapes, write_params
from .report import Report
from .transplant import transplant

# arch -> (layers that identify it, canonical input side, pool5 side)
ARCHS = {
    "vgg16": (("conv1_1", "conv5_3", "fc6", "fc7"), 224),
    "alexnet": (("conv1", "conv5", "norm1", "fc6", "fc7"), 227),
}


def detect_arch(net):
    """Name the classifier architecture of NetParameter `net` ('vgg16' or 'alexnet') or raise."""
    names = {layer.name for layer in net.layer}
    for arch, (needed, _) in ARCHS.items():
        if all(n in names for n in needed):
            return arch
    raise SurgeryError(
        f"net '{net.name}': cannot tell the architecture (looked for the layers of "
        + "; ".join(f"{a}: {', '.join(n)}" for a, (n, _) in ARCHS.items())
        + "): pass --arch"
    )


def _input_shapes(net, arch):
    """Tops whose shapes the definition leaves open (Data layers in a train_val net) get the
    arch's canonical ILSVRC input, so fc kernel sizes can be computed."""
    side = ARCHS[arch][1]
    known = infer_shapes(net)
    out = {}
    for layer in net.layer:
        if layer.type in ("Convolution",) and known.get(layer.bottom[0]) is None:
            out[layer.bottom[0]] = (1, 3, side, side)
            break
    return out


def fully_conv_definition(net, arch=None):
    """Classifier NetParameter -> (fully convolutional NetParameter, input_shapes used).

    Each InnerProduct becomes a Convolution: kernel = its bottom's spatial size (fc6 7x7 on
    VGG-16, 6x6 on AlexNet), 1x1 after another fc; num_output, bias_term, params and fillers
    kept. Flatten layers are removed (their consumers read the unflattened blob). A train/val
    net's Data layers are left in place.
    """
    arch = arch or detect_arch(net)
    if arch not in ARCHS:
        raise SurgeryError(f"unknown --arch {arch!r}: use one of {', '.join(ARCHS)}")
    input_shapes = _input_shapes(net, arch)
    shapes = infer_shapes(net, input_shapes)
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    out.ClearField("layer")
    out.name = (net.name or arch) + "-fcn"
    renamed = {}
    for layer in net.layer:
        new = out.layer.add()
        new.CopyFrom(layer)
        new.ClearField("blobs")
        new.bottom[:] = [renamed.get(b, b) for b in layer.bottom]
        if layer.type == "Flatten":
            renamed[layer.top[0]] = new.bottom[0]
            del out.layer[-1]
            continue
        if layer.type != "InnerProduct":
            continue
        ip = layer.inner_product_param
        if ip.transpose:
            raise SurgeryError(f"layer '{layer.name}': transposed InnerProduct is not supported")
        bottom = shapes.get(layer.bottom[0])
        if bottom is None or any(d is None for d in bottom):
            raise SurgeryError(
                f"layer '{layer.name}': shape of its bottom '{layer.bottom[0]}' is unknown; "
                "give the deploy prototxt (with an input shape)"
            )
        if ip.axis % len(bottom) != 1:
            raise SurgeryError(f"layer '{layer.name}': InnerProduct axis {ip.axis} is not 1")
        kh, kw = (bottom[2], bottom[3]) if len(bottom) == 4 else (1, 1)
        new.type = "Convolution"
        new.ClearField("inner_product_param")
        p = new.convolution_param
        p.num_output = ip.num_output
        if not ip.bias_term:
            p.bias_term = False
        if kh == kw:
            p.kernel_size.append(kh)
        else:
            p.kernel_h, p.kernel_w = kh, kw
        if ip.HasField("weight_filler"):
            p.weight_filler.CopyFrom(ip.weight_filler)
        if ip.HasField("bias_filler"):
            p.bias_filler.CopyFrom(ip.bias_filler)
    return out, input_shapes


def fcnize_params(definition, weights, arch=None, verbose=True, file=None):
    """File-level fcnize: classifier prototxt/NetParameter + caffemodel path (or ParamSet)
    -> (ParamSet of the fully conv net with its weights, fully conv definition, Report).

    Every learnable layer of the classifier must get its weights from the file (else
    SurgeryError); weights of layers the prototxt lacks are dropped and reported.
    """
    if isinstance(definition, (str, os.PathLike)):
        definition = caffeio.read_net(str(definition))
    elif caffeio.needs_upgrade(definition):
        definition = caffeio.upgrade_net(definition)
    arch = arch or detect_arch(definition)
    fc_def, input_shapes = fully_conv_definition(definition, arch)
    src = ParamSet.from_caffemodel(weights) if isinstance(weights, (str, os.PathLike)) else weights
    dst = ParamSet.from_definition(fc_def, input_shapes=input_shapes, fill=False)
    missing = [name for name in dst.params if name not in src.params]
    if missing:
        raise SurgeryError(
            f"{getattr(src, 'source', 'weights')}: holds no weights for layer(s) "
            f"{', '.join(missing)} of the prototxt: weights and prototxt do not belong together"
        )
    report = transplant(dst, src, verbose=False)
    report.title = f"fcnize ({arch}): {getattr(src, 'source', '')}"
    for layer in fc_def.layer:
        orig = next(x for x in definition.layer if x.name == layer.name)
        if orig.type == "InnerProduct":
            k = list(layer.convolution_param.kernel_size) or [
                layer.convolution_param.kernel_h,
                layer.convolution_param.kernel_w,
            ]
            report.notes.append(f"{layer.name}: InnerProduct -> Convolution kernel {k}")
    if verbose:
        report.print(file=file or sys.stdout)
    return dst, fc_def, report


def fcnize(proto, weights, out, arch=None, force=False, out_proto=None, verbose=True, file=None):
    """Write the fully convolutional twin of a classifier caffemodel to `out` (-> Report).

    proto: classifier deploy prototxt (current or V1 format); weights: its caffemodel (either
    format). The caffemodel written holds the fully conv definition with the weights (fc
    reshaped to conv kernels). An existing `out` is never overwritten unless force=True.
    out_proto: also write the fully conv deploy prototxt there.
    """
    stem = os.path.splitext(os.path.basename(weights))[0]
    check_out(out, force, f"{stem}-fcn.caffemodel")
    if out_proto:
        check_out(out_proto, force, f"{stem}-fcn-deploy.prototxt")
    dst, fc_def, report = fcnize_params(proto, weights, arch=arch, verbose=False)
    # phase TEST on every layer, as Caffe (and torchcaffe) save a deploy net they ran
    write_params(dst, out, definition=fc_def, force=force, phase=caffe_pb2.TEST)
    report.notes.append(f"wrote {out}")
    if out_proto:
        caffeio.write_net(fc_def, out_proto)
        report.notes.append(f"wrote {out_proto}")
    if verbose:
        report.print(file=file or sys.stdout)
    return report


__all__ = ["ARCHS", "Report", "detect_arch", "fully_conv_definition", "fcnize_params", "fcnize"]
