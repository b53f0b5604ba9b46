"""Library uploads: a hostile BibTeX file against a real one of the same size, and at twice it.

A linear reader costs about the same per byte whatever the file holds, and twice the bytes
cost twice the time; the old reader took over 60 s of CPU on `"@a{" * 40000` (120 KB).
Figures are CPU time per parse (time.process_time), best-of medians.
"""

from __future__ import annotations

import time

from digest.issue import library

from .timing import per_call

REAL = (
    "@article{k{n}, title = {A title about retrieval {n}}, author = {Ada Lovelace and Alan Turing},\n"
    "  abstract = {" + "We study dense retrieval with long contexts. " * 20 + "},\n"
    "  eprint = {2401.{n:05d}}, archiveprefix = {arXiv}}\n"
)


def _real(size: int) -> str:
    out, n = [], 0
    while sum(map(len, out)) < size:
        out.append(REAL.replace("{n:05d}", f"{n:05d}").replace("{n}", str(n)))
        n += 1
    return "".join(out)[:size]


def _hostile(size: int) -> str:
    return ("@a{" * (size // 3 + 1))[:size]


def run() -> None:
    size = 29_000  # under 10,000 entries even when every 3 bytes open one
    real, real2, hostile, hostile2 = (
        "real 29 KB",
        "real 58 KB",
        "@a{ x 9,666 (29 KB)",
        "@a{ x 9,999 + text (58 KB)",
    )
    cases = {
        real: _real(size),
        real2: _real(2 * size),
        hostile: _hostile(size),
        hostile2: _hostile(29_997) + "x" * (2 * size - 29_997),
    }
    times = {}
    for name, text in cases.items():
        times[name] = per_call(
            lambda text=text: library.parse(text, "b.bib", ".bib"),
            repeat=5,
            number=5,
            clock=time.process_time,
        )
        print(f"  {name:28} {times[name] * 1000:8.2f} ms CPU")
    print(f"  {real2} / {real}:       {times[real2] / times[real]:5.2f}x (linear: 2x)")
    print(f"  {hostile} / {real}: {times[hostile] / times[real]:5.2f}x")
