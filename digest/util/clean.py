"""Text from feeds, cleaned for display: whitespace, HTML entities and tags, markdown
emphasis, simple LaTeX, double-encoded UTF-8. A Paper keeps the text its source gave (LaTeX
and all, so nothing is lost and ranking can still see it); `display` is what a reader sees.

`html_to_text` is the one step applied at fetch time: a feed field declared as HTML becomes
plain text (tags out, entities decoded, paragraphs kept as line breaks), because every other
source gives plain text and the ranker should not score `<img src=...>` as words.
"""

from __future__ import annotations

import html
import re
import unicodedata

from ..models import safe_text

# Only what looks like a tag: `x < y and z > w` in an abstract is maths, not markup.
_TAG = re.compile(r"<(?:/?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]{0,500})?/?|!--[\s\S]{0,2000}?--)>")
_BLOCK_END = re.compile(r"<(?:br\s*/?|/(?:p|div|li|h[1-6]|tr|blockquote))\s*>", re.IGNORECASE)
_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")
_LATEX_WRAP = re.compile(
    r"\\(?:textbf|textit|textsc|textrm|textsf|texttt|textnormal|emph|underline|mathrm|mathbf|mathit"
    r"|mathsf|mathtt|mathbb|mathcal|mathfrak|boldsymbol|operatorname|text|mbox)\s*\{([^{}]*)\}"
)
_LATEX_GROUP_FONT = re.compile(r"\{\\(?:em|bf|it|sc|rm|tt|sf)\s+([^{}]*)\}")
_LATEX_HREF = re.compile(r"\\href\{[^{}]*\}\{([^{}]*)\}")
_LATEX_URL = re.compile(r"\\url\{([^{}]*)\}")
_LATEX_CITE = re.compile(r"~?\\(?:cite|citep|citet|ref|eqref|label)\{[^{}]*\}")
_ACCENTS = {
    '"': "\u0308",
    "'": "\u0301",
    "`": "\u0300",
    "^": "\u0302",
    "~": "\u0303",
    "=": "\u0304",
    ".": "\u0307",
    "u": "\u0306",
    "v": "\u030c",
    "H": "\u030b",
    "c": "\u0327",
    "k": "\u0328",
}
# \"o, \"{o}, {\"o}, \c{c}, \v{s}: a base letter and a combining mark, composed below.
_ACCENT_KIND = r"[\"'`^~=.]|[uvHck](?=\s*\{)|[uvHck](?=\s)"
_ACCENT_GROUPED = re.compile(r"\{\\(" + _ACCENT_KIND + r")\s*\{?([A-Za-z]|\\i)\}?\}")
_ACCENT = re.compile(r"\\(" + _ACCENT_KIND + r")\s*(?:\{([A-Za-z]|\\i)\}|([A-Za-z]|\\i))")
_LATEX_SYMBOLS = {
    r"\alpha": "α",
    r"\beta": "β",
    r"\gamma": "γ",
    r"\Gamma": "Γ",
    r"\delta": "δ",
    r"\Delta": "Δ",
    r"\epsilon": "ε",
    r"\varepsilon": "ε",
    r"\zeta": "ζ",
    r"\eta": "η",
    r"\theta": "θ",
    r"\Theta": "Θ",
    r"\kappa": "κ",
    r"\lambda": "λ",
    r"\Lambda": "Λ",
    r"\mu": "μ",
    r"\nu": "ν",
    r"\xi": "ξ",
    r"\pi": "π",
    r"\Pi": "Π",
    r"\rho": "ρ",
    r"\sigma": "σ",
    r"\Sigma": "Σ",
    r"\tau": "τ",
    r"\phi": "φ",
    r"\varphi": "φ",
    r"\Phi": "Φ",
    r"\chi": "χ",
    r"\psi": "ψ",
    r"\Psi": "Ψ",
    r"\omega": "ω",
    r"\Omega": "Ω",
    r"\ell": "ℓ",
    r"\times": "×",
    r"\approx": "≈",
    r"\sim": "~",
    r"\simeq": "≃",
    r"\neq": "≠",
    r"\leq": "≤",
    r"\geq": "≥",
    r"\le": "≤",
    r"\ge": "≥",
    r"\ll": "≪",
    r"\gg": "≫",
    r"\pm": "±",
    r"\infty": "∞",
    r"\rightarrow": "→",
    r"\leftarrow": "←",
    r"\Rightarrow": "⇒",
    r"\to": "→",
    r"\cdot": "·",
    r"\circ": "∘",
    r"\in": "∈",
    r"\sqrt": "√",
    r"\sum": "∑",
    r"\log": "log",
    r"\ldots": "…",
    r"\dots": "…",
    r"\cdots": "⋯",
    r"\i": "ı",
    r"\ss": "ß",
    r"\o": "ø",
    r"\O": "Ø",
    r"\ae": "æ",
    r"\aa": "å",
    r"\l": "ł",
    r"\%": "%",
    r"\&": "&",
    r"\_": "_",
    r"\#": "#",
    r"\$": "$",
    r"\{": "{",
    r"\}": "}",
    r"\,": " ",
    r"\;": " ",
    r"\ ": " ",
    r"\\": " ",
}
_LATEX_SYMBOL = re.compile(
    "|".join(
        re.escape(k) + (r"(?![a-zA-Z])" if k[-1].isalpha() else "")
        for k in sorted(_LATEX_SYMBOLS, key=len, reverse=True)
    )
)
_MATH = re.compile(r"(?<!\\)\$([^$]{1,200})(?<!\\)\$")
_SUPERSCRIPT = str.maketrans("0123456789+-=()n", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿ")
_SUBSCRIPT = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")
_SCRIPT = re.compile(r"([\^_])(?:\{([^{}]{1,12})\}|([0-9n]))")
_BRACED_SCRIPT = re.compile(r"([\^_])\{([^{}]{1,12})\}()")
# UTF-8 read as Latin-1 somewhere upstream ("WÃ¼bben" for "Wübben"), as in some arXiv records.
_MOJIBAKE = re.compile(r"[\u00c2-\u00f4][\u0080-\u00bf]")


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 bytes that were decoded as Latin-1, when that is surely what happened."""
    if not _MOJIBAKE.search(text):
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def html_to_text(value: str) -> str:
    """An HTML fragment as plain text: paragraphs become line breaks, tags go, entities decode."""
    text = _BLOCK_END.sub("\n", value)
    text = _TAG.sub("", text)
    text = html.unescape(text)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _script(match: re.Match[str]) -> str:
    body = match.group(2) if match.group(2) is not None else match.group(3)
    table = _SUPERSCRIPT if match.group(1) == "^" else _SUBSCRIPT
    if all(ord(c) in table for c in body):
        return body.translate(table)
    return match.group(1) + body  # letters have no reliable Unicode form: keep x^k, drop braces


def _accent(match: re.Match[str]) -> str:
    letter = next(g for g in match.groups()[1:] if g is not None)
    base = "i" if letter == "\\i" else letter
    return unicodedata.normalize("NFC", base + _ACCENTS[match.group(1)])


def _math(match: re.Match[str]) -> str:
    return _SCRIPT.sub(_script, match.group(1))


def latex_to_text(text: str) -> str:
    """Simple LaTeX as Unicode: font commands, accents, symbols, sub/superscripts, $...$."""
    text = _LATEX_CITE.sub("", text)
    text = _LATEX_HREF.sub(r"\1", text)
    text = _LATEX_URL.sub(r"\1", text)
    text = _ACCENT_GROUPED.sub(_accent, text)
    text = _ACCENT.sub(_accent, text)
    text = _MATH.sub(_math, text)  # x_1 is a subscript in maths, a name elsewhere
    for _ in range(3):  # nested wrappers like \textbf{\emph{x}}
        text = _LATEX_WRAP.sub(r"\1", text)
        text = _LATEX_GROUP_FONT.sub(r"\1", text)
    text = _BRACED_SCRIPT.sub(_script, text)
    text = _LATEX_SYMBOL.sub(lambda m: _LATEX_SYMBOLS[m.group(0)], text)
    text = text.replace("---", "—").replace("--", "–").replace("``", "“").replace("''", "”")
    return re.sub(r"(?<=\S)~(?=\S)", " ", text)  # LaTeX non-breaking space


def display(text: str, *, strip_tags: bool = True) -> str:
    """One line of readable text: no markup, no entities, no stray LaTeX.

    Titles keep angle brackets (`strip_tags=False`): a title that says `<script>` is shown
    as exactly that, escaped by the template, rather than silently rewritten."""
    text = repair_mojibake(html.unescape(text))
    if strip_tags:
        text = _TAG.sub(" ", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = latex_to_text(text)
    # Entities are decoded here, after the intake: `&#x202e;` is a bidi override by now.
    return " ".join(safe_text(text).split())
