"""param_str parsing: a Python literal dict, read with ast.literal_eval (never eval)."""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping, Sequence
from typing import Any


def parse_param_str(
    param_str: object,
    layer: str,
    required: Sequence[str] = (),
    optional: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Parse `param_str` -> dict with `optional` defaults filled in.

    layer: the layer class name, for messages. required: keys that must be present.
    optional: {key: default}. Unknown keys, a non-dict value, a syntax error or a number that is
    not finite (1e309 reads as inf) raise ValueError naming the layer and the offending key.
    """
    optional = dict(optional or {})
    text = param_str if isinstance(param_str, str) else str(param_str or "")
    if not text.strip():
        parsed = {}
    else:
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError) as e:
            raise ValueError(
                f"{layer}: param_str is not a Python literal dict ({e}): {text!r}; write e.g. "
                "\"dict(split='train', seed=1337)\" as \"{'split': 'train', 'seed': 1337}\""
            ) from None
    if not isinstance(parsed, dict):
        raise ValueError(f"{layer}: param_str must be a dict literal, got {type(parsed).__name__}")
    for key, value in parsed.items():
        if not _finite(value):
            raise ValueError(
                f"{layer}: param_str key {key!r} holds a number that is not finite ({value!r}; "
                "a literal beyond 1.8e308 such as 1e309 reads as inf): give finite numbers"
            )
    allowed = set(required) | set(optional)
    unknown = sorted(set(parsed) - allowed, key=str)
    if unknown:
        raise ValueError(
            f"{layer}: unknown param_str key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    missing = [k for k in required if k not in parsed]
    if missing:
        raise ValueError(f"{layer}: param_str lacks required key(s) {', '.join(missing)}")
    out = dict(optional)
    out.update(parsed)
    return out


def _finite(value):
    """False when `value` is, or holds (in lists, tuples, sets, dicts), an inf or NaN number."""
    if isinstance(value, (float, complex)):
        return math.isfinite(abs(value))
    if isinstance(value, dict):
        value = list(value.keys()) + list(value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return all(_finite(v) for v in value)
    return True
