"""What one source's fetch hands back to `collect`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..models import Paper
from .intake import bounded


class FetchError(Exception):
    """A source that produced no usable listing; the message is the whole story for the report."""


@dataclass
class Fetched:
    papers: list[Paper]
    warnings: list[str] = field(default_factory=list)  # entries skipped, lenient parses
    cached: bool | None = None  # True: every request answered 304; None: no HTTP involved


# What a malformed entry can raise while it is normalised: it costs that entry, not the source.
ENTRY_ERRORS = (ValueError, TypeError, AttributeError, KeyError, IndexError)


def normalise(
    entries: Sequence[Any],
    to_paper: Callable[[Any, int], Paper],
    where: str,
    *,
    noun: str = "entry",
    first: int = 1,
) -> tuple[list[Paper], list[str]]:
    """Each entry through `to_paper(entry, position)` and the intake's caps (intake.bounded).
    An entry that cannot be read is skipped with a warning; a listing of which no entry can
    be read is a failed source."""
    papers: list[Paper] = []
    warnings: list[str] = []
    for index, entry in enumerate(entries, start=first):
        try:
            papers.append(bounded(to_paper(entry, len(papers) + 1)))
        except ENTRY_ERRORS as exc:
            # A ValueError says what is missing; anything else is a value of the wrong shape.
            why = str(exc) if type(exc) is ValueError else f"unreadable ({type(exc).__name__}: {exc})"
            warnings.append(f"{where}: {noun} {index}: {why}; skipped")
    if entries and not papers:
        raise FetchError(f"{where}: none of the {len(entries)} {noun}s is a usable paper ({warnings[0]})")
    return papers, warnings
