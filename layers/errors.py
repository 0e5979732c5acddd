"""The one error type the data layers raise, with the context a user needs to fix the data."""

from __future__ import annotations

LAYOUT_HINT = "see data/README.md for the expected layout"

# (dataset, split, example id), each None when unknown: where a DataError happened
Ctx = tuple[str | None, str | None, str | None]


class DataError(ValueError):
    """A dataset file is missing, malformed or inconsistent.

    The message names the dataset, split, example id and path when known, says what is wrong,
    and points to data/README.md for the expected on-disk layout.
    """


def data_error(
    problem: str,
    dataset: str | None = None,
    split: str | None = None,
    idx: str | None = None,
    path: str | None = None,
    hint: str | None = LAYOUT_HINT,
) -> DataError:
    """Build a DataError: '<dataset> split '<split>' id '<idx>': <problem> (<path>); <hint>'."""
    where = []
    if dataset:
        where.append(str(dataset))
    if split is not None:
        where.append(f"split '{split}'")
    if idx is not None:
        where.append(f"id '{idx}'")
    msg = " ".join(where) + ": " + problem if where else problem
    if path is not None:
        msg += f" [{path}]"
    if hint:
        msg += f"; {hint}"
    return DataError(msg)
