"""Choose each reader's papers: trending score, personal relevance, history, diversity.

Pure: the clock is passed in. The per-issue work (trending scores, each paper's text ready for
phrase lookups, author and organisation indexes) is done once in `prepare`; `select` is the
cheap per-reader part, and the issue's keyword matches are shared between readers.

Trending score (0..1):

    popularity = log1p(upvotes) + 0.5 * log1p(comments) + 0.25 * log1p(stars)
    listing    = 1 / sqrt(position)                   # the source's own order is a ranking
    freshness  = 0.5 ** (age_hours / half_life_hours)  # age from submission (else publication)
    raw        = (1 + popularity) * listing * freshness
    trending   = raw / max(best raw of the issue, raw of a fresh top paper with 30 upvotes)

so a thin day (its best paper has 5 upvotes) scores below 1; when no paper of the issue has
any upvotes, comments or stars (an arXiv listing), the listing order alone decides.

Personal relevance (0..1) adds up evidence, then saturates: relevance = 1 - exp(-evidence).

    keyword      BM25 (k1 1.2, b 0.75) of the phrase in title x3, source keywords x2, abstract x1,
                 as a share of the best a phrase could score; a phrase found in every paper of
                 the issue counts half as much as one found in a single paper
    author       2.0 per followed author (accents, case and dots ignored; "J. Doe" = "Jane Doe")
    organisation 1.5 when the paper's organisation contains a followed name ("DeepMind")
    topic        1.0 x how well the paper fits a followed theme (0..1, from the issue's themes)
    category     1.0 when the paper has a followed arXiv category ("cs.CL", or "cs" for all)

    score = (1 - w) * trending + w * relevance

with w = `ranking.relevance_weight` for readers with preferences and 0 for everyone else. A
paper with an `exclude` term anywhere in its text is dropped; so is one the reader already
got (by version-less id). Picks are taken best first, skipping papers below `min_score` and
papers of a theme that already has `max_per_theme` picks, up to the reader's `max_papers`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .models import Issue, Paper, Pick, Section, Subscriber, arxiv_id
from .text import Fields, bm25_idf, phrase, same_words
from .themes import paper_fields

HALF_LIFE_HOURS = 72.0
REFERENCE_UPVOTES = 30
BM25_K1 = 1.2
BM25_B = 0.75
AUTHOR_EVIDENCE = 2.0
ORGANIZATION_EVIDENCE = 1.5
TOPIC_EVIDENCE = 1.0
CATEGORY_EVIDENCE = 1.0
MORE_KEY = "more"
MORE_LABEL = "More trending papers"


@dataclass(frozen=True)
class Options:
    max_papers: int = 20
    relevance_weight: float = 0.6
    min_score: float = 0.1
    half_life_hours: float = HALF_LIFE_HOURS
    max_per_theme: int = 6  # 0: no cap


@dataclass(frozen=True)
class Trending:
    """A paper's trending score and what it is made of, for `--explain`."""

    popularity: float
    listing: float
    freshness: float
    age_hours: float | None
    score: float


@dataclass
class Prepared:
    """What every reader's ranking shares, computed once per issue."""

    issue: Issue
    papers: list[Paper]
    trending: dict[str, float]
    breakdown: dict[str, Trending]
    fields: list[Fields]
    avg_length: float
    base_ids: list[str]  # version-less ids, for history
    people: dict[tuple[str, ...], set[int]]  # normalised author name -> papers
    orgs: list[tuple[str, ...]]  # each paper's organisation, as words
    theme_of: dict[str, str]  # paper id -> theme key
    theme_label: dict[str, str]
    topic_labels: dict[str, str]  # every theme a reader can follow: the taxonomy's and today's
    fit: dict[str, dict[str, float]]  # paper id -> taxonomy theme key -> 0..1
    # Keyword matches shared by every reader of the issue: phrase -> {paper index: strength}.
    _matches: dict[tuple[str, ...], dict[int, float]] = field(default_factory=dict)

    def matches(self, target: tuple[str, ...]) -> dict[int, float]:
        """How strongly each paper matches a phrase, 0..1 (BM25 as a share of its maximum)."""
        found = self._matches.get(target)
        if found is None:
            counts = {i: c for i, f in enumerate(self.fields) if (c := f.count(target))}
            n = len(self.fields)
            rarity = 0.5 + 0.5 * bm25_idf(len(counts), n) / (bm25_idf(1, n) or 1.0)
            found = {}
            for i, tf in counts.items():
                norm = BM25_K1 * (1 - BM25_B + BM25_B * self.fields[i].length / (self.avg_length or 1.0))
                found[i] = rarity * tf / (tf + norm)
            self._matches[target] = found
        return found


def _age_hours(paper: Paper, now: datetime) -> float | None:
    stamp = paper.submitted or paper.published
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (now - when).total_seconds() / 3600)


