"""Where papers come from. One module per source kind; `collect` runs them all and merges.

Sources are fetched at once, one thread each (up to `fetch.concurrency`) over one shared
httpx client: the work is waiting on the network, the callers (send, preview, the
scheduler) are synchronous, and feedparser's CPU-bound parsing runs in the same threads
instead of stalling an event loop. A source that fails is reported and skipped; the
caller decides what an all-failed run means.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from ..config import Fetch
from ..errors import DigestError
from ..models import Paper
from .result import Fetched, FetchError

if TYPE_CHECKING:
    from ..config import Config
    from ..store import HttpCache
    from .httpclient import Client

# Sources whose listing belongs to a day (and so can be asked for an earlier one).
DATED = frozenset({"hf_daily"})


@dataclass
class SourceReport:
    label: str
    papers: int = 0
    seconds: float = 0.0
    error: str | None = None
    cached: bool | None = None  # True: answered 304, served from the cache; None: not HTTP
    warnings: list[str] = field(default_factory=list)
    day: date | None = None  # the listing's day, for dated sources (an earlier one on a lookback)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Collected:
    papers: list[Paper] = field(default_factory=list)
    reports: list[SourceReport] = field(default_factory=list)
    lookback: list[date] = field(default_factory=list)  # earlier days used for an empty one
    warnings: list[str] = field(default_factory=list)  # about the run, not one source
    day: date | None = None  # the issue day asked for
    capped: str | None = None  # papers left out by fetch.max_papers_per_issue, said once

    @property
    def problems(self) -> list[str]:
        """Each failed source, naming the issue day: what a send or preview reports."""
        return [f"source {r.label}{self._on}: {r.error}" for r in self.failed]

    @property
    def notes(self) -> list[str]:
        """What went right but is worth a log line: source warnings, the days looked back to."""
        notes = [f"source {r.label}{self._on}: {w}" for r in self.reports for w in r.warnings]
        if self.lookback:
            earlier = ", ".join(map(str, self.lookback))
            notes.append(f"no papers for {self.day}; using {earlier} (fetch.empty_day: lookback)")
        if self.capped:
            notes.append(self.capped)
        return notes

    @property
    def _on(self) -> str:
        return f" ({self.day})" if self.day else ""

    @property
    def failed(self) -> list[SourceReport]:
        return [r for r in self.reports if not r.ok]

    @property
    def empty_day(self) -> bool:
        """Every source answered and none had a paper: a weekend or holiday, not a fault."""
        return not self.papers and not self.failed


def for_issue(config: Config, day: date | None, cache: HttpCache | None = None) -> Collected:
    """The papers of the issue of `day`: every configured source, with the configured fetch
    options. What `digest send`, `preview` and `archive` build an issue from."""
    return collect(config.sources, day=day, options=config.fetch, cache=cache)


def collect(
    sources: list,
    *,
    day: date | None = None,
    options: Fetch | None = None,
    cache: HttpCache | None = None,
    progress: Callable[[SourceReport], None] | None = None,
    client: Client | None = None,
) -> Collected:
    """Fetch every source for `day` at once, merge by paper id, keep each source's report.

    `cache` keeps each URL's ETag / Last-Modified with its body (digest/store); the caller
    opens and closes it. On an empty day, `options.empty_day: lookback` asks the dated sources
    for the days before.
    """
    options = options or Fetch()
    own_client = client is None and any(s.kind != "file" for s in sources)
    if own_client:
        from .httpclient import Client

        client = Client(options, cache=cache, user_agent=options.user_agent)
    try:
        jobs = [(source, day) for source in sources]
        results = _run(jobs, client, options.concurrency, progress, options.max_papers_per_source)
        collected = Collected(reports=[r for r, _ in results], day=day)
        lists = [papers for _, papers in results]
        dated = [s for s in sources if s.kind in DATED]
        if day and dated and options.empty_day == "lookback" and not any(lists) and not collected.failed:
            earlier = [day - timedelta(days=n) for n in range(1, options.lookback_days + 1)]
            more = _run(
                [(s, d) for d in earlier for s in dated],
                client,
                options.concurrency,
                progress,
                options.max_papers_per_source,
            )
            for report, papers in more:
                collected.reports.append(report)
                lists.append(papers)
            collected.lookback = [d for d in earlier if any(r.day == d and r.papers for r, _ in more)]
        collected.papers, collected.capped = capped_issue(
            merge(lists), lists, [r.label for r in collected.reports], options.max_papers_per_issue
        )
        if cache is not None and cache.problem:
            collected.warnings.append(cache.problem)
        return collected
    finally:
        if own_client and client is not None:
            client.close()


def _run(
    jobs: list[tuple[object, date | None]],
    client: Client | None,
    concurrency: int,
    progress: Callable[[SourceReport], None] | None,
    cap: int,
) -> list[tuple[SourceReport, list[Paper]]]:
    """Each job in its own thread; results in the order of `jobs`, progress as they finish."""
    if not jobs:
        return []
    pool = ThreadPoolExecutor(max_workers=min(concurrency, len(jobs)), thread_name_prefix="fetch")
    try:
        futures = {pool.submit(_one, source, day, client, cap): i for i, (source, day) in enumerate(jobs)}
        results: list = [None] * len(jobs)
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if progress is not None:
                progress(results[futures[future]][0])
    finally:  # on Ctrl-C, start nothing more; requests under way end at their timeout
        pool.shutdown(wait=False, cancel_futures=True)
    return results


def _one(source, day: date | None, client: Client | None, cap: int) -> tuple[SourceReport, list[Paper]]:
    """One source, never raising: whatever goes wrong becomes the report's error."""
    report = SourceReport(source.label, day=day if source.kind in DATED else None)
    started = time.perf_counter()
    papers: list[Paper] = []
    try:
        # Each kind is the module of that name here, imported when a source of that kind is
        # configured: `digest themes` and the `file` source never load httpx or feedparser.
        kind = importlib.import_module(f"{__name__}.{source.kind}")
        fetched: Fetched = kind.fetch(source, client, day)
        papers = fetched.papers
        report.warnings = fetched.warnings
        if len(papers) > cap:
            papers = best(papers)[:cap]
            report.warnings.append(
                f"{len(fetched.papers)} papers, over fetch.max_papers_per_source ({cap}): kept the "
                f"{cap} with the most upvotes, stars and comments, then the first listed; "
                f"{len(fetched.papers) - cap} left out"
            )
        report.cached = fetched.cached
    except FetchError as exc:
        report.error = str(exc)
    except DigestError as exc:
        report.error = "; ".join(exc.problems[:3]) + (
            f" (and {len(exc.problems) - 3} more)" if len(exc.problems) > 3 else ""
        )
    except Exception as exc:  # a parser bug must not take the other sources down with it
        report.error = f"unexpected {type(exc).__name__}: {exc} (please report this as a bug)"
    report.seconds = time.perf_counter() - started
    report.papers = len(papers)
    return report, papers


