"""NetParameter transforms Caffe applies before building a net: state filtering, Split insertion."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from caffeio import caffe_pb2
from caffeio.netstate import state_meets_rule

from .errors import NetError


def filter_net(
    net: caffe_pb2.NetParameter,
    phase: int,
    level: int = 0,
    stages: Iterable[str] = (),
    where: str = "net",
) -> caffe_pb2.NetParameter:
    """Copy of `net` keeping the layers whose include/exclude rules admit (phase, level, stages)."""
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    out.ClearField("layer")
    stages = set(stages)
    for layer in net.layer:
        if len(layer.include) and len(layer.exclude):
            raise NetError(
                f"{where}: layer '{layer.name}' has both include and exclude rules; "
                "Caffe allows only one kind per layer"
            )
        if len(layer.include):
            keep = any(state_meets_rule(phase, level, stages, r) for r in layer.include)
        else:
            keep = not any(state_meets_rule(phase, level, stages, r) for r in layer.exclude)
        if keep:
            out.layer.add().CopyFrom(layer)
    out.state.phase = phase
    out.state.level = level
    out.state.ClearField("stage")
    out.state.stage.extend(sorted(stages))
    return out


def split_layer_name(blob: str, layer: str, top_index: int) -> str:
    return f"{blob}_{layer}_{top_index}_split"


def split_blob_name(blob: str, layer: str, top_index: int, k: int) -> str:
    return f"{blob}_{layer}_{top_index}_split_{k}"


def _check_loss_weights(layer, where, locate):
    """Caffe's rule: no loss_weight, or one per top."""
    if len(layer.loss_weight) not in (0, len(layer.top)):
        raise NetError(
            f"{locate(layer) if locate else where}: layer '{layer.name}' has "
            f"{len(layer.loss_weight)} loss_weight values for {len(layer.top)} tops"
        )


def insert_splits(
    net: caffe_pb2.NetParameter,
    where: str = "net",
    locate: Callable[[caffe_pb2.LayerParameter], str] | None = None,
) -> caffe_pb2.NetParameter:
    """Copy of `net` with a Split layer after every top that feeds several consumers.

    Names follow Caffe: layer `<blob>_<producer>_<i>_split`, tops `..._split_<k>`. A top with an
    explicit non-zero loss_weight counts as one consumer; its weight moves to split top 0.
    A bottom that no earlier layer produces raises NetError naming the layer and blob;
    `locate(layer)` (optional) gives the file:line prefix for that message.
    """
    source, uses, loss_w = _count_uses(net, where, locate)
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    out.ClearField("layer")
    next_split = {}
    for i, layer in enumerate(net.layer):
        new = out.layer.add()
        new.CopyFrom(layer)
        for j, b in enumerate(layer.bottom):
            src = source[(i, j)]
            if uses.get(src, 0) > 1:
                k = next_split.get(src, 0)
                next_split[src] = k + 1
                new.bottom[j] = split_blob_name(b, net.layer[src[0]].name, src[1], k)
        for j in range(len(layer.top)):
            n = uses.get((i, j), 0)
            if n <= 1:
                continue
            w = loss_w.get((i, j), 0)
            _add_split(out, new, layer, j, n, w)
            if w:  # split top 0 carries the loss: the consumers take 1, 2, ...
                next_split[(i, j)] = 1
    return out


def _count_uses(net, where, locate):
    """(source, uses, loss_w) of `net`: (layer, bottom index) -> the (layer, top index) that
    produced it; (layer, top index) -> its consumers (a nonzero loss_weight counts as one);
    (layer, top index) -> its loss_weight."""
    last_producer = {}  # blob name -> (layer index, top index)
    source = {}
    uses = {}
    loss_w = {}
    for i, layer in enumerate(net.layer):
        _check_loss_weights(layer, where, locate)  # before a Split takes them over
        for j, b in enumerate(layer.bottom):
            if b not in last_producer:
                known = sorted(last_producer)
                raise NetError(
                    f"{locate(layer) if locate else where}: layer '{layer.name}' (type "
                    f"{layer.type}) bottom {j} '{b}' is not "
                    f"produced by any earlier layer; blobs defined so far: {known[:20]}"
                    + (" ..." if len(known) > 20 else "")
                )
            src = last_producer[b]
            source[(i, j)] = src
            uses[src] = uses.get(src, 0) + 1
        for j, t in enumerate(layer.top):
            last_producer[t] = (i, j)
        for j in range(min(len(layer.loss_weight), len(layer.top))):
            loss_w[(i, j)] = layer.loss_weight[j]
            if layer.loss_weight[j] != 0:
                uses[(i, j)] = uses.get((i, j), 0) + 1
    return source, uses, loss_w


def _add_split(out, new, layer, j, n, w):
    """Append to `out` the Split layer of `layer`'s top j (n consumers); a loss weight `w`
    moves from the producer (`new`, its copy in `out`) to split top 0."""
    t = layer.top[j]
    split = out.layer.add(name=split_layer_name(t, layer.name, j), type="Split")
    split.bottom.append(t)
    for k in range(n):
        split.top.append(split_blob_name(t, layer.name, j, k))
    if w:
        split.loss_weight.extend([w] + [0] * (n - 1))
        new.ClearField("loss_weight")
