"""Papers' engagement over time. Pure: the store's snapshots and the day are passed in.

Each time a source reports a paper's upvotes, comments and stars, the send run keeps them as
that day's snapshot (store table paper_signals, one row per paper per day). An issue's papers
are then compared with their latest snapshot from an earlier day: what they gained, and over
how many days, is their growth (models.Growth), which ranking counts beside the levels
(digest/issue/rank.py), so a paper gaining 38 upvotes a day is news and one that stopped at 60 is not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from ..models import Growth, Paper, Pick

RISING_DAYS = 3  # the days before an issue whose papers may be rising in it

Snapshot = tuple[str, int | None, int | None, int | None]  # day, upvotes, comments, stars


def snapshot_rows(papers: Iterable[Paper]) -> list[tuple[str, int | None, int | None, int | None]]:
    """The rows a day's snapshot keeps: (paper id, upvotes, comments, stars)."""
    return [(p.id, p.upvotes, p.comments, p.stars) for p in papers]


def growth_of(papers: Iterable[Paper], earlier: Mapping[str, Snapshot], day: date) -> dict[str, Growth]:
    """Each paper's gain since its snapshot in `earlier` (paper id -> the latest one before
    `day`). A count a source stopped giving, or gave lower (a vote withdrawn), gains nothing."""
    grown: dict[str, Growth] = {}
    for paper in papers:
        seen = earlier.get(paper.id)
        if seen is None:
            continue
        since, *before = seen
        now = (paper.upvotes, paper.comments, paper.stars)
        gains = [
            max(0, n - b) if n is not None and b is not None else 0 for n, b in zip(now, before, strict=True)
        ]
        days = max(1, (day - date.fromisoformat(since)).days)
        grown[paper.id] = Growth(since, days, *gains)
    return grown


def rising(papers: Iterable[Paper], growth: Mapping[str, Growth], limit: int) -> list[Pick]:
    """The papers that gained the most upvotes a day (at least one), most first, as picks for
    the "Rising" section; each says how much it gained."""
    climbing = [p for p in papers if p.id in growth and growth[p.id].upvotes > 0]
    climbing.sort(key=lambda p: (-growth[p.id].per_day("upvotes"), -(p.upvotes or 0), p.id))
    return [
        Pick(paper, score=0.0, trending=0.0, relevance=0.0, reason=f"rising: {growth[paper.id].words()}")
        for paper in climbing[:limit]
    ]
