"""Relevance from a reader's own papers: their library, and the papers they marked "more like
this", minus those they marked "less like this". Pure: texts in, numbers out.

Method: a Rocchio profile. Each of the reader's papers becomes a unit vector of its content
words and word pairs (text.terms; the title counts three times, as in theming); the profile
is the mean of the liked and library vectors (a liked paper counts LIKED_WEIGHT times, it is
the freshest signal), kept to its strongest terms, and a second mean of the disliked ones.
A day's paper is compared with both by cosine in TF-IDF space, the IDF taken from the day's
papers, so words every paper of the day uses ("model", "language") weigh little on both sides.

Why a profile rather than a classifier per reader: a reader gives 10 to a few hundred papers
and a handful of clicks, all positive or nearly; a centroid needs no negatives, no training
and no tuning per reader, costs one sparse dot product per paper, and is known to work for
exactly this (arxiv-sanity's SVM needs both classes; Rocchio is its degenerate, robust form).
Why "like X in your library" can name X: the profile keeps, for each of the reader's papers,
its strongest terms; the named paper is the one sharing most weight with the day's paper.

The scoring side (`IssueIndex`) is built once per issue and shared by every reader, so a
reader costs a walk over their profile's terms, not over their library.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ..util.text import terms

PROFILE_TERMS = 50  # terms kept in a profile: enough for a focused library, cheap to score
DOC_TERMS = 8  # each of the reader's papers' strongest terms, kept to name the one a pick is like
MIN_POSTING = 0.03  # bench/rank.py: half the per-reader work, no change to `make eval`'s figures
NAMING_TERMS = 10  # the day's paper's strongest terms, compared with those
LIKED_WEIGHT = 2.0
FIELD_WEIGHTS = {"title": 3.0, "abstract": 1.0}
TITLE_CHARS = 160  # a named paper's title, as the email shows it

LIBRARY, LIKED, DISLIKED = "library", "liked", "disliked"


@dataclass(frozen=True)
class Own:
    """One of the reader's papers: where it comes from (library, liked, disliked) and its text."""

    kind: str
    id: str
    title: str
    abstract: str = ""


Vector = dict[str, float]


def doc_vector(title: str, abstract: str) -> Vector:
    """Unit vector of a paper's content terms, sublinear tf, the title weighted."""
    counts: defaultdict[str, float] = defaultdict(float)
    for text, weight in ((title, FIELD_WEIGHTS["title"]), (abstract, FIELD_WEIGHTS["abstract"])):
        for term in terms(text):
            counts[term] += weight
    vector = {t: 1 + math.log(c) for t, c in counts.items()}
    return _unit(vector)


def _unit(vector: Vector) -> Vector:
    norm = math.sqrt(sum(x * x for x in vector.values())) or 1.0
    return {t: x / norm for t, x in vector.items()}


def _strongest(vector: Vector, n: int) -> Vector:
    return dict(sorted(vector.items(), key=lambda item: (-item[1], item[0]))[:n])


