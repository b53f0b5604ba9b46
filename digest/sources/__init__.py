"""Where papers come from. One module per source kind; `collect` runs them all and merges.

A source that fails is reported and skipped; the caller decides what an all-failed run means.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..errors import DigestError
from ..models import Paper
from . import file


@dataclass
class SourceReport:
    label: str
    papers: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Collected:
    papers: list[Paper] = field(default_factory=list)
    reports: list[SourceReport] = field(default_factory=list)

    @property
    def failed(self) -> list[SourceReport]:
        return [r for r in self.reports if not r.ok]


def collect(sources: list) -> Collected:
    """Read every configured source, merge by paper id, keep each source's report."""
    result = Collected()
    lists: list[list[Paper]] = []
    for source in sources:
        report = SourceReport(source.label)
        started = time.perf_counter()
        try:
            papers = file.read(source.path, source.label)
        except DigestError as exc:
            report.error = "; ".join(exc.problems[:3]) + (
                f" (and {len(exc.problems) - 3} more)" if len(exc.problems) > 3 else ""
            )
            papers = []
        report.seconds = time.perf_counter() - started
        report.papers = len(papers)
        result.reports.append(report)
        lists.append(papers)
    result.papers = merge(lists)
    return result


def merge(lists: list[list[Paper]]) -> list[Paper]:
    """One Paper per id. The first source to list a paper gives its text; signals combine:
    the highest counts, the best listing position, the union of categories and keywords."""
    merged: dict[str, Paper] = {}
    for papers in lists:
        for paper in papers:
            seen = merged.get(paper.id)
            if seen is None:
                merged[paper.id] = Paper(**paper.to_dict())
                continue
            for name in ("upvotes", "comments", "stars"):
                values = [v for v in (getattr(seen, name), getattr(paper, name)) if v is not None]
                setattr(seen, name, max(values) if values else None)
            if paper.position is not None:
                seen.position = min(p for p in (seen.position, paper.position) if p is not None)
            for name in ("authors", "categories", "keywords", "sources"):
                have = getattr(seen, name)
                if name == "authors" and have:
                    continue
                have.extend(v for v in getattr(paper, name) if v not in have)
            for name in (
                "organization",
                "published",
                "submitted",
                "url",
                "pdf_url",
                "code_url",
                "project_url",
                "thumbnail",
                "summary",
            ):
                if not getattr(seen, name):
                    setattr(seen, name, getattr(paper, name))
    return list(merged.values())
