"""Group an issue's papers into a few labelled themes a reader can scan.

Pure: papers and a taxonomy in, themes out. Computed once per issue, shared by every reader.

Two kinds of evidence decide where a paper goes:

- Keywords. A paper scores against each theme of the taxonomy by the theme's keywords found
  in it (title x3, the source's keywords x2, abstract x1, counts dampened by log1p, each
  further keyword of the same theme counting half the one before), each weighted by how rare
  it is among today's papers (BM25's idf, scaled so a keyword in one paper weighs 1 and one
  in every paper a quarter): on a day when every paper says "pre-training", that word sorts
  little. An arXiv category the theme lists adds to it (the primary category most).
- Text. Each paper is a TF-IDF vector of its content words and word pairs; a paper is close
  to a group when it reads like the group's other members (cosine to their centroid).

A paper first goes to the theme with the most keyword evidence, if it has enough. Papers with
none cluster among themselves by text (average linkage) and a cluster of two or more becomes
a data-driven theme labelled by its most distinctive words. Then, until nothing moves, every
paper goes to the group where `KEYWORD_WEIGHT * fit + (1 - KEYWORD_WEIGHT) * similarity` is
highest among the groups that may take it (its keywords name the theme, nearly as strongly as
its best theme, or it reads like the group's papers), and the weakest group is dissolved
while one is smaller than `min_papers` or there are more than `max_themes`. A theme left
holding over a third of a large issue is split into sub-themes by text ("Language models:
Masked language modeling"). Papers that fit nowhere end in "More trending papers". Themes
come out ordered by strength: the sum over their papers of 1/sqrt(listing position), so a
theme with many papers, or with the day's top papers, leads.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from . import yamlfile
from .errors import DigestError
from .models import Paper, Theme, in_category
from .text import Fields, bm25_idf, headline_terms, phrases, same_words, terms

MORE_LABEL = "More trending papers"
MORE_KEY = "more"
LABS_KEY = "labs"  # the section pinned first: papers from organisations the reader follows
LABS_LABEL = "From the labs you follow"
RISING_KEY = "rising"  # the section after the themes: earlier days' papers climbing fastest
RISING_LABEL = "Rising"
FIELD_WEIGHTS = {"title": 3.0, "keywords": 2.0, "abstract": 1.0}
MAX_THEMES = 7
MIN_PAPERS = 2
# Keyword evidence a paper needs before a theme claims it: a rare keyword in the title, or twice
# in the abstract.
MIN_EVIDENCE = 1.0
# Evidence e counts as e / (e + EVIDENCE_HALF) when weighed against text similarity (0..1).
EVIDENCE_HALF = 1.0
KEYWORD_WEIGHT = 0.3
# Papers without keyword evidence join in a data-driven group only if this similar (cosine).
MIN_LINK = 0.15
# A theme takes a paper its keywords name (with at least RELATIVE of the evidence for the
# paper's best theme: a paper on 3D vision that mentions an LLM is not a language-model paper),
# or one that reads like the theme's papers (cosine to their centroid at least MIN_JOIN).
RELATIVE = 0.6
MIN_JOIN = 0.2
# A paper whose best fit is below this goes to "More trending papers".
MIN_FIT = 0.05
# A keyword found in every paper of the issue still counts this much of one found in a single
# paper: it cannot sort the day's papers, but on a day of quantum papers they are quantum papers.
RARITY_FLOOR = 0.25
PRIMARY_CATEGORY_EVIDENCE = 3.0
OTHER_CATEGORY_EVIDENCE = 1.0
MAX_ROUNDS = 25
# Each further keyword of a theme found in a paper counts half the one before: a theme with
# many keywords must not win on their number alone.
KEYWORD_DECAY = 0.5
# A theme holding more than this share of the issue (and at least SPLIT_MIN papers) is split
# into sub-themes by text: on a day of pre-training papers, "Language models" alone says nothing.
MAX_SHARE = 1 / 3
SPLIT_MIN = 12


# --- taxonomy -------------------------------------------------------------------------------


class ThemeSpec(BaseModel):
    """One theme as written in taxonomy.yaml or under `themes.custom` in digest.yaml."""

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
    custom: list[ThemeSpec]
    replace: bool


class _TaxonomyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    themes: list[ThemeSpec] = Field(min_length=1)


def load_taxonomy(
    path: Path | None = None, *, custom: Sequence[ThemeSpec] = (), replace: bool = False
) -> list[Topic]:
    """The built-in taxonomy (or the YAML file at `path`, same shape), then `custom` themes:
    a custom theme with a built-in key takes its place, others are added. With `replace`, only
    the custom themes."""
    specs: list[ThemeSpec] = [] if replace else _read_taxonomy(path)
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
    return load_taxonomy(custom=settings.custom, replace=settings.replace)


def _read_taxonomy(path: Path | None) -> list[ThemeSpec]:
    if path is None:
        text = resources.files("digest").joinpath("taxonomy.yaml").read_text(encoding="utf-8")
        doc = yamlfile.parse(text, Path("digest/taxonomy.yaml"))
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


# --- evidence -------------------------------------------------------------------------------


def paper_texts(paper: Paper) -> dict[str, str]:
    """A paper's text by field, as FIELD_WEIGHTS names and weighs them."""
    return {"title": paper.title, "keywords": " ; ".join(paper.keywords), "abstract": paper.abstract}


