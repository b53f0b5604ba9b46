"""How well a reader's own papers pick their digest, against arXiv categories.

Simulated readers on ../shared/fixtures/labeled: each follows one area (an arXiv primary
category) and gives a library of 10-30 papers of it. Their digest is drawn from mixed days:
40 papers, the rest of their area's papers (8-10) among papers of 3-6 other areas, in a
random listing order (no upvotes: the listing order is the trending signal). Each reader gets
10 papers through digest's own ranking (rank.select, the day grouped into themes as `send`
does), and precision@10 is the share of them from the reader's area. Side by side, on the same
samples, for the same reader:

- trending only: no preferences (what a new subscriber gets);
- keywords only: three keywords a person would type for the area;
- library: the library as a profile (digest/issue/similar.py, TF-IDF), nothing else;
- library, embeddings: the same through the `embeddings` extra, when it is installed.

Papers reach the ranking without their categories. Seeds are fixed; every run prints the same.

    python -m eval.relevance [--samples N] [--verbose]
"""

from __future__ import annotations

import argparse
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from digest.compose.build import make_issue
from digest.issue import embed as embedding
from digest.issue import rank, similar, themes
from digest.jobs.profiles import taxonomy_themes
from digest.models import Paper, Subscriber

from .themes import DEV, EXPLICIT, load

NOW = datetime(2026, 8, 14, 7, 0, tzinfo=UTC)
TOP = 10
TARGET_OVER_TRENDING = 1.5
# What a reader following each area would type as keywords.
KEYWORDS = {
    "cs.AI": ["reasoning", "planning", "knowledge representation"],
    "cs.CE": ["finite element", "simulation", "computational mechanics"],
    "cs.CL": ["language model", "translation", "natural language processing"],
    "cs.CV": ["computer vision", "object detection", "segmentation"],
    "cs.GR": ["rendering", "computer graphics", "mesh"],
    "cs.GT": ["game theory", "mechanism design", "auction"],
    "cs.IT": ["information theory", "channel coding", "capacity"],
    "cs.LG": ["machine learning", "neural network", "optimization"],
    "cs.RO": ["robot", "manipulation", "motion planning"],
    "eess.IV": ["image processing", "medical imaging", "denoising"],
    "cs.SE": ["software engineering", "program repair", "testing"],
}


@dataclass
class Reader:
    area: str
    library: list[Paper]
    day: list[Paper]
    labels: list[str]


def _by_area() -> dict[str, list[Paper]]:
    areas: dict[str, list[Paper]] = {}
    for path in (DEV, EXPLICIT):
        papers, labels = load(path)
        for paper, label in zip(papers, labels, strict=True):
            areas.setdefault(label, []).append(paper)
    return {a: ps for a, ps in areas.items() if a in KEYWORDS}


def readers(n: int, seed: int = 13) -> list[Reader]:
    rng = random.Random(seed)
    areas = _by_area()
    names = sorted(areas)
    out = []
    for k in range(n):
        area = names[k % len(names)]
        pool = areas[area][:]
        rng.shuffle(pool)
        size = min(rng.randint(10, 30), len(pool) - 8)
        library, rest = pool[:size], pool[size:]
        own_day = rest[: rng.randint(8, 10)]
        others = rng.sample([a for a in names if a != area], rng.randint(3, 6))
        filler = [p for a in others for p in areas[a]]
        rng.shuffle(filler)
        day = own_day + filler[: 40 - len(own_day)]
        labels = [area] * len(own_day) + ["other"] * (len(day) - len(own_day))
        order = list(range(len(day)))
        rng.shuffle(order)
        papers = [Paper(**{**day[i].to_dict(), "position": pos + 1}) for pos, i in enumerate(order)]
        out.append(Reader(area, library, papers, [labels[i] for i in order]))
    return out


def prepared_day(reader: Reader, options: rank.Options, embed: similar.Embed | None) -> rank.Prepared:
    issue = make_issue(reader.day, NOW, "UTC", themes.load_taxonomy())
    prepared = rank.prepare(issue, NOW, options)
    if embed is not None:  # as build.Builder does with ranking.similarity: embeddings
        prepared.embeddings = embed([similar.text_of(p.title, p.abstract) for p in reader.day])
    return prepared


