"""Fetch 8 sources that each answer after 300 ms on loopback: wall time against the delays' sum.

Target: concurrent fetching takes at most 0.25 of the sum; one-at-a-time fetching is measured
beside it in the same run. The server is the tests' replay server; the sources are of every
kind, reading the small recorded fixtures in tests/fixtures, so parsing and merging count too.
"""

from __future__ import annotations

import statistics
import time
from datetime import date
from pathlib import Path

from digest import sources
from digest.config import ArxivApiSource, ArxivRssSource, FeedSource, Fetch, HFDailySource
from tests.helpers_http import ReplayServer, Reply, hf_daily_papers, recorded_reply

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
DELAY = 0.3
DAY = date(2026, 8, 12)


def _delayed(reply: Reply) -> Reply:
    reply.delay = DELAY
    return reply


def _world(server: ReplayServer) -> list:
    hf = hf_daily_papers({DAY.isoformat(): FIXTURES / "hf_small.json"})
    server.routes["/api/daily_papers"] = lambda seen: _delayed(hf(seen))
    server.routes["/api/query"] = _delayed(recorded_reply(FIXTURES / "arxiv_api_small.xml"))
    feeds = {
        "/rss/cs.IR+hep-th": "arxiv_rss_small.xml",
        "/rss/cs.IR": "arxiv_rss_small.xml",
        **{f"/feed{n}.xml": name for n, name in enumerate(["feed_small.xml", "feed_labelled.xml"] * 2)},
    }
    for path, name in feeds.items():
        server.routes[path] = _delayed(recorded_reply(FIXTURES / name))
    return [
        HFDailySource(kind="hf_daily", url=server.url),
        ArxivApiSource(kind="arxiv_api", url=server.url, query="cat:cs.IR"),
        ArxivRssSource(kind="arxiv_rss", url=server.url, categories=["cs.IR", "hep-th"]),
        ArxivRssSource(kind="arxiv_rss", url=server.url, categories=["cs.IR"]),
        *(FeedSource(kind="feed", url=f"{server.url}/feed{n}.xml", name=f"feed{n}") for n in range(4)),
    ]


def _wall(world: list, concurrency: int, repeat: int) -> tuple[float, int]:
    options = Fetch(timeout=5, retries=0, concurrency=concurrency)
    samples, papers = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        collected = sources.collect(world, day=DAY, options=options)
        samples.append(time.perf_counter() - started)
        assert not collected.failed, [r.error for r in collected.failed]
        papers = len(collected.papers)
    return statistics.median(samples), papers


def run() -> None:
    with ReplayServer() as server:
        world = _world(server)
        total = DELAY * len(world)
        concurrent, papers = _wall(world, concurrency=8, repeat=5)
        sequential, _ = _wall(world, concurrency=1, repeat=1)
    print(f"{len(world)} sources, each answering after {DELAY * 1e3:.0f} ms; {papers} papers after merging")
    print(f"  {'sum of the delays':<30} {total:6.3f} s")
    print(
        f"  {'one at a time (concurrency 1)':<30} {sequential:6.3f} s  {sequential / total:5.2f} of the sum"
    )
    print(
        f"  {'concurrent (concurrency 8)':<30} {concurrent:6.3f} s  {concurrent / total:5.2f} of the sum"
        "  (target <= 0.25; median of 5 runs)"
    )
