"""Group an issue's papers into a few labelled themes a reader can scan.

Pure: papers and a taxonomy in, themes out. Computed once per issue, shared by every reader.

A paper scores against a theme by the theme's keywords found in it (title counts most,
then the source's keywords, then the abstract), each weighted by how rare the keyword is
among today's papers: on a day when every paper says "pre-training", that word sorts nothing.
Themes too small to stand alone give their papers to the next best theme.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import DigestError
from .models import Paper, Theme
from .text import count_phrase, phrases, words

MORE_LABEL = "More trending papers"
MORE_KEY = "more"
# Where a keyword is found counts differently: a title is what the paper is about.
FIELD_WEIGHTS = {"title": 3.0, "keywords": 2.0, "abstract": 1.0}
MIN_SCORE = 1.0


@dataclass(frozen=True)
class Topic:
    key: str
    label: str
    description: str
    keywords: tuple[tuple[str, ...], ...]


def load_taxonomy(path: Path | None = None) -> list[Topic]:
    """The built-in taxonomy, or the YAML file at `path` (same shape: `themes:` list)."""
    if path is None:
        text = resources.files("digest").joinpath("taxonomy.yaml").read_text(encoding="utf-8")
        where = "digest/taxonomy.yaml"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DigestError(f"{path}: cannot read taxonomy: {exc.strerror or exc}") from None
        where = str(path)
    data: Any = yaml.safe_load(text)
    topics = []
    for index, item in enumerate((data or {}).get("themes") or []):
        try:
            topics.append(
                Topic(
                    key=str(item["key"]),
                    label=str(item["label"]),
                    description=str(item.get("description", "")),
                    keywords=tuple(phrases(item["keywords"])),
                )
            )
        except (KeyError, TypeError) as exc:
            raise DigestError(f"{where}: theme {index + 1}: needs key, label and keywords ({exc})") from None
    if not topics:
        raise DigestError(f"{where}: no themes defined under 'themes:'")
    return topics


def _fields(paper: Paper) -> dict[str, list[str]]:
    return {
        "title": words(paper.title),
        "keywords": words(" ; ".join(paper.keywords)),
        "abstract": words(paper.abstract),
    }


def score_matrix(papers: list[Paper], topics: list[Topic]) -> list[list[float]]:
    """scores[i][j]: how well paper i fits topic j."""
    texts = [_fields(p) for p in papers]
    all_keywords = {kw for t in topics for kw in t.keywords}
    found = {
        kw: [sum(FIELD_WEIGHTS[f] * count_phrase(toks, kw) for f, toks in fields.items()) for fields in texts]
        for kw in all_keywords
    }
    n = len(papers)
    idf = {kw: math.log(1 + n / (1 + sum(1 for c in counts if c))) for kw, counts in found.items()}
    return [
        [sum(math.log1p(found[kw][i]) * idf[kw] for kw in topic.keywords) for topic in topics]
        for i in range(n)
    ]


def group(papers: list[Paper], topics: list[Topic], *, min_size: int = 2) -> list[Theme]:
    """Themes ordered by strength (more papers first, then the best-listed paper)."""
    if not papers:
        return []
    scores = score_matrix(papers, topics)
    live = set(range(len(topics)))

    def best(i: int) -> int | None:
        ranked = sorted(live, key=lambda j: (-scores[i][j], j))
        return ranked[0] if ranked and scores[i][ranked[0]] >= MIN_SCORE else None

    # Dissolve the smallest undersized theme until every theme stands on its own.
    while True:
        members: dict[int, list[int]] = {}
        for i in range(len(papers)):
            j = best(i)
            if j is not None:
                members.setdefault(j, []).append(i)
        live &= set(members)
        small = [j for j in live if len(members[j]) < min_size]
        if not small:
            break
        live.discard(min(small, key=lambda j: (len(members[j]), -j)))

    assigned = {i for ms in members.values() for i in ms}
    themes = [
        Theme(label=topics[j].label, key=topics[j].key, papers=[papers[i] for i in members[j]]) for j in live
    ]
    themes.sort(key=lambda t: (-len(t.papers), min(_position(p) for p in t.papers)))
    rest = [p for i, p in enumerate(papers) if i not in assigned]
    if rest:
        themes.append(Theme(label=MORE_LABEL, key=MORE_KEY, papers=rest))
    return themes


def _position(paper: Paper) -> int:
    return paper.position if paper.position is not None else 10**6
