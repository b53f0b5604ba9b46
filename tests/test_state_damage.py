"""A state database that is damaged is reported with its path and what to do, and never
taken for a fresh start: an empty ledger would mail every reader the issue again."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from digest.store.schema import LATEST

NOW = "2026-11-26T09:00:00Z"
COMMANDS = (
    ("send", "--now", NOW),
    ("send", "--dry-run", "--now", NOW),
    ("preview", "--out", "pv"),
    ("bounces",),
)


@pytest.fixture
def sent(project: Path, cli) -> Path:
    """The example project after one complete send: its state file holds the ledger."""
    result = cli("send", "--now", NOW, cwd=project)
    assert result.returncode == 0, result.stderr
    state = project / ".digest" / "state.db"
    assert state.stat().st_size > 8192 and not Path(f"{state}-wal").exists()
    return state


def _outbox(project: Path) -> list[str]:
    return sorted(str(p.relative_to(project)) for p in (project / "outbox").rglob("*.eml"))


def _refused_everywhere(project: Path, cli, state: Path, *expected: str) -> None:
    before, mailed = state.read_bytes(), _outbox(project)
    for command in COMMANDS:
        result = cli(*command, cwd=project)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        for text in (str(state.relative_to(project)), *expected):  # the path as digest.yaml gives it
            assert text in result.stderr, (command, result.stderr)
        assert "Traceback" not in result.stderr
    assert state.read_bytes() == before  # left as it was, for whoever restores it
    assert _outbox(project) == mailed  # nobody mailed again


def test_a_truncated_state_file_is_refused_by_every_command_and_nothing_is_sent(project, cli, sent):
    os.truncate(sent, 8192)
    _refused_everywhere(project, cli, sent, "is truncated (8192 bytes of", "Restore the file from a backup")


def test_an_emptied_state_file_is_not_a_fresh_start(project, cli, sent):
    os.truncate(sent, 0)
    _refused_everywhere(
        project, cli, sent, "is empty (0 bytes)", "every reader would get the current issue again"
    )


def test_a_state_file_with_damaged_pages_is_named_when_read(project, cli, sent):
    with sent.open("r+b") as handle:  # every page after the first: zeros where the tables were
        handle.seek(4096)
        handle.write(b"\x00" * (sent.stat().st_size - 4096))
    _refused_everywhere(project, cli, sent, "is damaged")
    check = cli("db", "check", cwd=project)
    assert check.returncode == 2 and ".digest/state.db" in check.stderr


def test_a_sound_file_passes_db_check_and_db_status_shows_its_schema(project, cli, sent):
    check = cli("db", "check", cwd=project)
    assert check.returncode == 0 and "ok (schema version" in check.stdout
    status = cli("db", "status", cwd=project)
    assert status.returncode == 0 and f"schema version {LATEST} of {LATEST}" in status.stdout


def test_a_state_file_from_the_last_release_upgrades_itself_and_keeps_its_ledger(project, cli):
    state = project / ".digest" / "state.db"
    state.parent.mkdir()
    db = sqlite3.connect(state)
    db.executescript(  # the schema before versions: a ledger row says Ada already has the issue
        """CREATE TABLE deliveries (issue TEXT NOT NULL, email TEXT NOT NULL, status TEXT NOT NULL,
               message_id TEXT, claimed_at TEXT NOT NULL, sent_at TEXT, error TEXT, owner TEXT,
               PRIMARY KEY (issue, email));
           CREATE TABLE sent_papers (email TEXT NOT NULL, paper_id TEXT NOT NULL, issue TEXT NOT NULL,
               sent_at TEXT NOT NULL, PRIMARY KEY (email, paper_id));
           INSERT INTO deliveries VALUES ('2026-11-26', 'ada@example.org', 'sent', '<m>',
               '2026-11-26T07:00:00+00:00', '2026-11-26T07:00:01+00:00', NULL, NULL);"""
    )
    db.close()
    result = cli("send", "--now", NOW, cwd=project)
    assert result.returncode == 0, result.stderr
    assert "sent 2, already sent 1" in result.stdout
    versions = sqlite3.connect(state).execute("SELECT version FROM schema_version ORDER BY version")
    assert [v for (v,) in versions] == list(range(1, LATEST + 1))