def paper_fields(paper: Paper) -> Fields:
    return Fields.of(paper_texts(paper), FIELD_WEIGHTS)


def keyword_evidence(
    papers: Sequence[Paper], topics: Sequence[Topic], fields: Sequence[Fields] | None = None
) -> list[list[float]]:
    """evidence[i][j]: how strongly paper i's text and categories point to topic j. `fields`
    are the papers' `paper_fields`, when the caller has them already."""
    if fields is None:
        fields = [paper_fields(p) for p in papers]
    n = len(papers)
    counts = {kw: [f.count(kw) for f in fields] for t in topics for kw in t.keywords}
    top = bm25_idf(1, n) or 1.0
    rarity = {
        kw: RARITY_FLOOR + (1 - RARITY_FLOOR) * bm25_idf(sum(1 for c in cs if c), n) / top
        for kw, cs in counts.items()
    }
    out = []
    for i, paper in enumerate(papers):
        row = []
        for topic in topics:
            found = sorted((math.log1p(counts[kw][i]) * rarity[kw] for kw in topic.keywords), reverse=True)
            score = sum(x * KEYWORD_DECAY**r for r, x in enumerate(found) if x)
            row.append(score + _category_evidence(paper.categories, topic.categories))
        out.append(row)
    return out


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


Vector = dict[str, float]


def text_vectors(papers: Sequence[Paper]) -> list[Vector]:
    """Unit TF-IDF vectors (sublinear tf, fields weighted) over terms found in 2+ papers."""
    docs = []
    for p in papers:
        counts: defaultdict[str, float] = defaultdict(float)
        for name, text in paper_texts(p).items():
            for term in terms(text):
                counts[term] += FIELD_WEIGHTS[name]
        docs.append(counts)
    n = len(docs)
    df = Counter(t for d in docs for t in d)
    vectors = []
    for d in docs:
        v = {t: (1 + math.log(c)) * (math.log((1 + n) / (1 + df[t])) + 1) for t, c in d.items() if df[t] >= 2}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        vectors.append({t: x / norm for t, x in v.items()})
    return vectors


def _dot(a: Vector, b: Vector) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(x * b.get(t, 0.0) for t, x in a.items())


def _add(total: Vector, v: Vector, sign: float = 1.0) -> None:
    for t, x in v.items():
        total[t] = total.get(t, 0.0) + sign * x


# --- grouping -------------------------------------------------------------------------------


