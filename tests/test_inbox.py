"""What comes back after sending: bounce reports (RFC 3464), complaints (RFC 5965) and mailed
unsubscribe requests, read by `digest inbox` from a Maildir and from a real IMAP server
(Dovecot), after a real `digest send` to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import hashlib
import imaplib
import mailbox
import os
import ssl
from pathlib import Path

import pytest

from digest.compose import tokens
from digest.compose.mail import message_id
from digest.inbox import reports as inbox
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


def mailto(email: str) -> str:
    return tokens.unsubscribe_address(ADDRESS, SECRET, email)


# --- telling messages apart -----------------------------------------------------------------------


def test_a_hard_bounce_that_came_back_to_the_readers_own_address_is_a_bounce():
    email = "ada@example.org"
    (found,) = inbox.read(
        report("dsn_postfix", to=verp(email), email=email),
        secret=SECRET,
        address=ADDRESS,
    )
    assert (found.kind, found.email, found.code) == (inbox.BOUNCE, email, 550)
    assert found.reason.startswith("5.1.1") and "User unknown" in found.reason


def test_a_report_that_quotes_a_message_id_made_for_the_reader_counts_without_the_verp_address():
    email, mid = "ada@example.org", message_id(ISSUE, "ada@example.org", "papers@example.org", SECRET)
    raw = report("dsn_postfix", to=ADDRESS, email=email, message_id=mid)
    (found,) = inbox.read(raw, secret=SECRET, address=ADDRESS)
    assert (found.kind, found.issue) == (inbox.BOUNCE, ISSUE)


def test_a_forged_bounce_for_someone_else_changes_nothing():
    raw = report("dsn_postfix", to=verp("mallory@example.org"), email="ada@example.org")
    (found,) = inbox.read(raw, secret=SECRET, address=ADDRESS)
    assert found.kind == inbox.OTHER and "did not come back to ada@example.org's address" in found.reason


def test_a_delay_or_a_full_mailbox_is_a_soft_bounce():
    email = "ada@example.org"
    raw = report("dsn_postfix", to=verp(email), email=email, action="delayed", status="4.2.2", code="452",
                 diagnostic="Mailbox full")  # fmt: skip
    (found,) = inbox.read(raw, secret=SECRET, address=ADDRESS)
    assert found.kind == inbox.SOFT


def test_a_complaint_and_a_mailed_unsubscribe_name_their_reader_and_an_auto_reply_is_left_alone():
    def one(raw: bytes) -> inbox.Read:
        (found,) = inbox.read(raw, secret=SECRET, address=ADDRESS)
        return found

    complaint = one(report("arf_complaint", to=verp("grace@example.org"), email="grace@example.org"))
    assert (complaint.kind, complaint.email) == (inbox.COMPLAINT, "grace@example.org")
    to = mailto("alan@example.org")
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
            message_id=message_id(ISSUE, emails[1], "papers@example.org", SECRET),
        ),  # fmt: skip
        report("mailto_unsubscribe", to=mailto(emails[2]), email=emails[2]),
        report("dsn_postfix", to=verp(emails[0]), email=emails[3]),
    ]


def _statuses(root: Path) -> dict[str, str]:
    return {s.email: s.status for s in yamllist.load(root / "subscribers.yaml")}


def test_every_reader_is_sent_from_their_own_return_path_and_the_mailto_goes_to_the_inbox(tmp_path):
    with SmtpServer() as sink:
        emails = _project(tmp_path / "p", sink, "maildir://mail")
    for received in sink.received:
        assert received.mail_from == verp(received.rcpt)
        assert f"<mailto:{mailto(received.rcpt)}?subject=unsubscribe>".encode() in received.data
    assert {r.rcpt for r in sink.received} == set(emails)


def test_reports_in_a_maildir_bounce_unsubscribe_and_leave_the_forged_one_unread(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    box = mailbox.Maildir(root / "mail", create=True)
    with SmtpServer() as sink:
        emails = _project(root, sink, "maildir://mail")
        for raw in _reports(emails):
            box.add(raw)
        result = run_cli("inbox", "--now", NOW, cwd=root)
        assert result.returncode == 0, result.stderr
        assert (
            "read 4 messages: 1 bounced, 1 complaints, 1 unsubscribed, 0 soft bounces, 1 left unread"
            in result.stdout
        )
        statuses = _statuses(root)
        assert [statuses[e] for e in emails] == ["bounced", "unsubscribed", "unsubscribed", "active"]
        bounces = run_cli("bounces", cwd=root)
        assert emails[0] in bounces.stdout and "5.1.1" in bounces.stdout
        again = run_cli("inbox", "--now", NOW, cwd=root)  # only the forged report is still unread
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
    dry = run_cli("inbox", "--dry-run", "--now", NOW, cwd=root)
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
        untrusted = run_cli(
            "inbox", "--now", NOW, cwd=root
        )  # the self-signed certificate is not in the CA store
        assert untrusted.returncode == 2 and "certificate cannot be trusted" in untrusted.stderr
        os.environ["SSL_CERT_FILE"] = str(server.cert)
        try:
            result = run_cli("inbox", "--now", NOW, cwd=root)
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


# --- forgeries: what anybody without DIGEST_SECRET can compute or spoof ----------------------------


def unkeyed_message_id(issue: str, email: str) -> str:
    """The Message-ID digest made before issue 23: a hash of public values, no secret."""
    key = hashlib.sha256(f"{issue}\0{email.lower()}".encode()).hexdigest()[:24]
    return f"<{issue}.{key}@example.org>"


def forgeries(emails: list[str]) -> list[bytes]:
    """What a stranger can mail knowing only the readers' addresses and the day: reports to the
    plain inbox address quoting a computed Message-ID (a bounce, a complaint), a spoofed From
    to the untagged unsubscribe address, and one to another reader's tagged mailto."""
    return [
        report("dsn_postfix", to=ADDRESS, email=emails[0], message_id=unkeyed_message_id(ISSUE, emails[0])),
        report("arf_complaint", to=ADDRESS, email=emails[1], message_id=unkeyed_message_id(ISSUE, emails[1])),
        report("mailto_unsubscribe", to=tokens.plus_address(ADDRESS, "unsubscribe"), email=emails[2]),
        report("mailto_unsubscribe", to=mailto(emails[0]), email=emails[3]),
    ]