@dataclass
class Profile:
    """A reader's profile: what they like, what they do not, and the papers behind the first."""

    positive: Vector = field(default_factory=dict)
    negative: Vector = field(default_factory=dict)
    # Each positive paper: its kind, title and strongest terms, one per line, tab-separated:
    # kept as text, it is read only when a pick is to be named (`resembling`).
    docs: str = ""
    papers: int = 0  # how many of the reader's papers it was made from
    # Themes of the taxonomy that several disliked papers belong to, each with the share of the
    # disliked papers in it: the area the reader said no to, beyond the words of five papers.
    avoid: dict[str, float] = field(default_factory=dict)
    # The same two means in an embedding space (ranking.similarity: embeddings), else empty.
    positive_embedding: list[float] = field(default_factory=list)
    negative_embedding: list[float] = field(default_factory=list)

    _index: dict[str, int] | None = field(default=None, repr=False, compare=False)
    _titles: list[tuple[str, str]] | None = field(default=None, repr=False, compare=False)
    # What ranking worked out from the profile for one issue (rank.py): the same for every
    # reader sharing this profile, so kept with it, for the last issue it was used with.
    day: tuple[object, object] | None = field(default=None, repr=False, compare=False)

    def __bool__(self) -> bool:
        return bool(self.positive or self.negative or self.avoid)

    @property
    def titles(self) -> list[tuple[str, str]]:
        """(kind, title) of each positive paper."""
        self._read_docs()
        assert self._titles is not None
        return self._titles

    def resembling(self) -> dict[str, int]:
        """Term -> the positive paper it is strongest in (its place in `titles`; of equals, the
        first the reader gave): one lookup per term names the paper a pick is like."""
        self._read_docs()
        assert self._index is not None
        return self._index

    def _read_docs(self) -> None:
        if self._index is not None:
            return
        self._titles, self._index = [], {}
        rank: dict[str, int] = {}
        for n, line in enumerate(self.docs.splitlines()):
            kind, title, strong = line.split("\t")
            self._titles.append((kind, title))
            for place, term in enumerate(strong.split(" ")):  # strongest first
                if place < rank.get(term, DOC_TERMS):
                    rank[term], self._index[term] = place, n

    def to_json(self) -> str:
        data = {"p": self.positive, "n": self.negative, "d": self.docs, "c": self.papers, "a": self.avoid}
        if self.positive_embedding or self.negative_embedding:
            data["pe"] = [round(x, 5) for x in self.positive_embedding]
            data["ne"] = [round(x, 5) for x in self.negative_embedding]
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Profile:
        data = json.loads(text)
        return cls(
            data["p"], data["n"], data["d"], data.get("c", 0), data.get("a", {}),
            data.get("pe", []), data.get("ne", []),
        )  # fmt: skip


def profile_of(
    papers: Iterable[Own], embed: Embed | None = None, themes_of: ThemesOf | None = None
) -> Profile:
    """The profile of a reader's papers (a paper both in the library and disliked counts as
    disliked: the click is the newer word). With `embed`, the profile has embedding means too;
    with `themes_of` (each paper's taxonomy theme, or None), the themes to avoid."""
    latest: dict[str, Own] = {}
    for own in papers:
        if own.kind != LIBRARY or own.id not in latest:
            latest[own.id] = own
    positive: defaultdict[str, float] = defaultdict(float)
    negative: defaultdict[str, float] = defaultdict(float)
    weights = {LIBRARY: 1.0, LIKED: LIKED_WEIGHT, DISLIKED: 1.0}
    docs: list[str] = []
    total = {LIBRARY: 0.0, LIKED: 0.0, DISLIKED: 0.0}
    for own in latest.values():
        vector = doc_vector(own.title, own.abstract)
        if not vector:
            continue
        target = negative if own.kind == DISLIKED else positive
        for t, x in vector.items():
            target[t] += weights[own.kind] * x
        total[own.kind] += weights[own.kind]
        if own.kind != DISLIKED:
            title = " ".join(own.title[:TITLE_CHARS].split())  # no tab or newline: they delimit
            docs.append(f"{own.kind}\t{title}\t{' '.join(_strongest(vector, DOC_TERMS))}")
    pos_n = total[LIBRARY] + total[LIKED]
    profile = Profile(
        positive=_unit(_strongest({t: x / pos_n for t, x in positive.items()}, PROFILE_TERMS))
        if pos_n
        else {},
        negative=_unit(_strongest(dict(negative), PROFILE_TERMS)) if total[DISLIKED] else {},
        docs="\n".join(docs),
        papers=len(latest),
    )
    disliked = [own for own in latest.values() if own.kind == DISLIKED]
    if themes_of is not None and len(disliked) >= AVOID_AFTER:
        counts = Counter(key for key in themes_of(disliked) if key)
        profile.avoid = {key: n / len(disliked) for key, n in counts.items() if n >= AVOID_AFTER}
    if embed is not None and latest:
        owns = list(latest.values())
        vectors = embed([text_of(own.title, own.abstract) for own in owns])
        profile.positive_embedding = _mean(
            [v for v, o in zip(vectors, owns, strict=True) if o.kind != DISLIKED]
        )
        profile.negative_embedding = _mean(
            [v for v, o in zip(vectors, owns, strict=True) if o.kind == DISLIKED]
        )
    return profile


Embed = Callable[[Sequence[str]], list[list[float]]]
ThemesOf = Callable[[list[Own]], list[str | None]]
AVOID_AFTER = 2  # disliked papers of one theme before the theme itself counts against a paper


