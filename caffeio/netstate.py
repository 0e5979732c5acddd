"""Which layers a net holds for a NetState (phase, level, stages): Caffe's include/exclude rules.

    included(layer, phase=1)                  # TEST net?
    state_meets_rule(1, 0, set(), rule)       # one NetStateRule

Net::FilterNet keeps a layer when one of its `include` rules is met, or, with no include rules,
when none of its `exclude` rules is (a layer may not have both kinds). A rule is met when its
phase (if set) is the state's, min_level <= level <= max_level (those set), every `stage` of
the rule is among the state's stages and no `not_stage` is.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import caffe_pb2


def state_meets_rule(
    phase: int, level: int, stages: Collection[str], rule: caffe_pb2.NetStateRule
) -> bool:
    """True when a NetState (phase 0 TRAIN / 1 TEST, level, stages) satisfies a NetStateRule."""
    if rule.HasField("phase") and rule.phase != phase:
        return False
    if rule.HasField("min_level") and level < rule.min_level:
        return False
    if rule.HasField("max_level") and level > rule.max_level:
        return False
    if any(s not in stages for s in rule.stage):
        return False
    return not any(s in stages for s in rule.not_stage)


def included(
    layer: caffe_pb2.LayerParameter, phase: int, level: int = 0, stages: Iterable[str] = ()
) -> bool:
    """Whether a LayerParameter is in the net of that state (both rule kinds: include wins)."""
    stages = set(stages)
    if len(layer.include):
        return any(state_meets_rule(phase, level, stages, r) for r in layer.include)
    return not any(state_meets_rule(phase, level, stages, r) for r in layer.exclude)
