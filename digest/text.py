"""Words for matching: lower-case, split on word boundaries, plurals folded.

Shared by ranking and theming so that "tokenizers" in a reader's keywords matches
"tokenizer" in a title, and "rag" never matches inside "fragment".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
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
    "class",
    "process",
    "loss",
    "less",
    "this",
    "its",
    "has",
    "was",
    "is",
    "us",
    "as",
    "gpus",
    "llms",
}


def fold(word: str) -> str:
    """A crude stemmer for English plurals; enough for matching keywords, not for linguistics."""
    if len(word) <= 3 or word in _KEEP_S or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s"):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """Folded words of `text`; hyphenated words count whole and by their parts."""
    out: list[str] = []
    for token in _WORD.findall(text.lower()):
        if "-" in token:
            out.append(fold(token.replace("-", "")))
            out.extend(fold(part) for part in token.split("-") if part)
        else:
            out.append(fold(token.replace("'", "")))
    return out


def phrase(text: str) -> tuple[str, ...]:
    """A keyword or phrase as a tuple of folded words ("Vision Transformers" -> vision transformer)."""
    return tuple(fold(t) for t in _WORD.findall(text.lower().replace("-", " ")))


def count_phrase(tokens: list[str], target: tuple[str, ...]) -> int:
    """How many times `target` occurs as consecutive words in `tokens`."""
    if not target:
        return 0
    if len(target) == 1:
        return tokens.count(target[0])
    n = len(target)
    first = target[0]
    return sum(1 for i, tok in enumerate(tokens) if tok == first and tuple(tokens[i : i + n]) == target)


def phrases(values: Iterable[str]) -> list[tuple[str, ...]]:
    return [p for p in (phrase(v) for v in values) if p]