def _popularity(paper: Paper) -> float:
    return (
        math.log1p(paper.upvotes or 0)
        + 0.5 * math.log1p(paper.comments or 0)
        + 0.25 * math.log1p(paper.stars or 0)
    )


def trending_breakdown(
    papers: list[Paper], now: datetime, half_life_hours: float = HALF_LIFE_HOURS
) -> dict[str, Trending]:
    """Each paper's trending score (0..1) with its parts; see the module's docstring."""
    parts = {}
    for index, paper in enumerate(papers):
        age = _age_hours(paper, now)
        parts[paper.id] = (
            _popularity(paper),
            1 / math.sqrt(paper.position or index + 1),
            0.5 ** (age / half_life_hours) if age is not None and half_life_hours > 0 else 1.0,
            age,
        )
    raw = {pid: (1 + pop) * listing * fresh for pid, (pop, listing, fresh, _) in parts.items()}
    engaged = any(p.upvotes or p.comments or p.stars for p in papers)
    top = max(raw.values(), default=0.0)
    if engaged:
        top = max(top, 1 + math.log1p(REFERENCE_UPVOTES))
    top = top or 1.0
    return {
        pid: Trending(popularity=pop, listing=listing, freshness=fresh, age_hours=age, score=raw[pid] / top)
        for pid, (pop, listing, fresh, age) in parts.items()
    }


def trending_scores(
    papers: list[Paper], now: datetime, half_life_hours: float = HALF_LIFE_HOURS
) -> dict[str, float]:
    return {pid: t.score for pid, t in trending_breakdown(papers, now, half_life_hours).items()}


def person(name: str) -> tuple[str, ...]:
    """A name as comparable words: accents, case, dots and hyphens ignored ("José-Luis Pérez"
    -> jose luis perez)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return tuple(re.findall(r"[a-z0-9]+", plain))


def _initialled(name: tuple[str, ...]) -> tuple[str, ...]:
    """A name with its first given name cut to an initial: jane doe -> j doe."""
    return (name[0][:1], *name[1:]) if len(name) >= 2 else name


def prepare(issue: Issue, now: datetime, options: Options = Options()) -> Prepared:
    theme_of, labels = {}, {}
    for theme in issue.themes:
        labels[theme.key] = theme.label
        for paper in theme.papers:
            theme_of[paper.id] = theme.key
    fields = [paper_fields(p) for p in issue.papers]
    people: dict[tuple[str, ...], set[int]] = {}
    for i, paper in enumerate(issue.papers):
        for author in paper.authors:
            name = person(author)
            if name:
                people.setdefault(name, set()).add(i)
                people.setdefault(_initialled(name), set()).add(i)
    breakdown = trending_breakdown(issue.papers, now, options.half_life_hours)
    return Prepared(
        issue=issue,
        papers=issue.papers,
        trending={pid: t.score for pid, t in breakdown.items()},
        breakdown=breakdown,
        fields=fields,
        avg_length=sum(f.length for f in fields) / max(1, len(fields)),
        base_ids=[arxiv_id(p.id) or p.id for p in issue.papers],
        people=people,
        orgs=[person(p.organization or "") for p in issue.papers],
        theme_of=theme_of,
        theme_label=labels,
        topic_labels={**issue.topics, **labels},
        fit=issue.fit,
    )


# --- one reader -----------------------------------------------------------------------------


@dataclass
class Scored:
    """One paper as one reader's ranking saw it; `status` says why it was or was not picked."""

    paper: Paper
    trending: float
    relevance: float
    score: float
    evidence: list[tuple[str, float]]  # ("keyword tokenizer", 0.62), ("author Jane Doe", 2.0), ...
    reason: str | None
    theme: str
    status: str = ""

    @property
    def picked(self) -> bool:
        return self.status.startswith("picked")


def _contains(words: tuple[str, ...], target: tuple[str, ...]) -> bool:
    n = len(target)
    return n > 0 and any(words[i : i + n] == target for i in range(len(words) - n + 1))


def _category_hit(paper_categories: Iterable[str], wanted: set[str]) -> str | None:
    for category in paper_categories:
        c = category.lower()
        if c in wanted or c.split(".")[0] in wanted:
            return category
    return None


