"""Counts in words: "1 paper", "2 papers", never "1 papers"."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and `noun`, the noun in the plural unless `n` is 1 (`plural` for irregular ones)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
