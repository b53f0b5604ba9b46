"""A list kept in the database (`subscribers: database`, SQLite) through the jobs that read and
change it: `send` and `send --due`, a bounce, `digest bounces --clear`, `preview --to`, and
the scheduler noticing a change. The mail goes to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from digest import config as config_mod
from digest.jobs.schedule import Daemon
from digest.readers.subscribers import Import
from digest.store import open_stores

from .conftest import run_cli
from .helpers_smtp import NOW, SmtpServer, write_project


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "test-secret-for-the-database-list-0123456789")


def _in_database(root, *, url: str, readers: int) -> list[str]:
    emails = write_project(root, url=url, readers=readers, subscribers="database")
    imported = run_cli("subscribers", "import", "subscribers.yaml", cwd=root)
    assert imported.returncode == 0, imported.stderr
    (root / "subscribers.yaml").unlink()  # nothing may read it: the table is the list
    return emails


def _status(root, email: str) -> str:
    with open_stores(config_mod.load(root / "digest.yaml"), readonly=True) as opened:
        return opened.subscribers.find(email).status


def test_a_bounce_marks_the_reader_in_the_table_and_clearing_it_mails_them_again(tmp_path):
    with SmtpServer() as sink:
        emails = _in_database(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=6)
        sink.plan(emails[3], "rcpt 550 5.1.1 User unknown")
        first = run_cli("send", "--now", NOW, cwd=tmp_path)
        assert first.returncode == 1 and "sent 5" in first.stdout and "bounced 1" in first.stdout
        assert _status(tmp_path, emails[3]) == "bounced"
        cleared = run_cli("bounces", "--clear", emails[3], cwd=tmp_path)
        assert "bounce cleared" in cleared.stdout and _status(tmp_path, emails[3]) == "active"
        again = run_cli("send", "--now", NOW, cwd=tmp_path)
        assert again.returncode == 0 and "sent 1, already sent 5" in again.stdout
    assert sink.counts() == {email: 1 for email in emails}


def test_send_due_and_preview_read_the_table(tmp_path):
    with SmtpServer() as sink:
        emails = _in_database(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=3)
        # Imported readers, never mailed: the first run sees them, their next 07:00 mails them.
        first = run_cli("send", "--due", "--now", "2026-11-26T06:55:00Z", cwd=tmp_path)
        assert first.returncode == 0 and "not due yet 3" in first.stdout
        due = run_cli("send", "--due", "--now", "2026-11-26T07:05:00Z", cwd=tmp_path)
        assert due.returncode == 0 and "issue 2026-11-26: sent 3" in due.stdout
        later = run_cli("send", "--due", "--now", "2026-11-26T07:10:00Z", cwd=tmp_path)
        assert later.returncode == 0 and "sent 0, already sent 3" in later.stdout
    preview = run_cli("preview", "--to", emails[1], "--out", "pv", "--now", NOW, cwd=tmp_path)
    assert preview.returncode == 0 and f"preview for {emails[1]}" in preview.stdout
    assert sink.counts() == {email: 1 for email in emails}


def test_the_scheduler_plans_from_the_table_and_notices_a_change(tmp_path):
    _in_database(tmp_path, url="file://outbox", readers=2)
    config = config_mod.load(tmp_path / "digest.yaml")
    with open_stores(config) as opened:
        daemon = Daemon(config, opened.subscribers, start=datetime.fromisoformat(NOW))
        daemon.plan()
        planned = [job.id for job in daemon.scheduler.get_jobs()]
        assert planned == ["slot 2026-11-27T07:00:00+00:00"]  # both readers at 07:00 UTC, tomorrow
        before = daemon._signature()
        opened.subscribers.apply(
            "tokyo@example.org", Import({"timezone": "Asia/Tokyo"}), now=datetime.now(UTC)
        )
        assert daemon._signature() != before
        daemon.plan()
        assert len(daemon.scheduler.get_jobs()) == 2
