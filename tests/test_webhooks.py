"""Mail providers' bounce and complaint notifications posted to `digest serve` over real HTTP:
Postmark (HTTP Basic credentials), Mailgun (signed with the webhook signing key, one use per
token) and Amazon SES through SNS (RSA signature over SNS's fields, checked against the signing
certificate). Bodies as the providers' documentation shows them (tests/fixtures/webhooks).
Only the fetch of SNS's certificate is stood in for: it lives on Amazon's hosts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from digest import config as config_mod
from digest.inbox import webhooks
from digest.store import yamllist

from .conftest import EXAMPLE, FIXTURES, ROOT

SECRET = "test-secret-for-the-webhooks-0123456789abcdef"
POSTMARK = "postmark:hook-password-0123"
MAILGUN_KEY = "key-for-mailgun-webhooks-0123456789"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-bounces"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
READERS = ["john@example.com", "mary@example.com", "alice@example.com", "bob@example.com",
           "jane@example.com", "richard@example.com", "stays@example.com"]  # fmt: skip


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / "webhooks" / name).read_text())


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    monkeypatch.setenv(webhooks.POSTMARK_ENV, POSTMARK)
    monkeypatch.setenv(webhooks.MAILGUN_ENV, MAILGUN_KEY)
    (tmp_path / "subscribers.yaml").write_text(
        "subscribers:\n" + "".join(f"  - email: {e}\n" for e in READERS)
    )
    config = (
        (EXAMPLE / "digest.yaml")
        .read_text()
        .replace("samples/papers.jsonl", str(ROOT / "samples" / "papers.jsonl"))
    )
    (tmp_path / "digest.yaml").write_text(config + f"\nwebhooks:\n  ses_topics: [{TOPIC}]\n")
    return tmp_path


class Sns:
    """A signing key and certificate standing in for SNS's, and the fetches the app makes."""

    def __init__(self) -> None:
        pytest.importorskip("cryptography", reason="checking SNS signatures needs cryptography")
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(UTC)
        builder = x509.CertificateBuilder().subject_name(name).issuer_name(name)
        builder = builder.public_key(self.key.public_key()).serial_number(1)
        builder = builder.not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        cert = builder.sign(self.key, hashes.SHA256())
        self.pem = cert.public_bytes(serialization.Encoding.PEM)
        self.fetched: list[str] = []

    def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        return self.pem if url == CERT_URL else b""

    def sign(self, body: dict, key=None) -> dict:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        body = {**body, "SignatureVersion": "1", "SigningCertURL": body.get("SigningCertURL", CERT_URL)}
        signature = (key or self.key).sign(
            webhooks.sns_string_to_sign(body), padding.PKCS1v15(), hashes.SHA1()
        )
        return {**body, "Signature": base64.b64encode(signature).decode()}


def sns_notification(message: dict) -> dict:
    return {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Message": json.dumps(message),
        "Timestamp": "2016-01-27T14:59:38.237Z",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
    }


def mailgun_signed(body: dict, key: str = MAILGUN_KEY, at: float | None = None) -> dict:
    stamp = str(int(at if at is not None else time.time()))
    token = body["signature"]["token"]
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return {**body, "signature": {"timestamp": stamp, "token": token, "signature": signature}}


@contextmanager
def serving(project: Path, fetch) -> Iterator[str]:
    """The app of `digest serve` under uvicorn on a loopback port, with SNS's fetch stood in."""
    import uvicorn

    from digest.web.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(config_mod.load(project / "digest.yaml"), SECRET, fetch)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def _statuses(project: Path) -> dict[str, str]:
    return {s.email: s.status for s in yamllist.load(project / "subscribers.yaml")}


