"""Choose each reader's papers: trending score, personal relevance, history, diversity.

Pure: the clock is passed in. The per-issue work (trending scores, each paper's text ready for
phrase lookups, author and organisation indexes) is done once in `prepare`; `select` is the
cheap per-reader part, and the issue's keyword matches are shared between readers.

Trending score (0..1):

    popularity = log1p(upvotes) + 0.5 * log1p(comments) + 0.25 * log1p(stars)
               + the same of what it gained per day since an earlier day's snapshot (velocity)
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
    library      up to 2.0 for a paper like the reader's own (their library and the papers they
                 marked "more like this"): cosine with their profile (digest/issue/similar.py) from
                 where it starts to count (Scale.library), full further up

A paper like the ones the reader marked "less like this" loses a growing share of its score
(Scale.dislike), and so does every paper of a theme that, as a whole, is much more like them
than the day is (Scale.theme_dislike): five clicks on one area say "not this area".

    score = (1 - w) * trending + w * relevance

with w = `ranking.relevance_weight` for readers with preferences or papers of their own and 0
for everyone else. A
paper with an `exclude` term anywhere in its text is dropped; so is one the reader already
got (by version-less id). Picks are taken best first, skipping papers below `min_score` and
deferring papers of a theme that already has `max_per_theme` picks, up to the reader's
`max_papers`; the deferred ones, best first, fill what room is left.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..models import Growth, Issue, Paper, Pick, Section, Subscriber, arxiv_id, in_category
from ..util.text import Fields, bm25_idf, phrase, same_words
from . import similar
from .similar import Profile
from .themes import LABS_KEY, LABS_LABEL, MORE_KEY, MORE_LABEL, paper_fields

HALF_LIFE_HOURS = 72.0
REFERENCE_UPVOTES = 30
BM25_K1 = 1.2
BM25_B = 0.75
AUTHOR_EVIDENCE = 2.0
ORGANIZATION_EVIDENCE = 1.5
TOPIC_EVIDENCE = 1.0
CATEGORY_EVIDENCE = 1.0
LIBRARY_EVIDENCE = 2.0
GROWTH_WEIGHT = 1.0


@dataclass(frozen=True)
class Scale:
    """Where cosines with a reader's papers start to count and where they count in full."""

    library: tuple[float, float]  # likeness to their library and liked papers: evidence 0 -> full
    dislike: tuple[float, float]  # likeness to papers marked "less like this": score kept 1 -> 0
    theme_dislike: tuple[float, float]  # a theme this many times as like them as the day's papers


# Measured in `make eval` (eval/relevance.py). TF-IDF against a 10-30 paper library: papers of
# the library's own area score 0.06-0.12 (quartiles; 0.20 at the 95th percentile), papers of
# other areas 0.02-0.05. Against five disliked papers: their area 0.03-0.08, others 0.01-0.03.
TFIDF = Scale(library=(0.03, 0.12), dislike=(0.03, 0.06), theme_dislike=(1.5, 2.2))
# Embeddings (wordllama, mean-pooled): library area 0.56-0.69 (quartiles), other areas 0.41-0.55;
# five disliked papers: their area 0.52-0.64, others 0.37-0.52.
# A paper that fits a theme the reader's disliked papers belong to (the taxonomy's fit, 0..1)
# loses score from the first number on, all of it at the second (with half of them there).
AVOID_FIT = (0.3, 0.6)
EMBEDDED = Scale(library=(0.5, 0.7), dislike=(0.5, 0.62), theme_dislike=(1.1, 1.25))


@dataclass(frozen=True)
class Options:
    max_papers: int = 20
    relevance_weight: float = 0.6
    min_score: float = 0.1
    half_life_hours: float = HALF_LIFE_HOURS
    max_per_theme: int = 6  # 0: no cap

    def weight_for(self, reader: Subscriber, profile: Profile | None = None) -> float:
        """How much relevance counts for `reader`: none for a reader without preferences or
        papers they like (papers they only disliked take score away, they give none)."""
        liked = profile is not None and bool(profile.positive or profile.positive_embedding)
        return self.relevance_weight if reader.personalised or liked else 0.0

    def limit_for(self, reader: Subscriber) -> int:
        """How many papers `reader` gets at most."""
        return reader.max_papers or self.max_papers


