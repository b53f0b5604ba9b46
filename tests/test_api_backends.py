"""The mail providers' HTTP APIs as delivery backends (digest/delivery/providers.py), through the real
send loop, against the loopback server replaying the providers' documented answers
(tests/helpers_providers.py). What the server took per recipient is the truth; the ledger
must agree with it: nothing skipped, nothing doubled, a batch's answer read per message."""

from __future__ import annotations

import base64
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.delivery import sigv4
from digest.store import yamllist

from .helpers_http import ReplayServer, Reply
from .helpers_providers import BATCH, KEYS, Api, fixture
from .helpers_smtp import NOW, ledger_statuses, send_project, write_project

PROVIDERS = list(KEYS)
SUSPENDED = "AccountSuspendedException:"
UNSUBSCRIBE_POST = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"


def fixture_bytes(name: str) -> bytes:
    return json.dumps(fixture(name)).encode()


@pytest.fixture(autouse=True)
def _environment(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "test-secret-for-smtp-0123456789abcdef")
    for keys in KEYS.values():
        for name, value in keys.items():
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def _bounced(root: Path) -> set[str]:
    db = sqlite3.connect(root / "state.db")
    return {email for (email,) in db.execute("SELECT email FROM bounces")}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_thousand_readers_each_get_one_message_in_batches_with_a_429_mid_run_retried(tmp_path, provider):
    with ReplayServer() as server:
        api = Api.on(server, provider)
        api.throttle_on(2, retry_after="0")  # the second call: "slow down", the whole call refused
        emails = write_project(tmp_path, url=api.url, readers=1000, delivery="  error_threshold: 1000")
        report = send_project(tmp_path)
        assert report.exit_code == 0, report.problems[:3]
        assert api.accepted == {email: 1 for email in emails}  # every reader once: none doubled
        assert report.sent == 1000 and report.retried == api.batches[1] >= 1
        assert max(api.batches) <= BATCH[provider]
        if BATCH[provider] > 1:  # several messages a call, never all of them one by one
            assert len(api.batches) < 1000 / 10
        assert set(ledger_statuses(tmp_path).values()) == {"sent"}
        again = send_project(tmp_path)
    assert (again.sent, again.skipped) == (0, 1000) and api.accepted.total() == 1000


@pytest.mark.parametrize(
    ("provider", "kind", "outcome"),
    [
        ("postmark", "inactive", "bounced"),  # ErrorCode 406
        ("postmark", "invalid_to", "bounced"),  # ErrorCode 300 about 'To'
        ("postmark", "refused", "failed"),  # ErrorCode 300 about the message
        ("resend", "invalid_to", "bounced"),
        ("resend", "refused", "failed"),
        ("sendgrid", "invalid_to", "bounced"),
        ("sendgrid", "refused", "failed"),
        ("mailgun", "invalid_to", "bounced"),
        ("mailgun", "refused", "failed"),
        ("ses", "refused", "failed"),  # MessageRejected: about the message, never the address
    ],
)
def test_a_refusal_in_the_answer_marks_that_reader_alone_bounced_or_failed(tmp_path, provider, kind, outcome):
    with ReplayServer() as server:
        api = Api.on(server, provider)
        emails = write_project(tmp_path, url=api.url, readers=12)
        api.refuse(emails[3], kind)
        report = send_project(tmp_path)
        assert report.exit_code == 1 and report.sent == 11
        assert api.accepted == {e: 1 for e in emails if e != emails[3]}
        ledger = ledger_statuses(tmp_path)
        assert ledger[emails[3]] == "failed" and list(ledger.values()).count("sent") == 11
        assert (report.bounced, report.failed) == ((1, 0) if outcome == "bounced" else (0, 1))
        assert _bounced(tmp_path) == ({emails[3]} if outcome == "bounced" else set())
        status = {s.email: s.status for s in yamllist.load(tmp_path / "subscribers.yaml")}[emails[3]]
        assert status == ("bounced" if outcome == "bounced" else "active")
        problem = next(p for p in report.problems if emails[3] in p)
        assert provider in problem
        del api.refusals[emails[3]]
        again = send_project(tmp_path)
    # A bounced address is never mailed again; a refused message goes again next run.
    assert again.sent == (0 if outcome == "bounced" else 1)
    assert api.accepted[emails[3]] == (0 if outcome == "bounced" else 1)