def test_each_providers_hard_bounces_and_complaints_change_their_readers_and_nothing_else(project):
    sns = Sns()
    with serving(project, sns.fetch) as base, httpx.Client(base_url=base) as client:
        auth = ("postmark", "hook-password-0123")
        assert (
            client.post("/webhooks/postmark", json=fixture("postmark_bounce.json"), auth=auth).status_code
            == 200
        )
        spam = client.post("/webhooks/postmark", json=fixture("postmark_spam_complaint.json"), auth=auth)
        assert spam.status_code == 200
        for name in ("mailgun_failed_permanent.json", "mailgun_complained.json"):
            assert client.post("/webhooks/mailgun", json=mailgun_signed(fixture(name))).status_code == 200
        for name in ("ses_bounce_message.json", "ses_complaint_message.json"):
            signed = sns.sign(sns_notification(fixture(name)))
            assert client.post("/webhooks/ses", json=signed).status_code == 200
        listed = client.get("/healthz").status_code
    assert listed == 200
    assert _statuses(project) == {
        "john@example.com": "bounced",  # Postmark hard bounce
        "mary@example.com": "unsubscribed",  # Postmark spam complaint
        "alice@example.com": "bounced",  # Mailgun permanent failure
        "bob@example.com": "unsubscribed",  # Mailgun complaint
        "jane@example.com": "bounced",  # SES permanent bounce
        "richard@example.com": "unsubscribed",  # SES complaint
        "stays@example.com": "active",
    }
    assert sns.fetched == [CERT_URL]  # fetched once, then kept


def test_a_request_not_signed_as_its_provider_signs_is_refused_and_changes_nothing(project):
    sns = Sns()
    other = Sns()
    bounce = sns_notification(fixture("ses_bounce_message.json"))
    with serving(project, sns.fetch) as base, httpx.Client(base_url=base) as client:
        refused = [
            client.post(
                "/webhooks/postmark", json=fixture("postmark_bounce.json"), auth=("postmark", "guess")
            ),
            client.post("/webhooks/postmark", json=fixture("postmark_bounce.json")),
            client.post(
                "/webhooks/mailgun", json=fixture("mailgun_failed_permanent.json")
            ),  # the docs' signature
            client.post(
                "/webhooks/mailgun", json=mailgun_signed(fixture("mailgun_failed_permanent.json"), "wrong")
            ),
            client.post(
                "/webhooks/mailgun", json=mailgun_signed(fixture("mailgun_failed_permanent.json"), at=1e9)
            ),
            client.post("/webhooks/ses", json=sns.sign(bounce, key=other.key)),  # signed by someone else
            client.post(
                "/webhooks/ses", json=sns.sign({**bounce, "TopicArn": TOPIC.replace("bounces", "other")})
            ),
            client.post(
                "/webhooks/ses", json=sns.sign({**bounce, "SigningCertURL": "https://evil.example/c.pem"})
            ),
        ]
        signed = sns.sign(bounce)
        tampered = client.post(
            "/webhooks/ses", json={**signed, "Message": signed["Message"].replace("jane", "stays")}
        )
        unknown = client.post("/webhooks/sendgrid", json={})
        not_json = client.post("/webhooks/mailgun", content=b"event=failed")
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert tampered.status_code == 403 and unknown.status_code == 404 and not_json.status_code == 400
    assert set(_statuses(project).values()) == {"active"}