def score_all(
    prepared: Prepared,
    reader: Subscriber,
    options: Options = Options(),
    already_sent: frozenset[str] = frozenset(),
) -> list[Scored]:
    """Every paper of the issue scored for `reader`, best first, each with its status:
    "picked", "already sent", "excluded: <term>", "below min score", "theme full" or "over max"."""
    keywords = {kw: t for kw in reader.keywords if (t := phrase(kw))}
    keyword_terms = set(same_words(keywords.values()))
    excluded = {x: t for x in reader.exclude if (t := phrase(x))}
    followed_people: dict[int, list[str]] = {}
    for author in reader.authors:
        name = person(author)
        key = name if len(name) < 2 or len(name[0]) > 1 else _initialled(name)
        for i in prepared.people.get(key, ()):
            followed_people.setdefault(i, []).append(author)
    orgs = {o: words for o in reader.organizations if (words := person(o))}
    topics = {t.casefold() for t in reader.topics}
    followed_topics = [
        k for k, label in prepared.topic_labels.items() if {k.casefold(), label.casefold()} & topics
    ]
    categories = {c.lower() for c in reader.categories}
    weight = options.relevance_weight if reader.personalised else 0.0

    keyword_hits = {kw: prepared.matches(t) for kw, t in keywords.items() if t in keyword_terms}
    exclude_hits = {x: prepared.matches(t) for x, t in excluded.items()}

    out = []
    for i, paper in enumerate(prepared.papers):
        theme = prepared.theme_of.get(paper.id, MORE_KEY)
        status = ""
        if paper.id in already_sent or prepared.base_ids[i] in already_sent:
            status = "already sent"
        else:
            hit = next((x for x, found in exclude_hits.items() if i in found), None)
            if hit is not None:
                status = f"excluded: {hit}"
        evidence: list[tuple[str, float]] = []
        matched, follows, topic_names = [], [], []
        for kw, found in keyword_hits.items():
            if i in found:
                evidence.append((f"keyword {kw}", found[i]))
                matched.append(kw)
        for author in followed_people.get(i, ()):
            evidence.append((f"author {author}", AUTHOR_EVIDENCE))
            follows.append(author)
        for org, words in orgs.items():
            if _contains(prepared.orgs[i], words):
                evidence.append((f"organisation {org}", ORGANIZATION_EVIDENCE))
                follows.append(paper.organization or org)
        paper_fit = prepared.fit.get(paper.id, {})
        for key in followed_topics:
            # Being in the theme counts for half at least: the editor put it there.
            amount = max(paper_fit.get(key, 0.0), 0.5 if key == theme else 0.0)
            if amount > 0:
                label = prepared.topic_labels[key]
                evidence.append((f"topic {label}", TOPIC_EVIDENCE * amount))
                if amount >= 0.5:
                    topic_names.append(label)
        category = _category_hit(paper.categories, categories) if categories else None
        if category:
            evidence.append((f"category {category}", CATEGORY_EVIDENCE))
        relevance = 1 - math.exp(-sum(v for _, v in evidence))
        trending = prepared.trending[paper.id]
        out.append(
            Scored(
                paper=paper,
                trending=trending,
                relevance=relevance,
                score=(1 - weight) * trending + weight * relevance,
                evidence=evidence,
                reason=_reason(follows, matched, topic_names, category),
                theme=theme,
                status=status,
            )
        )
    out.sort(key=lambda s: (-s.score, s.paper.position or 10**6, s.paper.id))

    limit = reader.max_papers or options.max_papers
    per_theme: dict[str, int] = {}
    picked = 0
    for s in out:
        if s.status:
            continue
        if s.score < options.min_score:
            s.status = "below min score"
        elif picked >= limit:
            s.status = "over max papers"
        elif options.max_per_theme and per_theme.get(s.theme, 0) >= options.max_per_theme:
            s.status = "theme full"
        else:
            picked += 1
            per_theme[s.theme] = per_theme.get(s.theme, 0) + 1
            s.status = f"picked #{picked}"
    return out


def select(
    prepared: Prepared,
    reader: Subscriber,
    options: Options = Options(),
    already_sent: frozenset[str] = frozenset(),
) -> list[Pick]:
    """The reader's papers, best first: never one they already got, never an excluded one."""
    return [
        Pick(s.paper, s.score, s.trending, s.relevance, s.reason)
        for s in score_all(prepared, reader, options, already_sent)
        if s.picked
    ]


def _reason(follows: list[str], matched: list[str], topics: list[str], category: str | None) -> str | None:
    parts = []
    if follows:
        parts.append("you follow: " + ", ".join(dict.fromkeys(follows)))
    if matched:
        parts.append("matches: " + ", ".join(matched))
    if topics:
        parts.append("your topic: " + ", ".join(dict.fromkeys(topics)))
    if category:
        parts.append("category: " + category)
    return "; ".join(parts) or None


def sections(prepared: Prepared, picks: list[Pick]) -> list[Section]:
    """The reader's picks under the issue's themes; the theme holding their best pick first."""
    by_theme: dict[str, list[Pick]] = {}
    for pick in picks:
        by_theme.setdefault(prepared.theme_of.get(pick.paper.id, MORE_KEY), []).append(pick)
    out = [
        Section(label=prepared.theme_label.get(key, MORE_LABEL), key=key, picks=group)
        for key, group in by_theme.items()
    ]
    # Picks arrive best first, so dict order puts the theme of the best pick first;
    # the catch-all group goes last whatever it holds.
    out.sort(key=lambda section: section.key == MORE_KEY)
    return out