def test_one_message_of_a_batch_refused_for_an_unknown_reason_is_retried_alone(tmp_path):
    with ReplayServer() as server:
        api = Api.on(server, "postmark")
        emails = write_project(tmp_path, url=api.url, readers=20, concurrency=1)
        api.refuse(emails[4], "unknown", once=True)
        report = send_project(tmp_path)
    assert (report.sent, report.retried, report.failed) == (20, 1, 0)
    assert api.accepted == {email: 1 for email in emails}
    # The others were taken the first time: only it went again, alone.
    assert api.batches[-1] == 1 and sum(api.batches[:-1]) == 20


def test_a_batch_whose_answer_never_came_is_uncertain_and_not_sent_again(tmp_path):
    with ReplayServer() as server:
        api = Api.on(server, "postmark")
        api.drop_on(1)  # the call is taken, then the connection drops before the answer
        emails = write_project(tmp_path, url=api.url, readers=30, delivery="  error_threshold: 100")
        report = send_project(tmp_path)
        dropped = api.batches[0]
        assert report.uncertain == dropped and report.sent == 30 - dropped and report.exit_code == 1
        assert "not sent again" in next(p for p in report.problems if "uncertain" in p)
        again = send_project(tmp_path)
    assert again.sent == 0 and api.accepted == {email: 1 for email in emails}


@pytest.mark.parametrize("provider", ["postmark", "resend"])
def test_a_batch_refused_with_a_body_that_is_not_json_fails_and_is_not_uncertain(tmp_path, provider):
    with ReplayServer() as server:
        api = Api.on(server, provider)
        api.reply_on(1, Reply(b"<html><h1>413 Request Entity Too Large</h1></html>", 413, "text/html"))
        emails = write_project(tmp_path, url=api.url, readers=5, concurrency=1)
        report = send_project(tmp_path)
        assert (
            report.uncertain == 0
            and report.failed == sum(api.batches[:1])
            and report.sent == 5 - report.failed
        )
        assert "413" in report.problems[0]
        again = send_project(tmp_path)
    assert again.sent == report.failed and api.accepted == {email: 1 for email in emails}


def test_a_retry_after_longer_than_max_wait_leaves_the_batch_for_the_next_run(tmp_path):
    with ReplayServer() as server:
        api = Api.on(server, "resend")
        api.throttle_on(1, retry_after="3600")
        emails = write_project(tmp_path, url=api.url, readers=5)
        report = send_project(tmp_path)
        assert report.sent == 0 and report.failed == 5
        assert "asks to wait 3600s, longer than delivery.max_wait" in report.problems[0]
        assert api.calls == 1  # not hammered: given up at once
        again = send_project(tmp_path)
    assert again.sent == 5 and api.accepted == {email: 1 for email in emails}


def test_the_retry_after_a_429_waits_as_long_as_the_provider_asked(tmp_path):
    with ReplayServer() as server:
        api = Api.on(server, "sendgrid")
        api.throttle_on(1, retry_after="1")
        write_project(tmp_path, url=api.url, readers=1, delivery="  max_wait: 5")
        assert send_project(tmp_path).sent == 1
        first, second = server.hits("/v3/mail/send")
    assert second.at - first.at >= 1.0  # the backoff alone (0.05 s) would have been sooner