def text_of(title: str, abstract: str) -> str:
    """What an embedding is made of: title and abstract."""
    return f"{title}. {abstract}" if abstract else title


def _mean(vectors: list[list[float]]) -> list[float]:
    if not vectors:
        return []
    total = [sum(column) / len(vectors) for column in zip(*vectors, strict=True)]
    norm = math.sqrt(sum(x * x for x in total)) or 1.0
    return [x / norm for x in total]


def embedded(vectors: Sequence[Sequence[float]], target: Sequence[float]) -> dict[int, float]:
    """Cosine of each unit vector with a unit `target` (an empty target: nothing)."""
    if not target:
        return {}
    return {i: sum(a * b for a, b in zip(v, target, strict=True)) for i, v in enumerate(vectors)}


# --- the day's side, shared by every reader ----------------------------------------------------


@dataclass
class IssueIndex:
    """The day's papers as TF-IDF unit vectors, inverted: term -> (paper, weight)."""

    idf: dict[str, float]
    default_idf: float  # a term none of the day's papers has
    postings: dict[str, list[tuple[int, float]]]
    vectors: list[Vector]
    strongest: list[list[tuple[str, float]]]  # each paper's strongest terms, for naming a pick


def issue_index(texts: Sequence[tuple[str, str]]) -> IssueIndex:
    """`texts`: each paper's (title, abstract), in the issue's order."""
    counts = [doc_vector(title, abstract) for title, abstract in texts]
    n = len(counts)
    df = Counter(t for vector in counts for t in vector)
    idf = {t: math.log((1 + n) / (1 + d)) + 1 for t, d in df.items()}
    vectors = [_unit({t: x * idf[t] for t, x in vector.items()}) for vector in counts]
    # A term in over a third of the day's papers says little about any of them (its idf is near
    # the floor) and costs the most to walk for every reader; so does a term a paper barely
    # uses (under MIN_POSTING of its unit vector). Both count in norms only.
    common = {t for t, d in df.items() if d > n / 3} if n >= 9 else set()
    postings: dict[str, list[tuple[int, float]]] = {}
    for i, vector in enumerate(vectors):
        for t, x in vector.items():
            if t not in common and x >= MIN_POSTING:
                postings.setdefault(t, []).append((i, x))
    strongest = [list(_strongest(v, NAMING_TERMS).items()) for v in vectors]
    return IssueIndex(idf, math.log(1 + n) + 1, postings, vectors, strongest)


def similarity(index: IssueIndex, profile: Vector) -> dict[int, float]:
    """Cosine of each of the day's papers with a profile vector weighted by the day's IDF
    (papers sharing no term are left out)."""
    if not profile:
        return {}
    idf, postings = index.idf, index.postings
    out = [0.0] * len(index.vectors)
    # Only the terms the day has cost a walk (a set intersection, in C); the others enter the
    # norm at the default idf, and as the profile is a unit vector their weight is what is left.
    shared = profile.keys() & idf.keys()
    norm2, rest = 0.0, 1.0
    for t in shared:  # per reader: keep this loop lean (bench/rank.py)
        x = profile[t]
        w = x * idf[t]
        norm2 += w * w
        rest -= x * x
        found = postings.get(t)
        if found:
            for i, y in found:
                out[i] += w * y
    norm = math.sqrt(norm2 + max(0.0, rest) * index.default_idf**2) or 1.0
    return {i: s / norm for i, s in enumerate(out) if s}


def resembles(index: IssueIndex, profile: Profile, paper: int) -> tuple[str, str] | None:
    """The (kind, title) of the reader's paper sharing most weight with the day's `paper`."""
    shared: dict[int, float] = {}
    mine = profile.resembling()
    for t, x in index.strongest[paper]:
        own = mine.get(t)
        if own is not None:
            shared[own] = shared.get(own, 0.0) + x
    best, most = -1, 0.0
    for own, amount in shared.items():  # the first of equals: the order the reader gave them
        if amount > most:
            best, most = own, amount
    return profile.titles[best] if best >= 0 else None


def ramp(value: float, low: float, high: float) -> float:
    """0 at or below `low`, 1 at or above `high`, linear between."""
    return min(1.0, max(0.0, (value - low) / (high - low)))
