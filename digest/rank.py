"""Choose each reader's papers: trending score, personal relevance, history, a cap.

Pure: the clock is passed in. The per-issue work (tokenising papers, trending scores) is done
once in `prepare`; `select` is the cheap per-reader part.

Trending score, before scaling to 0..1 by the day's best paper:

    signal = log1p(upvotes) + 0.5 * log1p(comments) + 0.25 * log1p(stars)
    listing = 1 / sqrt(position)              # the source's own order is a ranking
    trending = (1 + signal) * listing * 0.5 ** (age_hours / half_life_hours)

Relevance adds, per reader term found in a paper, log1p(weighted count) times the term's
rarity among today's papers (title x3, source keywords x2, abstract x1); a followed author
or a followed topic adds a fixed amount. Final score = (1 - w) * trending + w * relevance,
with w = `ranking.relevance_weight` for readers with preferences and 0 for everyone else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from .models import Issue, Paper, Pick, Section, Subscriber
from .text import count_phrase, phrase, words

FIELD_WEIGHTS = {"title": 3.0, "keywords": 2.0, "abstract": 1.0}
HALF_LIFE_HOURS = 72.0
AUTHOR_BONUS = 3.0
TOPIC_BONUS = 2.0


@dataclass(frozen=True)
class Options:
    max_papers: int = 20
    relevance_weight: float = 0.6
    min_score: float = 0.0
    half_life_hours: float = HALF_LIFE_HOURS


@dataclass
class Prepared:
    """What every reader's ranking shares, computed once per issue."""

    issue: Issue
    papers: list[Paper]
    trending: dict[str, float]
    tokens: dict[str, dict[str, list[str]]]
    theme_of: dict[str, str]  # paper id -> theme key
    theme_label: dict[str, str]


def _age_hours(paper: Paper, now: datetime) -> float:
    stamp = paper.submitted or paper.published
    if not stamp:
        return 0.0
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (now - when).total_seconds() / 3600)


def trending_scores(
    papers: list[Paper], now: datetime, half_life_hours: float = HALF_LIFE_HOURS
) -> dict[str, float]:
    """Each paper's trending score, 0..1, the day's best paper scoring 1."""
    raw = {}
    for index, paper in enumerate(papers):
        signal = (
            math.log1p(paper.upvotes or 0)
            + 0.5 * math.log1p(paper.comments or 0)
            + 0.25 * math.log1p(paper.stars or 0)
        )
        listing = 1 / math.sqrt(paper.position or index + 1)
        decay = 0.5 ** (_age_hours(paper, now) / half_life_hours)
        raw[paper.id] = (1 + signal) * listing * decay
    top = max(raw.values(), default=0) or 1
    return {pid: value / top for pid, value in raw.items()}


def prepare(issue: Issue, now: datetime, options: Options = Options()) -> Prepared:
    theme_of, labels = {}, {}
    for theme in issue.themes:
        labels[theme.key] = theme.label
        for paper in theme.papers:
            theme_of[paper.id] = theme.key
    return Prepared(
        issue=issue,
        papers=issue.papers,
        trending=trending_scores(issue.papers, now, options.half_life_hours),
        tokens={
            p.id: {
                "title": words(p.title),
                "keywords": words(" ; ".join(p.keywords)),
                "abstract": words(p.abstract),
            }
            for p in issue.papers
        },
        theme_of=theme_of,
        theme_label=labels,
    )


def _matches(tokens: dict[str, list[str]], term: tuple[str, ...]) -> float:
    return sum(FIELD_WEIGHTS[f] * count_phrase(toks, term) for f, toks in tokens.items())


def _rarity(prepared: Prepared, term: tuple[str, ...]) -> float:
    df = sum(1 for toks in prepared.tokens.values() if _matches(toks, term))
    return math.log(1 + len(prepared.papers) / (1 + df))


def select(
    prepared: Prepared,
    reader: Subscriber,
    options: Options = Options(),
    already_sent: frozenset[str] = frozenset(),
) -> list[Pick]:
    """The reader's papers, best first: never one they already got, never an excluded one."""
    terms = {kw: phrase(kw) for kw in reader.keywords}
    terms = {kw: t for kw, t in terms.items() if t}
    rarity = {kw: _rarity(prepared, t) for kw, t in terms.items()}
    excluded = [t for t in (phrase(x) for x in reader.exclude) if t]
    followed = {a.casefold(): a for a in reader.authors}
    topics = {t.casefold() for t in reader.topics}
    categories = {c.casefold() for c in reader.categories}

    candidates = []
    for paper in prepared.papers:
        if paper.id in already_sent:
            continue
        tokens = prepared.tokens[paper.id]
        if any(_matches(tokens, t) for t in excluded):
            continue
        relevance, matched, follows = 0.0, [], []
        for kw, term in terms.items():
            found = _matches(tokens, term)
            if found:
                relevance += math.log1p(found) * rarity[kw]
                matched.append(kw)
        for author in paper.authors:
            if author.casefold() in followed:
                relevance += AUTHOR_BONUS
                follows.append(followed[author.casefold()])
        theme_key = prepared.theme_of.get(paper.id, "")
        theme_label = prepared.theme_label.get(theme_key, "")
        in_topic = bool(topics) and (theme_key.casefold() in topics or theme_label.casefold() in topics)
        if in_topic:
            relevance += TOPIC_BONUS
        if categories & {c.casefold() for c in paper.categories}:
            relevance += TOPIC_BONUS
        candidates.append((paper, relevance, matched, follows, theme_label if in_topic else None))

    top_relevance = max((c[1] for c in candidates), default=0) or 1
    weight = options.relevance_weight if reader.personalised else 0.0
    picks = []
    for paper, relevance, matched, follows, topic in candidates:
        trending = prepared.trending[paper.id]
        rel = relevance / top_relevance
        score = (1 - weight) * trending + weight * rel
        if score < options.min_score:
            continue
        picks.append(Pick(paper, score, trending, rel, _reason(follows, matched, topic)))
    picks.sort(key=lambda p: (-p.score, p.paper.position or 10**6, p.paper.id))
    limit = reader.max_papers or options.max_papers
    return picks[:limit]


def _reason(follows: list[str], matched: list[str], topic: str | None) -> str | None:
    parts = []
    if follows:
        parts.append("you follow: " + ", ".join(follows))
    if matched:
        parts.append("matches: " + ", ".join(matched))
    if topic:
        parts.append("your topic: " + topic)
    return "; ".join(parts) or None


def sections(prepared: Prepared, picks: list[Pick]) -> list[Section]:
    """The reader's picks under the issue's themes; the theme holding their best pick first."""
    by_theme: dict[str, list[Pick]] = {}
    for pick in picks:
        by_theme.setdefault(prepared.theme_of.get(pick.paper.id, ""), []).append(pick)
    out = [
        Section(label=prepared.theme_label.get(key, "More trending papers"), key=key or "more", picks=group)
        for key, group in by_theme.items()
    ]
    # Picks arrive best first, so dict order puts the theme of the best pick first;
    # the catch-all group goes last whatever it holds.
    out.sort(key=lambda section: section.key == "more")
    return out
