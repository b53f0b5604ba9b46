"""A card's TL;DR when the source gives no summary: the abstract's sentence that says what the
paper does, not its opening (which is usually background: "Large language models have
achieved remarkable progress...").

Each sentence is scored by cue phrases: "we propose / introduce / present ...", "this paper",
"our method", the name the title gives the method ("DreamX: ..." -> "DreamX"), against
background cues ("have achieved", "remarkable", "in recent years", a "However," opener,
"remains a challenge"). The best one wins, the earlier on a tie; with no cue at all, the
first sentence that is not background. An opener that leans on the sentence before ("Hence,",
"To bridge this gap,") is dropped, so the sentence stands alone. `eval/tldr.py` measures how
often the pick is the sentence closest to Hugging Face's own summary, beside the first sentence.

Pure and cheap: only the first SCAN_CHARS of the abstract are cleaned and read (abstracts run
to 10,000 characters; the contribution is nearly always stated within the first few
sentences).
"""

from __future__ import annotations

import re

from ..util.clean import display

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


# Openers that lean on the sentence before, which a TL;DR does not show: a connective
# ("Hence," "To this end,") or an introductory phrase pointing back ("Building upon this
# premise," "To bridge this gap," "Motivated by these findings,"). The phrase is one that
# starts with a preposition, "to" or a participle (not a clause of its own, such as "This is
# hard,") and names what it points back to with this/these/that/those/such/it/them.
_CONNECTIVE = re.compile(
    r"^(?:hence|thus|therefore|consequently|accordingly|moreover|furthermore|additionally|besides"
    r"|also|then|finally|however|nevertheless|nonetheless|instead|meanwhile|subsequently"
    r"|specifically|notably|importantly|crucially|in addition|in particular|as a result|as such"
    r"|on the other hand|in contrast|by contrast|to this end|to that end|for this reason"
    r"|for this purpose|in response|in turn|in doing so|by doing so|in light of this|with this in mind"
    r"|building on this|on this basis|on top of this|beyond this|to do so|to that effect)\b,?\s+",
    re.I,
)
_POINTS_BACK = re.compile(
    r"^(?P<phrase>(?:to|in|for|with|given|on|upon|from|against|under|by|as|toward|towards|after"
    r"|following|through|within|along|at|\w+ing|\w+ed)\b[^,;:.]{0,80}?"
    r"\b(?:this|these|that|those|such|it|them)\b[^,;:.]{0,40}),\s+"
    r"(?=(?:we|our|in this|here|the|a|an|this|these|it|[A-Z])\b|[A-Z])",
    re.I,
)
_SELF_CONTAINED = re.compile(
    r"^(?:in|within|throughout)\s+this\s+(?:paper|work|study|article|letter|report|survey|thesis|chapter)$",
    re.I,
)
_OPENER_WORDS = 10


def standalone(sentence: str) -> str:
    """`sentence` without the openers that point at the sentence before it, capitalised:
    "Building upon this premise, we introduce X" -> "We introduce X"."""
    out = sentence
    for _ in range(3):  # "Moreover, to address this, we ..."
        m = _CONNECTIVE.match(out)
        if m is None:
            m = _POINTS_BACK.match(out)
            if m is None or _SELF_CONTAINED.match(m["phrase"]) or len(m["phrase"].split()) > _OPENER_WORDS:
                break
        out = out[m.end() :]
    if out is sentence or not out:
        return sentence
    first = out.split(" ", 1)[0]
    return out[0].upper() + out[1:] if first.isalpha() and first.islower() else out


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
    i = best(candidates, title)
    candidates[i] = standalone(candidates[i])
    return _from(candidates, i, limit)


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
