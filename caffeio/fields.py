"""Descriptor facts that differ in spelling between protobuf releases (3.20 .. 7.x)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google.protobuf.descriptor import FieldDescriptor


def is_repeated(field: FieldDescriptor) -> bool:
    """True for a repeated field (`FieldDescriptor.is_repeated` is new; `label` is deprecated)."""
    flag = getattr(type(field), "is_repeated", None)
    if flag is not None:
        return bool(field.is_repeated)
    return field.label == field.LABEL_REPEATED
