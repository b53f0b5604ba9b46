"""The ledger under real processes: a `digest send` killed with SIGKILL partway through, two
runs at once, and claims held by live and dead runs. Deliveries are counted at the server."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from digest import config as config_mod
from digest.compose.mail import message_id
from digest.jobs import send
from digest.store import open_database
from digest.store.sqlite import FileRun, SqliteDatabase, runs_dir

from .conftest import run_cli
from .helpers_digest import report
from .helpers_processes import all_at_once
from .helpers_smtp import NOW, SmtpServer, start_send, write_project

READERS = 300
KILL_AFTER = 100


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "test-secret-for-smtp-0123456789abcdef")


def _stop_partway(sink, root: Path, how: signal.Signals) -> subprocess.CompletedProcess:
    """Start `digest send`, signal it once KILL_AFTER messages have arrived, wait for it."""
    process = start_send(root)
    try:
        assert sink.wait_for(KILL_AFTER), "the run never got going"
    finally:
        process.send_signal(how)
        out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _statuses(root: Path) -> dict[str, str]:
    return dict(sqlite3.connect(root / "state.db").execute("SELECT email, status FROM deliveries"))


def test_a_killed_run_resumes_nobody_missing_only_in_flight_twice_and_a_third_run_sends_nothing(
    tmp_path, capsys
):
    with SmtpServer() as sink:
        emails = write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=READERS)
        _stop_partway(sink, tmp_path, signal.SIGKILL)  # no cleanup of any kind
        after_kill = sink.total()
        in_flight = {email for email, status in _statuses(tmp_path).items() if status == "claimed"}
        assert after_kill < READERS, "the run finished before the kill; nothing was tested"

        second = run_cli("send", "--now", NOW, cwd=tmp_path)
        assert second.returncode == 0, second.stderr
        after_second = sink.counts()

        third = run_cli("send", "--now", NOW, cwd=tmp_path)
        assert third.returncode == 0, third.stderr
        assert f"sent 0, already sent {READERS}" in third.stdout

    assert set(after_second) == set(emails)  # nobody missing
    doubled = {email for email, n in after_second.items() if n > 1}
    assert max(after_second.values()) <= 2
    assert doubled <= in_flight  # only what was in flight at the kill went twice
    # In flight: the pool's two messages per connection, the readers claimed ahead of building
    # and the deliveries not yet marked sent (digest/jobs/send.py: CLAIM_AHEAD, MARK_BATCH).
    assert len(in_flight) <= 2 * 4 + send.CLAIM_AHEAD + send.MARK_BATCH
    assert sink.total() == sum(after_second.values())  # the third run delivered nothing
    assert set(_statuses(tmp_path).values()) == {"sent"}
    report(
        capsys,
        f"crash test: {READERS} readers; {after_kill} delivered when run 1 was killed "
        f"({len(in_flight)} in flight); {sum(after_second.values())} after run 2 "
        f"({len(doubled)} duplicates); run 3 delivered 0",
    )


def test_ctrl_c_lets_messages_under_way_finish_records_them_and_a_rerun_sends_nobody_twice(tmp_path):
    with SmtpServer() as sink:
        emails = write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=READERS)
        first = _stop_partway(sink, tmp_path, signal.SIGINT)
        assert first.returncode == 130, first.stderr
        assert "stopped: interrupted (Ctrl-C)" in first.stderr and "not reached" in first.stdout
        assert "claimed" not in _statuses(tmp_path).values()  # everything under way was recorded
        assert sink.total() < READERS

        second = run_cli("send", "--now", NOW, cwd=tmp_path)
        assert second.returncode == 0, second.stderr
    assert sink.counts() == {email: 1 for email in emails}  # not even the in-flight ones twice


def test_two_runs_at_once_send_every_reader_exactly_once(tmp_path, capsys):
    with SmtpServer() as sink:
        emails = write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=READERS)
        runs = [start_send(tmp_path), start_send(tmp_path)]
        outputs = [run.communicate(timeout=120) for run in runs]
    for run, (_, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err
    assert sink.counts() == {email: 1 for email in emails}
    sent = [int(out.split("sent ")[1].split(",")[0]) for out, _ in outputs]
    assert sum(sent) == READERS
    report(capsys, f"two runs at once: {READERS} readers, each exactly once (split {sent[0]} + {sent[1]})")


def _config(root: Path):
    return config_mod.load(root / "digest.yaml")


def test_a_reader_claimed_by_a_live_run_is_left_to_it_and_a_dead_runs_claim_is_taken_over(tmp_path):
    with SmtpServer() as sink:
        emails = write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=5)
        config = _config(tmp_path)
        issue = NOW[:10]
        other = FileRun(config.store.path)  # another run, alive, in the middle of sending to reader 2
        with open_database(config.store) as state:
            mid = message_id(issue, emails[2], config.newsletter.sender, config.secret())
            assert state.claim(issue, emails[2], mid, other) == "claimed"
        now = datetime.fromisoformat(NOW)

        first = send.run(config, now=now, log=lambda line: None)
        assert (first.sent, first.busy) == (4, 1)
        assert emails[2] not in sink.counts()

        os.close(other.fd)  # it dies without cleaning up: its lock file stays, unlocked
        assert other.path.exists()
        second = send.run(config, now=now, log=lambda line: None)
    assert (second.sent, second.skipped, second.busy) == (1, 4, 0)
    assert sink.counts() == {email: 1 for email in emails}
    assert list(runs_dir(config.store.path).iterdir()) == []  # the dead run's file is cleaned up


def test_a_state_file_from_before_claims_named_their_run_is_upgraded_and_resumed(tmp_path):
    with SmtpServer() as sink:
        emails = write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=3)
        db = sqlite3.connect(tmp_path / "state.db")
        db.executescript(  # the walking skeleton's ledger, with a claim from a run that crashed
            """CREATE TABLE deliveries (
                   issue TEXT NOT NULL, email TEXT NOT NULL,
                   status TEXT NOT NULL CHECK (status IN ('claimed', 'sent', 'failed')),
                   message_id TEXT, claimed_at TEXT NOT NULL, sent_at TEXT, error TEXT,
                   PRIMARY KEY (issue, email));"""
        )
        db.execute(
            "INSERT INTO deliveries VALUES (?, ?, 'claimed', NULL, '2026-11-26T07:00:00', NULL, NULL)",
            (NOW[:10], emails[1]),
        )
        db.commit()
        db.close()
        result = send.run(_config(tmp_path), now=datetime.fromisoformat(NOW), log=lambda line: None)
    assert result.sent == 3 and sink.counts() == {email: 1 for email in emails}


def _open_state(path: Path, start) -> str | None:
    start.wait()
    try:
        SqliteDatabase(path).close()
    except Exception as exc:  # reported to the test, which names it
        return repr(exc)
    return None


def test_runs_opening_a_new_state_file_at_the_same_moment_all_get_in(tmp_path):
    # Two `digest send` from cron on a fresh deployment: each switches the new file to WAL.
    errors = all_at_once(_open_state, tmp_path)
    assert errors == []
