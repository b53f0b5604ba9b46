"""Days with no papers, said plainly. Pure: days in, one line out.

On a day every source answered and none listed a paper (Hugging Face lists none at weekends;
arXiv has holidays) a daily reader gets nothing; the store keeps the day with the line said
about it, and the next issue opens with that line, as the web archive shows it for the day.
"""

from __future__ import annotations

from datetime import date, timedelta

LOOK_BACK = 7  # the most empty days in a row an issue speaks for
WEEKEND = "no papers are listed at weekends"


def said(day: date) -> str:
    """What is said about one empty day."""
    why = WEEKEND if day.weekday() >= 5 else "the sources listed no papers that day"
    return f"No issue on {day:%A} {day.day} {day:%B}: {why}."


def quiet_before(issue_day: date, empty: dict[str, str]) -> list[date]:
    """The empty days right before `issue_day` (oldest first), from the recorded ones."""
    days: list[date] = []
    day = issue_day - timedelta(days=1)
    while day.isoformat() in empty and len(days) < LOOK_BACK:
        days.insert(0, day)
        day -= timedelta(days=1)
    return days


def opening_line(days: list[date]) -> str:
    """The line an issue opens with after `days` with no papers ("" when there were none)."""
    if not days:
        return ""
    if len(days) == 1:
        return said(days[0])
    weekend = all(d.weekday() >= 5 for d in days)
    why = WEEKEND if weekend else "the sources listed no papers on those days"
    first, last = days[0], days[-1]
    span = f"{first:%A} {first.day}" + (f" {first:%B}" if first.month != last.month else "")
    return f"No issue from {span} to {last:%A} {last.day} {last:%B}: {why}."
