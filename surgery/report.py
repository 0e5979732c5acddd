"""What a surgery step did, kept as data and printable as lines."""

from __future__ import annotations

from typing import TextIO


class Report:
    """Lists of (what, detail) lines: copied, reshaped, dropped (source layers with no target),
    missing (target layers that received nothing), interp'd and other notes."""

    def __init__(self, title: str = "") -> None:
        self.title = title
        self.copied = []
        self.reshaped = []
        self.dropped = []
        self.missing = []
        self.interpolated = []
        self.notes = []

    def extend(self, other: Report) -> Report:
        """Append `other`'s lines of every kind to this report's -> this report."""
        for field in ("copied", "reshaped", "dropped", "missing", "interpolated", "notes"):
            getattr(self, field).extend(getattr(other, field))
        return self

    def lines(self) -> list[str]:
        """The title, then one '  <kind>: <detail>' line per item."""
        out = [self.title] if self.title else []
        for label, items in (
            ("copied", self.copied),
            ("reshaped", self.reshaped),
            ("interp", self.interpolated),
            ("dropped", self.dropped),
            ("not initialised from the source", self.missing),
            ("note", self.notes),
        ):
            for item in items:
                out.append(f"  {label}: {item}")
        return out

    def summary(self) -> str:
        """One line counting the copied, reshaped, interp'd, dropped and missing items."""
        return (
            f"{len(self.copied)} blobs copied, {len(self.reshaped)} reshaped, "
            f"{len(self.interpolated)} interp, {len(self.dropped)} source layers dropped, "
            f"{len(self.missing)} target layers not initialised"
        )

    def __str__(self):
        return "\n".join(self.lines() + ["  " + self.summary()])

    def print(self, file: TextIO | None = None) -> None:
        """Print the lines and the summary to `file` (default stdout), flushed."""
        print(str(self), file=file, flush=True)
