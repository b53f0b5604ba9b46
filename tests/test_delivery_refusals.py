"""Delivery faults against a real SMTP server (aiosmtpd on loopback): internationalised
addresses, 5xx replies that are about the message rather than the reader, a relay that
answers the final dot late or never, and a delivery URL that must not print its password.
What the server received is the truth; the ledger and the report must agree with it."""

from __future__ import annotations

import sqlite3
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest

from digest.compose import build
from digest.store import yamllist as subscribers
from digest.store.sqlite import SqliteDatabase as State

from .helpers_smtp import NOW, SmtpServer, send_project, write_project
from .helpers_web import confirm_link, confirmation, csrf_form, serving
from .test_web import FORM, main_text, new_project

IDN = "idn@bücher.example"
IDN_ASCII = "idn@xn--bcher-kva.example"
UTF8_LOCAL = "jörg@bücher.example"


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "test-secret-for-delivery-refusals-0123456789")


def _ledger(root: Path) -> dict[str, tuple[str, str | None]]:
    db = sqlite3.connect(root / "state.db")
    rows = db.execute("SELECT email, status, error FROM deliveries")
    return {email: (status, error) for email, status, error in rows}


def _add_readers(root: Path, *entries: str) -> None:
    listed = (root / "subscribers.yaml").read_text()
    (root / "subscribers.yaml").write_text(listed + "".join(entries))


def _statuses(root: Path) -> dict[str, str]:
    return {s.email: s.status for s in subscribers.load(root / "subscribers.yaml")}


# --- item 9: internationalised addresses ----------------------------------------------------


def test_an_idn_reader_with_a_name_is_mailed_at_the_ascii_form_of_its_domain(tmp_path):
    with SmtpServer() as sink:  # no SMTPUTF8: an IDN domain does not need it
        emails = write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=2)
        _add_readers(tmp_path, f"  - email: {IDN}\n    name: Idn Reader\n", "  - email: last@example.org\n")
        report = send_project(tmp_path)
    assert report.exit_code == 0 and report.sent == 4, report.problems
    assert sink.counts() == {emails[0]: 1, emails[1]: 1, IDN_ASCII: 1, "last@example.org": 1}
    received = next(r for r in sink.received if r.rcpt == IDN_ASCII)
    message = message_from_bytes(received.data, policy=policy.default)
    assert message["To"] == f"Idn Reader <{IDN_ASCII}>"
    assert {status for status, _ in _ledger(tmp_path).values()} == {"sent"}


def test_a_non_ascii_local_part_goes_by_smtputf8_when_the_server_offers_it(tmp_path):
    with SmtpServer(smtputf8=True) as sink:
        write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=1)
        _add_readers(tmp_path, f"  - email: {UTF8_LOCAL}\n    name: Jörg Müller\n")
        report = send_project(tmp_path)
    assert report.sent == 2, report.problems
    (received,) = [r for r in sink.received if r.rcpt.startswith("jörg@")]
    assert message_from_bytes(received.data, policy=policy.default)["To"].addresses[0].display_name == (
        "Jörg Müller"
    )


def test_a_non_ascii_local_part_without_smtputf8_fails_that_reader_alone(tmp_path):
    with SmtpServer() as sink:
        emails = write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=1)
        _add_readers(tmp_path, f"  - email: {UTF8_LOCAL}\n    name: Jörg\n", "  - email: last@example.org\n")
        report = send_project(tmp_path)
    assert (report.sent, report.failed, report.bounced, report.exit_code) == (2, 1, 0, 1)
    assert sink.counts() == {emails[0]: 1, "last@example.org": 1}
    assert any(UTF8_LOCAL in p and "SMTPUTF8" in p for p in report.problems)
    assert _ledger(tmp_path)[UTF8_LOCAL][0] == "failed"  # not left 'claimed'


def test_a_reader_whose_message_cannot_be_built_fails_alone_and_the_run_goes_on(tmp_path, monkeypatch):
    # A fault no real reader triggers any more (the IDN crash was one): a reader's message
    # that cannot be put together, for whatever reason, costs that reader and nobody else.
    real = build.Builder.message

    def message(self, reader, picks):
        if reader.email == "broken@example.org":
            raise UnicodeEncodeError("ascii", reader.email, 0, 1, "cannot be put in a header")
        return real(self, reader, picks)

    monkeypatch.setattr(build.Builder, "message", message)
    with SmtpServer() as sink:
        emails = write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=2)
        _add_readers(tmp_path, "  - email: broken@example.org\n", "  - email: last@example.org\n")
        report = send_project(tmp_path)
        assert (report.sent, report.failed, report.exit_code) == (3, 1, 1)
        assert sink.counts() == {emails[0]: 1, emails[1]: 1, "last@example.org": 1}
        assert any("broken@example.org" in p for p in report.problems)
        assert _ledger(tmp_path)["broken@example.org"][0] == "failed"

        monkeypatch.setattr(build.Builder, "message", real)
        again = send_project(tmp_path)  # the next run tries that reader again
    assert (again.sent, again.skipped) == (1, 3)


