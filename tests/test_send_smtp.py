"""`digest send` against a real SMTP server (aiosmtpd on loopback) that misbehaves on request:
4xx on RCPT and DATA, 5xx, a connection dropped mid-DATA, a server slower than the timeout,
a relay that refuses us. What the server counts is the truth; the ledger must agree with it."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from digest.store import yamllist
from digest.store.sqlite import SqliteDatabase as State

from .helpers_smtp import NOW, SmtpServer, ledger_statuses, reader_email, send_project, write_project


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "test-secret-for-smtp-0123456789abcdef")


def test_every_reader_gets_exactly_one_message_over_a_few_persistent_connections(tmp_path):
    with SmtpServer() as sink:
        emails = write_project(
            tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=40, delivery="  rate: 200"
        )
        report = send_project(tmp_path)
    assert report.exit_code == 0 and report.sent == 40, report.problems
    assert sink.counts() == {email: 1 for email in emails}
    assert sink.connections <= 4  # delivery.concurrency, each kept open for many messages
    assert set(ledger_statuses(tmp_path).values()) == {"sent"}
    first = next(r for r in sink.received if r.rcpt == reader_email(0))
    message = message_from_bytes(first.data, policy=policy.default)
    assert first.mail_from == "papers@example.org" and message["To"] == reader_email(0)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]


def test_4xx_on_rcpt_or_data_is_retried_and_counted_once_when_accepted(tmp_path):
    with SmtpServer() as sink:
        emails = write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=12)
        sink.plan(emails[1], "rcpt 451 4.7.1 Greylisted, try again later")
        sink.plan(emails[2], "data 421 4.3.2 Service shutting down", "rcpt 450 4.2.1 Mailbox busy")
        sink.plan(emails[3], "data 452 4.3.1 Insufficient system storage")
        report = send_project(tmp_path)
    assert report.exit_code == 0, report.problems
    assert (report.sent, report.retried, report.failed, report.bounced) == (12, 4, 0, 0)
    assert sink.counts() == {email: 1 for email in emails}


def test_a_reader_still_refused_after_every_retry_fails_and_the_next_run_delivers_it(tmp_path):
    with SmtpServer() as sink:
        emails = write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=6)
        sink.plan(emails[4], *["rcpt 451 4.3.0 Try later"] * 4)  # first try + delivery.retries (3)
        first = send_project(tmp_path)
        assert first.exit_code == 1 and (first.sent, first.failed, first.retried) == (5, 1, 3)
        assert any(emails[4] in p and "451 4.3.0 Try later" in p for p in first.problems)
        assert ledger_statuses(tmp_path)[emails[4]] == "failed"
        assert emails[4] not in sink.counts()

        second = send_project(tmp_path)
    assert (second.sent, second.skipped, second.failed) == (1, 5, 0)
    assert sink.counts() == {email: 1 for email in emails}


def test_5xx_about_the_address_marks_it_bounced_with_its_reason_and_no_mail_goes_to_it_again(tmp_path, cli):
    with SmtpServer() as sink:
        emails = write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=8)
        sink.plan(emails[2], "rcpt 550 5.1.1 <reader00002@example.org>: User unknown")
        sink.plan(emails[5], "data 554 5.1.1 Recipient address rejected")  # some check after DATA
        first = send_project(tmp_path)
        assert first.exit_code == 1 and (first.sent, first.bounced, first.failed) == (6, 2, 0)
        with State(tmp_path / "state.db", readonly=True) as state:
            bounced = state.bounced()
        assert set(bounced) == {emails[2], emails[5]}
        assert "550 5.1.1" in bounced[emails[2]] and "User unknown" in bounced[emails[2]]
        assert "554 5.1.1 Recipient address rejected" in bounced[emails[5]]

        listed = yamllist.load(tmp_path / "subscribers.yaml")
        assert {s.email for s in listed if s.status == "bounced"} == {emails[2], emails[5]}

        second = send_project(tmp_path)
        assert (second.sent, second.suppressed, second.exit_code) == (0, 0, 0)  # not active any more
        assert sink.counts() == {e: 1 for e in emails if e not in (emails[2], emails[5])}

        listed = cli("bounces", cwd=tmp_path)
        assert (
            listed.returncode == 0
            and "User unknown" in listed.stdout
            and "2 bounced addresses" in listed.stdout
        )
        assert "bounce cleared" in cli("bounces", "--clear", emails[2], cwd=tmp_path).stdout
        third = send_project(tmp_path)
    assert third.sent == 1 and sink.counts()[emails[2]] == 1
    statuses = {s.email: s.status for s in yamllist.load(tmp_path / "subscribers.yaml")}
    assert (statuses[emails[2]], statuses[emails[5]]) == ("active", "bounced")


def test_a_bounce_recorded_only_in_the_ledger_stops_mail_too(tmp_path):
    with SmtpServer() as sink:
        emails = write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=3)
        with State(tmp_path / "state.db") as state:
            state.mark_bounced("2026-11-25", emails[1], 550, "550 5.1.1 User unknown")
        report = send_project(tmp_path)
    assert (report.sent, report.suppressed) == (2, 1)
    assert emails[1] not in sink.counts()


def test_a_connection_dropped_mid_data_is_retried_on_a_new_connection(tmp_path):
    with SmtpServer() as sink:
        emails = write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=6, concurrency=1)
        sink.plan(emails[0], "drop-data")
        sink.plan(emails[3], "drop-data", "drop-data")
        report = send_project(tmp_path)
    assert report.exit_code == 0, report.problems
    assert (report.sent, report.retried) == (6, 3)
    assert sink.counts() == {email: 1 for email in emails}
    assert sink.connections == 4  # one, and a new one after each of the three drops


def test_a_server_slower_than_the_timeout_is_given_up_on_and_retried(tmp_path):
    with SmtpServer() as sink:
        emails = write_project(
            tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=4, delivery="  timeout: 0.5"
        )
        sink.plan(emails[1], "slow-rcpt 3")
        report = send_project(tmp_path)
    assert report.exit_code == 0, report.problems
    assert (report.sent, report.retried) == (4, 1)
    assert sink.counts() == {email: 1 for email in emails}


def test_the_error_threshold_stops_the_run_cleanly_and_a_rerun_resumes(tmp_path, cli):
    with SmtpServer() as sink:
        emails = write_project(
            tmp_path,
            url=f"smtp://127.0.0.1:{sink.port}",
            readers=30,
            delivery="  error_threshold: 5\n  retries: 0",
        )
        sink.refuse_everyone = "451 4.3.0 Mail server temporarily rejected message"
        stopped = cli("send", "--now", NOW, cwd=tmp_path)
        assert stopped.returncode == 1, stopped.stderr
        assert "delivery.error_threshold" in stopped.stderr and "run `digest send` again" in stopped.stderr
        assert "sent 0," in stopped.stdout and "not reached" in stopped.stdout
        assert sink.total() == 0
        assert "claimed" not in ledger_statuses(tmp_path).values()  # nothing left looking in flight

        sink.refuse_everyone = None
        resumed = cli("send", "--now", NOW, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert sink.counts() == {email: 1 for email in emails}


def test_a_relay_that_refuses_us_stops_the_run_and_bounces_nobody(tmp_path):
    with SmtpServer() as sink:
        write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=20)
        sink.refuse_everyone = "554 5.7.1 <reader@example.org>: Relay access denied"
        report = send_project(tmp_path)
    assert report.exit_code == 1 and report.sent == 0 and report.bounced == 0
    assert "Relay access denied" in report.stopped
    assert report.failed <= 4 and report.not_reached >= 16  # only the first message of each connection
    with State(tmp_path / "state.db", readonly=True) as state:
        assert state.bounced() == {}


def test_dry_run_sends_and_records_nothing_and_to_sends_to_one_reader(tmp_path):
    with SmtpServer() as sink:
        emails = write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=5)
        dry = send_project(tmp_path, dry_run=True)
        assert dry.dry_run == 5 and sink.total() == 0 and sink.connections == 0
        assert not (tmp_path / "state.db").exists()
        one = send_project(tmp_path, to=emails[3].upper())
    assert one.sent == 1 and sink.counts() == {emails[3]: 1}


@pytest.mark.parametrize("smtputf8", [True, False])
def test_an_address_with_non_ascii_letters_needs_a_server_that_takes_them(tmp_path, smtputf8):
    with SmtpServer(smtputf8=smtputf8) as sink:
        write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=2)
        listed = (tmp_path / "subscribers.yaml").read_text()
        (tmp_path / "subscribers.yaml").write_text(listed + "  - email: zoë@exämple.org\n    name: Zoë\n")
        report = send_project(tmp_path)
    if smtputf8:
        assert report.sent == 3 and "zoë@exämple.org" in sink.counts()
    else:  # that reader fails with the reason; the others are not held up, nobody bounces
        assert (report.sent, report.failed, report.bounced) == (2, 1, 0)
        assert any("cannot take non-ASCII addresses (no SMTPUTF8)" in p for p in report.problems)
