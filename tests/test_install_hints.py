"""Install hints name the distribution on PyPI, `trending-papers-digest`: `digest` there is an
unrelated project, and `pip install 'digest[dkim]'` would install it (issue 22, item 1)."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest

from digest.config import Dkim
from digest.delivery.backends import dkim_signer
from digest.errors import DISTRIBUTION, EXTRAS, DigestError

ROOT = Path(__file__).resolve().parents[1]
# `digest[...]` not preceded by a letter, digit or hyphen: `trending-papers-digest[dkim]` is right.
WRONG = re.compile(r"(?<![\w-])digest\[\w+\]")


def _shipped_texts() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "digest.yaml", ROOT / "subscribers.yaml", ROOT / "Dockerfile"]
    files += sorted((ROOT / "docs").glob("*.md"))
    for folder in ("digest", "templates", "examples"):
        files += [p for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix != ".pyc"]
    return files


def test_no_install_hint_names_the_unrelated_digest_project():
    wrong = []
    for path in _shipped_texts():
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if WRONG.search(line):
                wrong.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not wrong, "install hints must name trending-papers-digest[...]:\n" + "\n".join(wrong)


def test_every_hinted_extra_is_one_the_package_declares():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRAS) <= set(declared)
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"] == DISTRIBUTION


def test_the_dkim_hint_names_the_distribution_and_pipx_inject(monkeypatch, tmp_path):
    # dkimpy is a dev dependency, so the test hides it: importing a None entry raises ImportError.
    monkeypatch.setitem(sys.modules, "dkim", None)
    settings = Dkim.model_validate({"selector": "s1", "key_file": str(tmp_path / "key.pem")})
    with pytest.raises(DigestError) as caught:
        dkim_signer(settings)
    message = str(caught.value)
    assert "pip install 'trending-papers-digest[dkim]'" in message
    assert "pipx inject trending-papers-digest dkimpy" in message
    assert not WRONG.search(message)