@pytest.mark.parametrize(
    ("provider", "reply", "expected"),
    [
        ("postmark", Reply(json.dumps(fixture("postmark_422_token.json")).encode(), 422), "ErrorCode 10"),
        ("mailgun", Reply(b"Forbidden", 401, "text/plain"), "DIGEST_MAILGUN_API_KEY"),
        ("sendgrid", Reply(b'{"errors": [{"message": "Forbidden"}]}', 403), "DIGEST_SENDGRID_API_KEY"),
        (
            "ses",
            Reply(fixture_bytes("ses_account_suspended.json"), 400, headers={"X-Amzn-ErrorType": SUSPENDED}),
            "AccountSuspendedException",
        ),
    ],
)
def test_a_refused_key_or_account_stops_the_run_and_bounces_nobody(tmp_path, provider, reply, expected):
    with ReplayServer() as server:
        api = Api.on(server, provider)
        for call in range(1, 20):
            api.reply_on(call, reply)
        write_project(tmp_path, url=api.url, readers=8, concurrency=1)
        report = send_project(tmp_path)
    assert report.sent == 0 and report.bounced == 0 and report.exit_code == 1
    assert expected in report.stopped
    assert _bounced(tmp_path) == set()


def test_postmark_gets_the_message_fields_and_its_unsubscribe_headers(tmp_path):
    with ReplayServer() as server:
        api = Api.on(server, "postmark")
        (email,) = write_project(tmp_path, url=api.url.replace("?", "?stream=broadcast&"), readers=1)
        assert send_project(tmp_path).sent == 1
        (call,) = server.hits("/email/batch")
    (message,) = call.json()
    assert call.headers["x-postmark-server-token"] == "server-token-0000"
    assert message["To"] == email and message["From"] == "Test Papers <papers@example.org>"
    assert message["MessageStream"] == "broadcast" and message["Subject"]
    assert "<html" in message["HtmlBody"].lower() and "Paper" in message["TextBody"]
    headers = {h["Name"]: h["Value"] for h in message["Headers"]}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "https://papers.example.org" in headers["List-Unsubscribe"]
    assert "Feedback-ID" in headers and "Message-ID" in headers
    assert not {"From", "To", "Subject", "Content-Type", "MIME-Version"} & set(headers)


def test_ses_gets_the_composed_message_raw_and_a_sigv4_signature(tmp_path):
    with ReplayServer() as server:
        api = Api.on(server, "ses")
        (email,) = write_project(tmp_path, url=api.url.replace("?", "?configuration_set=digest&"), readers=1)
        assert send_project(tmp_path).sent == 1
        (call,) = server.hits("/v2/email/outbound-emails")
    body = call.json()
    raw = base64.b64decode(body["Content"]["Raw"]["Data"])
    assert UNSUBSCRIBE_POST in raw and b"Feedback-ID:" in raw
    assert body["Destination"] == {"ToAddresses": [email]}
    assert body["FromEmailAddress"] == "papers@example.org"
    assert body["ConfigurationSetName"] == "digest"
    authorization = call.headers["authorization"]
    day = call.headers["x-amz-date"][:8]
    scope = f"{day}/eu-west-1/ses/aws4_request"
    assert authorization.startswith(f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{scope}, ")
    assert "SignedHeaders=content-type;host;x-amz-date, Signature=" in authorization


def test_mailgun_gets_the_composed_message_as_a_file_with_basic_auth(tmp_path):
    with ReplayServer() as server:
        api = Api.on(server, "mailgun")
        (email,) = write_project(tmp_path, url=api.url, readers=1)
        assert send_project(tmp_path).sent == 1
        (call,) = server.hits("/v3/mg.example.org/messages.mime")
    assert call.headers["authorization"] == "Basic " + base64.b64encode(b"api:key-0000").decode()
    assert b'name="message"' in call.body and UNSUBSCRIBE_POST in call.body
    assert f'name="to"\r\n\r\n{email}\r\n'.encode() in call.body


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://example.amazonaws.com/",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        (
            "https://example.amazonaws.com/?Param2=value2&Param1=value1",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
    ],
)
def test_sigv4_matches_the_aws_test_suite(url, expected):
    # AWS's Signature V4 test suite, "get-vanilla" and "get-vanilla-query-order-key-case".
    headers = sigv4.sign(
        "GET",
        url,
        b"",
        {},
        credentials=sigv4.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        region="us-east-1",
        service="service",
        now=datetime(2015, 8, 30, 12, 36, tzinfo=UTC),
    )
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={expected}"
    )


