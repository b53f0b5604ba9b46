"""DIGEST_SECRET is judged by how much guessing it would take, not by its length or its distinct
characters; and no secret the documentation prints is accepted."""

from __future__ import annotations

import random
import re
import string

import pytest

from digest.config import DEV_SECRET, MAKE_SECRET, check_secret
from digest.errors import DigestError
from digest.util.secret_strength import PUBLISHED

from .conftest import ROOT

PATTERNED = [
    "abcdefgh" * 4,
    "12345678" * 4,
    "abababababababababababababababab",
    "aaaabbbbccccddddeeeeffffgggghhhh",
    "password1234password1234password",
    "zyxwvutsrqponmlkjihgfedcba987654",
]
SLIPS = [
    DEV_SECRET + " ",
    " " + DEV_SECRET,
    DEV_SECRET.upper(),
    "kq3V_8hZ-2mXo9PtR4yLw7eNc1sJ5uAb6dFgHi0\n",
    "$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')",
]


@pytest.mark.parametrize("secret", PATTERNED + SLIPS)
def test_a_long_secret_with_a_pattern_or_a_slip_is_refused_with_how_to_make_a_good_one(secret):
    with pytest.raises(DigestError) as refused:
        check_secret(secret)
    assert MAKE_SECRET in str(refused.value)
    assert secret.strip() not in str(refused.value).replace(MAKE_SECRET, "")  # never repeated


def _documented_secrets() -> set[str]:
    """Every value the README and docs/, the starter files, the examples and the compose and Docker files
    give DIGEST_SECRET or a `secret=` argument."""
    files = [ROOT / "README.md", ROOT / "compose.yaml", ROOT / "Dockerfile", ROOT / "digest.yaml"]
    files += sorted((ROOT / "docs").glob("*.md"))
    for folder in ("examples", "digest/starter", "samples"):
        files += [p for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix != ".jsonl"]
    found = set()
    pattern = re.compile(r"""DIGEST_SECRET\s*[=:]\s*["']?([^\s"']+)|secret\s*=\s*["']([^"']+)["']""")
    for file in files:
        for match in pattern.finditer(file.read_text(errors="replace")):
            found.add(match.group(1) or match.group(2))
    return found


def test_every_secret_the_documentation_prints_is_refused():
    documented = _documented_secrets()
    assert "a-long-random-secret-for-signed-links" in documented  # the scan finds docs/library.md's
    for secret in documented | PUBLISHED:
        with pytest.raises(DigestError):
            check_secret(secret)


def test_random_secrets_of_every_usual_kind_are_accepted():
    rng = random.Random(23)
    urlsafe = string.ascii_letters + string.digits + "-_"
    for _ in range(200):
        for alphabet, length in ((urlsafe, 43), (string.hexdigits[:16], 32), (urlsafe, 32)):
            secret = "".join(rng.choice(alphabet) for _ in range(length))
            assert check_secret(secret) == secret


def test_send_refuses_a_patterned_secret_before_doing_anything(project, cli, monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "12345678" * 4)
    refused = cli("send", "--dry-run", cwd=project)
    assert refused.returncode == 2
    assert "DIGEST_SECRET has a pattern" in refused.stderr and "secrets.token_urlsafe(32)" in refused.stderr
