"""Several `digest send` processes sharing one issue through a real PostgreSQL server, as
several machines would: every reader exactly once, and a sender killed with SIGKILL midway
loses nobody. Deliveries are counted at a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from digest.jobs import send

from .conftest import run_cli
from .helpers_digest import report
from .helpers_smtp import NOW, SmtpServer, start_send, write_project

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (the postgres extra)")
READERS = 2000


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "test-secret-for-postgres-0123456789abcdef")


def _project(root: Path, url: str, port: int, delivery: str = "") -> list[str]:
    """2,000 readers in the database's subscriber table, the ledger beside them."""
    emails = write_project(
        root,
        url=f"smtp://127.0.0.1:{port}",
        readers=READERS,
        state=url,
        subscribers="database",
        delivery=delivery,
    )
    for command in (("db", "upgrade"), ("subscribers", "import", "subscribers.yaml")):
        result = run_cli(*command, cwd=root)
        assert result.returncode == 0, result.stderr
    (root / "subscribers.yaml").unlink()  # the database is the list now
    return emails


def _sent(out: str) -> int:
    return int(out.split("sent ")[1].split(",")[0])


def test_two_senders_on_one_postgres_database_mail_every_reader_exactly_once(tmp_path, postgres_url, capsys):
    with SmtpServer() as sink:
        # At most 200 messages a second each: neither can be done before the other has started
        # on a busy machine (a sender there needs seconds to start).
        emails = _project(tmp_path, postgres_url, sink.port, delivery="  rate: 200\n")
        senders = [start_send(tmp_path), start_send(tmp_path)]
        outputs = [s.communicate(timeout=300) for s in senders]
    for sender, (_, err) in zip(senders, outputs, strict=True):
        assert sender.returncode == 0, err
    assert sink.counts() == {email: 1 for email in emails}
    split = [_sent(out) for out, _ in outputs]
    assert sum(split) == READERS and min(split) > 0  # both did part of the work
    report(
        capsys,
        f"postgres, two senders at once: {READERS} readers, each exactly once ({split[0]} + {split[1]})",
    )


def test_a_sender_killed_midway_loses_nobody_and_only_its_messages_in_flight_can_go_twice(
    tmp_path, postgres_url, capsys
):
    with SmtpServer() as sink:
        emails = _project(tmp_path, postgres_url, sink.port)
        doomed, survivor = start_send(tmp_path), start_send(tmp_path)
        try:
            assert sink.wait_for(READERS // 4, timeout=120), "the senders never got going"
        finally:
            doomed.send_signal(signal.SIGKILL)  # no cleanup of any kind
        doomed.wait(timeout=30)
        with psycopg.connect(postgres_url) as db:
            in_flight = {e for (e,) in db.execute("SELECT email FROM deliveries WHERE status = 'claimed'")}
        at_kill = sink.total()
        out, err = survivor.communicate(timeout=300)
        assert survivor.returncode == 0, err
        after_survivor = sink.counts()
        again = run_cli("send", "--now", NOW, cwd=tmp_path)  # what a resume would still find
        assert again.returncode == 0, again.stderr
    assert at_kill < READERS, "the senders finished before the kill; nothing was tested"
    assert set(after_survivor) == set(emails)  # nobody missed, without waiting for another run
    assert f"sent 0, already sent {READERS}" in again.stdout
    doubled = {email for email, n in after_survivor.items() if n > 1}
    # Two senders, each with 4 connections of 2 messages, readers claimed ahead and a batch of
    # deliveries not yet marked sent (digest/jobs/send.py: CLAIM_AHEAD, MARK_BATCH).
    assert doubled <= in_flight and len(in_flight) <= 2 * (2 * 4 + send.CLAIM_AHEAD + send.MARK_BATCH)
    assert max(after_survivor.values()) <= 2
    report(
        capsys,
        f"postgres, one of two senders killed after {at_kill} deliveries: all {READERS} readers mailed by "
        f"the survivor's run, {len(doubled)} twice (in flight at the kill: {len(in_flight)})",
    )