def test_reports_and_unsubscribes_forged_without_the_secret_change_nobody_and_stay_unread(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    box = mailbox.Maildir(root / "mail", create=True)
    with SmtpServer() as sink:
        emails = _project(root, sink, "maildir://mail")
    for raw in forgeries(emails):
        box.add(raw)
    result = run_cli("inbox", "--now", NOW, cwd=root)
    assert result.returncode == 0, result.stderr
    assert (
        "read 4 messages: 0 bounced, 0 complaints, 0 unsubscribed, 0 soft bounces, 4 left unread"
        in result.stdout
    )
    assert set(_statuses(root).values()) == {"active"}
    assert run_cli("bounces", cwd=root).stdout.startswith("0 bounced addresses")
    assert len(list((root / "mail" / "new").iterdir())) == 4


def test_a_message_id_is_keyed_by_the_secret_and_the_reader():
    ids = {
        message_id(ISSUE, "ada@example.org", "papers@example.org", SECRET),
        message_id(ISSUE, "ada@example.org", "papers@example.org", SECRET + "x"),
        message_id(ISSUE, "grace@example.org", "papers@example.org", SECRET),
        unkeyed_message_id(ISSUE, "ada@example.org"),
    }
    assert len(ids) == 4
    assert message_id(ISSUE, "Ada@Example.org", "papers@example.org", SECRET) in ids  # one per address


def test_an_unsubscribe_mailed_to_the_readers_own_tagged_address_counts_whoever_it_is_from_only_for_them():
    def one(raw: bytes) -> inbox.Read:
        (found,) = inbox.read(raw, secret=SECRET, address=ADDRESS)
        return found

    spoofed = one(report("mailto_unsubscribe", to=mailto("ada@example.org"), email="grace@example.org"))
    assert spoofed.kind == inbox.OTHER and "not grace@example.org's own" in spoofed.reason
    old = one(report("mailto_unsubscribe", to="bounces+unsubscribe@example.org", email="ada@example.org"))
    assert old.kind == inbox.OTHER and "untagged" in old.reason
    elsewhere_to = mailto("ada@example.org").replace("example.org", "evil.example")
    elsewhere = one(report("mailto_unsubscribe", to=elsewhere_to, email="ada@example.org"))
    assert elsewhere.kind == inbox.OTHER
    upper = one(report("mailto_unsubscribe", to=mailto("ada@example.org").upper(), email="ada@example.org"))
    assert (upper.kind, upper.email) == (inbox.UNSUBSCRIBE, "ada@example.org")


# --- one poison message: set aside on its own, the run goes on ------------------------------------


def poison(depth: int = 1000) -> bytes:
    """About 1,000 nested multipart/mixed parts, 60 KB: the email package recurses per level."""
    inner = b"Content-Type: text/plain\r\n\r\nx\r\n"
    for level in range(depth, 0, -1):
        b = b"b%d" % level
        inner = b'Content-Type: multipart/mixed; boundary="%s"\r\n\r\n--%s\r\n%s--%s--\r\n' % (b, b, inner, b)
    return (
        b"From: someone@example.net\r\nTo: bounces@example.org\r\nSubject: poison\r\nMIME-Version: 1.0\r\n"
        + inner
    )


def test_a_poison_message_a_forged_report_and_a_genuine_one_in_a_maildir(tmp_path):
    """The genuine one is applied, the forged one left unread, the poison one set aside (flagged,
    marked read) and reported: exit 1 for it alone. A second run reads only the forged one."""
    root = tmp_path / "p"
    root.mkdir()
    box = mailbox.Maildir(root / "mail", create=True)
    with SmtpServer() as sink:
        emails = _project(root, sink, "maildir://mail")
    poisoned = box.add(poison())
    forged = box.add(forgeries(emails)[0])
    genuine = box.add(report("dsn_postfix", to=verp(emails[1]), email=emails[1]))
    result = run_cli("inbox", "--now", NOW, cwd=root)
    assert result.returncode == 1, result.stderr
    assert (
        "read 3 messages: 1 bounced, 0 complaints, 0 unsubscribed, 0 soft bounces, 1 left unread, 1 set aside"
        in result.stdout
    )
    assert f"message {poisoned} ('poison'): 1001 parts (at most 100); set aside" in result.stderr
    assert [_statuses(root)[e] for e in emails] == ["active", "bounced", "active", "active"]
    flags = {name.split(":")[0]: name.partition(":2,")[2] for name in os.listdir(root / "mail" / "cur")}
    assert flags == {poisoned: "FS", genuine: "S"}
    assert os.listdir(root / "mail" / "new") == [forged]
    again = run_cli("inbox", "--now", NOW, cwd=root)
    assert again.returncode == 0, again.stderr
    assert "read 1 message: 0 bounced" in again.stdout and "1 left unread" in again.stdout


def test_a_message_over_the_size_cap_or_the_part_cap_is_unreadable_and_a_deep_one_under_it_is_read():
    with pytest.raises(inbox.Unreadable, match="parts"):
        inbox.read(poison(inbox.MAX_PARTS + 1), secret=SECRET, address=ADDRESS)
    with pytest.raises(inbox.Unreadable, match="larger than"):
        inbox.read(b"Subject: x\r\n\r\n" + b"x" * inbox.MAX_BYTES, secret=SECRET, address=ADDRESS)
    (found,) = inbox.read(poison(inbox.MAX_PARTS - 1), secret=SECRET, address=ADDRESS)
    assert found.kind == inbox.OTHER


@pytest.mark.skipif(not available(), reason=SKIP_REASON)
def test_a_poison_message_on_a_real_imap_server_is_flagged_and_the_reports_behind_it_are_applied(tmp_path):
    server = ImapServer().start()
    try:
        root = tmp_path / "p"
        with SmtpServer() as sink:
            emails = _project(root, sink, server.url())
        client = imaplib.IMAP4_SSL(
            "127.0.0.1", server.port, ssl_context=ssl.create_default_context(cafile=str(server.cert))
        )
        client.login(USER, PASSWORD)
        for raw in (
            poison(),
            forgeries(emails)[0],
            report("dsn_postfix", to=verp(emails[1]), email=emails[1]),
        ):
            client.append("INBOX", None, None, raw)
        os.environ["SSL_CERT_FILE"] = str(server.cert)
        try:
            result = run_cli("inbox", "--now", NOW, cwd=root)
            again = run_cli("inbox", "--now", NOW, cwd=root)
        finally:
            del os.environ["SSL_CERT_FILE"]
        assert result.returncode == 1 and "1 bounced" in result.stdout and "1 set aside" in result.stdout
        assert again.returncode == 0 and "read 1 message" in again.stdout
        client.select("INBOX")
        _, flagged = client.uid("SEARCH", "FLAGGED")
        _, unseen = client.uid("SEARCH", "UNSEEN")
        assert (len(flagged[0].split()), len(unseen[0].split())) == (1, 1)
        client.logout()
        assert [_statuses(root)[e] for e in emails] == ["active", "bounced", "active", "active"]
    finally:
        server.stop()
