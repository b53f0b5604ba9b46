"""How much guessing a signing secret would take: an estimate in bits, and the secrets digest
has published as examples (refused whatever their estimate).

Distinct characters say little: `abcdefgh` four times has 8 distinct characters and about
15 bits. The estimate reads the secret left to right as a compressor would, and charges each
piece what it would cost to guess: a character not explained by what came before costs the
bits of its alphabet (lower case, upper case, digits, punctuation), a repeat of something
earlier costs where it starts and how long it is, and a run of consecutive characters
(`0123456789`, `abcdef`, `zyx`) costs its first character, its direction and its length.
"""

from __future__ import annotations

import math
import string

# Every secret the README, the starter files, the examples or the compose files print as an
# example (tests/test_validation.py finds them there and checks each is refused).
PUBLISHED = frozenset(
    {
        "digest-dev-secret-not-for-production",  # config.DEV_SECRET
        "a-long-random-secret-for-signed-links",  # README, the library example
    }
)
MIN_RUN = 3  # a repeat or a run shorter than this is cheaper to spell out
MAX_CHARS = 1024  # the estimate is quadratic in the length; past this it is long enough


def alphabet_bits(secret: str) -> float:
    """log2 of the alphabet a guesser would try, from the kinds of character it uses."""
    size = 0
    for kind, count in (
        (string.ascii_lowercase, 26),
        (string.ascii_uppercase, 26),
        (string.digits, 10),
        (string.punctuation + " ", 33),
    ):
        size += count if any(c in kind for c in secret) else 0
    if any(not c.isascii() for c in secret):
        size += 100
    return math.log2(max(size, 2))


def estimated_bits(secret: str) -> float:
    secret = secret[:MAX_CHARS]
    per_char = alphabet_bits(secret)
    bits, i, n = 0.0, 0, len(secret)
    while i < n:
        repeat = _longest_repeat(secret, i)
        run = _run(secret, i)
        if max(repeat, run) < MIN_RUN:
            bits += per_char
            i += 1
        elif repeat >= run:  # where the earlier copy starts, and its length
            bits += math.log2(max(i, 2)) + math.log2(repeat)
            i += repeat
        else:  # its first character, up or down, its length
            bits += per_char + 1 + math.log2(run)
            i += run
    return bits


def _longest_repeat(s: str, i: int) -> int:
    """The longest piece starting at i that also starts earlier (it may overlap i, as
    `aaaa` repeats its first `a`)."""
    best = 0
    for start in range(i):
        length = 0
        while i + length < len(s) and s[start + length] == s[i + length]:
            length += 1
        best = max(best, length)
    return best


def _run(s: str, i: int) -> int:
    """The length of the run of consecutive characters (steps of +1 or -1) starting at i."""
    if i + 1 >= len(s):
        return 1
    step = ord(s[i + 1]) - ord(s[i])
    if step not in (1, -1):
        return 1
    length = 2
    while i + length < len(s) and ord(s[i + length]) - ord(s[i + length - 1]) == step:
        length += 1
    return length