@dataclass(frozen=True)
class Trending:
    """A paper's trending score and what it is made of, for `--explain`."""

    popularity: float
    listing: float
    freshness: float
    age_hours: float | None
    score: float
    position: int  # in the source's listing (1 first), behind `listing`
    growth: Growth | None = None  # gained since an earlier day's snapshot (digest/issue/signals.py)
    velocity: float = 0.0  # the growth's share of `popularity`


@dataclass
class Prepared:
    """What every reader's ranking shares, computed once per issue."""

    papers: list[Paper]
    breakdown: dict[str, Trending]
    fields: list[Fields]
    avg_length: float
    base_ids: list[str]  # version-less ids, for history
    people: dict[tuple[str, ...], set[int]]  # normalised author name -> papers
    orgs: list[tuple[str, ...]]  # each paper's organisation, as words
    theme_of: dict[str, str]  # paper id -> theme key
    theme_label: dict[str, str]
    topic_labels: dict[str, str]  # every theme a reader can follow: the taxonomy's and today's
    topic_keys: dict[str, set[str]]  # each theme's key and label, casefolded -> theme keys
    fit: dict[str, dict[str, float]]  # paper id -> taxonomy theme key -> 0..1
    # The same by paper index, for the per-reader loop.
    ids: list[str] = field(default_factory=list)
    trending_list: list[float] = field(default_factory=list)
    themes_by_index: list[str] = field(default_factory=list)
    listing_order: list[int] = field(default_factory=list)
    # Lookups shared by every reader of the issue, filled as readers ask.
    _matches: dict[tuple[str, ...], dict[int, float]] = field(default_factory=dict)
    _orgs: dict[tuple[str, ...], list[int]] = field(default_factory=dict)
    _topics: dict[str, dict[int, float]] = field(default_factory=dict)
    _similar: similar.IssueIndex | None = None
    _members: dict[str, list[int]] | None = None
    _fits: dict[str, dict[int, float]] = field(default_factory=dict)
    # The day's papers in an embedding space (ranking.similarity: embeddings), set by the caller.
    embeddings: list[list[float]] | None = None

    def fits(self, key: str) -> dict[int, float]:
        """How well each paper fits a theme of the taxonomy (0..1; papers with none left out)."""
        if key not in self._fits:
            self._fits[key] = {
                i: f for i, pid in enumerate(self.ids) if (f := self.fit.get(pid, {}).get(key, 0.0))
            }
        return self._fits[key]

    def members(self) -> dict[str, list[int]]:
        """Each theme's papers, by index."""
        if self._members is None:
            self._members = {}
            for i, theme in enumerate(self.themes_by_index):
                self._members.setdefault(theme, []).append(i)
        return self._members

    def own_papers_index(self) -> similar.IssueIndex:
        """The day's papers for comparing with readers' own papers, built on first need."""
        if self._similar is None:
            self._similar = similar.issue_index([(p.title, p.abstract) for p in self.papers])
        return self._similar

    def organisation(self, words: tuple[str, ...]) -> list[int]:
        """Papers whose organisation contains these words ("deepmind" in "Google DeepMind")."""
        if words not in self._orgs:
            n = len(words)
            self._orgs[words] = [
                i
                for i, org in enumerate(self.orgs)
                if n and any(org[k : k + n] == words for k in range(len(org) - n + 1))
            ]
        return self._orgs[words]

    def topic(self, key: str) -> dict[int, float]:
        """How much each paper belongs to a followed theme (0..1): its fit, and at least half
        for a paper the issue put in that theme (the editor's call counts)."""
        if key not in self._topics:
            found = {}
            for i, pid in enumerate(self.ids):
                amount = max(
                    self.fit.get(pid, {}).get(key, 0.0), 0.5 if self.themes_by_index[i] == key else 0.0
                )
                if amount > 0:
                    found[i] = amount
            self._topics[key] = found
        return self._topics[key]

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


def _velocity(growth: Growth | None) -> float:
    """The growth per day, weighed as the levels are (GROWTH_WEIGHT of them)."""
    if growth is None:
        return 0.0
    return GROWTH_WEIGHT * (
        math.log1p(growth.per_day("upvotes"))
        + 0.5 * math.log1p(growth.per_day("comments"))
        + 0.25 * math.log1p(growth.per_day("stars"))
    )