def test_subscribe_with_an_idn_address_sends_its_confirmation(project, cli):
    result = cli("subscribe", IDN, "--name", "Idn Reader", cwd=project)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert subscribers.find(project / "subscribers.yaml", IDN).status == "pending"
    eml = project / "outbox" / "confirmations" / f"{IDN}.eml"
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["To"] == f"Idn Reader <{IDN_ASCII}>"
    assert "/confirm?token=" in message.get_body(("plain",)).get_content()


def test_the_web_form_takes_an_idn_address_and_its_link_activates_it(tmp_path):
    project = new_project(tmp_path)
    with serving(project) as base:
        with httpx.Client(base_url=base) as client:
            token = csrf_form(client, "/subscribe")
            answer = client.post("/subscribe", data={"csrf": token, "email": IDN, **FORM})
        assert answer.status_code == 200
        link = confirm_link(confirmation(project, IDN))
        page = httpx.get(link)
        token = page.text.split('name="token" value="', 1)[1].split('"', 1)[0]
        done = httpx.post(f"{base}/confirm", data={"token": token})
    assert done.status_code == 200 and "You're subscribed" in main_text(done)
    assert subscribers.find(project / "subscribers.yaml", IDN).status == "active"


# --- item 10: what a 5xx is about -----------------------------------------------------------


def test_a_5xx_to_data_about_the_message_fails_it_and_keeps_the_reader(tmp_path):
    with SmtpServer() as sink:
        emails = write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=5)
        sink.plan(emails[1], "data 552 5.3.4 Message size exceeds fixed limit")
        sink.plan(emails[2], "data 554 5.7.1 Message rejected as spam")
        sink.plan(emails[3], "data 554 Transaction failed")
        first = send_project(tmp_path)
        assert (first.sent, first.failed, first.bounced, first.retried) == (2, 3, 0, 0)
        assert any("552 5.3.4" in p for p in first.problems)
        with State(tmp_path / "state.db", readonly=True) as state:
            assert state.bounced() == {}
        assert set(_statuses(tmp_path).values()) == {"active"}
        assert {_ledger(tmp_path)[e][0] for e in emails[1:4]} == {"failed"}

        second = send_project(tmp_path)  # the message is refused, not the reader: they are mailed again
    assert (second.sent, second.skipped) == (3, 2)
    assert sink.counts() == {email: 1 for email in emails}


@pytest.mark.parametrize(
    "fault",
    [
        "rcpt 550 5.1.1 <x>: Recipient address rejected: User unknown",
        "rcpt 550 Mailbox unavailable",
        "rcpt 551 User not local",
        "rcpt 553 Mailbox name not allowed",
        "data 554 5.1.1 Recipient address rejected",
        "data 550 5.1.2 Bad destination system address",
    ],
)
def test_a_refusal_about_the_recipient_bounces_it(tmp_path, fault):
    with SmtpServer() as sink:
        emails = write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=3)
        sink.plan(emails[1], fault)
        report = send_project(tmp_path)
    assert (report.sent, report.bounced, report.failed) == (2, 1, 0)
    assert _statuses(tmp_path)[emails[1]] == "bounced"


@pytest.mark.parametrize(
    "fault",
    [
        "rcpt 552 5.2.2 Mailbox full",
        "rcpt 550 5.7.1 Message refused by policy",
        "rcpt 554 Transaction failed",
        "rcpt 521 5.3.2 Does not accept mail",
    ],
)
def test_a_rcpt_refusal_that_is_not_about_the_address_fails_the_message_only(tmp_path, fault):
    with SmtpServer() as sink:
        emails = write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=3)
        sink.plan(emails[1], fault)
        report = send_project(tmp_path)
    assert (report.sent, report.bounced, report.failed) == (2, 0, 1)
    assert _statuses(tmp_path)[emails[1]] == "active"


def test_a_refusal_of_our_own_sender_address_stops_the_run_and_bounces_nobody(tmp_path):
    with SmtpServer() as sink:
        write_project(tmp_path, url=f"smtp://127.0.0.1:{sink.port}", readers=10)
        sink.refuse_everyone = "553 5.1.8 <papers@example.org>: Sender address rejected: Domain not found"
        report = send_project(tmp_path)
    assert report.bounced == 0 and report.sent == 0 and "Sender address rejected" in report.stopped
    assert set(_statuses(tmp_path).values()) == {"active"}