@pytest.mark.parametrize(
    ("url", "unset", "expected"),
    [
        ("postmark://", "DIGEST_POSTMARK_TOKEN", "needs DIGEST_POSTMARK_TOKEN in the environment"),
        ("ses://eu-west-1", "AWS_SECRET_ACCESS_KEY", "needs AWS_SECRET_ACCESS_KEY in the environment"),
        ("resend://", "DIGEST_RESEND_API_KEY", "set DIGEST_RESEND_API_KEY"),
        ("ses://europe", None, "name the SES region, e.g. ses://eu-west-1"),
        ("mailgun://", None, "name the Mailgun sending domain"),
        ("sendgrid://?region=mars", None, "region is us (the default) or eu"),
        ("postmark://?streem=broadcast", None, "unknown option 'streem'; postmark:// takes endpoint, stream"),
        ("resend://key@", None, "no key in the URL: set DIGEST_RESEND_API_KEY"),
        ("postmark://?endpoint=ftp://x", None, "must be an absolute http(s) URL"),
    ],
)
def test_a_bad_api_url_or_a_missing_key_is_a_usage_error_before_anything_is_claimed(
    tmp_path, cli, monkeypatch, url, unset, expected
):
    if unset:
        monkeypatch.delenv(unset)
    write_project(tmp_path, url=url, readers=2)
    result = cli("send", "--now", NOW, cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "state.db").exists() or ledger_statuses(tmp_path) == {}


def test_the_scheduler_does_not_start_without_the_key(tmp_path, cli, monkeypatch):
    monkeypatch.delenv("DIGEST_SENDGRID_API_KEY")
    write_project(tmp_path, url="sendgrid://", readers=1)
    result = cli("schedule", cwd=tmp_path)
    assert result.returncode == 2 and "needs DIGEST_SENDGRID_API_KEY in the environment" in result.stderr


def test_dkim_with_an_api_that_rebuilds_the_message_is_a_usage_error(tmp_path, cli):
    (tmp_path / "key.pem").write_text("unused")
    write_project(
        tmp_path, url="postmark://", readers=1, delivery="  dkim:\n    selector: s1\n    key_file: key.pem"
    )
    result = cli("send", "--now", NOW, cwd=tmp_path)
    assert result.returncode == 2 and "postmark:// builds the message from its fields" in result.stderr
    assert "digest.yaml:" in result.stderr


def test_a_message_read_back_into_fields_keeps_non_ascii_headers_and_bodies():
    from email.message import EmailMessage

    from digest.delivery.providers import fields_of

    message = EmailMessage()
    message["From"] = "Zoë’s Papers <papers@example.org>"
    message["To"] = "reader@example.org"
    message["Subject"] = "Trending: Ünïcode, “quotes” and a very long subject " + "that folds " * 10
    message["List-Id"] = "Zoë’s Papers <papers.example.org>"
    message.set_content("Grüße — text")
    message.add_alternative("<p>Grüße — html</p>", subtype="html")
    fields = fields_of(message.as_bytes())
    assert fields.sender == "Zoë’s Papers <papers@example.org>"
    assert fields.subject == str(message["Subject"]).strip() and "\n" not in fields.subject
    assert fields.text.strip() == "Grüße — text" and fields.html.strip() == "<p>Grüße — html</p>"
    assert fields.headers == [("List-Id", "Zoë’s Papers <papers.example.org>")]
