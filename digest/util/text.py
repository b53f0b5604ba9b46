"""Words for matching: lower-case, split on word boundaries, plurals folded.

Shared by ranking and theming so that "tokenizers" in a reader's keywords matches
"tokenizer" in a title, and "rag" never matches inside "fragment". Two views of a text:

- `Fields`: every word in order, for exact phrase matching ("language model" as two
  consecutive words). It counts every run of up to `MAX_PHRASE` words once, so a phrase
  lookup (a keyword as `phrase` folds it) is a dictionary lookup.
- `terms`: content words and adjacent pairs of them, stop words dropped, for comparing
  papers with each other (themes).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_WORD_CASED = re.compile(r"[A-Za-z0-9]+(?:[-'][A-Za-z0-9]+)*")
# Words where stripping a final "s" would damage the word.
_KEEP_S = {
    "bias",
    "analysis",
    "basis",
    "lens",
    "gas",
    "news",
    "series",
    "species",
    "this",
    "its",
    "has",
    "was",
}
# Plurals in -es after a sibilant: "approaches" -> "approach", "boxes" -> "box".
_SIBILANT_ES = ("ches", "shes", "sses", "xes", "zes")
MAX_PHRASE = 4

# Function words and the boilerplate of abstracts: they say nothing about what a paper is about.
STOPWORDS = frozenset(
    """
    a about above across after again against all almost along also although am among an and
    another any are around as at be because been before being below between both but by can
    cannot could did do doe does doing done down during each either else enough even ever every
    few for from further had has have having he her here hers him his how however i if in into
    is it its itself just least less let like made make makes making many may me might more
    most much must my neither no nor not now of off often on once one only onto or other others
    our ours out over own per rather same several shall she should since so some such than that
    the their them themselves then there these they this those though through thus to too
    toward towards under until up upon us very via was we well were what when where whether
    which while who whom whose why will with within without would yet you your
    paper propose proposed present presented introduce introduced show shows shown demonstrate
    demonstrated approach method novel new based use used using result study work
    task achieve achieved achieving existing recent recently significant significantly
    effective effectively outperform outperforming outperforms stateoftheart art various
    different key first two three however furthermore moreover specifically particular
    particularly including include includes provide provides enable enables allow allows
    across large small high low better best improve improved improves improvement
    performance extensive experiment evaluate evaluation problem challenge challenging
    framework code available release released github http https com www org
    """.split()
)


@lru_cache(maxsize=1 << 16)  # a day's papers repeat their words: most calls are lookups
def fold(word: str) -> str:
    """A crude stemmer for English plurals; enough for matching keywords, not for linguistics."""
    if len(word) <= 3 or word in _KEEP_S or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(_SIBILANT_ES):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def phrase(text: str) -> tuple[str, ...]:
    """A keyword or phrase as a tuple of folded words ("Vision Transformers" -> vision transformer)."""
    return tuple(fold(t) for t in _WORD.findall(text.lower().replace("-", " ").replace("'", "")))


def phrases(values: Iterable[str]) -> list[tuple[str, ...]]:
    return [p for p in (phrase(v) for v in values) if p]


def count_phrase(tokens: list[str], target: tuple[str, ...]) -> int:
    """How many times `target` occurs as consecutive words in `tokens`."""
    if not target:
        return 0
    if len(target) == 1:
        return tokens.count(target[0])
    n = len(target)
    first = target[0]
    return sum(1 for i, tok in enumerate(tokens) if tok == first and tuple(tokens[i : i + n]) == target)


def _content(word: str) -> bool:
    return len(word) > 1 and word not in STOPWORDS and not word.isdigit()


def _content_runs(text: str, longest: int) -> Iterator[tuple[str, str]]:
    """Runs of 1 to `longest` consecutive content words ending at each word of `text`, as
    (folded, as written). A stop word breaks a run; a hyphenated word counts whole."""
    run: list[tuple[str, str]] = []
    for match in _WORD_CASED.finditer(text):
        token = match.group()
        word = fold(token.lower().replace("-", "").replace("'", ""))
        if not _content(word):
            run = []
            continue
        run = [*run[len(run) - longest + 1 :], (word, token)]
        for start in range(len(run) - 1, -1, -1):
            part = run[start:]
            yield " ".join(w for w, _ in part), " ".join(t for _, t in part)


def terms(text: str) -> list[str]:
    """Content words of `text` and each adjacent pair of them ("diffusion", "diffusion model"),
    for comparing papers; "pre-training" is one term, not three."""
    return [term for term, _ in _content_runs(text, 2)]


def headline_terms(text: str, longest: int = 3) -> dict[str, str]:
    """Runs of 1 to `longest` content words in `text`, folded, each with its first written
    form: candidates for a label ("masked language modeling"), which a pair may cut short."""
    out: dict[str, str] = {}
    for term, written in _content_runs(text, longest):
        out.setdefault(term, written)
    return out


def bm25_idf(df: int, n: int) -> float:
    """How much finding a term says about a paper, given `df` of `n` papers have it (BM25's
    idf, never negative): near 0 for a term every paper has."""
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


@dataclass(frozen=True)
class Fields:
    """A paper's text for phrase lookups: every run of up to MAX_PHRASE words with its count,
    each field's occurrences weighted (a word in the title says more than one in the abstract).

    Hyphens are spelling, not meaning: "pre-training", "pre training" and "pretraining" all
    match both the keyword "pre-training" and the keyword "pretraining", each once."""

    counts: Mapping[tuple[str, ...], float]
    solid: Mapping[str, float]  # words written without a hyphen
    length: float  # weighted number of words
    tokens: tuple[tuple[tuple[str, ...], float], ...] = ()  # (words, weight) per field, for long phrases

    @classmethod
    def of(cls, texts: Mapping[str, str], weights: Mapping[str, float]) -> Fields:
        counts: defaultdict[tuple[str, ...], float] = defaultdict(float)
        solid: defaultdict[str, float] = defaultdict(float)
        length = 0.0
        kept = []
        for name, text in texts.items():
            weight = weights[name]
            tokens = []
            for token in _WORD.findall(text.lower()):
                parts = [fold(p) for p in token.replace("'", "").split("-") if p]
                if len(parts) > 1:
                    counts[(fold(token.replace("-", "").replace("'", "")),)] += weight
                elif parts:
                    solid[parts[0]] += weight
                tokens.extend(parts)
            kept.append((tuple(tokens), weight))
            length += weight * len(tokens)
            for n in range(1, MAX_PHRASE + 1):
                for i in range(len(tokens) - n + 1):
                    counts[tuple(tokens[i : i + n])] += weight
        return cls(counts=dict(counts), solid=dict(solid), length=length, tokens=tuple(kept))

    def count(self, target: tuple[str, ...]) -> float:
        if len(target) == 1:
            return self.counts.get(target, 0.0)
        written_solid = self.solid.get("".join(target), 0.0)
        if len(target) <= MAX_PHRASE:
            return self.counts.get(target, 0.0) + written_solid
        return written_solid + sum(
            weight * count_phrase(list(tokens), target) for tokens, weight in self.tokens
        )


def same_words(values: Iterable[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """`values` without spelling variants of one another ("pre-training" and "pretraining"):
    `Fields.count` already finds every spelling, so a variant would count a mention twice."""
    seen: dict[str, tuple[str, ...]] = {}
    for value in values:
        key = "".join(value)
        if key not in seen or len(value) > len(seen[key]):
            seen[key] = value
    return list(seen.values())
