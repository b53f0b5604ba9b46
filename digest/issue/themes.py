"""Group an issue's papers into a few labelled themes a reader can scan, in any field.

Pure: papers and field packs in, themes out. Computed once per issue, shared by every reader.

The day's own text decides the groups; no taxonomy is needed for that:

- Each paper is a TF-IDF vector (`digest.issue.vectors`) of its content words and word pairs (title
  x3, the source's keywords x2, abstract x1), of its arXiv categories when the source gives
  them, and of the themes of every field pack whose keywords it uses (a thesaurus: "qubit"
  and "entanglement" both point to quantum information, whichever packs the newsletter chose).
- Papers are clustered spectrally over their nearest neighbours; the number of themes comes
  from the data (the largest eigengap), between enough themes that none holds much more than
  `THEME_SIZE` papers and `max_themes`.
- A theme of the configured packs names a group only on real evidence: most of its papers
  name the theme by several of its keywords (`STRONG_KEYWORDS`) or by their arXiv category,
  never by one common word. Other groups are named by the noun phrases that set their papers
  apart ("Gravitational waves and black holes"), or by their shared arXiv category's name
  ("High Energy Physics - Phenomenology"). A group nothing names well gives its papers to the
  group they read most like; papers like no other go to "More trending papers".
- Several groups named by one pack theme become its sub-themes ("Language models: Masked
  language modeling").

Themes come out ordered by strength: the sum over their papers of 1/sqrt(listing position),
so a theme with many papers, or with the day's top papers, leads. numpy and scipy load on the
first grouping, not with this module.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import DigestError
from ..models import Paper, Theme, in_category
from ..util import yamlfile
from ..util.text import Fields, bm25_idf, headline_terms, phrases, same_words, terms
from .arxiv import category_name

if TYPE_CHECKING:
    import numpy as np

MORE_LABEL = "More trending papers"
MORE_KEY = "more"
LABS_KEY = "labs"  # the section pinned first: papers from organisations the reader follows
LABS_LABEL = "From the labs you follow"
RISING_KEY = "rising"  # the section after the themes: earlier days' papers climbing fastest
RISING_LABEL = "Rising"
# Field packs shipped in digest/packs/: readers' topics and the names of themes they support.
PACK_NAMES = ("ml", "physics", "maths", "life", "economics")
DEFAULT_PACKS = ("ml",)
FIELD_WEIGHTS = {"title": 3.0, "keywords": 2.0, "abstract": 1.0}
MAX_THEMES = 7
MIN_PAPERS = 2
# Keyword evidence a paper needs before it counts for a theme at all: a rare keyword in the
# title, or twice in the abstract.
MIN_EVIDENCE = 1.0
# Evidence e counts as e / (e + EVIDENCE_HALF) in a paper's fit to a theme (0..1).
EVIDENCE_HALF = 1.0
# A keyword found in every paper of the issue still counts this much of one found in a single
# paper: it cannot sort the day's papers, but on a day of quantum papers they are quantum papers.
RARITY_FLOOR = 0.25
PRIMARY_CATEGORY_EVIDENCE = 3.0
OTHER_CATEGORY_EVIDENCE = 1.0
# Each further keyword of a theme found in a paper counts half the one before: a theme with
# many keywords must not win on their number alone.
KEYWORD_DECAY = 0.5
# A paper supports a pack theme's name when it uses this many of the theme's keywords (or is in
# one of its arXiv categories), and a group takes the name when this share of its papers does.
STRONG_KEYWORDS = 3
NAMED_SHARE = 0.6
# A group where this share of papers support a theme that names another group is its sub-theme.
SUB_SHARE = 0.4
# A theme should hold about this many papers at most: a day of 40 papers gets 4 themes or more.
THEME_SIZE = 12
# Neighbours each paper links to in the similarity graph: at least this, sqrt(n) on big days.
NEIGHBOURS = 10
# How much a pack theme's evidence, and an arXiv category, weigh in a paper's vector (as
# term counts before TF-IDF).
TOPIC_WEIGHT = 3.0
CATEGORY_WEIGHT = 3.0
# A data-made label must be found in at least this share of its group's papers.
LABEL_SUPPORT = 0.3
LABEL_SAMPLE = 40


# --- taxonomy -------------------------------------------------------------------------------


class ThemeSpec(BaseModel):
    """One theme as written in a field pack (digest/packs/*.yaml) or under `themes.custom` in digest.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1)
    label: str = Field(min_length=1)
    description: str = ""
    keywords: list[str] = Field(min_length=1)
    categories: list[str] = Field(default_factory=list)

    @field_validator("key")
    @classmethod
    def _slug(cls, value: str) -> str:
        value = value.strip().lower()
        if not value or any(c.isspace() for c in value):
            raise ValueError(f"key {value!r} must be one word, e.g. quantum-computing")
        return value

    @field_validator("label", "description")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return " ".join(value.split())

    @field_validator("keywords")
    @classmethod
    def _has_words(cls, values: list[str]) -> list[str]:
        empty = [v for v in values if not phrases([v])]
        if empty:
            raise ValueError(f"keywords {empty} have no letters or digits to match")
        return values


@dataclass(frozen=True)
class Topic:
    key: str
    label: str
    description: str
    keywords: tuple[tuple[str, ...], ...]
    categories: tuple[str, ...] = ()

    @classmethod
    def from_spec(cls, spec: ThemeSpec) -> Topic:
        return cls(
            key=spec.key,
            label=spec.label,
            description=spec.description,
            keywords=tuple(same_words(phrases(spec.keywords))),
            categories=tuple(c.strip() for c in spec.categories if c.strip()),
        )


class ThemesSettings(Protocol):
    packs: list[str]
    custom: list[ThemeSpec]
    replace: bool


class _TaxonomyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    themes: list[ThemeSpec] = Field(min_length=1)


def load_taxonomy(
    path: Path | None = None,
    *,
    packs: Sequence[str] = DEFAULT_PACKS,
    custom: Sequence[ThemeSpec] = (),
    replace: bool = False,
) -> list[Topic]:
    """The themes of the field `packs` (or of the YAML file at `path`, same shape), then
    `custom` themes: a custom theme with a pack's key takes its place, others are added. With
    `replace`, only the custom themes."""
    specs: list[ThemeSpec] = []
    if not replace:
        for name in [None] if path is not None else packs:
            for spec in _read_taxonomy(path, name):
                if spec.key not in {s.key for s in specs}:  # the first pack naming a key keeps it
                    specs.append(spec)
    for spec in custom:
        keys = [s.key for s in specs]
        if spec.key in keys:
            specs[keys.index(spec.key)] = spec
        else:
            specs.append(spec)
    if not specs:
        raise DigestError("themes: no themes left; list some under themes.custom or set replace: false")
    return [Topic.from_spec(s) for s in specs]


def configured(settings: ThemesSettings) -> list[Topic]:
    """The taxonomy digest.yaml's `themes:` section asks for (`config.themes`)."""
    return load_taxonomy(packs=settings.packs, custom=settings.custom, replace=settings.replace)


def _read_taxonomy(path: Path | None, pack: str | None = None) -> list[ThemeSpec]:
    if path is None:
        if pack not in PACK_NAMES:
            raise DigestError(f"themes: no field pack {pack!r}; the packs are {', '.join(PACK_NAMES)}")
        text = resources.files("digest").joinpath(f"packs/{pack}.yaml").read_text(encoding="utf-8")
        doc = yamlfile.parse(text, Path(f"digest/packs/{pack}.yaml"))
    else:
        doc = yamlfile.load(path)
    try:
        parsed = _TaxonomyFile.model_validate(doc.data if doc.data is not None else {})
    except ValidationError as exc:
        raise DigestError(yamlfile.validation_problems(doc, exc, _TaxonomyFile)) from None
    keys = Counter(s.key for s in parsed.themes)
    doubled = [k for k, n in keys.items() if n > 1]
    if doubled:
        raise DigestError(f"{doc.path}: theme keys must be unique; repeated: {', '.join(doubled)}")
    return parsed.themes


def configured_packs(settings: ThemesSettings) -> list[Topic]:
    """Every pack's themes with the configured custom ones: the thesaurus grouping reads, so that
    its quality does not depend on which packs a newsletter chose."""
    return load_taxonomy(packs=PACK_NAMES, custom=settings.custom)


@cache
def _all_packs() -> tuple[Topic, ...]:
    return tuple(load_taxonomy(packs=PACK_NAMES))


# --- evidence -------------------------------------------------------------------------------


def paper_texts(paper: Paper) -> dict[str, str]:
    """A paper's text by field, as FIELD_WEIGHTS names and weighs them."""
    return {"title": paper.title, "keywords": " ; ".join(paper.keywords), "abstract": paper.abstract}


def paper_fields(paper: Paper) -> Fields:
    return Fields.of(paper_texts(paper), FIELD_WEIGHTS)


@dataclass(frozen=True)
class Evidence:
    """How strongly each paper points to each topic (`score[i, j]`), and how many of the topic's
    distinct keywords it uses (`keywords[i, j]`) or whether its categories are the topic's."""

    score: np.ndarray
    keywords: np.ndarray
    category: np.ndarray

    # How many keywords each topic has: a theme written with two keywords is named by both.
    sizes: np.ndarray

    def strong(self) -> np.ndarray:
        import numpy as np

        return (self.keywords >= np.minimum(STRONG_KEYWORDS, self.sizes)) | self.category


def evidence_of(papers: Sequence[Paper], topics: Sequence[Topic], fields: Sequence[Fields]) -> Evidence:
    """Keyword evidence in array form: one pass over each paper's phrases, not one lookup per
    keyword and paper. A keyword's mentions are log-dampened and weighted by how rare it is
    among today's papers (BM25's idf scaled so one paper's keyword weighs 1 and everyone's
    RARITY_FLOOR); a theme's keywords count in decreasing order, each KEYWORD_DECAY of the one
    before; an arXiv category the theme lists adds to it (the primary category most)."""
    import numpy as np

    n, t = len(papers), len(topics)
    slot: dict[tuple[str, ...], int] = {}
    members: list[list[int]] = []
    for topic in topics:
        members.append([slot.setdefault(kw, len(slot)) for kw in topic.keywords])
    joined: dict[str, int] = {"".join(kw): u for kw, u in slot.items() if len(kw) > 1}
    long = [(kw, u) for kw, u in slot.items() if len(kw) > Fields_MAX]
    counts = np.zeros((n, len(slot)))
    for i, f in enumerate(fields):
        for gram, c in f.counts.items():
            u = slot.get(gram)
            if u is not None:
                counts[i, u] += c
        for word, c in f.solid.items():
            u = joined.get(word)
            if u is not None:
                counts[i, u] += c
        for kw, u in long:
            counts[i, u] = f.count(kw)
    # "language model" inside "large language model" is one mention, not two.
    raw = counts.copy()
    for u, v in _nesting(tuple(slot)):
        counts[:, u] -= raw[:, v]
    np.maximum(counts, 0, out=counts)
    top = bm25_idf(1, n) or 1.0
    df = (counts > 0).sum(axis=0)
    rarity = RARITY_FLOOR + (1 - RARITY_FLOOR) * np.log(1 + (n - df + 0.5) / (df + 0.5)) / top
    values = np.log1p(counts) * rarity
    score = np.zeros((n, t))
    distinct = np.zeros((n, t), dtype=int)
    for j, cols in enumerate(members):
        if not cols:
            continue
        found = -np.sort(-values[:, cols], axis=1)
        score[:, j] = found @ (KEYWORD_DECAY ** np.arange(len(cols)))
        distinct[:, j] = (found > 0).sum(axis=1)
    category = np.zeros((n, t), dtype=bool)
    for i, paper in enumerate(papers):
        if not paper.categories:
            continue
        for j, topic in enumerate(topics):
            extra = _category_evidence(paper.categories, topic.categories)
            if extra:
                score[i, j] += extra
                category[i, j] = True
    return Evidence(score, distinct, category, np.array([len(c) for c in members]))


@lru_cache(maxsize=8)
def _nesting(keywords: tuple[tuple[str, ...], ...]) -> list[tuple[int, int]]:
    """(inner, outer) positions of keywords where `outer` holds `inner` as consecutive words
    with no other keyword between them: "language model" in "large language model". Cached:
    a newsletter's keywords are the same every day."""
    position = {kw: u for u, kw in enumerate(keywords)}
    holders: dict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
    for outer in keywords:
        parts = {outer[a:b] for a in range(len(outer)) for b in range(a + 1, len(outer) + 1)} - {outer}
        for inner in parts & position.keys():
            holders[inner].append(outer)
    pairs = []
    for inner, outers in holders.items():
        for outer in outers:
            if not any(m != outer and m in holders and outer in holders[m] for m in outers):
                pairs.append((position[inner], position[outer]))
    return pairs


Fields_MAX = 4  # Fields counts phrases up to this long; longer keywords are counted one by one


def keyword_evidence(
    papers: Sequence[Paper], topics: Sequence[Topic], fields: Sequence[Fields] | None = None
) -> list[list[float]]:
    """evidence[i][j]: how strongly paper i's text and categories point to topic j. `fields`
    are the papers' `paper_fields`, when the caller has them already."""
    if not papers:
        return []
    if fields is None:
        fields = [paper_fields(p) for p in papers]
    return evidence_of(papers, topics, fields).score.tolist()


def best_topics(papers: Sequence[Paper], topics: Sequence[Topic]) -> list[str | None]:
    """Each paper's strongest theme of the taxonomy, by the same evidence theming uses; None
    for a paper no theme names clearly enough (MIN_EVIDENCE)."""
    out: list[str | None] = []
    for row in keyword_evidence(papers, topics):
        j = max(range(len(topics)), key=lambda j: row[j], default=None)
        out.append(topics[j].key if j is not None and row[j] >= MIN_EVIDENCE else None)
    return out


def _category_evidence(categories: Sequence[str], wanted: Sequence[str]) -> float:
    if not wanted:
        return 0.0
    lower = {w.lower() for w in wanted}
    return sum(
        PRIMARY_CATEGORY_EVIDENCE if i == 0 else OTHER_CATEGORY_EVIDENCE
        for i, c in enumerate(categories)
        if in_category(c, lower)
    )


def term_bags(papers: Sequence[Paper], thesaurus: Sequence[Topic], found: Evidence) -> list[dict[str, float]]:
    """Each paper's weighted terms: content words and pairs by field, its arXiv categories,
    and the thesaurus themes its keywords name (`found`: the evidence for them)."""
    evidence = found.score
    bags = []
    for i, paper in enumerate(papers):
        bag: defaultdict[str, float] = defaultdict(float)
        for name, text in paper_texts(paper).items():
            weight = FIELD_WEIGHTS[name]
            for term in terms(text):
                bag[term] += weight
        for rank, category in enumerate(paper.categories):
            bag["category:" + category.lower()] += CATEGORY_WEIGHT if rank == 0 else 1.0
        for j in (evidence[i] >= MIN_EVIDENCE).nonzero()[0]:
            bag["topic:" + thesaurus[j].key] += TOPIC_WEIGHT * float(evidence[i, j])
        bags.append(dict(bag))
    return bags


# --- grouping -------------------------------------------------------------------------------


@dataclass
class Grouping:
    """The issue's themes, and for each paper how well it fits each taxonomy theme (0..1):
    ranking uses the fit for readers who follow a topic."""

    themes: list[Theme]
    fit: dict[str, dict[str, float]]
    # Each paper's `paper_fields`, built here once per issue and reused by ranking.
    fields: list[Fields] = field(default_factory=list)


def assign(
    papers: Sequence[Paper],
    topics: Sequence[Topic],
    *,
    max_themes: int = MAX_THEMES,
    min_papers: int = MIN_PAPERS,
    thesaurus: Sequence[Topic] | None = None,
) -> Grouping:
    """Group `papers`; `topics` (the configured packs) may name groups and give readers' fit,
    `thesaurus` (every pack, by default) only helps tell which papers read alike."""
    papers = list(papers)
    if not papers:
        return Grouping([], {})
    from . import vectors

    fields = [paper_fields(p) for p in papers]
    # The configured themes first: a custom theme outranks a pack's of the same key or words.
    words = list(topics) + [
        t
        for t in (thesaurus if thesaurus is not None else _all_packs())
        if t.key not in {c.key for c in topics}
    ]
    across = evidence_of(papers, words, fields)
    evidence = Evidence(
        across.score[:, : len(topics)],
        across.keywords[:, : len(topics)],
        across.category[:, : len(topics)],
        across.sizes[: len(topics)],
    )
    bags = term_bags(papers, words, across)
    matrix = vectors.tfidf(bags).matrix
    clusters = _cluster(matrix, len(papers), max_themes, min_papers)

    groups = [g for g in clusters if len(g) >= min_papers]
    homeless = [i for g in clusters if len(g) < min_papers for i in g]
    groups, unplaced = _rehome(matrix, groups, homeless)
    named = _name_groups(_Words(papers, bags), topics, words, across, groups)
    # A group no label fits gives its papers to the groups they read most like.
    lost = [i for g, label in zip(groups, named, strict=True) if label is None for i in g]
    kept = [(g, label) for g, label in zip(groups, named, strict=True) if label is not None]
    groups2, more = _rehome(matrix, [g for g, _ in kept], lost)
    unplaced += more
    by_label: dict[str, tuple[str, list[int]]] = {}
    for g, (label, key) in zip(groups2, [lk for _, lk in kept], strict=True):
        by_label.setdefault(label, (key, []))[1].extend(g)
    unplaced = _by_category(papers, unplaced, by_label, min_papers)
    themes = [
        Theme(label=label, key=key, papers=[papers[i] for i in sorted(members)])
        for label, (key, members) in by_label.items()
        if members
    ]
    themes.sort(key=lambda t: (-_strength(t.papers, papers), t.label))
    if unplaced:
        themes.append(Theme(label=MORE_LABEL, key=MORE_KEY, papers=[papers[i] for i in sorted(unplaced)]))
    fit = evidence.score / (evidence.score + EVIDENCE_HALF)
    scores = {
        p.id: {t.key: round(float(fit[i, j]), 4) for j, t in enumerate(topics) if fit[i, j] > 0}
        for i, p in enumerate(papers)
    }
    return Grouping(themes, scores, fields)


def group(
    papers: Sequence[Paper],
    topics: Sequence[Topic],
    *,
    max_themes: int = MAX_THEMES,
    min_papers: int = MIN_PAPERS,
) -> list[Theme]:
    """Themes ordered by strength, "More trending papers" last when some papers fit nowhere."""
    return assign(papers, topics, max_themes=max_themes, min_papers=min_papers).themes


def _cluster(matrix, n: int, max_themes: int, min_papers: int) -> list[list[int]]:
    """Clusters of the papers that share terms with some other paper; one cluster per paper
    that shares none."""
    import numpy as np

    from . import vectors

    alive = np.asarray(matrix.getnnz(axis=1) > 0).nonzero()[0]
    lonely = [[int(i)] for i in np.setdiff1d(np.arange(n), alive)]
    m = len(alive)
    most = min(max_themes, m // max(1, min_papers))
    if most < 2:
        return ([[int(i) for i in alive]] if m else []) + lonely
    fewest = min(most, max(2, math.ceil(m / THEME_SIZE)))
    graph = vectors.neighbours(matrix[alive], max(NEIGHBOURS, round(math.sqrt(m))))
    labels = vectors.spectral_clusters(graph, max_k=most, min_k=fewest)
    out: dict[int, list[int]] = {}
    for i, label in zip(alive, labels, strict=True):
        out.setdefault(int(label), []).append(int(i))
    return list(out.values()) + lonely


def _rehome(matrix, groups: list[list[int]], papers: list[int]) -> tuple[list[list[int]], list[int]]:
    """Each of `papers` joins the group whose papers it reads most like (cosine to the group's
    centroid); those like no group's are returned apart."""
    import numpy as np

    groups = [list(g) for g in groups]
    if not papers:
        return groups, []
    if not groups:
        return groups, list(papers)
    centroids = np.vstack([np.asarray(matrix[g].mean(axis=0)).ravel() for g in groups])
    sims = matrix[papers] @ centroids.T
    unplaced = []
    for row, i in enumerate(papers):
        best = int(np.argmax(sims[row]))
        if sims[row, best] > 0:
            groups[best].append(i)
        else:
            unplaced.append(i)
    return groups, unplaced


def _name_groups(
    lexicon: _Words,
    topics: Sequence[Topic],
    words: Sequence[Topic],
    thesaurus: Evidence,
    groups: list[list[int]],
) -> list[tuple[str, str] | None]:
    """(label, key) per group: a pack theme its papers support, else the phrases that set it
    apart, else its shared arXiv category; None when nothing names it well."""
    # Papers vote for their strongest theme of every pack, so that a pack theme names a
    # group only when no other field's theme fits its papers better.
    strong = thesaurus.strong()
    best = thesaurus.score.argmax(axis=1)
    configured = {t.key: j for j, t in enumerate(topics)}
    claimed: list[int | None] = []
    leaning: list[int | None] = []
    for g in groups:
        votes = Counter(int(best[i]) for i in g if strong[i, best[i]])
        j, n = votes.most_common(1)[0] if votes else (None, 0)
        key = words[j].key if j is not None else None
        claimed.append(configured.get(key) if key and n >= NAMED_SHARE * len(g) else None)
        leaning.append(configured.get(key) if key and n >= SUB_SHARE * len(g) else None)
    # A group leaning to a theme that names another group is one of its sub-themes: on a day
    # of language-model papers, "Language models: Tokenizers" rather than "Tokenizers".
    claimed = [
        c if c is not None or lean not in claimed else lean for c, lean in zip(claimed, leaning, strict=True)
    ]
    papers = lexicon.papers
    out: list[tuple[str, str] | None] = []
    for g, j in zip(groups, claimed, strict=True):
        if j is not None:
            siblings = [h for h, k in zip(groups, claimed, strict=True) if k == j]
            topic = topics[j]
            if len(siblings) == 1:
                out.append((topic.label, topic.key))
                continue
            sub = _distinct_label(lexicon, g, [i for h in siblings for i in h])
            if sub:
                out.append((f"{topic.label}: {sub}", f"{topic.key}:{_slug(sub)}"))
            else:
                out.append((topic.label, topic.key))
            continue
        label = _distinct_label(lexicon, g)
        shared = _shared_category([papers[i] for i in g])
        if not label and shared:
            out.append((category_name(shared) or shared, "category:" + shared.lower()))
            continue
        label = (
            label
            or _distinct_label(lexicon, g, abstracts=True)
            or _distinct_label(lexicon, g, strict=False)
            or _distinct_label(lexicon, g, strict=False, abstracts=True)
        )
        out.append((label, "group:" + _slug(label)) if label else None)
    return _told_apart(lexicon, groups, out)


def _told_apart(
    lexicon: _Words, groups: list[list[int]], named: list[tuple[str, str] | None]
) -> list[tuple[str, str] | None]:
    """Groups that came out with one label are renamed by what sets each apart from the others
    of that label; a group nothing sets apart keeps the label (and joins the first of them)."""
    out = list(named)
    same: dict[str, list[int]] = {}
    for k, lk in enumerate(named):
        if lk is not None and not lk[1].startswith(("category:",)) and ":" not in lk[0]:
            same.setdefault(lk[0], []).append(k)
    for ks in same.values():
        if len(ks) < 2:
            continue
        among = [i for k in ks for i in groups[k]]
        first = named[ks[0]]
        for k in ks[1:] if first and first[1].startswith("group:") else ks:
            g = groups[k]
            taken = {lk[0] for lk in out if lk}
            for label in (
                _distinct_label(lexicon, g, among),
                _distinct_label(lexicon, g, among, abstracts=True),
                _distinct_label(lexicon, g, among, strict=False),
                _distinct_label(lexicon, g, among, strict=False, abstracts=True),
            ):
                if label and label not in taken:
                    out[k] = (label, "group:" + _slug(label))
                    break
    return out


def _slug(words: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", words.lower()))


def _shared_category(members: Sequence[Paper]) -> str | None:
    """The primary arXiv category most of `members` have, if one has a name."""
    primaries = Counter(p.categories[0] for p in members if p.categories)
    if not primaries:
        return None
    category, n = primaries.most_common(1)[0]
    return category if n * 2 > len(members) and category_name(category) else None


def _by_category(
    papers: list[Paper], unplaced: list[int], by_label: dict[str, tuple[str, list[int]]], min_papers: int
) -> list[int]:
    """Leftover papers that share a primary arXiv category become a theme under its name (or
    join the theme of that name); returns the papers still left over."""
    groups: dict[str, list[int]] = {}
    for i in unplaced:
        if papers[i].categories and category_name(papers[i].categories[0]):
            groups.setdefault(papers[i].categories[0], []).append(i)
    left = set(unplaced)
    for category, members in groups.items():
        label = category_name(category) or category
        if label in by_label or len(members) >= min_papers:
            by_label.setdefault(label, ("category:" + category.lower(), []))[1].extend(members)
            left -= set(members)
    return sorted(left)


def _strength(members: Iterable[Paper], everyone: list[Paper]) -> float:
    order = {id(p): i for i, p in enumerate(everyone)}
    return sum(1 / math.sqrt(p.position or order[id(p)] + 1) for p in members)


# --- labels ---------------------------------------------------------------------------------

# Inline formulas and TeX commands say nothing a heading can show.
_MATH = re.compile(r"\$[^$]*\$|\\[A-Za-z]+|[{}^_]")
_ROMAN = re.compile(r"^(?=[ivxlcdm]+$)m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})$")
# Words that head a title but never a theme.
_TITLE_FILLER = frozenset(
    """note notes remark remarks revisited towards toward part parts case cases aspect aspects
    certain some generalized generalised general simple class classes type types problem problems
    role effect effects application applications property properties""".split()
)
# Words every field uses: part of a heading ("Language models"), never the whole of one.
_GENERIC = frozenset(
    """model system data theory learning equation function method analysis network structure
    process algorithm design result application control dynamics estimation representation
    generation prediction space time order state group field measurement observation
    simulation optimization optimisation information feature image distribution limit bound
    condition solution behavior behaviour mechanism framework technique tool experiment
    evidence implication formal formalism relativity""".split()
)
_NOUNS_IN_LY = frozenset("anomaly family assembly supply monopoly poly italy".split())
# A subject pronoun, then the verb it governs.
_AFTER_SUBJECT = re.compile(
    r"\b(?:[Ww]e|[Ii]t|[Tt]hey|which|that|this)\s+(?:also\s+|then\s+|further\s+)?([a-z]+)\b"
)
# Words that follow such a subject without being verbs ("this work", "that the").
_NOT_VERBS = frozenset(
    "the a an is are was were be can may will work paper study approach method model".split()
)
# Endings of adjectives, which cannot end a heading ("Detectors and superconducting").
_ADJECTIVE = re.compile(r"(ous|ive|ical|able|ible|ular|ary|ing|ed|al|ic)$")
# Nouns with those endings a heading may well end on.
_NOUN_ENDINGS = frozenset(
    """learning modeling modelling lensing scattering computing processing training
    clustering reasoning sensing sampling forecasting imaging tracking rendering signal
    potential material interval manifold crystal protocol logic music topic mechanic""".split()
)


# Punctuation ends a phrase ("Simulation: Monte Carlo" holds no "simulation monte"): it
# becomes a stop word, which breaks runs of content words.
_BREAK = re.compile(r"[:;,?!()\[\]\"/]+|\.(?=\s|$)|\s[-\u2013\u2014]+\s")


def _clean(text: str) -> str:
    return _BREAK.sub(" the ", _MATH.sub(" ", text.replace("\u2019", "'")))


def _fit_for_label(term: str, surface: str, strict: bool = True) -> bool:
    """Whether a run of words can stand in a heading: no single letters, digits (but "3D",
    "5G"), roman numerals, filler or a possessive cut off from what it owns."""
    words = surface.split()
    if words[-1].endswith("'s") or words[-1].endswith("'"):
        return False
    for word, folded in zip(words, term.split(), strict=False):
        lower = word.lower()
        if any(c.isdigit() for c in word) and not re.fullmatch(r"\d[A-Z]", word):
            return False
        if len(word) < 2 or (len(word) == 2 and not word.isupper()):
            return False
        if _ROMAN.match(lower) or folded in _TITLE_FILLER:
            return False
        if lower.endswith("ly") and lower not in _NOUNS_IN_LY:  # adverbs: "typically", "widely"
            return False
    last = words[-1].lower().split("-")[-1]
    if _ADJECTIVE.search(last) and last.rstrip("s") not in _NOUN_ENDINGS and not words[-1].isupper():
        return False
    if len(words) == 1 and sum(c.isalpha() for c in words[0]) < 3:  # "3D" alone says too little
        return False
    return not (strict and len(words) == 1 and term in _GENERIC)


@dataclass
class _Words:
    """The day's words for labelling, found once per issue: each paper's term bag (content
    words and pairs of its whole text), how many papers use each term, and the runs of its
    title (and, when a label needs them, its abstract) with their written forms."""

    papers: list[Paper]
    bags: list[dict[str, float]]
    df: Counter[str] = field(default_factory=Counter)
    _heads: dict[tuple[int, bool], dict[str, str]] = field(default_factory=dict)
    _verbs: set[str] | None = None
    _title_words: set[str] | None = None

    def __post_init__(self) -> None:
        for bag in self.bags:
            self.df.update(bag.keys())

    def title_words(self) -> set[str]:
        """Every word (folded) some title of the day uses: titles are noun phrases, so a word
        from an abstract that no title uses may well be a verb ("relies", "develop")."""
        if self._title_words is None:
            self._title_words = {
                t for i in range(len(self.papers)) for t in self.heads(i, False) if " " not in t
            }
        return self._title_words

    def verbs(self) -> set[str]:
        """Words the day's abstracts use as verbs ("we propose", "which relies", "it predicts"):
        a heading must not end on one. Found when a label first needs them."""
        if self._verbs is None:
            self._verbs = {
                m.group(1).lower()
                for p in self.papers
                for m in _AFTER_SUBJECT.finditer(p.abstract)
                if m.group(1).lower() not in _NOT_VERBS
            }
        return self._verbs

    def heads(self, i: int, abstract: bool) -> dict[str, str]:
        """Runs of up to three content words, with their first written form."""
        if (i, abstract) not in self._heads:
            p = self.papers[i]
            text = p.abstract if abstract else f"{p.title} ; {' ; '.join(p.keywords)}"
            self._heads[i, abstract] = headline_terms(_clean(text))
        return self._heads[i, abstract]


def _distinct_label(
    words: _Words,
    members: list[int],
    among: list[int] | None = None,
    strict: bool = True,
    abstracts: bool = False,
) -> str | None:
    """The words that set `members` apart from the other papers `among` (which include them;
    None: the whole issue), as a label ("Masked language modeling", "Black holes and
    gravitational waves"), or None.

    Candidates are runs of one or two content words in titles and the source's keywords (what
    a paper says it is about; with `abstracts`, phrases of the abstracts), used by two members
    at least and fit for a heading. A run scores by the share of members using it anywhere
    minus the share of the other papers using it, pairs more; it must be found in
    LABEL_SUPPORT of the members, so a heading says what its papers are about. A second run
    joins the first when it scores at least half as well; a run most titles go on with one
    more word is completed ("masked language" -> "masked language modeling")."""
    inside: Counter[str] = Counter()
    written: dict[str, Counter[str]] = {}
    # Phrases of abstracts are read from at most LABEL_SAMPLE of a group's papers (evenly
    # spread): enough to find its common phrases, and a big day's labels stay cheap.
    step = math.ceil(len(members) / LABEL_SAMPLE) if abstracts else 1
    for i in members[::step]:
        found = words.heads(i, abstracts)
        inside.update(found.keys())
        for term, surface in found.items():
            written.setdefault(term, Counter())[_shown(surface)] += 1
    # From abstracts, only phrases: a lone word there is too often a verb or filler.
    candidates = [
        t
        for t, n in inside.items()
        if n >= 2 and t.count(" ") <= 1 and (not abstracts or not strict or " " in t)
    ]
    support = _uses(candidates, [words.bags[i] for i in members])
    if among is None:
        outside = {t: words.df[t] - support[t] for t in candidates}
        n_others = len(words.papers) - len(members)
    else:
        rest = [words.bags[i] for i in set(among) - set(members)]
        outside = _uses(candidates, rest)
        n_others = len(rest)

    def score(term: str) -> float:
        contrast = support[term] / len(members) - outside[term] / max(1, n_others)
        return contrast * (1 + 0.5 * term.count(" "))

    ranked = sorted(
        (
            t
            for t in candidates
            if score(t) > 0
            and support[t] >= LABEL_SUPPORT * len(members)
            and _fit_for_label(t, written[t].most_common(1)[0][0], strict)
            and written[t].most_common(1)[0][0].split()[-1].lower() not in words.verbs()
            and (not abstracts or t.split()[-1] in words.title_words())
        ),
        key=lambda t: (-score(t), t),
    )
    chosen: list[str] = []
    for term in ranked:
        if chosen and score(term) < score(chosen[0]) / 2:
            break
        if not any(
            set(term.split()) & set(c.split()) for c in chosen
        ):  # "learning" after "federated learning"
            chosen.append(term)
        if len(chosen) == 2:
            break
    if not chosen:
        return None

    def completed(term: str) -> str:
        longer = [
            t
            for t in inside
            if t.startswith(term + " ")
            and t.count(" ") == term.count(" ") + 1
            and _fit_for_label(t, written[t].most_common(1)[0][0])
            and written[t].most_common(1)[0][0].split()[-1].lower() not in words.verbs()
            and (not abstracts or t.split()[-1] in words.title_words())
        ]
        best = max(longer, key=lambda t: (inside[t], t), default=None)
        return best if best and inside[best] * 2 >= inside[term] else term

    shown: list[str] = []
    for term in map(completed, chosen):
        # Completing one may have taken the other's words: "test generation" and "generation".
        if not any(set(term.split()) & set(s.split()) for s in shown):
            shown.append(term)
    label = " and ".join(_written(written[t]) for t in shown)
    return label[0].upper() + label[1:]


def _uses(terms: list[str], bags: list[dict[str, float]]) -> Counter[str]:
    """How many of `bags` hold each of `terms`."""
    wanted = set(terms)
    found: Counter[str] = Counter({t: 0 for t in terms})
    for bag in bags:
        found.update(wanted.intersection(bag))
    return found


def _written(forms: Counter[str]) -> str:
    """The form to show of a run written several ways: the most common, with its last word in
    the plural when some papers write it so ("Black holes" over "Black hole")."""
    common = forms.most_common(1)[0][0]
    head, _, last = common.rpartition(" ")
    stem = last.lower()[:-1] if last.lower().endswith("y") else last.lower()
    for form in forms:
        other = form.rpartition(" ")[2]
        if other != last and other.lower().startswith(stem) and other.lower().endswith("s"):
            return f"{head} {other}".strip()
    return common


@lru_cache(maxsize=65536)
def _shown(surface: str) -> str:
    """A term as a label shows it: acronyms kept ("LLMs", "JWST"), other words lower-cased
    ("High-Dimensional" too)."""
    return " ".join(w if any(_acronym(part) for part in w.split("-")) else w.lower() for w in surface.split())


def _acronym(word: str) -> bool:
    return sum(c.isupper() for c in word) >= 2 or (len(word) > 1 and word[1:].lower() != word[1:])