# --- item 11: the final dot -------------------------------------------------------------------


def test_a_relay_slow_to_answer_the_final_dot_is_waited_for_and_gets_the_message_once(tmp_path):
    with SmtpServer() as sink:
        emails = write_project(
            tmp_path,
            url=f"smtp://127.0.0.1:{sink.port}",
            readers=3,
            delivery="  timeout: 0.5\n  final_reply_timeout: 30",
        )
        sink.plan(emails[1], "slow-data 2")  # far longer than `timeout`, well within RFC 5321's wait
        report = send_project(tmp_path)
    assert report.exit_code == 0, report.problems
    assert (report.sent, report.retried, report.uncertain) == (3, 0, 0)
    assert sink.counts() == {email: 1 for email in emails}


def test_no_answer_to_the_final_dot_counts_the_reader_uncertain_and_never_resends(tmp_path, cli):
    with SmtpServer() as sink:
        emails = write_project(
            tmp_path,
            url=f"smtp://127.0.0.1:{sink.port}",
            readers=3,
            delivery="  timeout: 0.5\n  final_reply_timeout: 0.5",
        )
        sink.plan(emails[1], "slow-data 3")  # the relay takes the message and answers too late
        first = cli("send", "--now", NOW, cwd=tmp_path)
        assert first.returncode == 1, first.stderr
        assert "sent 2," in first.stdout and "uncertain 1" in first.stdout
        assert emails[1] in first.stderr and "uncertain" in first.stderr
        status, error = _ledger(tmp_path)[emails[1]]
        assert status == "sent" and error.startswith("uncertain: ")
        assert sink.wait_for(3)

        second = send_project(tmp_path)
    assert (second.sent, second.skipped, second.uncertain) == (0, 3, 0)
    assert sink.counts() == {email: 1 for email in emails}  # one copy each, however many runs


# --- item 12: the password in a delivery URL --------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "smtp://digest:hunter2-secret@",
        "smtp://digest:hunter2-secret@:587",
        "smtps://:hunter2-secret@",
        "smtp://digest:hunter2-secret@mail.example.org:587",
        "smtp://digest:hunter2-secret@mail.example.org:smtp",
        "smtp://digest:hunter2/secret@mail.example.org:587",
        "smtp://digest:hunter2?secret@mail.example.org",
    ],
)
def test_a_delivery_url_with_a_password_never_prints_it(tmp_path, cli, url):
    write_project(tmp_path, url=url, readers=1)
    result = cli("send", "--now", NOW, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr + result.stdout, result.stderr
    assert "DIGEST_SMTP_PASSWORD" in result.stderr and "digest.yaml:" in result.stderr


# --- a missing SMTP password is a configuration error -------------------------------------


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]], ids=["send", "dry-run"])
def test_a_user_in_the_delivery_url_without_its_password_is_a_config_error(
    tmp_path, cli, monkeypatch, dry_run
):
    monkeypatch.delenv("DIGEST_SMTP_PASSWORD", raising=False)
    with SmtpServer() as sink:
        write_project(tmp_path, url=f"smtp://digest@127.0.0.1:{sink.port}", readers=2)
        result = cli("send", "--now", NOW, *dry_run, cwd=tmp_path)
        assert sink.received == [] and sink.connections == 0
    assert result.returncode == 2, result.stdout + result.stderr
    lines = (tmp_path / "digest.yaml").read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if text.strip().startswith("url: smtp://"))
    assert f"digest.yaml:{line}: delivery.url names user 'digest'" in result.stderr
    assert "DIGEST_SMTP_PASSWORD is not set" in result.stderr
    assert not (tmp_path / "state.db").exists() or _ledger(tmp_path) == {}


def test_the_scheduler_and_the_web_server_refuse_to_start_without_the_smtp_password(
    tmp_path, cli, monkeypatch
):
    monkeypatch.delenv("DIGEST_SMTP_PASSWORD", raising=False)
    write_project(tmp_path, url="smtp://digest@127.0.0.1:9", readers=1)
    for command in (["schedule"], ["serve", "--port", "0"], ["subscribe", "new@example.org"]):
        result = cli(*command, cwd=tmp_path)
        assert result.returncode == 2 and "DIGEST_SMTP_PASSWORD is not set" in result.stderr, command
    assert "new@example.org" not in (tmp_path / "subscribers.yaml").read_text()