def trending_breakdown(
    papers: list[Paper],
    now: datetime,
    half_life_hours: float = HALF_LIFE_HOURS,
    growth: dict[str, Growth] | None = None,
) -> dict[str, Trending]:
    """Each paper's trending score (0..1) with its parts; see the module's docstring."""
    growth = growth or {}
    parts = {}
    for index, paper in enumerate(papers):
        age = _age_hours(paper, now)
        position = paper.position or index + 1
        parts[paper.id] = (
            _popularity(paper) + _velocity(growth.get(paper.id)),
            1 / math.sqrt(position),
            0.5 ** (age / half_life_hours) if age is not None and half_life_hours > 0 else 1.0,
            age,
            position,
        )
    raw = {pid: (1 + pop) * listing * fresh for pid, (pop, listing, fresh, _, _) in parts.items()}
    engaged = any(p.upvotes or p.comments or p.stars for p in papers)
    top = max(raw.values(), default=0.0)
    if engaged:
        top = max(top, 1 + math.log1p(REFERENCE_UPVOTES))
    top = top or 1.0
    return {
        pid: Trending(
            popularity=pop,
            listing=listing,
            freshness=fresh,
            age_hours=age,
            score=raw[pid] / top,
            position=at,
            growth=growth.get(pid),
            velocity=_velocity(growth.get(pid)),
        )
        for pid, (pop, listing, fresh, age, at) in parts.items()
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
    fields = issue.fields
    if fields is None or len(fields) != len(issue.papers):  # an issue made by hand
        fields = [paper_fields(p) for p in issue.papers]
    people: dict[tuple[str, ...], set[int]] = {}
    for i, paper in enumerate(issue.papers):
        for author in paper.authors:
            name = person(author)
            if name:
                people.setdefault(name, set()).add(i)
                people.setdefault(_initialled(name), set()).add(i)
    breakdown = trending_breakdown(issue.papers, now, options.half_life_hours, issue.growth)
    ranked_by_listing = sorted(range(len(issue.papers)), key=lambda i: (issue.papers[i].position or 10**6, i))
    listing_order = [0] * len(issue.papers)
    for rank_, i in enumerate(ranked_by_listing):
        listing_order[i] = rank_
    topic_labels = {**issue.topics, **labels}
    topic_keys: dict[str, set[str]] = {}
    for key, label in topic_labels.items():
        for alias in (key, label):
            topic_keys.setdefault(alias.casefold(), set()).add(key)
    return Prepared(
        papers=issue.papers,
        breakdown=breakdown,
        fields=fields,
        avg_length=sum(f.length for f in fields) / max(1, len(fields)),
        base_ids=[arxiv_id(p.id) or p.id for p in issue.papers],
        people=people,
        orgs=[person(p.organization or "") for p in issue.papers],
        theme_of=theme_of,
        theme_label=labels,
        topic_labels=topic_labels,
        topic_keys=topic_keys,
        fit=issue.fit,
        ids=[p.id for p in issue.papers],
        trending_list=[breakdown[p.id].score for p in issue.papers],
        themes_by_index=[theme_of.get(p.id, MORE_KEY) for p in issue.papers],
        listing_order=listing_order,
    )


# --- one reader -----------------------------------------------------------------------------

# One piece of a reader's relevance: (kind, name, amount), e.g. ("keyword", "tokenizer", 0.62).
Evidence = tuple[str, str, float]


@dataclass
class Scored:
    """One paper as one reader's ranking saw it; `status` says why it was or was not picked."""

    paper: Paper
    trending: float
    relevance: float
    score: float
    evidence: list[Evidence]
    theme: str
    status: str = ""
    unlike: float = 0.0  # share of the score lost for being like papers marked "less like this"

    @property
    def picked(self) -> bool:
        return self.status.startswith("picked")

    @property
    def reason(self) -> str | None:
        """What the email says: "you follow: Jane Doe; matches: retrieval, tokenizer"."""
        named: dict[str, list[str]] = {}
        like: list[str] = []
        for kind, name, amount in self.evidence:
            if kind == "topic" and amount < TOPIC_EVIDENCE / 2:
                continue  # a paper that fits a followed topic only a little does not claim it
            if kind == "library":
                if name and amount >= LIBRARY_EVIDENCE / 4:
                    like.append(name)
                continue
            heading = _REASONS[kind]
            if name not in named.setdefault(heading, []):
                named[heading].append(name)
        parts = [f"{h}: {', '.join(named[h])}" for h in _REASON_ORDER if h in named] + like
        return "; ".join(parts) or None


_REASONS = {
    "author": "you follow",
    "organisation": "you follow",
    "keyword": "matches",
    "topic": "your topic",
    "category": "category",
}
_REASON_ORDER = ("you follow", "matches", "your topic", "category")


def _category_hit(paper_categories: Iterable[str], wanted: set[str]) -> str | None:
    return next((c for c in paper_categories if in_category(c, wanted)), None)


def reader_evidence(prepared: Prepared, reader: Subscriber) -> dict[int, list[Evidence]]:
    """What the reader follows, found in the issue's papers: paper index -> evidence. Only
    papers with some evidence appear; most of a reader's day has none."""
    out: dict[int, list[Evidence]] = {}
    named: dict[tuple[str, ...], str] = {}  # a keyword's words -> how the reader wrote it first
    for kw in reader.keywords:
        if words := phrase(kw):
            named.setdefault(words, kw)
    for words in same_words(named):  # "pre-training" and "pretraining" count once
        for i, strength in prepared.matches(words).items():
            out.setdefault(i, []).append(("keyword", named[words], strength))
    for author in reader.authors:
        name = person(author)
        written = name if len(name) < 2 or len(name[0]) > 1 else _initialled(name)
        for i in prepared.people.get(written, ()):
            out.setdefault(i, []).append(("author", author, AUTHOR_EVIDENCE))
    for org in reader.organizations:
        for i in prepared.organisation(person(org)):
            shown = prepared.papers[i].organization or org
            out.setdefault(i, []).append(("organisation", shown, ORGANIZATION_EVIDENCE))
    followed = {key for t in reader.topics for key in prepared.topic_keys.get(t.casefold(), ())}
    for key, label in prepared.topic_labels.items() if followed else ():
        if key in followed:
            for i, amount in prepared.topic(key).items():
                out.setdefault(i, []).append(("topic", label, TOPIC_EVIDENCE * amount))
    wanted = {c.lower() for c in reader.categories}
    for i, paper in enumerate(prepared.papers if wanted else ()):
        if category := _category_hit(paper.categories, wanted):
            out.setdefault(i, []).append(("category", category, CATEGORY_EVIDENCE))
    return out


def _rank(
    prepared: Prepared,
    reader: Subscriber,
    options: Options,
    already_sent: frozenset[str],
    everything: bool,
    profile: Profile | None = None,
) -> list[Scored]:
    papers = prepared.papers
    blocked: dict[int, str] = {}
    if already_sent:
        for i, (pid, base) in enumerate(zip(prepared.ids, prepared.base_ids, strict=True)):
            if pid in already_sent or base in already_sent:
                blocked[i] = "already sent"
    for term in reader.exclude:
        for i in prepared.matches(words) if (words := phrase(term)) else ():
            blocked.setdefault(i, f"excluded: {term}")
    evidence = reader_evidence(prepared, reader)
    unlike: dict[int, float] = {}
    day: ProfileDay | None = None
    if profile:
        day = profile_day(prepared, profile)
        for i, amount in day.library.items():
            evidence.setdefault(i, []).append(("library", "", amount))  # named once picked
        unlike = day.unlike
        for i in day.blocked:
            blocked.setdefault(i, "like papers marked less like this")
    weight = options.weight_for(reader, profile)
    trending = prepared.trending_list
    relevance = {i: 1 - math.exp(-sum(e[2] for e in found)) for i, found in evidence.items()}
    scores = [
        ((1 - weight) * trending[i] + weight * relevance.get(i, 0.0)) * (1 - unlike.get(i, 0.0))
        for i in range(len(papers))
    ]
    order = sorted(range(len(papers)), key=lambda i: (-scores[i], prepared.listing_order[i]))

    limit = options.limit_for(reader)
    per_theme: dict[str, int] = {}
    status_of: dict[int, str] = {}
    # Papers passed over because their theme was full fill the places the other themes leave:
    # the cap spreads a digest over the day's themes, it must not shorten it on a day of few.
    deferred: list[int] = []
    picked = 0
    for i in order:
        theme = prepared.themes_by_index[i]
        status = blocked.get(i)
        if status is None:
            if scores[i] < options.min_score:
                status = "below min score"
            elif picked >= limit:
                status = "over max papers"
            elif options.max_per_theme and per_theme.get(theme, 0) >= options.max_per_theme:
                status = "theme full"
                deferred.append(i)
            else:
                picked += 1
                per_theme[theme] = per_theme.get(theme, 0) + 1
                status = f"picked #{picked}"
        status_of[i] = status
        if not everything and status in ("below min score", "over max papers"):
            break  # best first: nothing after this can be picked
    for i in deferred[: max(0, limit - picked)]:
        picked += 1
        status_of[i] = f"picked #{picked} (its theme was full; the other themes left room)"

    out = []
    for i, status in status_of.items():
        if everything or status.startswith("picked"):
            found = evidence.get(i, [])
            if day is not None and profile is not None and profile.positive:  # only the papers shown
                found = _named(prepared, profile, day, i, found, every=everything)
            out.append(
                Scored(
                    papers[i],
                    trending[i],
                    relevance.get(i, 0.0),
                    scores[i],
                    found,
                    prepared.themes_by_index[i],
                    status,
                    unlike.get(i, 0.0),
                )
            )
    return out


def _unlike(
    prepared: Prepared, cosines: dict[int, float], scale: Scale, avoid: dict[str, float]
) -> dict[int, float]:
    """How much of each paper's score goes for its likeness to papers marked "less like this":
    its own likeness, or its theme's when the day's theme as a whole is like them (five clicks
    on papers of an area say "not this area", not only "not these five")."""
    members = prepared.members()
    day = sum(cosines.values()) / max(1, len(prepared.papers)) or 1.0
    theme_share = {
        theme: similar.ramp(sum(cosines.get(i, 0.0) for i in found) / len(found) / day, *scale.theme_dislike)
        for theme, found in members.items()
        if theme != MORE_KEY and len(found) > 1
    }
    low, high = scale.dislike
    out = {i: min(1.0, (c - low) / (high - low)) for i, c in cosines.items() if c > low}
    for theme, share in theme_share.items():
        if share:
            for i in members[theme]:
                out[i] = max(out.get(i, 0.0), share)
    for key, part in avoid.items():
        weight = min(1.0, 2 * part)
        for i, fit in prepared.fits(key).items():
            if share := similar.ramp(fit, *AVOID_FIT) * weight:
                out[i] = max(out.get(i, 0.0), share)
    return out


def _nearest_own(prepared: Prepared, profile: Profile, i: int, every: bool) -> tuple[str, str] | None:
    """The reader's paper a pick is most like. When no strong word is shared, the only paper
    of a one-paper profile is still the one; with several, --explain (`every`) says so."""
    own = similar.resembles(prepared.own_papers_index(), profile, i)
    if own is None and len(profile.titles) == 1:
        return profile.titles[0]
    if own is None and every and profile.titles:
        return ("", "")
    return own


def _own_name(prepared: Prepared, profile: Profile, i: int, every: bool) -> str:
    own = _nearest_own(prepared, profile, i, every)
    if own is None:
        return ""
    which, title = own
    if not title:
        return "like your papers as a whole"
    if which == similar.LIBRARY:
        return f"like “{title}” in your library"
    return f"like “{title}” you marked more like this"


def _named(
    prepared: Prepared,
    profile: Profile,
    day: ProfileDay,
    i: int,
    found: list[Evidence],
    *,
    every: bool = False,
) -> list[Evidence]:
    """Library evidence with the reader's paper it comes from: "like “X” in your library".
    Only what `reason` shows is named, unless `every` (--explain names each). A name is
    worked out once per profile and issue (`day.names`): readers who share a profile share it."""
    out = []
    for kind, name, amount in found:
        if (
            kind == "library" and not name and (every or amount >= LIBRARY_EVIDENCE / 4)
        ):  # what `reason` shows
            if (i, every) not in day.names:
                day.names[(i, every)] = _own_name(prepared, profile, i, every)
            name = day.names[(i, every)]
        out.append((kind, name, amount))
    return out


@dataclass
class ProfileDay:
    """What a profile says about one issue's papers, the same for every reader who has it:
    library evidence and unlike shares by paper, the papers it blocks, and the names of the
    reader's papers the day's papers are like (filled as picks need them)."""

    library: dict[int, float]
    unlike: dict[int, float]
    blocked: list[int]
    names: dict[tuple[int, bool], str] = field(default_factory=dict)


def profile_day(prepared: Prepared, profile: Profile) -> ProfileDay:
    """The profile's ProfileDay for `prepared`, worked out once and kept with the profile."""
    if profile.day is not None and profile.day[0] is prepared:
        return profile.day[1]  # type: ignore[return-value]
    if prepared.embeddings is not None and profile.positive_embedding + profile.negative_embedding:
        liked = similar.embedded(prepared.embeddings, profile.positive_embedding)
        disliked = similar.embedded(prepared.embeddings, profile.negative_embedding)
        scale = EMBEDDED
    else:
        index = prepared.own_papers_index()
        liked, disliked = (
            similar.similarity(index, profile.positive),
            similar.similarity(index, profile.negative),
        )
        scale = TFIDF
    low, high = scale.library
    library = {
        i: LIBRARY_EVIDENCE * min(1.0, (cosine - low) / (high - low))
        for i, cosine in liked.items()
        if cosine > low
    }
    unlike = _unlike(prepared, disliked, scale, profile.avoid) if disliked or profile.avoid else {}
    day = ProfileDay(library, unlike, [i for i, share in unlike.items() if share >= 1.0])
    profile.day = (prepared, day)
    return day


def score_all(
    prepared: Prepared,
    reader: Subscriber,
    options: Options = Options(),
    already_sent: frozenset[str] = frozenset(),
    profile: Profile | None = None,
) -> list[Scored]:
    """Every paper of the issue scored for `reader`, best first, each with its status:
    "picked #n", "already sent", "excluded: <term>", "like papers marked less like this",
    "below min score", "theme full" or "over max papers" (for `preview --explain`)."""
    return _rank(prepared, reader, options, already_sent, everything=True, profile=profile)


def select(
    prepared: Prepared,
    reader: Subscriber,
    options: Options = Options(),
    already_sent: frozenset[str] = frozenset(),
    profile: Profile | None = None,
) -> list[Pick]:
    """The reader's papers, best first: never one they already got, never an excluded one,
    never one very like the papers they marked "less like this"."""
    return [
        Pick(s.paper, s.score, s.trending, s.relevance, s.reason)
        for s in _rank(prepared, reader, options, already_sent, everything=False, profile=profile)
    ]


def followed_labs(prepared: Prepared, reader: Subscriber | None) -> set[str]:
    """Ids of the issue's papers from an organisation the reader follows."""
    if reader is None:
        return set()
    return {prepared.ids[i] for org in reader.organizations for i in prepared.organisation(person(org))}


def sections(prepared: Prepared, picks: list[Pick], reader: Subscriber | None = None) -> list[Section]:
    """The reader's picks under the issue's themes; the theme holding their best pick first.
    Papers from the labs the reader follows are pinned above them all (LABS_LABEL)."""
    labs = followed_labs(prepared, reader)
    by_theme: dict[str, list[Pick]] = {LABS_KEY: []} if labs else {}
    for pick in picks:
        key = LABS_KEY if pick.paper.id in labs else prepared.theme_of.get(pick.paper.id, MORE_KEY)
        by_theme.setdefault(key, []).append(pick)
    if not by_theme.get(LABS_KEY, True):
        del by_theme[LABS_KEY]
    out = [
        Section(
            label=LABS_LABEL if key == LABS_KEY else prepared.theme_label.get(key, MORE_LABEL),
            key=key,
            picks=group,
        )
        for key, group in by_theme.items()
    ]
    # Picks arrive best first, so dict order puts the theme of the best pick first;
    # the catch-all group goes last whatever it holds.
    out.sort(key=lambda section: section.key == MORE_KEY)
    return out