@dataclass
class _Group:
    topic: int | None  # index into topics; None for a data-driven group
    members: list[int] = field(default_factory=list)
    subtheme: bool = False  # split off its topic's group: labelled "Topic: distinctive words"


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
) -> Grouping:
    papers = list(papers)
    if not papers:
        return Grouping([], {})
    fields = [paper_fields(p) for p in papers]
    evidence = keyword_evidence(papers, topics, fields)
    fit = [[e / (e + EVIDENCE_HALF) for e in row] for row in evidence]
    vectors = text_vectors(papers)

    seeded: dict[int, _Group] = {}
    loose = []
    for i, row in enumerate(evidence):
        j = max(range(len(topics)), key=lambda j: row[j], default=None)
        if j is not None and row[j] >= MIN_EVIDENCE:
            seeded.setdefault(j, _Group(j)).members.append(i)
        else:
            loose.append(i)
    groups = list(seeded.values()) + [
        _Group(None, c) for c in _link(loose, vectors, MIN_LINK) if len(c) >= min_papers
    ]
    unplaced = _settle(groups, evidence, fit, vectors, len(papers), max_themes, min_papers)
    _split_oversized(groups, vectors, len(papers), max_themes, min_papers)

    taken: set[str] = set()
    named: list[tuple[_Group, str, str]] = []
    for g in sorted(groups, key=lambda g: g.subtheme):  # sub-themes last: they may give back papers
        members = [papers[i] for i in sorted(g.members)]
        if g.topic is not None and not g.subtheme:
            label, key = topics[g.topic].label, topics[g.topic].key
        else:
            # Distinctive against the whole issue, or for a sub-theme against its siblings.
            if g.subtheme:
                siblings = [i for h in groups if h.topic == g.topic for i in h.members]
                prefix = topics[g.topic].label + ": " if g.topic is not None else ""
            else:
                siblings, prefix = list(range(len(papers))), ""
            words = _distinct_label(members, [papers[i] for i in siblings])
            if not words or (prefix + words).lower() in taken:
                # Nothing distinctive to name it by: better no theme than "Group 3". A
                # sub-theme's papers go back to their theme, others to the catch-all.
                parent = next(
                    (h for h in groups if g.subtheme and h.topic == g.topic and not h.subtheme), None
                )
                (parent.members if parent else unplaced).extend(g.members)
                continue
            label = prefix + words
            key = "group:" + "-".join(label.lower().replace(":", "").split())
        taken.add(label.lower())
        named.append((g, label, key))
    themes = [
        Theme(label=label, key=key, papers=[papers[i] for i in sorted(g.members)]) for g, label, key in named
    ]
    themes.sort(key=lambda t: (-_strength(t.papers, papers), t.label))
    if unplaced:
        rest = [papers[i] for i in sorted(unplaced)]
        themes.append(Theme(label=MORE_LABEL, key=MORE_KEY, papers=rest))
    scores = {
        p.id: {t.key: round(fit[i][j], 4) for j, t in enumerate(topics) if fit[i][j] > 0}
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


def _settle(
    groups: list[_Group],
    evidence: list[list[float]],
    fit: list[list[float]],
    vectors: list[Vector],
    n: int,
    max_themes: int,
    min_papers: int,
) -> list[int]:
    """Move papers to their best group and dissolve weak groups until nothing changes.
    Returns the papers that fit no group."""
    unplaced: list[int] = []
    claim = [max(MIN_EVIDENCE, RELATIVE * max(row, default=0.0)) for row in evidence]
    self_sq = [_dot(v, v) for v in vectors]
    for _ in range(MAX_ROUNDS):
        dissolved = _dissolve_weakest(groups, fit, max_themes, min_papers)
        totals = []
        for g in groups:
            total: Vector = {}
            for i in g.members:
                _add(total, vectors[i])
            totals.append(total)
        sq_norms = [_dot(t, t) for t in totals]
        home = {i: k for k, g in enumerate(groups) for i in g.members}
        moved: list[list[int]] = [[] for _ in groups]
        unplaced = []
        for i in range(n):
            best, best_score = None, MIN_FIT
            for k, g in enumerate(groups):
                # Similarity to the group's other members: a paper must not vouch for itself.
                dot = _dot(vectors[i], totals[k])
                sq = sq_norms[k]
                if home.get(i) == k:
                    own = self_sq[i]  # 1, or 0 for a paper sharing no term with any other
                    dot, sq = dot - own, sq - 2 * dot + own
                similarity = dot / math.sqrt(sq) if sq > 1e-9 else 0.0
                named = g.topic is not None and evidence[i][g.topic] >= claim[i]
                if not named and similarity < (MIN_JOIN if g.topic is not None else MIN_LINK):
                    continue  # neither named by the theme's keywords nor like its papers
                keyword = fit[i][g.topic] if g.topic is not None else 0.0
                score = KEYWORD_WEIGHT * keyword + (1 - KEYWORD_WEIGHT) * similarity
                if score > best_score:
                    best, best_score = k, score
            if best is None:
                unplaced.append(i)
            else:
                moved[best].append(i)
        changed = any(g.members != m for g, m in zip(groups, moved, strict=True))
        for g, m in zip(groups, moved, strict=True):
            g.members = m
        if not changed and not dissolved:
            break
    groups[:] = [g for g in groups if g.members]
    while _dissolve_weakest(groups, fit, max_themes, min_papers, final=True):
        pass
    unplaced += [i for g in groups if len(g.members) < min_papers for i in g.members]
    groups[:] = [g for g in groups if len(g.members) >= min_papers]
    return unplaced


def _dissolve_weakest(
    groups: list[_Group], fit: list[list[float]], max_themes: int, min_papers: int, final: bool = False
) -> bool:
    """Drop the weakest group if one is too small or there are too many. Its papers find new
    homes in the next round (in the final pass, none is left: they go to the catch-all)."""

    def weight(g: _Group) -> tuple[int, float]:
        evidence = sum(fit[i][g.topic] for i in g.members) if g.topic is not None else 0.0
        return len(g.members), evidence

    live = [g for g in groups if g.members]
    too_small = [g for g in live if len(g.members) < min_papers]
    if too_small and not final:
        weakest = min(too_small, key=weight)
    elif len(live) > max_themes:
        weakest = min(live, key=weight)
    else:
        return False
    groups.remove(weakest)
    return True


def _link(indices: list[int], vectors: list[Vector], threshold: float) -> list[list[int]]:
    """Average-linkage clusters of `indices` whose members are on average `threshold` similar."""
    clusters = [[i] for i in indices]
    sims = {(a, b): _dot(vectors[a], vectors[b]) for a in indices for b in indices if a < b}

    def link(x: list[int], y: list[int]) -> float:
        return sum(sims[min(a, b), max(a, b)] for a in x for b in y) / (len(x) * len(y))

    while len(clusters) > 1:
        best, pair = threshold, None
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                s = link(clusters[a], clusters[b])
                if s >= best:
                    best, pair = s, (a, b)
        if pair is None:
            break
        a, b = pair
        clusters[a] = clusters[a] + clusters.pop(b)
    return clusters


def _strength(members: Iterable[Paper], everyone: list[Paper]) -> float:
    order = {id(p): i for i, p in enumerate(everyone)}
    return sum(1 / math.sqrt(p.position or order[id(p)] + 1) for p in members)


def _distinct_label(members: list[Paper], among: list[Paper]) -> str | None:
    """The words that set `members` apart from the other papers `among` (which include them),
    as a label ("Masked language modeling", "Federated learning and client drift"), or None.

    Candidates are runs of up to three content words in titles and the source's keywords (what
    a paper says it is about), used by two members at least. A run scores by the share of
    members using it minus the share of the other papers using it anywhere, longer runs a
    little more; a second run joins the first when it scores at least half as well."""
    inside: Counter[str] = Counter()
    written: dict[str, Counter[str]] = {}
    for p in members:
        found = headline_terms(f"{p.title} ; {' ; '.join(p.keywords)}")
        inside.update(found.keys())
        for term, surface in found.items():
            written.setdefault(term, Counter())[_shown(surface)] += 1
    member_ids = {id(p) for p in members}
    others = [p for p in among if id(p) not in member_ids]
    outside: Counter[str] = Counter()
    for p in others:
        outside.update(headline_terms(f"{p.title} ; {' ; '.join(p.keywords)} ; {p.abstract}").keys())

    def score(term: str) -> float:
        contrast = inside[term] / len(members) - outside[term] / max(1, len(others))
        return contrast * (1 + 0.25 * term.count(" "))

    ranked = sorted((t for t, n in inside.items() if n >= 2 and score(t) > 0), key=lambda t: (-score(t), t))
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
        # "masked language" is cut short when most papers go on "masked language modeling".
        longer = [t for t in inside if t.startswith(term + " ") and t.count(" ") == term.count(" ") + 1]
        best = max(longer, key=lambda t: (inside[t], t), default=None)
        return best if best and inside[best] * 2 >= inside[term] else term

    shown: list[str] = []
    for term in map(completed, chosen):
        # Completing one may have taken the other's words: "test generation" and "generation".
        if not any(set(term.split()) & set(s.split()) for s in shown):
            shown.append(term)
    label = " and ".join(written[t].most_common(1)[0][0] for t in shown)
    return label[0].upper() + label[1:]


def _shown(surface: str) -> str:
    """A term as a label shows it: acronyms kept ("LLMs"), other words lower-cased."""
    return " ".join(w if sum(c.isupper() for c in w) >= 2 else w.lower() for w in surface.split())


def _split_oversized(
    groups: list[_Group], vectors: list[Vector], n: int, max_themes: int, min_papers: int
) -> None:
    """Split a theme that holds too much of the issue into sub-themes of papers that read alike,
    as long as the issue stays within `max_themes`; the rest keep the theme's own name."""
    limit = max(SPLIT_MIN, n * MAX_SHARE)
    for g in sorted(groups, key=lambda g: -len(g.members)):
        room = max_themes - len(groups)
        if len(g.members) <= limit or room < 1 or g.subtheme:
            continue
        parts = sorted(
            (c for c in _link(g.members, vectors, MIN_LINK) if len(c) >= min_papers), key=len, reverse=True
        )
        parts = parts[:room]
        rest = len(g.members) - sum(len(c) for c in parts)
        if rest < min_papers:  # the theme keeps its name for its largest part
            parts = parts[1:]
        if not parts:
            continue
        split = {i for c in parts for i in c}
        g.members = [i for i in g.members if i not in split]
        groups.extend(_Group(g.topic, sorted(c), subtheme=True) for c in parts)