def best(papers: list[Paper]) -> list[Paper]:
    """The papers by their source's signals (upvotes, then stars, then comments), ties in the
    order listed: deterministic, and a source without signals keeps its own order."""
    return sorted(papers, key=lambda p: (-(p.upvotes or 0), -(p.stars or 0), -(p.comments or 0)))


def capped_issue(
    merged: list[Paper], lists: list[list[Paper]], labels: list[str], cap: int
) -> tuple[list[Paper], str | None]:
    """At most `cap` of the merged papers, in their merged order, and what was left out. The
    sources take turns, each giving its next best paper, so no one source crowds out the rest."""
    if len(merged) <= cap:
        return merged, None
    ranked = [best(papers) for papers in lists]
    kept: set[str] = set()
    for turn in range(max(map(len, ranked), default=0)):
        for papers in ranked:
            if turn < len(papers) and len(kept) < cap:
                kept.add(papers[turn].id)
        if len(kept) >= cap:
            break
    out = [p for p in merged if p.id in kept]
    dropped = [
        f"{label} {n}"
        for label, papers in zip(labels, lists, strict=False)
        if (n := len({p.id for p in papers} - kept))
    ]
    return out, (
        f"{len(merged)} papers from all sources, over fetch.max_papers_per_issue ({cap}): kept {cap}, "
        f"each source's best in turn; left out by source: {', '.join(dropped)}"
    )


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
            for name in ("authors", "categories", "keywords", "sources", "repos"):
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
