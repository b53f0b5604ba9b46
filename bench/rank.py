"""Per-reader cost of ranking a 50-paper issue for 5,000 readers.

The issue: 50 papers of recorded Hugging Face days (upvotes, keywords, authors) when
../shared/fixtures is present, else the shipped sample plus one. The readers: 5,000 made up
with a fixed seed, like a real list: a fifth without preferences, the rest with a few keywords,
topics, authors, categories and exclusions, each with a history of papers already sent.
Side by side: the same readers with the issue's keyword matches shared between readers (as
`send` does) and recomputed for every reader.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from digest.compose.build import make_issue
from digest.issue import rank, similar, themes
from digest.jobs.profiles import taxonomy_themes
from digest.models import Paper, Subscriber
from digest.sources import file as file_source

from .timing import per_call

ROOT = Path(__file__).resolve().parent.parent
HF_DAYS = ROOT.parent / "shared" / "fixtures" / "hf_daily_papers"
NOW = datetime(2026, 8, 14, 7, 0, tzinfo=UTC)
N_PAPERS = 50
N_READERS = 5000


def issue_papers() -> tuple[list[Paper], str]:
    days = sorted(HF_DAYS.glob("2026-08-1*.json")) if HF_DAYS.is_dir() else []
    papers: dict[str, Paper] = {}
    for day in days:
        for paper in file_source.read(day):
            papers.setdefault(paper.id, paper)
    if len(papers) >= N_PAPERS:
        chosen = list(papers.values())[:N_PAPERS]
        return [
            replace(p, position=i + 1) for i, p in enumerate(chosen)
        ], f"recorded HF days {days[0].stem}.."
    sample = file_source.read(ROOT / "samples" / "papers.jsonl")
    extra = replace(sample[0], id="bench:extra", position=len(sample) + 1)
    return [*sample, extra], "the shipped sample"


def readers(papers: list[Paper], taxonomy: list[themes.Topic]) -> list[tuple[Subscriber, frozenset[str]]]:
    rng = random.Random(7)
    words = sorted(
        {kw for p in papers for kw in p.keywords} | {" ".join(k) for t in taxonomy for k in t.keywords}
    )
    people = sorted({a for p in papers for a in p.authors}) + [f"Made Up {i}" for i in range(200)]
    topics = [t.key for t in taxonomy]
    ids = [p.id for p in papers]
    out = []
    for i in range(N_READERS):
        email = f"reader{i}@example.org"
        sent = frozenset(
            rng.sample(ids, rng.randint(0, 5)) + [f"2607.{n:05d}" for n in range(rng.randint(0, 60))]
        )
        if rng.random() < 0.2:
            out.append((Subscriber(email=email), sent))
            continue
        reader = Subscriber(
            email=email,
            keywords=rng.sample(words, rng.randint(1, 6)),
            topics=rng.sample(topics, rng.randint(0, 2)),
            authors=rng.sample(people, rng.randint(0, 3)),
            categories=["cs.CL"] if rng.random() < 0.2 else [],
            exclude=rng.sample(words, rng.randint(0, 2)),
            max_papers=rng.choice([None, 10, 15]),
        )
        out.append((reader, sent))
    return out


def run() -> None:
    papers, where = issue_papers()
    taxonomy = themes.load_taxonomy()
    options = rank.Options()
    issue = make_issue(papers, NOW, "UTC", taxonomy)
    everyone = readers(papers, taxonomy)
    personal = [r for r, _ in everyone if r.personalised]

    once_themes = per_call(lambda: make_issue(papers, NOW, "UTC", taxonomy), repeat=3, number=3)
    once_prepare = per_call(lambda: rank.prepare(issue, NOW, options), repeat=3, number=5)

    def all_readers(shared: bool) -> tuple[float, int]:
        prepared = rank.prepare(issue, NOW, options)
        picked = 0
        start = time.perf_counter()
        for reader, sent in everyone:
            if not shared:
                prepared._matches.clear()
            picked += len(rank.select(prepared, reader, options, sent))
        return time.perf_counter() - start, picked

    shared_s, picked = min(all_readers(True) for _ in range(3))
    cold_s, _ = min(all_readers(False) for _ in range(3))
    keywords = sum(len(r.keywords) for r in personal) / len(personal)
    print(
        f"{len(papers)} papers from {where}, {len(everyone)} readers ({len(personal)} with preferences,"
        f" {keywords:.1f} keywords each), {picked / len(everyone):.1f} picks per reader"
    )
    print(f"  themes (once per issue)              {once_themes * 1e3:8.2f} ms")
    print(f"  rank.prepare (once per issue)        {once_prepare * 1e3:8.2f} ms")
    print(
        f"  rank.select per reader               {shared_s / len(everyone) * 1e6:8.1f} us"
        f"  ({len(everyone)} readers in {shared_s:.2f} s)"
    )
    print(
        f"  ... keyword matches not shared       {cold_s / len(everyone) * 1e6:8.1f} us"
        f"  ({cold_s / shared_s:.1f}x the shared cost)"
    )
    with_library(issue, options, everyone, shared_s / len(everyone))


LIBRARY = 200  # papers in each reader's library
PROFILES = 50  # distinct libraries, shared round-robin: a profile is built when a library changes


def with_library(issue, options, everyone, plain: float) -> None:
    """The same readers each with a 200-paper library: rank.select with their profile, beside
    the figure above; then with five papers marked "less like this" too. Profiles are made when
    a library or a click changes and stored (digest/jobs/profiles.py), so a send reads one: that
    read is timed too. What a profile says about the day is worked out once per profile
    (rank.ProfileDay), so readers sharing a library share it; the figure for readers who each
    have their own is printed beside."""
    pool = library_pool()
    rng = random.Random(11)
    libraries, clicked = [], []
    themes_of = taxonomy_themes(themes.load_taxonomy())
    for _ in range(PROFILES):
        mine = rng.sample(pool, LIBRARY + 5)
        owns = [similar.Own(similar.LIBRARY, p.id, p.title, p.abstract) for p in mine[:LIBRARY]]
        libraries.append(similar.profile_of(owns))
        owns += [similar.Own(similar.DISLIKED, p.id, p.title, p.abstract) for p in mine[LIBRARY:]]
        clicked.append(similar.profile_of(owns, themes_of=themes_of))
    for profiles, label in (
        (libraries, f"a {LIBRARY}-paper library each"),
        (clicked, "... and 5 less like this"),
    ):
        measure(issue, options, everyone, plain, profiles, label, len(pool))


def measure(issue, options, everyone, plain: float, profiles, label: str, pool: int) -> None:
    stored = [p.to_json() for p in profiles]

    def all_readers(shared: bool = True) -> tuple[float, float]:
        prepared = rank.prepare(issue, NOW, options)
        prepared.own_papers_index()  # once per issue, like the keyword matches
        start = time.perf_counter()
        for k, (reader, sent) in enumerate(everyone):
            profile = profiles[k % len(profiles)]
            if not shared:  # as if every reader had a library of their own
                profile.day = None
            rank.select(prepared, reader, options, sent, profile)
        ranking = time.perf_counter() - start
        start = time.perf_counter()
        for k in range(len(everyone)):
            similar.Profile.from_json(stored[k % len(stored)])
        return ranking, time.perf_counter() - start

    ranking, reading = min(all_readers() for _ in range(3))
    alone = min(all_readers(shared=False)[0] for _ in range(3))
    n = len(everyone)
    per = ranking / n
    print(
        f"  with {label:<30}{per * 1e6:8.1f} us  ({per / plain:.2f}x without; target <= 3x;"
        f" {len(profiles)} distinct libraries from {pool} papers, shared round-robin)"
    )
    print(f"    ... nobody sharing a library       {alone / n * 1e6:8.1f} us  ({alone / n / plain:.2f}x)")
    size = sum(len(s) for s in stored) / len(stored) / 1024
    print(f"    reading the stored profile         {reading / n * 1e6:8.1f} us  ({size:.0f} KB of JSON each)")


def library_pool() -> list[Paper]:
    """Papers to draw libraries from: recorded HF days and the labelled arXiv papers."""
    pool: dict[str, Paper] = {}
    for day in sorted(HF_DAYS.glob("*.json")) if HF_DAYS.is_dir() else []:
        for paper in file_source.read(day):
            pool.setdefault(paper.id, paper)
    labelled = ROOT.parent / "shared" / "fixtures" / "labeled"
    for path in sorted(labelled.glob("*.jsonl")) if labelled.is_dir() else []:
        for paper in file_source.read(path):
            pool.setdefault(paper.id, paper)
    if len(pool) < LIBRARY:  # no recorded data: the shipped sample, repeated under other ids
        sample = file_source.read(ROOT / "samples" / "papers.jsonl")
        return [replace(sample[i % len(sample)], id=f"bench:{i}") for i in range(LIBRARY * 2)]
    return list(pool.values())
