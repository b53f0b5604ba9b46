"""What comes back after sending: bounce reports (RFC 3464), complaints (RFC 5965) and mailed
unsubscribe requests, read by `digest inbox` from a Maildir and from a real IMAP server
(Dovecot), after a real `digest send` to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import imaplib
import mailbox
import os
import ssl
from pathlib import Path

import pytest

from digest import inbox, tokens
from digest.mail import message_id
from digest.store import yamllist

from .conftest import FIXTURES, run_cli
from .helpers_imap import PASSWORD, SKIP_REASON, USER, ImapServer, available
from .helpers_smtp import NOW, SmtpServer, write_project

SECRET = "test-secret-for-the-inbox-0123456789abcdef"
ADDRESS = "bounces@example.org"
ISSUE = NOW[:10]


def report(name: str, **values: str) -> bytes:
    """A message from tests/fixtures/inbox with its {fields} filled in, CRLF line ends."""
    text = (FIXTURES / "inbox" / f"{name}.eml.txt").read_text()
    defaults = {
        "code": "550",
        "status": "5.1.1",
        "action": "failed",
        "message_id": "<none@example.org>",
        "diagnostic": "Recipient address rejected: User unknown in virtual mailbox table",
    }
    return text.format(**{**defaults, **values}).replace("\n", "\r\n").encode()


def verp(email: str) -> str:
    return tokens.verp_address(ADDRESS, SECRET, email)


def nothing_sent(_: str):
    return None


# --- telling messages apart -----------------------------------------------------------------------


def test_a_hard_bounce_that_came_back_to_the_readers_own_address_is_a_bounce():
    email = "ada@example.org"
    (found,) = inbox.read(
        report("dsn_postfix", to=verp(email), email=email),
        secret=SECRET,
        address=ADDRESS,
        sent_to=nothing_sent,
    )
    assert (found.kind, found.email, found.code) == (inbox.BOUNCE, email, 550)
    assert found.reason.startswith("5.1.1") and "User unknown" in found.reason


def test_a_report_that_quotes_a_message_the_ledger_sent_counts_without_the_tag():
    email, mid = "ada@example.org", message_id(ISSUE, "ada@example.org", "papers@example.org")
    raw = report("dsn_postfix", to=ADDRESS, email=email, message_id=mid)
    (found,) = inbox.read(
        raw, secret=SECRET, address=ADDRESS, sent_to=lambda m: (email, ISSUE) if m == mid else None
    )
    assert (found.kind, found.issue) == (inbox.BOUNCE, ISSUE)


def test_a_forged_bounce_for_someone_else_changes_nothing():
    raw = report("dsn_postfix", to=verp("mallory@example.org"), email="ada@example.org")
    (found,) = inbox.read(raw, secret=SECRET, address=ADDRESS, sent_to=nothing_sent)
    assert found.kind == inbox.OTHER and "did not come back to ada@example.org's address" in found.reason


def test_a_delay_or_a_full_mailbox_is_a_soft_bounce():
    email = "ada@example.org"
    raw = report("dsn_postfix", to=verp(email), email=email, action="delayed", status="4.2.2", code="452",
                 diagnostic="Mailbox full")  # fmt: skip
    (found,) = inbox.read(raw, secret=SECRET, address=ADDRESS, sent_to=nothing_sent)
    assert found.kind == inbox.SOFT


def test_a_complaint_and_a_mailed_unsubscribe_name_their_reader_and_an_auto_reply_is_left_alone():
    def one(raw: bytes) -> inbox.Read:
        (found,) = inbox.read(raw, secret=SECRET, address=ADDRESS, sent_to=nothing_sent)
        return found

    complaint = one(report("arf_complaint", to=verp("grace@example.org"), email="grace@example.org"))
    assert (complaint.kind, complaint.email) == (inbox.COMPLAINT, "grace@example.org")
    to = tokens.plus_address(ADDRESS, tokens.UNSUBSCRIBE_TAG)
    asked = one(report("mailto_unsubscribe", to=to, email="alan@example.org"))
    assert (asked.kind, asked.email) == (inbox.UNSUBSCRIBE, "alan@example.org")
    away = one(report("out_of_office", to=to, email="alan@example.org"))
    assert away.kind == inbox.OTHER


# --- end to end: send, reports come back, `digest inbox` -------------------------------------------


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    monkeypatch.setenv("DIGEST_INBOX_PASSWORD", PASSWORD)


def _project(root: Path, sink: SmtpServer, inbox_url: str) -> list[str]:
    emails = write_project(root, url=f"smtp://127.0.0.1:{sink.port}", readers=4)
    with (root / "digest.yaml").open("a") as handle:
        handle.write(f"inbox:\n  url: {inbox_url}\n  address: {ADDRESS}\n")
    sent = run_cli("send", "--now", NOW, cwd=root)
    assert sent.returncode == 0, sent.stderr
    return emails


def _reports(emails: list[str]) -> list[bytes]:
    """A hard bounce for the first reader, a complaint from the second, a mailed unsubscribe
    from the third, and a forged bounce for the fourth (sent to another reader's address)."""
    return [
        report("dsn_postfix", to=verp(emails[0]), email=emails[0]),
        report(
            "arf_complaint",
            to=verp(emails[1]),
            email=emails[1],
            message_id=message_id(ISSUE, emails[1], "papers@example.org"),
        ),  # fmt: skip
        report(
            "mailto_unsubscribe", to=tokens.plus_address(ADDRESS, tokens.UNSUBSCRIBE_TAG), email=emails[2]
        ),
        report("dsn_postfix", to=verp(emails[0]), email=emails[3]),
    ]


def _statuses(root: Path) -> dict[str, str]:
    return {s.email: s.status for s in yamllist.load(root / "subscribers.yaml")}


def test_every_reader_is_sent_from_their_own_return_path_and_the_mailto_goes_to_the_inbox(tmp_path):
    with SmtpServer() as sink:
        emails = _project(tmp_path / "p", sink, "maildir://mail")
    for received in sink.received:
        assert received.mail_from == verp(received.rcpt)
        assert b"<mailto:bounces+unsubscribe@example.org?subject=unsubscribe>" in received.data
    assert {r.rcpt for r in sink.received} == set(emails)


def test_reports_in_a_maildir_bounce_unsubscribe_and_leave_the_forged_one_unread(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    box = mailbox.Maildir(root / "mail", create=True)
    with SmtpServer() as sink:
        emails = _project(root, sink, "maildir://mail")
        for raw in _reports(emails):
            box.add(raw)
        result = run_cli("inbox", cwd=root)
        assert result.returncode == 0, result.stderr
        assert (
            "read 4 messages: 1 bounced, 1 complaints, 1 unsubscribed, 0 soft bounces, 1 left unread"
            in result.stdout
        )
        statuses = _statuses(root)
        assert [statuses[e] for e in emails] == ["bounced", "unsubscribed", "unsubscribed", "active"]
        bounces = run_cli("bounces", cwd=root)
        assert emails[0] in bounces.stdout and "5.1.1" in bounces.stdout
        again = run_cli("inbox", cwd=root)  # only the forged report is still unread
        assert "read 1 message: 0 bounced" in again.stdout and "1 left unread" in again.stdout
        next_day = run_cli("send", "--now", "2026-11-27T07:00:00+00:00", cwd=root)
        assert next_day.returncode == 0, next_day.stderr
    later = [r.rcpt for r in sink.received[len(emails) :]]
    assert later == [emails[3]]  # the bounced and the unsubscribed are not mailed again
    assert sorted(p.name for p in (root / "mail" / "new").iterdir()) != []  # the forged one, untouched


def test_a_dry_run_changes_nothing_and_marks_nothing_read(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    box = mailbox.Maildir(root / "mail", create=True)
    with SmtpServer() as sink:
        emails = _project(root, sink, "maildir://mail")
    box.add(report("dsn_postfix", to=verp(emails[0]), email=emails[0]))
    dry = run_cli("inbox", "--dry-run", cwd=root)
    assert dry.returncode == 0 and "dry run: would act on 1 message: 1 bounced" in dry.stdout
    assert _statuses(root)[emails[0]] == "active"
    assert len(list((root / "mail" / "new").iterdir())) == 1


@pytest.mark.skipif(not available(), reason=SKIP_REASON)
def test_reports_on_a_real_imap_server_are_read_over_tls_and_marked_read(tmp_path):
    server = ImapServer().start()
    try:
        root = tmp_path / "p"
        with SmtpServer() as sink:
            emails = _project(root, sink, server.url())
        client = imaplib.IMAP4_SSL(
            "127.0.0.1", server.port, ssl_context=ssl.create_default_context(cafile=str(server.cert))
        )
        client.login(USER, PASSWORD)
        for raw in _reports(emails):
            client.append("INBOX", None, None, raw)
        untrusted = run_cli("inbox", cwd=root)  # the self-signed certificate is not in the CA store
        assert untrusted.returncode == 2 and "certificate cannot be trusted" in untrusted.stderr
        os.environ["SSL_CERT_FILE"] = str(server.cert)
        try:
            result = run_cli("inbox", cwd=root)
        finally:
            del os.environ["SSL_CERT_FILE"]
        assert result.returncode == 0, result.stderr
        assert "1 bounced, 1 complaints, 1 unsubscribed, 0 soft bounces, 1 left unread" in result.stdout
        client.select("INBOX")
        _, unseen = client.uid("SEARCH", "UNSEEN")
        assert len(unseen[0].split()) == 1  # the forged report, left for a person
        client.logout()
        assert [_statuses(root)[e] for e in emails] == ["bounced", "unsubscribed", "unsubscribed", "active"]
    finally:
        server.stop()
