"""The days an issue covers, by the reader's frequency. Pure: dates in, dates out.

A daily (or weekdays) reader's issue holds its own day's papers. A `weekly:DAY` reader's holds
the seven days up to and including the issue's day (their previous issue's day is just
outside it); a `monthly:N` reader's the days since their previous issue's day. Consecutive
issues' windows meet without overlapping, so every listed day reaches each reader once, and
the ledger's record of the papers sent (sent_papers) keeps a paper listed on two days from
reaching them twice.

Readers with the same frequency and issue day share a window, and so the issue built from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from .due import monthly_day


@dataclass(frozen=True, order=True)
class Window:
    """An issue (`issue`, the id of its last day) and the days whose listings it holds."""

    issue: str
    first: date
    last: date
    kind: str = "day"  # day, week or month: what the subject and the header call it

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def length(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def single_day(self) -> bool:
        return self.first == self.last

    @property
    def label(self) -> str:
        """What the subject opens with ("This week"); "" for a day's issue."""
        return "" if self.kind == "day" else f"This {self.kind}"

    @property
    def span(self) -> str:
        """The days in words, for the header: "4-10 August 2026", "28 July - 3 August 2026"."""
        first, last = self.first, self.last
        if first.year != last.year:
            return f"{first.day} {first:%B %Y} - {last.day} {last:%B %Y}"
        if first.month != last.month:
            return f"{first.day} {first:%B} - {last.day} {last:%B %Y}"
        return f"{first.day}-{last.day} {last:%B %Y}"


def window_for(frequency: str, issue: str) -> Window:
    """The window of the issue dated `issue` for a reader with this frequency."""
    last = date.fromisoformat(issue)
    if frequency.startswith("weekly:"):
        return Window(issue, last - timedelta(days=6), last, "week")
    if frequency.startswith("monthly:"):
        year, month = (last.year, last.month - 1) if last.month > 1 else (last.year - 1, 12)
        previous = date(year, month, monthly_day(frequency, year, month))
        return Window(issue, previous + timedelta(days=1), last, "month")
    return Window(issue, last, last)
