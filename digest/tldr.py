"""A card's TL;DR when the source gives no summary: the abstract's sentence that says what the
paper does, not its opening (which is usually background: "Large language models have
achieved remarkable progress...").

Each sentence is scored by cue phrases: "we propose / introduce / present ...", "this paper",
"our method", the name the title gives the method ("DreamX: ..." -> "DreamX"), against
background cues ("have achieved", "remarkable", "in recent years", a "However," opener,
"remains a challenge"). The best one wins, the earlier on a tie; with no cue at all, the
first sentence that is not background. `eval/tldr.py` measures how often the pick is the
sentence closest to Hugging Face's own summary, beside the first sentence.

Pure and cheap: only the first SCAN_CHARS of the abstract are cleaned and read (abstracts run
to 10,000 characters; the contribution is nearly always stated within the first few
sentences).
"""

from __future__ import annotations

import re

from .clean import display

TLDR_CHARS = 300
SCAN_CHARS = 2500

# A sentence ends at . ! or ? before a capital or digit, but not after e.g., i.e., et al., vs.
SENTENCE_END = re.compile(r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bal\.)(?<!\bvs\.)(?<=[.!?])\s+(?=[A-Z0-9])")

_VERBS = (
    r"propose[sd]?|introduce[sd]?|present(?:s|ed)?|develop(?:s|ed)?|design(?:s|ed)?|build|built"
    r"|construct(?:s|ed)?|release[sd]?|formulate[sd]?|describe[sd]?|study|investigate[sd]?"
    r"|report|offer"
)
# (pattern, weight): what the paper does scores high, what it found a little lower.
_CONTRIBUTION = [
    (rf"\bwe\s+(?:\w+ly\s+|also\s+|then\s+|first\s+|further\s+)?(?:{_VERBS})\b", 3.0),
    (r"\b(?:this|the present|our)\s+(?:paper|work|study|article|report)\b", 2.5),
    (r"\b(?:in this|here,?)\s+(?:paper|work|study)?,?\s*we\b", 2.5),
    (r"\bour\s+(?:method|approach|framework|model|system|technique|algorithm)\b", 1.5),
    (r"\bwe\s+(?:\w+ly\s+)?(?:show|find|demonstrate|prove|establish)\b", 1.5),
    (r"\b(?:to address|to tackle|to bridge|to overcome|to this end|addresses)\b", 1.0),
    (r"\b(?:a|an)\s+(?:novel|new|simple|unified|general)\b", 0.5),
]
_BACKGROUND = [
    (r"\b(?:have|has)\s+(?:achieved|attracted|gained|shown|demonstrated|emerged|become)\b", 2.0),
    (r"\b(?:remarkable|impressive|tremendous|unprecedented)\b", 1.5),
    (r"\b(?:in\s+)?recent\s+(?:years|advances|progress|works?|studies)\b", 1.5),
    (r"\b(?:remains?|is|are)\s+(?:a\s+)?(?:challenging|challenge|open|unclear|difficult)\b", 1.5),
    (r"^(?:however|despite|although|while|yet|but|unfortunately|nevertheless)\b", 2.0),
    (r"\b(?:existing|prior|previous|current|conventional)\s+(?:methods|approaches|works?|models)\b", 1.0),
    (r"\b(?:increasingly|growing|widely)\b", 0.5),
]
_CUES = [(re.compile(pattern, re.I), w) for pattern, w in _CONTRIBUTION] + [
    (re.compile(pattern, re.I), -w) for pattern, w in _BACKGROUND
]
_NAME = re.compile(r"^\s*([A-Z][\w.+-]*(?:[ -][A-Z0-9][\w.+-]*){0,2})\s*:")  # "DreamX-Phi 1.0: ..."
_NAME_WEIGHT = 2.0
_POSITION_STEP = 0.1  # a later sentence needs a slightly better score to win


def sentences(text: str) -> list[str]:
    return [s for s in SENTENCE_END.split(text) if s]


def method_name(title: str) -> str | None:
    """The name a title gives its method before a colon, if any ("Evoke: Interactive ...")."""
    m = _NAME.match(title)
    return m.group(1) if m and len(m.group(1)) >= 3 else None


def score(sentence: str, name: str | None = None) -> float:
    s = sum(w for pattern, w in _CUES if pattern.search(sentence))
    if name and name in sentence:
        s += _NAME_WEIGHT
    return s


def best(candidates: list[str], title: str = "") -> int:
    """The index of the sentence that says what the paper does."""
    if not candidates:
        return 0
    name = method_name(title)
    scored = [score(s, name) - i * _POSITION_STEP for i, s in enumerate(candidates)]
    top = max(range(len(candidates)), key=lambda i: (scored[i], -i))
    if scored[top] + top * _POSITION_STEP > 0:
        return top
    # No cue says "this is what we did": the first sentence that is not background.
    return next((i for i, s in enumerate(candidates) if score(s) >= 0), 0)


def pick(title: str, abstract: str, limit: int = TLDR_CHARS) -> str:
    """The abstract's contribution sentence (with the next one if it is short), cleaned and cut
    at `limit` characters."""
    candidates = sentences(display(abstract[:SCAN_CHARS]))
    if not candidates:
        return ""
    return _from(candidates, best(candidates, title), limit)


def opening(text: str, limit: int = TLDR_CHARS) -> str:
    """The first sentence of `text` (two if the first is short), cleaned and cut: how a
    source's own summary is shown."""
    candidates = sentences(display(text[: limit * 4]))
    if not candidates:
        return ""
    return _from(candidates, 0, limit)


def _from(candidates: list[str], i: int, limit: int) -> str:
    """Sentence `i`, with the next one when it is short and both fit, cut at `limit`."""
    out = candidates[i]
    if i + 1 < len(candidates) and len(out) < limit // 2 and len(out) + 1 + len(candidates[i + 1]) <= limit:
        out = f"{out} {candidates[i + 1]}"
    return cut(out, limit)


def cut(text: str, limit: int = TLDR_CHARS) -> str:
    """`text` if it fits in `limit` characters, else cut on a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
