"""Text from feeds, cleaned for display: whitespace, HTML entities and tags, markdown
emphasis, simple LaTeX. The raw text stays in the Paper; this is what a reader sees."""

from __future__ import annotations

import html
import re

_TAG = re.compile(r"<[^<>]{0,500}>")
_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")
_LATEX_WRAP = re.compile(
    r"\\(?:textbf|textit|emph|mathrm|mathbf|mathit|text|texttt|mathcal|operatorname)\{([^{}]*)\}"
)
_LATEX_SYMBOLS = {
    r"\alpha": "α",
    r"\beta": "β",
    r"\gamma": "γ",
    r"\delta": "δ",
    r"\epsilon": "ε",
    r"\lambda": "λ",
    r"\mu": "μ",
    r"\pi": "π",
    r"\sigma": "σ",
    r"\tau": "τ",
    r"\theta": "θ",
    r"\times": "×",
    r"\approx": "≈",
    r"\sim": "~",
    r"\leq": "≤",
    r"\geq": "≥",
    r"\le": "≤",
    r"\ge": "≥",
    r"\pm": "±",
    r"\infty": "∞",
    r"\rightarrow": "→",
    r"\to": "→",
    r"\cdot": "·",
    r"\%": "%",
    r"\&": "&",
    r"\_": "_",
    r"\#": "#",
    r"\$": "$",
}
_LATEX_SYMBOL = re.compile(
    "|".join(re.escape(k) + r"(?![a-zA-Z])" for k in sorted(_LATEX_SYMBOLS, key=len, reverse=True))
)
_MATH = re.compile(r"\$([^$]{1,200})\$")


def display(text: str, *, strip_tags: bool = True) -> str:
    """One line of readable text: no markup, no entities, no stray LaTeX.

    Titles keep angle brackets (`strip_tags=False`): a title that says `<script>` is shown
    as exactly that, escaped by the template, rather than silently rewritten."""
    text = html.unescape(text)
    if strip_tags:
        text = _TAG.sub(" ", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = _MATH.sub(r"\1", text)
    for _ in range(3):  # nested wrappers like \textbf{\emph{x}}
        text = _LATEX_WRAP.sub(r"\1", text)
    text = _LATEX_SYMBOL.sub(lambda m: _LATEX_SYMBOLS[m.group(0)], text)
    text = re.sub(r"(?<=\S)~(?=\S)", " ", text)  # LaTeX non-breaking space
    text = re.sub(r"\^\{([^{}]*)\}|_\{([^{}]*)\}", lambda m: m.group(1) or m.group(2) or "", text)
    return " ".join(text.split())