def test_a_mailgun_token_counts_once_and_an_sns_subscription_is_confirmed(project):
    sns = Sns()
    confirm = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb7185"
        "4e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b78",
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}. To confirm the subscription, "
        "visit the SubscribeURL included in this message.",
        "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=2336412f",
        "Timestamp": "2012-04-26T20:45:04.751Z",
    }  # fmt: skip
    with serving(project, sns.fetch) as base, httpx.Client(base_url=base) as client:
        body = mailgun_signed(fixture("mailgun_failed_permanent.json"))
        assert client.post("/webhooks/mailgun", json=body).status_code == 200
        assert client.post("/webhooks/mailgun", json=body).status_code == 403  # the same token again
        assert client.post("/webhooks/ses", json=sns.sign(confirm)).status_code == 200
    assert sns.fetched[-1] == confirm["SubscribeURL"]


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.s3.amazonaws.com/x.pem",  # an S3 bucket called "sns": anyone's files
        "https://sns.s3-us-west-2.amazonaws.com/x.pem",
        "https://sns.execute-api.us-east-1.amazonaws.com/x.pem",  # anyone's API Gateway
        "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
        "https://sns.cn-north-1.amazonaws.com/x.pem",  # China's regions live on .com.cn only
        "https://sns.us-east-1.amazonaws.com.cn/x.pem",
        CERT_URL + "\n",
        CERT_URL + " ",
        " " + CERT_URL,
        CERT_URL.replace(".pem", ".pem\t"),
        CERT_URL.replace("https://", "https://user@"),
        CERT_URL.replace("https://", "https://user:pw@"),
        CERT_URL.replace(".com/", ".com:8443/"),
        CERT_URL.replace("https://", "HTTPS://"),
        CERT_URL.replace("https://", "http://"),
        CERT_URL.replace("https://", "https:///"),
        CERT_URL + "?x=1",
        CERT_URL + "#x",
        CERT_URL.replace("/Simple", "/../Simple"),
        "https://SNS.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com./x.pem",
        "https://sns.us-east-1.amazonaws.com/x.pem\u200b",
    ],
)
def test_only_sns_own_hosts_are_trusted_for_the_signing_certificate(url):
    sns = Sns()
    body = sns.sign({**sns_notification(fixture("ses_bounce_message.json")), "SigningCertURL": url})
    with pytest.raises(webhooks.Refused):
        webhooks.ses(body, [TOPIC], sns.fetch)
    assert sns.fetched == []  # refused before anything is fetched


@pytest.mark.parametrize(
    "url",
    [
        CERT_URL,
        "https://sns.eu-west-2.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
        "https://sns.ap-southeast-5.amazonaws.com/SimpleNotificationService-abc.pem",
    ],
)
def test_sns_certificates_in_every_region_and_the_china_partition_are_trusted(url):
    sns = Sns()
    body = sns.sign({**sns_notification(fixture("ses_bounce_message.json")), "SigningCertURL": url})
    fetched: list[str] = []
    assert webhooks.ses(body, [TOPIC], lambda at: fetched.append(at) or sns.pem).found
    assert fetched == [url]


def test_a_certificate_on_an_unreachable_host_is_a_403_and_fetched_once_per_period(project):
    sns = Sns()
    tried: list[str] = []

    def unreachable(url: str) -> bytes:  # what httpx raises for a host that never answers
        tried.append(url)
        raise httpx.ConnectError("[Errno 111] Connection refused")

    dead = CERT_URL.replace("us-east-1", "eu-south-9")
    bounce = sns_notification(fixture("ses_bounce_message.json"))
    with serving(project, unreachable) as base, httpx.Client(base_url=base) as client:
        answers = [
            client.post("/webhooks/ses", json=sns.sign({**bounce, "SigningCertURL": dead})) for _ in range(5)
        ]
    assert [a.status_code for a in answers] == [403] * 5
    assert all(a.text == "refused" and "Traceback" not in a.text for a in answers)
    assert tried == [dead]  # the failure is remembered: one outbound fetch, not five
    assert set(_statuses(project).values()) == {"active"}


def test_remembered_certificate_fetches_are_bounded(project):
    from digest.web import app as web

    sns = Sns()
    site = web.Site(config_mod.load(project / "digest.yaml"), SECRET, sns.fetch)
    for n in range(web.CERT_URLS * 3):
        site.sns_certificate(CERT_URL.replace(".pem", f"-{n}.pem"))
    assert len(site._certificates) == web.CERT_URLS
    site.sns_certificate(CERT_URL.replace(".pem", f"-{web.CERT_URLS * 3 - 1}.pem"))  # still kept
    assert len(sns.fetched) == web.CERT_URLS * 3
