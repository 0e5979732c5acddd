"""pycaffe's `caffe.draw`: a diagram of a NetParameter through pydot and Graphviz's `dot`.

    from torchcaffe.proto import caffe_pb2; import torchcaffe.draw, caffeio
    torchcaffe.draw.draw_net_to_file(caffeio.read_net("train.prototxt"), "net.png", "LR")
    python -m torchcaffe.draw train.prototxt net.svg --phase TRAIN      # BVLC's draw_net.py

Layers are boxes labelled with their name, type and (Convolution, Deconvolution, Pooling)
kernel size, stride and pad, coloured by type; blobs are grey octagons; edges from a layer
to its tops carry num_output (or the Data batch size). In-place layers (ReLU on its bottom)
are green. `phase` keeps the layers an include/exclude rule admits for that phase (None: all).
Needs pydot (the toolkit's [draw] extra: pip install -e '.[draw]') and, for images, Graphviz's
`dot` (Debian/Ubuntu: apt-get install graphviz); the extension '.raw' (or '.dot') writes the
DOT text without Graphviz.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from caffeio import caffe_pb2

__all__ = [
    "LAYER_STYLE_DEFAULT",
    "NEURON_LAYER_STYLE",
    "BLOB_STYLE",
    "get_pooling_types_dict",
    "get_edge_label",
    "get_layer_lr_mult",
    "get_layer_label",
    "choose_color_by_layertype",
    "get_pydot_graph",
    "draw_net",
    "draw_net_to_file",
]

LAYER_STYLE_DEFAULT = {"shape": "record", "fillcolor": "#6495ED", "style": "filled"}
NEURON_LAYER_STYLE = {"shape": "record", "fillcolor": "#90EE90", "style": "filled"}
BLOB_STYLE = {"shape": "octagon", "fillcolor": "#E0E0E0", "style": "filled"}
_COLOURS = {
    "Convolution": "#FF5050",
    "Deconvolution": "#FF5050",
    "Pooling": "#FF9900",
    "InnerProduct": "#CC33FF",
}
_LEARNING = ("Convolution", "Deconvolution", "InnerProduct")
_TEXT_FORMATS = ("raw", "dot", "gv")  # written from pydot's DOT text, no Graphviz run


def _pydot():
    try:
        import pydotplus as pydot  # pycaffe tries pydotplus first
    except ImportError:
        try:
            import pydot
        except ImportError as e:
            raise ImportError(
                f"torchcaffe.draw needs pydot ({e}): pip install pydot, or the toolkit's "
                "[draw] extra (pip install -e '.[draw]'); images also need Graphviz's `dot` "
                "(apt-get install graphviz)"
            ) from None
    return pydot


def get_pooling_types_dict() -> dict[int, str]:
    """{PoolingParameter.PoolMethod number: name}, e.g. {0: 'MAX', 1: 'AVE', 2: 'STOCHASTIC'}."""
    values = caffe_pb2.PoolingParameter.PoolMethod.DESCRIPTOR.values
    return {v.number: v.name for v in values}


def get_edge_label(layer: caffe_pb2.LayerParameter) -> str:
    """Label of the edges from `layer` to its tops: Data's batch size, num_output of
    Convolution / Deconvolution / InnerProduct, else '""' (none)."""
    if layer.type == "Data":
        return f"Batch {layer.data_param.batch_size}"
    if layer.type in ("Convolution", "Deconvolution"):
        return str(layer.convolution_param.num_output)
    if layer.type == "InnerProduct":
        return str(layer.inner_product_param.num_output)
    return '""'


def get_layer_lr_mult(layer: caffe_pb2.LayerParameter) -> tuple[float, ...]:
    """(weights, bias) learning-rate multipliers of a Convolution, Deconvolution or
    InnerProduct layer (1.0 where no ParamSpec gives one)."""
    if layer.type not in _LEARNING:
        raise ValueError(f"{layer.type} layers do not have a learning rate multiplier")
    specs = list(layer.param)
    if len(specs) > 2:
        raise ValueError(
            f"Could not parse the learning rate multiplier: layer '{layer.name}' has "
            f"{len(specs)} param specs (weights and bias take 2)"
        )
    mults = [s.lr_mult for s in specs] + [1.0] * (2 - len(specs))
    return tuple(mults)


def get_layer_label(
    layer: caffe_pb2.LayerParameter, rankdir: str, display_lrm: bool = False
) -> str:
    """The quoted label of a layer's node: name, (type), kernel size / stride / pad for
    Convolution, Deconvolution and Pooling, and with display_lrm the lr multipliers; parts
    separated by spaces for vertical layouts (TB, BT), by line breaks otherwise."""
    sep = " " if rankdir in ("TB", "BT") else r"\n"
    if layer.type == "Pooling":
        kind = f"({layer.type} {get_pooling_types_dict()[layer.pooling_param.pool]})"
    else:
        kind = f"({layer.type})"
    parts = [layer.name, kind]
    if layer.type == "Pooling":
        p = layer.pooling_param
        parts.append(
            sep.join([f"kernel size: {p.kernel_size}", f"stride: {p.stride}", f"pad: {p.pad}"])
        )
    elif layer.type in ("Convolution", "Deconvolution"):
        c = layer.convolution_param
        k = c.kernel_size[0] if len(c.kernel_size) else 1
        s = c.stride[0] if len(c.stride) else 1
        pad = c.pad[0] if len(c.pad) else 0
        parts.append(sep.join([f"kernel size: {k}", f"stride: {s}", f"pad: {pad}"]))
    if display_lrm and layer.type in _LEARNING:
        w, b = get_layer_lr_mult(layer)
        if w or b:
            parts.append(f"lr mult: {w:.1f}, {b:.1f}")
    return '"' + sep.join(parts) + '"'


def choose_color_by_layertype(layertype: str) -> str:
    """Fill colour of a layer's node: red for (de)convolutions, orange for pooling, purple
    for inner products, blue otherwise."""
    return _COLOURS.get(layertype, LAYER_STYLE_DEFAULT["fillcolor"])


def _in_phase(layer, phase):
    if phase is None:
        return True
    if len(layer.include) and len(layer.exclude):
        raise ValueError(f"layer {layer.name} has both include and exclude specified.")
    included = not len(layer.include) or any(r.phase == phase for r in layer.include)
    return included and not any(r.phase == phase for r in layer.exclude)


def get_pydot_graph(
    caffe_net: caffe_pb2.NetParameter,
    rankdir: str,
    label_edges: bool = True,
    phase: int | None = None,
    display_lrm: bool = False,
) -> Any:
    """pydot.Dot of a NetParameter: one node per layer and per blob, edges bottom -> layer ->
    top. `phase` (caffe.TRAIN / caffe.TEST, None = all) keeps the layers its include/exclude
    rules admit; label_edges puts get_edge_label on layer -> top edges."""
    pydot = _pydot()
    graph = pydot.Dot(caffe_net.name or "Net", graph_type="digraph", rankdir=rankdir)
    nodes, edges = {}, []
    for layer in caffe_net.layer:
        if not _in_phase(layer, phase):
            continue
        node = f"{layer.name}_{layer.type}"
        label = get_layer_label(layer, rankdir, display_lrm=display_lrm)
        in_place = len(layer.bottom) == 1 and list(layer.bottom) == list(layer.top)
        style = dict(NEURON_LAYER_STYLE if in_place else LAYER_STYLE_DEFAULT)
        if not in_place:
            style["fillcolor"] = choose_color_by_layertype(layer.type)
        nodes[node] = pydot.Node(label, **style)
        for b in layer.bottom:
            nodes[b + "_blob"] = pydot.Node(b, **BLOB_STYLE)
            edges.append((b + "_blob", node, '""'))
        for t in layer.top:
            nodes[t + "_blob"] = pydot.Node(t, **BLOB_STYLE)
            edges.append((node, t + "_blob", get_edge_label(layer) if label_edges else '""'))
    for n in nodes.values():
        graph.add_node(n)
    for src, dst, label in edges:
        graph.add_edge(pydot.Edge(nodes[src], nodes[dst], label=label))
    return graph


def draw_net(
    caffe_net: caffe_pb2.NetParameter,
    rankdir: str,
    ext: str = "png",
    phase: int | None = None,
    display_lrm: bool = False,
) -> bytes:
    """The diagram of a NetParameter as bytes in format `ext` (png, svg, pdf, ... as Graphviz
    writes them; 'raw' / 'dot': the DOT text)."""
    graph = get_pydot_graph(caffe_net, rankdir, phase=phase, display_lrm=display_lrm)
    if ext in _TEXT_FORMATS:
        return graph.to_string().encode()
    try:
        return graph.create(format=ext)
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"draw_net: writing {ext.upper()} needs Graphviz's `dot` program ({e}); install "
            "Graphviz (Debian/Ubuntu: apt-get install graphviz), or write '.raw' for the DOT text"
        ) from None


def draw_net_to_file(
    caffe_net: caffe_pb2.NetParameter,
    filename: str,
    rankdir: str = "LR",
    phase: int | None = None,
    display_lrm: bool = False,
) -> None:
    """Write the diagram of a NetParameter to `filename` (atomically), in the format its
    extension names ('.png', '.svg', '.pdf', ...; '.raw' / '.dot': the DOT text)."""
    from caffeio.atomic import atomic_write

    ext = filename[filename.rfind(".") + 1 :] if "." in filename else "png"
    atomic_write(filename, draw_net(caffe_net, rankdir, ext, phase, display_lrm))


def main(argv: Sequence[str] | None = None) -> int:
    """python -m torchcaffe.draw NET.prototxt OUT.png [--rankdir LR] [--phase ALL]
    [--display_lrm]: BVLC's draw_net.py."""
    ap = argparse.ArgumentParser(prog="python -m torchcaffe.draw", description=main.__doc__)
    ap.add_argument("input_net_proto_file", help="net prototxt")
    ap.add_argument("output_image_file", help="image to write (.png, .svg, .pdf, .raw, ...)")
    ap.add_argument("--rankdir", default="LR", help="TB, BT, LR or RL (Graphviz rankdir)")
    ap.add_argument("--phase", default="ALL", choices=["TRAIN", "TEST", "ALL"])
    ap.add_argument("--display_lrm", action="store_true", help="show lr multipliers")
    args = ap.parse_args(argv)
    import caffeio

    net = caffeio.read_net(args.input_net_proto_file)
    phase = {"TRAIN": caffe_pb2.TRAIN, "TEST": caffe_pb2.TEST, "ALL": None}[args.phase]
    print(f"Drawing net to {args.output_image_file}")
    draw_net_to_file(net, args.output_image_file, args.rankdir, phase, args.display_lrm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
