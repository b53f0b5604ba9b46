"""The digest of a recorded day, as delivered, scored by SpamAssassin with local rules only."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from .helpers_digest import ARTIFACTS, HF_DAY, hf_papers, message, report

LIMIT = 3.0


def spamassassin(raw: bytes, home) -> tuple[float, str]:
    """(score, report) from `spamassassin -L -t`: local tests only, no network lookups."""
    binary = shutil.which("spamassassin")
    if binary is None:
        pytest.skip("SpamAssassin is not installed (Debian package spamassassin; .ci/run installs it)")
    result = subprocess.run(
        [binary, "-L", "-t"],
        input=raw,
        capture_output=True,
        timeout=120,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},  # its user_prefs in a temporary home
    )
    output = result.stdout.decode("utf-8", "replace")
    found = re.search(r"^X-Spam-Status: \w+, score=(-?[\d.]+)", output, re.M)
    assert found, output[-2000:] + result.stderr.decode("utf-8", "replace")
    details = output.split("Content analysis details:", 1)[-1]
    return float(found.group(1)), details


@pytest.mark.parametrize("thumbnails", [False, True], ids=["plain", "thumbnails"])
def test_the_digest_scores_well_below_spamassassins_threshold(shared_fixtures, tmp_path, capsys, thumbnails):
    msg = message(hf_papers(shared_fixtures), thumbnails=thumbnails)
    score, details = spamassassin(msg.raw, tmp_path)
    eml = ARTIFACTS / f"digest-{HF_DAY}{'-thumbnails' if thumbnails else ''}.eml"
    eml.parent.mkdir(parents=True, exist_ok=True)
    eml.write_bytes(msg.raw)
    rules = ", ".join(re.findall(r"^\s*-?[\d.]+ (\w+)", details, re.M))
    report(capsys, f"SpamAssassin ({'with' if thumbnails else 'no'} thumbnails): {score} ({rules}) for {eml}")
    assert score < LIMIT, details
