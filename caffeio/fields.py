"""Descriptor facts that differ in spelling between protobuf releases (3.20 .. 7.x)."""


def is_repeated(field):
    """True for a repeated field (`FieldDescriptor.is_repeated` is new; `label` is deprecated)."""
    flag = getattr(type(field), "is_repeated", None)
    if flag is not None:
        return bool(field.is_repeated)
    return field.label == field.LABEL_REPEATED