def precision(
    reader: Reader,
    subscriber: Subscriber,
    profile: similar.Profile | None,
    embed: similar.Embed | None = None,
) -> float:
    options = rank.Options(max_papers=TOP, min_score=0.0, max_per_theme=0)
    picks = rank.select(prepared_day(reader, options, embed), subscriber, options, profile=profile)
    area = {p.id for p, label in zip(reader.day, reader.labels, strict=True) if label == reader.area}
    return sum(1 for pick in picks if pick.paper.id in area) / TOP


def _profile(papers: list[Paper], kind: str, embed: similar.Embed | None = None) -> similar.Profile:
    owns = (similar.Own(kind, p.id, p.title, p.abstract) for p in papers)
    return similar.profile_of(owns, embed, taxonomy_themes(themes.load_taxonomy()))


def dislikes(sample: list[Reader], embed: similar.Embed | None) -> tuple[float, float]:
    """A trending-only reader marks five papers of their area "less like this": the share of the
    next day's area papers still picked (of those picked without the clicks), and the share of
    the day's other papers left out for it."""
    options = rank.Options(max_papers=TOP)
    kept = before = lost = others = 0
    for reader in sample:
        prepared = prepared_day(reader, options, embed)
        profile = _profile(reader.library[:5], similar.DISLIKED, embed)
        area = {p.id for p, label in zip(reader.day, reader.labels, strict=True) if label == reader.area}
        plain = rank.select(prepared, Subscriber(email="r@example.org"), options)
        scored = rank.score_all(prepared, Subscriber(email="r@example.org"), options, profile=profile)
        before += sum(1 for pick in plain if pick.paper.id in area)
        kept += sum(1 for s in scored if s.picked and s.paper.id in area)
        lost += sum(1 for s in scored if s.paper.id not in area and s.unlike >= 1.0)
        others += sum(1 for s in scored if s.paper.id not in area)
    return kept / max(1, before), lost / max(1, others)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=44)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if not DEV.exists():
        raise SystemExit(f"{DEV} not found: the labelled papers live in ../shared/fixtures (see its README)")
    nobody = Subscriber(email="r@example.org")
    Method = Callable[[Reader], tuple[Subscriber, similar.Profile | None, similar.Embed | None]]
    methods: dict[str, Method] = {
        "trending only": lambda r: (nobody, None, None),
        "keywords only": lambda r: (Subscriber(email="r@example.org", keywords=KEYWORDS[r.area]), None, None),
        "library (TF-IDF)": lambda r: (nobody, _profile(r.library, similar.LIBRARY), None),
    }
    embed = None
    if embedding.available():
        embed = embedding.vectors
        methods["library (embeddings)"] = lambda r: (
            nobody,
            _profile(r.library, similar.LIBRARY, embed),
            embed,
        )
    sample = readers(args.samples)
    results: dict[str, list[float]] = {name: [] for name in methods}
    for reader in sample:
        row = []
        for name, make in methods.items():
            subscriber, profile, embed_with = make(reader)
            results[name].append(precision(reader, subscriber, profile, embed_with))
            row.append(f"{results[name][-1]:.1f}")
        if args.verbose:
            print(f"  {reader.area:<8} library {len(reader.library):>2}: " + "  ".join(row))
    areas = len({r.area for r in sample})
    print(
        f"relevance: {len(sample)} simulated readers over {areas} areas; library 10-30 papers of one "
        f"area; a day of 40 papers, 8-10 of them from the reader's area; precision@{TOP}"
    )
    means = {name: statistics.mean(values) for name, values in results.items()}
    for name, values in results.items():
        print(f"  {name:<26} {means[name]:.3f} +- {statistics.stdev(values):.3f}")
    if embed is None:
        print(f"  {'library (embeddings)':<26} not measured: the embeddings extra is not installed")
    ratio = means["library (TF-IDF)"] / means["trending only"]
    print(
        f"  library / trending only    {ratio:.2f}x (target >= {TARGET_OVER_TRENDING}x); "
        f"library - keywords only {means['library (TF-IDF)'] - means['keywords only']:+.3f} (target > 0)"
    )
    print("five 'less like this' on papers of the reader's area, next day (trending-only reader):")
    for name, embed_with in (("TF-IDF", None), ("embeddings", embed)):
        if name == "embeddings" and embed is None:
            continue
        kept, lost = dislikes(sample, embed_with)
        print(
            f"  {name:<12} area papers still picked {kept:.0%} of those picked without the clicks; "
            f"other papers left out {lost:.0%}"
        )


if __name__ == "__main__":
    main()
