"""The one error type the data layers raise, with the context a user needs to fix the data."""

LAYOUT_HINT = "see data/README.md for the expected layout"


class DataError(ValueError):
    """A dataset file is missing, malformed or inconsistent.

    The message names the dataset, split, example id and path when known, says what is wrong,
    and points to data/README.md for the expected on-disk layout.
    """


def data_error(problem, dataset=None, split=None, idx=None, path=None, hint=LAYOUT_HINT):
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
