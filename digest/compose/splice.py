"""One rendered body for every reader whose email differs from theirs only in their own
strings: their address and the tokens in their links. Pure: strings in, strings out.

A body is rendered once for a stand-in reader whose strings are runs of one private-use
character each, as long as the reader's own (so text wrapping, the clip guard's sizes and
`link_line`'s choices come out the same), then cut at those runs. Each reader's email is
the pieces joined with their strings: a join, not a template render. The caller checks that
a reader's strings have the stand-ins' lengths, and that the stand-in body matches one made
from other stand-ins (a template that transforms the address, `| upper`, would not).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

FIRST = 0xE000  # Unicode's private use area: no text of ours has it (`clear` checks)
LAST = 0xF8FF
_PRIVATE = re.compile("[\ue000-\uf8ff]")
_RUN = re.compile(r"([\ue000-\uf8ff])\1*")
# The same runs in HTML made pure ASCII (render.ascii_html): `&#57344;` per character.
_REF_RUN = re.compile(r"(&#(5[7-9]\d{3}|6[0-3]\d{3});)\1*")


def stand_ins(lengths: Sequence[int], first: int = FIRST) -> list[str]:
    """A stand-in for each string: `lengths[k]` times the private-use character first + k."""
    if first + len(lengths) - 1 > LAST:
        raise ValueError("splice.stand_ins: more strings than private-use characters")
    return [chr(first + k) * n for k, n in enumerate(lengths)]


def clear(text: str | None) -> bool:
    """No private-use character in `text`: it cannot be mistaken for a stand-in."""
    return not text or _PRIVATE.search(text) is None


@dataclass(frozen=True)
class Pieces:
    """A body cut at its stand-ins: literal text, and where each stand-in stood."""

    parts: tuple[str | int, ...]
    used: frozenset[int]  # the stand-ins it holds

    def join(self, values: Sequence[str]) -> str:
        return "".join([part if isinstance(part, str) else values[part] for part in self.parts])


def cut(body: str, stand: Sequence[str], *, refs: bool = False) -> Pieces | None:
    """`body` as pieces, or None when a private-use character in it is not exactly one of the
    stand-ins (some text of the body had one after all: the body is not shared). `refs`: the
    body has them as numeric character references (an HTML part)."""
    index = {s[0]: k for k, s in enumerate(stand) if s}
    parts: list[str | int] = []
    at = 0
    for run in (_REF_RUN if refs else _RUN).finditer(body):
        char = chr(int(run.group(2))) if refs else run.group(1)
        k = index.get(char)
        if k is None:
            return None
        copies, rest = divmod((run.end() - run.start()) // len(run.group(1)), len(stand[k]))
        if rest:
            return None
        parts.append(body[at : run.start()])
        parts.extend([k] * copies)
        at = run.end()
    parts.append(body[at:])
    kept = tuple(p for p in parts if p != "")
    return Pieces(kept, frozenset(p for p in kept if isinstance(p, int)))
