"""The README's sample output is what the commands print (issue 22, item 16)."""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import copy_example

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _db_upgrade_sample() -> list[str]:
    block = README.split("digest db upgrade           # creates the tables", 1)[1].split("```", 1)[0]
    return [line.removeprefix("#").strip() for line in block.strip().splitlines()[1:]]


def test_the_db_upgrade_sample_is_what_the_command_prints(tmp_path, cli):
    copy_example(tmp_path)
    result = cli("db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = [line.strip() for line in result.stdout.strip().splitlines()]
    sample = _db_upgrade_sample()
    assert sample[:-1] == printed[:-1]  # every migration, in order
    # the closing line names the database the sample uses; the versions are the same
    assert re.search(r"schema version \d+ of \d+$", sample[-1])
    assert sample[-1].rsplit(": ", 1)[1] == printed[-1].rsplit(": ", 1)[1]


def test_the_readme_says_make_test_is_slow_and_wants_the_shared_fixtures():
    development = README.split("## Development", 1)[1]
    assert "several minutes" in development and "../shared/fixtures" in development
    assert "skip" in development


def test_the_readme_has_no_missing_space_after_a_semicolon_in_prose():
    prose = re.sub(r"`[^`]*`", "", re.sub(r"```.*?```", "", README, flags=re.S))
    assert not re.findall(r"[a-z]{2};[a-z]", prose)
